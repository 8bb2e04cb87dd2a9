//! What the sagas need to exist first, made over gRPC as an admin, and the saga inputs the tests
//! start. Every request has a key of its own, so seeding the same thing again is answered as
//! before.

use hrmesh_mesh::client::MeshChannel;
use hrmesh_proto::common::DateRange;
use hrmesh_proto::ledger as lpb;
use hrmesh_proto::ledger::ledger_service_client::LedgerServiceClient;
use hrmesh_proto::orchestrator::start_saga_request::Input;
use hrmesh_proto::orchestrator::{CompleteReviewInput, RequestTimeOffInput};
use hrmesh_proto::performance as ppb;
use hrmesh_proto::performance::performance_service_client::PerformanceServiceClient;

/// The sections of every self-assessment and completed review the tests write.
pub fn sections() -> Vec<ppb::ReviewSection> {
    vec![ppb::ReviewSection {
        title: "Delivery".into(),
        body: "Shipped the payroll migration.".into(),
    }]
}

/// complete-review of `review_id` with `rating`, granting the bonus on `bonus_policy`.
pub fn complete_review(
    review_id: &str,
    employee: &str,
    rating: ppb::Rating,
    bonus_policy: &str,
) -> Input {
    Input::CompleteReview(CompleteReviewInput {
        review_id: review_id.into(),
        employee_id: employee.into(),
        rating: rating as i32,
        sections: sections(),
        bonus_policy_id: bonus_policy.into(),
    })
}

/// request-time-off of policy `pto` from `start` to `end` (whole days), asking `manager`.
pub fn time_off(employee: &str, manager: &str, start: &str, end: &str) -> Input {
    Input::RequestTimeOff(RequestTimeOffInput {
        employee_id: employee.into(),
        manager_id: manager.into(),
        policy_id: "pto".into(),
        dates: Some(DateRange {
            start_date: start.into(),
            end_date: end.into(),
        }),
        half_days: vec![],
        reason: String::new(),
    })
}

/// Policy `pto`, in days, never negative, accruing `monthly` days a month.
pub async fn create_pto(ledger: &mut LedgerServiceClient<MeshChannel>, monthly: &str) {
    ledger
        .create_policy(lpb::CreatePolicyRequest {
            request_id: "policy-pto".into(),
            policy_id: "pto".into(),
            policy: Some(lpb::Policy {
                resource_type: "pto".into(),
                unit: lpb::Unit::Days as i32,
                accrual: Some(lpb::AccrualRule {
                    frequency: lpb::AccrualFrequency::Monthly as i32,
                    amount: monthly.into(),
                    max_balance: String::new(),
                }),
                allow_negative: false,
                ..Default::default()
            }),
        })
        .await
        .expect("policy");
}

/// `employee` assigned policy `pto` since 2020, with `days` accrued at the end of January 2026 if
/// any.
pub async fn assign_pto(
    ledger: &mut LedgerServiceClient<MeshChannel>,
    employee: &str,
    days: Option<&str>,
) {
    ledger
        .assign_policy(lpb::AssignPolicyRequest {
            request_id: format!("assign-{employee}"),
            employee_id: employee.into(),
            policy_id: "pto".into(),
            effective_from: "2020-01-01".into(),
            effective_to: String::new(),
        })
        .await
        .expect("assign");
    let Some(days) = days else { return };
    ledger
        .append_entries(lpb::AppendEntriesRequest {
            request_id: format!("accrue-{employee}"),
            entries: vec![lpb::NewEntry {
                employee_id: employee.into(),
                policy_id: "pto".into(),
                kind: lpb::EntryKind::Accrual as i32,
                amount: days.into(),
                effective_date: "2026-01-31".into(),
                ..Default::default()
            }],
        })
        .await
        .expect("accrue");
}

/// An annual 2026 review of `employee` by `manager` with the self-assessment submitted: waiting
/// for the manager, ready to finalize. Answers its id.
pub async fn review_by(
    performance: &mut PerformanceServiceClient<MeshChannel>,
    employee: &str,
    manager: &str,
) -> String {
    let review = performance
        .create_review(ppb::CreateReviewRequest {
            request_id: format!("review-{employee}-{manager}"),
            employee_id: employee.into(),
            manager_id: manager.into(),
            cycle: ppb::ReviewCycle::Annual as i32,
            period_start: "2026-01-01".into(),
            period_end: "2026-12-31".into(),
            due_date: "2027-01-31".into(),
        })
        .await
        .expect("review")
        .into_inner();
    performance
        .open_self_assessment(ppb::OpenSelfAssessmentRequest {
            request_id: format!("{employee}-{manager}-open"),
            review_id: review.review_id.clone(),
        })
        .await
        .expect("open");
    performance
        .submit_self_assessment(ppb::SubmitSelfAssessmentRequest {
            request_id: format!("{employee}-{manager}-self"),
            review_id: review.review_id.clone(),
            sections: sections(),
        })
        .await
        .expect("self-assessment");
    review.review_id
}

/// Employees `{prefix}-0`, `{prefix}-1`… with policy `pto` (accruing `monthly` days a month) and
/// `days` accrued, if any; each with a review by `manager` waiting for the manager.
#[derive(Clone, Copy, Debug)]
pub struct Cohort<'a> {
    pub prefix: &'a str,
    pub count: usize,
    pub manager: &'a str,
    pub monthly: &'a str,
    pub days: Option<&'a str>,
}

impl Cohort<'_> {
    /// Creates the policy (again: answered as before), the employees and their reviews. Answers
    /// each employee with their review's id, in order.
    pub async fn seed(
        &self,
        ledger: &mut LedgerServiceClient<MeshChannel>,
        performance: &mut PerformanceServiceClient<MeshChannel>,
    ) -> Vec<(String, String)> {
        create_pto(ledger, self.monthly).await;
        let mut seeded = Vec::with_capacity(self.count);
        for n in 0..self.count {
            let employee = format!("{}-{n}", self.prefix);
            assign_pto(ledger, &employee, self.days).await;
            let review_id = review_by(performance, &employee, self.manager).await;
            seeded.push((employee, review_id));
        }
        seeded
    }
}

/// Half a day of PTO accrued for `employee`: one `accrual.posted` event.
pub async fn accrue(
    ledger: &mut LedgerServiceClient<MeshChannel>,
    request_id: &str,
    employee: &str,
) {
    ledger
        .append_entries(lpb::AppendEntriesRequest {
            request_id: request_id.into(),
            entries: vec![lpb::NewEntry {
                employee_id: employee.into(),
                policy_id: "pto".into(),
                kind: lpb::EntryKind::Accrual as i32,
                amount: "0.5".into(),
                effective_date: "2026-02-28".into(),
                ..Default::default()
            }],
        })
        .await
        .expect("accrue");
}
