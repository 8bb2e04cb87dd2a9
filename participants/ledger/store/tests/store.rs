//! The ledger's store suite: the core service over the real sea-orm store, run against SQLite and
//! against the test PostgreSQL server (one fresh database per test).

use std::sync::Arc;

mod common;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use common::{date, days, employee, hold_of, is_rejection, policy_id, rid};
use hrmesh_domain::{ManualClock, Violations};
use hrmesh_ledger_core::*;
use hrmesh_ledger_store::SeaLedgerStore;
use hrmesh_storage::testing::{Backend, TestDatabase};
use sea_orm::ConnectionTrait;

type TestLedger = Ledger<SeaLedgerStore, ManualClock>;

struct Fixture {
    ledger: TestLedger,
    clock: ManualClock,
    _db: TestDatabase,
}

fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0)
        .single()
        .expect("valid time")
}

fn spec(allow_negative: bool) -> PolicySpec {
    PolicySpec {
        resource_type: ResourceType::parse("resource_type", "pto", &mut Violations::default())
            .expect("valid"),
        unit: Unit::Days,
        accrual: AccrualRule {
            frequency: AccrualFrequency::Monthly,
            amount: Quantity::from_millis(1750),
            max_balance: None,
        },
        allow_negative,
        carry_over_cap: Some(days(5)),
        full_day: days(1),
        count_weekends: false,
        year_start_month: 1,
    }
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
        Fixture {
            ledger: Ledger::new(store, clock.clone()),
            clock,
            _db: db,
        }
    }

    /// A fixture with policy "pto-standard" (no negative balance) assigned to e-1 from 2026-01-01.
    async fn with_pto(backend: Backend) -> Self {
        let fixture = Self::new(backend).await;
        fixture.create_policy("pto-standard", false).await;
        fixture.assign("e-1", "pto-standard").await;
        fixture
    }

    async fn create_policy(&self, id: &str, allow_negative: bool) {
        self.ledger
            .create_policy(CreatePolicy {
                request_id: rid(&format!("policy-{id}")),
                policy_id: policy_id(id),
                spec: spec(allow_negative),
            })
            .await
            .expect("create policy");
    }

    async fn assign(&self, employee_id: &str, policy: &str) {
        self.ledger
            .assign_policy(AssignPolicy {
                request_id: rid(&format!("assign-{employee_id}-{policy}")),
                employee_id: employee(employee_id),
                policy_id: policy_id(policy),
                effective_from: date("2026-01-01"),
                effective_to: None,
            })
            .await
            .expect("assign policy");
    }

    async fn accrue(
        &self,
        request_id: &str,
        employee_id: &str,
        amount: Quantity,
        on: &str,
    ) -> Result<Vec<Entry>> {
        self.ledger
            .append_entries(AppendEntries {
                request_id: rid(request_id),
                entries: vec![NewEntry {
                    employee_id: employee(employee_id),
                    policy_id: policy_id("pto-standard"),
                    kind: NewEntryKind::Accrual,
                    amount,
                    effective_date: date(on),
                    reason: String::new(),
                    reference: String::new(),
                }],
            })
            .await
    }

    async fn hold(
        &self,
        request_id: &str,
        employee_id: &str,
        from: &str,
        to: &str,
    ) -> Result<Hold> {
        self.ledger
            .hold_days(hold_command(request_id, employee_id, from, to))
            .await
    }

    async fn totals(&self, employee_id: &str, as_of: Option<&str>) -> Totals {
        self.ledger
            .balance(
                employee(employee_id),
                policy_id("pto-standard"),
                as_of.map(date),
            )
            .await
            .expect("balance")
            .totals
    }

    async fn count(&self, table: &str) -> i64 {
        let row = self
            .ledger
            .store()
            .connection()
            .query_one_raw(sea_orm::Statement::from_string(
                self.ledger.store().connection().get_database_backend(),
                format!("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM {table}"),
            ))
            .await
            .expect("count")
            .expect("a row");
        row.try_get::<i64>("", "n").expect("count column")
    }
}

fn hold_command(request_id: &str, employee_id: &str, from: &str, to: &str) -> HoldDays {
    hold_of("pto-standard", request_id, employee_id, from, to)
}

// ---- Invariant 1: append-only, enforced by the database itself.

