//! Currencies and exact decimal money (SPEC §1). Never floats.

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// The largest amount accepted anywhere: 1,000,000,000,000 currency units.
pub const MAX_AMOUNT: Decimal = Decimal::from_parts(3_567_587_328, 232, 0, false, 0);
const MAX_WHOLE_UNITS: i64 = 1_000_000_000_000;

/// [`MAX_AMOUNT`] in minor units of a currency with `units` minor units.
#[inline]
const fn max_minor(units: u32) -> i64 {
    match units {
        0 => MAX_WHOLE_UNITS,
        1 => MAX_WHOLE_UNITS * 10,
        2 => MAX_WHOLE_UNITS * 100,
        3 => MAX_WHOLE_UNITS * 1_000,
        _ => MAX_WHOLE_UNITS * 10_i64.pow(units),
    }
}

/// Why a currency code was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CurrencyError {
    /// Not three upper-case ASCII letters. Hosts answer 422 `invalid_request`.
    #[error("a currency code is three upper-case letters")]
    Malformed,
    /// Well-formed but not a currency Hammerfall supports. Hosts answer 422 `invalid_request`.
    #[error("unsupported currency {0}")]
    Unknown(String),
}

/// A three-letter code as written by a client, checked for form only. A bid's
/// optional `currency` is one: an unknown code is simply not the lot's
/// currency (`currency_mismatch`), not a malformed request.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CurrencyCode([u8; 3]);

impl CurrencyCode {
    /// Accepts exactly three upper-case ASCII letters.
    pub fn new(s: &str) -> Result<Self, CurrencyError> {
        let b = s.as_bytes();
        if b.len() != 3 || !b.iter().all(u8::is_ascii_uppercase) {
            return Err(CurrencyError::Malformed);
        }
        Ok(Self([b[0], b[1], b[2]]))
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        // Constructed only from ASCII upper-case letters.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }
}

impl TryFrom<String> for CurrencyCode {
    type Error = CurrencyError;
    fn try_from(s: String) -> Result<Self, CurrencyError> {
        Self::new(&s)
    }
}
impl From<CurrencyCode> for String {
    fn from(c: CurrencyCode) -> String {
        c.as_str().to_owned()
    }
}
impl fmt::Debug for CurrencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
impl From<Currency> for CurrencyCode {
    fn from(c: Currency) -> Self {
        let b = c.code().as_bytes();
        Self([b[0], b[1], b[2]])
    }
}

macro_rules! currencies {
    ($($code:ident = $units:literal, $name:literal;)*) => {
        /// An ISO-4217 currency Hammerfall supports, with its minor units.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub enum Currency {
            $(#[doc = $name] $code,)*
        }

        impl Currency {
            /// Every supported currency.
            pub const ALL: &'static [Currency] = &[$(Currency::$code,)*];

            /// Digits after the decimal point (USD 2, JPY 0, BHD 3).
            #[inline]
    pub const fn minor_units(self) -> u32 {
                match self { $(Currency::$code => $units,)* }
            }

            /// The ISO-4217 code.
            pub const fn code(self) -> &'static str {
                match self { $(Currency::$code => stringify!($code),)* }
            }
        }

        impl FromStr for Currency {
            type Err = CurrencyError;
            fn from_str(s: &str) -> Result<Self, CurrencyError> {
                CurrencyCode::new(s)?;
                match s {
                    $(stringify!($code) => Ok(Currency::$code),)*
                    other => Err(CurrencyError::Unknown(other.to_owned())),
                }
            }
        }
    };
}

currencies! {
    AUD = 2, "Australian dollar";
    BHD = 3, "Bahraini dinar";
    CAD = 2, "Canadian dollar";
    CHF = 2, "Swiss franc";
    CNY = 2, "Chinese yuan";
    CZK = 2, "Czech koruna";
    DKK = 2, "Danish krone";
    EUR = 2, "Euro";
    GBP = 2, "Pound sterling";
    HKD = 2, "Hong Kong dollar";
    INR = 2, "Indian rupee";
    JOD = 3, "Jordanian dinar";
    JPY = 0, "Japanese yen";
    KRW = 0, "South Korean won";
    KWD = 3, "Kuwaiti dinar";
    MXN = 2, "Mexican peso";
    NOK = 2, "Norwegian krone";
    NZD = 2, "New Zealand dollar";
    OMR = 3, "Omani rial";
    PLN = 2, "Polish zloty";
    SEK = 2, "Swedish krona";
    SGD = 2, "Singapore dollar";
    USD = 2, "US dollar";
    ZAR = 2, "South African rand";
}

