//! Idempotency records and the results they carry.

use hammerfall_ports::{
    Accepted, BidOutcome, BidRecord, Command, CommandEnvelope, CommandKey, Lot, LotId, LotStore,
    MAX_PAGE_SIZE, Money, SequencedEvent, StoreError,
};

/// The idempotency key of an envelope (SPEC §5): lot creation is scoped to
/// the seller, everything else to the lot and the submitter.
pub fn command_key(envelope: &CommandEnvelope) -> CommandKey {
    let lot_id = match envelope.command {
        Command::CreateLot(_) => None,
        _ => Some(envelope.lot_id.clone()),
    };
    CommandKey {
        lot_id,
        submitter: envelope.submitter().cloned(),
        command_id: envelope.command_id.clone(),
    }
}

/// What an accepted command produced, for its record and response.
pub(crate) fn accepted_result(command: &Command, lot: &Lot) -> Accepted {
    match command {
        Command::PlaceBid(bid) => {
            let leading = lot
                .english()
                .and_then(|(_, s)| s.leader.as_ref())
                .is_some_and(|l| l.bidder_id == bid.bidder.participant_id);
            Accepted::Bid {
                bid_id: bid.bid_id.clone(),
                outcome: if leading {
                    BidOutcome::Leading
                } else {
                    BidOutcome::Outbid
                },
                // Accepted bids passed validation in the lot's currency.
                your_maximum: Money::new(bid.amount, lot.currency())
                    .unwrap_or_else(|_| Money::zero(lot.currency())),
            }
        }
        Command::Reserve { reservation_id, .. } => Accepted::Reservation {
            reservation_id: reservation_id.clone(),
        },
        _ => Accepted::Lot,
    }
}

/// The bid history records of a command's events.
pub(crate) fn bid_records(events: &[SequencedEvent], out: &mut Vec<BidRecord>) {
    out.extend(events.iter().filter_map(BidRecord::implied_by));
}

/// The lot as it was right after `sequence`, folded from its log: the
/// body of a replayed answer (SPEC §5: the same body as the first time,
/// even after the lot moved on). Replays are rare, so folding is fine.
pub async fn lot_at<S: LotStore>(
    store: &S,
    lot_id: &LotId,
    sequence: u64,
) -> Result<Option<Lot>, StoreError> {
    let mut lot: Option<Lot> = None;
    let mut after = 0;
    while after < sequence {
        let page = store.events_after(lot_id, after, MAX_PAGE_SIZE).await?;
        if page.is_empty() {
            break;
        }
        for event in page.iter().take_while(|e| e.sequence <= sequence) {
            let folded = match lot.as_mut() {
                None => crate::create_from(lot_id.clone(), event).map(|l| lot = Some(l)),
                Some(l) => crate::apply(l, event),
            };
            folded.map_err(|e| StoreError::Corrupt(Box::new(e)))?;
            after = event.sequence;
        }
        if page.last().is_some_and(|e| e.sequence >= sequence) {
            break;
        }
    }
    Ok(lot)
}
