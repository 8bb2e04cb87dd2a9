use std::fmt;
use std::ops::{Add, Neg, Sub};

use crate::Violations;
use serde::{Deserialize, Serialize};

/// An exact quantity of time off in a policy's unit, held as thousandths (no floating point).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct Quantity(i64);

impl Quantity {
    pub const ZERO: Quantity = Quantity(0);
    /// Thousandths per unit.
    pub const SCALE: i64 = 1000;
    /// The largest magnitude a single request may carry (one million units), so that sums over any
    /// realistic history stay far from overflow.
    pub const MAX_ABS: Quantity = Quantity(1_000_000 * Self::SCALE);

    pub const fn from_millis(millis: i64) -> Self {
        Self(millis)
    }

    pub const fn from_units(units: i64) -> Self {
        Self(units * Self::SCALE)
    }

    pub const fn millis(self) -> i64 {
        self.0
    }

    pub const fn is_positive(self) -> bool {
        self.0 > 0
    }

    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// Parses a decimal such as "1", "0.5" or "-2.25" (at most three fractional digits, at most
    /// [`Self::MAX_ABS`] in magnitude), recording a violation for `field` otherwise.
    pub fn parse(field: &str, text: &str, violations: &mut Violations) -> Option<Self> {
        match Self::parse_str(text) {
            Some(quantity) if quantity.0.abs() <= Self::MAX_ABS.0 => Some(quantity),
            Some(_) => {
                violations.add(
                    field,
                    format!("must be at most {} in magnitude", Self::MAX_ABS),
                );
                None
            }
            None if text.is_empty() => {
                violations.add(field, "is required (a decimal such as \"1\" or \"0.5\")");
                None
            }
            None => {
                violations.add(
                    field,
                    "must be a decimal with at most three fractional digits, such as \"1\" or \"-0.5\"",
                );
                None
            }
        }
    }

    fn parse_str(text: &str) -> Option<Self> {
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || whole.len() > 12 || !all_digits(whole) {
            return None;
        }
        if digits.contains('.') && (fraction.is_empty() || fraction.len() > 3) {
            return None;
        }
        if !all_digits(fraction) {
            return None;
        }
        let whole: i64 = whole.parse().ok()?;
        let mut fraction_millis: i64 = if fraction.is_empty() {
            0
        } else {
            fraction.parse().ok()?
        };
        for _ in fraction.len()..3 {
            fraction_millis *= 10;
        }
        let magnitude = whole
            .checked_mul(Self::SCALE)?
            .checked_add(fraction_millis)?;
        Some(Self(if negative { -magnitude } else { magnitude }))
    }

    pub fn half(self) -> Self {
        debug_assert!(self.0 % 2 == 0, "halving {self} would lose precision");
        Self(self.0 / 2)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let magnitude = self.0.unsigned_abs();
        let whole = magnitude / Self::SCALE as u64;
        let fraction = magnitude % Self::SCALE as u64;
        if fraction == 0 {
            return write!(f, "{sign}{whole}");
        }
        let fraction = format!("{fraction:03}");
        write!(f, "{sign}{whole}.{}", fraction.trim_end_matches('0'))
    }
}

impl Add for Quantity {
    type Output = Quantity;
    fn add(self, other: Quantity) -> Quantity {
        Quantity(self.0 + other.0)
    }
}

impl Sub for Quantity {
    type Output = Quantity;
    fn sub(self, other: Quantity) -> Quantity {
        Quantity(self.0 - other.0)
    }
}

impl Neg for Quantity {
    type Output = Quantity;
    fn neg(self) -> Quantity {
        Quantity(-self.0)
    }
}

impl std::iter::Sum for Quantity {
    fn sum<I: Iterator<Item = Quantity>>(iter: I) -> Quantity {
        iter.fold(Quantity::ZERO, Add::add)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(text: &str) -> Option<Quantity> {
        Quantity::parse("q", text, &mut Violations::default())
    }

    #[test]
    fn decimals_parse_exactly() {
        assert_eq!(parse("1"), Some(Quantity::from_millis(1000)));
        assert_eq!(parse("0.5"), Some(Quantity::from_millis(500)));
        assert_eq!(parse("-2.25"), Some(Quantity::from_millis(-2250)));
        assert_eq!(parse("0.001"), Some(Quantity::from_millis(1)));
    }

    #[test]
    fn malformed_decimals_are_rejected() {
        for text in [
            "", "1.", ".5", "1.2345", "1e3", "+1", "--1", "1,5", " 1", "NaN", "2000000",
        ] {
            assert_eq!(parse(text), None, "{text:?} must not parse");
        }
    }

    #[test]
    fn display_is_the_shortest_exact_form() {
        assert_eq!(Quantity::from_millis(1500).to_string(), "1.5");
        assert_eq!(Quantity::from_millis(-250).to_string(), "-0.25");
        assert_eq!(Quantity::from_millis(0).to_string(), "0");
        assert_eq!(Quantity::from_millis(-3000).to_string(), "-3");
        assert_eq!(Quantity::from_millis(1).to_string(), "0.001");
    }

    proptest! {
        #[test]
        fn display_then_parse_round_trips(millis in -Quantity::MAX_ABS.millis()..=Quantity::MAX_ABS.millis()) {
            let quantity = Quantity::from_millis(millis);
            prop_assert_eq!(parse(&quantity.to_string()), Some(quantity));
        }
    }
}