impl TryFrom<String> for Currency {
    type Error = CurrencyError;
    fn try_from(s: String) -> Result<Self, CurrencyError> {
        s.parse()
    }
}
impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.code().to_owned()
    }
}
impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Why an amount is not valid money in a currency.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// The text is not a decimal number. Hosts answer 400 `invalid_request`.
    #[error("not a decimal number")]
    NotANumber,
    /// Below zero. Bids answer 422 `invalid_amount`; lot parameters 422 `invalid_request`.
    #[error("amount is negative")]
    Negative,
    /// A non-zero digit beyond the currency's minor units ("10.505" USD).
    #[error("{currency} amounts have at most {minor_units} decimal places")]
    TooPrecise {
        /// The currency the amount was checked against.
        currency: Currency,
        /// Its minor units.
        minor_units: u32,
    },
    /// Above [`MAX_AMOUNT`].
    #[error("amount is above 1000000000000")]
    TooLarge,
}

/// A non-negative amount of money, exact: a whole number of the currency's
/// minor units (cents for USD, yen for JPY, fils for BHD).
///
/// Money is decimal, never float: it is built from and converted to
/// [`rust_decimal::Decimal`] at every boundary ([`Money::new`],
/// [`Money::amount`], serde, rates), and it prints with exactly the
/// currency's minor units (`"12.50"` USD, `"1500"` JPY). Inside, the count
/// of minor units is an `i64` (1,000,000,000,000 with 3 minor units is far
/// below its range), so the bid hot path compares and adds integers.
///
/// The currency itself is not stored: a lot has one currency and every
/// amount on it is in that currency, so `Money` stays small and `Copy`.
///
/// Packed to 4-byte alignment (12 bytes, not 16): events carry several
/// amounts, and a bid's event then fits the 128 bytes a compiler copies
/// inline.
#[derive(Clone, Copy)]
#[repr(C, packed(4))]
pub struct Money {
    minor: i64,
    scale: u8,
}

// Equality and order by value; amounts of one lot share a scale, so the
// fast path is one integer comparison.
impl PartialEq for Money {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}
impl Eq for Money {}
impl PartialOrd for Money {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Money {
    #[inline]
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        if self.scale == other.scale {
            let (a, b) = (self.minor, other.minor);
            a.cmp(&b)
        } else {
            self.cmp_rescaled(*other)
        }
    }
}

impl Money {
    /// Validates `amount` in `currency`: not negative, no non-zero digit beyond
    /// the minor units, at most [`MAX_AMOUNT`].
    #[inline]
    pub fn new(amount: Decimal, currency: Currency) -> Result<Self, MoneyError> {
        let units = currency.minor_units();
        // Fast path: already at the currency's scale (what a client sends, and
        // every amount this crate writes): the mantissa is the count of minor
        // units, so validation is two integer comparisons.
        if amount.scale() == units
            && let Ok(minor) = i64::try_from(amount.mantissa())
            && (0..=max_minor(units)).contains(&minor)
        {
            return Ok(Self::from_parts(minor, units));
        }
        Self::new_rescaled(amount, currency)
    }

    /// [`Money::new`] for an amount not at the currency's scale, or out of range.
    #[cold]
    #[inline(never)]
    fn new_rescaled(amount: Decimal, currency: Currency) -> Result<Self, MoneyError> {
        if amount.is_sign_negative() && !amount.is_zero() {
            return Err(MoneyError::Negative);
        }
        let units = currency.minor_units();
        let mut exact = amount;
        if exact.scale() > units {
            exact = exact.normalize();
            if exact.scale() > units {
                return Err(MoneyError::TooPrecise {
                    currency,
                    minor_units: units,
                });
            }
        }
        if exact.scale() != units {
            exact.rescale(units);
        }
        // Compare in minor units: cheaper than a `Decimal` comparison.
        let minor = i64::try_from(exact.mantissa()).map_err(|_| MoneyError::TooLarge)?;
        if minor > max_minor(units) {
            return Err(MoneyError::TooLarge);
        }
        Ok(Self::from_parts(minor, units))
    }

    /// `Ord` for amounts of different scales (never two amounts of one lot).
    #[cold]
    #[inline(never)]
    fn cmp_rescaled(self, other: Money) -> std::cmp::Ordering {
        self.amount().cmp(&other.amount())
    }

    #[inline]
    #[expect(clippy::cast_possible_truncation, reason = "scales are at most 28")]
    const fn from_parts(minor: i64, scale: u32) -> Self {
        // Scales come from `Currency::minor_units` (0–3) or a parsed
        // `Decimal` (≤ 28): both fit a u8.
        Self {
            minor,
            scale: scale as u8,
        }
    }

