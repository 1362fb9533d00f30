//! [`SqliteStore`]: the `LotStore` and `CreditLedger` ports (and the
//! outbox) over one SQLite file. Every method hands its work to the writer
//! thread or a reader thread and awaits the answer, so no executor thread
//! ever blocks on SQLite.

use crate::codec;
use crate::commit::EncodedCommit;
use crate::open::Synchronous;
use crate::open::{OpenError, OpenOptions};
use crate::outbox::{self, OutboxEntry};
use crate::queries;
use crate::readers::ReadPool;
use crate::syncer::{self, Durability, WalFile, WalSync};
use crate::writer::{
    self, Acknowledge, CreditDone, CreditOp, Reply, SyncChoice, WRITER_QUEUE_CAPACITY, Write,
};
use hammerfall_ports::{
    BidRecord, CommandKey, CommandRecord, CreditError, CreditLedger, CreditView, Currency, Cursor,
    EventPublisher, Lot, LotCommit, LotCreditOp, LotId, LotQuery, LotStore, Money, Page,
    ParticipantId, PublishError, SequencedEvent, StoreError, Timestamp,
};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Most entries one `commit` call takes; entries beyond it are refused
/// with [`StoreError::TooLarge`] (the caller splits the batch).
pub const MAX_COMMIT_BATCH: usize = 1_000;

/// The durable store: Hammerfall's lots, logs, idempotency records,
/// outbox and credit ledger in one SQLite file (WAL mode).
///
/// Cheap to share: wrap it in an `Arc` and hand the same value to the
/// service as its `store` and its `ledger`. Dropping the last handle stops
/// the threads after the transaction in flight, and closes the file.
pub struct SqliteStore {
    path: PathBuf,
    writer: Option<flume::Sender<Write>>,
    writer_thread: Option<JoinHandle<()>>,
    readers: ReadPool,
    durability: Arc<Durability>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Why the relay could not finish a round.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// Reading or acknowledging the outbox failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The publisher refused; the entries stay in the outbox.
    #[error(transparent)]
    Publish(#[from] PublishError),
}

fn stopped() -> Box<dyn std::error::Error + Send + Sync> {
    "the SQLite store's threads have stopped".into()
}

impl SqliteStore {
    /// Opens (or creates) the store at `path` with the default
    /// [`OpenOptions`]: [`Synchronous::Full`] (acknowledged after an
    /// fsync of the WAL), two readers.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, OpenError> {
        OpenOptions::default().open(path)
    }

