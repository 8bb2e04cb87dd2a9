//! Identifiers the sagas carry.

use std::fmt;

use hrmesh_domain::Violations;
use serde::{Deserialize, Serialize};

/// The id of a record a participant issued (a review, a hold, a PIP): a UUID, lowercased.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RecordId(String);

impl RecordId {
    pub fn parse(field: &str, text: &str, violations: &mut Violations) -> Option<Self> {
        hrmesh_domain::parse_issued_id(field, text, violations).map(Self)
    }

    /// For ids a participant returned, which the saga passes on as they came.
    pub fn from_participant(text: String) -> Self {
        Self(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A ledger policy's id: 1-64 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PolicyId(String);

impl PolicyId {
    pub const MAX_LEN: usize = 64;

    pub fn parse(field: &str, text: &str, violations: &mut Violations) -> Option<Self> {
        if text.is_empty() {
            violations.add(field, "is required");
            return None;
        }
        if text.len() > Self::MAX_LEN || !text.bytes().all(|b| b.is_ascii_graphic()) {
            violations.add(
                field,
                format!("must be 1-{} visible ASCII characters", Self::MAX_LEN),
            );
            return None;
        }
        Some(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PolicyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
