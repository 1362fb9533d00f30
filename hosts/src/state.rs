//! The host's shared state and its lifecycle: build the service on the
//! ports, spawn its workers and timers, serve, and shut down gracefully
//! (stop accepting, finish in-flight requests, close live feeds, let the
//! workers judge every queued command).

use crate::auth::AuthConfig;
use crate::hub::LiveHub;
use crate::limits::{DRAIN_TIMEOUT, SHUTDOWN_GRACE};
use crate::metrics::Metrics;
use crate::queued::CommandSink;
use crate::rate_limit::{RateLimit, RateLimiter};
use hammerfall_adapters_memory::{SystemClock, UniqueIds};
use hammerfall_engine::{Ports, Service, ServiceConfig};
use hammerfall_ports::{Clock, CreditLedger, IdGenerator, LotStore};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The service as the host runs it: its events go to the live hub.
pub type HostService<S, L> = Service<S, L, LiveHub>;

/// Everything a request handler needs.
pub struct App<S, L> {
    /// The application service.
    pub service: HostService<S, L>,
    /// Live fan-out of committed events.
    pub hub: Arc<LiveHub>,
    /// How callers are authenticated.
    pub auth: AuthConfig,
    /// Per-participant token buckets.
    pub limiter: RateLimiter,
    /// Counters for `/metrics`.
    pub metrics: Metrics,
    /// Open live connections.
    pub live_connections: AtomicUsize,
    /// Queued writes: where commands go instead of the sequencer (the
    /// `api` Lambda function); `None`: judged here, synchronously.
    pub sink: Option<Arc<dyn CommandSink>>,
    shutting_down: AtomicBool,
    shutdown: watch::Sender<bool>,
}

impl<S: LotStore, L: CreditLedger> App<S, L> {
    /// The lot store.
    pub fn store(&self) -> &S {
        &self.service.ports().store
    }

    /// True once shutdown has begun (`/readyz` answers 503).
    pub fn shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Relaxed)
    }

    /// Starts shutting down: readiness goes, live feeds close.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::Relaxed);
        self.shutdown.send_replace(true);
    }

    /// Resolves when shutdown begins.
    pub fn on_shutdown(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.shutdown.subscribe();
        async move {
            let _ = rx.wait_for(|down| *down).await;
        }
    }
}

/// Shared state of the router.
pub type AppState<S, L> = Arc<App<S, L>>;

/// How to run a host.
#[derive(Clone)]
pub struct HostOptions {
    /// Authentication.
    pub auth: AuthConfig,
    /// Per-participant rate limit.
    pub rate_limit: RateLimit,
    /// Sequencer tuning.
    pub service: ServiceConfig,
    /// Time (the system clock in production; a manual one in tests).
    pub clock: Arc<dyn Clock>,
    /// Fresh ids.
    pub ids: Arc<dyn IdGenerator>,
    /// Run the timer task (due closes, expiries, defaults within a second).
    pub timers: bool,
    /// Queued writes (see [`crate::queued`]): commands go to this sink and
    /// are answered 202; no live feed. `None` (the default): the host
    /// judges commands itself.
    pub sink: Option<Arc<dyn CommandSink>>,
}

impl HostOptions {
    /// Production defaults with `auth`: system clock, unique ids, timers on.
    pub fn new(auth: AuthConfig) -> Self {
        Self {
            auth,
            rate_limit: RateLimit::default(),
            service: ServiceConfig::default(),
            clock: Arc::new(SystemClock::new()),
            ids: Arc::new(UniqueIds::new()),
            timers: true,
            sink: None,
        }
    }
}

/// A running host: the state, the sequencer's workers and the timer task.
pub struct Host<S, L> {
    state: AppState<S, L>,
    workers: Vec<JoinHandle<()>>,
    timer: Option<JoinHandle<()>>,
}

impl<S: LotStore, L: CreditLedger> Host<S, L> {
    /// Builds the service on `store` and `ledger` and spawns its workers
    /// (and timers) on the current Tokio runtime.
    pub fn start(store: Arc<S>, ledger: Arc<L>, options: HostOptions) -> Self {
        let hub = Arc::new(LiveHub::new());
        let ports = Ports {
            store,
            ledger,
            publisher: hub.clone(),
            clock: options.clock,
            ids: options.ids,
        };
        let (service, futures) = Service::new(ports, options.service);
        let workers = futures.into_iter().map(tokio::spawn).collect();
        let timer = options
            .timers
            .then(|| tokio::spawn(service.clone().run_timers(tokio::time::sleep)));
        let (shutdown, _) = watch::channel(false);
        let state = Arc::new(App {
            service,
            hub,
            auth: options.auth,
            limiter: RateLimiter::new(options.rate_limit),
            metrics: Metrics::default(),
            live_connections: AtomicUsize::new(0),
            sink: options.sink,
            shutting_down: AtomicBool::new(false),
            shutdown,
        });
        Self {
            state,
            workers,
            timer,
        }
    }

    /// The shared state (tests drive the service and clock through it).
    pub fn state(&self) -> &AppState<S, L> {
        &self.state
    }

    /// The HTTP router on this host's state.
    pub fn router(&self) -> axum::Router {
        crate::routes::router(self.state.clone())
    }

    /// Serves on `listener` until `shutdown` resolves, then shuts down
    /// gracefully: stops accepting, lets in-flight requests finish (at most
    /// [`SHUTDOWN_GRACE`]), closes live feeds with "going away", and lets
    /// the workers judge every queued command (at most [`DRAIN_TIMEOUT`]).
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Host {
            state,
            workers,
            timer,
        } = self;
        let app = crate::routes::router(state.clone());
        let signalled = state.clone();
        let signal = async move {
            shutdown.await;
            tracing::info!("shutting down: no new connections; finishing in-flight requests");
            signalled.begin_shutdown();
        };
        let grace = {
            let down = state.on_shutdown();
            async move {
                down.await;
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            }
        };
        let server = axum::serve(listener, app).with_graceful_shutdown(signal);
        tokio::select! {
            result = server => result?,
            () = grace => tracing::warn!("connections still open after the grace period; closing"),
        }
        if let Some(timer) = timer {
            timer.abort();
            let _ = timer.await;
        }
        let backlog = state.service.queue_depth();
        drop(state);
        // With every service handle gone the workers judge what their
        // inboxes still hold, commit it, and end.
        let drained =
            tokio::time::timeout(DRAIN_TIMEOUT, futures_util::future::join_all(workers)).await;
        match drained {
            Ok(_) => tracing::info!(backlog, "sequencer drained; stopped"),
            Err(_) => tracing::warn!(backlog, "sequencer did not drain in time"),
        }
        Ok(())
    }
}