async fn the_database_refuses_to_update_or_delete_entries(backend: Backend) {
    let fixture = Fixture::with_pto(backend).await;
    fixture
        .accrue("accrue-1", "e-1", days(3), "2026-01-31")
        .await
        .expect("accrue");
    let db = fixture.ledger.store().connection();
    for statement in [
        "UPDATE entries SET amount = 999999",
        "DELETE FROM entries",
        "UPDATE policies SET allow_negative = TRUE",
        "DELETE FROM assignments",
    ] {
        let result = db.execute_unprepared(statement).await;
        let error = result.expect_err(statement).to_string();
        assert!(error.contains("append-only"), "{statement}: {error}");
    }
    assert_eq!(fixture.totals("e-1", None).await.balance(), days(3));
}

// ---- Invariant 2: idempotency.

async fn a_repeated_request_returns_the_original_result_and_writes_once(backend: Backend) {
    let fixture = Fixture::with_pto(backend).await;
    fixture
        .accrue("accrue-1", "e-1", days(10), "2026-01-31")
        .await
        .expect("accrue");
    let first = fixture
        .hold("hold-1", "e-1", "2026-03-09", "2026-03-10")
        .await
        .expect("hold");
    let again = fixture
        .hold("hold-1", "e-1", "2026-03-09", "2026-03-10")
        .await
        .expect("replay");
    assert_eq!(first, again);
    assert_eq!(fixture.count("holds").await, 1);
    assert_eq!(fixture.totals("e-1", None).await.pending, days(2));

    let replayed_accrual = fixture
        .accrue("accrue-1", "e-1", days(10), "2026-01-31")
        .await
        .expect("replay");
    assert_eq!(replayed_accrual.len(), 1);
    assert_eq!(fixture.totals("e-1", None).await.accrued, days(10));
}

async fn a_request_id_reused_for_another_request_is_refused_and_writes_nothing(backend: Backend) {
    let fixture = Fixture::with_pto(backend).await;
    fixture
        .accrue("key-1", "e-1", days(10), "2026-01-31")
        .await
        .expect("accrue");
    let entries_before = fixture.count("entries").await;
    let reused = fixture.accrue("key-1", "e-1", days(11), "2026-01-31").await;
    assert!(
        matches!(reused, Err(LedgerError::IdempotencyKeyReused { .. })),
        "{reused:?}"
    );
    let other_operation = fixture
        .hold("key-1", "e-1", "2026-03-09", "2026-03-09")
        .await;
    assert!(
        matches!(
            other_operation,
            Err(LedgerError::IdempotencyKeyReused { .. })
        ),
        "{other_operation:?}"
    );
    assert_eq!(fixture.count("entries").await, entries_before);
    assert_eq!(fixture.count("holds").await, 0);
}

async fn a_rejection_is_recorded_and_replayed_even_after_the_state_changes(backend: Backend) {
    let fixture = Fixture::with_pto(backend).await;
    let refused = fixture
        .hold("hold-1", "e-1", "2026-03-09", "2026-03-09")
        .await;
    assert!(
        is_rejection(&refused, |r| matches!(
            r,
            Rejection::InsufficientBalance { .. }
        )),
        "{refused:?}"
    );
    fixture
        .accrue("accrue-1", "e-1", days(5), "2026-01-31")
        .await
        .expect("accrue");
    let replayed = fixture
        .hold("hold-1", "e-1", "2026-03-09", "2026-03-09")
        .await;
    assert_eq!(replayed.map(|hold| hold.id), refused.map(|hold| hold.id));
    assert_eq!(fixture.count("holds").await, 0);
    assert_eq!(fixture.count("day_claims").await, 0);
}

// ---- Invariant 3: day uniqueness.

