//! The read pool: a few threads, each with its own read-only connection,
//! taking jobs from one shared channel. In WAL mode readers never wait for
//! the writer and see every transaction committed before their statement
//! began, so a read issued after an acknowledgement reflects it.

use rusqlite::Connection;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::thread::JoinHandle;

/// Read jobs the pool's channel holds before callers wait.
pub const READ_QUEUE_CAPACITY: usize = 4_096;

/// A query to run on some reader's connection.
pub(crate) type ReadJob = Box<dyn FnOnce(&Connection) + Send>;

/// The reader threads and the channel that feeds them.
pub(crate) struct ReadPool {
    jobs: Option<flume::Sender<ReadJob>>,
    threads: Vec<JoinHandle<()>>,
}

/// The pool has stopped (the store is being dropped).
pub(crate) struct Stopped;

impl ReadPool {
    /// Starts one thread per connection.
    pub(crate) fn start(connections: Vec<Connection>) -> std::io::Result<Self> {
        let (jobs, inbox) = flume::bounded::<ReadJob>(READ_QUEUE_CAPACITY);
        let mut threads = Vec::with_capacity(connections.len());
        for (i, conn) in connections.into_iter().enumerate() {
            let inbox = inbox.clone();
            let thread = std::thread::Builder::new()
                .name(format!("hammerfall-sqlite-reader-{i}"))
                .spawn(move || serve(&conn, &inbox))?;
            threads.push(thread);
        }
        Ok(Self {
            jobs: Some(jobs),
            threads,
        })
    }

    /// Runs `query` on a reader thread and waits for its answer without
    /// blocking the caller's thread.
    pub(crate) async fn run<T, F>(&self, query: F) -> Result<T, Stopped>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> T + Send + 'static,
    {
        let (reply, answer) = futures_channel::oneshot::channel();
        let job: ReadJob = Box::new(move |conn| drop(reply.send(query(conn))));
        let jobs = self.jobs.as_ref().ok_or(Stopped)?;
        jobs.send_async(job).await.map_err(|_| Stopped)?;
        answer.await.map_err(|_| Stopped)
    }
}

fn serve(conn: &Connection, inbox: &flume::Receiver<ReadJob>) {
    while let Ok(job) = inbox.recv() {
        // A panicking query (a bug) drops its reply, which its caller sees
        // as "unavailable"; the thread serves on.
        if catch_unwind(AssertUnwindSafe(|| job(conn))).is_err() {
            tracing::error!("a read query panicked");
        }
    }
}

impl ReadPool {
    /// Stops the threads (after the jobs already queued) and closes their
    /// connections. Idempotent.
    pub(crate) fn stop(&mut self) {
        self.jobs = None;
        for thread in self.threads.drain(..) {
            drop(thread.join());
        }
    }
}

impl Drop for ReadPool {
    fn drop(&mut self) {
        self.stop();
    }
}
