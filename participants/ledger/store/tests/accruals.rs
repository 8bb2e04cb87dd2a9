//! Accrual runs, carry-over expiry, freezes and ending assignments: the core service over the real
//! sea-orm store, run against SQLite and against the test PostgreSQL server (one fresh database
//! per test), always with a manual clock.

use std::collections::BTreeSet;

mod common;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use common::{date, days, employee, hold_of, is_rejection, policy_id, rid};
use hrmesh_domain::{ManualClock, Violations};
use hrmesh_ledger_core::*;
use hrmesh_ledger_store::SeaLedgerStore;
use hrmesh_storage::testing::{Backend, TestDatabase};
use sea_orm::{ConnectionTrait, TransactionTrait};

type TestLedger = Ledger<SeaLedgerStore, ManualClock>;

const POLICY: &str = "pto-monthly";

struct Fixture {
    ledger: TestLedger,
    clock: ManualClock,
    db: TestDatabase,
}

/// 09:00 UTC on `day`.
fn at(day: &str) -> DateTime<Utc> {
    let day = date(day);
    Utc.from_utc_datetime(&day.and_hms_opt(9, 0, 0).expect("valid time"))
}

fn millis(millis: i64) -> Quantity {
    Quantity::from_millis(millis)
}

fn period(start: &str, end: &str) -> Period {
    Period {
        start: date(start),
        end: date(end),
    }
}

/// A policy counted in days, weekends not counted, the year starting in January.
fn spec(
    frequency: AccrualFrequency,
    amount: Quantity,
    max_balance: Option<Quantity>,
    carry_over_cap: Option<Quantity>,
    allow_negative: bool,
) -> PolicySpec {
    PolicySpec {
        resource_type: ResourceType::parse("resource_type", "pto", &mut Violations::default())
            .expect("valid"),
        unit: Unit::Days,
        accrual: AccrualRule {
            frequency,
            amount,
            max_balance,
        },
        allow_negative,
        carry_over_cap,
        full_day: days(1),
        count_weekends: false,
        year_start_month: 1,
    }
}

fn monthly(amount: Quantity) -> PolicySpec {
    spec(AccrualFrequency::Monthly, amount, None, None, false)
}

fn everyone(request_id: &str, up_to: &str) -> RunAccruals {
    RunAccruals {
        request_id: rid(request_id),
        up_to: date(up_to),
        scope: AccrualScope {
            employee_id: None,
            policy_id: None,
        },
    }
}

fn only(request_id: &str, employee_id: &str, up_to: &str) -> RunAccruals {
    RunAccruals {
        request_id: rid(request_id),
        up_to: date(up_to),
        scope: AccrualScope {
            employee_id: Some(employee(employee_id)),
            policy_id: None,
        },
    }
}

fn freeze_command(request_id: &str, employee_id: &str, from: &str, to: &str) -> FreezeAccruals {
    FreezeAccruals {
        request_id: rid(request_id),
        employee_id: employee(employee_id),
        policy_id: policy_id(POLICY),
        start_date: date(from),
        end_date: date(to),
        reason: "performance improvement plan".into(),
        reference: "pip-7".into(),
    }
}

fn end_command(
    request_id: &str,
    employee_id: &str,
    end: &str,
    post_earlier_holds: bool,
) -> EndAssignments {
    EndAssignments {
        request_id: rid(request_id),
        employee_id: employee(employee_id),
        policy_id: Some(policy_id(POLICY)),
        end_date: date(end),
        post_earlier_holds,
        reason: "leaves the company".into(),
    }
}

fn hold_command(request_id: &str, employee_id: &str, from: &str, to: &str) -> HoldDays {
    hold_of(POLICY, request_id, employee_id, from, to)
}

impl Fixture {
    async fn new(backend: Backend, now: DateTime<Utc>) -> Self {
        let db = TestDatabase::new(backend).await;
        let store = SeaLedgerStore::open(
            &db.url,
            hrmesh_storage::outbox::json,
            hrmesh_storage::testing::keyring(),
        )
        .await
        .expect("open the store");
        let clock = ManualClock::new(now);
        Fixture {
            ledger: Ledger::new(store, clock.clone()),
            clock,
            db,
        }
    }

    /// Policy [`POLICY`] with `spec`, assigned to each of `employees` from 2026-01-01.
    async fn with(backend: Backend, now: &str, spec: PolicySpec, employees: &[&str]) -> Self {
        let fixture = Self::new(backend, at(now)).await;
        fixture.create_policy(POLICY, spec).await;
        for employee_id in employees {
            fixture
                .assign(employee_id, POLICY, "2026-01-01", None)
                .await;
        }
        fixture
    }

    /// Another ledger on its own connection pool over the same database (a second worker).
    async fn second_worker(&self) -> TestLedger {
        let store = SeaLedgerStore::open(
            &self.db.url,
            hrmesh_storage::outbox::json,
            hrmesh_storage::testing::keyring(),
        )
        .await
        .expect("open a second store");
        Ledger::new(store, self.clock.clone())
    }

    async fn create_policy(&self, id: &str, spec: PolicySpec) {
        self.ledger
            .create_policy(CreatePolicy {
                request_id: rid(&format!("policy-{id}")),
                policy_id: policy_id(id),
                spec,
            })
            .await
            .expect("create policy");
    }

    async fn assign(&self, employee_id: &str, policy: &str, from: &str, to: Option<&str>) {
        self.ledger
            .assign_policy(AssignPolicy {
                request_id: rid(&format!("assign-{employee_id}-{policy}-{from}")),
                employee_id: employee(employee_id),
                policy_id: policy_id(policy),
                effective_from: date(from),
                effective_to: to.map(date),
            })
            .await
            .expect("assign policy");
    }

    async fn run(&self, command: RunAccruals) -> AccrualRun {
        let request_id = command.request_id.as_str().to_owned();
        self.ledger
            .run_accruals(command)
            .await
            .unwrap_or_else(|err| panic!("accrual run {request_id}: {err:?}"))
    }

    async fn entries(&self, employee_id: &str, kinds: &[EntryKind]) -> Vec<Entry> {
        self.ledger
            .list_entries(
                EntryFilter {
                    employee_id: employee(employee_id),
                    policy_id: None,
                    kinds: kinds.to_vec(),
                    effective_from: None,
                    effective_to: None,
                },
                None,
                10_000,
            )
            .await
            .expect("list entries")
            .items
    }

    /// The scheduled accruals of the employee (those with a period, not grants): (period start,
    /// effective date, amount), in append order.
    async fn accruals(&self, employee_id: &str) -> Vec<(NaiveDate, NaiveDate, Quantity)> {
        self.entries(employee_id, &[EntryKind::Accrual])
            .await
            .into_iter()
            .filter_map(|entry| {
                let period = entry.period?;
                Some((period.start, entry.effective_date, entry.amount))
            })
            .collect()
    }

    async fn totals(&self, employee_id: &str, as_of: Option<&str>) -> Totals {
        self.ledger
            .balance(employee(employee_id), policy_id(POLICY), as_of.map(date))
            .await
            .expect("balance")
            .totals
    }