async fn a_day_is_held_at_most_once_until_its_hold_is_voided(backend: Backend) {
    let fixture = Fixture::with_pto(backend).await;
    fixture.create_policy("pto-bonus", true).await;
    fixture.assign("e-1", "pto-bonus").await;
    fixture
        .accrue("accrue-1", "e-1", days(10), "2026-01-31")
        .await
        .expect("accrue");
    let first = fixture
        .hold("hold-1", "e-1", "2026-03-09", "2026-03-11")
        .await
        .expect("hold");
    let overlapping = fixture
        .hold("hold-2", "e-1", "2026-03-11", "2026-03-12")
        .await;
    assert!(
        is_rejection(
            &overlapping,
            |r| matches!(r, Rejection::DayAlreadyTaken { date: d, hold_id } if *d == date("2026-03-11") && *hold_id == first.id)
        ),
        "{overlapping:?}"
    );
    // Another policy of the same resource type shares the days.
    let mut other_policy = hold_command("hold-3", "e-1", "2026-03-10", "2026-03-10");
    other_policy.policy_id = policy_id("pto-bonus");
    let refused = fixture.ledger.hold_days(other_policy).await;
    assert!(
        is_rejection(&refused, |r| matches!(r, Rejection::DayAlreadyTaken { .. })),
        "{refused:?}"
    );

    fixture
        .ledger
        .void_hold(VoidHold {
            rejected: false,
            request_id: rid("void-1"),
            hold_id: first.id.clone(),
            reason: "plans changed".into(),
            expected_employee: None,
        })
        .await
        .expect("void");
    fixture
        .hold("hold-4", "e-1", "2026-03-11", "2026-03-12")
        .await
        .expect("the day is free again");
}

async fn the_database_itself_refuses_a_second_claim_on_a_day(backend: Backend) {
    let fixture = Fixture::with_pto(backend).await;
    fixture
        .accrue("accrue-1", "e-1", days(10), "2026-01-31")
        .await
        .expect("accrue");
    fixture
        .hold("hold-1", "e-1", "2026-03-09", "2026-03-09")
        .await
        .expect("hold");
    let db = fixture.ledger.store().connection();
    let duplicate = db
        .execute_unprepared(
            "INSERT INTO day_claims (employee_id, resource_type, day, hold_id) VALUES ('e-1', 'pto', '2026-03-09', 'x')",
        )
        .await;
    assert!(
        duplicate.is_err(),
        "a second claim on a taken day must violate the primary key"
    );
}

// ---- Invariant 5: atomic batches.

async fn a_batch_that_breaks_the_balance_floor_writes_nothing(backend: Backend) {
    let fixture = Fixture::with_pto(backend).await;
    fixture.assign("e-2", "pto-standard").await;
    let entry = |employee_id: &str, kind, amount| NewEntry {
        employee_id: employee(employee_id),
        policy_id: policy_id("pto-standard"),
        kind,
        amount,
        effective_date: date("2026-02-28"),
        reason: "payroll correction".into(),
        reference: String::new(),
    };
    let batch = AppendEntries {
        request_id: rid("batch-1"),
        entries: vec![
            entry("e-1", NewEntryKind::Accrual, days(2)),
            entry("e-2", NewEntryKind::Accrual, days(1)),
            entry("e-2", NewEntryKind::Adjustment, days(-3)),
        ],
    };
    let result = fixture.ledger.append_entries(batch).await;
    assert!(
        is_rejection(&result, |r| matches!(
            r,
            Rejection::InsufficientBalance { .. }
        )),
        "{result:?}"
    );
    assert_eq!(fixture.count("entries").await, 0);
    assert_eq!(fixture.totals("e-1", None).await, Totals::default());
    assert_eq!(fixture.count("balance_snapshots").await, 0);
}

async fn a_batch_is_answered_in_request_order(backend: Backend) {
    let fixture = Fixture::with_pto(backend).await;
    fixture.assign("e-0", "pto-standard").await;
    let entry = |employee_id: &str, amount: i64| NewEntry {
        employee_id: employee(employee_id),
        policy_id: policy_id("pto-standard"),
        kind: NewEntryKind::Accrual,
        amount: days(amount),
        effective_date: date("2026-02-28"),
        reason: String::new(),
        reference: String::new(),
    };
    let appended = fixture
        .ledger
        .append_entries(AppendEntries {
            request_id: rid("batch-1"),
            entries: vec![entry("e-1", 1), entry("e-0", 2), entry("e-1", 3)],
        })
        .await
        .expect("append");
    let got: Vec<_> = appended
        .iter()
        .map(|e| (e.employee_id.as_str().to_owned(), e.amount))
        .collect();
    assert_eq!(
        got,
        vec![
            ("e-1".into(), days(1)),
            ("e-0".into(), days(2)),
            ("e-1".into(), days(3))
        ]
    );
    assert_eq!(fixture.totals("e-1", None).await.accrued, days(4));
}

// ---- Invariant 6: the balance floor under concurrency.

