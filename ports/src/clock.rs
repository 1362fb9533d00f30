//! The `Clock` and `IdGenerator` ports: time and ids are inputs, so the
//! engine stays deterministic and tests control both.

use crate::ids::{BidId, CommandId, LotId, ReservationId};
use crate::time::Timestamp;

/// The current time.
///
/// Contract: `now` MUST NOT go backwards within one process.
pub trait Clock: Send + Sync + 'static {
    /// The current UTC instant.
    fn now(&self) -> Timestamp;
}

/// Fresh unique ids.
///
/// Contract: every value returned MUST be unique for the store's lifetime,
/// MUST be a valid id (at most 23 bytes keeps ids inline and allocation-free),
/// and SHOULD sort by creation time.
pub trait IdGenerator: Send + Sync + 'static {
    /// A fresh id string.
    fn next_id(&self) -> String;

    /// A fresh lot id.
    fn lot_id(&self) -> LotId {
        LotId::new(self.next_id()).unwrap_or_else(|e| panic!("IdGenerator broke its contract: {e}"))
    }
    /// A fresh bid id.
    fn bid_id(&self) -> BidId {
        BidId::new(self.next_id()).unwrap_or_else(|e| panic!("IdGenerator broke its contract: {e}"))
    }
    /// A fresh reservation id.
    fn reservation_id(&self) -> ReservationId {
        ReservationId::new(self.next_id())
            .unwrap_or_else(|e| panic!("IdGenerator broke its contract: {e}"))
    }
    /// A fresh command id (for commands sent without an `Idempotency-Key`).
    fn command_id(&self) -> CommandId {
        CommandId::new(self.next_id())
            .unwrap_or_else(|e| panic!("IdGenerator broke its contract: {e}"))
    }
}
