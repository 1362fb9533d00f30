//! `GET /lots/{lotId}/live?after=N`: the live WebSocket feed (SPEC §6, §7).
//!
//! Exactly once, in order, from sequence N+1: the connection subscribes to
//! the live hub *first*, then replays the store's log after N, then streams
//! live events, skipping any sequence it has sent already. A live event
//! past the next expected sequence (never expected; defensive) is preceded
//! by the missing ones from the store. A connection whose buffer overflows
//! (a slow reader) is closed with 1013 and a reason naming the `after` to
//! resume from; the sequencer never waits for it.

use super::{QueryParams, lot_id, store_error};
use crate::hub::LiveEvent;
use crate::limits::{
    LIVE_MAX_INCOMING_BYTES, LIVE_PING_INTERVAL, LIVE_REPLAY_PAGE, LIVE_SEND_TIMEOUT,
    MAX_LIVE_CONNECTIONS, MAX_LIVE_SUBSCRIBERS_PER_LOT,
};
use crate::problem::{ApiResult, Problem};
use crate::state::{App, AppState};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use futures_util::SinkExt;
use futures_util::stream::{SplitSink, StreamExt};
use hammerfall_ports::{CreditLedger, EventEnvelope, LotId, LotStore, Rejection};
use std::collections::HashMap;
use std::sync::atomic::Ordering;

/// Subscribe-and-replay attempts before a connection that keeps overflowing
/// during its replay is given up as too slow.
const MAX_REPLAY_ATTEMPTS: usize = 3;

/// The upgrade, or why the request is not one (answered as a problem).
pub(crate) struct Upgrade(Option<WebSocketUpgrade>);

impl<S: Send + Sync> FromRequestParts<S> for Upgrade {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Upgrade(
            WebSocketUpgrade::from_request_parts(parts, state)
                .await
                .ok(),
        ))
    }
}

/// A counted live connection; frees its slot when dropped.
struct Slot<S: LotStore, L: CreditLedger>(AppState<S, L>);

impl<S: LotStore, L: CreditLedger> Slot<S, L> {
    fn acquire(app: &AppState<S, L>) -> ApiResult<Self> {
        let open = app.live_connections.fetch_add(1, Ordering::AcqRel);
        let slot = Slot(app.clone());
        if open >= MAX_LIVE_CONNECTIONS {
            return Err(Problem::unavailable("too many live connections"));
        }
        app.metrics.websocket(1);
        Ok(slot)
    }
}

impl<S: LotStore, L: CreditLedger> Drop for Slot<S, L> {
    fn drop(&mut self) {
        let before = self.0.live_connections.fetch_sub(1, Ordering::AcqRel);
        if before <= MAX_LIVE_CONNECTIONS {
            self.0.metrics.websocket(-1);
        }
    }
}

/// `GET /lots/{lotId}/live?after=N`
#[utoipa::path(
    get,
    path = "/lots/{lotId}/live",
    tag = "events",
    params(
        ("lotId" = String, Path, description = "The lot"),
        ("after" = Option<i64>, Query, minimum = 0, description = "Send events from sequence after+1 on (default 0)"),
    ),
    responses(
        (status = 101, description = "WebSocket: one public event envelope per text frame, in order, no gaps, no duplicates; pings as heartbeats; close 1013 = fell behind (reconnect with the after in the reason), 1001 = server going away"),
        (status = 401, description = "unauthorized: bad credentials", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "lot_not_found", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_request: bad after", body = Problem, content_type = "application/problem+json"),
        (status = 426, description = "invalid_request: not a WebSocket upgrade", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate_limited", body = Problem, content_type = "application/problem+json"),
        (status = 501, description = "not_implemented: a host without a live feed (the api Lambda function)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "unavailable: too many connections, or shutting down", body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn live<S: LotStore, L: CreditLedger>(
    State(app): State<AppState<S, L>>,
    Path(lot): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    Upgrade(upgrade): Upgrade,
) -> ApiResult<Response> {
    if app.sink.is_some() {
        // A queued host (the `api` Lambda function) sees neither its own
        // commits nor anyone else's as they happen: no live feed there.
        return Err(Problem::new(
            StatusCode::NOT_IMPLEMENTED,
            "not_implemented",
            "this host has no live feed; poll /lots/{lotId}/events?after=N",
        ));
    }
    let lot_id = lot_id(&lot)?;
    let after = QueryParams::new(query).number("after")?.unwrap_or(0);
    if app
        .store()
        .load(&lot_id)
        .await
        .map_err(store_error)?
        .is_none()
    {
        return Err(Problem::from(Rejection::LotNotFound));
    }
    let upgrade = upgrade.ok_or_else(|| {
        Problem::new(
            StatusCode::UPGRADE_REQUIRED,
            "invalid_request",
            "this route is a WebSocket: send an upgrade request",
        )
    })?;
    if app.shutting_down() {
        return Err(Problem::unavailable("the server is shutting down"));
    }
    if app.hub.subscribers(&lot_id) >= MAX_LIVE_SUBSCRIBERS_PER_LOT {
        return Err(Problem::unavailable(
            "too many live connections to this lot",
        ));
    }
    let slot = Slot::acquire(&app)?;
    Ok(upgrade
        .max_message_size(LIVE_MAX_INCOMING_BYTES)
        .on_upgrade(move |socket| async move {
            let _slot = slot;
            feed(app, lot_id, after, socket).await;
        }))
}

type Sink = SplitSink<WebSocket, Message>;

/// Why a feed ended early.
enum End {
    /// The peer went away or stopped reading.
    Gone,
    /// The peer cannot keep up: close with 1013.
    Slow,
    /// The store failed: close with 1011.
    Store,
}

async fn feed<S: LotStore, L: CreditLedger>(
    app: AppState<S, L>,
    lot_id: LotId,
    after: u64,
    socket: WebSocket,
) {
    let (mut sink, mut stream) = socket.split();
    let mut last = after;
    let result = run(&app, &lot_id, &mut last, &mut sink, &mut stream).await;
    let close = match result {
        Ok(()) => Some((close_code::AWAY, "server shutting down".to_owned())),
        Err(End::Gone) => None,
        Err(End::Slow) => {
            app.metrics.websocket_slow();
            Some((
                close_code::AGAIN,
                format!("slow consumer: reconnect with after={last}"),
            ))
        }
        Err(End::Store) => Some((
            close_code::ERROR,
            format!("temporarily unavailable: reconnect with after={last}"),
        )),
    };
    if let Some((code, reason)) = close {
        let frame = Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }));
        let _ = tokio::time::timeout(LIVE_SEND_TIMEOUT, sink.send(frame)).await;
    }
}

