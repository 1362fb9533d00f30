//! The SQLite store's outbox relay. The service publishes events right
//! after each commit; the store also keeps them in its outbox (same
//! transaction) so that a crash between commit and publish loses nothing.
//! This task publishes what the outbox holds (again: live feeds drop
//! copies by sequence) and acknowledges it, which also keeps the outbox
//! from growing.

use crate::hub::LiveHub;
use hammerfall_adapters_sqlite::{MAX_OUTBOX_BATCH, SqliteStore};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Pause between relay rounds when the outbox is (nearly) empty.
pub const OUTBOX_RELAY_PERIOD: Duration = Duration::from_millis(200);

/// Relays until `stop` resolves, then relays what is left and returns.
pub async fn relay_outbox(
    store: Arc<SqliteStore>,
    hub: Arc<LiveHub>,
    stop: impl Future<Output = ()> + Send,
) {
    tokio::pin!(stop);
    loop {
        let busy = round(&store, &hub).await;
        if busy {
            tokio::task::yield_now().await;
            continue;
        }
        tokio::select! {
            () = &mut stop => break,
            () = tokio::time::sleep(OUTBOX_RELAY_PERIOD) => {}
        }
    }
    while round(&store, &hub).await {}
}

/// One round; true if a full batch was relayed (more may wait).
async fn round(store: &SqliteStore, hub: &LiveHub) -> bool {
    match store.relay(hub, MAX_OUTBOX_BATCH).await {
        Ok(n) => n >= MAX_OUTBOX_BATCH,
        Err(e) => {
            tracing::warn!(error = %e, "outbox relay failed; retrying");
            false
        }
    }
}