    /// Starts the threads over opened connections. Under
    /// [`Synchronous::Full`] the WAL is fsynced once first: what a crashed
    /// process left in it (written, maybe not yet durable) is made durable
    /// before the outbox relays any of it.
    pub(crate) fn start(
        path: PathBuf,
        writer_conn: Connection,
        readers: Vec<Connection>,
        synchronous: Synchronous,
        log_end: i64,
    ) -> std::io::Result<Self> {
        let durability = Arc::new(Durability::starting_at(log_end));
        let ack = match synchronous {
            Synchronous::Normal => Acknowledge::AtCommit,
            Synchronous::Full => {
                let wal: Arc<dyn WalSync> = Arc::new(Mutex::new(WalFile::of(&path)));
                wal.sync()?;
                let (syncer, inbox) = flume::unbounded();
                let (shared, synced) = (durability.clone(), wal.clone());
                let thread = std::thread::Builder::new()
                    .name("hammerfall-sqlite-sync".into())
                    .spawn(move || syncer::run(synced, inbox, shared))?;
                Acknowledge::AfterSync {
                    syncer,
                    thread,
                    wal,
                    choice: SyncChoice::default(),
                }
            }
        };
        let readers = ReadPool::start(readers)?;
        let (writer, inbox) = flume::bounded(WRITER_QUEUE_CAPACITY);
        let shared = durability.clone();
        let writer_thread = std::thread::Builder::new()
            .name("hammerfall-sqlite-writer".into())
            .spawn(move || writer::run(writer_conn, inbox, ack, shared))?;
        Ok(Self {
            path,
            writer: Some(writer),
            writer_thread: Some(writer_thread),
            readers,
            durability,
        })
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sends a request to the writer and waits for its answer (None: the
    /// writer is gone).
    async fn write<T>(&self, request: impl FnOnce(Reply<T>) -> Write) -> Option<T> {
        let (reply, answer) = futures_channel::oneshot::channel();
        self.writer
            .as_ref()?
            .send_async(request(reply))
            .await
            .ok()?;
        answer.await.ok()
    }

    /// Runs a query on a reader.
    async fn read<T, F>(&self, query: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.readers
            .run(query)
            .await
            .unwrap_or_else(|_| Err(StoreError::Unavailable(stopped())))
    }

    async fn credit_write(&self, op: CreditOp) -> Result<CreditDone, CreditError> {
        self.write(|reply| Write::Credit { op, reply })
            .await
            .unwrap_or_else(|| Err(CreditError::Unavailable(stopped())))
    }

    /// The oldest committed events not yet acknowledged as published, by
    /// committed entry, in commit order (at most `limit` entries).
    pub async fn pending_events(&self, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        let through = self.durability.log_through();
        self.read(move |conn| outbox::pending(conn, limit, through))
            .await
    }

    /// Acknowledges the outbox through `position` (inclusive): those
    /// entries were published and are deleted.
    pub async fn ack_outbox(&self, position: u64) -> Result<(), StoreError> {
        let through = codec::seq_to_sql(position);
        self.write(|reply| Write::AckOutbox { through, reply })
            .await
            .unwrap_or_else(|| Err(StoreError::Unavailable(stopped())))
    }

    /// One relay round: publishes up to `limit` pending outbox entries in
    /// commit order, then acknowledges them. Returns how many entries it
    /// published. A crash between publishing and acknowledging publishes
    /// them again (at least once; subscribers drop repeats by
    /// `(lotId, sequence)`).
    pub async fn relay<P: EventPublisher>(
        &self,
        publisher: &P,
        limit: usize,
    ) -> Result<usize, RelayError> {
        let entries = self.pending_events(limit).await?;
        let Some(last) = entries.last().map(|e| e.position) else {
            return Ok(0);
        };
        let events: Vec<_> = entries.iter().flat_map(|e| e.events.clone()).collect();
        publisher.publish(&events).await?;
        self.ack_outbox(last).await?;
        Ok(entries.len())
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // Readers first, so the writer's connection is the file's last: on
        // close it checkpoints the WAL into the database and removes it (a
        // read-only connection closing last would leave the WAL behind).
        self.readers.stop();
        // Closing the channel ends the writer's loop after the group in
        // flight; joining makes sure the file is closed when drop returns.
        self.writer = None;
        if let Some(thread) = self.writer_thread.take() {
            drop(thread.join());
        }
    }
}

impl LotStore for SqliteStore {
    async fn load(&self, lot_id: &LotId) -> Result<Option<Lot>, StoreError> {
        let lot_id = lot_id.clone();
        self.read(move |conn| queries::load(conn, &lot_id)).await
    }

    async fn commit(&self, batch: Vec<LotCommit>) -> Vec<Result<(), StoreError>> {
        let mut results: Vec<Result<(), StoreError>> = Vec::with_capacity(batch.len());
        let mut entries = Vec::with_capacity(batch.len().min(MAX_COMMIT_BATCH));
        let mut slots = Vec::with_capacity(entries.capacity());
        for (i, commit) in batch.iter().enumerate() {
            if i >= MAX_COMMIT_BATCH {
                results.push(Err(StoreError::TooLarge {
                    what: "entries per commit call",
                }));
                continue;
            }
            match EncodedCommit::new(commit) {
                Ok(entry) => {
                    entries.push(entry);
                    slots.push(i);
                    results.push(Ok(()));
                }
                Err(e) => results.push(Err(e)),
            }
        }
        if entries.is_empty() {
            return results;
        }
        let written = self.write(|reply| Write::Commit { entries, reply }).await;
        match written {
            Some(written) => {
                for (slot, result) in slots.into_iter().zip(written) {
                    results[slot] = result;
                }
            }
            None => {
                for slot in slots {
                    results[slot] = Err(StoreError::Unavailable(stopped()));
                }
            }
        }
        results
    }

    async fn command(&self, key: &CommandKey) -> Result<Option<CommandRecord>, StoreError> {
        let key = key.clone();
        self.read(move |conn| queries::command(conn, &key)).await
    }

    async fn commands(
        &self,
        keys: &[CommandKey],
    ) -> Result<Vec<Option<CommandRecord>>, StoreError> {
        // One trip to a reader thread for a whole batch of lookups.
        let keys = keys.to_vec();
        self.read(move |conn| {
            // One read transaction for the batch: one snapshot, one round
            // of WAL locks instead of one per key. Dropped (rolled back:
            // it wrote nothing) after the last lookup.
            let tx = conn.unchecked_transaction().map_err(queries::sql)?;
            let mut stmt = queries::command_statement(&tx)?;
            keys.iter()
                .map(|key| queries::command_with(&mut stmt, key))
                .collect()
        })
        .await
    }

    async fn events_after(
        &self,
        lot_id: &LotId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<SequencedEvent>, StoreError> {
        let lot_id = lot_id.clone();
        self.read(move |conn| queries::events_after(conn, &lot_id, after, limit))
            .await
    }

    async fn bids(
        &self,
        lot_id: &LotId,
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page<BidRecord>, StoreError> {
        let lot_id = lot_id.clone();
        let cursor = cursor.cloned();
        self.read(move |conn| queries::bids(conn, &lot_id, cursor.as_ref(), limit))
            .await
    }

    async fn lots(&self, query: &LotQuery) -> Result<Page<Lot>, StoreError> {
        let query = query.clone();
        self.read(move |conn| queries::lots(conn, &query)).await
    }

    async fn due(&self, now: Timestamp, limit: usize) -> Result<Vec<LotId>, StoreError> {
        self.read(move |conn| queries::due(conn, now, limit)).await
    }
}

impl CreditLedger for SqliteStore {
    async fn set_limit(
        &self,
        participant: &ParticipantId,
        limit: Money,
        currency: Currency,
    ) -> Result<CreditView, CreditError> {
        let op = CreditOp::SetLimit {
            participant: participant.clone(),
            limit,
            currency,
        };
        match self.credit_write(op).await? {
            CreditDone::View(view) => Ok(view),
            CreditDone::Done => Err(CreditError::Unavailable(stopped())),
        }
    }

    async fn credit(&self, participant: &ParticipantId) -> Result<Option<CreditView>, CreditError> {
        let participant = participant.clone();
        self.readers
            .run(move |conn| crate::ledger::view(conn, &participant))
            .await
            .unwrap_or_else(|_| Err(CreditError::Unavailable(stopped())))
    }

    async fn change(
        &self,
        lot: &LotId,
        op: LotCreditOp<&ParticipantId>,
    ) -> Result<(), CreditError> {
        // Owned: the change crosses to the writer thread.
        let op = CreditOp::Lot {
            lot: lot.clone(),
            change: op.map(|p| (*p).clone()),
        };
        self.credit_write(op).await.map(drop)
    }
}