async fn concurrent_holds_succeed_exactly_as_far_as_the_balance_goes(backend: Backend) {
    let fixture = Fixture::with_pto(backend).await;
    fixture
        .accrue("accrue-1", "e-1", days(5), "2026-01-31")
        .await
        .expect("accrue");
    let ledger = Arc::new(fixture.ledger.clone());
    // Ten different single days in March and April 2026 (weekdays), each requested concurrently.
    let weekdays: Vec<NaiveDate> = date("2026-03-02")
        .iter_days()
        .filter(|d| {
            !matches!(
                chrono::Datelike::weekday(d),
                chrono::Weekday::Sat | chrono::Weekday::Sun
            )
        })
        .take(10)
        .collect();
    let tasks: Vec<_> = weekdays
        .iter()
        .enumerate()
        .map(|(i, day)| {
            let ledger = Arc::clone(&ledger);
            let day = day.to_string();
            tokio::spawn(async move {
                ledger
                    .hold_days(hold_command(&format!("race-{i}"), "e-1", &day, &day))
                    .await
            })
        })
        .collect();
    let mut granted = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(_) => granted += 1,
            Err(LedgerError::Rejected(Rejection::InsufficientBalance { .. })) => {}
            Err(other) => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!(granted, 5);
    let totals = fixture.totals("e-1", None).await;
    assert_eq!(totals.pending, days(5));
    assert_eq!(totals.available(), Quantity::ZERO);
}

async fn concurrent_holds_of_one_day_grant_exactly_one(backend: Backend) {
    let fixture = Fixture::with_pto(backend).await;
    fixture
        .accrue("accrue-1", "e-1", days(20), "2026-01-31")
        .await
        .expect("accrue");
    let ledger = Arc::new(fixture.ledger.clone());
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let ledger = Arc::clone(&ledger);
            tokio::spawn(async move {
                ledger
                    .hold_days(hold_command(
                        &format!("same-day-{i}"),
                        "e-1",
                        "2026-03-10",
                        "2026-03-10",
                    ))
                    .await
            })
        })
        .collect();
    let mut granted = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(_) => granted += 1,
            Err(LedgerError::Rejected(Rejection::DayAlreadyTaken { .. })) => {}
            Err(other) => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!(granted, 1);
    assert_eq!(fixture.totals("e-1", None).await.pending, days(1));
}

// ---- Invariant 7: a hold resolves at most once.

async fn a_hold_resolves_at_most_once(backend: Backend) {
    let fixture = Fixture::with_pto(backend).await;
    fixture
        .accrue("accrue-1", "e-1", days(10), "2026-01-31")
        .await
        .expect("accrue");
    let posted = fixture
        .hold("hold-1", "e-1", "2026-03-09", "2026-03-10")
        .await
        .expect("hold");
    let voided = fixture
        .hold("hold-2", "e-1", "2026-03-11", "2026-03-11")
        .await
        .expect("hold");
    let post = |request_id: &str, hold_id: &str| PostHold {
        request_id: rid(request_id),
        hold_id: hold_id.to_owned(),
        expected_employee: None,
    };
    let void = |request_id: &str, hold_id: &str| VoidHold {
        rejected: false,
        request_id: rid(request_id),
        hold_id: hold_id.to_owned(),
        reason: String::new(),
        expected_employee: None,
    };

    let approved = fixture
        .ledger
        .post_hold(post("post-1", &posted.id))
        .await
        .expect("post");
    assert_eq!(approved.state, HoldState::Posted);
    let late_void = fixture
        .ledger
        .void_hold(void("void-late", &posted.id))
        .await;
    assert!(
        is_rejection(&late_void, |r| matches!(
            r,
            Rejection::HoldAlreadyResolved {
                state: HoldState::Posted,
                ..
            }
        )),
        "{late_void:?}"
    );

    fixture
        .ledger
        .void_hold(void("void-2", &voided.id))
        .await
        .expect("void");
    let late_post = fixture
        .ledger
        .post_hold(post("post-late", &voided.id))
        .await;
    assert!(
        is_rejection(&late_post, |r| matches!(
            r,
            Rejection::HoldAlreadyResolved {
                state: HoldState::Voided,
                ..
            }
        )),
        "{late_post:?}"
    );

    let totals = fixture.totals("e-1", None).await;
    assert_eq!(
        (totals.consumed, totals.pending, totals.balance()),
        (days(2), Quantity::ZERO, days(8))
    );
    let unknown = fixture
        .ledger
        .post_hold(post("post-unknown", "no-such-hold"))
        .await;
    assert!(
        matches!(unknown, Err(LedgerError::NotFound { .. })),
        "{unknown:?}"
    );
}

