//! Accrual runs, carry-over, freezes and the ends of assignments over gRPC: the ledger server on
//! port 0 with a real database and a manual clock, driven by the generated client.

use hrmesh_mesh::testing::{reason_of, violated_fields};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use hrmesh_domain::ManualClock;
use hrmesh_ledger_server::{LedgerConfig, LedgerServer};
use hrmesh_ledger_store::SeaLedgerStore;
use hrmesh_mesh::auth::ActorType;
use hrmesh_mesh::client::MeshChannel;
use hrmesh_mesh::testing::{Backend, TestDatabase};
use hrmesh_proto::common::DateRange;
use hrmesh_proto::ledger::ledger_service_client::LedgerServiceClient;
use hrmesh_proto::ledger::*;
use tonic::{Code, Status};

struct Harness {
    client: LedgerServiceClient<MeshChannel>,
    clock: ManualClock,
    server: LedgerServer,
    /// The server's store, for what only the store offers (its retention kinds).
    store: SeaLedgerStore,
    _db: TestDatabase,
}

/// 2026-03-01 09:00 UTC.
fn clock() -> ManualClock {
    ManualClock::new(
        Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0)
            .single()
            .expect("time"),
    )
}

impl Harness {
    async fn start(backend: Backend, accrual_run_interval_secs: u64) -> Self {
        let db = TestDatabase::new(backend).await;
        let store = SeaLedgerStore::open(
            &db.url,
            hrmesh_ledger_server::events::encode,
            hrmesh_mesh::testing::keyring(),
        )
        .await
        .expect("open store");
        let mut config = LedgerConfig {
            // The worker runs only where a test says (0: off; RunAccruals still works).
            accrual_run_interval_secs,
            ..LedgerConfig::default()
        };
        hrmesh_mesh::testing::secure(&mut config.common);
        config.common.listen = "127.0.0.1:0".parse().expect("addr");
        let clock = clock();
        let server = LedgerServer::start_with(store.clone(), clock.clone(), &config)
            .await
            .expect("start server");
        let client =
            LedgerServiceClient::new(hrmesh_mesh::testing::admin_channel(&server.server.uri()));
        Harness {
            client,
            clock,
            server,
            store,
            _db: db,
        }
    }

    /// Policy "pto" (2 days a month, carry-over cap 5) assigned to e-1 from 2026-01-11.
    async fn with_pto(backend: Backend, accrual_run_interval_secs: u64) -> Self {
        let mut h = Self::start(backend, accrual_run_interval_secs).await;
        h.client
            .create_policy(policy_request("policy-1", "pto", "2", "5"))
            .await
            .expect("create policy");
        h.client
            .assign_policy(AssignPolicyRequest {
                request_id: "assign-1".into(),
                employee_id: "e-1".into(),
                policy_id: "pto".into(),
                effective_from: "2026-01-11".into(),
                effective_to: String::new(),
            })
            .await
            .expect("assign");
        h
    }

    async fn balance(&mut self, employee_id: &str) -> Balance {
        self.client
            .get_balance(GetBalanceRequest {
                employee_id: employee_id.into(),
                policy_id: "pto".into(),
                as_of_date: String::new(),
            })
            .await
            .expect("balance")
            .into_inner()
    }

    async fn entries(&mut self, kind: EntryKind) -> Vec<Entry> {
        self.client
            .list_entries(ListEntriesRequest {
                employee_id: "e-1".into(),
                kinds: vec![kind as i32],
                page_size: 500,
                ..Default::default()
            })
            .await
            .expect("entries")
            .into_inner()
            .entries
    }

    fn client_as(&self, subject: &str, actor: ActorType, permissions: &[&str]) -> Client {
        let claims = hrmesh_mesh::testing::claims(subject, actor, permissions);
        LedgerServiceClient::new(hrmesh_mesh::testing::channel_as(
            &self.server.server.uri(),
            &claims,
        ))
    }
}

type Client = LedgerServiceClient<MeshChannel>;

