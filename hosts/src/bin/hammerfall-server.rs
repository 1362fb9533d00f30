//! `hammerfall-server`: the Hammerfall HTTP API on the memory, SQLite or
//! DynamoDB store, optionally also consuming an SQS FIFO command queue.
//! Flags and environment variables: SPEC §8 (`--help`), hosts/README.md.
//!
//! `cargo run --release -p hammerfall-hosts --bin hammerfall-server -- --dev-auth`

use clap::Parser;
use hammerfall_adapters_aws::{DynamoLotStore, SqsCommandQueue, setup};
use hammerfall_adapters_memory::{MemoryCreditLedger, MemoryLotStore};
use hammerfall_adapters_sqlite::SqliteStore;
use hammerfall_hosts::config::{Args, StoreUrl};
use hammerfall_hosts::consumer::consume_queue;
use hammerfall_hosts::outbox::relay_outbox;
use hammerfall_hosts::{Host, HostOptions};
use hammerfall_ports::{CreditLedger, LotId, LotStore};
use std::process::ExitCode;
use std::sync::Arc;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

/// The server allocates and frees per request and per command across its
/// threads; mimalloc does that in a fraction of glibc malloc's
/// instructions (the service bench lost a tenth of its instructions per
/// command with it).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    if let Some(workers) = args.workers {
        options.service.workers = workers.get();
    }
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
    let queue = match &args.queue_url {
        Some(url) => {
            tracing::info!(queue = %url, "consuming the SQS command queue");
            Some(SqsCommandQueue::connect(&args.aws(), url.clone()).await)
        }
        None => None,
    };
    match &args.store {
        StoreUrl::Memory => {
            tracing::warn!("store: memory (nothing survives a restart)");
            let host = Host::start(
                Arc::new(MemoryLotStore::new()),
                Arc::new(MemoryCreditLedger::new()),
                options,
            );
            serve(host, listener, queue).await?;
        }
        StoreUrl::Sqlite(path) => {
            let store =
                Arc::new(SqliteStore::open(path).map_err(|e| {
                    format!("cannot open the SQLite store {}: {e}", path.display())
                })?);
            tracing::info!(path = %path.display(), "store: sqlite");
            let mut options = options;
            if args.workers.is_none() {
                options.service = hammerfall_adapters_sqlite::service_config();
            }
            let host = Host::start(store.clone(), store.clone(), options);
            let relay = tokio::spawn(relay_outbox(
                store,
                host.state().hub.clone(),
                host.state().on_shutdown(),
            ));
            serve(host, listener, queue).await?;
            let _ = relay.await;
        }
        StoreUrl::DynamoDb(table) => {
            let store = Arc::new(open_dynamodb(&args, table).await?);
            tracing::info!(
                table = %table,
                "store: dynamodb (live feeds carry this server's commits; other writers' reach /events)"
            );
            let host = Host::start(store.clone(), store, options);
            serve(host, listener, queue).await?;
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// The DynamoDB store on `table` (created first with `--create-table`),
/// checked to answer before the server listens: a missing table or
/// unreachable endpoint stops the start with the SDK's reason.
async fn open_dynamodb(args: &Args, table: &str) -> Result<DynamoLotStore, String> {
    let store = DynamoLotStore::connect(&args.aws(), table.to_owned()).await;
    if args.create_table {
        setup::create_table(store.client(), table)
            .await
            .map_err(|e| format!("cannot create the DynamoDB table {table}: {e}"))?;
    }
    let probe = LotId::new("hammerfall-startup-probe").map_err(|e| e.to_string())?;
    store.load(&probe).await.map_err(|e| {
        format!(
            "the DynamoDB table {table} does not answer: {e} \
             (create it with --create-table, or check --aws-endpoint / --aws-region)"
        )
    })?;
    Ok(store)
}

/// Serves `host` until a signal; with a queue, consumes it into the same
/// service until shutdown begins.
async fn serve<S: LotStore, L: CreditLedger>(
    host: Host<S, L>,
    listener: TcpListener,
    queue: Option<SqsCommandQueue>,
) -> std::io::Result<()> {
    let consumer = queue.map(|queue| {
        tokio::spawn(consume_queue(
            host.state().service.clone(),
            queue,
            host.state().on_shutdown(),
        ))
    });
    let address = listener.local_addr()?;
    tracing::info!(%address, "hammerfall-server listening");
    // The consumer ends when shutdown begins, releasing its service
    // handle, so the sequencer can drain after the last request.
    host.serve(listener, shutdown_signal()).await?;
    if let Some(consumer) = consumer {
        let _ = consumer.await;
    }
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
