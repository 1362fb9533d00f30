//! Two engines on one credit-checked lot (two processes on one table, or a
//! queue redelivery after a timeout): ledger writes that land out of order
//! must not make the ledger disagree with the lot (issue #3, SPEC §3.1).

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use common::*;
use hammerfall_adapters_memory::MemoryCreditLedger;
use hammerfall_engine::{Ports, ServiceConfig};
use hammerfall_ports::{
    CreditError, CreditLedger, CreditView, Currency, Decimal, LotCreditOp, LotId, Money,
    ParticipantId,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::Notify;

/// The shared ledger as one engine sees it: once armed, its next hold
/// write placed before a commit (`propose`, or `hold`) waits until the test
/// lets it through, then pauses again once it has landed, so the test can
/// look at the ledger at that moment.
struct Gated {
    inner: Arc<MemoryCreditLedger>,
    armed: AtomicBool,
    entered: Notify,
    go: Notify,
    landed: Notify,
    resume: Notify,
}

impl Gated {
    async fn gate<T>(&self, call: impl std::future::Future<Output = T>) -> T {
        if !self.armed.swap(false, Ordering::SeqCst) {
            return call.await;
        }
        self.entered.notify_one();
        self.go.notified().await;
        let result = call.await;
        self.landed.notify_one();
        self.resume.notified().await;
        result
    }
}

impl CreditLedger for Gated {
    async fn set_limit(
        &self,
        p: &ParticipantId,
        limit: Money,
        currency: Currency,
    ) -> Result<CreditView, CreditError> {
        self.inner.set_limit(p, limit, currency).await
    }
    async fn credit(&self, p: &ParticipantId) -> Result<Option<CreditView>, CreditError> {
        self.inner.credit(p).await
    }
    async fn change(
        &self,
        lot: &LotId,
        op: LotCreditOp<&ParticipantId>,
    ) -> Result<(), CreditError> {
        match op {
            LotCreditOp::Hold { .. } | LotCreditOp::Propose { .. } => {
                self.gate(self.inner.change(lot, op)).await
            }
            _ => self.inner.change(lot, op).await,
        }
    }
}

/// Engine A judges Ann's bid on the lot at sequence S (Zed leads) and its
/// pre-commit hold is delayed; meanwhile engine B commits S + 1 (Bob leads)
/// and sets Bob's hold. A's late write then lands. Before the ledger was
/// versioned it replaced Bob's hold with Ann's: the ledger said Ann, the
/// lot Bob. Now the late write is stale and changes nothing, and once A's
/// commit meets the conflict and its bid is judged again, ledger and lot
/// still agree.
#[tokio::test]
async fn a_late_hold_from_an_engine_that_lost_the_race_does_not_replace_the_winners() {
    let world = MemWorld::memory();
    let gated = Arc::new(Gated {
        inner: world.ledger.clone(),
        armed: AtomicBool::new(false),
        entered: Notify::new(),
        go: Notify::new(),
        landed: Notify::new(),
        resume: Notify::new(),
    });
    let ports_a = Ports {
        store: world.store.clone(),
        ledger: gated.clone(),
        publisher: world.publisher.clone(),
        clock: Arc::new(world.clock.clone()),
        ids: world.ids.clone(),
    };
    let config = ServiceConfig {
        workers: 1,
        ..ServiceConfig::default()
    };
    let a = Running::start_with(ports_a, config);
    let b = world.start(1);
    let mut limits = HashMap::new();
    for who in ["ann", "bob", "zed"] {
        a.svc
            .set_credit_limit(&pid(who), usd(100_000), Currency::USD)
            .await
            .unwrap()
            .unwrap();
        limits.insert(pid(who), usd(100_000));
    }
    let lot = lid("lot-1");
    let created = a
        .svc
        .submit(create_english(&lot, "sam", t0() + hours(1), |c| {
            c.credit_check = Some(true);
            c.buyer_premium_rate = Some(Decimal::new(10, 2));
        }))
        .await
        .unwrap();
    assert_eq!(code(&created.record), "done");
    // A has the lot cached with zed leading.
    let zed = a.svc.submit(bid(&lot, "zed", cents(10_000), "z1")).await;
    assert_eq!(code(&zed.unwrap().record), "done");
    let lots = [lot.clone()];
    assert_credit_matches_lots(&*world.store, &*world.ledger, &lots, &limits, "zed leads").await;

    // A judges ann's bid on its cached state; its hold is held back.
    gated.armed.store(true, Ordering::SeqCst);
    let svc_a = a.svc.clone();
    let ann_bid = bid(&lot, "ann", cents(30_000), "a1");
    let ann = tokio::spawn(async move { svc_a.submit(ann_bid).await });
    gated.entered.notified().await;

    // B commits bob's higher bid meanwhile and holds his credit.
    let bob = b.svc.submit(bid(&lot, "bob", cents(50_000), "b1")).await;
    assert_eq!(code(&bob.unwrap().record), "done");
    assert_credit_matches_lots(&*world.store, &*world.ledger, &lots, &limits, "bob leads").await;

    // A's late write lands: the ledger must still agree with the lot.
    gated.go.notify_one();
    gated.landed.notified().await;
    assert_credit_matches_lots(
        &*world.store,
        &*world.ledger,
        &lots,
        &limits,
        "after the late write",
    )
    .await;
    assert_eq!(
        held(&*world.ledger, "ann").await,
        usd(0),
        "ann holds nothing"
    );

    // A's commit conflicts; it judges ann's bid again on the stored lot.
    gated.resume.notify_one();
    let ann = ann.await.unwrap().unwrap();
    assert_eq!(code(&ann.record), "done", "{:?}", ann.record);
    assert_credit_matches_lots(&*world.store, &*world.ledger, &lots, &limits, "at rest").await;
    assert_eq!(held(&*world.ledger, "bob").await, usd(55_000));
    a.stop().await;
    b.stop().await;
}
