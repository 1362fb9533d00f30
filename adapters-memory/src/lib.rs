//! # hammerfall-adapters-memory
//!
//! Every Hammerfall port implemented in memory. These are real adapters with
//! the same contracts as the durable ones (the port contract suite runs
//! against them), so tests that run fully in memory exercise real semantics:
//! compare-and-set commits, SQS FIFO redelivery, credit holds.
//!
//! - [`MemoryLotStore`], [`MemoryCreditLedger`], [`MemoryEventPublisher`]
//!   (with [`Subscription`]s from any sequence) and [`MemoryCommandQueue`]
//!   (groups, dedup window, visibility timeout, [`DeadLetter`]s).
//! - [`ManualClock`] / [`SystemClock`], [`SequentialIds`] / [`UniqueIds`].
//! - [`FaultyStore`], [`FaultyLedger`], [`FaultyPublisher`]: wrap any
//!   adapter and fail chosen calls, for error-path tests.
//!
//! Every limit is a named constant (`MAX_*`), checked like a durable store
//! would, so memory-only tests do not pass where production would refuse.

mod chunked;
mod clock;
mod credit;
mod fault;
mod ids;
mod publisher;
mod queue;
mod store;

pub use clock::*;
pub use credit::*;
pub use fault::*;
pub use ids::*;
pub use publisher::*;
pub use queue::*;
pub use store::*;
