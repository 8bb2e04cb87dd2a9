//! Refused requests carry their reason and the facts behind it.

use hrmesh_mesh::testing::Backend;
use hrmesh_proto::ledger::*;
use tonic::Code;

use crate::{
    Harness, assign_request, create_policy_request, hold_request, reason_of, violated_fields,
};

async fn rejections_carry_their_reason_and_facts(backend: Backend) {
    let mut h = Harness::with_pto(backend).await;
    let too_long = h
        .client
        .hold_days(hold_request("hold-big", "2026-03-02", "2026-03-20"))
        .await
        .expect_err("15 days > 10");
    let (code, reason, metadata) = reason_of(&too_long);
    assert_eq!(
        (code, reason.as_str()),
        (Code::FailedPrecondition, "INSUFFICIENT_BALANCE")
    );
    assert_eq!(
        (
            metadata["available"].as_str(),
            metadata["requested"].as_str()
        ),
        ("10", "15")
    );
    // The rejection is the recorded answer to that request id.
    let replay = h
        .client
        .hold_days(hold_request("hold-big", "2026-03-02", "2026-03-20"))
        .await
        .expect_err("replayed");
    assert_eq!(reason_of(&replay).1, "INSUFFICIENT_BALANCE");

    let hold = h
        .client
        .hold_days(hold_request("hold-1", "2026-03-10", "2026-03-10"))
        .await
        .expect("hold")
        .into_inner();
    let taken = h
        .client
        .hold_days(hold_request("hold-2", "2026-03-09", "2026-03-10"))
        .await
        .expect_err("taken");
    let (code, reason, metadata) = reason_of(&taken);
    assert_eq!(
        (
            code,
            reason.as_str(),
            metadata["date"].as_str(),
            metadata["hold_id"].as_str()
        ),
        (
            Code::FailedPrecondition,
            "DAY_ALREADY_TAKEN",
            "2026-03-10",
            hold.hold_id.as_str()
        )
    );

    let reused = h
        .client
        .hold_days(hold_request("hold-1", "2026-03-11", "2026-03-11"))
        .await
        .expect_err("reused key");
    let (code, reason, metadata) = reason_of(&reused);
    assert_eq!(
        (code, reason.as_str(), metadata["request_id"].as_str()),
        (Code::AlreadyExists, "IDEMPOTENCY_KEY_REUSED", "hold-1")
    );

    h.client
        .void_hold(VoidHoldRequest {
            request_id: "void-1".into(),
            hold_id: hold.hold_id.clone(),
            reason: String::new(),
            ..Default::default()
        })
        .await
        .expect("void");
    let late = h
        .client
        .post_hold(PostHoldRequest {
            request_id: "post-1".into(),
            hold_id: hold.hold_id.clone(),
            ..Default::default()
        })
        .await
        .expect_err("resolved");
    let (code, reason, metadata) = reason_of(&late);
    assert_eq!(
        (code, reason.as_str(), metadata["state"].as_str()),
        (Code::FailedPrecondition, "HOLD_ALREADY_RESOLVED", "voided")
    );

    let missing = h
        .client
        .get_hold(GetHoldRequest {
            hold_id: "0195f1d2-0000-7000-8000-000000000000".into(),
        })
        .await
        .expect_err("missing");
    assert_eq!(reason_of(&missing).0, Code::NotFound);
    let missing_policy = h
        .client
        .get_policy(GetPolicyRequest {
            policy_id: "nope-policy".into(),
        })
        .await
        .expect_err("missing");
    assert_eq!(reason_of(&missing_policy).1, "RESOURCE_NOT_FOUND");
    let exists = h
        .client
        .create_policy(create_policy_request("policy-again", "pto-standard"))
        .await
        .expect_err("exists");
    assert_eq!(reason_of(&exists).0, Code::AlreadyExists);
    let overlap = h
        .client
        .assign_policy(assign_request("assign-again", "e-1", "pto-standard"))
        .await
        .expect_err("overlap");
    assert_eq!(reason_of(&overlap).1, "ASSIGNMENT_OVERLAPS");

    let entries = h
        .client
        .list_entries(ListEntriesRequest {
            employee_id: "e-1".into(),
            kinds: vec![EntryKind::Hold as i32],
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    let not_reversible = h
        .client
        .reverse_entry(ReverseEntryRequest {
            request_id: "rev-1".into(),
            entry_id: entries.entries[0].entry_id,
            reason: String::new(),
            ..Default::default()
        })
        .await
        .expect_err("hold entry");
    let (_, reason, metadata) = reason_of(&not_reversible);
    assert_eq!(
        (reason.as_str(), metadata["kind"].as_str()),
        ("ENTRY_NOT_REVERSIBLE", "hold")
    );
}

async fn a_hold_past_its_expiry_cannot_be_approved(backend: Backend) {
    let mut h = Harness::with_pto(backend).await;
    let mut request = hold_request("hold-1", "2026-03-10", "2026-03-10");
    request.hold_timeout = Some(prost_types::Duration {
        seconds: 600,
        nanos: 0,
    });
    let hold = h
        .client
        .hold_days(request)
        .await
        .expect("hold")
        .into_inner();
    h.clock.advance(chrono::Duration::seconds(601));
    let late = h
        .client
        .post_hold(PostHoldRequest {
            request_id: "post-1".into(),
            hold_id: hold.hold_id,
            ..Default::default()
        })
        .await
        .expect_err("expired");
    assert_eq!(reason_of(&late).1, "HOLD_EXPIRED");
    let out_of_range = h
        .client
        .hold_days(HoldDaysRequest {
            hold_timeout: Some(prost_types::Duration {
                seconds: 10,
                nanos: 0,
            }),
            ..hold_request("hold-2", "2026-03-11", "2026-03-11")
        })
        .await
        .expect_err("too short");
    assert_eq!(
        violated_fields(&out_of_range),
        vec!["hold_timeout".to_owned()]
    );
}

hrmesh_mesh::test_on_every_backend!(
    rejections_carry_their_reason_and_facts,
    a_hold_past_its_expiry_cannot_be_approved,
);
