//! Crash safety under SIGKILL. A child process (this test binary run
//! again, selecting `crash_child` and told so by an environment variable)
//! runs the service over a `SqliteStore` file with concurrent clients
//! bidding on several lots, and prints each command's outcome only after
//! `submit` returned it (an acknowledgement). The parent kills it with
//! SIGKILL at a random moment, checks the file, and starts it again:
//!
//! - every acknowledged command's record is stored, with the outcome the
//!   child was given;
//! - nothing unacknowledged is half applied: each lot's stored state is
//!   the replay of its stored events, sequences are gapless, and the bid
//!   history is exactly the `BidAccepted` events;
//! - at the end, re-submitting acknowledged commands answers their
//!   original outcome (`Response.replayed`), and once the service has
//!   loaded every lot, credit holds are what the lots' states require.
//!
//! Three cycles by default; `HAMMERFALL_CRASH_CYCLES=20` for more, and
//! `HAMMERFALL_CRASH_SEED` to replay a run's kill timings.
#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]

use hammerfall_adapters_memory::{MemoryEventPublisher, SystemClock, UniqueIds};
use hammerfall_adapters_sqlite::SqliteStore;
use hammerfall_engine::credit::required_hold;
use hammerfall_engine::testkit::fixtures::bid_records;
use hammerfall_engine::{Ports, Service, ServiceConfig, command_key, replay};
use hammerfall_ports::{
    Accepted, Actor, BidRecord, Command, CommandEnvelope, CommandId, CommandOutcome, CreateLot,
    CreditLedger, Currency, Cursor, Decimal, Lot, LotId, LotStore, MAX_PAGE_SIZE, Money,
    ParticipantId, PlaceBid, SequencedEvent,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// Set in the child: the store file.
const CHILD_ENV: &str = "HAMMERFALL_CRASH_CHILD";
/// Set in the child: which run this is (command ids stay unique).
const CYCLE_ENV: &str = "HAMMERFALL_CRASH_CYCLE";
/// Set in the child: the Unix second the whole test started (lots' end
/// times derive from it, so every run creates the same lots).
const EPOCH_ENV: &str = "HAMMERFALL_CRASH_EPOCH";
/// Lots the child bids on.
const LOTS: usize = 8;
/// Lots with a credit check (the first ones).
const CREDIT_LOTS: usize = 3;
/// Lots that close a few seconds into the test (the last ones), so closes,
/// settlements and shrinking holds happen under the kills too.
const CLOSING_LOTS: usize = 2;
/// Concurrent clients in the child.
const CLIENTS: usize = 16;
/// Bidders the clients bid as.
const BIDDERS: usize = 6;
/// A child that was not killed stops by itself after this long.
const CHILD_LIFETIME: Duration = Duration::from_secs(60);
/// The longest the parent waits for the child to get going.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Acknowledged commands re-submitted at the end.
const RESUBMISSIONS: usize = 150;

/// One acknowledged command, as the child prints it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Ack {
    env: CommandEnvelope,
    outcome: CommandOutcome,
    replayed: bool,
}

fn lot_id(i: usize) -> LotId {
    LotId::new(format!("crash-lot-{i}")).unwrap()
}

fn pid(s: &str) -> ParticipantId {
    ParticipantId::new(s).unwrap()
}

fn seller() -> ParticipantId {
    pid("seller")
}

fn bidder(i: usize) -> ParticipantId {
    pid(&format!("bidder-{i}"))
}

/// xorshift64*: kill timings and bids, reproducible from a seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The creation of lot `i`: the same command every run (end times derive
/// from the test's epoch), so re-submitting it is a replay.
fn creation(i: usize, epoch: i64) -> CommandEnvelope {
    let base = chrono::DateTime::from_timestamp(epoch, 0).unwrap();
    let ends_at = if i >= LOTS - CLOSING_LOTS {
        base + chrono::Duration::seconds(4 + i64::try_from(i).unwrap())
    } else {
        base + chrono::Duration::days(30)
    };
    let mut create = CreateLot::english(
        lot_id(i),
        Actor::seller(seller()),
        format!("Crash lot {i}"),
        Currency::USD,
        Decimal::new(1_000, 2),
        ends_at,
    );
    create.credit_check = Some(i < CREDIT_LOTS);
    create.buyer_premium_rate = Some(Decimal::new(10, 2));
    CommandEnvelope::new(
        CommandId::new(format!("create-{i}")).unwrap(),
        lot_id(i),
        Command::CreateLot(Box::new(create)),
    )
}

