//! `Money::parse` and `parse_decimal` on arbitrary text: never panic, and a
//! parsed amount, formatted and parsed again, is the same `Money` (SPEC §1).
#![no_main]

use arbitrary::Arbitrary;
use hammerfall_ports::{Currency, Decimal, Money, parse_decimal};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    currency: u8,
    text: String,
}

fuzz_target!(|input: Input| {
    let all = Currency::ALL;
    let currency = all[usize::from(input.currency) % all.len()];
    let text = input.text.as_str();

    let decimal = parse_decimal(text);
    let parsed = Money::parse(text, currency);

    // Money::parse accepts only what parse_decimal accepts, with the same value.
    if let Ok(money) = parsed {
        let value = decimal
            .clone()
            .expect("Money::parse accepted text parse_decimal refuses");
        assert_eq!(
            money.amount(),
            value,
            "value changed by Money::parse of {text:?}"
        );
        assert!(
            money.amount() >= Decimal::ZERO,
            "negative money from {text:?}"
        );

        // Formatting writes exactly the currency's minor units, no sign.
        let shown = money.to_string();
        let units = currency.minor_units() as usize;
        match shown.split_once('.') {
            Some((int, frac)) => {
                assert_eq!(frac.len(), units, "{shown:?} ({currency}) from {text:?}");
                assert!(
                    !int.is_empty() && int.bytes().all(|b| b.is_ascii_digit()),
                    "{shown:?}"
                );
            }
            None => {
                assert_eq!(units, 0, "{shown:?} ({currency}) from {text:?}");
                assert!(shown.bytes().all(|b| b.is_ascii_digit()), "{shown:?}");
            }
        }

        // …and reads back as the same Money.
        let again = Money::parse(&shown, currency)
            .unwrap_or_else(|e| panic!("{shown:?} (from {text:?}) does not re-parse: {e}"));
        assert_eq!(again, money, "{shown:?} from {text:?}");
        assert_eq!(
            again.to_string(),
            shown,
            "formatting is not stable for {text:?}"
        );
    }

    // A decimal that parses but is refused as money is refused for a reason
    // that holds in every currency with fewer minor units too (sanity of the
    // TooPrecise rule): if valid with d units, valid with any more units.
    if let Ok(value) = decimal {
        for other in all {
            if other.minor_units() >= currency.minor_units() && parsed.is_ok() {
                assert!(
                    Money::new(value, *other).is_ok(),
                    "{text:?} valid in {currency} but not in {other}"
                );
            }
        }
    }
});
