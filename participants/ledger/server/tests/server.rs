//! The ledger's gRPC server on port 0 with a real database, driven by the generated client.

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
use tonic_types::StatusExt;

struct Harness {
    client: LedgerServiceClient<MeshChannel>,
    clock: ManualClock,
    server: LedgerServer,
    _db: TestDatabase,
}

impl Harness {
    async fn start(backend: Backend) -> Self {
        let db = TestDatabase::new(backend).await;
        let store = SeaLedgerStore::open(&db.url).await.expect("open store");
        let clock = ManualClock::new(
            Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0)
                .single()
                .expect("time"),
        );
        let mut config = LedgerConfig {
            // Accruals run when a test asks (RunAccruals), not on the wall clock.
            accrual_run_interval_secs: 0,
            ..LedgerConfig::default()
        };
        hrmesh_mesh::testing::secure(&mut config.common);
        config.common.listen = "127.0.0.1:0".parse().expect("addr");
        config.common.cors_allowed_origins = vec!["https://hr.example.test".into()];
        let server = LedgerServer::start_with(store, clock.clone(), &config)
            .await
            .expect("start server");
        let client =
            LedgerServiceClient::new(hrmesh_mesh::testing::admin_channel(&server.server.uri()));
        Harness {
            client,
            clock,
            server,
            _db: db,
        }
    }

    /// Policy "pto-standard" (days, no negative balance), assigned to e-1, with 10 days accrued.
    async fn with_pto(backend: Backend) -> Self {
        let mut harness = Self::start(backend).await;
        harness
            .client
            .create_policy(create_policy_request("policy-1", "pto-standard"))
            .await
            .expect("create policy");
        harness
            .client
            .assign_policy(assign_request("assign-1", "e-1", "pto-standard"))
            .await
            .expect("assign");
        harness
            .client
            .append_entries(accrual_request("accrue-1", "e-1", "10", "2026-01-31"))
            .await
            .expect("accrue");
        harness
    }

    async fn entry_count(&mut self, employee_id: &str) -> usize {
        self.client
            .list_entries(ListEntriesRequest {
                employee_id: employee_id.into(),
                page_size: 500,
                ..Default::default()
            })
            .await
            .expect("list entries")
            .into_inner()
            .entries
            .len()
    }

    async fn balance(&mut self, as_of: &str) -> Balance {
        self.client
            .get_balance(GetBalanceRequest {
                employee_id: "e-1".into(),
                policy_id: "pto-standard".into(),
                as_of_date: as_of.into(),
            })
            .await
            .expect("balance")
            .into_inner()
    }
}

fn create_policy_request(request_id: &str, policy_id: &str) -> CreatePolicyRequest {
    CreatePolicyRequest {
        request_id: request_id.into(),
        policy_id: policy_id.into(),
        policy: Some(Policy {
            resource_type: "pto".into(),
            unit: Unit::Days as i32,
            accrual: Some(AccrualRule {
                frequency: AccrualFrequency::Monthly as i32,
                amount: "1.75".into(),
                max_balance: String::new(),
            }),
            allow_negative: false,
            carry_over_cap: "5".into(),
            ..Default::default()
        }),
    }
}

fn assign_request(request_id: &str, employee_id: &str, policy_id: &str) -> AssignPolicyRequest {
    AssignPolicyRequest {
        request_id: request_id.into(),
        employee_id: employee_id.into(),
        policy_id: policy_id.into(),
        effective_from: "2026-01-01".into(),
        effective_to: String::new(),
    }
}

fn accrual_request(
    request_id: &str,
    employee_id: &str,
    amount: &str,
    on: &str,
) -> AppendEntriesRequest {
    AppendEntriesRequest {
        request_id: request_id.into(),
        entries: vec![NewEntry {
            employee_id: employee_id.into(),
            policy_id: "pto-standard".into(),
            kind: EntryKind::Accrual as i32,
            amount: amount.into(),
            effective_date: on.into(),
            ..Default::default()
        }],
    }
}

fn hold_request(request_id: &str, from: &str, to: &str) -> HoldDaysRequest {
    HoldDaysRequest {
        request_id: request_id.into(),
        employee_id: "e-1".into(),
        policy_id: "pto-standard".into(),
        dates: Some(DateRange {
            start_date: from.into(),
            end_date: to.into(),
        }),
        reference: "time-off-request-9".into(),
        reason: "family visit".into(),
        ..Default::default()
    }
}

fn violated_fields(status: &Status) -> Vec<String> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let details = status.get_error_details();
    let bad_request = details.bad_request().expect("a google.rpc.BadRequest");
    bad_request
        .field_violations
        .iter()
        .map(|v| v.field.clone())
        .collect()
}

