//! Translating SDK failures into the ports' errors, at the boundary: no SDK
//! type leaves this crate.

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use hammerfall_ports::{CreditError, QueueError, StoreError};

/// An AWS request that failed, with the SDK's whole error chain as text
/// (the source of `Unavailable`/`Corrupt` variants; for logs).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation}: {detail}")]
pub struct AwsError {
    /// The request (`TransactWriteItems`, `ReceiveMessage`, …).
    pub operation: &'static str,
    /// The error code, if the service sent one (`ThrottlingException`, …).
    pub code: Option<String>,
    /// What the SDK said.
    pub detail: String,
}

impl AwsError {
    /// A failure described by the adapter itself.
    pub fn new(operation: &'static str, detail: impl Into<String>) -> Self {
        Self {
            operation,
            code: None,
            detail: detail.into(),
        }
    }

    pub(crate) fn from_sdk<E, R>(operation: &'static str, e: &SdkError<E, R>) -> Self
    where
        E: std::error::Error + ProvideErrorMetadata + 'static,
        R: std::fmt::Debug,
    {
        Self {
            operation,
            code: e.code().map(str::to_owned),
            detail: DisplayErrorContext(e).to_string(),
        }
    }

    /// True for a request the service refused as malformed: retrying the
    /// same request cannot help.
    fn is_invalid_request(&self) -> bool {
        matches!(
            self.code.as_deref(),
            Some("ValidationException" | "SerializationException")
        )
    }

    pub(crate) fn into_store(self) -> StoreError {
        if self.is_invalid_request() {
            StoreError::Corrupt(Box::new(self))
        } else {
            StoreError::Unavailable(Box::new(self))
        }
    }

    pub(crate) fn into_credit(self) -> CreditError {
        CreditError::Unavailable(Box::new(self))
    }

    pub(crate) fn into_queue(self) -> QueueError {
        QueueError::Unavailable(Box::new(self))
    }
}

/// A stored item that does not read back (missing attribute, bad JSON, a
/// newer schema): returned inside [`StoreError::Corrupt`].
pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(Box::new(AwsError::new("decode", what.to_string())))
}

/// A cursor this store did not hand out (or handed out for another
/// listing). Returned inside [`StoreError::Corrupt`] because the port has no
/// variant for a caller's bad input; hosts can downcast the source to this
/// type and answer 422 instead of 500.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cursor {0:?} is not a cursor of this listing")]
pub struct InvalidCursor(pub String);

/// A commit that contradicts itself: the rules live in `ports`
/// ([`hammerfall_ports::LotCommit::check`]), re-exported here for the
/// callers that matched on this crate's type.
pub use hammerfall_ports::InvalidCommit;