async fn an_undecided_hold_expires_and_can_then_be_neither_posted_nor_voided(backend: Backend) {
    let fixture = Fixture::with_pto(backend).await;
    fixture
        .accrue("accrue-1", "e-1", days(10), "2026-01-31")
        .await
        .expect("accrue");
    let mut command = hold_command("hold-1", "e-1", "2026-03-09", "2026-03-13");
    command.hold_timeout_secs = Some(3600);
    let hold = fixture.ledger.hold_days(command).await.expect("hold");
    assert_eq!(
        fixture.ledger.expire_due_holds(100).await.expect("sweep"),
        0
    );

    fixture.clock.advance(chrono::Duration::seconds(3600));
    let late = fixture
        .ledger
        .post_hold(PostHold {
            request_id: rid("post-1"),
            hold_id: hold.id.clone(),
            expected_employee: None,
        })
        .await;
    assert!(
        is_rejection(&late, |r| matches!(r, Rejection::HoldExpired { .. })),
        "{late:?}"
    );
    assert_eq!(
        fixture.ledger.expire_due_holds(100).await.expect("sweep"),
        1
    );
    assert_eq!(
        fixture
            .ledger
            .expire_due_holds(100)
            .await
            .expect("sweep again"),
        0
    );

    let expired = fixture.ledger.get_hold(&hold.id).await.expect("get");
    assert_eq!(expired.state, HoldState::Expired);
    let late_void = fixture
        .ledger
        .void_hold(VoidHold {
            rejected: false,
            request_id: rid("void-1"),
            hold_id: hold.id.clone(),
            reason: String::new(),
            expected_employee: None,
        })
        .await;
    assert!(
        is_rejection(&late_void, |r| matches!(
            r,
            Rejection::HoldAlreadyResolved {
                state: HoldState::Expired,
                ..
            }
        )),
        "{late_void:?}"
    );
    let totals = fixture.totals("e-1", None).await;
    assert_eq!(
        (totals.pending, totals.available()),
        (Quantity::ZERO, days(10))
    );
    fixture
        .hold("hold-2", "e-1", "2026-03-09", "2026-03-09")
        .await
        .expect("expired days are free");
}

async fn approving_and_rejecting_one_hold_at_once_lets_exactly_one_win(backend: Backend) {
    let fixture = Fixture::with_pto(backend).await;
    fixture
        .accrue("accrue-1", "e-1", days(10), "2026-01-31")
        .await
        .expect("accrue");
    for round in 0..5 {
        let day = format!("2026-03-{:02}", 9 + round);
        let hold = fixture
            .hold(&format!("hold-{round}"), "e-1", &day, &day)
            .await
            .expect("hold");
        let (poster, voider) = (fixture.ledger.clone(), fixture.ledger.clone());
        let hold_id = hold.id.clone();
        let post = tokio::spawn(async move {
            poster
                .post_hold(PostHold {
                    request_id: rid(&format!("post-{round}")),
                    hold_id,
                    expected_employee: None,
                })
                .await
        });
        let hold_id = hold.id.clone();
        let void = tokio::spawn(async move {
            voider
                .void_hold(VoidHold {
                    rejected: false,
                    request_id: rid(&format!("void-{round}")),
                    hold_id,
                    reason: String::new(),
                    expected_employee: None,
                })
                .await
        });
        let outcomes = [
            post.await.expect("post task"),
            void.await.expect("void task"),
        ];
        let winners = outcomes.iter().filter(|outcome| outcome.is_ok()).count();
        assert_eq!(winners, 1, "{outcomes:?}");
        assert!(
            outcomes
                .iter()
                .any(|o| is_rejection(o, |r| matches!(r, Rejection::HoldAlreadyResolved { .. }))),
            "{outcomes:?}"
        );
        let resolved = fixture.ledger.get_hold(&hold.id).await.expect("get hold");
        let resolution_entries = fixture
            .ledger
            .list_entries(
                EntryFilter {
                    employee_id: employee("e-1"),
                    policy_id: None,
                    kinds: vec![EntryKind::Post, EntryKind::Void],
                    effective_from: Some(date(&day)),
                    effective_to: Some(date(&day)),
                },
                None,
                10,
            )
            .await
            .expect("list")
            .items;
        assert_eq!(
            resolution_entries.len(),
            1,
            "one resolving entry for {:?}",
            resolved.state
        );
    }
    let totals = fixture.totals("e-1", None).await;
    assert_eq!(totals.pending, Quantity::ZERO);
    assert_eq!(totals.consumed + totals.available(), days(10));
}

