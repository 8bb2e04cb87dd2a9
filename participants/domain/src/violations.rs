use serde::{Deserialize, Serialize};

/// One rule one field of a request broke. `field` is the request's field path as the API names it
/// (`dates.end_date`, `entries[2].amount`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

/// Collects every violation of a request, so a caller learns all of them at once.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Violations {
    violations: Vec<FieldViolation>,
}

impl Violations {
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.violations.push(FieldViolation {
            field: field.into(),
            description: description.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.violations.is_empty()
    }

    pub fn into_vec(self) -> Vec<FieldViolation> {
        self.violations
    }

    /// `Ok(value)` when nothing was violated, the violations otherwise.
    pub fn finish<T>(self, value: T) -> Result<T, Vec<FieldViolation>> {
        if self.violations.is_empty() {
            Ok(value)
        } else {
            Err(self.violations)
        }
    }
}
