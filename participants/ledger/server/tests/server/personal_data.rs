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
    // The answers the inbox recorded about e-1 are gone with their key: a repeated request is
    // told so, and never gets the reason back.
    let replayed = h
        .client
        .append_entries(adjustment("adjust-1", "1", &secret("adjustment")))
        .await
        .expect_err("the recorded answer was erased");
    assert_eq!(replayed.code(), Code::NotFound, "{replayed:?}");
    assert!(!replayed.message().contains("zq"), "{replayed:?}");
    let mut other = adjustment("adjust-2", "1", &secret("other"));
    other.entries[0].employee_id = "e-2".into();
    let kept = h
        .client
        .append_entries(other)
        .await
        .expect("another employee's answers stay")
        .into_inner();
    assert_eq!(kept.entries[0].reason, secret("other"));
    h.server.stop().await.expect("clean shutdown");
}

/// A second replica of the ledger on the harness's database, sealing with `keyring`.
async fn replica(
    db: &TestDatabase,
    clock: &ManualClock,
    keyring: &str,
) -> anyhow::Result<(
    SeaLedgerStore,
    LedgerServer,
    LedgerServiceClient<MeshChannel>,
)> {
    let keyring = std::sync::Arc::new(hrmesh_crypto::Keyring::from_toml(keyring)?);
    let store =
        SeaLedgerStore::open(&db.url, hrmesh_ledger_server::events::encode, keyring).await?;
    let mut config = LedgerConfig {
        accrual_run_interval_secs: 0,
        ..LedgerConfig::default()
    };
    hrmesh_mesh::testing::secure(&mut config.common);
    config.common.listen = "127.0.0.1:0".parse()?;
    let server = LedgerServer::start_with(store.clone(), clock.clone(), &config).await?;
    let client =
        LedgerServiceClient::new(hrmesh_mesh::testing::admin_channel(&server.server.uri()));
    Ok((store, server, client))
}

async fn reasons(client: &mut LedgerServiceClient<MeshChannel>, employee: &str) -> Vec<String> {
    client
        .list_entries(ListEntriesRequest {
            employee_id: employee.into(),
            page_size: 500,
            ..Default::default()
        })
        .await
        .expect("list entries")
        .into_inner()
        .entries
        .into_iter()
        .map(|entry| entry.reason)
        .filter(|reason| !reason.is_empty())
        .collect()
}

fn adjustment_for(employee: &str, request_id: &str) -> AppendEntriesRequest {
    let mut request = adjustment(request_id, "1", &secret(employee));
    request.entries[0].employee_id = employee.into();
    request
}

/// A new keyring version seals new writes at once; an interrupted re-wrap leaves every reason
/// readable and a re-run finishes it; then the old version can be retired, and no longer the new.
async fn rotation_survives_an_interrupted_rewrap(backend: Backend) {
    let mut h = Harness::with_pto(backend).await;
    let employees = ["e-1", "e-2", "e-3", "e-4"];
    for employee in employees {
        if employee != "e-1" {
            h.client
                .assign_policy(assign_request(
                    &format!("assign-{employee}"),
                    employee,
                    "pto-standard",
                ))
                .await
                .expect("assign");
        }
        h.client
            .append_entries(adjustment_for(employee, &format!("adjust-{employee}")))
            .await
            .expect("adjust");
    }
    // Every replica gets the new keyring before any of it writes: the first one stops.
    let Harness {
        server: first,
        clock,
        db: database,
        ..
    } = h;
    first.stop().await.expect("clean shutdown");
    let v1 = hrmesh_mesh::testing::keyring_text();

    // Version 2 is added; a replica with it seals new writes under it at once. (Its own key
    // moved when it started.)
    let v2 = hrmesh_crypto::rotate(v1).expect("rotate");
    let (store, server, mut client) = replica(&database, &clock, &v2)
        .await
        .expect("a replica on version 2");
    let db = store.connection().clone();
    let vault = store.vault().clone();
    assert_eq!(vault.versions_in_use(&db).await.expect("versions"), [1, 2]);
    client
        .assign_policy(assign_request("assign-e-5", "e-5", "pto-standard"))
        .await
        .expect("assign");
    client
        .append_entries(adjustment_for("e-5", "adjust-e-5"))
        .await
        .expect("adjust");

    // The re-wrap is interrupted after one small batch: nothing is lost, every reason reads.
    assert_eq!(vault.rewrap(&db, 2).await.expect("a batch"), 2);
    assert_eq!(vault.versions_in_use(&db).await.expect("versions"), [1, 2]);
    for employee in ["e-1", "e-2", "e-3", "e-4", "e-5"] {
        assert_eq!(
            reasons(&mut client, employee).await,
            [secret(employee)],
            "{employee}"
        );
    }
    // Run again (as the job does after a restart): it finishes, and once more moves nothing.
    let moved = hrmesh_mesh::crypto::rewrap_all(&vault, &db)
        .await
        .expect("re-run");
    assert_eq!(moved, 2, "the keys of e-1…e-4, less the two moved");
    assert_eq!(
        hrmesh_mesh::crypto::rewrap_all(&vault, &db)
            .await
            .expect("again"),
        0
    );
    assert_eq!(vault.versions_in_use(&db).await.expect("versions"), [2]);
    server.stop().await.expect("stop");

    // Version 1 retired: a replica with version 2 alone reads everything.
    let retired: String = v2
        .lines()
        .filter(|line| !line.starts_with("1 = "))
        .map(|line| format!("{line}\n"))
        .collect();
    let (_store, server, mut client) = replica(&database, &clock, &retired)
        .await
        .expect("version 2 alone");
    for employee in ["e-1", "e-2", "e-3", "e-4", "e-5"] {
        assert_eq!(
            reasons(&mut client, employee).await,
            [secret(employee)],
            "{employee}"
        );
    }
    server.stop().await.expect("stop");
    // A keyring without version 2 can no longer start: the keys are wrapped by it.
    let refused = replica(&database, &clock, v1)
        .await
        .err()
        .expect("version 1 alone is refused");
    assert!(
        format!("{refused:#}").contains("keyring version 2"),
        "{refused:#}"
    );
}

hrmesh_mesh::test_on_every_backend!(
    reasons_are_sealed_at_rest_and_read_in_the_clear,
    erasure_shreds_reasons_and_keeps_the_ledger,
    rotation_survives_an_interrupted_rewrap,
);