fn reason_of(status: &Status) -> (Code, String, std::collections::HashMap<String, String>) {
    let details = status.get_error_details();
    let info = details.error_info().expect("a google.rpc.ErrorInfo");
    assert_eq!(info.domain, "hrmesh");
    (status.code(), info.reason.clone(), info.metadata.clone())
}

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

/// A ledger client calling with a token of `subject`.
fn client_as(
    h: &Harness,
    subject: &str,
    actor: ActorType,
    permissions: &[&str],
    manages: &[&str],
) -> LedgerServiceClient<MeshChannel> {
    let mut claims = hrmesh_mesh::testing::claims(subject, actor, permissions);
    claims.manages = manages.iter().map(|id| (*id).to_owned()).collect();
    let channel = MeshChannel::lazy(
        &h.server.server.uri(),
        &hrmesh_mesh::tls::TlsConfig::default(),
        Some(hrmesh_mesh::testing::mint(&claims)),
    )
    .expect("a channel");
    LedgerServiceClient::new(channel)
}

const END_USER_PERMISSIONS: &[&str] = &["ledger.create", "ledger.read", "ledger.update"];

/// The orchestrator's identity: a service acts for anyone, so only the expected employee stands
/// between a request and another employee's records.
fn service_client(h: &Harness) -> LedgerServiceClient<MeshChannel> {
    client_as(
        h,
        "hrmesh-orchestrator",
        ActorType::System,
        &[
            "ledger.create",
            "ledger.read",
            "ledger.update",
            "ledger.admin",
        ],
        &[],
    )
}

/// PERMISSION_DENIED, RECORD_OF_ANOTHER_EMPLOYEE, naming the record and never its owner (e-1).
fn assert_record_of_another(status: &Status, record: &str, record_id: &str) {
    let (code, reason, metadata) = reason_of(status);
    assert_eq!(
        (code, reason.as_str()),
        (Code::PermissionDenied, "RECORD_OF_ANOTHER_EMPLOYEE"),
        "{status:?}"
    );
    assert_eq!(
        (metadata["record"].as_str(), metadata["record_id"].as_str()),
        (record, record_id)
    );
    assert!(
        !hrmesh_mesh::testing::names(status.message(), "e-1")
            && !metadata.values().any(|value| value == "e-1"),
        "the owner is never named: {status:?}"
    );
}