type Svc = Service<SqliteStore, SqliteStore, MemoryEventPublisher>;

fn service(store: Arc<SqliteStore>) -> Svc {
    let ports = Ports {
        store: store.clone(),
        ledger: store,
        publisher: Arc::new(MemoryEventPublisher::new()),
        clock: Arc::new(SystemClock::default()),
        ids: Arc::new(UniqueIds::new()),
    };
    let (svc, workers) = Service::new(
        ports,
        ServiceConfig {
            workers: 2,
            ..ServiceConfig::default()
        },
    );
    for w in workers {
        tokio::spawn(w);
    }
    svc
}

// ---------------------------------------------------------------- child --

/// The child's body; a no-op test in a normal run.
#[test]
fn crash_child() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let cycle: u64 = std::env::var(CYCLE_ENV).unwrap().parse().unwrap();
    let epoch: i64 = std::env::var(EPOCH_ENV).unwrap().parse().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(child(PathBuf::from(path), cycle, epoch));
}

fn print_ack(env: &CommandEnvelope, outcome: &CommandOutcome, replayed: bool) {
    let ack = Ack {
        env: env.clone(),
        outcome: outcome.clone(),
        replayed,
    };
    println!("ACK {}", serde_json::to_string(&ack).unwrap());
}

async fn child(path: PathBuf, cycle: u64, epoch: i64) {
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    let svc = service(store);
    tokio::spawn(svc.clone().run_timers(tokio::time::sleep));
    for i in 0..BIDDERS {
        // Some bidders have little credit: credit-checked bids get refused.
        let cents = if i < 2 { 500_000 } else { 100_000_000 };
        let limit = Money::from_minor(cents, Currency::USD);
        svc.set_credit_limit(&bidder(i), limit, Currency::USD)
            .await
            .unwrap()
            .unwrap();
    }
    let hints: Arc<Vec<AtomicI64>> = Arc::new((0..LOTS).map(|_| AtomicI64::new(1_000)).collect());
    for i in 0..LOTS {
        let env = creation(i, epoch);
        let response = svc.submit(env.clone()).await.unwrap();
        print_ack(&env, &response.record.outcome, response.replayed);
        if let Some(lot) = svc.ports().store.load(&lot_id(i)).await.unwrap()
            && let Some((_, state)) = lot.english()
            && let Some(leader) = &state.leader
        {
            hints[i].store(leader.maximum.minor_units(), Ordering::Relaxed);
        }
    }
    println!("READY");
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let (svc, hints) = (svc.clone(), hints.clone());
        clients.push(tokio::spawn(async move {
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (cycle << 32) ^ (c as u64 + 1));
            let mut last: Option<CommandEnvelope> = None;
            for n in 0.. {
                let env = match &last {
                    // Now and then a retry of the previous command.
                    Some(prev) if rng.below(20) == 0 => prev.clone(),
                    _ => {
                        let lot = usize::try_from(rng.below(LOTS as u64)).unwrap();
                        let who = usize::try_from(rng.below(BIDDERS as u64)).unwrap();
                        let hint = hints[lot].load(Ordering::Relaxed);
                        let cents =
                            (hint + i64::try_from(rng.below(5_000)).unwrap() - 1_500).max(1);
                        CommandEnvelope::new(
                            CommandId::new(format!("c{cycle}-{c}-{n}")).unwrap(),
                            lot_id(lot),
                            Command::PlaceBid(PlaceBid {
                                bidder: Actor::bidder(bidder(who)),
                                amount: Decimal::new(cents, 2),
                                currency: None,
                                bid_id: svc.ports().ids.bid_id(),
                            }),
                        )
                    }
                };
                match svc.submit(env.clone()).await {
                    Ok(response) => {
                        print_ack(&env, &response.record.outcome, response.replayed);
                        if let (CommandOutcome::Done { .. }, Command::PlaceBid(bid)) =
                            (&response.record.outcome, &env.command)
                        {
                            let cents = i64::try_from(bid.amount.mantissa()).unwrap_or(0);
                            hints[lot_index(&env.lot_id)].fetch_max(cents, Ordering::Relaxed);
                        }
                    }
                    Err(e) => println!("ERR {e}"),
                }
                last = Some(env);
            }
        }));
    }
    tokio::time::sleep(CHILD_LIFETIME).await;
    println!("TIMEOUT");
    std::process::exit(0);
}

