//! Malformed requests: every offending field is named, nothing is written, and even a huge
//! invalid batch gets a readable answer.

use hrmesh_mesh::testing::Backend;
use hrmesh_proto::ledger::*;

use crate::{Harness, create_policy_request, hold_request, violated_fields};

async fn bad_input_names_every_offending_field_and_writes_nothing(backend: Backend) {
    let mut h = Harness::with_pto(backend).await;
    let before = h.entry_count("e-1").await;
    let mut bad = hold_request("has space", "2026-03-10", "2026-03-09");
    bad.employee_id = "-e".into();
    bad.half_days = vec!["not-a-date".into()];
    let status = h.client.hold_days(bad).await.expect_err("invalid");
    let fields = violated_fields(&status);
    for field in ["request_id", "employee_id", "half_days[0]"] {
        assert!(
            fields.contains(&field.to_owned()),
            "{field} missing from {fields:?}"
        );
    }
    let backwards = h
        .client
        .hold_days(hold_request("hold-x", "2026-03-10", "2026-03-09"))
        .await
        .expect_err("backwards");
    assert_eq!(
        violated_fields(&backwards),
        vec!["dates.end_date".to_owned()]
    );
    let weekend = h
        .client
        .hold_days(hold_request("hold-y", "2026-03-14", "2026-03-15"))
        .await
        .expect_err("weekend only");
    assert_eq!(violated_fields(&weekend), vec!["dates".to_owned()]);
    let unassigned = h
        .client
        .hold_days(HoldDaysRequest {
            employee_id: "e-404".into(),
            ..hold_request("hold-z", "2026-03-10", "2026-03-10")
        })
        .await
        .expect_err("unknown employee");
    assert_eq!(violated_fields(&unassigned), vec!["employee_id".to_owned()]);

    let batch = AppendEntriesRequest {
        request_id: "batch-bad".into(),
        entries: vec![
            NewEntry {
                employee_id: "e-1".into(),
                policy_id: "pto-standard".into(),
                kind: EntryKind::Accrual as i32,
                amount: "1".into(),
                effective_date: "2026-02-01".into(),
                ..Default::default()
            },
            NewEntry {
                employee_id: "e-1".into(),
                policy_id: "pto-standard".into(),
                kind: EntryKind::Accrual as i32,
                amount: "0".into(),
                effective_date: "2026-02-01".into(),
                ..Default::default()
            },
            NewEntry {
                employee_id: "e-1".into(),
                policy_id: "no-such-policy".into(),
                kind: EntryKind::Hold as i32,
                amount: "1.2345".into(),
                effective_date: "2026-02-30".into(),
                ..Default::default()
            },
        ],
    };
    let fields = violated_fields(&h.client.append_entries(batch).await.expect_err("bad batch"));
    for field in [
        "entries[2].kind",
        "entries[2].amount",
        "entries[2].effective_date",
    ] {
        assert!(
            fields.contains(&field.to_owned()),
            "{field} missing from {fields:?}"
        );
    }
    let semantic = AppendEntriesRequest {
        request_id: "batch-bad-2".into(),
        entries: vec![
            NewEntry {
                employee_id: "e-1".into(),
                policy_id: "pto-standard".into(),
                kind: EntryKind::Accrual as i32,
                amount: "1".into(),
                effective_date: "2026-02-01".into(),
                ..Default::default()
            },
            NewEntry {
                employee_id: "e-1".into(),
                policy_id: "pto-standard".into(),
                kind: EntryKind::Accrual as i32,
                amount: "-1".into(),
                effective_date: "2026-02-01".into(),
                ..Default::default()
            },
            NewEntry {
                employee_id: "e-1".into(),
                policy_id: "pto-standard".into(),
                kind: EntryKind::Adjustment as i32,
                amount: "2".into(),
                effective_date: "2025-06-01".into(),
                ..Default::default()
            },
        ],
    };
    let fields = violated_fields(
        &h.client
            .append_entries(semantic)
            .await
            .expect_err("bad batch"),
    );
    assert_eq!(
        fields,
        vec![
            "entries[1].amount",
            "entries[2].reason",
            "entries[2].employee_id"
        ]
    );

    let policy = CreatePolicyRequest {
        policy: Some(Policy {
            resource_type: "PTO!".into(),
            unit: Unit::Hours as i32,
            ..Default::default()
        }),
        ..create_policy_request("", "x")
    };
    let fields = violated_fields(
        &h.client
            .create_policy(policy)
            .await
            .expect_err("bad policy"),
    );
    for field in [
        "request_id",
        "policy_id",
        "policy.resource_type",
        "policy.accrual.frequency",
        "policy.full_day",
    ] {
        assert!(
            fields.contains(&field.to_owned()),
            "{field} missing from {fields:?}"
        );
    }
    let not_an_id = h
        .client
        .post_hold(PostHoldRequest {
            request_id: "p".into(),
            hold_id: "42".into(),
            ..Default::default()
        })
        .await
        .expect_err("bad id");
    assert_eq!(violated_fields(&not_an_id), vec!["hold_id".to_owned()]);
    let bad_token = h
        .client
        .list_entries(ListEntriesRequest {
            employee_id: "e-1".into(),
            page_token: "garbage".into(),
            ..Default::default()
        })
        .await
        .expect_err("token");
    assert_eq!(violated_fields(&bad_token), vec!["page_token".to_owned()]);

    assert_eq!(h.entry_count("e-1").await, before);
}

async fn a_huge_invalid_batch_still_gets_a_readable_invalid_argument(backend: Backend) {
    let mut h = Harness::with_pto(backend).await;
    let entries = (0..1000)
        .map(|_| NewEntry {
            employee_id: "e-1".into(),
            policy_id: "pto-standard".into(),
            kind: EntryKind::Accrual as i32,
            amount: "1".into(),
            effective_date: "2300-01-01".into(),
            ..Default::default()
        })
        .collect();
    let status = h
        .client
        .append_entries(AppendEntriesRequest {
            request_id: "big-bad".into(),
            entries,
        })
        .await
        .expect_err("dates out of range");
    let fields = violated_fields(&status);
    assert_eq!(fields.len(), 20);
    assert_eq!(fields[0], "entries[0].effective_date");
    assert!(
        status.message().contains("1000 fields are invalid"),
        "{}",
        status.message()
    );
}

hrmesh_mesh::test_on_every_backend!(
    bad_input_names_every_offending_field_and_writes_nothing,
    a_huge_invalid_batch_still_gets_a_readable_invalid_argument,
);
