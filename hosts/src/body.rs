//! Request bodies, read exactly. Amounts are taken from the JSON text of
//! the value (a string or a number) and parsed as decimals, never through
//! `f64` (SPEC §1). Malformed JSON is 400; a value of the wrong type or out
//! of range is 422 `invalid_request` naming the field (SPEC §9).

use crate::problem::Problem;
use hammerfall_ports::{AmountProblem, Decimal, Timestamp, parse_decimal};
use serde_json::value::RawValue;
use std::collections::HashMap;

/// Most fractional digits a `Decimal` holds; more is "too precise".
const MAX_DECIMAL_SCALE: usize = 28;

/// A request body: a JSON object whose values are kept as raw JSON text.
#[derive(Debug, Default)]
pub struct JsonObject {
    fields: HashMap<String, Box<RawValue>>,
}

/// Why a value is not an exact amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmountError {
    /// Not a number, nor a string holding a decimal number.
    NotNumeric,
    /// A number, but too large or too precise for any amount.
    Unrepresentable(AmountProblem),
}

impl JsonObject {
    /// Parses a body that must be a JSON object (400 otherwise).
    pub fn parse(bytes: &[u8]) -> Result<Self, Problem> {
        serde_json::from_slice::<HashMap<String, Box<RawValue>>>(bytes)
            .map(|fields| Self { fields })
            .map_err(|e| {
                if e.is_data() {
                    Problem::malformed("the body must be a JSON object")
                } else {
                    Problem::malformed(format!("the body is not valid JSON: {e}"))
                }
            })
    }

    /// Parses a body that may be empty (commands without a payload).
    pub fn parse_optional(bytes: &[u8]) -> Result<Self, Problem> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self::default());
        }
        Self::parse(bytes)
    }

    /// The raw value of `name`; JSON `null` counts as absent.
    pub fn raw(&self, name: &str) -> Option<&RawValue> {
        self.fields
            .get(name)
            .map(AsRef::as_ref)
            .filter(|raw| raw.get().trim() != "null")
    }

    /// A required field: 422 `invalid_request` when missing or null.
    pub fn required<T>(
        &self,
        name: &str,
        read: impl FnOnce(&Self, &str) -> Result<Option<T>, Problem>,
    ) -> Result<T, Problem> {
        read(self, name)?.ok_or_else(|| Problem::invalid(name, format!("{name} is required")))
    }

    /// A string field.
    pub fn string(&self, name: &str) -> Result<Option<String>, Problem> {
        self.raw(name)
            .map(|raw| {
                serde_json::from_str::<String>(raw.get())
                    .map_err(|_| Problem::invalid(name, format!("{name} must be a string")))
            })
            .transpose()
    }

    /// A boolean field.
    pub fn boolean(&self, name: &str) -> Result<Option<bool>, Problem> {
        self.raw(name)
            .map(|raw| {
                serde_json::from_str::<bool>(raw.get())
                    .map_err(|_| Problem::invalid(name, format!("{name} must be true or false")))
            })
            .transpose()
    }

    /// A whole-number field (durations in seconds).
    pub fn integer(&self, name: &str) -> Result<Option<i64>, Problem> {
        self.raw(name)
            .map(|raw| {
                serde_json::from_str::<i64>(raw.get())
                    .map_err(|_| Problem::invalid(name, format!("{name} must be a whole number")))
            })
            .transpose()
    }

    /// An RFC 3339 instant.
    pub fn timestamp(&self, name: &str) -> Result<Option<Timestamp>, Problem> {
        self.string(name)?
            .map(|text| {
                chrono::DateTime::parse_from_rfc3339(&text)
                    .map(|t| t.with_timezone(&chrono::Utc))
                    .map_err(|_| {
                        Problem::invalid(name, format!("{name} must be an RFC 3339 instant"))
                    })
            })
            .transpose()
    }

    /// An exact decimal given as a string or a number; any failure is 422.
    pub fn decimal(&self, name: &str) -> Result<Option<Decimal>, Problem> {
        self.raw(name)
            .map(|raw| {
                exact_decimal(raw).map_err(|e| match e {
                    AmountError::NotNumeric => {
                        Problem::invalid(name, format!("{name} must be a decimal number"))
                    }
                    AmountError::Unrepresentable(problem) => {
                        Problem::invalid(name, format!("{name}: {problem}"))
                    }
                })
            })
            .transpose()
    }

    /// A nested object.
    pub fn object(&self, name: &str) -> Result<Option<JsonObject>, Problem> {
        self.raw(name)
            .map(|raw| {
                JsonObject::parse(raw.get().as_bytes())
                    .map_err(|_| Problem::invalid(name, format!("{name} must be an object")))
            })
            .transpose()
    }

    /// An array of objects.
    pub fn objects(&self, name: &str) -> Result<Option<Vec<JsonObject>>, Problem> {
        self.raw(name)
            .map(|raw| {
                let not_objects =
                    || Problem::invalid(name, format!("{name} must be an array of objects"));
                let items = serde_json::from_str::<Vec<Box<RawValue>>>(raw.get())
                    .map_err(|_| not_objects())?;
                items
                    .iter()
                    .map(|item| JsonObject::parse(item.get().as_bytes()).map_err(|_| not_objects()))
                    .collect()
            })
            .transpose()
    }
}