fn lot_index(lot: &LotId) -> usize {
    lot.as_str()
        .strip_prefix("crash-lot-")
        .and_then(|n| n.parse().ok())
        .unwrap()
}

// --------------------------------------------------------------- parent --

/// What one child run printed before it died.
struct Run {
    acks: Vec<Ack>,
    ready: bool,
}

/// Runs the child until the kill; returns what it acknowledged.
fn run_child(path: &Path, cycle: u64, epoch: i64, rng: &mut Rng) -> Run {
    let mut child = Process::new(std::env::current_exe().unwrap())
        .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, path)
        .env(CYCLE_ENV, cycle.to_string())
        .env(EPOCH_ENV, epoch.to_string())
        .stdout(Stdio::piped())
        // A child that fails to start says why on the test's stderr.
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut run = Run {
            acks: Vec::new(),
            ready: false,
        };
        let mut ready_tx = Some(ready_tx);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            // The harness may have started the line ("test crash_child ... ").
            let line = line.find("ACK ").map_or(line.as_str(), |at| &line[at..]);
            if let Some(json) = line.strip_prefix("ACK ") {
                // A line cut short by the kill does not parse; it was
                // never fully acknowledged to anyone reading it.
                if let Ok(ack) = serde_json::from_str::<Ack>(json) {
                    run.acks.push(ack);
                }
            } else if line.ends_with("READY") {
                run.ready = true;
                if let Some(tx) = ready_tx.take() {
                    let _ = tx.send(());
                }
            }
        }
        run
    });
    // Every third run (the second of three) dies early, maybe while opening
    // or creating lots; the others under full load.
    let early = cycle % 3 == 1;
    if early {
        std::thread::sleep(Duration::from_millis(rng.below(300)));
    } else {
        ready_rx.recv_timeout(START_TIMEOUT).unwrap_or_else(|e| {
            panic!("crash child {cycle} did not get going ({e:?}); see its stderr above")
        });
        std::thread::sleep(Duration::from_millis(150 + rng.below(900)));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    reader.join().unwrap()
}

