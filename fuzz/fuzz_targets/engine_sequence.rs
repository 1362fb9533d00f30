//! An english lot driven through a sequence of commands, checked against a
//! naive reference model of SPEC §2 written here, independently of the engine.
//!
//! The bytes decode into a lot creation (mostly valid parameters, sometimes
//! garbage) and up to 64 commands at non-decreasing times. Every command goes
//! through `judge`; its events are always committed with `apply` (due
//! transitions stay even when the command is refused). After every step the
//! engine's lot must equal the model's, and at the end `replay` of the log
//! must rebuild the lot exactly.
//!
//! The model keeps amounts as integers of minor units (`i128`), computes
//! increments, premiums and validity itself, and keeps the list of accepted
//! bids; the leader is recomputed from that list (highest maximum, earliest
//! wins ties), the price by the §2.2 rules.
#![no_main]

use arbitrary::Arbitrary;
use hammerfall_engine::{advance, apply, create, create_from, judge, replay};
use hammerfall_ports::{
    Actor, BidId, Command, CreateLot, Currency, CurrencyCode, Decimal, Duration, Event, LotId,
    LotStatus, Money, ParticipantId, PlaceBid, Rejection, ReservationId, Roles, SaleResult,
    SequencedEvent, SettlementStatus, SoftCloseInput, TierInput, Timestamp, UnsoldReason,
    parse_decimal,
};
use libfuzzer_sys::fuzz_target;

// ---------------------------------------------------------------- input ----

/// 2026-01-01T00:00:00Z: the creation time.
const T0: i64 = 1_767_225_600;
const MAX_COMMANDS: usize = 64;
/// 365 days: the longest window the engine takes (SPEC §9 for holds and
/// payment windows; the engine applies it to soft-close durations too).
const MAX_WINDOW: i64 = 365 * 24 * 3600;

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Cur {
    Usd,
    Jpy,
    Bhd,
}

/// A raw amount: anything a client could send, garbage included.
#[derive(Arbitrary, Debug, Clone)]
enum Amt {
    Minor(u32),
    Major(u16),
    Zero,
    Negative(u32),
    /// A mantissa with up to 28 decimals (mostly "too many decimals").
    Scaled {
        mantissa: u64,
        scale: u8,
        negative: bool,
    },
    /// Any 96-bit decimal, up to ~7.9e28.
    Parts {
        lo: u32,
        mid: u32,
        hi: u32,
        negative: bool,
        scale: u8,
    },
    /// Around the 1,000,000,000,000 limit.
    NearMax(i16),
    /// Text through `parse_decimal` (0 when it does not parse).
    Text(String),
}

#[derive(Arbitrary, Debug)]
enum PriceGen {
    Minor(u16),
    Small(u8),
    Big(u32),
    Garbage(Amt),
}

/// Reserve / buy now: mostly relative to the prices below them.
#[derive(Arbitrary, Debug)]
enum OptPrice {
    None,
    None2,
    Above(u16),
    AboveBig(u32),
    Garbage(Amt),
}

#[derive(Arbitrary, Debug)]
enum Increments {
    Default,
    Default2,
    /// Tiers `(gap to previous from, step)` in minor units; the first tier's
    /// `from` is 0 unless `first_from` is given.
    Custom {
        tiers: Vec<(u16, u16)>,
        first_from: Option<u8>,
    },
    Garbage {
        tiers: Vec<(Amt, Amt)>,
    },
}

#[derive(Arbitrary, Debug)]
enum SoftGen {
    None,
    Typical { window: u16, extension: u16 },
    Short { window: u8, extension: u8 },
    Raw { window: i64, extension: i64 },
}

#[derive(Arbitrary, Debug)]
enum RateGen {
    None,
    /// n / 10000.
    Basis(u16),
    /// mantissa / 10^scale, possibly negative, ≥ 1 or too precise.
    Raw {
        mantissa: u64,
        scale: u8,
        negative: bool,
    },
}

#[derive(Arbitrary, Debug)]
enum StartGen {
    Now,
    Now2,
    /// Seconds from now (negative: in the past, which means now).
    Offset(i16),
}

#[derive(Arbitrary, Debug)]
enum EndGen {
    Minutes(u16),
    Minutes2(u8),
    Hours(u8),
    /// Seconds after the requested start (0 or negative: invalid).
    Raw(i32),
    /// Seconds from the creation time, any value in chrono's range.
    Absolute(i64),
}

#[derive(Arbitrary, Debug)]
struct Setup {
    currency: Cur,
    start: PriceGen,
    reserve: OptPrice,
    buy_now: OptPrice,
    increments: Increments,
    soft_close: SoftGen,
    rate: RateGen,
    payment_window: Option<i64>,
    starts: StartGen,
    ends: EndGen,
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Ann,
    Bob,
    Cat,
    /// The lot's seller (roles seller + bidder, so the seller check is reached).
    Seller,
    /// An admin (no bidder role).
    Admin,
    /// Someone with no role at all.
    Stranger,
}