fn policy_request(
    request_id: &str,
    policy_id: &str,
    amount: &str,
    cap: &str,
) -> CreatePolicyRequest {
    CreatePolicyRequest {
        request_id: request_id.into(),
        policy_id: policy_id.into(),
        policy: Some(Policy {
            resource_type: "pto".into(),
            unit: Unit::Days as i32,
            accrual: Some(AccrualRule {
                frequency: AccrualFrequency::Monthly as i32,
                amount: amount.into(),
                max_balance: String::new(),
            }),
            carry_over_cap: cap.into(),
            ..Default::default()
        }),
    }
}

fn run_request(request_id: &str, up_to: &str, employee_id: &str) -> RunAccrualsRequest {
    RunAccrualsRequest {
        request_id: request_id.into(),
        up_to_date: up_to.into(),
        employee_id: employee_id.into(),
        policy_id: String::new(),
    }
}

fn freeze_request(request_id: &str, from: &str, to: &str) -> FreezeAccrualsRequest {
    FreezeAccrualsRequest {
        request_id: request_id.into(),
        employee_id: "e-1".into(),
        policy_id: "pto".into(),
        dates: Some(DateRange {
            start_date: from.into(),
            end_date: to.into(),
        }),
        reason: "performance improvement plan".into(),
        reference: "pip-1".into(),
    }
}

async fn accruals_run_once_per_period_and_name_it(backend: Backend) {
    let mut h = Harness::with_pto(backend, 0).await;
    let run = h
        .client
        .run_accruals(run_request("run-1", "2026-03-01", "e-1"))
        .await
        .expect("run")
        .into_inner();
    assert_eq!((run.accounts, run.accrual_entries), (1, 3));
    let periods: Vec<(String, String, String)> = run
        .entries
        .iter()
        .map(|entry| {
            let period = entry.period.clone().expect("a period");
            (
                period.start_date,
                entry.effective_date.clone(),
                entry.amount.clone(),
            )
        })
        .collect();
    assert_eq!(
        periods,
        vec![
            // 21 of January's 31 days.
            ("2026-01-01".into(), "2026-01-11".into(), "1.354".into()),
            ("2026-02-01".into(), "2026-02-01".into(), "2".into()),
            ("2026-03-01".into(), "2026-03-01".into(), "2".into()),
        ]
    );
    // The same request id is the same answer; another run finds nothing due.
    let again = h
        .client
        .run_accruals(run_request("run-1", "2026-03-01", "e-1"))
        .await
        .expect("replay")
        .into_inner();
    assert_eq!(again, run);
    let everyone = h
        .client
        .run_accruals(run_request("run-2", "2026-03-01", ""))
        .await
        .expect("everyone")
        .into_inner();
    assert_eq!(everyone.accrual_entries, 0);
    assert_eq!(h.entries(EntryKind::Accrual).await.len(), 3);
    assert_eq!(h.balance("e-1").await.accrued, "5.354");
    let balances = h
        .client
        .list_balances(ListBalancesRequest {
            employee_id: "e-1".into(),
        })
        .await
        .expect("balances")
        .into_inner()
        .balances;
    assert_eq!(balances.len(), 1);
    assert_eq!(
        (
            balances[0].policy_id.as_str(),
            balances[0].available.as_str()
        ),
        ("pto", "5.354")
    );
}

async fn the_year_end_expires_what_exceeds_the_cap(backend: Backend) {
    let mut h = Harness::with_pto(backend, 0).await;
    h.client
        .run_accruals(run_request("run-1", "2026-12-31", ""))
        .await
        .expect("the year");
    // Not before the year is over.
    let early = h
        .client
        .run_accruals(run_request("run-early", "2027-01-01", ""))
        .await
        .expect("ahead of time")
        .into_inner();
    assert_eq!((early.expiry_entries, early.accrual_entries), (0, 0));
    h.clock.advance(chrono::Duration::days(306));
    let run = h
        .client
        .run_accruals(run_request("run-2", "2027-01-01", ""))
        .await
        .expect("the new year")
        .into_inner();
    assert_eq!((run.expiry_entries, run.accrual_entries), (1, 1));
    let expiries = h.entries(EntryKind::CarryOverExpiry).await;
    assert_eq!(expiries.len(), 1);
    // 1.354 + 11 x 2 = 23.354 at the year end; 5 carry over.
    assert_eq!(expiries[0].amount, "-18.354");
    assert_eq!(expiries[0].effective_date, "2026-12-31");
    let year = expiries[0].period.clone().expect("the policy year");
    assert_eq!(
        (year.start_date.as_str(), year.end_date.as_str()),
        ("2026-01-01", "2026-12-31")
    );
    assert_eq!(h.balance("e-1").await.balance, "7");
    h.client
        .run_accruals(run_request("run-3", "2027-01-01", "e-1"))
        .await
        .expect("again");
    assert_eq!(h.entries(EntryKind::CarryOverExpiry).await.len(), 1);
}