    /// Parses decimal text exactly (never through `f64`) and validates it.
    pub fn parse(text: &str, currency: Currency) -> Result<Self, MoneyError> {
        Self::new(parse_decimal(text)?, currency)
    }

    /// Zero in `currency` (free items, no premium).
    pub fn zero(currency: Currency) -> Self {
        Self::from_parts(0, currency.minor_units())
    }

    /// The smallest positive amount of `currency` (0.01 USD, 1 JPY).
    #[inline]
    pub fn smallest_unit(currency: Currency) -> Self {
        Self::from_parts(1, currency.minor_units())
    }

    /// `minor` minor units of `currency` (e.g. 1250 cents = 12.50 USD).
    /// Negative counts are clamped to zero.
    pub fn from_minor(minor: i64, currency: Currency) -> Self {
        Self::from_parts(minor.max(0), currency.minor_units())
    }

    /// The exact decimal amount.
    #[inline]
    pub fn amount(self) -> Decimal {
        Decimal::new(self.minor, u32::from(self.scale))
    }

    /// The amount as a whole number of minor units.
    #[inline]
    pub const fn minor_units(self) -> i64 {
        self.minor
    }

    /// The number of decimal places `minor` counts in.
    #[inline]
    pub(crate) const fn scale(self) -> u8 {
        self.scale
    }

    /// True for zero.
    #[inline]
    pub fn is_zero(self) -> bool {
        self.minor == 0
    }

    /// The sum. Inputs are at most [`MAX_AMOUNT`], so sums of a few amounts
    /// stay far inside the range; a sum past it saturates rather than wraps.
    #[inline]
    #[must_use]
    pub fn plus(self, other: Money) -> Money {
        if self.scale == other.scale {
            return Money {
                minor: self.minor.saturating_add(other.minor),
                scale: self.scale,
            };
        }
        self.plus_rescaled(other)
    }

    /// [`Money::plus`] for amounts of different scales.
    #[cold]
    #[inline(never)]
    fn plus_rescaled(self, other: Money) -> Money {
        let sum = self.amount() + other.amount();
        i64::try_from(sum.mantissa()).map_or(self, |minor| Self::from_parts(minor, sum.scale()))
    }

    /// The difference, floored at zero (a ledger never goes negative).
    #[must_use]
    pub fn saturating_minus(self, other: Money) -> Money {
        if other >= self {
            Money {
                minor: 0,
                scale: self.scale,
            }
        } else if self.scale == other.scale {
            Money {
                minor: self.minor - other.minor,
                scale: self.scale,
            }
        } else {
            let diff = self.amount() - other.amount();
            i64::try_from(diff.mantissa())
                .map_or(self, |minor| Self::from_parts(minor, diff.scale()))
        }
    }

    /// `self × rate`, rounded half-even to the currency's minor units (SPEC §4).
    #[must_use]
    pub fn times_rate(self, rate: PremiumRate, currency: Currency) -> Money {
        let units = currency.minor_units();
        let mut product = (self.amount() * rate.0)
            .round_dp_with_strategy(units, RoundingStrategy::MidpointNearestEven);
        product.rescale(units);
        // The product of an amount and a rate below 1 is below the amount.
        i64::try_from(product.mantissa()).map_or(self, |minor| Self::from_parts(minor, units))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.amount(), f)
    }
}

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Money({})", self.amount())
    }
}

/// Stored and published as a decimal string with the currency's scale.
impl Serialize for Money {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.amount())
    }
}

/// Reads back what [`Serialize`] wrote. The scale written is kept, so an
/// amount reads back exactly as stored; validation against a currency is the
/// job of whoever takes untrusted input ([`Money::parse`]).
impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let value = parse_decimal(&text).map_err(serde::de::Error::custom)?;
        if value.is_sign_negative() && !value.is_zero() {
            return Err(serde::de::Error::custom("negative money"));
        }
        if value > MAX_AMOUNT * Decimal::TWO {
            return Err(serde::de::Error::custom("amount out of range"));
        }
        let minor = i64::try_from(value.mantissa()).map_err(serde::de::Error::custom)?;
        Ok(Money::from_parts(minor, value.scale()))
    }
}

/// Parses plain decimal text (`"12"`, `"12.50"`, `"-3"`, `"1e3"` is refused)
/// exactly. Used for every amount that crosses a boundary.
pub fn parse_decimal(text: &str) -> Result<Decimal, MoneyError> {
    let t = text.trim();
    let digits_ok = !t.is_empty()
        && t.bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-' || b == b'+')
        && t.bytes().any(|b| b.is_ascii_digit());
    if !digits_ok || t.len() > 64 {
        return Err(MoneyError::NotANumber);
    }
    Decimal::from_str_exact(t).map_err(|_| MoneyError::NotANumber)
}

