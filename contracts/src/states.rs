//! The provider states the pacts name. The consumer tests write them into the pacts; the
//! provider tests set each one up through the participant's own code, and fail on a state they
//! do not know. Values a state creates (ids the provider issues) are handed back under the names
//! in brackets and injected into the request (`fromProviderState`).

// ---- ledger
pub const POLICY_PTO: &str = "policy pto exists";
pub const E1_ASSIGNED_PTO: &str = "policy pto exists and employee e-1 is assigned to it";
pub const E1_HAS_10_DAYS: &str = "employee e-1 has 10 days of pto";
pub const E1_HAS_1_DAY: &str = "employee e-1 has 1 day of pto";
/// `[entryId]`
pub const E1_HAS_ENTRY: &str = "employee e-1 has a pto accrual entry";
/// `[entryId]`
pub const E1_HAS_REVERSED_ENTRY: &str = "employee e-1 has a pto accrual entry that was reversed";
/// `[holdId]`
pub const E1_HAS_PENDING_HOLD: &str = "employee e-1 has a pending hold on 2026-12-14";
/// `[holdId]`
pub const E1_HAS_VOIDED_HOLD: &str = "employee e-1 has a voided hold";
/// `[holdId]`
pub const E3_HAS_PENDING_HOLD: &str = "employee e-3 has a pending hold on 2026-12-14";
pub const E7_ASSIGNED_PTO: &str = "employee e-7 is assigned pto from 2026-12-01";
/// `[freezeId]`
pub const E1_HAS_SAGA_FREEZE: &str = "employee e-1 has a pto freeze created by a saga's step";
/// `[pipId]`
pub const E1_HAS_PIP_FREEZE: &str = "employee e-1 has a pto freeze for a PIP";
pub const E1_PTO_FROZEN_IN_NOVEMBER: &str =
    "employee e-1's pto accruals are frozen in November 2026";
pub const E1_ASSIGNMENTS_ENDED: &str =
    "the assignments of employee e-1 were ended by a saga's step";

// ---- performance
/// `[reviewId]`
pub const REVIEW_IN_MANAGER_REVIEW: &str =
    "the annual review of e-1 by manager e-2 is in manager review";
/// `[reviewId]`
pub const E3_REVIEW_IN_MANAGER_REVIEW: &str =
    "the annual review of e-3 by manager e-2 is in manager review";
/// `[reviewId]`
pub const REVIEW_IN_DRAFT: &str = "the annual review of e-1 is a draft";
/// `[reviewId, finalizeRequestId]`
pub const REVIEW_FINALIZED: &str = "the annual review of e-1 was finalized";
/// `[reviewId]`
pub const REVIEW_SUBMITTED: &str = "the annual review of e-1 is submitted";
/// `[pipId]`
pub const E1_HAS_ACTIVE_PIP: &str = "employee e-1 has an active PIP";
/// `[openedByRequestId]`
pub const E1_HAS_PIP_OPENED: &str = "employee e-1 has an active PIP opened by a saga";
pub const E1_HAS_OPEN_REVIEW: &str = "employee e-1 has an open review";
/// `[closeRequestId]`
pub const E1_RECORDS_CLOSED: &str = "the records of employee e-1 were closed";
/// `[reviewId]`
pub const E7_HAS_PROBATION_REVIEW: &str = "employee e-7 has a probation review";
