//! Erasing an employee's personal data (crypto-shredding): every service that seals free text
//! about employees answers the same command the same way.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{EmployeeId, RequestId};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasePersonalData {
    pub request_id: RequestId,
    pub employee_id: EmployeeId,
}

/// What one ErasePersonalData did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Erasure {
    pub employee_id: EmployeeId,
    /// Data keys destroyed (0 when nothing was left to erase).
    pub keys_destroyed: u32,
    pub erased_at: DateTime<Utc>,
}

impl Erasure {
    /// `destroyed` keys of `employee_id`, destroyed at `at`.
    pub fn of(employee_id: EmployeeId, destroyed: u64, at: DateTime<Utc>) -> Self {
        Self {
            employee_id,
            keys_destroyed: u32::try_from(destroyed).unwrap_or(u32::MAX),
            erased_at: at,
        }
    }
}
