//! The [`CreditLedger`] contract (SPEC §3.1), one check per clause. Every
//! check takes a fresh, empty ledger and panics with a message naming the
//! broken clause.

use super::fixtures::{lot_id, pid, usd};
use super::named;
use hammerfall_ports::{
    CommittedHold, CreditError, CreditLedger, CreditView, Currency, LotCreditOp, Money,
    ParticipantId,
};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

/// Lot sequences for the checks that do not test ordering: each write is
/// newer than every one before it.
static SEQUENCE: AtomicU64 = AtomicU64::new(1);

fn next() -> u64 {
    SEQUENCE.fetch_add(1, Ordering::Relaxed)
}

/// Runs every [`CreditLedger`] check, each on a ledger from `fresh` (which
/// must return an empty ledger every time).
pub async fn run_all_credit_ledger<L, F, Fut>(mut fresh: F)
where
    L: CreditLedger,
    F: FnMut() -> Fut,
    Fut: Future<Output = L>,
{
    macro_rules! check {
        ($($name:ident),* $(,)?) => {$(
            {
                // Each check borrows the factory in turn.
                let fresh = &mut fresh;
                named(concat!("credit_ledger::", stringify!($name)), move || async move {
                    $name(&fresh().await).await
                })
                .await;
            }
        )*};
    }
    check!(
        no_limit_means_no_credit,
        set_limit_shows_the_whole_limit_available,
        holds_reduce_available_credit,
        a_hold_in_another_currency_does_not_fit,
        a_new_hold_on_a_lot_replaces_its_own,
        a_lots_hold_moves_to_a_new_holder,
        holding_the_same_amount_twice_counts_once,
        release_removes_the_lots_hold,
        consume_turns_the_hold_into_a_payment,
        changing_currency_while_holding_is_refused,
        available_credit_never_goes_negative,
        a_stale_write_changes_nothing,
        a_release_tombstone_refuses_an_older_hold,
        writes_at_the_same_sequence_re_apply_once,
        a_proposal_is_added_next_to_the_committed_hold,
        a_proposal_raises_its_own_hold_by_the_difference,
        a_withdrawn_proposal_frees_only_its_own_credit,
        a_committed_write_drops_proposals_up_to_its_sequence,
        clearing_proposals_keeps_the_committed_hold,
        a_load_sets_the_committed_hold_and_drops_every_proposal,
        a_load_of_a_released_or_paid_state_drops_every_proposal,
        a_load_whose_hold_does_not_fit_changes_nothing,
    );
}

async fn view<L: CreditLedger>(ledger: &L, who: &str) -> Option<CreditView> {
    ledger
        .credit(&pid(who))
        .await
        .unwrap_or_else(|e| panic!("credit({who}) failed: {e:?}"))
}

async fn set<L: CreditLedger>(ledger: &L, who: &str, limit: Money) -> CreditView {
    ledger
        .set_limit(&pid(who), limit, Currency::USD)
        .await
        .unwrap_or_else(|e| panic!("set_limit({who}, {limit}) failed: {e:?}"))
}

/// The setup most checks share: each of `who` has a limit of 100.00 USD.
async fn given_limits<L: CreditLedger>(ledger: &L, who: &[&str]) {
    for who in who {
        set(ledger, who, usd(10_000)).await;
    }
}

async fn hold<L: CreditLedger>(
    ledger: &L,
    lot: &str,
    who: &str,
    amount: Money,
) -> Result<(), CreditError> {
    ledger
        .hold(&lot_id(lot), &pid(who), amount, Currency::USD, next())
        .await
}

async fn must_hold<L: CreditLedger>(ledger: &L, lot: &str, who: &str, amount: Money) {
    if let Err(e) = hold(ledger, lot, who, amount).await {
        panic!("hold({lot}, {who}, {amount}) must fit but failed: {e:?}");
    }
}

fn expect_insufficient(result: &Result<(), CreditError>, what: &str) {
    assert!(
        matches!(result, Err(CreditError::Insufficient)),
        "{what}: expected CreditError::Insufficient, got {result:?}"
    );
}

/// `(limit, held, available)` of `who`, in cents.
async fn numbers<L: CreditLedger>(ledger: &L, who: &str) -> (Money, Money, Money) {
    let v = view(ledger, who)
        .await
        .unwrap_or_else(|| panic!("{who} must have credit"));
    (v.limit, v.held, v.available)
}