// ---- Reversals.

async fn a_reversal_cancels_an_entry_once_and_only_accruals_and_adjustments_reverse(
    backend: Backend,
) {
    let fixture = Fixture::with_pto(backend).await;
    let grant = fixture
        .accrue("grant-1", "e-1", days(3), "2026-02-15")
        .await
        .expect("grant")
        .remove(0);
    fixture
        .accrue("accrue-2", "e-1", days(2), "2026-01-31")
        .await
        .expect("accrue");
    let reverse = |request_id: &str, entry_id: i64| ReverseEntry {
        request_id: rid(request_id),
        entry_id,
        reason: "review reopened".into(),
        expected_employee: None,
    };

    let reversal = fixture
        .ledger
        .reverse_entry(reverse("undo-1", grant.id))
        .await
        .expect("reverse");
    assert_eq!(
        (reversal.kind, reversal.amount, reversal.reverses_entry_id),
        (EntryKind::Reversal, days(-3), Some(grant.id))
    );
    assert_eq!(fixture.totals("e-1", None).await.balance(), days(2));
    assert_eq!(
        fixture.totals("e-1", Some("2026-02-20")).await.balance(),
        days(2)
    );

    let again = fixture
        .ledger
        .reverse_entry(reverse("undo-2", grant.id))
        .await;
    assert!(
        is_rejection(
            &again,
            |r| matches!(r, Rejection::EntryAlreadyReversed { reversal_entry_id, .. } if *reversal_entry_id == reversal.id)
        ),
        "{again:?}"
    );
    let of_reversal = fixture
        .ledger
        .reverse_entry(reverse("undo-3", reversal.id))
        .await;
    assert!(
        is_rejection(&of_reversal, |r| matches!(
            r,
            Rejection::EntryNotReversible {
                kind: EntryKind::Reversal,
                ..
            }
        )),
        "{of_reversal:?}"
    );

    let hold = fixture
        .hold("hold-1", "e-1", "2026-03-09", "2026-03-10")
        .await
        .expect("hold");
    let hold_entry = fixture
        .ledger
        .list_entries(
            EntryFilter {
                employee_id: employee("e-1"),
                policy_id: None,
                kinds: vec![EntryKind::Hold],
                effective_from: None,
                effective_to: None,
            },
            None,
            10,
        )
        .await
        .expect("list")
        .items
        .remove(0);
    assert_eq!(hold_entry.hold_id.as_deref(), Some(hold.id.as_str()));
    // The remaining 2-day accrual is now held: reversing it would take available below zero.
    let overdraw = fixture
        .ledger
        .reverse_entry(reverse("undo-4", fixture_first_accrual(&fixture).await))
        .await;
    assert!(
        is_rejection(&overdraw, |r| matches!(
            r,
            Rejection::InsufficientBalance { .. }
        )),
        "{overdraw:?}"
    );
}

async fn fixture_first_accrual(fixture: &Fixture) -> i64 {
    fixture
        .ledger
        .list_entries(
            EntryFilter {
                employee_id: employee("e-1"),
                policy_id: None,
                kinds: vec![EntryKind::Accrual],
                effective_from: Some(date("2026-01-31")),
                effective_to: Some(date("2026-01-31")),
            },
            None,
            10,
        )
        .await
        .expect("list")
        .items[0]
        .id
}

// ---- Assignments and listing.

async fn overlapping_assignments_of_one_policy_are_refused(backend: Backend) {
    let fixture = Fixture::with_pto(backend).await;
    let overlapping = fixture
        .ledger
        .assign_policy(AssignPolicy {
            request_id: rid("assign-again"),
            employee_id: employee("e-1"),
            policy_id: policy_id("pto-standard"),
            effective_from: date("2027-01-01"),
            effective_to: None,
        })
        .await;
    assert!(
        is_rejection(&overlapping, |r| matches!(
            r,
            Rejection::AssignmentOverlaps { .. }
        )),
        "{overlapping:?}"
    );
    let unknown_policy = fixture
        .ledger
        .assign_policy(AssignPolicy {
            request_id: rid("assign-x"),
            employee_id: employee("e-1"),
            policy_id: policy_id("no-such"),
            effective_from: date("2026-01-01"),
            effective_to: None,
        })
        .await;
    assert!(
        matches!(unknown_policy, Err(LedgerError::Invalid(ref v)) if v[0].field == "policy_id"),
        "{unknown_policy:?}"
    );
}