/// Replays, then streams until shutdown (`Ok`) or an early end.
async fn run<S: LotStore, L: CreditLedger>(
    app: &App<S, L>,
    lot_id: &LotId,
    last: &mut u64,
    sink: &mut Sink,
    stream: &mut futures_util::stream::SplitStream<WebSocket>,
) -> Result<(), End> {
    let mut live = None;
    for _ in 0..MAX_REPLAY_ATTEMPTS {
        // Subscribe first, then read the store: nothing committed in
        // between can be missed, and copies are skipped by sequence.
        let rx = app.hub.subscribe(lot_id).map_err(|_| End::Slow)?;
        replay(app, lot_id, last, None, sink).await?;
        if !rx.is_closed() {
            live = Some(rx);
            break;
        }
    }
    let mut rx = live.ok_or(End::Slow)?;
    let shutdown = app.on_shutdown();
    tokio::pin!(shutdown);
    let mut ping = tokio::time::interval(LIVE_PING_INTERVAL);
    ping.tick().await;
    loop {
        tokio::select! {
            event = rx.recv() => {
                let event = event.ok_or(End::Slow)?;
                forward(app, lot_id, last, event, sink).await?;
            }
            incoming = stream.next() => match incoming {
                None | Some(Err(_) | Ok(Message::Close(_))) => return Err(End::Gone),
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => send(sink, Message::Ping(Default::default())).await?,
            () = &mut shutdown => return Ok(()),
        }
    }
}

/// Sends one live event unless it was sent already; fills a gap before it
/// from the store.
async fn forward<S: LotStore, L: CreditLedger>(
    app: &App<S, L>,
    lot_id: &LotId,
    last: &mut u64,
    event: LiveEvent,
    sink: &mut Sink,
) -> Result<(), End> {
    if event.sequence <= *last {
        return Ok(());
    }
    if event.sequence > *last + 1 {
        replay(app, lot_id, last, Some(event.sequence - 1), sink).await?;
    }
    send(sink, Message::Text(event.json.as_ref().into())).await?;
    *last = event.sequence;
    Ok(())
}

/// Sends the stored events after `last` (up to `until`, or all), in pages.
async fn replay<S: LotStore, L: CreditLedger>(
    app: &App<S, L>,
    lot_id: &LotId,
    last: &mut u64,
    until: Option<u64>,
    sink: &mut Sink,
) -> Result<(), End> {
    loop {
        let page = app
            .store()
            .events_after(lot_id, *last, LIVE_REPLAY_PAGE)
            .await
            .map_err(|e| {
                tracing::warn!(lot = %lot_id, error = %e, "live replay could not read the store");
                End::Store
            })?;
        let full = page.len() >= LIVE_REPLAY_PAGE;
        for event in page {
            if until.is_some_and(|u| event.sequence > u) {
                return Ok(());
            }
            let sequence = event.sequence;
            let json = EventEnvelope::new(lot_id.clone(), event).to_public_json();
            send(sink, Message::Text(json.to_string().into())).await?;
            *last = sequence;
        }
        if !full || until.is_some_and(|u| *last >= u) {
            return Ok(());
        }
    }
}

async fn send(sink: &mut Sink, message: Message) -> Result<(), End> {
    match tokio::time::timeout(LIVE_SEND_TIMEOUT, sink.send(message)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(End::Gone),
        Err(_) => Err(End::Slow),
    }
}