async fn a_request_naming_another_employee_leaves_their_holds_and_entries_unchanged(
    backend: Backend,
) {
    let mut h = Harness::with_pto(backend).await;
    let mut service = service_client(&h);
    // The records are e-1's; the requests name e-2.
    let hold = h
        .client
        .hold_days(hold_request("hold-1", "2026-03-10", "2026-03-10"))
        .await
        .expect("hold")
        .into_inner();
    let accrual = h
        .client
        .append_entries(accrual_request("accrue-extra", "e-1", "1", "2026-02-28"))
        .await
        .expect("accrue")
        .into_inner()
        .entries
        .remove(0);
    let entries_before = h.entry_count("e-1").await;
    let balance_before = h.balance("").await;
    let post_as = |request_id: &str, employee_id: &str| PostHoldRequest {
        request_id: request_id.into(),
        hold_id: hold.hold_id.clone(),
        employee_id: employee_id.into(),
    };

    let refused = service
        .post_hold(post_as("post-e2", "e-2"))
        .await
        .expect_err("post another employee's hold");
    assert_record_of_another(&refused, "hold", &hold.hold_id);
    let refused = service
        .void_hold(VoidHoldRequest {
            request_id: "void-e2".into(),
            hold_id: hold.hold_id.clone(),
            reason: "cancelled".into(),
            employee_id: "e-2".into(),
        })
        .await
        .expect_err("void another employee's hold");
    assert_record_of_another(&refused, "hold", &hold.hold_id);
    let refused = service
        .reverse_entry(ReverseEntryRequest {
            request_id: "reverse-e2".into(),
            entry_id: accrual.entry_id,
            reason: "mistake".into(),
            employee_id: "e-2".into(),
        })
        .await
        .expect_err("reverse another employee's entry");
    assert_record_of_another(&refused, "entry", &accrual.entry_id.to_string());

    let unchanged = h
        .client
        .get_hold(GetHoldRequest {
            hold_id: hold.hold_id.clone(),
        })
        .await
        .expect("get hold")
        .into_inner();
    assert_eq!(unchanged, hold, "the hold is still pending");
    assert_eq!(
        h.balance("").await,
        balance_before,
        "the balance is unchanged"
    );
    assert_eq!(
        h.entry_count("e-1").await,
        entries_before,
        "no entry appended"
    );

    // The refusal is the recorded answer to that request; the key is not free for another one.
    let replayed = service
        .post_hold(post_as("post-e2", "e-2"))
        .await
        .expect_err("replayed");
    assert_record_of_another(&replayed, "hold", &hold.hold_id);
    let reused = service
        .post_hold(post_as("post-e2", "e-1"))
        .await
        .expect_err("the key of another request");
    assert_eq!(reason_of(&reused).1, "IDEMPOTENCY_KEY_REUSED");
    let malformed = service
        .post_hold(post_as("post-bad", "not an id"))
        .await
        .expect_err("a malformed employee id");
    assert_eq!(violated_fields(&malformed), vec!["employee_id".to_owned()]);

    let posted = service
        .post_hold(post_as("post-e1", "e-1"))
        .await
        .expect("post the hold of the employee named")
        .into_inner();
    assert_eq!(posted.state, HoldState::Posted as i32);
    let second = h
        .client
        .hold_days(hold_request("hold-2", "2026-03-11", "2026-03-11"))
        .await
        .expect("hold")
        .into_inner();
    let voided = service
        .void_hold(VoidHoldRequest {
            request_id: "void-e1".into(),
            hold_id: second.hold_id.clone(),
            reason: "cancelled".into(),
            employee_id: "e-1".into(),
        })
        .await
        .expect("void the hold of the employee named")
        .into_inner();
    assert_eq!(voided.state, HoldState::Voided as i32);
    let reversal = service
        .reverse_entry(ReverseEntryRequest {
            request_id: "reverse-e1".into(),
            entry_id: accrual.entry_id,
            reason: "mistake".into(),
            employee_id: "e-1".into(),
        })
        .await
        .expect("reverse the entry of the employee named")
        .into_inner();
    assert_eq!(reversal.reverses_entry_id, accrual.entry_id);
    assert_eq!(h.balance("").await.accrued, "10");
}