async fn entries_page_in_append_order_with_filters(backend: Backend) {
    let fixture = Fixture::with_pto(backend).await;
    for month in 1..=5 {
        fixture
            .accrue(
                &format!("accrue-{month}"),
                "e-1",
                days(1),
                &format!("2026-0{month}-28"),
            )
            .await
            .expect("accrue");
    }
    let filter = EntryFilter {
        employee_id: employee("e-1"),
        policy_id: Some(policy_id("pto-standard")),
        kinds: vec![],
        effective_from: None,
        effective_to: None,
    };
    let first = fixture
        .ledger
        .list_entries(filter.clone(), None, 2)
        .await
        .expect("page 1");
    assert_eq!(first.items.len(), 2);
    let after: i64 = first
        .next_after
        .as_deref()
        .expect("more pages")
        .parse()
        .expect("id");
    let second = fixture
        .ledger
        .list_entries(filter.clone(), Some(after), 10)
        .await
        .expect("page 2");
    assert_eq!(second.items.len(), 3);
    assert!(second.next_after.is_none());
    assert!(second.items[0].id > first.items[1].id);
    let ranged = EntryFilter {
        effective_from: Some(date("2026-02-01")),
        effective_to: Some(date("2026-03-31")),
        ..filter
    };
    assert_eq!(
        fixture
            .ledger
            .list_entries(ranged, None, 10)
            .await
            .expect("ranged")
            .items
            .len(),
        2
    );
}

// ---- Invariant 4: balance consistency, as a property over random histories.

#[derive(Debug, Clone)]
enum Op {
    Accrue { amount_millis: i64, day: u32 },
    Adjust { amount_millis: i64, day: u32 },
    Hold { day: u32, span: u32 },
    Post { nth: usize },
    Void { nth: usize },
    Reverse { nth: usize },
}

fn op_strategy() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    prop_oneof![
        (1..5_000i64, 0..400u32).prop_map(|(amount_millis, day)| Op::Accrue { amount_millis, day }),
        (-3_000..3_000i64, 0..400u32).prop_map(|(amount_millis, day)| Op::Adjust {
            amount_millis: if amount_millis == 0 {
                500
            } else {
                amount_millis
            },
            day
        }),
        (0..400u32, 0..4u32).prop_map(|(day, span)| Op::Hold { day, span }),
        (0..8usize).prop_map(|nth| Op::Post { nth }),
        (0..8usize).prop_map(|nth| Op::Void { nth }),
        (0..8usize).prop_map(|nth| Op::Reverse { nth }),
    ]
}

