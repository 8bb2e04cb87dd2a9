//! The ledger's outbox: every effect writes its events in its own transaction, a refusal or a
//! replay writes none, and the relay's numbering, lease and pruning behave on both backends.

mod common;

use chrono::{DateTime, TimeZone, Utc};
use common::{date, days, employee, hold_of, is_rejection, policy_id, rid};
use hrmesh_domain::{DomainEvent, ManualClock, Violations};
use hrmesh_ledger_core::*;
use hrmesh_ledger_store::SeaLedgerStore;
use hrmesh_storage::outbox::{OutboxSource, OutboxStore};
use hrmesh_storage::testing::{Backend, TestDatabase};

struct Fixture {
    ledger: Ledger<SeaLedgerStore, ManualClock>,
    clock: ManualClock,
    _db: TestDatabase,
}

fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0)
        .single()
        .expect("valid time")
}

impl Fixture {
    async fn new(backend: Backend) -> Self {
        let db = TestDatabase::new(backend).await;
        let store = SeaLedgerStore::open(
            &db.url,
            hrmesh_storage::outbox::json,
            hrmesh_storage::testing::keyring(),
        )
        .await
        .expect("open the store");
        let clock = ManualClock::new(start_time());
        let fixture = Fixture {
            ledger: Ledger::new(store, clock.clone()),
            clock,
            _db: db,
        };
        fixture
            .ledger
            .create_policy(CreatePolicy {
                request_id: rid("policy"),
                policy_id: policy_id("pto"),
                spec: PolicySpec {
                    resource_type: ResourceType::parse(
                        "resource_type",
                        "pto",
                        &mut Violations::default(),
                    )
                    .expect("valid"),
                    unit: Unit::Days,
                    accrual: AccrualRule {
                        frequency: AccrualFrequency::Monthly,
                        amount: days(2),
                        max_balance: None,
                    },
                    allow_negative: false,
                    carry_over_cap: None,
                    full_day: days(1),
                    count_weekends: false,
                    year_start_month: 1,
                },
            })
            .await
            .expect("create policy");
        fixture
            .ledger
            .assign_policy(AssignPolicy {
                request_id: rid("assign"),
                employee_id: employee("e-1"),
                policy_id: policy_id("pto"),
                effective_from: date("2026-01-01"),
                effective_to: None,
            })
            .await
            .expect("assign");
        fixture
    }

    fn outbox(&self) -> std::sync::Arc<dyn OutboxStore> {
        self.ledger.store().outbox_store()
    }

    /// Numbers everything written so far and returns every event, oldest first.
    async fn events(&self) -> Vec<(String, LedgerEvent)> {
        let outbox = self.outbox();
        let now = Utc::now();
        assert!(
            outbox
                .acquire("test", now, now + chrono::Duration::seconds(30))
                .await
                .expect("lease")
        );
        while outbox.sequence("test", now, 100).await.expect("number") > 0 {}
        outbox
            .after(0, None, 1000)
            .await
            .expect("list")
            .into_iter()
            .map(|event| {
                let decoded: LedgerEvent =
                    serde_json::from_slice(&event.data).expect("a ledger event");
                assert_eq!(event.event_type, decoded.event_type());
                assert_eq!(event.subject, decoded.subject());
                (event.event_type, decoded)
            })
            .collect()
    }

    async fn hold(&self, request_id: &str, from: &str, to: &str) -> Result<Hold> {
        self.ledger
            .hold_days(hold_of("pto", request_id, "e-1", from, to))
            .await
    }

    async fn void(&self, request_id: &str, hold_id: &str, rejected: bool) -> Result<Hold> {
        self.ledger
            .void_hold(VoidHold {
                request_id: rid(request_id),
                hold_id: hold_id.to_owned(),
                reason: "changed plans".into(),
                rejected,
                expected_employee: None,
            })
            .await
    }
}

fn types(events: &[(String, LedgerEvent)]) -> Vec<&str> {
    events.iter().map(|(kind, _)| kind.as_str()).collect()
}

