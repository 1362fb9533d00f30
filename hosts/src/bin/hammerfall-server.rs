//! `hammerfall-server`: the Hammerfall HTTP API on the memory or SQLite
//! store. Flags and environment variables: SPEC §8 (`--help`).
//!
//! `cargo run --release -p hammerfall-hosts --bin hammerfall-server -- --dev-auth`

use clap::Parser;
use hammerfall_adapters_memory::{MemoryCreditLedger, MemoryLotStore};
use hammerfall_adapters_sqlite::SqliteStore;
use hammerfall_hosts::config::{Args, StoreUrl};
use hammerfall_hosts::outbox::relay_outbox;
use hammerfall_hosts::{Host, HostOptions};
use std::process::ExitCode;
use std::sync::Arc;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    init_logging();
    let args = Args::parse();
    let auth = match args.auth() {
        Ok(auth) => auth,
        Err(e) => {
            tracing::error!("refusing to start: {e}");
            eprintln!("hammerfall-server: refusing to start: {e}");
            return ExitCode::from(2);
        }
    };
    if auth.dev_auth() {
        tracing::warn!(
            "!!! DEVELOPMENT AUTH IS ON: X-Participant/X-Roles headers are trusted; anyone can act as anyone. Never expose this server. !!!"
        );
        eprintln!(
            "hammerfall-server: WARNING: --dev-auth is on; X-Participant/X-Roles headers are trusted. Development only."
        );
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hammerfall-server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut options = HostOptions::new(auth);
    options.rate_limit = args.rate_limit;
    match runtime.block_on(run(args, options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("hammerfall-server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("HAMMERFALL_LOG_FORMAT").is_ok_and(|v| v == "json");
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn run(args: Args, options: HostOptions) -> Result<(), Box<dyn std::error::Error>> {
    let listener = TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let address = listener.local_addr()?;
    match &args.store {
        StoreUrl::Memory => {
            tracing::warn!("store: memory (nothing survives a restart)");
            let host = Host::start(
                Arc::new(MemoryLotStore::new()),
                Arc::new(MemoryCreditLedger::new()),
                options,
            );
            tracing::info!(%address, "hammerfall-server listening");
            host.serve(listener, shutdown_signal()).await?;
        }
        StoreUrl::Sqlite(path) => {
            let store =
                Arc::new(SqliteStore::open(path).map_err(|e| {
                    format!("cannot open the SQLite store {}: {e}", path.display())
                })?);
            tracing::info!(path = %path.display(), "store: sqlite");
            let host = Host::start(store.clone(), store.clone(), options);
            let relay = tokio::spawn(relay_outbox(
                store,
                host.state().hub.clone(),
                host.state().on_shutdown(),
            ));
            tracing::info!(%address, "hammerfall-server listening");
            host.serve(listener, shutdown_signal()).await?;
            let _ = relay.await;
        }
        StoreUrl::DynamoDb(table) => {
            return Err(format!(
                "store dynamodb:{table}: the DynamoDB adapter is not built yet; use sqlite:PATH or memory"
            )
            .into());
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
