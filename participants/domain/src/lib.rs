//! Building blocks every hrmesh core shares: field violations for bad input, the error model, the
//! clock port, the HR authorisation policy, and the identifier and date rules that every service
//! applies the same way.
//!
//! This crate must stay free of transport and storage types (no tonic, prost, sea-orm, mongodb):
//! cores depend on it, and cores know nothing of how they are reached or stored.

pub mod acting;
mod clock;
pub mod erasure;
pub mod error;
pub mod events;
mod ids;
mod quantity;
mod violations;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{ErrorKind, Fault, ServiceError};
pub use events::DomainEvent;
pub use ids::{EmployeeId, RequestId};
pub use quantity::Quantity;
pub use violations::{FieldViolation, Violations};

use chrono::NaiveDate;

/// Earliest date any hrmesh service accepts.
pub const DATE_MIN: NaiveDate = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid constant date");
/// Latest date any hrmesh service accepts.
pub const DATE_MAX: NaiveDate = NaiveDate::from_ymd_opt(2199, 12, 31).expect("valid constant date");

/// Parses an ISO-8601 calendar date ("YYYY-MM-DD") within [`DATE_MIN`, `DATE_MAX`], recording a
/// violation for `field` when it is missing or malformed.
pub fn parse_date(field: &str, value: &str, violations: &mut Violations) -> Option<NaiveDate> {
    if value.is_empty() {
        violations.add(field, "is required (YYYY-MM-DD)");
        return None;
    }
    match NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        Ok(date) if (DATE_MIN..=DATE_MAX).contains(&date) && value.len() == 10 => Some(date),
        Ok(_) if value.len() != 10 => {
            violations.add(field, "must be a date written YYYY-MM-DD");
            None
        }
        Ok(_) => {
            violations.add(field, format!("must be between {DATE_MIN} and {DATE_MAX}"));
            None
        }
        Err(_) => {
            violations.add(field, "must be a date written YYYY-MM-DD");
            None
        }
    }
}

/// Like [`parse_date`], but an empty value is allowed and means "none".
pub fn parse_optional_date(
    field: &str,
    value: &str,
    violations: &mut Violations,
) -> Option<Option<NaiveDate>> {
    if value.is_empty() {
        return Some(None);
    }
    parse_date(field, value, violations).map(Some)
}

/// The number of results a list call returns: `requested` when positive, the default for 0, and
/// never more than `max`.
pub fn page_size(requested: i32, default: u32, max: u32, violations: &mut Violations) -> u32 {
    match requested {
        0 => default,
        n if n < 0 => {
            violations.add("page_size", "must not be negative");
            default
        }
        n => (n as u32).min(max),
    }
}

/// Parses an id a service issued itself (a UUID in its canonical hyphenated form), lowercased;
/// anything else cannot name one of its resources.
pub fn parse_issued_id(field: &str, text: &str, violations: &mut Violations) -> Option<String> {
    let well_formed = text.len() == 36
        && text.bytes().enumerate().all(|(i, b)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                b == b'-'
            } else {
                b.is_ascii_hexdigit()
            }
        });
    if well_formed {
        return Some(text.to_ascii_lowercase());
    }
    let description = if text.is_empty() {
        "is required"
    } else {
        "must be an id this service issued (a UUID)"
    };
    violations.add(field, description);
    None
}

/// Checks a free-text field's length (in characters).
pub fn check_text(field: &str, value: &str, max_chars: usize, violations: &mut Violations) {
    if value.chars().count() > max_chars {
        violations.add(field, format!("must be at most {max_chars} characters"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_outside_the_supported_range_are_violations() {
        let mut violations = Violations::default();
        assert_eq!(parse_date("d", "1969-12-31", &mut violations), None);
        assert_eq!(parse_date("d", "2026-02-30", &mut violations), None);
        assert_eq!(parse_date("d", "2026-2-3", &mut violations), None);
        assert_eq!(parse_date("d", "", &mut violations), None);
        assert_eq!(violations.into_vec().len(), 4);
    }

    #[test]
    fn a_well_formed_date_parses() {
        let mut violations = Violations::default();
        assert_eq!(
            parse_date("d", "2026-03-10", &mut violations),
            NaiveDate::from_ymd_opt(2026, 3, 10)
        );
        assert!(violations.is_empty());
    }

    #[test]
    fn issued_ids_are_canonical_uuids() {
        let mut violations = Violations::default();
        assert_eq!(
            parse_issued_id(
                "id",
                "0195F1D2-0000-7000-8000-000000000000",
                &mut violations
            )
            .as_deref(),
            Some("0195f1d2-0000-7000-8000-000000000000")
        );
        assert!(violations.is_empty());
        for bad in [
            "",
            "42",
            "0195f1d2000070008000000000000000",
            "0195f1d2-0000-7000-8000-00000000000g",
        ] {
            assert_eq!(parse_issued_id("id", bad, &mut violations), None, "{bad:?}");
        }
        assert_eq!(violations.into_vec().len(), 4);
    }

    #[test]
    fn page_size_defaults_and_caps() {
        let mut violations = Violations::default();
        assert_eq!(page_size(0, 50, 500, &mut violations), 50);
        assert_eq!(page_size(10_000, 50, 500, &mut violations), 500);
        assert_eq!(page_size(7, 50, 500, &mut violations), 7);
        assert!(violations.is_empty());
        page_size(-1, 50, 500, &mut violations);
        assert!(!violations.is_empty());
    }
}