async fn each_effect_writes_its_event_and_a_refusal_or_replay_writes_none(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    let accrued = fixture
        .ledger
        .append_entries(AppendEntries {
            request_id: rid("accrue"),
            entries: vec![NewEntry {
                employee_id: employee("e-1"),
                policy_id: policy_id("pto"),
                kind: NewEntryKind::Accrual,
                amount: days(6),
                effective_date: date("2026-01-31"),
                reason: String::new(),
                reference: String::new(),
            }],
        })
        .await
        .expect("accrue");
    let approved = fixture
        .hold("hold-1", "2026-03-09", "2026-03-10")
        .await
        .expect("hold");
    fixture
        .ledger
        .post_hold(PostHold {
            request_id: rid("post-1"),
            hold_id: approved.id.clone(),
            expected_employee: None,
        })
        .await
        .expect("post");
    let rejected = fixture
        .hold("hold-2", "2026-03-11", "2026-03-11")
        .await
        .expect("hold");
    fixture
        .void("void-2", &rejected.id, true)
        .await
        .expect("reject");
    let cancelled = fixture
        .hold("hold-3", "2026-03-12", "2026-03-12")
        .await
        .expect("hold");
    fixture
        .void("void-3", &cancelled.id, false)
        .await
        .expect("cancel");
    // Refused (more than the balance), then replayed: neither writes an event.
    let refused = fixture.hold("hold-4", "2026-04-01", "2026-04-30").await;
    assert!(
        is_rejection(&refused, |r| matches!(
            r,
            Rejection::InsufficientBalance { .. }
        )),
        "{refused:?}"
    );
    fixture
        .void("void-3", &cancelled.id, false)
        .await
        .expect("replay");
    let expiring = fixture
        .hold("hold-5", "2026-03-16", "2026-03-16")
        .await
        .expect("hold");
    fixture.clock.advance(chrono::Duration::days(30));
    assert_eq!(fixture.ledger.expire_due_holds(10).await.expect("sweep"), 1);

    let events = fixture.events().await;
    assert_eq!(
        types(&events),
        [
            "hrmesh.ledger.accrual.posted.v1",
            "hrmesh.ledger.time_off.requested.v1",
            "hrmesh.ledger.time_off.approved.v1",
            "hrmesh.ledger.time_off.requested.v1",
            "hrmesh.ledger.time_off.rejected.v1",
            "hrmesh.ledger.time_off.requested.v1",
            "hrmesh.ledger.time_off.cancelled.v1",
            "hrmesh.ledger.time_off.requested.v1",
            "hrmesh.ledger.time_off.expired.v1",
        ]
    );
    assert_eq!(events[0].1, LedgerEvent::AccrualPosted(accrued[0].clone()));
    let hold_of = |index: usize| match &events[index].1 {
        LedgerEvent::TimeOffApproved(hold)
        | LedgerEvent::TimeOffRejected(hold)
        | LedgerEvent::TimeOffCancelled(hold)
        | LedgerEvent::TimeOffExpired(hold)
        | LedgerEvent::TimeOffRequested(hold) => hold.clone(),
        other => panic!("not a hold event: {other:?}"),
    };
    assert_eq!(hold_of(1), approved);
    assert_eq!(hold_of(2).state, HoldState::Posted);
    assert_eq!(hold_of(4).id, rejected.id);
    assert_eq!(hold_of(6).id, cancelled.id);
    assert_eq!(hold_of(8).id, expiring.id);
    assert_eq!(hold_of(8).state, HoldState::Expired);
}