fn view_of(who: &str, limit: i64, held: i64) -> CreditView {
    CreditView {
        participant_id: ParticipantId::new(who).unwrap_or_else(|e| panic!("bad id: {e}")),
        currency: Currency::USD,
        limit: usd(limit),
        held: usd(held),
        available: usd((limit - held).max(0)),
    }
}

/// Asserts `who`'s credit is `limit` with `held` held (USD cents).
async fn expect_credit<L: CreditLedger>(ledger: &L, who: &str, limit: i64, held: i64, what: &str) {
    assert_eq!(
        view(ledger, who).await,
        Some(view_of(who, limit, held)),
        "{what}: {who}'s credit (limit, held in cents: {limit}, {held})"
    );
}

/// A participant without a limit has no credit, and no hold fits.
pub async fn no_limit_means_no_credit<L: CreditLedger>(ledger: &L) {
    assert_eq!(
        view(ledger, "ann").await,
        None,
        "no limit set: credit is None"
    );
    expect_insufficient(
        &hold(ledger, "lot-1", "ann", usd(1)).await,
        "a hold by a participant without a limit",
    );
    assert_eq!(
        view(ledger, "ann").await,
        None,
        "a refused hold creates nothing"
    );
}

/// Setting a limit makes all of it available; setting it again replaces it.
pub async fn set_limit_shows_the_whole_limit_available<L: CreditLedger>(ledger: &L) {
    assert_eq!(
        set(ledger, "ann", usd(10_000)).await,
        view_of("ann", 10_000, 0),
        "set_limit returns the new credit, all of it available"
    );
    expect_credit(
        ledger,
        "ann",
        10_000,
        0,
        "credit reads back what set_limit returned",
    )
    .await;
    assert_eq!(
        set(ledger, "ann", usd(2_500)).await,
        view_of("ann", 2_500, 0),
        "set_limit replaces the limit"
    );
    assert_eq!(
        view(ledger, "bob").await,
        None,
        "limits are per participant"
    );
}

/// Holds on several lots add up; a hold that does not fit fails and
/// changes nothing.
pub async fn holds_reduce_available_credit<L: CreditLedger>(ledger: &L) {
    given_limits(ledger, &["ann"]).await;
    must_hold(ledger, "lot-1", "ann", usd(3_000)).await;
    expect_credit(
        ledger,
        "ann",
        10_000,
        3_000,
        "a hold reduces available credit",
    )
    .await;
    must_hold(ledger, "lot-2", "ann", usd(5_000)).await;
    expect_credit(ledger, "ann", 10_000, 8_000, "holds on several lots add up").await;
    expect_insufficient(
        &hold(ledger, "lot-3", "ann", usd(2_001)).await,
        "a hold above the available credit",
    );
    expect_credit(
        ledger,
        "ann",
        10_000,
        8_000,
        "a refused hold changes nothing",
    )
    .await;
    must_hold(ledger, "lot-3", "ann", usd(2_000)).await;
    expect_credit(
        ledger,
        "ann",
        10_000,
        10_000,
        "a hold of exactly the available credit fits",
    )
    .await;
}

/// A hold in a currency other than the limit's never fits.
pub async fn a_hold_in_another_currency_does_not_fit<L: CreditLedger>(ledger: &L) {
    given_limits(ledger, &["ann"]).await;
    let result = ledger
        .hold(
            &lot_id("lot-1"),
            &pid("ann"),
            Money::from_minor(100, Currency::EUR),
            Currency::EUR,
            next(),
        )
        .await;
    expect_insufficient(&result, "a hold in another currency");
    expect_credit(ledger, "ann", 10_000, 0, "a refused hold changes nothing").await;
}

/// A new hold on a lot replaces that lot's hold: it must fit the credit
/// available not counting the lot's current hold (raising a maximum), and a
/// refused one leaves the old hold in place.
pub async fn a_new_hold_on_a_lot_replaces_its_own<L: CreditLedger>(ledger: &L) {
    given_limits(ledger, &["ann"]).await;
    must_hold(ledger, "lot-1", "ann", usd(6_000)).await;
    must_hold(ledger, "lot-1", "ann", usd(9_000)).await;
    expect_credit(
        ledger,
        "ann",
        10_000,
        9_000,
        "raising a hold replaces it (60 + 90 would not fit)",
    )
    .await;
    expect_insufficient(
        &hold(ledger, "lot-1", "ann", usd(10_001)).await,
        "raising a hold above the limit",
    );
    expect_credit(
        ledger,
        "ann",
        10_000,
        9_000,
        "a refused replacement keeps the old hold",
    )
    .await;
    must_hold(ledger, "lot-1", "ann", usd(4_000)).await;
    expect_credit(ledger, "ann", 10_000, 4_000, "a hold may be lowered").await;
}

