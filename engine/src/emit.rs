//! Numbering events as they are decided.

use hammerfall_ports::{Event, Events, SequencedEvent, Timestamp};

/// Collects a decision's events, giving each the lot's next sequence.
pub(crate) struct Emitter {
    next: u64,
    pub(crate) events: Events,
}

impl Emitter {
    /// Numbering continues after `sequence` (the lot's current one).
    pub(crate) fn after(sequence: u64) -> Self {
        Self {
            next: sequence + 1,
            events: Events::new(),
        }
    }

    pub(crate) fn push(&mut self, occurred_at: Timestamp, event: Event) {
        self.events.push(SequencedEvent {
            sequence: self.next,
            occurred_at,
            event,
        });
        self.next += 1;
    }
}