/// Applies `ops` (business rejections are part of the game), then checks that the balance from the
/// running totals and from snapshots, as of many dates, equals a full scan of the log.
async fn check_balances_agree(backend: Backend, ops: Vec<Op>) {
    let fixture = Fixture::new(backend).await;
    fixture.create_policy("pto-standard", true).await;
    fixture.assign("e-1", "pto-standard").await;
    let base = date("2026-01-01");
    let mut holds: Vec<String> = Vec::new();
    let mut reversible: Vec<i64> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let request_id = format!("op-{i}");
        let on = |day: u32| (base + chrono::Duration::days(i64::from(day))).to_string();
        match op {
            Op::Accrue { amount_millis, day } | Op::Adjust { amount_millis, day } => {
                let kind = if matches!(op, Op::Accrue { .. }) {
                    NewEntryKind::Accrual
                } else {
                    NewEntryKind::Adjustment
                };
                let entry = NewEntry {
                    employee_id: employee("e-1"),
                    policy_id: policy_id("pto-standard"),
                    kind,
                    amount: Quantity::from_millis(*amount_millis),
                    effective_date: date(&on(*day)),
                    reason: "property".into(),
                    reference: String::new(),
                };
                let appended = fixture
                    .ledger
                    .append_entries(AppendEntries {
                        request_id: rid(&request_id),
                        entries: vec![entry],
                    })
                    .await
                    .expect("append");
                reversible.extend(appended.iter().map(|e| e.id));
            }
            Op::Hold { day, span } => {
                if let Ok(hold) = fixture
                    .hold(&request_id, "e-1", &on(*day), &on(day + span))
                    .await
                {
                    holds.push(hold.id);
                }
            }
            Op::Post { nth } | Op::Void { nth } if !holds.is_empty() => {
                let hold_id = holds[nth % holds.len()].clone();
                let _ = if matches!(op, Op::Post { .. }) {
                    fixture
                        .ledger
                        .post_hold(PostHold {
                            request_id: rid(&request_id),
                            hold_id,
                            expected_employee: None,
                        })
                        .await
                } else {
                    fixture
                        .ledger
                        .void_hold(VoidHold {
                            rejected: false,
                            request_id: rid(&request_id),
                            hold_id,
                            reason: String::new(),
                            expected_employee: None,
                        })
                        .await
                };
            }
            Op::Reverse { nth } if !reversible.is_empty() => {
                let entry_id = reversible[nth % reversible.len()];
                let _ = fixture
                    .ledger
                    .reverse_entry(ReverseEntry {
                        request_id: rid(&request_id),
                        entry_id,
                        reason: String::new(),
                        expected_employee: None,
                    })
                    .await;
            }
            _ => {}
        }
    }
    let all = fixture
        .ledger
        .list_entries(
            EntryFilter {
                employee_id: employee("e-1"),
                policy_id: None,
                kinds: vec![],
                effective_from: None,
                effective_to: None,
            },
            None,
            10_000,
        )
        .await
        .expect("all entries")
        .items;
    let scan = |as_of: Option<NaiveDate>| {
        all.iter()
            .filter(|e| as_of.is_none_or(|d| e.effective_date <= d))
            .fold(Totals::default(), |sum, e| sum.plus(e.deltas))
    };
    assert_eq!(
        fixture.totals("e-1", None).await,
        scan(None),
        "running totals vs full scan"
    );
    for offset in [0i64, 15, 30, 31, 59, 90, 120, 200, 365, 399, 420] {
        let as_of = base + chrono::Duration::days(offset);
        let snapshot_based = fixture.totals("e-1", Some(&as_of.to_string())).await;
        assert_eq!(snapshot_based, scan(Some(as_of)), "as of {as_of}");
        assert_eq!(
            snapshot_based.balance(),
            snapshot_based.accrued - snapshot_based.consumed + snapshot_based.adjustments
        );
    }
    let before_everything = fixture.totals("e-1", Some("2025-12-31")).await;
    assert_eq!(before_everything, Totals::default());
}

fn balances_agree_however_computed(backend: Backend) {
    use proptest::prelude::*;
    let config = ProptestConfig {
        cases: 12,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    proptest!(config, |(ops in proptest::collection::vec(op_strategy(), 1..40))| {
        runtime.block_on(check_balances_agree(backend, ops));
    });
}

#[test]
fn balances_agree_however_computed_on_sqlite() {
    balances_agree_however_computed(Backend::Sqlite);
}

#[test]
fn balances_agree_however_computed_on_postgres() {
    balances_agree_however_computed(Backend::Postgres);
}

hrmesh_storage::test_on_every_backend!(
    the_database_refuses_to_update_or_delete_entries,
    a_repeated_request_returns_the_original_result_and_writes_once,
    a_request_id_reused_for_another_request_is_refused_and_writes_nothing,
    a_rejection_is_recorded_and_replayed_even_after_the_state_changes,
    a_day_is_held_at_most_once_until_its_hold_is_voided,
    the_database_itself_refuses_a_second_claim_on_a_day,
    a_batch_that_breaks_the_balance_floor_writes_nothing,
    a_batch_is_answered_in_request_order,
    concurrent_holds_succeed_exactly_as_far_as_the_balance_goes,
    concurrent_holds_of_one_day_grant_exactly_one,
    a_hold_resolves_at_most_once,
    an_undecided_hold_expires_and_can_then_be_neither_posted_nor_voided,
    approving_and_rejecting_one_hold_at_once_lets_exactly_one_win,
    a_reversal_cancels_an_entry_once_and_only_accruals_and_adjustments_reverse,
    overlapping_assignments_of_one_policy_are_refused,
    entries_page_in_append_order_with_filters,
);