/// A lot holds credit for one participant: a hold by someone else moves
/// the lot's hold to them atomically; one that does not fit leaves it.
pub async fn a_lots_hold_moves_to_a_new_holder<L: CreditLedger>(ledger: &L) {
    given_limits(ledger, &["ann", "bob"]).await;
    set(ledger, "cat", usd(1_000)).await;
    must_hold(ledger, "lot-1", "ann", usd(6_000)).await;
    must_hold(ledger, "lot-1", "bob", usd(7_000)).await;
    expect_credit(ledger, "ann", 10_000, 0, "the old holder is released").await;
    expect_credit(ledger, "bob", 10_000, 7_000, "the new holder holds the lot").await;
    expect_insufficient(
        &hold(ledger, "lot-1", "cat", usd(2_000)).await,
        "a new holder without enough credit",
    );
    expect_credit(
        ledger,
        "bob",
        10_000,
        7_000,
        "a refused move keeps the lot's hold with its holder",
    )
    .await;
    expect_credit(ledger, "cat", 1_000, 0, "a refused holder gains no hold").await;
    must_hold(ledger, "lot-2", "bob", usd(3_000)).await;
    must_hold(ledger, "lot-1", "ann", usd(8_000)).await;
    expect_credit(
        ledger,
        "bob",
        10_000,
        3_000,
        "the lot's hold left bob; his other lot's hold stays",
    )
    .await;
    expect_credit(ledger, "ann", 10_000, 8_000, "ann holds the lot again").await;
}

/// Holding is idempotent: the same hold twice counts once (ledger repair
/// sets every lot's hold again).
pub async fn holding_the_same_amount_twice_counts_once<L: CreditLedger>(ledger: &L) {
    given_limits(ledger, &["ann"]).await;
    must_hold(ledger, "lot-1", "ann", usd(7_000)).await;
    must_hold(ledger, "lot-1", "ann", usd(7_000)).await;
    expect_credit(
        ledger,
        "ann",
        10_000,
        7_000,
        "the same hold placed twice counts once",
    )
    .await;
}

/// Release removes the lot's hold; releasing again, or a lot without a
/// hold, changes nothing.
pub async fn release_removes_the_lots_hold<L: CreditLedger>(ledger: &L) {
    given_limits(ledger, &["ann"]).await;
    must_hold(ledger, "lot-1", "ann", usd(3_000)).await;
    must_hold(ledger, "lot-2", "ann", usd(2_000)).await;
    for _ in 0..2 {
        ledger
            .release(&lot_id("lot-1"), next())
            .await
            .unwrap_or_else(|e| panic!("release failed: {e:?}"));
        expect_credit(
            ledger,
            "ann",
            10_000,
            2_000,
            "release removes only that lot's hold, and again is a no-op",
        )
        .await;
    }
    ledger
        .release(&lot_id("never-held"), next())
        .await
        .unwrap_or_else(|e| panic!("releasing a lot without a hold must be a no-op: {e:?}"));
    expect_credit(
        ledger,
        "ann",
        10_000,
        2_000,
        "releasing a lot without a hold changes nothing",
    )
    .await;
}

/// Consume removes the lot's hold and lowers its holder's limit by it,
/// once: consuming again (or a lot without a hold) changes nothing.
pub async fn consume_turns_the_hold_into_a_payment<L: CreditLedger>(ledger: &L) {
    given_limits(ledger, &["ann"]).await;
    must_hold(ledger, "lot-1", "ann", usd(4_000)).await;
    must_hold(ledger, "lot-2", "ann", usd(1_000)).await;
    for _ in 0..2 {
        ledger
            .consume(&lot_id("lot-1"), next())
            .await
            .unwrap_or_else(|e| panic!("consume failed: {e:?}"));
        assert_eq!(
            numbers(ledger, "ann").await,
            (usd(6_000), usd(1_000), usd(5_000)),
            "consume lowers limit and held by the hold, once"
        );
    }
    ledger
        .consume(&lot_id("never-held"), next())
        .await
        .unwrap_or_else(|e| panic!("consuming a lot without a hold must be a no-op: {e:?}"));
    assert_eq!(
        numbers(ledger, "ann").await,
        (usd(6_000), usd(1_000), usd(5_000)),
        "consuming a lot without a hold changes nothing"
    );
}

