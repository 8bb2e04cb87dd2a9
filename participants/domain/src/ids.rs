use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Violations;

/// An idempotency key: 1-128 visible ASCII characters. Every mutating request carries one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RequestId(String);

impl RequestId {
    pub const MAX_LEN: usize = 128;

    pub fn parse(field: &str, value: &str, violations: &mut Violations) -> Option<Self> {
        if value.is_empty() {
            violations.add(field, "is required: the idempotency key of this request");
            return None;
        }
        if value.len() > Self::MAX_LEN || !value.bytes().all(|b| b.is_ascii_graphic()) {
            violations.add(
                field,
                format!("must be 1-{} visible ASCII characters", Self::MAX_LEN),
            );
            return None;
        }
        Some(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An employee id as the HR system of record issues it: letters, digits, '.', '_' and '-',
/// 1-64 characters, starting with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EmployeeId(String);

impl EmployeeId {
    pub const MAX_LEN: usize = 64;

    pub fn parse(field: &str, value: &str, violations: &mut Violations) -> Option<Self> {
        if Self::is_valid(value) {
            return Some(Self(value.to_owned()));
        }
        if value.is_empty() {
            violations.add(field, "is required");
        } else {
            violations.add(
                field,
                "must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
            );
        }
        None
    }

    fn is_valid(value: &str) -> bool {
        let bytes = value.as_bytes();
        !bytes.is_empty()
            && bytes.len() <= Self::MAX_LEN
            && bytes[0].is_ascii_alphanumeric()
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    }

    /// For values read back from a service's own store, which only ever holds valid ids.
    pub fn from_trusted(value: String) -> Self {
        debug_assert!(
            Self::is_valid(&value),
            "stored employee id {value:?} is invalid"
        );
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EmployeeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn employee_ids_follow_the_documented_rule() {
        let mut violations = Violations::default();
        assert!(EmployeeId::parse("e", "e-1", &mut violations).is_some());
        assert!(EmployeeId::parse("e", "E.2_x", &mut violations).is_some());
        assert!(violations.is_empty());
        assert!(EmployeeId::parse("e", "-e", &mut violations).is_none());
        assert!(EmployeeId::parse("e", "e 1", &mut violations).is_none());
        assert!(EmployeeId::parse("e", &"x".repeat(65), &mut violations).is_none());
        assert_eq!(violations.into_vec().len(), 3);
    }

    #[test]
    fn request_ids_reject_whitespace_and_overlong_keys() {
        let mut violations = Violations::default();
        assert!(RequestId::parse("r", "saga-1:2:do", &mut violations).is_some());
        assert!(RequestId::parse("r", "a b", &mut violations).is_none());
        assert!(RequestId::parse("r", &"k".repeat(129), &mut violations).is_none());
        assert!(RequestId::parse("r", "", &mut violations).is_none());
        assert_eq!(violations.into_vec().len(), 3);
    }
}
