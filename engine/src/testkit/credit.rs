//! The [`CreditLedger`] contract (SPEC §3.1), one check per clause. Every
//! check takes a fresh, empty ledger and panics with a message naming the
//! broken clause.

use super::fixtures::{lot_id, pid, usd};
use super::named;
use hammerfall_ports::{CreditError, CreditLedger, CreditView, Currency, Money, ParticipantId};
use std::future::Future;

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
            named(concat!("credit_ledger::", stringify!($name)), async {
                $name(&fresh().await).await
            })
            .await;
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

async fn hold<L: CreditLedger>(
    ledger: &L,
    lot: &str,
    who: &str,
    amount: Money,
) -> Result<(), CreditError> {
    ledger
        .hold(&lot_id(lot), &pid(who), amount, Currency::USD)
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
    set(ledger, "ann", usd(10_000)).await;
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
    set(ledger, "ann", usd(10_000)).await;
    let result = ledger
        .hold(
            &lot_id("lot-1"),
            &pid("ann"),
            Money::from_minor(100, Currency::EUR),
            Currency::EUR,
        )
        .await;
    expect_insufficient(&result, "a hold in another currency");
    expect_credit(ledger, "ann", 10_000, 0, "a refused hold changes nothing").await;
}

/// A new hold on a lot replaces that lot's hold: it must fit the credit
/// available not counting the lot's current hold (raising a maximum), and a
/// refused one leaves the old hold in place.
pub async fn a_new_hold_on_a_lot_replaces_its_own<L: CreditLedger>(ledger: &L) {
    set(ledger, "ann", usd(10_000)).await;
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
    set(ledger, "ann", usd(10_000)).await;
    set(ledger, "bob", usd(10_000)).await;
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
    set(ledger, "ann", usd(10_000)).await;
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
    set(ledger, "ann", usd(10_000)).await;
    must_hold(ledger, "lot-1", "ann", usd(3_000)).await;
    must_hold(ledger, "lot-2", "ann", usd(2_000)).await;
    for _ in 0..2 {
        ledger
            .release(&lot_id("lot-1"))
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
        .release(&lot_id("never-held"))
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
    set(ledger, "ann", usd(10_000)).await;
    must_hold(ledger, "lot-1", "ann", usd(4_000)).await;
    must_hold(ledger, "lot-2", "ann", usd(1_000)).await;
    for _ in 0..2 {
        ledger
            .consume(&lot_id("lot-1"))
            .await
            .unwrap_or_else(|e| panic!("consume failed: {e:?}"));
        assert_eq!(
            numbers(ledger, "ann").await,
            (usd(6_000), usd(1_000), usd(5_000)),
            "consume lowers limit and held by the hold, once"
        );
    }
    ledger
        .consume(&lot_id("never-held"))
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
    set(ledger, "ann", usd(10_000)).await;
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
        .release(&lot_id("lot-1"))
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
    set(ledger, "ann", usd(10_000)).await;
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