/// A limit's currency cannot change while holds are active (`InUse`,
/// nothing changes); the amount can; once the holds are gone, so can the
/// currency.
pub async fn changing_currency_while_holding_is_refused<L: CreditLedger>(ledger: &L) {
    given_limits(ledger, &["ann"]).await;
    must_hold(ledger, "lot-1", "ann", usd(1_000)).await;
    let eur = Money::from_minor(10_000, Currency::EUR);
    let result = ledger.set_limit(&pid("ann"), eur, Currency::EUR).await;
    assert!(
        matches!(result, Err(CreditError::InUse)),
        "changing the currency while holding: expected InUse, got {result:?}"
    );
    expect_credit(
        ledger,
        "ann",
        10_000,
        1_000,
        "a refused currency change changes nothing",
    )
    .await;
    assert_eq!(
        set(ledger, "ann", usd(20_000)).await,
        view_of("ann", 20_000, 1_000),
        "the amount may change while holding"
    );
    ledger
        .release(&lot_id("lot-1"), next())
        .await
        .unwrap_or_else(|e| panic!("release failed: {e:?}"));
    let view = ledger
        .set_limit(&pid("ann"), eur, Currency::EUR)
        .await
        .unwrap_or_else(|e| panic!("changing the currency without holds failed: {e:?}"));
    assert_eq!(
        (view.currency, view.limit, view.held, view.available),
        (Currency::EUR, eur, Money::zero(Currency::EUR), eur),
        "without holds the currency may change"
    );
}

/// Lowering a limit below what is held leaves available credit at zero,
/// never negative; nothing new fits, but a hold may still shrink.
pub async fn available_credit_never_goes_negative<L: CreditLedger>(ledger: &L) {
    given_limits(ledger, &["ann"]).await;
    must_hold(ledger, "lot-1", "ann", usd(8_000)).await;
    let lowered = set(ledger, "ann", usd(5_000)).await;
    assert_eq!(
        (lowered.held, lowered.available),
        (usd(8_000), usd(0)),
        "held above the limit: available is zero"
    );
    expect_insufficient(
        &hold(ledger, "lot-2", "ann", usd(1)).await,
        "a new hold with nothing available",
    );
    must_hold(ledger, "lot-1", "ann", usd(4_000)).await;
    assert_eq!(
        numbers(ledger, "ann").await,
        (usd(5_000), usd(4_000), usd(1_000)),
        "an existing hold may shrink below a lowered limit"
    );
}

async fn ok(result: impl Future<Output = Result<(), CreditError>>, what: &str) {
    if let Err(e) = result.await {
        panic!("{what} must succeed but failed: {e:?}");
    }
}

async fn hold_at<L: CreditLedger>(ledger: &L, who: &str, amount: i64, sequence: u64) {
    let what = format!("hold(lot-1, {who}, {amount}, sequence {sequence})");
    let (lot, who) = (lot_id("lot-1"), pid(who));
    ok(
        ledger.hold(&lot, &who, usd(amount), Currency::USD, sequence),
        &what,
    )
    .await;
}

async fn propose_at<L: CreditLedger>(ledger: &L, who: &str, amount: i64, sequence: u64) {
    let what = format!("propose(lot-1, {who}, {amount}, sequence {sequence})");
    let (lot, who) = (lot_id("lot-1"), pid(who));
    ok(
        ledger.propose(&lot, &who, usd(amount), Currency::USD, sequence),
        &what,
    )
    .await;
}

/// A write for an older lot state than the one applied (a late write of
/// another engine) succeeds and changes nothing: hold, release, consume and
/// proposal alike.
pub async fn a_stale_write_changes_nothing<L: CreditLedger>(ledger: &L) {
    given_limits(ledger, &["ann", "bob"]).await;
    hold_at(ledger, "bob", 5_000, 11).await;
    hold_at(ledger, "ann", 3_000, 10).await;
    expect_credit(
        ledger,
        "ann",
        10_000,
        0,
        "a hold older than the lot's is stale",
    )
    .await;
    expect_credit(
        ledger,
        "bob",
        10_000,
        5_000,
        "a stale hold keeps the lot's hold",
    )
    .await;
    propose_at(ledger, "ann", 3_000, 11).await;
    expect_credit(
        ledger,
        "ann",
        10_000,
        0,
        "a proposal for a sequence already committed is stale",
    )
    .await;
    ok(ledger.release(&lot_id("lot-1"), 10), "a stale release").await;
    ok(ledger.consume(&lot_id("lot-1"), 10), "a stale consume").await;
    expect_credit(
        ledger,
        "bob",
        10_000,
        5_000,
        "a stale release or consume changes nothing",
    )
    .await;
}