    async fn count(&self, table: &str) -> i64 {
        let db = self.ledger.store().connection();
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                format!("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM {table}"),
            ))
            .await
            .expect("count")
            .expect("a row");
        row.try_get::<i64>("", "n").expect("count column")
    }

    async fn append(
        &self,
        request_id: &str,
        employee_id: &str,
        kind: NewEntryKind,
        amount: Quantity,
        on: &str,
    ) -> Result<Vec<Entry>> {
        self.ledger
            .append_entries(AppendEntries {
                request_id: rid(request_id),
                entries: vec![NewEntry {
                    employee_id: employee(employee_id),
                    policy_id: policy_id(POLICY),
                    kind,
                    amount,
                    effective_date: date(on),
                    reason: "bonus for the launch".into(),
                    reference: "launch-2026".into(),
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
}

/// The first day of each of `months` in 2026.
fn months_2026(months: std::ops::RangeInclusive<u32>) -> Vec<NaiveDate> {
    months
        .map(|month| NaiveDate::from_ymd_opt(2026, month, 1).expect("valid month"))
        .collect()
}

fn period_starts(accruals: &[(NaiveDate, NaiveDate, Quantity)]) -> Vec<NaiveDate> {
    accruals.iter().map(|(start, _, _)| *start).collect()
}

// ---- 1. Once per period, however many workers run.

async fn two_concurrent_runs_accrue_each_period_exactly_once(backend: Backend) {
    const EMPLOYEES: usize = 50;
    let names: Vec<String> = (0..EMPLOYEES).map(|i| format!("e-{i:02}")).collect();
    let fixture = Fixture::with(backend, "2026-03-01", monthly(millis(1750)), &[]).await;
    for name in &names {
        fixture.assign(name, POLICY, "2026-01-01", None).await;
    }
    let other = fixture.second_worker().await;

    let mut months_so_far = 0;
    for (round, up_to, months) in [(1, "2026-03-01", 3u32), (2, "2026-06-01", 6)] {
        let spawn = |ledger: TestLedger, request_id: String| {
            tokio::spawn(async move { ledger.run_accruals(everyone(&request_id, up_to)).await })
        };
        let (first, second) = tokio::join!(
            spawn(fixture.ledger.clone(), format!("run-a-{round}")),
            spawn(other.clone(), format!("run-b-{round}")),
        );
        let first = first.expect("task a").expect("run a");
        let second = second.expect("task b").expect("run b");
        let expected = EMPLOYEES as u64 * u64::from(months - months_so_far);
        assert_eq!(
            first.accruals + second.accruals,
            expected,
            "round {round}: {first:?} / {second:?}"
        );
        assert_eq!(first.expiries + second.expiries, 0);
        assert!(
            first.entries.is_empty() && second.entries.is_empty(),
            "runs over everyone list no entries"
        );
        months_so_far = months;

        for name in &names {
            let accruals = fixture.accruals(name).await;
            assert_eq!(
                period_starts(&accruals),
                months_2026(1..=months),
                "{name} after round {round}: {accruals:?}"
            );
            assert!(
                accruals
                    .iter()
                    .all(|(start, on, amount)| start == on && *amount == millis(1750))
            );
            let balance = fixture.totals(name, None).await.balance();
            assert_eq!(balance, millis(1750 * i64::from(months)), "{name}");
        }
    }
    assert_eq!(
        fixture.count("entries").await,
        EMPLOYEES as i64 * 6,
        "nothing but the accruals"
    );

    // The database itself refuses a second accrual of the account for the same period.
    let db = fixture.ledger.store().connection();
    let original = fixture.entries("e-00", &[EntryKind::Accrual]).await[0].id;
    let copy = |kind: &str| {
        format!(
            "INSERT INTO entries (account_id, employee_id, policy_id, resource_type, kind, amount, \
             accrued_delta, consumed_delta, pending_delta, adjustments_delta, effective_date, \
             hold_id, reverses_entry_id, reason, reference, request_id, created_at, period_start, \
             period_end) \
             SELECT account_id, employee_id, policy_id, resource_type, {kind}, amount, \
             accrued_delta, consumed_delta, pending_delta, adjustments_delta, effective_date, \
             hold_id, reverses_entry_id, reason, reference, 'raw-sql', created_at, period_start, \
             period_end FROM entries WHERE entry_id = {original}"
        )
    };
    // The control: the same row under another kind is no duplicate (rolled back).
    let txn = db.begin().await.expect("begin");
    let control = txn.execute_unprepared(&copy("'adjustment'")).await;
    assert_eq!(
        control
            .expect("the same period under another kind")
            .rows_affected(),
        1
    );
    txn.rollback().await.expect("rollback");
    let duplicate = db.execute_unprepared(&copy("kind")).await;
    let error = duplicate
        .expect_err("a second accrual for the same account and period")
        .to_string();
    assert!(
        error.contains("uniq_entries_period") || error.contains("entries.period_start"),
        "refused by the unique period index: {error}"
    );
    assert_eq!(fixture.count("entries").await, EMPLOYEES as i64 * 6);
}

// ---- 2. Catching up after a gap.

async fn a_run_after_a_gap_catches_up_every_period_once(backend: Backend) {
    let fixture = Fixture::with(backend, "2026-03-01", monthly(days(2)), &["e-1"]).await;
    let first = fixture.run(everyone("run-1", "2026-02-01")).await;
    assert_eq!((first.accounts, first.accruals), (1, 2));
    assert_eq!(
        period_starts(&fixture.accruals("e-1").await),
        months_2026(1..=2)
    );

    let catch_up = fixture.run(everyone("run-2", "2026-06-01")).await;
    assert_eq!(
        (catch_up.accounts, catch_up.accruals),
        (1, 4),
        "{catch_up:?}"
    );
    let accruals = fixture.accruals("e-1").await;
    assert_eq!(period_starts(&accruals), months_2026(1..=6));
    assert!(
        accruals
            .iter()
            .all(|(start, on, amount)| start == on && *amount == days(2)),
        "in advance, on each month's first day: {accruals:?}"
    );
    assert_eq!(fixture.totals("e-1", None).await.balance(), days(12));

    let entries_before = fixture.count("entries").await;
    let again = fixture.run(everyone("run-3", "2026-06-01")).await;
    assert_eq!((again.accounts, again.accruals, again.expiries), (0, 0, 0));
    let again_for_one = fixture.run(only("run-4", "e-1", "2026-06-01")).await;
    assert_eq!(again_for_one.accruals, 0);
    assert!(again_for_one.entries.is_empty());
    // An earlier day than the account is already brought up to changes nothing either.
    let earlier = fixture.run(only("run-5", "e-1", "2026-04-15")).await;
    assert!(earlier.entries.is_empty());
    assert_eq!(fixture.count("entries").await, entries_before);
    assert_eq!(fixture.totals("e-1", None).await.balance(), days(12));

    // At most a year ahead of today (2026-03-01 + 366 days), and only of a known policy.
    let too_far = fixture
        .ledger
        .run_accruals(everyone("run-6", "2027-03-03"))
        .await;
    assert!(
        matches!(&too_far, Err(LedgerError::Invalid(v)) if v[0].field == "up_to_date"),
        "{too_far:?}"
    );
    let mut unknown = everyone("run-7", "2026-07-01");
    unknown.scope.policy_id = Some(policy_id("no-such"));
    let unknown = fixture.ledger.run_accruals(unknown).await;
    assert!(
        matches!(&unknown, Err(LedgerError::Invalid(v)) if v[0].field == "policy_id"),
        "{unknown:?}"
    );
    assert_eq!(fixture.count("entries").await, entries_before);
}

// ---- 3. Proration.

async fn the_first_and_last_periods_are_prorated_by_assigned_days(backend: Backend) {
    let fixture = Fixture::with(backend, "2026-03-01", monthly(days(2)), &[]).await;
    fixture.assign("e-1", POLICY, "2026-01-11", None).await;
    fixture
        .assign("e-2", POLICY, "2026-01-01", Some("2026-02-14"))
        .await;
    let run = fixture.run(only("run-1", "e-1", "2026-02-01")).await;
    assert_eq!(run.entries.len(), 2, "{run:?}");
    let first = &run.entries[0];
    assert_eq!(first.kind, EntryKind::Accrual);
    // 2 x 21/31 = 1.3548…, rounded down to the thousandth.
    assert_eq!(first.amount, millis(1354));
    assert_eq!(first.deltas.accrued, millis(1354));
    assert_eq!(first.effective_date, date("2026-01-11"));
    assert_eq!(first.period, Some(period("2026-01-01", "2026-01-31")));
    let second = &run.entries[1];
    assert_eq!(
        (second.amount, second.effective_date, second.period),
        (
            days(2),
            date("2026-02-01"),
            Some(period("2026-02-01", "2026-02-28"))
        )
    );
    assert_eq!(fixture.entries("e-1", &[]).await, run.entries);
    assert_eq!(
        fixture.totals("e-1", Some("2026-01-10")).await.balance(),
        Quantity::ZERO
    );
    assert_eq!(
        fixture.totals("e-1", Some("2026-01-11")).await.balance(),
        millis(1354)
    );
    assert_eq!(fixture.totals("e-1", None).await.balance(), millis(3354));

    // An assignment ending on 2026-02-14: February accrues 14 of 28 days, then nothing.
    fixture.run(only("run-2", "e-2", "2026-06-01")).await;
    assert_eq!(
        fixture.accruals("e-2").await,
        vec![
            (date("2026-01-01"), date("2026-01-01"), days(2)),
            (date("2026-02-01"), date("2026-02-01"), days(1)),
        ]
    );
}

// ---- 4. The maximum balance.

async fn accruals_stop_at_the_maximum_balance(backend: Backend) {
    let capped = spec(
        AccrualFrequency::Monthly,
        days(2),
        Some(days(5)),
        None,
        false,
    );
    let fixture = Fixture::with(backend, "2026-03-01", capped, &["e-1"]).await;
    fixture.run(everyone("run-1", "2026-05-01")).await;
    assert_eq!(
        fixture.accruals("e-1").await,
        vec![
            (date("2026-01-01"), date("2026-01-01"), days(2)),
            (date("2026-02-01"), date("2026-02-01"), days(2)),
            (date("2026-03-01"), date("2026-03-01"), days(1)),
        ],
        "March is cut to what fits, April and May find no room"
    );
    assert_eq!(fixture.totals("e-1", None).await.balance(), days(5));

    // A day taken makes room for one day in June.
    let hold = fixture
        .hold("hold-1", "e-1", "2026-05-11", "2026-05-11")
        .await
        .expect("hold");
    fixture
        .ledger
        .post_hold(PostHold {
            request_id: rid("post-1"),
            hold_id: hold.id,
            expected_employee: None,
        })
        .await
        .expect("post");
    assert_eq!(fixture.totals("e-1", None).await.balance(), days(4));
    fixture.run(everyone("run-2", "2026-07-01")).await;
    let accruals = fixture.accruals("e-1").await;
    assert_eq!(accruals.len(), 4, "{accruals:?}");
    assert_eq!(
        accruals[3],
        (date("2026-06-01"), date("2026-06-01"), days(1))
    );
    assert_eq!(fixture.totals("e-1", None).await.balance(), days(5));
}

// ---- 5. Carry-over expiry at the year end.

async fn the_balance_above_the_carry_over_cap_expires_once_at_the_year_end(backend: Backend) {
    let fixture = Fixture::new(backend, at("2026-12-01")).await;
    fixture
        .create_policy(
            POLICY,
            spec(
                AccrualFrequency::Monthly,
                days(2),
                None,
                Some(days(5)),
                false,
            ),
        )
        .await;
    fixture
        .create_policy(
            "pto-annual",
            spec(
                AccrualFrequency::Annual,
                days(20),
                None,
                Some(days(5)),
                false,
            ),
        )
        .await;
    fixture.assign("e-1", POLICY, "2026-01-01", None).await;
    fixture
        .assign("e-2", "pto-annual", "2026-01-01", None)
        .await;
    fixture
        .assign("e-3", "pto-annual", "2026-01-01", None)
        .await;
    let annual_balance = |employee_id: &'static str| {
        let ledger = fixture.ledger.clone();
        async move {
            ledger
                .balance(employee(employee_id), policy_id("pto-annual"), None)
                .await
                .expect("balance")
                .totals
                .balance()
        }
    };

    // A run scoped to one policy leaves the others' accounts alone.
    let mut annual_only = everyone("run-0", "2026-12-31");
    annual_only.scope.policy_id = Some(policy_id("pto-annual"));
    let annual = fixture.run(annual_only).await;
    assert_eq!((annual.accounts, annual.accruals), (2, 2));
    assert_eq!(fixture.totals("e-1", None).await.balance(), Quantity::ZERO);
    let year = fixture.run(everyone("run-1", "2026-12-31")).await;
    assert_eq!((year.accounts, year.accruals, year.expiries), (1, 12, 0));
    assert_eq!(fixture.totals("e-1", None).await.balance(), days(24));
    // e-3 uses 16 of its 20 days: below the cap at the year end.
    fixture
        .ledger
        .append_entries(AppendEntries {
            request_id: rid("adjust-e-3"),
            entries: vec![NewEntry {
                employee_id: employee("e-3"),
                policy_id: policy_id("pto-annual"),
                kind: NewEntryKind::Adjustment,
                amount: days(-16),
                effective_date: date("2026-06-30"),
                reason: "paid out".into(),
                reference: String::new(),
            }],
        })
        .await
        .expect("adjust");

    // The year's expiry waits for the year to be over.
    let early = fixture.run(everyone("run-early", "2027-01-01")).await;
    assert_eq!((early.accruals, early.expiries), (0, 0), "{early:?}");
    fixture.clock.advance(chrono::Duration::days(31));
    let new_year = fixture.run(everyone("run-2", "2027-01-01")).await;
    assert_eq!(
        (new_year.accounts, new_year.accruals, new_year.expiries),
        (3, 3, 2),
        "{new_year:?}"
    );
    let expiries = fixture.entries("e-1", &[EntryKind::CarryOverExpiry]).await;
    assert_eq!(expiries.len(), 1, "{expiries:?}");
    let expiry = &expiries[0];
    assert_eq!(expiry.amount, days(-19));
    assert_eq!(expiry.deltas.adjustments, days(-19));
    assert_eq!(expiry.effective_date, date("2026-12-31"));
    assert_eq!(expiry.period, Some(period("2026-01-01", "2026-12-31")));
    assert_eq!(
        fixture.totals("e-1", Some("2026-12-31")).await.balance(),
        days(5)
    );
    assert_eq!(
        fixture.totals("e-1", None).await.balance(),
        days(7),
        "the cap plus January's accrual"
    );
    let ordered: Vec<EntryKind> = fixture
        .entries("e-1", &[])
        .await
        .iter()
        .rev()
        .take(2)
        .map(|entry| entry.kind)
        .collect();
    assert_eq!(
        ordered,
        vec![EntryKind::Accrual, EntryKind::CarryOverExpiry],
        "the expiry is applied before the new year's accrual"
    );
    let e2_expiries = fixture.entries("e-2", &[EntryKind::CarryOverExpiry]).await;
    assert_eq!(e2_expiries.len(), 1);
    assert_eq!(e2_expiries[0].amount, days(-15));
    assert_eq!(annual_balance("e-2").await, days(25));
    assert!(
        fixture
            .entries("e-3", &[EntryKind::CarryOverExpiry])
            .await
            .is_empty(),
        "nothing above the cap, nothing expires"
    );
    assert_eq!(annual_balance("e-3").await, days(24));

    let entries_before = fixture.count("entries").await;
    let again = fixture.run(everyone("run-3", "2027-01-01")).await;
    assert_eq!((again.accruals, again.expiries), (0, 0));
    assert_eq!(fixture.count("entries").await, entries_before);
    let later = fixture.run(only("run-4", "e-1", "2027-02-01")).await;
    assert_eq!(
        later
            .entries
            .iter()
            .map(|entry| (entry.kind, entry.effective_date))
            .collect::<Vec<_>>(),
        vec![(EntryKind::Accrual, date("2027-02-01"))]
    );
    assert_eq!(
        fixture
            .entries("e-1", &[EntryKind::CarryOverExpiry])
            .await
            .len(),
        1
    );
    assert_eq!(fixture.totals("e-1", None).await.balance(), days(9));
    let balances = fixture
        .ledger
        .balances(employee("e-1"))
        .await
        .expect("balances");
    assert_eq!(balances.len(), 1);
    assert_eq!(balances[0].totals.balance(), days(9));
}

// ---- 6. Freezes.

async fn a_freeze_stops_scheduled_accruals_and_grants_until_lifted(backend: Backend) {
    let fixture = Fixture::with(backend, "2026-03-01", monthly(days(2)), &["e-1", "e-2"]).await;
    let freeze = fixture
        .ledger
        .freeze_accruals(freeze_command(
            "freeze-1",
            "e-1",
            "2026-02-01",
            "2026-03-31",
        ))
        .await
        .expect("freeze");
    assert_eq!(
        (freeze.start_date, freeze.end_date, freeze.lifted_from),
        (date("2026-02-01"), date("2026-03-31"), None)
    );
    assert_eq!(freeze.request_id, "freeze-1");

    fixture.run(everyone("run-1", "2026-05-01")).await;
    let starts = period_starts(&fixture.accruals("e-1").await);
    assert_eq!(
        starts,
        vec![date("2026-01-01"), date("2026-04-01"), date("2026-05-01")],
        "February and March are frozen throughout"
    );
    assert_eq!(
        period_starts(&fixture.accruals("e-2").await),
        months_2026(1..=5),
        "another employee's accruals are not frozen"
    );
    assert_eq!(fixture.totals("e-1", None).await.balance(), days(6));

    // A grant dated inside the freeze is refused and writes nothing; an adjustment is not a grant.
    let entries_before = fixture.count("entries").await;
    let bonus = fixture
        .append(
            "bonus-1",
            "e-1",
            NewEntryKind::Accrual,
            days(1),
            "2026-03-15",
        )
        .await;
    assert!(
        is_rejection(&bonus, |r| matches!(
            r,
            Rejection::AccrualsFrozen { freeze_id, reference, start_date, end_date }
                if *freeze_id == freeze.id
                    && reference == "pip-7"
                    && *start_date == date("2026-02-01")
                    && *end_date == date("2026-03-31")
        )),
        "{bonus:?}"
    );
    assert_eq!(fixture.count("entries").await, entries_before);
    assert_eq!(fixture.totals("e-1", None).await.balance(), days(6));
    fixture
        .append(
            "adjust-1",
            "e-1",
            NewEntryKind::Adjustment,
            days(1),
            "2026-03-15",
        )
        .await
        .expect("an adjustment inside a freeze");
    assert_eq!(fixture.totals("e-1", None).await.balance(), days(7));

    let overlapping = fixture
        .ledger
        .freeze_accruals(freeze_command(
            "freeze-2",
            "e-1",
            "2026-03-15",
            "2026-04-15",
        ))
        .await;
    assert!(
        is_rejection(&overlapping, |r| matches!(
            r,
            Rejection::FreezeOverlaps { freeze_id } if *freeze_id == freeze.id
        )),
        "{overlapping:?}"
    );
    let backwards = fixture
        .ledger
        .freeze_accruals(freeze_command(
            "freeze-3",
            "e-1",
            "2026-04-10",
            "2026-04-01",
        ))
        .await;
    assert!(
        matches!(backwards, Err(LedgerError::Invalid(_))),
        "{backwards:?}"
    );
    let never_assigned = fixture
        .ledger
        .freeze_accruals(freeze_command(
            "freeze-5",
            "e-9",
            "2026-04-01",
            "2026-04-30",
        ))
        .await;
    assert!(
        matches!(&never_assigned, Err(LedgerError::Invalid(v)) if v[0].field == "employee_id"),
        "{never_assigned:?}"
    );
    let listed = fixture
        .ledger
        .list_freezes(&employee("e-1"), None)
        .await
        .expect("list freezes");
    assert_eq!(listed, vec![freeze.clone()]);
    let of_another = fixture
        .ledger
        .unfreeze_accruals(UnfreezeAccruals {
            request_id: rid("unfreeze-0"),
            target: FreezeTarget::Id(freeze.id.clone()),
            expected_employee: Some(employee("e-2")),
            from_date: None,
            reason: "wrong employee".into(),
        })
        .await;
    assert!(
        is_rejection(&of_another, |r| matches!(
            r,
            Rejection::RecordOfAnotherEmployee {
                record: RecordKind::Freeze,
                ..
            }
        )),
        "{of_another:?}"
    );
    let by_reference_alone = fixture
        .ledger
        .unfreeze_accruals(UnfreezeAccruals {
            request_id: rid("unfreeze-00"),
            target: FreezeTarget::Reference("pip-7".into()),
            expected_employee: None,
            from_date: None,
            reason: "whose?".into(),
        })
        .await;
    assert!(
        matches!(by_reference_alone, Err(LedgerError::Invalid(_))),
        "{by_reference_alone:?}"
    );
    let created_by_nothing = fixture
        .ledger
        .unfreeze_accruals(UnfreezeAccruals {
            request_id: rid("unfreeze-000"),
            target: FreezeTarget::CreatedBy("never-sent".into()),
            expected_employee: None,
            from_date: None,
            reason: "undo".into(),
        })
        .await
        .expect("nothing to lift");
    assert!(created_by_nothing.is_empty());
    assert_eq!(
        fixture
            .ledger
            .list_freezes(&employee("e-1"), None)
            .await
            .expect("list freezes"),
        vec![freeze.clone()],
        "unchanged"
    );

    // Lifted from its start (a saga's undo): the frozen months accrue at the next run.
    let lifted = fixture
        .ledger
        .unfreeze_accruals(UnfreezeAccruals {
            request_id: rid("unfreeze-1"),
            target: FreezeTarget::CreatedBy("freeze-1".into()),
            expected_employee: Some(employee("e-1")),
            from_date: None,
            reason: "plan withdrawn".into(),
        })
        .await
        .expect("unfreeze");
    assert_eq!(lifted.len(), 1);
    assert_eq!(lifted[0].id, freeze.id);
    assert_eq!(lifted[0].lifted_from, Some(date("2026-02-01")));
    fixture
        .append(
            "bonus-2",
            "e-1",
            NewEntryKind::Accrual,
            days(1),
            "2026-03-15",
        )
        .await
        .expect("a grant once the freeze is lifted");
    let reopened = fixture.run(everyone("run-2", "2026-05-01")).await;
    assert_eq!(reopened.accruals, 2, "{reopened:?}");
    assert_eq!(
        period_starts(&fixture.accruals("e-1").await)
            .into_iter()
            .collect::<BTreeSet<_>>(),
        months_2026(1..=5).into_iter().collect::<BTreeSet<_>>()
    );
    assert_eq!(fixture.accruals("e-1").await.len(), 5);
    assert_eq!(
        fixture.entries("e-1", &[EntryKind::Accrual]).await.len(),
        5 + 1,
        "5 months and the bonus"
    );
    assert_eq!(fixture.totals("e-1", None).await.balance(), days(12));

    // Extending moves the end later; a lifted freeze, or an end not later, cannot be extended.
    let june = fixture
        .ledger
        .freeze_accruals(freeze_command(
            "freeze-4",
            "e-1",
            "2026-06-01",
            "2026-06-30",
        ))
        .await
        .expect("a new freeze: the lifted one freezes nothing");
    let extended = fixture
        .ledger
        .extend_freeze(ExtendFreeze {
            request_id: rid("extend-1"),
            target: FreezeTarget::Id(june.id.clone()),
            expected_employee: None,
            end_date: date("2026-07-31"),
        })
        .await
        .expect("extend");
    assert_eq!(extended.len(), 1);
    assert_eq!(extended[0].end_date, date("2026-07-31"));
    let shorter = fixture
        .ledger
        .extend_freeze(ExtendFreeze {
            request_id: rid("extend-2"),
            target: FreezeTarget::Id(june.id.clone()),
            expected_employee: None,
            end_date: date("2026-07-15"),
        })
        .await;
    assert!(
        is_rejection(&shorter, |r| matches!(
            r,
            Rejection::FreezeNotExtendable { .. }
        )),
        "{shorter:?}"
    );
    let of_lifted = fixture
        .ledger
        .extend_freeze(ExtendFreeze {
            request_id: rid("extend-3"),
            target: FreezeTarget::Id(freeze.id.clone()),
            expected_employee: None,
            end_date: date("2026-04-30"),
        })
        .await;
    assert!(
        is_rejection(&of_lifted, |r| matches!(
            r,
            Rejection::FreezeNotExtendable { freeze_id, .. } if *freeze_id == freeze.id
        )),
        "{of_lifted:?}"
    );

    // e-2 is frozen for the last 20 of June's 30 days: June accrues 2 x 10/30.
    fixture
        .ledger
        .freeze_accruals(freeze_command(
            "freeze-e-2",
            "e-2",
            "2026-06-11",
            "2026-06-30",
        ))
        .await
        .expect("freeze e-2");
    fixture.run(everyone("run-3", "2026-08-01")).await;
    let e1 = fixture.accruals("e-1").await;
    assert_eq!(
        e1.last(),
        Some(&(date("2026-08-01"), date("2026-08-01"), days(2))),
        "June and July frozen, August accrued: {e1:?}"
    );
    assert_eq!(e1.len(), 6);
    let e2 = fixture.accruals("e-2").await;
    assert_eq!(e2[5], (date("2026-06-01"), date("2026-06-01"), millis(666)));
    assert_eq!(e2.len(), 8);

    // Lifted from the middle of July: July accrues its 16 free days of 31 when reopened.
    let partly = fixture
        .ledger
        .unfreeze_accruals(UnfreezeAccruals {
            request_id: rid("unfreeze-2"),
            target: FreezeTarget::Id(june.id.clone()),
            expected_employee: None,
            from_date: Some(date("2026-07-16")),
            reason: "plan passed".into(),
        })
        .await
        .expect("unfreeze from a day");
    assert_eq!(partly[0].lifted_from, Some(date("2026-07-16")));
    let run = fixture.run(only("run-4", "e-1", "2026-08-01")).await;
    assert_eq!(
        run.entries
            .iter()
            .map(|entry| (entry.period.map(|p| p.start), entry.amount))
            .collect::<Vec<_>>(),
        vec![(Some(date("2026-07-01")), millis(1032))],
        "June stays frozen, July is prorated"
    );
    assert_eq!(
        fixture.totals("e-1", None).await.balance(),
        days(14) + millis(1032)
    );

    // A reference names freezes among one employee's only: e-1's "pip-7" freezes stay as they are.
    let by_reference = fixture
        .ledger
        .unfreeze_accruals(UnfreezeAccruals {
            request_id: rid("unfreeze-3"),
            target: FreezeTarget::Reference("pip-7".into()),
            expected_employee: Some(employee("e-2")),
            from_date: Some(date("2026-06-21")),
            reason: "plan passed".into(),
        })
        .await
        .expect("unfreeze by reference");
    assert_eq!(by_reference.len(), 1);
    assert_eq!(by_reference[0].employee_id, employee("e-2"));
    assert_eq!(by_reference[0].lifted_from, Some(date("2026-06-21")));
    let e1_freezes = fixture
        .ledger
        .list_freezes(&employee("e-1"), None)
        .await
        .expect("list freezes");
    assert_eq!(
        e1_freezes.iter().map(|f| f.lifted_from).collect::<Vec<_>>(),
        vec![Some(date("2026-02-01")), Some(date("2026-07-16"))]
    );
    // June accrued partly already, and keeps what it accrued.
    fixture.run(only("run-5", "e-2", "2026-08-01")).await;
    assert_eq!(fixture.accruals("e-2").await.len(), 8);
}

// ---- 7. Ending an assignment.

async fn ending_an_assignment_voids_the_holds_after_it_and_can_be_undone(backend: Backend) {
    let fixture = Fixture::with(backend, "2026-03-01", monthly(days(2)), &["e-1", "e-2"]).await;
    fixture.assign("e-3", POLICY, "2026-06-01", None).await;
    fixture.assign("e-4", POLICY, "2026-01-01", None).await;
    fixture.run(everyone("run-0", "2026-02-01")).await;
    // e-4 ends on 2026-03-15, before March accrues: March accrues 15 of its 31 days.
    fixture
        .ledger
        .end_assignments(end_command("end-4", "e-4", "2026-03-15", false))
        .await
        .expect("end e-4");
    fixture.run(everyone("run-1", "2026-03-01")).await;
    fixture.run(only("run-4", "e-4", "2026-06-01")).await;
    assert_eq!(
        fixture.accruals("e-4").await,
        vec![
            (date("2026-01-01"), date("2026-01-01"), days(2)),
            (date("2026-02-01"), date("2026-02-01"), days(2)),
            (date("2026-03-01"), date("2026-03-01"), millis(967)),
        ]
    );
    let early = fixture
        .hold("early-1", "e-1", "2026-03-09", "2026-03-10")
        .await
        .expect("hold");
    let spanning = fixture
        .hold("spanning-1", "e-1", "2026-03-30", "2026-04-01")
        .await
        .expect("hold");
    let late = fixture
        .hold("late-1", "e-1", "2026-04-06", "2026-04-06")
        .await
        .expect("hold");
    assert_eq!(fixture.totals("e-1", None).await.pending, days(6));

    let ended = fixture
        .ledger
        .end_assignments(end_command("end-1", "e-1", "2026-03-31", false))
        .await
        .expect("end");
    let mut voided = ended.voided_hold_ids.clone();
    voided.sort();
    let mut expected = vec![spanning.id.clone(), late.id.clone()];
    expected.sort();
    assert_eq!(voided, expected);
    assert!(ended.posted_hold_ids.is_empty());
    assert_eq!(ended.assignments.len(), 1);
    assert_eq!(ended.assignments[0].effective_to, Some(date("2026-03-31")));
    for (hold, state) in [
        (&early, HoldState::Pending),
        (&spanning, HoldState::Voided),
        (&late, HoldState::Voided),
    ] {
        assert_eq!(
            fixture.ledger.get_hold(&hold.id).await.expect("hold").state,
            state
        );
    }
    let totals = fixture.totals("e-1", None).await;
    assert_eq!((totals.pending, totals.balance()), (days(2), days(6)));
    let listed = fixture
        .ledger
        .list_assignments(&employee("e-1"), None, 10)
        .await
        .expect("assignments");
    assert_eq!(listed.items[0].effective_to, Some(date("2026-03-31")));

    let after_end = fixture
        .hold("after-1", "e-1", "2026-04-13", "2026-04-13")
        .await;
    assert!(
        matches!(&after_end, Err(LedgerError::Invalid(v)) if v.iter().any(|v| v.field == "employee_id")),
        "{after_end:?}"
    );
    fixture
        .hold("before-1", "e-1", "2026-03-12", "2026-03-12")
        .await
        .expect("a day before the end");
    let run = fixture.run(only("run-2", "e-1", "2026-05-01")).await;
    assert!(
        run.entries.is_empty(),
        "nothing accrues after the end: {run:?}"
    );

    // Undone: the end is restored, and the periods after it accrue.
    let reopened = fixture
        .ledger
        .reopen_assignments(ReopenAssignments {
            request_id: rid("reopen-1"),
            ended_by_request_id: "end-1".into(),
            employee_id: employee("e-1"),
        })
        .await
        .expect("reopen");
    assert_eq!(reopened.len(), 1);
    assert_eq!(reopened[0].effective_to, None);
    assert_eq!(
        fixture
            .ledger
            .list_assignments(&employee("e-1"), None, 10)
            .await
            .expect("assignments")
            .items[0]
            .effective_to,
        None
    );
    assert_eq!(
        fixture.ledger.get_hold(&late.id).await.expect("hold").state,
        HoldState::Voided,
        "a voided hold stays voided"
    );
    fixture
        .hold("after-2", "e-1", "2026-04-14", "2026-04-14")
        .await
        .expect("a day after the former end");
    let run = fixture.run(only("run-3", "e-1", "2026-05-01")).await;
    assert_eq!(
        run.entries
            .iter()
            .map(|entry| entry.effective_date)
            .collect::<Vec<_>>(),
        vec![date("2026-04-01"), date("2026-05-01")]
    );

    // Posting the earlier holds at the end.
    let early2 = fixture
        .hold("early-2", "e-2", "2026-03-09", "2026-03-10")
        .await
        .expect("hold");
    let late2 = fixture
        .hold("late-2", "e-2", "2026-04-06", "2026-04-07")
        .await
        .expect("hold");
    let ended = fixture
        .ledger
        .end_assignments(end_command("end-2", "e-2", "2026-03-31", true))
        .await
        .expect("end with posting");
    assert_eq!(ended.voided_hold_ids, vec![late2.id.clone()]);
    assert_eq!(ended.posted_hold_ids, vec![early2.id.clone()]);
    assert_eq!(
        fixture
            .ledger
            .get_hold(&early2.id)
            .await
            .expect("hold")
            .state,
        HoldState::Posted
    );
    let totals = fixture.totals("e-2", None).await;
    assert_eq!(
        (totals.pending, totals.consumed, totals.balance()),
        (Quantity::ZERO, days(2), days(4))
    );

    // An end before an assignment's first day is refused.
    let too_early = fixture
        .ledger
        .end_assignments(end_command("end-3", "e-3", "2026-05-31", false))
        .await;
    assert!(
        is_rejection(&too_early, |r| matches!(
            r,
            Rejection::AssignmentStartsLater { effective_from, .. }
                if *effective_from == date("2026-06-01")
        )),
        "{too_early:?}"
    );
    assert_eq!(
        fixture
            .ledger
            .list_assignments(&employee("e-3"), None, 10)
            .await
            .expect("assignments")
            .items[0]
            .effective_to,
        None
    );

    // A pending hold past its expiry expires at the end, as the sweeper would have done.
    let mut short = hold_command("short-1", "e-1", "2026-04-20", "2026-04-20");
    short.hold_timeout_secs = Some(3600);
    let short = fixture.ledger.hold_days(short).await.expect("hold");
    fixture.clock.advance(chrono::Duration::hours(2));
    let ended = fixture
        .ledger
        .end_assignments(end_command("end-5", "e-1", "2026-04-30", false))
        .await
        .expect("end again");
    assert!(!ended.voided_hold_ids.contains(&short.id), "{ended:?}");
    assert!(!ended.posted_hold_ids.contains(&short.id), "{ended:?}");
    assert_eq!(
        fixture
            .ledger
            .get_hold(&short.id)
            .await
            .expect("hold")
            .state,
        HoldState::Expired
    );
}

// ---- 9. Idempotency.

async fn accrual_freeze_and_end_requests_are_idempotent(backend: Backend) {
    let fixture = Fixture::with(backend, "2026-03-01", monthly(days(2)), &["e-1", "e-2"]).await;

    let first = fixture.run(only("run-1", "e-1", "2026-03-01")).await;
    assert_eq!(first.entries.len(), 3);
    let again = fixture.run(only("run-1", "e-1", "2026-03-01")).await;
    assert_eq!(first, again);
    assert_eq!(fixture.entries("e-1", &[]).await, first.entries);
    let reused = fixture
        .ledger
        .run_accruals(only("run-1", "e-1", "2026-04-01"))
        .await;
    assert!(
        matches!(reused, Err(LedgerError::IdempotencyKeyReused { .. })),
        "{reused:?}"
    );
    assert_eq!(fixture.entries("e-1", &[]).await.len(), 3);

    let freeze = fixture
        .ledger
        .freeze_accruals(freeze_command(
            "freeze-1",
            "e-1",
            "2026-04-01",
            "2026-04-30",
        ))
        .await
        .expect("freeze");
    let replayed = fixture
        .ledger
        .freeze_accruals(freeze_command(
            "freeze-1",
            "e-1",
            "2026-04-01",
            "2026-04-30",
        ))
        .await
        .expect("replayed freeze");
    assert_eq!(freeze, replayed);
    assert_eq!(fixture.count("accrual_freezes").await, 1);
    let reused = fixture
        .ledger
        .freeze_accruals(freeze_command(
            "freeze-1",
            "e-1",
            "2026-04-01",
            "2026-05-31",
        ))
        .await;
    assert!(
        matches!(reused, Err(LedgerError::IdempotencyKeyReused { .. })),
        "{reused:?}"
    );
    assert_eq!(fixture.count("accrual_freezes").await, 1);

    let unfreeze = |from: &str| UnfreezeAccruals {
        request_id: rid("unfreeze-1"),
        target: FreezeTarget::Id(freeze.id.clone()),
        expected_employee: None,
        from_date: Some(date(from)),
        reason: "early".into(),
    };
    let lifted = fixture
        .ledger
        .unfreeze_accruals(unfreeze("2026-04-16"))
        .await
        .expect("unfreeze");
    assert_eq!(
        fixture
            .ledger
            .unfreeze_accruals(unfreeze("2026-04-16"))
            .await
            .expect("replayed unfreeze"),
        lifted
    );
    let reused = fixture
        .ledger
        .unfreeze_accruals(unfreeze("2026-04-10"))
        .await;
    assert!(
        matches!(reused, Err(LedgerError::IdempotencyKeyReused { .. })),
        "{reused:?}"
    );
    let listed = fixture
        .ledger
        .list_freezes(&employee("e-1"), None)
        .await
        .expect("freezes");
    assert_eq!(listed[0].lifted_from, Some(date("2026-04-16")));

    fixture
        .hold("late-1", "e-2", "2026-04-06", "2026-04-06")
        .await
        .expect_err("e-2 has no balance yet");
    fixture.run(only("run-2", "e-2", "2026-03-01")).await;
    let late = fixture
        .hold("late-2", "e-2", "2026-04-06", "2026-04-06")
        .await
        .expect("hold");
    let ended = fixture
        .ledger
        .end_assignments(end_command("end-1", "e-2", "2026-03-31", false))
        .await
        .expect("end");
    assert_eq!(ended.voided_hold_ids, vec![late.id.clone()]);
    let void_entries = fixture.entries("e-2", &[EntryKind::Void]).await.len();
    let replayed = fixture
        .ledger
        .end_assignments(end_command("end-1", "e-2", "2026-03-31", false))
        .await
        .expect("replayed end");
    assert_eq!(ended, replayed);
    assert_eq!(fixture.count("assignment_endings").await, 1);
    assert_eq!(
        fixture.entries("e-2", &[EntryKind::Void]).await.len(),
        void_entries
    );
    let reused = fixture
        .ledger
        .end_assignments(end_command("end-1", "e-2", "2026-03-15", false))
        .await;
    assert!(
        matches!(reused, Err(LedgerError::IdempotencyKeyReused { .. })),
        "{reused:?}"
    );
    assert_eq!(
        fixture
            .ledger
            .list_assignments(&employee("e-2"), None, 10)
            .await
            .expect("assignments")
            .items[0]
            .effective_to,
        Some(date("2026-03-31"))
    );
    assert_eq!(fixture.count("assignment_endings").await, 1);

    // A key of another operation is refused too.
    let other_operation = fixture
        .ledger
        .run_accruals(only("freeze-1", "e-1", "2026-04-01"))
        .await;
    assert!(
        matches!(
            other_operation,
            Err(LedgerError::IdempotencyKeyReused { .. })
        ),
        "{other_operation:?}"
    );
    assert_eq!(fixture.entries("e-1", &[]).await.len(), 3);
}

/// A run over everyone records its answer after its batches: the same request replays it, and a
/// reused id is refused, both without accruing anything.
async fn a_run_over_everyone_under_a_reused_request_id_writes_nothing(backend: Backend) {
    let fixture = Fixture::with(backend, "2026-03-01", monthly(days(2)), &["e-1"]).await;
    let first = fixture.run(everyone("run-1", "2026-03-01")).await;
    assert_eq!(first.accruals, 3);
    assert_eq!(fixture.run(everyone("run-1", "2026-03-01")).await, first);
    assert_eq!(fixture.count("entries").await, 3);

    let reused = fixture
        .ledger
        .run_accruals(everyone("run-1", "2026-06-01"))
        .await;
    assert!(
        matches!(reused, Err(LedgerError::IdempotencyKeyReused { .. })),
        "{reused:?}"
    );
    assert_eq!(
        fixture.count("entries").await,
        3,
        "a refused request writes nothing"
    );
    let other_operation = fixture
        .ledger
        .run_accruals(everyone("policy-pto-monthly", "2026-06-01"))
        .await;
    assert!(
        matches!(
            other_operation,
            Err(LedgerError::IdempotencyKeyReused { .. })
        ),
        "{other_operation:?}"
    );
    assert_eq!(fixture.count("entries").await, 3);
}

// ---- 8. Balance consistency over random histories with runs, freezes, expiries and ends.

#[derive(Debug, Clone)]
enum Op {
    Grant { amount_millis: i64, day: u32 },
    Adjust { amount_millis: i64, day: u32 },
    Hold { day: u32, span: u32 },
    Post { nth: usize },
    Void { nth: usize },
    Reverse { nth: usize },
    Run { day: u32, everyone: bool },
    Freeze { day: u32, len: u32 },
    Unfreeze { nth: usize, from: Option<u32> },
    Extend { nth: usize, by: u32 },
    End { day: u32, post_earlier: bool },
    Reopen { nth: usize },
}

/// Days after 2026-01-01 the history spans: two year ends and a bit.
const HISTORY_DAYS: u32 = 760;

#[derive(Debug, Clone)]
struct Rules {
    frequency: AccrualFrequency,
    amount_millis: i64,
    max_balance: Option<i64>,
    carry_over_cap: Option<i64>,
    allow_negative: bool,
    year_start_month: u32,
}

fn rules_strategy() -> impl proptest::strategy::Strategy<Value = Rules> {
    use proptest::prelude::*;
    (
        prop_oneof![
            Just(AccrualFrequency::Monthly),
            Just(AccrualFrequency::SemiMonthly),
            Just(AccrualFrequency::Biweekly),
            Just(AccrualFrequency::Annual),
        ],
        1..4_000i64,
        proptest::option::of(3..30i64),
        proptest::option::weighted(0.8, 0..10i64),
        any::<bool>(),
        1..=12u32,
    )
        .prop_map(
            |(frequency, amount_millis, max_balance, carry_over_cap, allow_negative, month)| {
                Rules {
                    frequency,
                    amount_millis: if frequency == AccrualFrequency::Annual {
                        amount_millis * 6
                    } else {
                        amount_millis
                    },
                    max_balance,
                    carry_over_cap,
                    allow_negative,
                    year_start_month: month,
                }
            },
        )
}

fn op_strategy() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    let day = || 0..HISTORY_DAYS;
    prop_oneof![
        3 => (1..5_000i64, day()).prop_map(|(amount_millis, day)| Op::Grant { amount_millis, day }),
        2 => (-3_000..3_000i64, day()).prop_map(|(amount_millis, day)| Op::Adjust {
            amount_millis: if amount_millis == 0 { 500 } else { amount_millis },
            day
        }),
        3 => (day(), 0..4u32).prop_map(|(day, span)| Op::Hold { day, span }),
        2 => (0..8usize).prop_map(|nth| Op::Post { nth }),
        1 => (0..8usize).prop_map(|nth| Op::Void { nth }),
        1 => (0..8usize).prop_map(|nth| Op::Reverse { nth }),
        6 => (day(), any::<bool>()).prop_map(|(day, everyone)| Op::Run { day, everyone }),
        2 => (day(), 0..120u32).prop_map(|(day, len)| Op::Freeze { day, len }),
        2 => (0..4usize, proptest::option::of(day()))
            .prop_map(|(nth, from)| Op::Unfreeze { nth, from }),
        1 => (0..4usize, 1..90u32).prop_map(|(nth, by)| Op::Extend { nth, by }),
        1 => (day(), any::<bool>()).prop_map(|(day, post_earlier)| Op::End { day, post_earlier }),
        2 => (0..4usize).prop_map(|nth| Op::Reopen { nth }),
    ]
}

/// A business outcome (a rejection, an invalid request, a missing record) is part of the game;
/// anything else (a storage error, a broken invariant surfacing as an internal error) is a failure.
fn tolerated<T: std::fmt::Debug>(what: &str, result: Result<T>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(LedgerError::Rejected(_) | LedgerError::Invalid(_) | LedgerError::NotFound { .. }) => {
            None
        }
        Err(other) => panic!("{what}: {other:?}"),
    }
}

async fn check_accrual_history(backend: Backend, rules: Rules, ops: Vec<Op>) {
    let fixture = Fixture::new(backend, at("2027-03-01")).await;
    let policy = PolicySpec {
        year_start_month: rules.year_start_month,
        ..spec(
            rules.frequency,
            millis(rules.amount_millis),
            rules.max_balance.map(days),
            rules.carry_over_cap.map(days),
            rules.allow_negative,
        )
    };
    fixture.create_policy(POLICY, policy).await;
    fixture.assign("e-1", POLICY, "2026-01-01", None).await;
    let base = date("2026-01-01");
    let on = |day: u32| base + chrono::Duration::days(i64::from(day));
    let mut holds: Vec<String> = Vec::new();
    let mut reversible: Vec<i64> = Vec::new();
    let mut freezes: Vec<String> = Vec::new();
    let mut endings: Vec<String> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let request_id = format!("op-{i}");
        let what = format!("{request_id} {op:?}");
        match op {
            Op::Grant { amount_millis, day } | Op::Adjust { amount_millis, day } => {
                let kind = if matches!(op, Op::Grant { .. }) {
                    NewEntryKind::Accrual
                } else {
                    NewEntryKind::Adjustment
                };
                let appended = fixture
                    .append(
                        &request_id,
                        "e-1",
                        kind,
                        millis(*amount_millis),
                        &on(*day).to_string(),
                    )
                    .await;
                if let Some(appended) = tolerated(&what, appended) {
                    reversible.extend(appended.iter().map(|e| e.id));
                }
            }
            Op::Hold { day, span } => {
                let hold = fixture
                    .hold(
                        &request_id,
                        "e-1",
                        &on(*day).to_string(),
                        &on(day + span).to_string(),
                    )
                    .await;
                if let Some(hold) = tolerated(&what, hold) {
                    holds.push(hold.id);
                }
            }
            Op::Post { nth } | Op::Void { nth } if !holds.is_empty() => {
                let hold_id = holds[nth % holds.len()].clone();
                let result = if matches!(op, Op::Post { .. }) {
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
                tolerated(&what, result);
            }
            Op::Reverse { nth } if !reversible.is_empty() => {
                let entry_id = reversible[nth % reversible.len()];
                let result = fixture
                    .ledger
                    .reverse_entry(ReverseEntry {
                        request_id: rid(&request_id),
                        entry_id,
                        reason: "property".into(),
                        expected_employee: None,
                    })
                    .await;
                tolerated(&what, result);
            }
            Op::Run { day, everyone: all } => {
                let up_to = on(*day).to_string();
                let command = if *all {
                    everyone(&request_id, &up_to)
                } else {
                    only(&request_id, "e-1", &up_to)
                };
                fixture.run(command).await;
                // Scheduled accruals and expiries can be reversed too.
                let scheduled = fixture
                    .entries("e-1", &[EntryKind::Accrual, EntryKind::CarryOverExpiry])
                    .await;
                for entry in scheduled {
                    if !reversible.contains(&entry.id) {
                        reversible.push(entry.id);
                    }
                }
            }
            Op::Freeze { day, len } => {
                let freeze = fixture
                    .ledger
                    .freeze_accruals(freeze_command(
                        &request_id,
                        "e-1",
                        &on(*day).to_string(),
                        &on(day + len).to_string(),
                    ))
                    .await;
                if let Some(freeze) = tolerated(&what, freeze) {
                    freezes.push(freeze.id);
                }
            }
            Op::Unfreeze { nth, from } if !freezes.is_empty() => {
                let result = fixture
                    .ledger
                    .unfreeze_accruals(UnfreezeAccruals {
                        request_id: rid(&request_id),
                        target: FreezeTarget::Id(freezes[nth % freezes.len()].clone()),
                        expected_employee: Some(employee("e-1")),
                        from_date: from.map(on),
                        reason: "property".into(),
                    })
                    .await;
                tolerated(&what, result);
            }
            Op::Extend { nth, by } if !freezes.is_empty() => {
                let id = freezes[nth % freezes.len()].clone();
                let current = fixture
                    .ledger
                    .list_freezes(&employee("e-1"), None)
                    .await
                    .expect("freezes")
                    .into_iter()
                    .find(|freeze| freeze.id == id)
                    .expect("a listed freeze");
                let result = fixture
                    .ledger
                    .extend_freeze(ExtendFreeze {
                        request_id: rid(&request_id),
                        target: FreezeTarget::Id(id),
                        expected_employee: None,
                        end_date: current.end_date + chrono::Duration::days(i64::from(*by)),
                    })
                    .await;
                tolerated(&what, result);
            }
            Op::End { day, post_earlier } => {
                let result = fixture
                    .ledger
                    .end_assignments(end_command(
                        &request_id,
                        "e-1",
                        &on(*day).to_string(),
                        *post_earlier,
                    ))
                    .await;
                if tolerated(&what, result).is_some() {
                    endings.push(request_id.clone());
                }
            }
            Op::Reopen { nth } if !endings.is_empty() => {
                let result = fixture
                    .ledger
                    .reopen_assignments(ReopenAssignments {
                        request_id: rid(&request_id),
                        ended_by_request_id: endings[nth % endings.len()].clone(),
                        employee_id: employee("e-1"),
                    })
                    .await;
                tolerated(&what, result);
            }
            _ => {}
        }
    }
    // Brought up to the end, twice: the second run has nothing left to do.
    let end = on(HISTORY_DAYS).to_string();
    fixture.run(only("final-1", "e-1", &end)).await;
    let last = fixture.run(only("final-2", "e-1", &end)).await;
    assert!(last.entries.is_empty(), "{last:?}");

    let all = fixture.entries("e-1", &[]).await;
    let scan = |as_of: Option<NaiveDate>, before_id: Option<i64>| {
        all.iter()
            .filter(|e| as_of.is_none_or(|d| e.effective_date <= d))
            .filter(|e| before_id.is_none_or(|id| e.id < id))
            .fold(Totals::default(), |sum, e| sum.plus(e.deltas))
    };
    let running = fixture.totals("e-1", None).await;
    assert_eq!(running, scan(None, None), "running totals vs full scan");
    let balances = fixture
        .ledger
        .balances(employee("e-1"))
        .await
        .expect("balances");
    assert_eq!(balances.len(), 1);
    assert_eq!(balances[0].totals, running, "balances vs balance");
    let mut offsets: Vec<i64> = vec![-1, 0, 15, 30, 31, 59, 90, 120, 200, 400, 500, 600, 700, 800];
    // Every policy year's last and first days, where expiries are dated.
    for year in [2025, 2026, 2027] {
        let start = NaiveDate::from_ymd_opt(year, rules.year_start_month, 1).expect("a month");
        offsets.push((start - base).num_days() - 1);
        offsets.push((start - base).num_days());
    }
    for offset in offsets {
        let as_of = base + chrono::Duration::days(offset);
        let snapshot_based = fixture.totals("e-1", Some(&as_of.to_string())).await;
        assert_eq!(snapshot_based, scan(Some(as_of), None), "as of {as_of}");
    }

    // One scheduled accrual per period and one expiry per policy year.
    let mut accrued_periods = BTreeSet::new();
    let mut expired_years = BTreeSet::new();
    let amount = millis(rules.amount_millis);
    for entry in &all {
        match (entry.kind, entry.period) {
            (EntryKind::Accrual, Some(period)) => {
                assert!(accrued_periods.insert(period.start), "twice: {entry:?}");
                assert!(period.contains(entry.effective_date), "{entry:?}");
                assert!(
                    entry.amount.is_positive() && entry.amount <= amount,
                    "{entry:?}"
                );
                if let Some(max) = rules.max_balance.map(days) {
                    let before = scan(None, Some(entry.id)).balance();
                    assert!(
                        before + entry.amount <= max,
                        "over the maximum balance {max}: {before} + {entry:?}"
                    );
                }
            }
            (EntryKind::CarryOverExpiry, Some(year)) => {
                assert!(expired_years.insert(year.start), "twice: {entry:?}");
                assert_eq!(entry.effective_date, year.end, "{entry:?}");
                assert_eq!(
                    policy_year(rules.year_start_month, year.end),
                    year,
                    "{entry:?}"
                );
                let cap = days(rules.carry_over_cap.expect("expiries need a cap"));
                // What was available as of the year end when the expiry was appended (pending
                // days of the year count as taken).
                let at_year_end = scan(Some(year.end), Some(entry.id)).available();
                assert_eq!(
                    entry.amount,
                    cap - at_year_end,
                    "expires the excess over {cap}: {entry:?}"
                );
                assert!(entry.amount.is_negative(), "{entry:?}");
            }
            (EntryKind::CarryOverExpiry, None) => panic!("an expiry without a year: {entry:?}"),
            _ => {}
        }
    }
}

fn accrual_histories_keep_balances_consistent(backend: Backend) {
    use proptest::prelude::*;
    use proptest::test_runner::RngSeed;
    let mut config = ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    // Twelve histories, the same ones every run, unless asked otherwise (PROPTEST_CASES,
    // PROPTEST_RNG_SEED).
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 12;
    }
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = RngSeed::Fixed(0x4852_6d65_7368);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    proptest!(config, |(rules in rules_strategy(), ops in proptest::collection::vec(op_strategy(), 1..40))| {
        runtime.block_on(check_accrual_history(backend, rules, ops));
    });
}