async fn end_users_hold_post_and_void_only_for_whom_they_may(backend: Backend) {
    let mut h = Harness::with_pto(backend).await;
    h.client
        .assign_policy(assign_request("assign-2", "e-2", "pto-standard"))
        .await
        .expect("assign e-2");
    h.client
        .append_entries(accrual_request("accrue-2", "e-2", "10", "2026-01-31"))
        .await
        .expect("accrue e-2");
    let hold_of = |request_id: &str, employee_id: &str| HoldDaysRequest {
        employee_id: employee_id.into(),
        ..hold_request(request_id, "2026-03-10", "2026-03-10")
    };
    let theirs = h
        .client
        .hold_days(hold_of("hold-e2", "e-2"))
        .await
        .expect("e-2's hold")
        .into_inner();
    let state_of = |client: &mut LedgerServiceClient<MeshChannel>, hold_id: String| {
        let mut client = client.clone();
        async move {
            client
                .get_hold(GetHoldRequest { hold_id })
                .await
                .expect("get hold")
                .into_inner()
                .state
        }
    };
    let mut manager = client_as(
        &h,
        "m-1",
        ActorType::Manager,
        END_USER_PERMISSIONS,
        &["e-1"],
    );
    let post = |request_id: &str, hold_id: &str, employee_id: &str| PostHoldRequest {
        request_id: request_id.into(),
        hold_id: hold_id.into(),
        employee_id: employee_id.into(),
    };

    let refused = manager
        .post_hold(post("m-post-e2", &theirs.hold_id, ""))
        .await
        .expect_err("e-2 is not the manager's");
    let (code, reason, _) = reason_of(&refused);
    assert_eq!(
        (code, reason.as_str()),
        (Code::PermissionDenied, "NOT_MANAGER")
    );
    // Naming an employee the manager does manage does not get them someone else's hold.
    let refused = manager
        .post_hold(post("m-post-e2-as-e1", &theirs.hold_id, "e-1"))
        .await
        .expect_err("the hold is not e-1's");
    assert_record_of_another(&refused, "hold", &theirs.hold_id);
    assert_eq!(
        state_of(&mut h.client, theirs.hold_id.clone()).await,
        HoldState::Pending as i32
    );
    let refused = manager
        .hold_days(hold_of("m-hold-e2", "e-2"))
        .await
        .expect_err("not the manager's to request");
    assert_eq!(reason_of(&refused).1, "NOT_OWN_RECORD");

    let ours = manager
        .hold_days(hold_of("m-hold-e1", "e-1"))
        .await
        .expect("a hold for the manager's report")
        .into_inner();
    let posted = manager
        .post_hold(post("m-post-e1", &ours.hold_id, ""))
        .await
        .expect("the manager approves their report's hold")
        .into_inner();
    assert_eq!(posted.state, HoldState::Posted as i32);

    let mut employee = client_as(&h, "e-2", ActorType::Employee, END_USER_PERMISSIONS, &[]);
    let refused = employee
        .post_hold(post("e-post-own", &theirs.hold_id, "e-2"))
        .await
        .expect_err("nobody approves their own time off");
    assert_eq!(reason_of(&refused).1, "NOT_MANAGER");
    let refused = employee
        .void_hold(VoidHoldRequest {
            request_id: "e-void-e1".into(),
            hold_id: ours.hold_id.clone(),
            ..Default::default()
        })
        .await
        .expect_err("e-1's hold is not e-2's");
    assert_eq!(reason_of(&refused).1, "NOT_OWN_RECORD");
    let withdrawn = employee
        .void_hold(VoidHoldRequest {
            request_id: "e-void-own".into(),
            hold_id: theirs.hold_id.clone(),
            reason: "plans changed".into(),
            ..Default::default()
        })
        .await
        .expect("an employee withdraws their own request")
        .into_inner();
    assert_eq!(withdrawn.state, HoldState::Voided as i32);

    let accrual = h
        .client
        .list_entries(ListEntriesRequest {
            employee_id: "e-2".into(),
            kinds: vec![EntryKind::Accrual as i32],
            ..Default::default()
        })
        .await
        .expect("entries")
        .into_inner()
        .entries
        .remove(0);
    let entries_before = h.entry_count("e-2").await;
    let refused = employee
        .append_entries(accrual_request("e-accrue", "e-2", "30", "2026-02-28"))
        .await
        .expect_err("employees do not grant themselves days");
    assert_eq!(
        (reason_of(&refused).0, reason_of(&refused).1.as_str()),
        (Code::PermissionDenied, "ADMIN_ONLY")
    );
    let refused = manager
        .reverse_entry(ReverseEntryRequest {
            request_id: "m-reverse".into(),
            entry_id: accrual.entry_id,
            reason: "mistake".into(),
            ..Default::default()
        })
        .await
        .expect_err("managers do not reverse entries");
    assert_eq!(reason_of(&refused).1, "ADMIN_ONLY");
    assert_eq!(
        h.entry_count("e-2").await,
        entries_before,
        "nothing appended"
    );
}

async fn audit_events(h: &mut Harness, subject: &str) -> Vec<hrmesh_proto::common::AuditEvent> {
    h.client
        .list_audit_events(hrmesh_proto::common::ListAuditEventsRequest {
            subject: subject.into(),
            ..Default::default()
        })
        .await
        .expect("audit trail")
        .into_inner()
        .events
}

/// `request` with the on-behalf-of metadata a saga's participant calls carry.
fn on_behalf_of<T>(request: T, subject: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(request);
    request.metadata_mut().insert(
        hrmesh_mesh::mesh::ON_BEHALF_OF_HEADER,
        subject.parse().expect("a metadata value"),
    );
    request
}

async fn a_service_says_whom_it_acts_for_and_nobody_else_may(backend: Backend) {
    let mut h = Harness::with_pto(backend).await;
    let mut service = service_client(&h);
    let hold = service
        .hold_days(on_behalf_of(
            hold_request("saga-1:0:do", "2026-03-10", "2026-03-10"),
            "m-1",
        ))
        .await
        .expect("a service acting for a user")
        .into_inner();
    let events = audit_events(&mut h, "hrmesh-orchestrator").await;
    let event = events
        .iter()
        .find(|event| event.method == "/hrmesh.ledger.v1.LedgerService/HoldDays")
        .expect("the call is in the audit trail");
    assert_eq!(
        (event.actor_type.as_str(), event.on_behalf_of.as_str()),
        ("system", "m-1")
    );
    let own_calls = audit_events(&mut h, "test-admin").await;
    assert!(
        own_calls.iter().all(|event| event.on_behalf_of.is_empty()),
        "a person's own call acts for nobody else: {own_calls:?}"
    );

    let entries_before = h.entry_count("e-1").await;
    let mut employee = client_as(&h, "e-1", ActorType::Employee, END_USER_PERMISSIONS, &[]);
    let refused = employee
        .hold_days(on_behalf_of(
            hold_request("e-hold", "2026-03-11", "2026-03-11"),
            "m-1",
        ))
        .await
        .expect_err("only services act on behalf of others");
    let (code, reason, metadata) = reason_of(&refused);
    assert_eq!(
        (code, reason.as_str(), metadata["header"].as_str()),
        (
            Code::PermissionDenied,
            "DELEGATION_NOT_ALLOWED",
            hrmesh_mesh::mesh::ON_BEHALF_OF_HEADER
        )
    );
    assert_eq!(h.entry_count("e-1").await, entries_before, "no hold");
    assert!(
        audit_events(&mut h, "e-1").await.is_empty(),
        "a refused call is not audited"
    );
    let malformed = service
        .hold_days(on_behalf_of(
            hold_request("saga-2:0:do", "2026-03-11", "2026-03-11"),
            "m 1",
        ))
        .await
        .expect_err("a malformed subject");
    assert_eq!(
        violated_fields(&malformed),
        vec![hrmesh_mesh::mesh::ON_BEHALF_OF_HEADER.to_owned()]
    );
    assert_eq!(h.entry_count("e-1").await, entries_before);
    assert_eq!(hold.state, HoldState::Pending as i32);
}

