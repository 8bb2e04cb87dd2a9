//! The reasons people write on entries, holds and freezes are sealed at rest: the database holds
//! none of them in the clear (a scan of the SQLite files, or of every PostgreSQL table, finds
//! none), every read and every replayed answer gives them in the clear, and a reason moved to
//! another record is refused, never returned.

use hrmesh_mesh::testing::Backend;
use sea_orm::{ConnectionTrait, Statement};
use tonic::Code;

use super::*;

/// Text no test writes anywhere else.
fn secret(what: &str) -> String {
    format!("zq{what}plaintext")
}

fn adjustment(request_id: &str, amount: &str, reason: &str) -> AppendEntriesRequest {
    AppendEntriesRequest {
        request_id: request_id.into(),
        entries: vec![NewEntry {
            employee_id: "e-1".into(),
            policy_id: "pto-standard".into(),
            kind: EntryKind::Adjustment as i32,
            amount: amount.into(),
            effective_date: "2026-02-01".into(),
            reason: reason.into(),
            ..Default::default()
        }],
    }
}

async fn reasons_are_sealed_at_rest_and_read_in_the_clear(backend: Backend) {
    let mut h = Harness::with_pto(backend).await;
    let adjusted = h
        .client
        .append_entries(adjustment("adjust-1", "1", &secret("adjustment")))
        .await
        .expect("adjust")
        .into_inner()
        .entries
        .remove(0);
    assert_eq!(adjusted.reason, secret("adjustment"));
    let hold = HoldDaysRequest {
        reason: secret("hold"),
        ..hold_request("hold-1", "2026-03-02", "2026-03-03")
    };
    let held = h.client.hold_days(hold.clone()).await.expect("hold");
    assert_eq!(held.into_inner().reason, secret("hold"));
    let second = HoldDaysRequest {
        reason: secret("second-hold"),
        ..hold_request("hold-2", "2026-03-09", "2026-03-09")
    };
    let second = h.client.hold_days(second).await.expect("hold").into_inner();
    h.client
        .void_hold(VoidHoldRequest {
            request_id: "void-2".into(),
            hold_id: second.hold_id.clone(),
            reason: secret("void"),
            ..Default::default()
        })
        .await
        .expect("void");
    let frozen = h
        .client
        .freeze_accruals(FreezeAccrualsRequest {
            request_id: "freeze-1".into(),
            employee_id: "e-1".into(),
            policy_id: "pto-standard".into(),
            dates: Some(DateRange {
                start_date: "2026-06-01".into(),
                end_date: "2026-08-31".into(),
            }),
            reason: secret("freeze"),
            reference: "pip-1".into(),
        })
        .await
        .expect("freeze")
        .into_inner();
    assert_eq!(frozen.reason, secret("freeze"));
    let reversal = h
        .client
        .reverse_entry(ReverseEntryRequest {
            request_id: "reverse-1".into(),
            entry_id: adjusted.entry_id,
            reason: secret("reversal"),
            ..Default::default()
        })
        .await
        .expect("reverse")
        .into_inner();
    assert_eq!(reversal.reason, secret("reversal"));

    // Every read, and a replayed answer, gives the reasons in the clear.
    let replayed = h.client.hold_days(hold).await.expect("replay").into_inner();
    assert_eq!(replayed.reason, secret("hold"));
    let first = h
        .client
        .get_hold(GetHoldRequest {
            hold_id: replayed.hold_id.clone(),
        })
        .await
        .expect("get hold")
        .into_inner();
    assert_eq!(first.reason, secret("hold"));
    let reasons: Vec<String> = h
        .client
        .list_entries(ListEntriesRequest {
            employee_id: "e-1".into(),
            page_size: 500,
            ..Default::default()
        })
        .await
        .expect("list entries")
        .into_inner()
        .entries
        .into_iter()
        .map(|entry| entry.reason)
        .collect();
    for what in ["adjustment", "hold", "second-hold", "void", "reversal"] {
        assert!(reasons.contains(&secret(what)), "{what}: {reasons:?}");
    }
    let freezes = h
        .client
        .list_freezes(ListFreezesRequest {
            employee_id: "e-1".into(),
            policy_id: String::new(),
        })
        .await
        .expect("list freezes")
        .into_inner()
        .freezes;
    assert_eq!(freezes[0].reason, secret("freeze"));

    // The files hold none of them.
    let stored = hrmesh_mesh::testing::stored(backend, &h.db.url).await;
    assert!(
        stored.contains(&first.hold_id),
        "the scan reads the records"
    );
    assert!(stored.contains("pip-1"), "references stay plain");
    for what in [
        "adjustment",
        "hold",
        "second-hold",
        "void",
        "reversal",
        "freeze",
    ] {
        assert!(
            !stored.contains(&secret(what)),
            "{what}'s reason is stored in the clear"
        );
    }

    // A sealed reason copied onto another hold does not open there: refused, never returned.
    let db = h.db.connect().await;
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        "UPDATE holds SET reason = (SELECT reason FROM holds WHERE hold_id = $1) \
         WHERE hold_id = $2",
        [first.hold_id.clone().into(), second.hold_id.clone().into()],
    ))
    .await
    .expect("move a ciphertext");
    let refused = h
        .client
        .get_hold(GetHoldRequest {
            hold_id: second.hold_id.clone(),
        })
        .await
        .expect_err("a moved ciphertext is refused");
    assert_eq!(refused.code(), Code::Internal, "{refused:?}");
    assert!(!refused.message().contains("zq"), "{refused:?}");
    h.server.stop().await.expect("clean shutdown");
}