#[test]
fn accrual_histories_keep_balances_consistent_on_sqlite() {
    accrual_histories_keep_balances_consistent(Backend::Sqlite);
}

#[test]
fn accrual_histories_keep_balances_consistent_on_postgres() {
    accrual_histories_keep_balances_consistent(Backend::Postgres);
}

/// Accruals are made in advance: ending an assignment inside an accrued period takes back the days
/// after the end, and reopening it gives them back.
async fn ending_inside_an_accrued_period_withdraws_the_days_after_it(backend: Backend) {
    let fixture = Fixture::with(
        backend,
        "2026-01-01",
        spec(AccrualFrequency::Annual, days(12), None, None, true),
        &["e-1"],
    )
    .await;
    fixture.run(everyone("run-1", "2026-01-01")).await;
    assert_eq!(fixture.totals("e-1", None).await.balance(), days(12));
    let ended = fixture
        .ledger
        .end_assignments(end_command("end-1", "e-1", "2026-03-31", false))
        .await
        .expect("end");
    // Entitled to 90 of 2026's 365 days: 2.958 (12 x 90 / 365, rounded down).
    let entitled = prorate(days(12), 90, 365);
    assert_eq!(entitled, millis(2958));
    assert_eq!(ended.withdrawn.len(), 1);
    assert_eq!(ended.withdrawn[0].amount, entitled - days(12));
    assert_eq!(ended.withdrawn[0].kind, EntryKind::Adjustment);
    assert_eq!(fixture.totals("e-1", None).await.balance(), entitled);
    assert_eq!(
        fixture.totals("e-1", Some("2026-01-01")).await.balance(),
        entitled,
        "as if it had been prorated from the start"
    );
    // An earlier end again withdraws only the difference; a later one nothing.
    let earlier = fixture
        .ledger
        .end_assignments(end_command("end-2", "e-1", "2026-01-31", false))
        .await
        .expect("an earlier end");
    assert_eq!(earlier.withdrawn.len(), 1);
    assert_eq!(
        fixture.totals("e-1", None).await.balance(),
        prorate(days(12), 31, 365)
    );
    fixture
        .ledger
        .reopen_assignments(ReopenAssignments {
            request_id: rid("reopen-2"),
            ended_by_request_id: "end-2".into(),
            employee_id: employee("e-1"),
        })
        .await
        .expect("reopen the earlier end");
    assert_eq!(fixture.totals("e-1", None).await.balance(), entitled);
    fixture
        .ledger
        .reopen_assignments(ReopenAssignments {
            request_id: rid("reopen-1"),
            ended_by_request_id: "end-1".into(),
            employee_id: employee("e-1"),
        })
        .await
        .expect("reopen");
    assert_eq!(fixture.totals("e-1", None).await.balance(), days(12));
    let run = fixture.run(everyone("run-2", "2026-06-01")).await;
    assert_eq!(run.accruals, 0, "the year accrued once");
}