/// A release keeps the lot's sequence (a tombstone): an older hold
/// arriving after it changes nothing; a newer one applies.
pub async fn a_release_tombstone_refuses_an_older_hold<L: CreditLedger>(ledger: &L) {
    given_limits(ledger, &["ann"]).await;
    hold_at(ledger, "ann", 3_000, 5).await;
    ok(ledger.release(&lot_id("lot-1"), 7), "release").await;
    hold_at(ledger, "ann", 3_000, 6).await;
    expect_credit(
        ledger,
        "ann",
        10_000,
        0,
        "a hold older than a release is stale",
    )
    .await;
    ok(
        ledger.consume(&lot_id("lot-2"), 4),
        "consume without a hold",
    )
    .await;
    hold_at(ledger, "ann", 2_000, 8).await;
    expect_credit(ledger, "ann", 10_000, 2_000, "a newer hold applies").await;
}

/// A write at the sequence already applied re-applies: the same hold
/// counts once, a consume charges once.
pub async fn writes_at_the_same_sequence_re_apply_once<L: CreditLedger>(ledger: &L) {
    given_limits(ledger, &["ann"]).await;
    for _ in 0..2 {
        hold_at(ledger, "ann", 4_000, 5).await;
        expect_credit(
            ledger,
            "ann",
            10_000,
            4_000,
            "the same hold twice counts once",
        )
        .await;
    }
    for _ in 0..2 {
        ok(ledger.consume(&lot_id("lot-1"), 6), "consume").await;
        expect_credit(
            ledger,
            "ann",
            6_000,
            0,
            "the same consume twice charges once",
        )
        .await;
    }
    hold_at(ledger, "ann", 4_000, 5).await;
    ok(ledger.consume(&lot_id("lot-1"), 6), "consume").await;
    expect_credit(
        ledger,
        "ann",
        6_000,
        0,
        "a lagging hold after the consume changes nothing",
    )
    .await;
}

/// A proposal is held next to the lot's committed hold (the old leader
/// stays held until the new state's committed hold replaces theirs), and
/// it must fit like a hold.
pub async fn a_proposal_is_added_next_to_the_committed_hold<L: CreditLedger>(ledger: &L) {
    given_limits(ledger, &["ann", "bob"]).await;
    hold_at(ledger, "ann", 6_000, 5).await;
    propose_at(ledger, "bob", 7_000, 6).await;
    expect_credit(
        ledger,
        "ann",
        10_000,
        6_000,
        "the committed holder stays held",
    )
    .await;
    expect_credit(
        ledger,
        "bob",
        10_000,
        7_000,
        "the proposal holds its bidder",
    )
    .await;
    let refused = ledger
        .propose(&lot_id("lot-2"), &pid("bob"), usd(3_001), Currency::USD, 1)
        .await;
    expect_insufficient(&refused, "a proposal above the available credit");
    expect_credit(
        ledger,
        "bob",
        10_000,
        7_000,
        "a refused proposal changes nothing",
    )
    .await;
    hold_at(ledger, "bob", 7_000, 6).await;
    expect_credit(
        ledger,
        "ann",
        10_000,
        0,
        "the committed hold moved: ann is free",
    )
    .await;
    expect_credit(
        ledger,
        "bob",
        10_000,
        7_000,
        "the proposal became the committed hold (counted once)",
    )
    .await;
}

/// A leader raising their own maximum proposes the new amount: only the
/// difference must fit.
pub async fn a_proposal_raises_its_own_hold_by_the_difference<L: CreditLedger>(ledger: &L) {
    given_limits(ledger, &["ann"]).await;
    hold_at(ledger, "ann", 6_000, 5).await;
    propose_at(ledger, "ann", 9_000, 6).await;
    expect_credit(
        ledger,
        "ann",
        10_000,
        9_000,
        "held: the larger of hold and proposal",
    )
    .await;
    hold_at(ledger, "ann", 9_000, 6).await;
    expect_credit(
        ledger,
        "ann",
        10_000,
        9_000,
        "committed, still counted once",
    )
    .await;
}