async fn a_freeze_stops_accruals_and_refuses_grants_until_lifted(backend: Backend) {
    let mut h = Harness::with_pto(backend, 0).await;
    let freeze = h
        .client
        .freeze_accruals(freeze_request("freeze-1", "2026-02-01", "2026-03-31"))
        .await
        .expect("freeze")
        .into_inner();
    h.client
        .run_accruals(run_request("run-1", "2026-04-01", ""))
        .await
        .expect("run");
    let starts: Vec<String> = h
        .entries(EntryKind::Accrual)
        .await
        .into_iter()
        .map(|entry| entry.period.expect("a period").start_date)
        .collect();
    assert_eq!(starts, vec!["2026-01-01", "2026-04-01"]);

    let grant = h
        .client
        .append_entries(AppendEntriesRequest {
            request_id: "bonus-1".into(),
            entries: vec![NewEntry {
                employee_id: "e-1".into(),
                policy_id: "pto".into(),
                kind: EntryKind::Accrual as i32,
                amount: "2".into(),
                effective_date: "2026-03-02".into(),
                reason: "bonus".into(),
                ..Default::default()
            }],
        })
        .await
        .expect_err("a grant inside the freeze");
    let (code, reason, metadata) = reason_of(&grant);
    assert_eq!(
        (code, reason.as_str()),
        (Code::FailedPrecondition, "ACCRUALS_FROZEN")
    );
    assert_eq!(metadata["freeze_id"], freeze.freeze_id);
    assert_eq!(metadata["reference"], "pip-1");

    let overlapping = h
        .client
        .freeze_accruals(freeze_request("freeze-2", "2026-03-15", "2026-05-31"))
        .await
        .expect_err("an overlapping freeze");
    assert_eq!(reason_of(&overlapping).1, "FREEZE_OVERLAPS");

    let lifted = h
        .client
        .unfreeze_accruals(UnfreezeAccrualsRequest {
            request_id: "unfreeze-1".into(),
            target: Some(FreezeTarget {
                target: Some(freeze_target::Target::Reference("pip-1".into())),
            }),
            employee_id: "e-1".into(),
            from_date: String::new(),
            reason: "the PIP was opened in error".into(),
        })
        .await
        .expect("unfreeze")
        .into_inner()
        .freezes;
    assert_eq!(lifted.len(), 1);
    assert_eq!(lifted[0].lifted_from, "2026-02-01");
    let run = h
        .client
        .run_accruals(run_request("run-2", "2026-04-01", ""))
        .await
        .expect("run again")
        .into_inner();
    assert_eq!(
        run.accrual_entries, 2,
        "February and March accrue once lifted"
    );
    assert_eq!(h.entries(EntryKind::Accrual).await.len(), 4);
    let extended = h
        .client
        .extend_freeze(ExtendFreezeRequest {
            request_id: "extend-1".into(),
            target: Some(FreezeTarget {
                target: Some(freeze_target::Target::FreezeId(freeze.freeze_id.clone())),
            }),
            employee_id: "e-1".into(),
            end_date: "2026-06-30".into(),
        })
        .await
        .expect_err("a lifted freeze is not extended");
    assert_eq!(reason_of(&extended).1, "FREEZE_NOT_EXTENDABLE");
}