/// A buyer's premium rate: 0 ≤ rate < 1 (SPEC §2), e.g. `0.15` for 15 %.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PremiumRate(Decimal);

/// Why a premium rate was refused. Hosts answer 422 `invalid_request`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("buyer premium rate must be at least 0 and below 1, with at most 10 decimals")]
pub struct PremiumRateError;

impl PremiumRate {
    /// No premium.
    pub const ZERO: PremiumRate = PremiumRate(Decimal::ZERO);

    /// Validates 0 ≤ rate < 1 with at most 10 decimal places.
    pub fn new(rate: Decimal) -> Result<Self, PremiumRateError> {
        let rate = rate.normalize();
        if rate.is_sign_negative() && !rate.is_zero() || rate >= Decimal::ONE || rate.scale() > 10 {
            return Err(PremiumRateError);
        }
        Ok(Self(rate))
    }

    /// The rate as a decimal fraction.
    pub const fn value(self) -> Decimal {
        self.0
    }
}

impl fmt::Debug for PremiumRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PremiumRate({})", self.0)
    }
}
impl fmt::Display for PremiumRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}
impl Serialize for PremiumRate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}
impl<'de> Deserialize<'de> for PremiumRate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let value = parse_decimal(&text).map_err(serde::de::Error::custom)?;
        PremiumRate::new(value).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(s: &str) -> Result<Money, MoneyError> {
        Money::parse(s, Currency::USD)
    }

    #[test]
    fn max_amount_is_one_trillion() {
        assert_eq!(MAX_AMOUNT, Decimal::from(1_000_000_000_000_i64));
    }

    #[test]
    fn amounts_keep_exactly_the_minor_units() {
        assert_eq!(usd("10.500").map(|m| m.to_string()), Ok("10.50".into()));
        assert_eq!(usd("10").map(|m| m.to_string()), Ok("10.00".into()));
        assert_eq!(
            usd("10.505"),
            Err(MoneyError::TooPrecise {
                currency: Currency::USD,
                minor_units: 2
            })
        );
        assert_eq!(
            Money::parse("1500", Currency::JPY).map(|m| m.to_string()),
            Ok("1500".into())
        );
        assert!(Money::parse("1500.5", Currency::JPY).is_err());
        assert_eq!(
            Money::parse("1.234", Currency::BHD).map(|m| m.to_string()),
            Ok("1.234".into())
        );
    }

    #[test]
    fn amounts_are_bounded_and_not_negative() {
        assert!(usd("1000000000000").is_ok());
        assert_eq!(usd("1000000000000.01"), Err(MoneyError::TooLarge));
        assert_eq!(usd("-1"), Err(MoneyError::Negative));
        assert_eq!(usd("abc"), Err(MoneyError::NotANumber));
        assert_eq!(usd("1e3"), Err(MoneyError::NotANumber));
        assert_eq!(usd(""), Err(MoneyError::NotANumber));
    }

    #[test]
    fn premium_rounds_half_even() {
        let rate = PremiumRate::new(Decimal::new(5, 2)).expect("rate");
        // 10.50 × 0.05 = 0.525 → 0.52 (half-even); 10.70 × 0.05 = 0.535 → 0.54
        assert_eq!(
            usd("10.50").map(|m| m.times_rate(rate, Currency::USD).to_string()),
            Ok("0.52".into())
        );
        assert_eq!(
            usd("10.70").map(|m| m.times_rate(rate, Currency::USD).to_string()),
            Ok("0.54".into())
        );
        assert!(PremiumRate::new(Decimal::ONE).is_err());
        assert!(PremiumRate::new(Decimal::new(-1, 2)).is_err());
    }

    #[test]
    fn currencies_parse_strictly() {
        assert_eq!("JPY".parse::<Currency>(), Ok(Currency::JPY));
        assert_eq!("usd".parse::<Currency>(), Err(CurrencyError::Malformed));
        assert_eq!(
            "XYZ".parse::<Currency>(),
            Err(CurrencyError::Unknown("XYZ".into()))
        );
        assert_eq!(
            CurrencyCode::new("XYZ").map(|c| c.as_str().to_owned()),
            Ok("XYZ".into())
        );
        assert!(CurrencyCode::new("XY").is_err());
    }

    #[test]
    fn money_round_trips_through_json_exactly() {
        let m = usd("12.50").expect("money");
        let json = serde_json::to_string(&m).expect("json");
        assert_eq!(json, "\"12.50\"");
        let back: Money = serde_json::from_str(&json).expect("back");
        assert_eq!(back.to_string(), "12.50");
    }
}