/// Withdrawing a proposal (its commit failed) frees its bidder and leaves
/// the committed hold; a withdrawal naming another sequence changes nothing.
pub async fn a_withdrawn_proposal_frees_only_its_own_credit<L: CreditLedger>(ledger: &L) {
    given_limits(ledger, &["ann", "bob"]).await;
    hold_at(ledger, "ann", 6_000, 5).await;
    propose_at(ledger, "bob", 7_000, 6).await;
    let (lot, bob) = (lot_id("lot-1"), pid("bob"));
    ok(ledger.withdraw(&lot, &bob, 7), "withdraw another sequence").await;
    expect_credit(
        ledger,
        "bob",
        10_000,
        7_000,
        "another sequence's proposal stays",
    )
    .await;
    for _ in 0..2 {
        ok(ledger.withdraw(&lot, &bob, 6), "withdraw").await;
        expect_credit(ledger, "bob", 10_000, 0, "the withdrawn proposal is gone").await;
        expect_credit(ledger, "ann", 10_000, 6_000, "the committed hold stays").await;
    }
}

/// A committed write at sequence `s` drops the proposals up to `s` (they
/// became that state or lost to it); later proposals stay.
pub async fn a_committed_write_drops_proposals_up_to_its_sequence<L: CreditLedger>(ledger: &L) {
    given_limits(ledger, &["ann", "bob", "cat"]).await;
    hold_at(ledger, "ann", 6_000, 5).await;
    propose_at(ledger, "bob", 7_000, 6).await;
    propose_at(ledger, "cat", 2_000, 8).await;
    hold_at(ledger, "ann", 6_000, 6).await;
    expect_credit(ledger, "bob", 10_000, 0, "a proposal that lost is dropped").await;
    expect_credit(ledger, "cat", 10_000, 2_000, "a later proposal stays").await;
    ok(ledger.release(&lot_id("lot-1"), 8), "release").await;
    expect_credit(ledger, "cat", 10_000, 0, "a release drops proposals too").await;
    expect_credit(ledger, "ann", 10_000, 0, "and the committed hold").await;
}

/// Clearing a lot's proposals (a fresh load after a crash) drops all of
/// them and keeps the committed hold; a stale clear changes nothing.
pub async fn clearing_proposals_keeps_the_committed_hold<L: CreditLedger>(ledger: &L) {
    given_limits(ledger, &["ann", "bob"]).await;
    hold_at(ledger, "ann", 6_000, 5).await;
    propose_at(ledger, "bob", 7_000, 6).await;
    ok(ledger.clear_proposals(&lot_id("lot-1"), 4), "a stale clear").await;
    expect_credit(
        ledger,
        "bob",
        10_000,
        7_000,
        "a stale clear changes nothing",
    )
    .await;
    ok(ledger.clear_proposals(&lot_id("lot-1"), 5), "clear").await;
    expect_credit(ledger, "bob", 10_000, 0, "the proposal is cleared").await;
    expect_credit(ledger, "ann", 10_000, 6_000, "the committed hold stays").await;
}

/// A fresh load of lot-1's committed state at `sequence`, needing
/// `committed` ([`LotCreditOp::Loaded`]).
async fn load_at<L: CreditLedger>(
    ledger: &L,
    committed: CommittedHold<ParticipantId>,
    sequence: u64,
) -> Result<(), CreditError> {
    let op = LotCreditOp::Loaded {
        committed: committed.as_ref(),
        sequence,
    };
    ledger.change(&lot_id("lot-1"), op).await
}

/// The committed hold of `who` for `amount` USD cents.
fn held_by(who: &str, amount: i64) -> CommittedHold<ParticipantId> {
    CommittedHold::Hold {
        participant: pid(who),
        amount: usd(amount),
        currency: Currency::USD,
    }
}