async fn ending_an_assignment_voids_the_holds_after_it(backend: Backend) {
    let mut h = Harness::with_pto(backend, 0).await;
    h.client
        .run_accruals(run_request("run-1", "2026-03-01", ""))
        .await
        .expect("run");
    let hold = |request_id: &str, from: &str, to: &str| HoldDaysRequest {
        request_id: request_id.into(),
        employee_id: "e-1".into(),
        policy_id: "pto".into(),
        dates: Some(DateRange {
            start_date: from.into(),
            end_date: to.into(),
        }),
        reason: "time off".into(),
        ..Default::default()
    };
    let before = h
        .client
        .hold_days(hold("hold-1", "2026-03-09", "2026-03-10"))
        .await
        .expect("hold before")
        .into_inner();
    let after = h
        .client
        .hold_days(hold("hold-2", "2026-03-30", "2026-04-01"))
        .await
        .expect("hold across the end")
        .into_inner();
    let ended = h
        .client
        .end_assignments(EndAssignmentsRequest {
            request_id: "end-1".into(),
            employee_id: "e-1".into(),
            end_date: "2026-03-20".into(),
            reason: "leaves the company".into(),
            ..Default::default()
        })
        .await
        .expect("end")
        .into_inner();
    assert_eq!(ended.voided_hold_ids, vec![after.hold_id.clone()]);
    assert!(ended.posted_hold_ids.is_empty());
    assert_eq!(ended.assignments[0].effective_to, "2026-03-20");
    let state = |hold: &Hold| HoldState::try_from(hold.state).expect("a state");
    let now_before = h
        .client
        .get_hold(GetHoldRequest {
            hold_id: before.hold_id.clone(),
        })
        .await
        .expect("hold")
        .into_inner();
    assert_eq!(state(&now_before), HoldState::Pending);
    let refused = h
        .client
        .hold_days(hold("hold-3", "2026-03-23", "2026-03-23"))
        .await
        .expect_err("no assignment after the end");
    assert_eq!(violated_fields(&refused), vec!["employee_id"]);
    let reopened = h
        .client
        .reopen_assignments(ReopenAssignmentsRequest {
            request_id: "reopen-1".into(),
            ended_by_request_id: "end-1".into(),
            employee_id: "e-1".into(),
        })
        .await
        .expect("reopen")
        .into_inner();
    assert_eq!(reopened.assignments[0].effective_to, "");
}