/// Assigned again inside a period that accrued already (a rehire): the period is topped up to what
/// both assignments are entitled to, once.
async fn a_second_assignment_inside_an_accrued_period_is_topped_up(backend: Backend) {
    let fixture = Fixture::with(
        backend,
        "2026-01-01",
        spec(AccrualFrequency::Annual, days(20), None, None, true),
        &["e-1"],
    )
    .await;
    fixture.run(everyone("run-1", "2026-01-01")).await;
    fixture
        .ledger
        .end_assignments(end_command("end-1", "e-1", "2026-03-31", false))
        .await
        .expect("end");
    assert_eq!(
        fixture.totals("e-1", None).await.balance(),
        prorate(days(20), 90, 365)
    );
    fixture.assign("e-1", POLICY, "2026-09-01", None).await;
    let run = fixture.run(everyone("run-2", "2026-09-01")).await;
    assert_eq!(run.accruals, 1, "the top-up: {run:?}");
    // January to March and September to December: 90 + 122 days.
    assert_eq!(
        fixture.totals("e-1", None).await.balance(),
        prorate(days(20), 212, 365)
    );
    let again = fixture.run(everyone("run-3", "2026-10-01")).await;
    assert_eq!(again.accruals, 0);
    assert_eq!(
        fixture.entries("e-1", &[EntryKind::Accrual]).await.len(),
        1,
        "one accrual for the year"
    );
}

