//! Performance improvement plans: check-ins, outcomes, cancelling.

use hrmesh_mesh::testing::Backend;
use hrmesh_proto::performance::*;
use tonic::Code;

use crate::{Harness, assert_illegal, pip_request, reason_of, violated_fields};

async fn pips_record_check_ins_and_outcomes(backend: Backend) {
    let mut h = Harness::start(backend).await;
    let pip = h
        .client
        .open_pip(pip_request("pip-1"))
        .await
        .expect("open pip")
        .into_inner();
    assert_eq!(pip.status, PipStatus::Active as i32);
    assert_eq!(pip.opened_by_request_id, "pip-1");
    let second = h
        .client
        .open_pip(pip_request("pip-2"))
        .await
        .expect_err("one active PIP");
    let (code, reason, metadata) = reason_of(&second);
    assert_eq!(code, Code::FailedPrecondition);
    assert_eq!(reason, "PIP_ALREADY_ACTIVE");
    assert_eq!(metadata["pip_id"], pip.pip_id);

    let check_in = |request_id: &str, date: &str| RecordPipCheckInRequest {
        request_id: request_id.into(),
        pip_id: pip.pip_id.clone(),
        check_in_date: date.into(),
        notes: "Two of three commitments met".into(),
        on_track: true,
    };
    let unscheduled = h
        .client
        .record_pip_check_in(check_in("ci-0", "2026-03-05"))
        .await
        .expect_err("not a check-in date");
    assert_eq!(violated_fields(&unscheduled), vec!["check_in_date"]);
    let recorded = h
        .client
        .record_pip_check_in(check_in("ci-1", "2026-03-04"))
        .await
        .expect("check-in")
        .into_inner();
    assert_eq!(recorded.check_ins.len(), 1);
    let twice = h
        .client
        .record_pip_check_in(check_in("ci-2", "2026-03-04"))
        .await
        .expect_err("check-in recorded twice");
    assert_illegal(&twice, "active");

    let extended = h
        .client
        .record_pip_outcome(RecordPipOutcomeRequest {
            request_id: "extend".into(),
            pip_id: pip.pip_id.clone(),
            outcome: PipOutcome::Extended as i32,
            notes: "Progress, not there yet".into(),
            new_end_date: "2026-06-30".into(),
            additional_check_in_dates: vec!["2026-06-15".into()],
            employee_id: String::new(),
        })
        .await
        .expect("extend")
        .into_inner();
    assert_eq!(extended.status, PipStatus::Active as i32);
    assert_eq!(extended.end_date, "2026-06-30");
    assert_eq!(
        extended.check_in_dates,
        vec!["2026-03-04", "2026-04-01", "2026-06-15"]
    );
    assert_eq!(extended.outcome, PipOutcome::Unspecified as i32);
    let bad_extension = h
        .client
        .record_pip_outcome(RecordPipOutcomeRequest {
            request_id: "extend-back".into(),
            pip_id: pip.pip_id.clone(),
            outcome: PipOutcome::Extended as i32,
            new_end_date: "2026-06-01".into(),
            ..Default::default()
        })
        .await
        .expect_err("an extension must move the end date forward");
    assert_eq!(violated_fields(&bad_extension), vec!["new_end_date"]);

    // A request naming another employee than the PIP's changes nothing.
    let not_theirs = h
        .client
        .record_pip_outcome(RecordPipOutcomeRequest {
            request_id: "succeed-other".into(),
            pip_id: pip.pip_id.clone(),
            outcome: PipOutcome::Successful as i32,
            employee_id: format!("{}-other", pip.employee_id),
            ..Default::default()
        })
        .await
        .expect_err("another employee's PIP");
    assert_eq!(not_theirs.code(), Code::PermissionDenied, "{not_theirs:?}");
    let done = h
        .client
        .record_pip_outcome(RecordPipOutcomeRequest {
            request_id: "succeed".into(),
            pip_id: pip.pip_id.clone(),
            outcome: PipOutcome::Successful as i32,
            notes: "Met every objective".into(),
            employee_id: pip.employee_id.clone(),
            ..Default::default()
        })
        .await
        .expect("outcome")
        .into_inner();
    assert_eq!(done.status, PipStatus::Completed as i32);
    assert_eq!(done.outcome, PipOutcome::Successful as i32);
    assert_eq!(done.outcomes.len(), 2);
    let cancel_done = h
        .client
        .cancel_pip(CancelPipRequest {
            request_id: "cancel-done".into(),
            target: Some(cancel_pip_request::Target::PipId(pip.pip_id.clone())),
            reason: String::new(),
            ..Default::default()
        })
        .await
        .expect_err("a completed PIP cannot be cancelled");
    assert_illegal(&cancel_done, "completed");

    // The saga's undo: cancel what a request opened, once.
    let next = h
        .client
        .open_pip(pip_request("pip-3"))
        .await
        .expect("a new PIP once the first ended")
        .into_inner();
    let by_request = |request_id: &str| CancelPipRequest {
        request_id: request_id.into(),
        target: Some(cancel_pip_request::Target::OpenedByRequestId(
            "pip-3".into(),
        )),
        reason: "saga compensation".into(),
        ..Default::default()
    };
    let cancelled = h
        .client
        .cancel_pip(by_request("undo-pip-3"))
        .await
        .expect("cancel")
        .into_inner();
    assert!(cancelled.cancelled);
    let pip_now = cancelled.pip.expect("the PIP");
    assert_eq!(pip_now.pip_id, next.pip_id);
    assert_eq!(pip_now.status, PipStatus::Cancelled as i32);
    assert_eq!(pip_now.cancel_reason, "saga compensation");
    let again = h
        .client
        .cancel_pip(by_request("undo-pip-3-again"))
        .await
        .expect("cancel again")
        .into_inner();
    assert!(!again.cancelled, "already cancelled: nothing changed");

    let listed = h
        .client
        .list_pips(ListPipsRequest {
            employee_id: "e-1".into(),
            status: PipStatus::Cancelled as i32,
            ..Default::default()
        })
        .await
        .expect("list pips")
        .into_inner();
    assert_eq!(listed.pips.len(), 1);
    let got = h
        .client
        .get_pip(GetPipRequest {
            pip_id: done.pip_id.clone(),
        })
        .await
        .expect("get pip")
        .into_inner();
    assert_eq!(got, done);
}

hrmesh_mesh::test_on_every_backend!(pips_record_check_ins_and_outcomes);