async fn erasure_shreds_reasons_and_keeps_the_ledger(backend: Backend) {
    let mut h = Harness::with_pto(backend).await;
    h.client
        .append_entries(adjustment("adjust-1", "1", &secret("adjustment")))
        .await
        .expect("adjust");
    let hold = h
        .client
        .hold_days(HoldDaysRequest {
            reason: secret("hold"),
            ..hold_request("hold-1", "2026-03-02", "2026-03-03")
        })
        .await
        .expect("hold")
        .into_inner();
    h.client
        .assign_policy(assign_request("assign-2", "e-2", "pto-standard"))
        .await
        .expect("assign");
    let mut other = adjustment("adjust-2", "1", &secret("other"));
    other.entries[0].employee_id = "e-2".into();
    h.client.append_entries(other).await.expect("adjust e-2");
    let before = h.balance("2026-12-31").await;

    let erase = hrmesh_proto::common::ErasePersonalDataRequest {
        request_id: "erase-1".into(),
        employee_id: "e-1".into(),
    };
    let erased = h
        .client
        .erase_personal_data(erase.clone())
        .await
        .expect("erase")
        .into_inner();
    assert_eq!(
        (erased.employee_id.as_str(), erased.keys_destroyed),
        ("e-1", 1)
    );
    let again = h
        .client
        .erase_personal_data(erase)
        .await
        .expect("repeat")
        .into_inner();
    assert_eq!(again, erased, "a repeat answers the first erasure");

    let entries = h
        .client
        .list_entries(ListEntriesRequest {
            employee_id: "e-1".into(),
            page_size: 500,
            ..Default::default()
        })
        .await
        .expect("list entries")
        .into_inner()
        .entries;
    let erased_reasons = entries
        .iter()
        .filter(|entry| entry.reason == hrmesh_crypto::ERASED)
        .count();
    assert_eq!(
        erased_reasons, 3,
        "the adjustment and both held days: {entries:?}"
    );
    assert!(entries.iter().all(|entry| !entry.reason.contains("zq")));
    let read = h
        .client
        .get_hold(GetHoldRequest {
            hold_id: hold.hold_id,
        })
        .await
        .expect("get hold")
        .into_inner();
    assert_eq!(read.reason, hrmesh_crypto::ERASED);
    assert_eq!(read.total, hold.total, "the hold itself stays");
    assert_eq!(h.balance("2026-12-31").await, before, "balances stay");
    let others = h
        .client
        .list_entries(ListEntriesRequest {
            employee_id: "e-2".into(),
            ..Default::default()
        })
        .await
        .expect("list e-2")
        .into_inner()
        .entries;
    assert!(
        others.iter().any(|entry| entry.reason == secret("other")),
        "another employee's reasons stay: {others:?}"
    );
    h.server.stop().await.expect("clean shutdown");
}

hrmesh_mesh::test_on_every_backend!(
    reasons_are_sealed_at_rest_and_read_in_the_clear,
    erasure_shreds_reasons_and_keeps_the_ledger,
);
