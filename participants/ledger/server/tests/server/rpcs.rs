//! Every RPC of the ledger service answers over gRPC.

use hrmesh_mesh::testing::Backend;
use hrmesh_proto::ledger::*;

use crate::{Harness, assign_request, hold_request};

async fn every_rpc_answers_over_grpc(backend: Backend) {
    let mut h = Harness::with_pto(backend).await;

    let policy = h
        .client
        .get_policy(GetPolicyRequest {
            policy_id: "pto-standard".into(),
        })
        .await
        .expect("get policy")
        .into_inner();
    assert_eq!(
        (
            policy.full_day.as_str(),
            policy.carry_over_cap.as_str(),
            policy.unit
        ),
        ("1", "5", Unit::Days as i32)
    );
    assert_eq!(policy.accrual.expect("accrual").amount, "1.75");

    h.client
        .assign_policy(AssignPolicyRequest {
            effective_to: "2026-12-31".into(),
            ..assign_request("assign-2", "e-2", "pto-standard")
        })
        .await
        .expect("assign e-2");
    let assignments = h
        .client
        .list_assignments(ListAssignmentsRequest {
            employee_id: "e-1".into(),
            page_size: 10,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(assignments.assignments.len(), 1);
    assert!(assignments.next_page_token.is_empty());

    let batch = h
        .client
        .append_entries(AppendEntriesRequest {
            request_id: "batch-1".into(),
            entries: vec![
                NewEntry {
                    employee_id: "e-2".into(),
                    policy_id: "pto-standard".into(),
                    kind: EntryKind::Accrual as i32,
                    amount: "1.5".into(),
                    effective_date: "2026-02-28".into(),
                    ..Default::default()
                },
                NewEntry {
                    employee_id: "e-1".into(),
                    policy_id: "pto-standard".into(),
                    kind: EntryKind::Adjustment as i32,
                    amount: "-0.5".into(),
                    effective_date: "2026-02-28".into(),
                    reason: "correction".into(),
                    ..Default::default()
                },
            ],
        })
        .await
        .expect("append")
        .into_inner();
    assert_eq!(
        batch
            .entries
            .iter()
            .map(|e| (e.employee_id.as_str(), e.amount.as_str()))
            .collect::<Vec<_>>(),
        vec![("e-2", "1.5"), ("e-1", "-0.5")]
    );

    let mut half_day = hold_request("hold-1", "2026-03-09", "2026-03-13");
    half_day.half_days = vec!["2026-03-13".into()];
    half_day.hold_timeout = Some(prost_types::Duration {
        seconds: 7 * 24 * 3600,
        nanos: 0,
    });
    let hold = h
        .client
        .hold_days(half_day)
        .await
        .expect("hold")
        .into_inner();
    assert_eq!(
        (hold.state, hold.total.as_str(), hold.days.len()),
        (HoldState::Pending as i32, "4.5", 5)
    );
    let fetched = h
        .client
        .get_hold(GetHoldRequest {
            hold_id: hold.hold_id.clone(),
        })
        .await
        .expect("get hold")
        .into_inner();
    assert_eq!(fetched, hold);

    let pending = h.balance("").await;
    assert_eq!(
        (
            pending.pending.as_str(),
            pending.available.as_str(),
            pending.balance.as_str()
        ),
        ("4.5", "5", "9.5")
    );
    let posted = h
        .client
        .post_hold(PostHoldRequest {
            request_id: "post-1".into(),
            hold_id: hold.hold_id.clone(),
            ..Default::default()
        })
        .await
        .expect("post")
        .into_inner();
    assert_eq!(posted.state, HoldState::Posted as i32);
    assert!(posted.resolve_time.is_some());

    let second = h
        .client
        .hold_days(hold_request("hold-2", "2026-03-16", "2026-03-16"))
        .await
        .expect("hold 2")
        .into_inner();
    let voided = h
        .client
        .void_hold(VoidHoldRequest {
            request_id: "void-1".into(),
            hold_id: second.hold_id,
            reason: "cancelled".into(),
            ..Default::default()
        })
        .await
        .expect("void")
        .into_inner();
    assert_eq!(voided.state, HoldState::Voided as i32);

    let reversal = h
        .client
        .reverse_entry(ReverseEntryRequest {
            request_id: "reverse-1".into(),
            entry_id: batch.entries[1].entry_id,
            reason: "mistake".into(),
            ..Default::default()
        })
        .await
        .expect("reverse")
        .into_inner();
    assert_eq!(
        (
            reversal.kind,
            reversal.amount.as_str(),
            reversal.reverses_entry_id
        ),
        (EntryKind::Reversal as i32, "0.5", batch.entries[1].entry_id)
    );

    let now = h.balance("").await;
    assert_eq!(
        (
            now.accrued.as_str(),
            now.consumed.as_str(),
            now.pending.as_str(),
            now.adjustments.as_str()
        ),
        ("10", "4.5", "0", "0")
    );
    assert_eq!(
        (now.balance.as_str(), now.available.as_str()),
        ("5.5", "5.5")
    );
    let before_leave = h.balance("2026-03-08").await;
    assert_eq!(
        (
            before_leave.as_of_date.as_str(),
            before_leave.consumed.as_str(),
            before_leave.balance.as_str()
        ),
        ("2026-03-08", "0", "10")
    );

    let page = h
        .client
        .list_entries(ListEntriesRequest {
            employee_id: "e-1".into(),
            page_size: 3,
            ..Default::default()
        })
        .await
        .expect("page 1")
        .into_inner();
    assert_eq!(page.entries.len(), 3);
    let rest = h
        .client
        .list_entries(ListEntriesRequest {
            employee_id: "e-1".into(),
            page_size: 100,
            page_token: page.next_page_token,
            ..Default::default()
        })
        .await
        .expect("page 2")
        .into_inner();
    // 1 accrual + 1 adjustment + 5 holds + 5 posts + 1 hold + 1 void + 1 reversal.
    assert_eq!(page.entries.len() + rest.entries.len(), 15);
    let posts = h
        .client
        .list_entries(ListEntriesRequest {
            employee_id: "e-1".into(),
            kinds: vec![EntryKind::Post as i32],
            ..Default::default()
        })
        .await
        .expect("posts")
        .into_inner();
    assert_eq!(posts.entries.len(), 5);
    h.server.stop().await.expect("clean shutdown");
}

hrmesh_mesh::test_on_every_backend!(every_rpc_answers_over_grpc);