async fn health_and_reflection_answer(backend: Backend) {
    let h = Harness::start(backend).await;
    let channel = tonic::transport::Channel::from_shared(h.server.server.uri())
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    for service in ["", "hrmesh.ledger.v1.LedgerService"] {
        let reply = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("health")
            .into_inner();
        assert_eq!(
            reply.status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32,
            "{service:?}"
        );
    }

    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    // Health is open to probes; reflection needs a valid token.
    let mut reflection =
        ServerReflectionClient::new(hrmesh_mesh::testing::admin_channel(&h.server.server.uri()));
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut replies = reflection
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .expect("reflection")
        .into_inner();
    let reply = replies.message().await.expect("reply").expect("a message");
    let Some(MessageResponse::ListServicesResponse(list)) = reply.message_response else {
        panic!("unexpected reply {reply:?}")
    };
    let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&"hrmesh.ledger.v1.LedgerService".to_owned()),
        "{names:?}"
    );
    assert!(
        names.contains(&"grpc.health.v1.Health".to_owned()),
        "{names:?}"
    );
}

async fn browsers_reach_the_ledger_over_grpc_web(backend: Backend) {
    use std::io::{Read, Write};
    let mut h = Harness::with_pto(backend).await;
    let addr = h.server.addr();
    let body = prost::Message::encode_to_vec(&GetPolicyRequest {
        policy_id: "pto-standard".into(),
    });
    let bearer = hrmesh_mesh::testing::admin_token()
        .bearer()
        .expect("a token");
    let reply = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).expect("connect");
        let mut frame = vec![0u8];
        frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
        frame.extend_from_slice(&body);
        let head = format!(
            "POST /hrmesh.ledger.v1.LedgerService/GetPolicy HTTP/1.1\r\nHost: {addr}\r\nOrigin: https://hr.example.test\r\nContent-Type: application/grpc-web+proto\r\nX-Grpc-Web: 1\r\nAuthorization: {bearer}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            frame.len()
        );
        stream.write_all(head.as_bytes()).expect("write head");
        stream.write_all(&frame).expect("write body");
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).expect("read");
        reply
    })
    .await
    .expect("blocking task");
    let text = String::from_utf8_lossy(&reply);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.to_ascii_lowercase()
            .contains("access-control-allow-origin: https://hr.example.test"),
        "{text}"
    );
    assert!(
        text.contains("pto-standard"),
        "the Policy message is in the data frame: {text}"
    );
    assert!(
        text.contains("grpc-status:0"),
        "the trailer frame reports OK: {text}"
    );
    let _ = h
        .client
        .get_policy(GetPolicyRequest {
            policy_id: "pto-standard".into(),
        })
        .await
        .expect("plain gRPC still works");
}

hrmesh_mesh::test_on_every_backend!(
    every_rpc_answers_over_grpc,
    bad_input_names_every_offending_field_and_writes_nothing,
    rejections_carry_their_reason_and_facts,
    a_huge_invalid_batch_still_gets_a_readable_invalid_argument,
    a_hold_past_its_expiry_cannot_be_approved,
    health_and_reflection_answer,
    browsers_reach_the_ledger_over_grpc_web,
    a_request_naming_another_employee_leaves_their_holds_and_entries_unchanged,
    end_users_hold_post_and_void_only_for_whom_they_may,
    a_service_says_whom_it_acts_for_and_nobody_else_may,
);