impl Who {
    fn id(self) -> &'static str {
        match self {
            Who::Ann => "ann",
            Who::Bob => "bob",
            Who::Cat => "cat",
            Who::Seller => "sam",
            Who::Admin => "ada",
            Who::Stranger => "zed",
        }
    }
    fn roles(self) -> Roles {
        match self {
            Who::Ann | Who::Bob | Who::Cat => Roles::BIDDER,
            Who::Seller => Roles::SELLER.with(Roles::BIDDER),
            Who::Admin => Roles::ADMIN,
            Who::Stranger => Roles::NONE,
        }
    }
    fn actor(self) -> Actor {
        Actor::new(pid(self.id()), self.roles())
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Bidder {
    Ann,
    Bob,
    Cat,
    Any(Who),
}

impl Bidder {
    fn who(self) -> Who {
        match self {
            Bidder::Ann => Who::Ann,
            Bidder::Bob => Who::Bob,
            Bidder::Cat => Who::Cat,
            Bidder::Any(w) => w,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum BidAmt {
    /// The bidder's minimum bid plus n minor units.
    AtMinPlus(u8),
    AtMinPlus2(u16),
    /// The minimum bid plus n smallest units, n possibly negative.
    Around(i8),
    /// The minimum plus n whole increments' worth of units × 37.
    Jump(u16),
    Abs(Amt),
}

#[derive(Arbitrary, Debug)]
enum BidCur {
    None,
    None2,
    Lot,
    Other(Cur),
    Raw([u8; 3]),
}

#[derive(Arbitrary, Debug)]
enum Cmd {
    Bid {
        who: Bidder,
        amount: BidAmt,
        currency: BidCur,
    },
    Bid2 {
        who: Bidder,
        amount: BidAmt,
    },
    Bid3 {
        who: Bidder,
        amount: BidAmt,
    },
    BuyNow(Who),
    Cancel(Who),
    Advance,
    Pay(Who),
    /// Reservation commands on an english lot (reserve, or complete "r1").
    Reservation {
        who: Who,
        complete: bool,
    },
}

#[derive(Arbitrary, Debug)]
enum When {
    Same,
    Secs(u16),
    Minutes(u8),
    /// `k` seconds before the lot's current end (never back in time).
    BeforeEnd(u8),
    /// `k` seconds after the lot's current end.
    AfterEnd(u16),
    Days(u16),
}

#[derive(Arbitrary, Debug)]
struct Step {
    when: When,
    cmd: Cmd,
}

#[derive(Arbitrary, Debug)]
struct Input {
    setup: Setup,
    steps: Vec<Step>,
}

fn pid(s: &str) -> ParticipantId {
    ParticipantId::new(s).expect("valid id")
}

fn ts(secs: i64) -> Timestamp {
    Timestamp::from_timestamp(secs, 0).expect("in range")
}

/// `t + secs`, saturating at chrono's range.
fn plus(t: Timestamp, secs: i64) -> Timestamp {
    Duration::try_seconds(secs)
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(if secs >= 0 {
            Timestamp::MAX_UTC
        } else {
            Timestamp::MIN_UTC
        })
}

fn cur(c: Cur) -> Currency {
    match c {
        Cur::Usd => Currency::USD,
        Cur::Jpy => Currency::JPY,
        Cur::Bhd => Currency::BHD,
    }
}

/// The decimal a raw amount stands for, in a currency of `d` minor units.
fn amt(a: &Amt, d: u32) -> Decimal {
    match a {
        Amt::Minor(n) => Decimal::new(i64::from(*n), d),
        Amt::Major(n) => Decimal::from(*n),
        Amt::Zero => Decimal::ZERO,
        Amt::Negative(n) => Decimal::new(-i64::from(*n), d),
        Amt::Scaled {
            mantissa,
            scale,
            negative,
        } => {
            let mut x =
                Decimal::from_i128_with_scale(i128::from(*mantissa), u32::from(*scale % 29));
            x.set_sign_negative(*negative);
            x
        }
        Amt::Parts {
            lo,
            mid,
            hi,
            negative,
            scale,
        } => Decimal::from_parts(*lo, *mid, *hi, *negative, u32::from(*scale % 29)),
        Amt::NearMax(k) => Decimal::from(1_000_000_000_000_i64) + Decimal::new(i64::from(*k), d),
        Amt::Text(s) => parse_decimal(s).unwrap_or(Decimal::ZERO),
    }
}

/// `n` minor units as a decimal.
fn dec(n: i128, d: u32) -> Decimal {
    Decimal::from_i128_with_scale(n, d)
}

// ---------------------------------------------------------------- model ----

/// `x` in minor units of a `d`-unit currency, if it has no non-zero digit
/// beyond them. Pure integer arithmetic on the decimal's mantissa and scale.
fn minor(x: Decimal, d: u32) -> Option<i128> {
    let m = x.mantissa();
    let s = x.scale();
    if s <= d {
        Some(m * 10_i128.pow(d - s))
    } else {
        let div = 10_i128.pow(s - d);
        (m % div == 0).then(|| m / div)
    }
}

/// Valid money (SPEC §1): not negative, no digit beyond the minor units,
/// at most 1,000,000,000,000.
fn money_units(x: Decimal, d: u32) -> Option<i128> {
    let n = minor(x, d)?;
    (n >= 0 && n <= 1_000_000_000_000 * 10_i128.pow(d)).then_some(n)
}

/// Engine money back to minor units (always exact).
fn units(m: Money, d: u32) -> i128 {
    minor(m.amount(), d).unwrap_or_else(|| panic!("engine money {m:?} has more than {d} decimals"))
}

/// The default table of SPEC §2 in 2-decimal currency units, scaled by
/// 10^(2−d) and returned in minor units.
fn default_table(d: u32) -> Vec<(i128, i128)> {
    const TABLE: [(&str, &str); 10] = [
        ("0.01", "0.05"),
        ("1.00", "0.25"),
        ("5.00", "0.50"),
        ("25.00", "1.00"),
        ("100.00", "2.50"),
        ("250.00", "5.00"),
        ("500.00", "10.00"),
        ("1000.00", "25.00"),
        ("2500.00", "50.00"),
        ("5000.00", "100.00"),
    ];
    // Every `from` and `step` × 10^(2−d), then in minor units.
    let scale = if d <= 2 {
        Decimal::from(10_i64.pow(2 - d))
    } else {
        Decimal::new(1, d - 2)
    };
    TABLE
        .iter()
        .map(|(f, s)| {
            let h = |t: &str| {
                minor(t.parse::<Decimal>().expect("table") * scale, d)
                    .expect("table scales exactly")
            };
            (h(f), h(s))
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MStatus {
    Scheduled,
    Open,
    Closed,
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct MSettlement {
    buyer: &'static str,
    hammer: i128,
    premium: i128,
    total: i128,
    due_by: Timestamp,
    status: SettlementStatus,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct MOutcome {
    sold: Option<(&'static str, i128)>,
    reason: Option<UnsoldReason>,
    ended_by: &'static str,
    ended_at: Timestamp,
}

#[derive(Debug)]
struct Model {
    d: u32,
    code: &'static str,
    start: i128,
    reserve: Option<i128>,
    buy_now: Option<i128>,
    /// (from, step), from ascending.
    tiers: Vec<(i128, i128)>,
    soft: Option<(i64, i64)>,
    /// Premium rate = rate_m / 10^rate_s.
    rate_m: i128,
    rate_s: u32,
    window: i64,
    starts_at: Timestamp,
    ends_at: Timestamp,
    status: MStatus,
    /// Accepted bids in order: (bidder, maximum).
    bids: Vec<(Who, i128)>,
    price: Option<i128>,
    settlement: Option<MSettlement>,
    outcome: Option<MOutcome>,
}

/// What the model expects of a command: the events (type, time) or the
/// rejection code (with `minBid` for `bid_too_low`).
type Expect = Result<Vec<(&'static str, Timestamp)>, (&'static str, Option<i128>)>;

impl Model {
    /// `inc(p)`: the step of the tier with the largest `from` ≤ p (the first
    /// tier's step below every tier, which valid prices never reach).
    fn inc(&self, p: i128) -> i128 {
        self.tiers
            .iter()
            .filter(|(from, _)| *from <= p)
            .map(|(_, step)| *step)
            .next_back()
            .unwrap_or(self.tiers[0].1)
    }

    /// Highest maximum; the earliest bid wins ties.
    fn leader(&self) -> Option<(Who, i128)> {
        let mut best: Option<(Who, i128)> = None;
        for &(who, max) in &self.bids {
            if best.is_none_or(|(_, b)| max > b) {
                best = Some((who, max));
            }
        }
        best
    }

    fn reserve_met(&self) -> bool {
        match self.reserve {
            None => true,
            Some(r) => self.leader().is_some_and(|(_, m)| m >= r),
        }
    }

    fn min_next_bid(&self) -> i128 {
        match (self.leader(), self.price) {
            (Some(_), Some(c)) => c + self.inc(c),
            _ => self.start,
        }
    }

    /// The smallest amount `who` may bid.
    fn min_bid(&self, who: Who) -> i128 {
        match self.leader() {
            Some((l, max)) if l == who => max + 1,
            _ => self.min_next_bid(),
        }
    }

    fn buy_now_available(&self) -> bool {
        self.status == MStatus::Open
            && self.buy_now.is_some()
            && (self.bids.is_empty() || self.reserve.is_some() && !self.reserve_met())
    }

    /// hammer × rate, rounded half-even to minor units.
    fn premium(&self, hammer: i128) -> i128 {
        let p = hammer * self.rate_m;
        let div = 10_i128.pow(self.rate_s);
        let (q, r) = (p / div, p % div);
        if 2 * r > div || 2 * r == div && q % 2 == 1 {
            q + 1
        } else {
            q
        }
    }

    fn sell(&mut self, buyer: &'static str, hammer: i128, ended_by: &'static str, at: Timestamp) {
        self.status = MStatus::Closed;
        let premium = self.premium(hammer);
        self.outcome = Some(MOutcome {
            sold: Some((buyer, hammer)),
            reason: None,
            ended_by,
            ended_at: at,
        });
        self.settlement = Some(MSettlement {
            buyer,
            hammer,
            premium,
            total: hammer + premium,
            due_by: plus(at, self.window),
            status: if hammer + premium == 0 {
                SettlementStatus::Paid
            } else {
                SettlementStatus::Pending
            },
        });
    }

    /// Due transitions at `now` (SPEC §9), each at the moment it was due.
    fn advance(&mut self, now: Timestamp) -> Vec<(&'static str, Timestamp)> {
        let mut events = Vec::new();
        loop {
            if self.status == MStatus::Scheduled && self.starts_at <= now {
                self.status = MStatus::Open;
                events.push(("LotOpened", self.starts_at));
            } else if self.status == MStatus::Open && self.ends_at <= now {
                let at = self.ends_at;
                events.push(("AuctionEnded", at));
                match (self.leader(), self.price) {
                    (Some((who, _)), Some(price)) if self.reserve_met() => {
                        self.sell(who.id(), price, "time", at);
                        events.push(("SettlementCreated", at));
                    }
                    (leader, _) => {
                        self.status = MStatus::Closed;
                        self.outcome = Some(MOutcome {
                            sold: None,
                            reason: Some(if leader.is_some() {
                                UnsoldReason::ReserveNotMet
                            } else {
                                UnsoldReason::NoBids
                            }),
                            ended_by: "time",
                            ended_at: at,
                        });
                    }
                }
            } else if let Some(s) = self
                .settlement
                .as_mut()
                .filter(|s| s.status == SettlementStatus::Pending && s.due_by <= now)
            {
                s.status = SettlementStatus::Defaulted;
                events.push(("SettlementDefaulted", s.due_by));
            } else {
                return events;
            }
        }
    }

    /// SPEC §2.1–§2.3.
    fn bid(
        &mut self,
        who: Who,
        amount: Decimal,
        currency: Option<CurrencyCode>,
        now: Timestamp,
    ) -> Expect {
        if !who.roles().contains(Roles::BIDDER) {
            return Err(("forbidden", None));
        }
        if who == Who::Seller {
            return Err(("seller_cannot_bid", None));
        }
        if matches!(self.status, MStatus::Closed | MStatus::Cancelled) || now >= self.ends_at {
            return Err(("lot_closed", None));
        }
        if self.status == MStatus::Scheduled || now < self.starts_at {
            return Err(("lot_not_open", None));
        }
        if currency.is_some_and(|c| c.as_str() != self.code) {
            return Err(("currency_mismatch", None));
        }
        let Some(m) = money_units(amount, self.d).filter(|m| *m > 0) else {
            return Err(("invalid_amount", None));
        };
        let min = self.min_bid(who);
        if m < min {
            return Err(("bid_too_low", Some(min)));
        }

        // §2.2, with the leader before the bid recomputed from the list.
        let before = self.leader();
        let (mut price, outbid) = match before {
            None => (self.start, false),
            Some((l, _)) if l == who => (self.price.expect("a leader has a price"), false),
            Some((_, ml)) if m > ml => (m.min(ml + self.inc(ml)), true),
            Some((_, ml)) => (ml.min(m + self.inc(m)), true),
        };
        self.bids.push((who, m));
        let (_, leader_max) = self.leader().expect("a bid was just accepted");
        if let Some(r) = self.reserve
            && leader_max >= r
            && price < r
        {
            price = r;
        }
        if let Some(old) = self.price {
            assert!(price >= old, "model: price fell from {old} to {price}");
        }
        self.price = Some(price);

        let mut events = vec![("BidAccepted", now)];
        if outbid {
            events.push(("Outbid", now));
        }
        // §2.3: a bid with less than `window` left moves the end to at
        // least `extension` after the bid.
        if let Some((window, extension)) = self.soft {
            let left = self.ends_at.signed_duration_since(now).num_seconds();
            let new_end = self.ends_at.max(plus(now, extension));
            if left < window && new_end != self.ends_at {
                self.ends_at = new_end;
                events.push(("LotExtended", now));
            }
        }
        Ok(events)
    }

    /// SPEC §2.4.
    fn buy_now(&mut self, who: Who, now: Timestamp) -> Expect {
        if !who.roles().contains(Roles::BIDDER) {
            return Err(("forbidden", None));
        }
        if who == Who::Seller {
            return Err(("seller_cannot_bid", None));
        }
        if matches!(self.status, MStatus::Closed | MStatus::Cancelled) || now >= self.ends_at {
            return Err(("lot_closed", None));
        }
        if self.status == MStatus::Scheduled {
            return Err(("lot_not_open", None));
        }
        if !self.buy_now_available() {
            return Err(("buy_now_unavailable", None));
        }
        let price = self.buy_now.expect("available");
        self.sell(who.id(), price, "buy_now", now);
        Ok(vec![("AuctionEnded", now), ("SettlementCreated", now)])
    }

    /// SPEC §2.4, §9.
    fn cancel(&mut self, who: Who, now: Timestamp) -> Expect {
        let admin = who.roles().contains(Roles::ADMIN);
        if !admin && who != Who::Seller {
            return Err(("forbidden", None));
        }
        if matches!(self.status, MStatus::Closed | MStatus::Cancelled) {
            return Err(("cancel_not_allowed", None));
        }
        if !admin && !self.bids.is_empty() {
            return Err(("cancel_not_allowed", None));
        }
        self.status = MStatus::Cancelled;
        Ok(vec![("LotCancelled", now)])
    }

    /// SPEC §4.
    fn pay(&mut self, who: Who, now: Timestamp) -> Expect {
        let Some(s) = self.settlement.as_mut() else {
            return Err(("settlement_not_found", None));
        };
        if !who.roles().contains(Roles::ADMIN) && who.id() != s.buyer {
            return Err(("forbidden", None));
        }
        match s.status {
            SettlementStatus::Pending => {
                s.status = SettlementStatus::Paid;
                Ok(vec![("SettlementPaid", now)])
            }
            SettlementStatus::Paid => Err(("already_paid", None)),
            SettlementStatus::Defaulted => Err(("settlement_defaulted", None)),
        }
    }
}

// ------------------------------------------------------------- creation ----

/// Builds the creation command and, if the model finds it valid, the model.
fn build(setup: &Setup) -> (CreateLot, Option<Model>) {
    let now = ts(T0);
    let currency = cur(setup.currency);
    let d = currency.minor_units();
    let mut valid = true;

    let start_dec = match &setup.start {
        PriceGen::Minor(n) => dec(i128::from(*n), d),
        PriceGen::Small(n) => dec(i128::from(*n), d),
        PriceGen::Big(n) => dec(i128::from(*n) * 1000, d),
        PriceGen::Garbage(a) => amt(a, d),
    };
    let start = money_units(start_dec, d).filter(|s| *s > 0);
    valid &= start.is_some();
    let base = start.unwrap_or(1);

    let opt_price = |g: &OptPrice, floor: i128| -> Option<Decimal> {
        match g {
            OptPrice::None | OptPrice::None2 => None,
            OptPrice::Above(n) => Some(dec(floor + i128::from(*n), d)),
            OptPrice::AboveBig(n) => Some(dec(floor + i128::from(*n) * 100, d)),
            OptPrice::Garbage(a) => Some(amt(a, d)),
        }
    };
    let reserve_dec = opt_price(&setup.reserve, base);
    let reserve = reserve_dec.map(|r| money_units(r, d));
    // reserve ≥ starting price
    if let Some(r) = reserve {
        valid &= r.is_some_and(|r| r >= base);
    }
    let reserve = reserve.flatten();
    let buy_floor = reserve.unwrap_or(base).max(base + 1);
    let buy_dec = opt_price(&setup.buy_now, buy_floor);
    let buy_now = buy_dec.map(|b| money_units(b, d));
    // buy now > starting price and ≥ reserve
    if let Some(b) = buy_now {
        valid &= b.is_some_and(|b| b > base && reserve.is_none_or(|r| b >= r));
    }
    let buy_now = buy_now.flatten();

    let (increments, tiers) = match &setup.increments {
        Increments::Default | Increments::Default2 => (None, default_table(d)),
        Increments::Custom { tiers, first_from } => {
            let mut from = i128::from(first_from.unwrap_or(0));
            let mut out = Vec::new();
            for (i, (gap, step)) in tiers.iter().enumerate() {
                if i > 0 {
                    from += i128::from(*gap);
                }
                out.push((from, i128::from(*step)));
            }
            let input = out
                .iter()
                .map(|&(f, s)| TierInput {
                    from: dec(f, d),
                    step: dec(s, d),
                })
                .collect::<Vec<_>>();
            (Some(input), out)
        }
        Increments::Garbage { tiers } => {
            let input = tiers
                .iter()
                .map(|(f, s)| TierInput {
                    from: amt(f, d),
                    step: amt(s, d),
                })
                .collect::<Vec<_>>();
            let out = input
                .iter()
                .map(|t| {
                    (
                        money_units(t.from, d).unwrap_or(-1),
                        money_units(t.step, d).unwrap_or(-1),
                    )
                })
                .collect();
            (Some(input), out)
        }
    };
    if increments.is_some() {
        // 1–50 tiers, first from 0, from strictly increasing, every step > 0
        // and valid money.
        valid &= (1..=50).contains(&tiers.len())
            && tiers[0].0 == 0
            && tiers.windows(2).all(|w| w[0].0 < w[1].0)
            && tiers.iter().all(|&(f, s)| f >= 0 && s > 0);
    }

    let soft_close = match setup.soft_close {
        SoftGen::None => None,
        SoftGen::Typical { window, extension } => Some(SoftCloseInput {
            window_secs: i64::from(window),
            extension_secs: i64::from(extension),
        }),
        SoftGen::Short { window, extension } => Some(SoftCloseInput {
            window_secs: i64::from(window),
            extension_secs: i64::from(extension),
        }),
        SoftGen::Raw { window, extension } => Some(SoftCloseInput {
            window_secs: window,
            extension_secs: extension,
        }),
    };
    if let Some(sc) = soft_close {
        valid &= (1..=MAX_WINDOW).contains(&sc.window_secs)
            && (1..=MAX_WINDOW).contains(&sc.extension_secs);
    }

    let (rate, rate_m, rate_s) = match setup.rate {
        RateGen::None => (None, 0, 0),
        RateGen::Basis(n) => (Some(Decimal::new(i64::from(n), 4)), i128::from(n), 4),
        RateGen::Raw {
            mantissa,
            scale,
            negative,
        } => {
            let scale = u32::from(scale % 29);
            let mut r = Decimal::from_i128_with_scale(i128::from(mantissa), scale);
            r.set_sign_negative(negative);
            let m = if negative {
                -i128::from(mantissa)
            } else {
                i128::from(mantissa)
            };
            (Some(r), m, scale)
        }
    };
    // Strip trailing zeros: the rate's own number of decimals.
    let (mut rate_m, mut rate_s) = (rate_m, rate_s);
    while rate_s > 0 && rate_m % 10 == 0 {
        rate_m /= 10;
        rate_s -= 1;
    }
    // 0 ≤ rate < 1, at most 10 decimals (the engine's documented precision).
    valid &= rate_m >= 0 && rate_m < 10_i128.pow(rate_s) && rate_s <= 10;

    let window = setup.payment_window.unwrap_or(72 * 3600);
    valid &= (1..=MAX_WINDOW).contains(&window);

    let starts_req = match setup.starts {
        StartGen::Now | StartGen::Now2 => None,
        StartGen::Offset(s) => Some(plus(now, i64::from(s))),
    };
    let starts_at = starts_req.unwrap_or(now).max(now);
    let req = starts_req.unwrap_or(now);
    let ends_at = match setup.ends {
        EndGen::Minutes(m) => plus(req, i64::from(m) * 60),
        EndGen::Minutes2(m) => plus(req, i64::from(m) * 60),
        EndGen::Hours(h) => plus(req, i64::from(h) * 3600),
        EndGen::Raw(s) => plus(req, i64::from(s)),
        EndGen::Absolute(s) => plus(now, s),
    };
    valid &= ends_at > starts_at;
    // Times are RFC 3339 (SPEC §1): four-digit years at most.
    let latest = plus(ts(253_402_300_799), 1) - Duration::nanoseconds(1);
    valid &= starts_req.is_none_or(|s| s <= latest) && ends_at <= latest;

    let seller = Who::Seller.actor();
    let mut cmd = CreateLot::english(
        LotId::new("lot-1").expect("id"),
        seller,
        "Fuzzed lot",
        currency,
        start_dec,
        ends_at,
    );
    cmd.reserve_price = reserve_dec;
    cmd.buy_now_price = buy_dec;
    cmd.increments = increments;
    cmd.soft_close = soft_close;
    cmd.buyer_premium_rate = rate;
    cmd.payment_window_secs = setup.payment_window;
    cmd.starts_at = starts_req;

    let model = valid.then(|| Model {
        d,
        code: currency.code(),
        start: base,
        reserve,
        buy_now,
        tiers,
        soft: soft_close.map(|s| (s.window_secs, s.extension_secs)),
        rate_m,
        rate_s,
        window,
        starts_at,
        ends_at,
        status: MStatus::Scheduled,
        bids: Vec::new(),
        price: None,
        settlement: None,
        outcome: None,
    });
    (cmd, model)
}

// ---------------------------------------------------------------- checks ----

fn check_lot(model: &Model, lot: &hammerfall_ports::Lot, ctx: &str) {
    let d = model.d;
    let status = match lot.status {
        LotStatus::Scheduled => MStatus::Scheduled,
        LotStatus::Open => MStatus::Open,
        LotStatus::Closed => MStatus::Closed,
        LotStatus::Cancelled => MStatus::Cancelled,
        LotStatus::Reserved => panic!("{ctx}: an english lot is reserved"),
    };
    assert_eq!(status, model.status, "{ctx}: status");
    assert_eq!(lot.ends_at, Some(model.ends_at), "{ctx}: ends_at");
    let (_, state) = lot.english().expect("english lot");
    assert_eq!(
        state.bid_count as usize,
        model.bids.len(),
        "{ctx}: bid_count"
    );
    let leader = state
        .leader
        .as_ref()
        .map(|l| (l.bidder_id.as_str().to_owned(), units(l.maximum, d)));
    let expected = model.leader().map(|(w, m)| (w.id().to_owned(), m));
    assert_eq!(leader, expected, "{ctx}: leader (bids {:?})", model.bids);
    assert_eq!(
        state.current_price.map(|p| units(p, d)),
        model.price,
        "{ctx}: current price (bids {:?})",
        model.bids
    );
    assert_eq!(lot.reserve_met(), model.reserve_met(), "{ctx}: reserve_met");
    assert_eq!(
        lot.min_next_bid().map(|p| units(p, d)),
        Some(model.min_next_bid()),
        "{ctx}: min_next_bid"
    );
    assert_eq!(
        lot.buy_now_available(),
        model.buy_now_available(),
        "{ctx}: buy_now_available"
    );

    let outcome = lot.outcome.as_ref().map(|o| MOutcome {
        sold: match &o.result {
            SaleResult::Sold {
                winner_id,
                hammer_price,
            } => Some((
                [
                    Who::Ann,
                    Who::Bob,
                    Who::Cat,
                    Who::Seller,
                    Who::Admin,
                    Who::Stranger,
                ]
                .into_iter()
                .map(Who::id)
                .find(|id| *id == winner_id.as_str())
                .expect("known winner"),
                units(*hammer_price, d),
            )),
            SaleResult::Unsold { .. } => None,
        },
        reason: match &o.result {
            SaleResult::Unsold { reason } => Some(*reason),
            SaleResult::Sold { .. } => None,
        },
        ended_by: o.ended_by.as_str(),
        ended_at: o.ended_at,
    });
    assert_eq!(outcome, model.outcome, "{ctx}: outcome");

    let settlement = lot.settlement.as_ref().map(|s| MSettlement {
        buyer: model.settlement.as_ref().map_or("?", |m| {
            if m.buyer == s.buyer_id.as_str() {
                m.buyer
            } else {
                "?"
            }
        }),
        hammer: units(s.hammer_price, d),
        premium: units(s.buyer_premium, d),
        total: units(s.total_due, d),
        due_by: s.due_by,
        status: s.status,
    });
    assert_eq!(settlement, model.settlement, "{ctx}: settlement");
}

/// Payload checks of a step's events against the model after the step.
fn check_events(model: &Model, events: &[SequencedEvent], ctx: &str) {
    let d = model.d;
    for e in events {
        match &e.event {
            Event::BidAccepted(b) => {
                assert_eq!(
                    b.bid_count as usize,
                    model.bids.len(),
                    "{ctx}: BidAccepted.bidCount"
                );
                assert_eq!(b.bid_number, b.bid_count, "{ctx}: bidNumber");
                let (who, max) = *model.bids.last().expect("a bid");
                assert_eq!(
                    b.bidder_id.as_str(),
                    who.id(),
                    "{ctx}: BidAccepted.bidderId"
                );
                assert_eq!(units(b.maximum, d), max, "{ctx}: BidAccepted.maximum");
                assert_eq!(
                    Some(units(b.current_price, d)),
                    model.price,
                    "{ctx}: BidAccepted.currentPrice"
                );
                let leader = model.leader().expect("leader").0;
                assert_eq!(
                    b.leader_id.as_str(),
                    leader.id(),
                    "{ctx}: BidAccepted.leaderId"
                );
            }
            Event::Outbid {
                bidder_id,
                current_price,
            } => {
                assert_eq!(
                    Some(units(*current_price, d)),
                    model.price,
                    "{ctx}: Outbid.currentPrice"
                );
                let leader = model.leader().expect("leader").0;
                assert_ne!(
                    bidder_id.as_str(),
                    leader.id(),
                    "{ctx}: the leader is outbid"
                );
                assert!(
                    model.bids.iter().any(|(w, _)| w.id() == bidder_id.as_str()),
                    "{ctx}: Outbid for someone who never bid"
                );
            }
            Event::LotExtended { ends_at } => {
                assert_eq!(*ends_at, model.ends_at, "{ctx}: LotExtended.endsAt");
            }
            Event::AuctionEnded(a) => {
                let o = model.outcome.as_ref().expect("model closed");
                assert_eq!(a.total_bids as usize, model.bids.len(), "{ctx}: totalBids");
                assert_eq!(
                    a.winning_bid.map(|w| units(w, d)),
                    o.sold.map(|(_, h)| h),
                    "{ctx}: winningBid is the hammer price"
                );
            }
            _ => {}
        }
    }
}

// ------------------------------------------------------------------ run ----

fuzz_target!(|input: Input| {
    let (create_cmd, model) = build(&input.setup);
    let t0 = ts(T0);
    let created = create(&create_cmd, t0);
    let mut model = match (created.as_ref(), model) {
        (Err(_), None) => return,
        (Err(e), Some(m)) => {
            panic!("engine refused a valid lot: {e:?}\n{create_cmd:?}\nmodel {m:?}")
        }
        (Ok(_), None) => panic!("engine accepted an invalid lot: {create_cmd:?}"),
        (Ok(_), Some(m)) => m,
    };
    let created = created.expect("checked");

    // LotCreated, then LotOpened if it starts at once.
    let mut expected_types = vec!["LotCreated"];
    if model.starts_at <= t0 {
        expected_types.push("LotOpened");
        model.status = MStatus::Open;
    }
    let types: Vec<_> = created.iter().map(|e| e.event.event_type()).collect();
    assert_eq!(types, expected_types, "creation events");
    let lot_id = LotId::new("lot-1").expect("id");
    let mut lot = create_from(lot_id.clone(), &created[0]).expect("LotCreated folds");
    for e in &created[1..] {
        apply(&mut lot, e).expect("creation events fold");
    }
    let mut log: Vec<SequencedEvent> = created.into_iter().collect();
    {
        let (terms, _) = lot.english().expect("english");
        let d = model.d;
        assert_eq!(
            units(terms.starting_price, d),
            model.start,
            "starting price"
        );
        assert_eq!(
            terms.reserve_price.map(|r| units(r, d)),
            model.reserve,
            "reserve"
        );
        assert_eq!(
            terms.buy_now_price.map(|b| units(b, d)),
            model.buy_now,
            "buy now"
        );
        let tiers: Vec<_> = terms
            .increments
            .tiers()
            .iter()
            .map(|t| (units(t.from, d), units(t.step, d)))
            .collect();
        assert_eq!(tiers, model.tiers, "increment table");
        assert_eq!(lot.terms.starts_at, model.starts_at, "starts_at");
    }
    check_lot(&model, &lot, "after creation");

    let mut now = t0;
    let mut last_price: Option<Money> = None;
    for (i, step) in input.steps.iter().take(MAX_COMMANDS).enumerate() {
        now = match step.when {
            When::Same => now,
            When::Secs(s) => plus(now, i64::from(s)),
            When::Minutes(m) => plus(now, i64::from(m) * 60),
            When::BeforeEnd(k) => now.max(plus(model.ends_at, -i64::from(k))),
            When::AfterEnd(k) => now.max(plus(model.ends_at, i64::from(k))),
            When::Days(n) => plus(now, i64::from(n) * 86_400),
        };
        let d = model.d;

        let command = match &step.cmd {
            Cmd::Bid {
                who,
                amount,
                currency,
            } => Some((who.who(), amount, Some(currency))),
            Cmd::Bid2 { who, amount } | Cmd::Bid3 { who, amount } => {
                Some((who.who(), amount, None))
            }
            _ => None,
        }
        .map(|(who, amount, currency)| {
            let min = model.min_bid(who);
            let amount = match amount {
                BidAmt::AtMinPlus(n) => dec(min + i128::from(*n), d),
                BidAmt::AtMinPlus2(n) => dec(min + i128::from(*n), d),
                BidAmt::Around(n) => dec(min + i128::from(*n), d),
                BidAmt::Jump(n) => dec(min + i128::from(*n) * 37, d),
                BidAmt::Abs(a) => amt(a, d),
            };
            let code = match currency {
                None | Some(BidCur::None | BidCur::None2) => None,
                Some(BidCur::Lot) => Some(CurrencyCode::from(cur_of(model.code))),
                Some(BidCur::Other(c)) => Some(CurrencyCode::from(cur(*c))),
                Some(BidCur::Raw(b)) => CurrencyCode::new(&String::from_utf8_lossy(b)).ok(),
            };
            (
                who,
                amount,
                code,
                Command::PlaceBid(PlaceBid {
                    bidder: who.actor(),
                    amount,
                    currency: code,
                    bid_id: BidId::new(format!("b{i}")).expect("id"),
                }),
            )
        });
        let cmd = match (&step.cmd, &command) {
            (_, Some((.., c))) => c.clone(),
            (Cmd::BuyNow(w), _) => Command::BuyNow { buyer: w.actor() },
            (Cmd::Cancel(w), _) => Command::CancelLot { by: w.actor() },
            (Cmd::Advance, _) => Command::Advance,
            (Cmd::Pay(w), _) => Command::RecordPayment { by: w.actor() },
            (
                Cmd::Reservation {
                    who,
                    complete: false,
                },
                _,
            ) => Command::Reserve {
                buyer: who.actor(),
                reservation_id: ReservationId::new("r1").expect("id"),
            },
            (
                Cmd::Reservation {
                    who,
                    complete: true,
                },
                _,
            ) => Command::CompleteReservation {
                by: who.actor(),
                reservation_id: ReservationId::new("r1").expect("id"),
            },
            (Cmd::Bid { .. } | Cmd::Bid2 { .. } | Cmd::Bid3 { .. }, None) => unreachable!(),
        };
        let ctx = format!("step {i} at {now}: {cmd:?}");

        // The model: due transitions first, then the command.
        let mut expected = model.advance(now);
        let outcome: Expect = match (&step.cmd, command) {
            (_, Some((who, amount, code, _))) => model.bid(who, amount, code, now),
            (Cmd::BuyNow(w), _) => model.buy_now(*w, now),
            (Cmd::Cancel(w), _) => model.cancel(*w, now),
            (Cmd::Advance, _) => Ok(Vec::new()),
            (Cmd::Pay(w), _) => model.pay(*w, now),
            (
                Cmd::Reservation {
                    who,
                    complete: false,
                },
                _,
            ) => {
                if who.roles().contains(Roles::BIDDER) {
                    Err(("reservation_not_supported", None))
                } else {
                    Err(("forbidden", None))
                }
            }
            (Cmd::Reservation { complete: true, .. }, _) => Err(("reservation_not_found", None)),
            (Cmd::Bid { .. } | Cmd::Bid2 { .. } | Cmd::Bid3 { .. }, None) => unreachable!(),
        };

        // The engine.
        let verdict = judge(&lot, &cmd, now);
        if matches!(cmd, Command::Advance) {
            assert_eq!(
                advance(&lot, now),
                verdict.events,
                "{ctx}: advance() and judge(Advance) differ"
            );
        }
        match (&verdict.outcome, &outcome) {
            (Ok(()), Ok(events)) => expected.extend(events.iter().copied()),
            (Err(r), Err((code, min))) => {
                assert_eq!(r.code(), *code, "{ctx}: rejection (model {model:?})");
                if let Rejection::BidTooLow { min_bid } = r {
                    assert_eq!(Some(units(*min_bid, d)), *min, "{ctx}: minBid");
                }
            }
            (got, want) => panic!("{ctx}: engine {got:?}, model {want:?}\nmodel {model:#?}"),
        }
        let got: Vec<_> = verdict
            .events
            .iter()
            .map(|e| (e.event.event_type(), e.occurred_at))
            .collect();
        assert_eq!(
            got, expected,
            "{ctx}: events (outcome {:?})",
            verdict.outcome
        );

        // Commit: sequences continue without gaps; no bid at or after the end.
        for e in &verdict.events {
            assert_eq!(e.sequence, lot.sequence + 1, "{ctx}: sequence gap");
            if matches!(e.event, Event::BidAccepted(_)) {
                let end = lot.ends_at.expect("english lots end");
                assert!(
                    e.occurred_at < end,
                    "{ctx}: BidAccepted at {} with ends_at {end}",
                    e.occurred_at
                );
                assert_eq!(
                    lot.status,
                    LotStatus::Open,
                    "{ctx}: bid on a lot that is not open"
                );
            }
            if let Err(err) = apply(&mut lot, e) {
                panic!("{ctx}: {e:?} does not fold: {err}");
            }
        }
        check_events(&model, &verdict.events, &ctx);
        check_lot(&model, &lot, &ctx);

        // The price never decreases while the lot is open.
        let (_, state) = lot.english().expect("english");
        if lot.status == LotStatus::Open {
            if let (Some(before), Some(after)) = (last_price, state.current_price) {
                assert!(
                    after >= before,
                    "{ctx}: price fell from {before} to {after}"
                );
            }
            last_price = state.current_price;
        }
        log.extend(verdict.events);
    }

    // Gapless log, and replaying it rebuilds the lot exactly.
    for (i, e) in log.iter().enumerate() {
        assert_eq!(e.sequence, i as u64 + 1, "log sequence");
    }
    assert_eq!(
        lot.sequence,
        log.len() as u64,
        "lot sequence is its last event's"
    );
    let rebuilt = replay(lot_id, &log).expect("the log replays");
    assert_eq!(rebuilt, lot, "replay(events) differs from the folded lot");
});

fn cur_of(code: &str) -> Currency {
    code.parse().expect("the lot's currency")
}
