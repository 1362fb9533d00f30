//! Every limit the HTTP host puts on a request, as named constants (house
//! style 9). Limits the rules own (title length, page size, amounts, id
//! length) live in `hammerfall_ports` and are re-exported here so one module
//! lists them all.

use std::time::Duration;

pub use hammerfall_ports::{
    DEFAULT_PAGE_SIZE, MAX_AMOUNT, MAX_ID_LEN, MAX_PAGE_SIZE, MAX_TITLE_CHARS,
};

/// Largest request body accepted, in bytes; larger ones get 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Longest `Idempotency-Key` header, in bytes (it becomes a command id).
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = MAX_ID_LEN;
/// Sustained requests per second one participant may make.
pub const RATE_LIMIT_PER_SECOND: u32 = 50;
/// Requests one participant may make in a burst above the sustained rate.
pub const RATE_LIMIT_BURST: u32 = 100;
/// Participants whose buckets are remembered before idle ones are dropped.
pub const RATE_LIMIT_MAX_TRACKED: usize = 100_000;
/// Bid history pages read at most per request to find the caller's own
/// maximum for `yourMaximum` (MAX_PAGE_SIZE bids each; one budget for a
/// whole listing page).
pub const MAX_YOUR_MAXIMUM_PAGES: usize = 20;
/// Open live WebSocket connections, across all lots.
pub const MAX_LIVE_CONNECTIONS: usize = 10_000;
/// Live subscribers of one lot.
pub const MAX_LIVE_SUBSCRIBERS_PER_LOT: usize = 1_000;
/// Events buffered for one live connection. A connection that falls this
/// far behind is closed (code 1013) instead of slowing the sequencer down.
pub const LIVE_BUFFER_EVENTS: usize = 1_024;
/// Events read from the store per page while a live connection replays.
pub const LIVE_REPLAY_PAGE: usize = 500;
/// Heartbeat: a ping this often on every live connection.
pub const LIVE_PING_INTERVAL: Duration = Duration::from_secs(15);
/// A frame that cannot be written within this time ends the connection.
pub const LIVE_SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest frame a live client may send us (we only expect control frames).
pub const LIVE_MAX_INCOMING_BYTES: usize = 4 * 1024;
/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const JWT_LEEWAY_SECS: u64 = 30;
/// How long shutdown waits for queued commands to be judged.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long shutdown waits for open connections to finish.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// `Retry-After` seconds sent with 503 answers.
pub const RETRY_AFTER_SECS: u64 = 1;