async fn bad_input_names_the_field_and_writes_nothing(backend: Backend) {
    let mut h = Harness::with_pto(backend, 0).await;
    let cases: Vec<(Status, Vec<&str>)> = vec![
        (
            h.client
                .run_accruals(run_request("run-x", "2026-13-01", "e-1"))
                .await
                .expect_err("a bad date"),
            vec!["up_to_date"],
        ),
        (
            h.client
                .run_accruals(run_request("run-y", "2030-01-01", ""))
                .await
                .expect_err("years ahead"),
            vec!["up_to_date"],
        ),
        (
            h.client
                .freeze_accruals(freeze_request("freeze-x", "2026-04-01", "2026-03-01"))
                .await
                .expect_err("an end before the start"),
            vec!["dates.end_date"],
        ),
        (
            h.client
                .freeze_accruals(FreezeAccrualsRequest {
                    reason: String::new(),
                    policy_id: "unknown".into(),
                    ..freeze_request("freeze-y", "2026-04-01", "2026-05-01")
                })
                .await
                .expect_err("no reason, no policy"),
            vec!["policy_id", "reason"],
        ),
        (
            h.client
                .freeze_accruals(FreezeAccrualsRequest {
                    employee_id: "e-9".into(),
                    ..freeze_request("freeze-z", "2026-04-01", "2026-05-01")
                })
                .await
                .expect_err("never assigned"),
            vec!["employee_id"],
        ),
        (
            h.client
                .unfreeze_accruals(UnfreezeAccrualsRequest {
                    request_id: "unfreeze-x".into(),
                    ..Default::default()
                })
                .await
                .expect_err("no target"),
            vec!["target"],
        ),
        (
            h.client
                .unfreeze_accruals(UnfreezeAccrualsRequest {
                    request_id: "unfreeze-y".into(),
                    target: Some(FreezeTarget {
                        target: Some(freeze_target::Target::Reference("pip-1".into())),
                    }),
                    ..Default::default()
                })
                .await
                .expect_err("a reference without its employee"),
            vec!["employee_id"],
        ),
        (
            h.client
                .end_assignments(EndAssignmentsRequest {
                    request_id: "end-x".into(),
                    employee_id: "e-1".into(),
                    end_date: "soon".into(),
                    ..Default::default()
                })
                .await
                .expect_err("a bad end"),
            vec!["end_date"],
        ),
        (
            h.client
                .create_policy(CreatePolicyRequest {
                    policy: Some(Policy {
                        year_start_month: 13,
                        ..policy_request("policy-x", "pto-x", "1", "")
                            .policy
                            .expect("policy")
                    }),
                    ..policy_request("policy-x", "pto-x", "1", "")
                })
                .await
                .expect_err("a policy year starting in no month"),
            vec!["policy.year_start_month"],
        ),
        (
            h.client
                .create_policy(CreatePolicyRequest {
                    policy: Some(Policy {
                        accrual: Some(AccrualRule {
                            frequency: AccrualFrequency::Biweekly as i32,
                            amount: "1".into(),
                            max_balance: "-1".into(),
                        }),
                        ..policy_request("policy-y", "pto-y", "1", "")
                            .policy
                            .expect("policy")
                    }),
                    ..policy_request("policy-y", "pto-y", "1", "")
                })
                .await
                .expect_err("a negative maximum balance"),
            vec!["policy.accrual.max_balance"],
        ),
    ];
    for (status, expected) in cases {
        let mut fields = violated_fields(&status);
        fields.sort();
        let mut expected: Vec<String> = expected.into_iter().map(str::to_owned).collect();
        expected.sort();
        for field in &expected {
            assert!(fields.contains(field), "{field} in {fields:?}: {status:?}");
        }
    }
    let freezes = h
        .client
        .list_freezes(ListFreezesRequest {
            employee_id: "e-1".into(),
            policy_id: String::new(),
        })
        .await
        .expect("freezes")
        .into_inner()
        .freezes;
    assert!(freezes.is_empty(), "nothing was written: {freezes:?}");
    assert!(h.entries(EntryKind::Accrual).await.is_empty());
    let assignments = h
        .client
        .list_assignments(ListAssignmentsRequest {
            employee_id: "e-1".into(),
            ..Default::default()
        })
        .await
        .expect("assignments")
        .into_inner()
        .assignments;
    assert_eq!(assignments[0].effective_to, "");
}

async fn only_services_and_admins_run_freeze_and_end(backend: Backend) {
    let mut h = Harness::with_pto(backend, 0).await;
    let permissions = &["ledger.create", "ledger.read", "ledger.update"];
    let mut employee = h.client_as("e-1", ActorType::Employee, permissions);
    let denied = [
        employee
            .run_accruals(run_request("run-u", "2026-03-01", "e-1"))
            .await
            .expect_err("run"),
        employee
            .freeze_accruals(freeze_request("freeze-u", "2026-04-01", "2026-05-01"))
            .await
            .expect_err("freeze"),
        employee
            .end_assignments(EndAssignmentsRequest {
                request_id: "end-u".into(),
                employee_id: "e-1".into(),
                end_date: "2026-03-20".into(),
                ..Default::default()
            })
            .await
            .expect_err("end"),
    ];
    for status in denied {
        assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    }
    let mut colleague = h.client_as("e-2", ActorType::Employee, permissions);
    let read = colleague
        .list_freezes(ListFreezesRequest {
            employee_id: "e-1".into(),
            policy_id: String::new(),
        })
        .await
        .expect_err("another employee's freezes");
    assert_eq!(read.code(), Code::PermissionDenied);

    // A service naming e-3 cannot lift e-1's freeze.
    let freeze = h
        .client
        .freeze_accruals(freeze_request("freeze-1", "2026-04-01", "2026-05-01"))
        .await
        .expect("freeze")
        .into_inner();
    let mut service = h.client_as(
        "hrmesh-orchestrator",
        ActorType::System,
        &[
            "ledger.create",
            "ledger.read",
            "ledger.update",
            "ledger.admin",
        ],
    );
    let refused = service
        .unfreeze_accruals(UnfreezeAccrualsRequest {
            request_id: "unfreeze-s".into(),
            target: Some(FreezeTarget {
                target: Some(freeze_target::Target::FreezeId(freeze.freeze_id.clone())),
            }),
            employee_id: "e-3".into(),
            from_date: String::new(),
            reason: "not theirs".into(),
        })
        .await
        .expect_err("another employee's freeze");
    let (code, reason, metadata) = reason_of(&refused);
    assert_eq!(
        (code, reason.as_str(), metadata["record"].as_str()),
        (
            Code::PermissionDenied,
            "RECORD_OF_ANOTHER_EMPLOYEE",
            "freeze"
        )
    );
    let freezes = h
        .client
        .list_freezes(ListFreezesRequest {
            employee_id: "e-1".into(),
            policy_id: String::new(),
        })
        .await
        .expect("freezes")
        .into_inner()
        .freezes;
    assert_eq!(freezes[0].lifted_from, "", "unchanged");
}