hrmesh_storage::test_on_every_backend!(
    a_second_assignment_inside_an_accrued_period_is_topped_up,
    ending_inside_an_accrued_period_withdraws_the_days_after_it,
    two_concurrent_runs_accrue_each_period_exactly_once,
    a_run_after_a_gap_catches_up_every_period_once,
    the_first_and_last_periods_are_prorated_by_assigned_days,
    accruals_stop_at_the_maximum_balance,
    the_balance_above_the_carry_over_cap_expires_once_at_the_year_end,
    a_freeze_stops_scheduled_accruals_and_grants_until_lifted,
    ending_an_assignment_voids_the_holds_after_it_and_can_be_undone,
    accrual_freeze_and_end_requests_are_idempotent,
    a_run_over_everyone_under_a_reused_request_id_writes_nothing,
);

// ---- Lock order under PostgreSQL's row locks (SQLite serialises whole write transactions).

/// What runs against an accrual run over the same accounts.
#[derive(Debug, Clone, Copy)]
enum Contender {
    /// An AppendEntries batch over both of the employee's accounts.
    Batch,
    /// Ending all the employee's assignments.
    End,
}

/// Waits (polling, no sleeping) until `waiting` sessions of the test database wait for a lock.
async fn until_waiting_for_locks(db: &sea_orm::DatabaseConnection, waiting: i64) {
    for _ in 0..100_000 {
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
            ))
            .await
            .expect("pg_stat_activity")
            .expect("a row");
        if row.try_get::<i64>("", "n").expect("count column") >= waiting {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("{waiting} sessions never waited for a lock");
}