async fn all_events(store: &SqliteStore, lot: &LotId) -> Vec<SequencedEvent> {
    let mut out: Vec<SequencedEvent> = Vec::new();
    loop {
        let after = out.last().map_or(0, |e| e.sequence);
        let page = store.events_after(lot, after, MAX_PAGE_SIZE).await.unwrap();
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

async fn all_bids(store: &SqliteStore, lot: &LotId) -> Vec<BidRecord> {
    let mut out = Vec::new();
    let mut cursor: Option<Cursor> = None;
    loop {
        let page = store
            .bids(lot, cursor.as_ref(), MAX_PAGE_SIZE)
            .await
            .unwrap();
        out.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return out,
        }
    }
}

/// Checks the store against everything acknowledged so far.
async fn verify(path: &Path, acks: &[Ack]) -> HashMap<LotId, Lot> {
    let store = SqliteStore::open(path).unwrap();
    // Every acknowledged outcome is stored as acknowledged.
    for ack in acks {
        let key = command_key(&ack.env);
        let record = store.command(&key).await.unwrap().unwrap_or_else(|| {
            panic!("acknowledged command {key:?} has no record after the crash")
        });
        assert_eq!(
            record.outcome, ack.outcome,
            "acknowledged command {key:?} has another outcome after the crash"
        );
        assert!(
            record.command.same_request(&ack.env.command),
            "acknowledged command {key:?} is stored with another command"
        );
    }
    // Each lot is exactly the replay of its gapless log; bids = BidAccepted.
    let mut lots = HashMap::new();
    for i in 0..LOTS {
        let id = lot_id(i);
        let Some(lot) = store.load(&id).await.unwrap() else {
            let created = acks.iter().any(|a| a.env.lot_id == id);
            assert!(!created, "{id} was acknowledged but is missing");
            continue;
        };
        let events = all_events(&store, &id).await;
        for (n, e) in events.iter().enumerate() {
            assert_eq!(e.sequence, n as u64 + 1, "{id}: sequences must be gapless");
        }
        let replayed = replay(id.clone(), &events).unwrap();
        assert_eq!(
            replayed, lot,
            "{id}: stored state must equal the replay of its events"
        );
        let bids = all_bids(&store, &id).await;
        assert_eq!(
            bids,
            bid_records(&events),
            "{id}: bid history must be the BidAccepted events"
        );
        for ack in acks.iter().filter(|a| a.env.lot_id == id) {
            let sequence = match &ack.outcome {
                CommandOutcome::Done { sequence, .. }
                | CommandOutcome::Rejected { sequence, .. } => *sequence,
            };
            assert!(
                sequence <= lot.sequence,
                "{id}: a record is ahead of its lot"
            );
            if let CommandOutcome::Done {
                result: Accepted::Bid { bid_id, .. },
                ..
            } = &ack.outcome
            {
                assert!(
                    bids.iter().any(|b| &b.bid_id == bid_id),
                    "{id}: acknowledged bid {bid_id} is missing from the history"
                );
            }
        }
        lots.insert(id, lot);
    }
    lots
}

/// Re-submits acknowledged commands: each answers its original outcome.
async fn resubmit(path: &Path, acks: &[Ack]) {
    let store = Arc::new(SqliteStore::open(path).unwrap());
    let svc = service(store.clone());
    let step = (acks.len() / RESUBMISSIONS).max(1);
    for ack in acks.iter().step_by(step) {
        let response = svc.submit(ack.env.clone()).await.unwrap();
        assert!(response.replayed, "a re-submitted command must be replayed");
        assert_eq!(
            response.record.outcome, ack.outcome,
            "a replay answers the original outcome"
        );
    }
    // Loading a lot reconciles its hold: afterwards the ledger holds exactly
    // what the lots' states require (SPEC §3.1, "also across a crash").
    let mut expected: BTreeMap<ParticipantId, Money> = BTreeMap::new();
    for i in 0..LOTS {
        let env = CommandEnvelope::new(
            CommandId::new(format!("advance-{i}")).unwrap(),
            lot_id(i),
            Command::Advance,
        );
        drop(svc.submit(env).await.unwrap());
        if let Some(lot) = store.load(&lot_id(i)).await.unwrap()
            && let Some(hold) = required_hold(&lot)
        {
            let sum = expected
                .entry(hold.participant)
                .or_insert(Money::zero(Currency::USD));
            *sum = sum.plus(hold.amount);
        }
    }
    for i in 0..BIDDERS {
        let view = store.credit(&bidder(i)).await.unwrap().unwrap();
        let want = expected
            .get(&bidder(i))
            .copied()
            .unwrap_or(Money::zero(Currency::USD));
        assert_eq!(
            view.held, want,
            "bidder-{i}: holds must match the lots' states"
        );
    }
}

#[test]
fn acknowledged_commands_survive_sigkill_and_nothing_is_half_applied() {
    let cycles: u64 = std::env::var("HAMMERFALL_CRASH_CYCLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap();
    let seed: u64 = std::env::var("HAMMERFALL_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(u64::from(now.subsec_nanos()) | 1);
    eprintln!("crash test: {cycles} cycles, HAMMERFALL_CRASH_SEED={seed}");
    let epoch = i64::try_from(now.as_secs()).unwrap();
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.db");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut acks: Vec<Ack> = Vec::new();
    let started = Instant::now();
    for cycle in 0..cycles {
        let run = run_child(&path, cycle, epoch, &mut rng);
        eprintln!(
            "cycle {cycle}: killed after {} acknowledgements (ready: {})",
            run.acks.len(),
            run.ready
        );
        acks.extend(run.acks);
        runtime.block_on(verify(&path, &acks));
    }
    assert!(
        acks.iter()
            .any(|a| matches!(a.outcome, CommandOutcome::Done { .. })),
        "the children acknowledged nothing: the test proved nothing"
    );
    runtime.block_on(resubmit(&path, &acks));
    eprintln!(
        "crash test: {} acknowledged commands checked in {:?}",
        acks.len(),
        started.elapsed()
    );
}
