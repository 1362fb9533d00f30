//! # hammerfall-adapters-memory
//!
//! Every Hammerfall port implemented in memory. These are real adapters with
//! the same contracts as the durable ones (the port contract suite runs
//! against them), so tests that run fully in memory exercise real semantics:
//! compare-and-set commits, SQS FIFO redelivery, credit holds.

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