async fn positions_follow_commits_without_gaps_and_only_the_lease_holder_numbers(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    let outbox = fixture.outbox();
    let now = Utc::now();
    let lease = |seconds| now + chrono::Duration::seconds(seconds);
    assert!(outbox.acquire("a", now, lease(10)).await.expect("lease"));
    assert!(!outbox.acquire("b", now, lease(10)).await.expect("lease"));
    fixture
        .hold("hold-1", "2026-03-09", "2026-03-09")
        .await
        .expect_err("no balance yet");
    for (index, day) in ["2026-01-31", "2026-02-28"].iter().enumerate() {
        fixture
            .ledger
            .append_entries(AppendEntries {
                request_id: rid(&format!("accrue-{index}")),
                entries: vec![NewEntry {
                    employee_id: employee("e-1"),
                    policy_id: policy_id("pto"),
                    kind: NewEntryKind::Accrual,
                    amount: days(1),
                    effective_date: date(day),
                    reason: String::new(),
                    reference: String::new(),
                }],
            })
            .await
            .expect("accrue");
    }
    if backend == Backend::Sqlite {
        // The single writer numbers its own rows as it commits them; the refused hold, rolled
        // back, left no gap.
        assert_eq!(outbox.head().await.expect("head"), 2);
        assert_eq!(outbox.sequence("a", now, 10).await.expect("number"), 0);
    } else {
        // Not numbered, not listed; "b" may neither number nor mark.
        assert!(outbox.after(0, None, 10).await.expect("list").is_empty());
        assert_eq!(outbox.head().await.expect("head"), 0);
        assert_eq!(outbox.sequence("b", now, 10).await.expect("number"), 0);
        assert_eq!(outbox.sequence("a", now, 1).await.expect("number"), 1);
        assert_eq!(outbox.sequence("a", now, 10).await.expect("number"), 1);
        assert_eq!(outbox.head().await.expect("head"), 2);
    }
    let listed = outbox.after(0, None, 10).await.expect("list");
    assert_eq!(
        listed.iter().map(|e| e.position).collect::<Vec<_>>(),
        [1, 2]
    );
    assert_eq!(outbox.after(1, None, 10).await.expect("list").len(), 1);
    assert!(
        outbox
            .after(0, Some("e-2"), 10)
            .await
            .expect("list")
            .is_empty()
    );
    assert!(!outbox.mark_published("b", now, 2).await.expect("mark"));
    assert_eq!(outbox.unpublished(10).await.expect("unpublished").len(), 2);
    assert!(outbox.mark_published("a", now, 1).await.expect("mark"));
    let unpublished = outbox.unpublished(10).await.expect("unpublished");
    assert_eq!(unpublished.len(), 1);
    assert_eq!(unpublished[0].position, 2);

    // After "a"'s lease ran out, "b" takes over.
    let later = now + chrono::Duration::seconds(11);
    assert!(
        outbox
            .acquire("b", later, later + chrono::Duration::seconds(10))
            .await
            .expect("lease")
    );
    assert!(!outbox.mark_published("a", later, 2).await.expect("mark"));
    assert!(outbox.mark_published("b", later, 2).await.expect("mark"));

    // Pruning keeps the newest event, so positions never restart.
    let future = later + chrono::Duration::days(1);
    assert_eq!(outbox.prune(future, false, 100).await.expect("prune"), 1);
    assert_eq!(
        outbox
            .after(0, None, 10)
            .await
            .expect("list")
            .iter()
            .map(|e| e.position)
            .collect::<Vec<_>>(),
        [2]
    );
    fixture
        .hold("hold-2", "2026-03-09", "2026-03-09")
        .await
        .expect("hold");
    let numbered = usize::from(backend == Backend::Postgres);
    assert_eq!(
        outbox.sequence("b", later, 10).await.expect("number"),
        numbered as u64
    );
    let positions: Vec<i64> = outbox
        .after(0, None, 10)
        .await
        .expect("list")
        .iter()
        .map(|e| e.position)
        .collect();
    assert_eq!(positions, [2, 3]);
}

hrmesh_storage::test_on_every_backend!(
    each_effect_writes_its_event_and_a_refusal_or_replay_writes_none,
    positions_follow_commits_without_gaps_and_only_the_lease_holder_numbers,
);
