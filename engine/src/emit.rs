//! Numbering events as they are decided.

use hammerfall_ports::{Event, Events, SequencedEvent, Timestamp};

/// Collects a decision's events into a buffer, giving each the lot's next
/// sequence.
pub(crate) struct Emitter<'a> {
    next: u64,
    pub(crate) events: &'a mut Events,
}

impl<'a> Emitter<'a> {
    /// Numbering continues after `sequence` (the lot's current one).
    pub(crate) fn into(sequence: u64, events: &'a mut Events) -> Self {
        Self {
            next: sequence + 1,
            events,
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, occurred_at: Timestamp, event: Event) {
        self.events.push(SequencedEvent {
            sequence: self.next,
            occurred_at,
            event,
        });
        self.next += 1;
    }
}