/// Every request locks accounts in (employee, policy) order; an accrual run over accounts whose
/// ids are in another order must too, or a run and a request over two accounts of one employee
/// deadlock. The interleaving is forced: another session holds e-y's account, which a run
/// locking by id would reach holding e-z's pto-b, so that the contender (taking e-z's pto-a,
/// then pto-b) waits for it, and releasing the blocker closes the cycle. Locking in (employee,
/// policy) order, the run waits at e-y holding nothing and the contender goes through.
async fn a_run_and_a_request_over_the_same_accounts_do_not_deadlock(contender: Contender) {
    let fixture = Fixture::new(Backend::Postgres, at("2026-03-01")).await;
    let allow_negative = spec(AccrualFrequency::Monthly, days(2), None, None, true);
    fixture.create_policy("pto-b", allow_negative.clone()).await;
    fixture.create_policy("pto-a", allow_negative).await;
    // Account ids in this order: (e-z, pto-b), (e-y, pto-b), (e-z, pto-a).
    fixture.assign("e-z", "pto-b", "2026-01-01", None).await;
    fixture.assign("e-y", "pto-b", "2026-01-01", None).await;
    fixture.assign("e-z", "pto-a", "2026-01-01", None).await;
    let other = fixture.second_worker().await;
    let db = fixture.ledger.store().connection();

    let blocker = db.begin().await.expect("begin");
    blocker
        .execute_unprepared(
            "UPDATE accounts SET version = version WHERE employee_id = 'e-y' AND policy_id = 'pto-b'",
        )
        .await
        .expect("lock e-y's account");
    let runner = fixture.ledger.clone();
    let run = tokio::spawn(async move {
        runner
            .run_accruals(everyone("run-1", "2026-03-01"))
            .await
            .map(|_| ())
    });
    until_waiting_for_locks(db, 1).await;
    let request = tokio::spawn(async move {
        match contender {
            Contender::Batch => {
                let entry = |policy: &str| NewEntry {
                    employee_id: employee("e-z"),
                    policy_id: policy_id(policy),
                    kind: NewEntryKind::Adjustment,
                    amount: days(1),
                    effective_date: date("2026-02-15"),
                    reason: "payroll correction".into(),
                    reference: String::new(),
                };
                other
                    .append_entries(AppendEntries {
                        request_id: rid("batch-1"),
                        entries: vec![entry("pto-b"), entry("pto-a")],
                    })
                    .await
                    .map(|_| ())
            }
            Contender::End => other
                .end_assignments(EndAssignments {
                    request_id: rid("end-1"),
                    employee_id: employee("e-z"),
                    policy_id: None,
                    end_date: date("2026-12-31"),
                    post_earlier_holds: false,
                    reason: "leaves the company".into(),
                })
                .await
                .map(|_| ()),
        }
    });
    // Until the contender is through or waits too (the run's and its wait: the cycle's start).
    let mut request = request;
    let request_done = tokio::select! {
        done = &mut request => Some(done),
        () = until_waiting_for_locks(db, 2) => None,
    };
    blocker.commit().await.expect("release e-y's account");
    let run = run.await.expect("run task");
    let request = match request_done {
        Some(done) => done.expect("request task"),
        None => request.await.expect("request task"),
    };
    assert!(
        run.is_ok() && request.is_ok(),
        "{contender:?}: run {run:?}, request {request:?}"
    );
    // Both of e-z's accounts, January to March; ending them on 2026-12-31 first accrues every
    // period up to that day.
    let expected = match contender {
        Contender::Batch => 6,
        Contender::End => 24,
    };
    assert_eq!(fixture.accruals("e-z").await.len(), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_and_a_batch_over_the_same_accounts_do_not_deadlock_on_postgres() {
    a_run_and_a_request_over_the_same_accounts_do_not_deadlock(Contender::Batch).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_and_an_ending_over_the_same_accounts_do_not_deadlock_on_postgres() {
    a_run_and_a_request_over_the_same_accounts_do_not_deadlock(Contender::End).await;
}

/// A decision on a hold and an offboarding of its employee lock the account before the hold row,
/// both. The interleaving is forced: another session holds the account; the offboarding waits for
/// it, then the decision. A decision that took the hold row before waiting for the account would,
/// when the offboarding gets the account first once the blocker lets go, hold the row the
/// offboarding needs while waiting for the account the offboarding has.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_and_an_ending_of_the_same_hold_do_not_deadlock_on_postgres() {
    let fixture = Fixture::with(Backend::Postgres, "2026-03-01", monthly(days(2)), &["e-1"]).await;
    fixture.run(everyone("run-1", "2026-03-01")).await;
    let hold = fixture
        .hold("hold-1", "e-1", "2026-03-09", "2026-03-10")
        .await
        .expect("hold");
    let deciding = fixture.second_worker().await;
    let ending = fixture.second_worker().await;
    let db = fixture.ledger.store().connection();
    let blocker = db.begin().await.expect("begin");
    blocker
        .execute_unprepared(&format!(
            "UPDATE accounts SET version = version WHERE employee_id = 'e-1' AND policy_id = '{POLICY}'"
        ))
        .await
        .expect("lock the account");
    let end = tokio::spawn(async move {
        ending
            .end_assignments(end_command("end-1", "e-1", "2026-03-31", true))
            .await
    });
    until_waiting_for_locks(db, 1).await;
    let hold_id = hold.id.clone();
    let post = tokio::spawn(async move {
        deciding
            .post_hold(PostHold {
                request_id: rid("post-1"),
                hold_id,
                expected_employee: None,
            })
            .await
    });
    until_waiting_for_locks(db, 2).await;
    blocker.commit().await.expect("release the account");
    let end = end.await.expect("end task");
    let post = post.await.expect("post task");
    // Whichever got the account first decided the hold; the other finds it decided. Neither is
    // a deadlock (UNAVAILABLE).
    let ended = end.unwrap_or_else(|err| panic!("end: {err:?}"));
    match post {
        Err(LedgerError::Rejected(Rejection::HoldAlreadyResolved { .. })) => {
            assert_eq!(ended.posted_hold_ids, vec![hold.id.clone()]);
        }
        Ok(posted) => {
            assert_eq!(posted.state, HoldState::Posted);
            assert!(ended.posted_hold_ids.is_empty(), "{ended:?}");
        }
        other => panic!("post: {other:?}"),
    }
}