async fn the_worker_catches_up_at_start(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    {
        // A ledger that ran no accruals (its worker off), like one that was down.
        let store = SeaLedgerStore::open(
            &db.url,
            hrmesh_ledger_server::events::encode,
            hrmesh_mesh::testing::keyring(),
        )
        .await
        .expect("open store");
        let mut config = LedgerConfig {
            // Accruals run when a test asks (RunAccruals), not on the wall clock.
            accrual_run_interval_secs: 0,
            ..LedgerConfig::default()
        };
        hrmesh_mesh::testing::secure(&mut config.common);
        config.common.listen = "127.0.0.1:0".parse().expect("addr");
        let server = LedgerServer::start_with(store, clock(), &config)
            .await
            .expect("start");
        let mut client =
            LedgerServiceClient::new(hrmesh_mesh::testing::admin_channel(&server.server.uri()));
        client
            .create_policy(policy_request("policy-1", "pto", "2", ""))
            .await
            .expect("policy");
        client
            .assign_policy(AssignPolicyRequest {
                request_id: "assign-1".into(),
                employee_id: "e-1".into(),
                policy_id: "pto".into(),
                effective_from: "2026-01-01".into(),
                effective_to: String::new(),
            })
            .await
            .expect("assign");
        server.stop().await.expect("stop");
    }
    let store = SeaLedgerStore::open(
        &db.url,
        hrmesh_ledger_server::events::encode,
        hrmesh_mesh::testing::keyring(),
    )
    .await
    .expect("reopen store");
    let mut config = LedgerConfig {
        // Accruals run when a test asks (RunAccruals), not on the wall clock.
        accrual_run_interval_secs: 3600,
        ..LedgerConfig::default()
    };
    hrmesh_mesh::testing::secure(&mut config.common);
    config.common.listen = "127.0.0.1:0".parse().expect("addr");
    let server = LedgerServer::start_with(store, clock(), &config)
        .await
        .expect("restart with the worker");
    let mut client =
        LedgerServiceClient::new(hrmesh_mesh::testing::admin_channel(&server.server.uri()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let accrued = loop {
        let balance = client
            .get_balance(GetBalanceRequest {
                employee_id: "e-1".into(),
                policy_id: "pto".into(),
                as_of_date: String::new(),
            })
            .await
            .expect("balance")
            .into_inner();
        if balance.accrued != "0" || tokio::time::Instant::now() > deadline {
            break balance.accrued;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        accrued, "6",
        "January, February and March, applied at start"
    );
    server.stop().await.expect("stop");
}

async fn a_former_employees_ledger_is_archived_whole_once_the_period_is_over(backend: Backend) {
    use hrmesh_storage::retention::{Periods, Retention, verify};

    // e-1 has "pto" from the harness; e-2 and e-3 get it too.
    let h = Harness::with_pto(backend, 0).await;
    let (store, server, mut client) = (h.store.clone(), h.server, h.client);
    for employee in ["e-2", "e-3"] {
        client
            .assign_policy(AssignPolicyRequest {
                request_id: format!("assign-{employee}"),
                employee_id: employee.into(),
                policy_id: "pto".into(),
                effective_from: "2026-01-11".into(),
                effective_to: String::new(),
            })
            .await
            .expect("assign");
    }
    client
        .run_accruals(run_request("run-1", "2026-03-01", ""))
        .await
        .expect("run");
    // e-3 still has a pending hold before their last day: their ledger is not settled.
    client
        .hold_days(HoldDaysRequest {
            request_id: "hold-e-3".into(),
            employee_id: "e-3".into(),
            policy_id: "pto".into(),
            dates: Some(DateRange {
                start_date: "2026-03-09".into(),
                end_date: "2026-03-09".into(),
            }),
            reason: "time off".into(),
            ..Default::default()
        })
        .await
        .expect("hold");
    for employee in ["e-1", "e-3"] {
        client
            .end_assignments(EndAssignmentsRequest {
                request_id: format!("end-{employee}"),
                employee_id: employee.into(),
                end_date: "2026-03-20".into(),
                reason: "leaves the company".into(),
                ..Default::default()
            })
            .await
            .expect("end");
    }
    let entries = |employee: &str| ListEntriesRequest {
        employee_id: employee.into(),
        page_size: 500,
        ..Default::default()
    };
    let e1_entries = client
        .list_entries(entries("e-1"))
        .await
        .expect("entries")
        .into_inner()
        .entries;
    assert!(!e1_entries.is_empty());

    let archive = tempfile::tempdir().expect("archive");
    let dir = archive.path().join("ledger");
    let retention = Retention::new(
        "ledger",
        dir.clone(),
        Periods::default()
            .apply(store.record_kinds())
            .expect("kinds"),
        std::sync::Arc::new(store.connection().clone()),
    );
    // Seven years after the last day (a month in), but not yet eight after the first.
    let now = Utc
        .with_ymd_and_hms(2033, 4, 20, 0, 0, 0)
        .single()
        .expect("time");
    let report = retention.run(now).await.expect("archive");
    assert_eq!(
        report.get("former_employee_ledgers"),
        Some(&1),
        "{report:?}"
    );

    let gone = client
        .list_entries(entries("e-1"))
        .await
        .expect("entries")
        .into_inner()
        .entries;
    assert!(gone.is_empty(), "e-1's ledger left the live store");
    for kept in ["e-2", "e-3"] {
        let left = client
            .list_entries(entries(kept))
            .await
            .expect("entries")
            .into_inner()
            .entries;
        assert!(!left.is_empty(), "{kept} kept");
    }

    assert!(verify(&dir, "ledger").expect("verify") >= 1);
    let files = hrmesh_storage::testing::archive_files(&dir);
    let (_, ledger) = files
        .iter()
        .find(|(name, _)| name.starts_with("former_employee_ledgers/"))
        .expect("the ledger's file");
    let line: serde_json::Value =
        serde_json::from_slice(ledger.split(|b| *b == b'\n').next().expect("a line"))
            .expect("json");
    assert_eq!(line["key"], "e-1");
    assert_eq!(
        line["record"]["entries"].as_array().map(Vec::len),
        Some(e1_entries.len()),
        "every entry archived"
    );
    assert_eq!(
        line["record"]["assignments"][0]["effective_to"],
        "2026-03-20"
    );

    let report = retention.run(now).await.expect("again");
    assert!(report.is_empty(), "{report:?}");
    assert_eq!(
        hrmesh_storage::testing::archive_files(&dir),
        files,
        "a second run changes nothing"
    );
    server.stop().await.expect("stop");
}

hrmesh_mesh::test_on_every_backend!(
    accruals_run_once_per_period_and_name_it,
    the_year_end_expires_what_exceeds_the_cap,
    a_freeze_stops_accruals_and_refuses_grants_until_lifted,
    ending_an_assignment_voids_the_holds_after_it,
    bad_input_names_the_field_and_writes_nothing,
    only_services_and_admins_run_freeze_and_end,
    the_worker_catches_up_at_start,
    a_former_employees_ledger_is_archived_whole_once_the_period_is_over,
);