/// A fresh load sets the committed hold and drops every proposal, also
/// those above its sequence and the holder's own (their holding is the
/// committed hold alone); a stale load changes nothing; a load naming a
/// new holder moves the hold.
pub async fn a_load_sets_the_committed_hold_and_drops_every_proposal<L: CreditLedger>(ledger: &L) {
    given_limits(ledger, &["ann", "bob", "cat"]).await;
    hold_at(ledger, "ann", 6_000, 5).await;
    propose_at(ledger, "ann", 9_000, 6).await;
    propose_at(ledger, "bob", 7_000, 6).await;
    propose_at(ledger, "cat", 2_000, 8).await;
    ok(load_at(ledger, held_by("ann", 6_000), 4), "a stale load").await;
    expect_credit(ledger, "bob", 10_000, 7_000, "a stale load changes nothing").await;
    expect_credit(
        ledger,
        "ann",
        10_000,
        9_000,
        "a stale load keeps ann's proposal",
    )
    .await;
    for _ in 0..2 {
        ok(load_at(ledger, held_by("ann", 6_000), 5), "load").await;
        expect_credit(ledger, "ann", 10_000, 6_000, "the committed hold alone").await;
        expect_credit(
            ledger,
            "bob",
            10_000,
            0,
            "a proposal at the next sequence is dropped",
        )
        .await;
        expect_credit(ledger, "cat", 10_000, 0, "a later proposal is dropped too").await;
    }
    ok(
        load_at(ledger, held_by("bob", 7_000), 6),
        "load a new holder",
    )
    .await;
    expect_credit(ledger, "ann", 10_000, 0, "the hold moved: ann is free").await;
    expect_credit(ledger, "bob", 10_000, 7_000, "bob holds the lot").await;
    hold_at(ledger, "ann", 6_000, 5).await;
    expect_credit(
        ledger,
        "ann",
        10_000,
        0,
        "a hold older than the load is stale",
    )
    .await;
}

/// A fresh load of a state that needs no hold releases it, of a paid one
/// consumes it (once), and drops every proposal either way.
pub async fn a_load_of_a_released_or_paid_state_drops_every_proposal<L: CreditLedger>(ledger: &L) {
    given_limits(ledger, &["ann", "bob"]).await;
    hold_at(ledger, "ann", 4_000, 5).await;
    propose_at(ledger, "bob", 3_000, 6).await;
    ok(load_at(ledger, CommittedHold::Consume, 5), "load paid").await;
    expect_credit(ledger, "ann", 6_000, 0, "a paid load consumes the hold").await;
    expect_credit(ledger, "bob", 10_000, 0, "and drops the proposals").await;
    propose_at(ledger, "bob", 3_000, 7).await;
    ok(
        load_at(ledger, CommittedHold::Consume, 6),
        "load paid again",
    )
    .await;
    expect_credit(ledger, "ann", 6_000, 0, "consumed once").await;
    expect_credit(ledger, "bob", 10_000, 0, "the new proposal is dropped").await;
    hold_at(ledger, "ann", 1_000, 7).await;
    propose_at(ledger, "bob", 3_000, 8).await;
    ok(load_at(ledger, CommittedHold::Release, 7), "load released").await;
    expect_credit(
        ledger,
        "ann",
        6_000,
        0,
        "a load needing no hold releases it",
    )
    .await;
    expect_credit(ledger, "bob", 10_000, 0, "and drops the proposals").await;
}

/// A load whose hold does not fit (another currency, or more than is
/// available) is refused and changes nothing, its proposals included.
pub async fn a_load_whose_hold_does_not_fit_changes_nothing<L: CreditLedger>(ledger: &L) {
    given_limits(ledger, &["ann", "bob"]).await;
    must_hold(ledger, "lot-2", "ann", usd(8_000)).await;
    propose_at(ledger, "bob", 5_000, 6).await;
    expect_insufficient(
        &load_at(ledger, held_by("ann", 3_000), 5).await,
        "a loaded hold above the available credit",
    );
    let eur = CommittedHold::Hold {
        participant: pid("ann"),
        amount: Money::from_minor(100, Currency::EUR),
        currency: Currency::EUR,
    };
    expect_insufficient(
        &load_at(ledger, eur, 5).await,
        "a loaded hold in another currency",
    );
    expect_credit(ledger, "ann", 10_000, 8_000, "a refused load holds nothing").await;
    expect_credit(
        ledger,
        "bob",
        10_000,
        5_000,
        "a refused load keeps the proposals",
    )
    .await;
    ok(
        load_at(ledger, held_by("ann", 2_000), 5),
        "a load that fits",
    )
    .await;
    expect_credit(
        ledger,
        "ann",
        10_000,
        10_000,
        "exactly the available credit fits",
    )
    .await;
    expect_credit(ledger, "bob", 10_000, 0, "and the proposals are dropped").await;
}