/// Reads a decimal exactly from the JSON text of a string or number value.
pub fn exact_decimal(raw: &RawValue) -> Result<Decimal, AmountError> {
    let text = raw.get().trim();
    if text.starts_with('"') {
        let inner: String = serde_json::from_str(text).map_err(|_| AmountError::NotNumeric)?;
        return decimal_text(inner.trim(), false);
    }
    if text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        // serde_json has checked the number grammar already.
        return decimal_text(text, true);
    }
    Err(AmountError::NotNumeric)
}

/// Parses plain decimal text (`12`, `-3.50`), and for JSON numbers also
/// exponent notation (`1.5e2`), exactly.
fn decimal_text(text: &str, allow_exponent: bool) -> Result<Decimal, AmountError> {
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) if allow_exponent => (&text[..at], Some(&text[at + 1..])),
        _ => (text, None),
    };
    if !is_plain_decimal(mantissa) {
        return Err(AmountError::NotNumeric);
    }
    let value = match exponent {
        None => parse_decimal(mantissa).map_err(|_| unrepresentable(mantissa))?,
        Some(exp) => {
            let exp: i64 = exp
                .parse()
                .map_err(|_| AmountError::Unrepresentable(AmountProblem::TooLarge))?;
            scale_by_power_of_ten(mantissa, exp)?
        }
    };
    Ok(value)
}

/// `[+-]digits[.digits]`.
fn is_plain_decimal(text: &str) -> bool {
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (whole, fraction) = match body.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (body, None),
    };
    !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
}

/// Why valid decimal text does not fit a `Decimal`.
fn unrepresentable(text: &str) -> AmountError {
    let fraction = text.split_once('.').map_or(0, |(_, f)| f.len());
    AmountError::Unrepresentable(if fraction > MAX_DECIMAL_SCALE {
        AmountProblem::TooPrecise
    } else {
        AmountProblem::TooLarge
    })
}

/// `mantissa × 10^exp`, exactly, by moving the decimal point in the text.
fn scale_by_power_of_ten(mantissa: &str, exp: i64) -> Result<Decimal, AmountError> {
    let (sign, body) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa.strip_prefix('+').unwrap_or(mantissa)),
    };
    let (whole, fraction) = body.split_once('.').unwrap_or((body, ""));
    let digits = format!("{whole}{fraction}");
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return Ok(Decimal::ZERO);
    }
    // The value is digits × 10^point_shift.
    let shift = exp.saturating_sub(i64::try_from(fraction.len()).unwrap_or(i64::MAX));
    let limit = i64::try_from(MAX_DECIMAL_SCALE + 2).unwrap_or(30);
    if shift > limit {
        return Err(AmountError::Unrepresentable(AmountProblem::TooLarge));
    }
    if shift < -limit {
        return Err(AmountError::Unrepresentable(AmountProblem::TooPrecise));
    }
    let text = if shift >= 0 {
        let zeros = usize::try_from(shift).unwrap_or(0);
        format!("{sign}{digits}{}", "0".repeat(zeros))
    } else {
        let places = usize::try_from(-shift).unwrap_or(0);
        let padded = format!("{digits:0>width$}", width = places + 1);
        let (w, f) = padded.split_at(padded.len() - places);
        format!("{sign}{w}.{f}")
    };
    parse_decimal(&text).map_err(|_| unrepresentable(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(json: &str) -> Result<String, AmountError> {
        let raw: Box<RawValue> = serde_json::from_str(json).map_err(|_| AmountError::NotNumeric)?;
        exact_decimal(&raw).map(|d| d.to_string())
    }

    #[test]
    fn amounts_are_read_exactly_from_strings_and_numbers() {
        assert_eq!(dec("\"12.50\""), Ok("12.50".into()));
        assert_eq!(dec("12.50"), Ok("12.50".into()));
        assert_eq!(dec("0.1"), Ok("0.1".into()));
        assert_eq!(
            dec("123456789012.345678901"),
            Ok("123456789012.345678901".into())
        );
        assert_eq!(dec("1.5e2"), Ok("150".into()));
        assert_eq!(dec("15E-1"), Ok("1.5".into()));
        assert_eq!(dec("-3"), Ok("-3".into()));
        assert_eq!(dec("0e5"), Ok("0".into()));
    }

    #[test]
    fn non_numbers_and_monsters_are_told_apart() {
        assert_eq!(dec("\"abc\""), Err(AmountError::NotNumeric));
        assert_eq!(dec("\"1e3\""), Err(AmountError::NotNumeric));
        assert_eq!(dec("true"), Err(AmountError::NotNumeric));
        assert_eq!(dec("{}"), Err(AmountError::NotNumeric));
        assert_eq!(dec("\"\""), Err(AmountError::NotNumeric));
        assert_eq!(
            dec("1e400"),
            Err(AmountError::Unrepresentable(AmountProblem::TooLarge))
        );
        assert_eq!(
            dec("1e-400"),
            Err(AmountError::Unrepresentable(AmountProblem::TooPrecise))
        );
        assert_eq!(
            dec("123456789012345678901234567890123"),
            Err(AmountError::Unrepresentable(AmountProblem::TooLarge))
        );
    }

    #[test]
    fn bodies_must_be_objects() {
        assert_eq!(JsonObject::parse(b"[1]").err().map(|p| p.status), Some(400));
        assert_eq!(JsonObject::parse(b"{").err().map(|p| p.status), Some(400));
        assert!(JsonObject::parse_optional(b"  ").is_ok());
        let body = JsonObject::parse(br#"{"a": null, "b": 3}"#).expect("object");
        assert!(body.raw("a").is_none());
        assert_eq!(body.integer("b").ok().flatten(), Some(3));
        assert_eq!(body.string("b").err().map(|p| p.status), Some(422));
    }
}
