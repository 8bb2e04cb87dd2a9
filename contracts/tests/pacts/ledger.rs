//! The contract with the ledger: the consumer side and the provider verification.

use std::collections::HashMap;

use hrmesh_contracts::states::*;
use hrmesh_contracts::verify::{Provider, Started, verify};
use hrmesh_domain::{EmployeeId, RequestId, SystemClock, Violations};
use hrmesh_ledger_core::*;
use hrmesh_ledger_server::{LedgerConfig, LedgerServer};
use hrmesh_ledger_store::SeaLedgerStore;
use hrmesh_mesh::testing::{Backend, TestDatabase};
use hrmesh_saga_core::Direction::{Compensate, Forward};
use pact_consumer::prelude::*;
use pact_models::v4::sync_message::SynchronousMessage;
use serde_json::{Value, json};

use crate::consumer::*;
use hrmesh_saga_core::StepOutput;

pub const PROVIDER: &str = "hrmesh-ledger";
const SERVICE: &str = "hrmesh.ledger.v1.LedgerService";

pub fn contract() -> Contract {
    let mut c = Contract::new(PROVIDER, SERVICE);
    let entry = |kind: &str, amount: JsonPattern, date: &str, reason: &str| {
        json_pattern!({
            "employeeId": like!("e-1"),
            "policyId": like!("pto"),
            "kind": kind,
            "amount": amount,
            "effectiveDate": term!(DATE, date),
            "reason": like!(reason),
            "reference": like!(SAGA),
        })
    };

    c.interaction(
        "append the bonus days of an outstanding review",
        &[E1_ASSIGNED_PTO],
        "AppendEntries",
        json_pattern!({
            "requestId": key_pattern(1, "do"),
            "entries": [entry(
                "ENTRY_KIND_ACCRUAL",
                term!(DECIMAL, "2").into(),
                "2026-11-20",
                &format!("bonus for review {REVIEW}"),
            )],
        }),
        Reply::Ok(json_pattern!({
            "entries": [{"entryId": term!(INT64, "1"), "amount": term!(DECIMAL, "2")}],
        })),
        Drive::new(
            complete_review(),
            1,
            Forward,
            Expect::Done(&[("entry_id", "1"), ("amount", "2")]),
        ),
    );
    c.interaction(
        "append bonus days while the employee's accruals are frozen",
        &[E1_PTO_FROZEN_IN_NOVEMBER],
        "AppendEntries",
        json_pattern!({
            "requestId": key_pattern(1, "do"),
            "entries": [entry(
                "ENTRY_KIND_ACCRUAL",
                term!(DECIMAL, "2").into(),
                "2026-11-20",
                &format!("bonus for review {REVIEW}"),
            )],
        }),
        Reply::Error("FAILED_PRECONDITION", error_info("ACCRUALS_FROZEN")),
        // No bonus is due during a PIP: the saga goes on without it.
        Drive::new(complete_review(), 1, Forward, Expect::Done(&[])),
    );
    c.interaction(
        "append the settlements of every balance at offboarding",
        &[E1_HAS_10_DAYS],
        "AppendEntries",
        json_pattern!({
            "requestId": key_pattern(3, "do"),
            "entries": [entry(
                "ENTRY_KIND_PAYOUT",
                term!("^-[0-9]+(\\.[0-9]{1,3})?$", "-10").into(),
                "2026-12-31",
                "offboarding payout",
            )],
        }),
        Reply::Ok(json_pattern!({
            "entries": [{
                "entryId": term!(INT64, "3"),
                "policyId": like!("pto"),
                "amount": term!(DECIMAL, "-10"),
            }],
        })),
        Drive::new(
            offboard_employee(),
            3,
            Forward,
            Expect::Done(&[("entry_ids", "3"), ("amounts", "pto=-10")]),
        )
        .with(
            2,
            StepOutput::Balances {
                available: vec![(policy("pto"), Quantity::from_units(10))],
            },
        ),
    );
    c.interaction(
        "reverse the settlements when offboarding compensates",
        &[E1_HAS_ENTRY],
        "ReverseEntry",
        Request::from(json_pattern!({
            "requestId": term!(
                format!("^saga:[0-9a-f-]{{36}}:3:undo/0$"),
                format!("{}/0", key(3, "undo"))
            ),
            "entryId": term!(INT64, "1"),
            "employeeId": like!("e-1"),
            "reason": like!(format!("saga {SAGA} compensation")),
        }))
        .inject("$.entryId", "entryId"),
        Reply::Ok(json_pattern!({
            "entryId": term!(INT64, "2"),
            "kind": "ENTRY_KIND_REVERSAL",
            "reversesEntryId": term!(INT64, "1"),
        })),
        Drive::new(offboard_employee(), 3, Compensate, Expect::Done(&[])).with(3, settled_pto()),
    );
    c.interaction(
        "reverse an entry when its saga compensates",
        &[E1_HAS_ENTRY],
        "ReverseEntry",
        Request::from(json_pattern!({
            "requestId": key_pattern(1, "undo"),
            "entryId": term!(INT64, "1"),
            "employeeId": like!("e-1"),
            "reason": like!(format!("saga {SAGA} compensation")),
        }))
        .inject("$.entryId", "entryId"),
        Reply::Ok(json_pattern!({
            "entryId": term!(INT64, "2"),
            "kind": "ENTRY_KIND_REVERSAL",
            "reversesEntryId": term!(INT64, "1"),
        })),
        Drive::new(complete_review(), 1, Compensate, Expect::Done(&[]))
            .after(1, &[("entry_id", "1"), ("amount", "2")]),
    );
    c.interaction(
        "reverse an entry that was reversed already",
        &[E1_HAS_REVERSED_ENTRY],
        "ReverseEntry",
        Request::from(json_pattern!({
            "requestId": key_pattern(1, "undo"),
            "entryId": term!(INT64, "1"),
            "employeeId": like!("e-1"),
            "reason": like!(format!("saga {SAGA} compensation")),
        }))
        .inject("$.entryId", "entryId"),
        Reply::Error("FAILED_PRECONDITION", error_info("ENTRY_ALREADY_REVERSED")),
        // The effect is gone already: the undo is done.
        Drive::new(complete_review(), 1, Compensate, Expect::Done(&[]))
            .after(1, &[("entry_id", "1"), ("amount", "2")]),
    );
    let hold_request = || {
        json_pattern!({
            "requestId": key_pattern(0, "do"),
            "employeeId": like!("e-1"),
            "policyId": like!("pto"),
            "dates": {"startDate": term!(DATE, "2026-12-14"), "endDate": term!(DATE, "2026-12-16")},
            "reference": like!(SAGA),
            "reason": like!("family visit"),
        })
    };
    c.interaction(
        "hold the days of a time-off request",
        &[E1_HAS_10_DAYS],
        "HoldDays",
        hold_request(),
        Reply::Ok(json_pattern!({
            "holdId": term!(UUID, HOLD),
            "state": "HOLD_STATE_PENDING",
            "total": term!(DECIMAL, "3"),
        })),
        Drive::new(
            request_time_off(),
            0,
            Forward,
            Expect::Done(&[("hold_id", HOLD), ("total", "3")]),
        ),
    );
    c.interaction(
        "hold more days than are available",
        &[E1_HAS_1_DAY],
        "HoldDays",
        hold_request(),
        Reply::Error("FAILED_PRECONDITION", error_info("INSUFFICIENT_BALANCE")),
        Drive::new(
            request_time_off(),
            0,
            Forward,
            Expect::Rejected("INSUFFICIENT_BALANCE"),
        ),
    );
    let void_request = || {
        Request::from(json_pattern!({
            "requestId": key_pattern(0, "undo"),
            "holdId": term!(UUID, HOLD),
            "employeeId": like!("e-1"),
            "reason": like!(format!("saga {SAGA} compensation")),
        }))
        .inject("$.holdId", "holdId")
    };
    c.interaction(
        "void a hold when its saga compensates",
        &[E1_HAS_PENDING_HOLD],
        "VoidHold",
        void_request(),
        Reply::Ok(json_pattern!({"state": "HOLD_STATE_VOIDED"})),
        Drive::new(request_time_off(), 0, Compensate, Expect::Done(&[]))
            .after(0, &[("hold_id", HOLD), ("total", "3")]),
    );
    c.interaction(
        "void a hold that was voided already",
        &[E1_HAS_VOIDED_HOLD],
        "VoidHold",
        void_request(),
        Reply::Error(
            "FAILED_PRECONDITION",
            json_pattern!({
                "reason": "HOLD_ALREADY_RESOLVED",
                "metadata": {"state": "voided"},
            }),
        ),
        // Nothing is held any more: the undo is done.
        Drive::new(request_time_off(), 0, Compensate, Expect::Done(&[]))
            .after(0, &[("hold_id", HOLD), ("total", "3")]),
    );
    let decided = |state: &str| {
        json_pattern!({
            "state": state,
            "days": each_like!({"date": term!(DATE, "2026-12-14")}),
        })
    };
    c.interaction(
        "post an approved hold",
        &[E1_HAS_PENDING_HOLD],
        "PostHold",
        Request::from(json_pattern!({
            "requestId": key_pattern(0, "do"),
            "holdId": term!(UUID, HOLD),
            "employeeId": like!("e-1"),
        }))
        .inject("$.holdId", "holdId"),
        Reply::Ok(decided("HOLD_STATE_POSTED")),
        Drive::new(
            decide_time_off(true),
            0,
            Forward,
            Expect::Done(&[("start_date", "2026-12-14"), ("end_date", "2026-12-14")]),
        ),
    );
    c.interaction(
        "post a hold of another employee than the saga's",
        &[E3_HAS_PENDING_HOLD],
        "PostHold",
        Request::from(json_pattern!({
            "requestId": key_pattern(0, "do"),
            "holdId": term!(UUID, HOLD),
            "employeeId": like!("e-1"),
        }))
        .inject("$.holdId", "holdId"),
        Reply::Error(
            "PERMISSION_DENIED",
            json_pattern!({
                "reason": "RECORD_OF_ANOTHER_EMPLOYEE",
                "metadata": {"record": "hold"},
            }),
        ),
        Drive::new(
            decide_time_off(true),
            0,
            Forward,
            Expect::Rejected("RECORD_OF_ANOTHER_EMPLOYEE"),
        ),
    );
    c.interaction(
        "void a rejected hold",
        &[E1_HAS_PENDING_HOLD],
        "VoidHold",
        Request::from(json_pattern!({
            "requestId": key_pattern(0, "do"),
            "holdId": term!(UUID, HOLD),
            "employeeId": like!("e-1"),
            "reason": like!("team offsite that week"),
            // A rejection, not a cancellation: its event is time_off.rejected.
            "rejected": true,
        }))
        .inject("$.holdId", "holdId"),
        Reply::Ok(decided("HOLD_STATE_VOIDED")),
        Drive::new(
            decide_time_off(false),
            0,
            Forward,
            Expect::Done(&[("start_date", "2026-12-14"), ("end_date", "2026-12-14")]),
        ),
    );
    c.interaction(
        "read every balance to settle at offboarding",
        &[E1_HAS_10_DAYS],
        "ListBalances",
        json_pattern!({"employeeId": like!("e-1")}),
        Reply::Ok(json_pattern!({
            "balances": [{"policyId": like!("pto"), "available": term!(DECIMAL, "10")}],
        })),
        Drive::new(
            offboard_employee(),
            2,
            Forward,
            Expect::Done(&[("available", "pto=10")]),
        ),
    );
    c.interaction(
        "end the assignments on the last day at offboarding",
        &[E1_HAS_PENDING_HOLD],
        "EndAssignments",
        json_pattern!({
            "requestId": key_pattern(1, "do"),
            "employeeId": like!("e-1"),
            "endDate": term!(DATE, "2026-12-31"),
            "postEarlierHolds": true,
            "reason": like!("offboarding"),
        }),
        Reply::Ok(json_pattern!({
            "assignments": [{
                "assignmentId": term!(UUID, ASSIGNMENT),
                "effectiveTo": term!(DATE, "2026-12-31"),
            }],
            "postedHoldIds": [term!(UUID, HOLD)],
        })),
        Drive::new(
            offboard_employee(),
            1,
            Forward,
            Expect::Done(&[
                ("ended_assignments", "1"),
                ("voided_hold_ids", ""),
                ("posted_hold_ids", HOLD),
            ]),
        ),
    );
    c.interaction(
        "restore the assignments' ends when offboarding compensates",
        &[E1_ASSIGNMENTS_ENDED],
        "ReopenAssignments",
        json_pattern!({
            "requestId": key_pattern(1, "undo"),
            "endedByRequestId": like!(key(1, "do")),
            "employeeId": like!("e-1"),
        }),
        Reply::Ok(json_pattern!({
            "assignments": [{"assignmentId": term!(UUID, ASSIGNMENT)}],
        })),
        Drive::new(offboard_employee(), 1, Compensate, Expect::Done(&[])),
    );
    c.interaction(
        "assign the leave policies at onboarding",
        &[POLICY_PTO],
        "AssignPolicies",
        json_pattern!({
            "requestId": key_pattern(0, "do"),
            "employeeId": like!("e-7"),
            "policyIds": ["pto"],
            "effectiveFrom": term!(DATE, "2026-12-01"),
        }),
        Reply::Ok(json_pattern!({
            "assignments": [{"assignmentId": term!(UUID, ASSIGNMENT), "policyId": like!("pto")}],
        })),
        Drive::new(
            onboard_employee(),
            0,
            Forward,
            Expect::Done(&[("assignment_ids", ASSIGNMENT)]),
        ),
    );
    c.interaction(
        "run the first accrual at onboarding",
        &[E7_ASSIGNED_PTO],
        "RunAccruals",
        json_pattern!({
            "requestId": key_pattern(1, "do"),
            "upToDate": term!(DATE, "2026-12-01"),
            "employeeId": like!("e-7"),
        }),
        Reply::Ok(json_pattern!({
            "accounts": term!(INT64, "1"),
            "accrualEntries": term!(INT64, "1"),
            "entries": [{
                "kind": "ENTRY_KIND_ACCRUAL",
                "amount": term!(DECIMAL, "2"),
                "effectiveDate": term!(DATE, "2026-12-01"),
                "period": {
                    "startDate": term!(DATE, "2026-12-01"),
                    "endDate": term!(DATE, "2026-12-31"),
                },
            }],
        })),
        Drive::new(
            onboard_employee(),
            1,
            Forward,
            Expect::Done(&[("accrual_entries", "1")]),
        ),
    );
    c.interaction(
        "freeze the bonus accrual for a PIP",
        &[E1_ASSIGNED_PTO],
        "FreezeAccruals",
        json_pattern!({
            "requestId": key_pattern(1, "do"),
            "employeeId": like!("e-1"),
            "policyId": like!("pto"),
            "dates": {"startDate": term!(DATE, "2026-12-01"), "endDate": term!(DATE, "2027-02-26")},
            "reason": like!("performance improvement plan"),
            "reference": like!(PIP),
        }),
        Reply::Ok(json_pattern!({"freezeId": term!(UUID, FREEZE)})),
        Drive::new(
            initiate_pip(),
            1,
            Forward,
            Expect::Done(&[("freeze_id", FREEZE)]),
        )
        .after(0, &[("pip_id", PIP), ("first_check_in", "2026-12-15")]),
    );
    c.interaction(
        "undo the freeze when initiating a PIP compensates",
        &[E1_HAS_SAGA_FREEZE],
        "UnfreezeAccruals",
        json_pattern!({
            "requestId": key_pattern(1, "undo"),
            "target": {"frozenByRequestId": like!(key(1, "do"))},
            "employeeId": like!("e-1"),
            "reason": like!(format!("saga {SAGA} compensation")),
        }),
        Reply::Ok(json_pattern!({"freezes": [{"freezeId": term!(UUID, FREEZE)}]})),
        Drive::new(
            initiate_pip(),
            1,
            Compensate,
            Expect::Done(&[("freezes", "1")]),
        ),
    );
    c.interaction(
        "lift the freeze of a concluded PIP",
        &[E1_HAS_PIP_FREEZE],
        "UnfreezeAccruals",
        json_pattern!({
            "requestId": key_pattern(1, "do"),
            "target": {"reference": like!(PIP)},
            "employeeId": like!("e-1"),
            "fromDate": term!(DATE, "2026-12-01"),
            "reason": like!(format!("PIP {PIP} concluded: successful")),
        }),
        Reply::Ok(json_pattern!({
            "freezes": [{"freezeId": term!(UUID, FREEZE), "liftedFrom": term!(DATE, "2026-12-01")}],
        })),
        Drive::new(
            conclude_pip(false),
            1,
            Forward,
            Expect::Done(&[("freezes", "1")]),
        ),
    );
    c.interaction(
        "extend the freeze of an extended PIP",
        &[E1_HAS_PIP_FREEZE],
        "ExtendFreeze",
        json_pattern!({
            "requestId": key_pattern(1, "do"),
            "target": {"reference": like!(PIP)},
            "employeeId": like!("e-1"),
            "endDate": term!(DATE, "2027-04-30"),
        }),
        Reply::Ok(json_pattern!({
            "freezes": [{
                "freezeId": term!(UUID, FREEZE),
                "dates": {"endDate": term!(DATE, "2027-04-30")},
            }],
        })),
        Drive::new(
            conclude_pip(true),
            1,
            Forward,
            Expect::Done(&[("freezes", "1")]),
        ),
    );
    c.erase_personal_data(1);
    c
}

// ---- provider

fn rid(text: &str) -> RequestId {
    RequestId::parse("request_id", text, &mut Violations::default()).expect("request id")
}

fn employee(text: &str) -> EmployeeId {
    EmployeeId::parse("employee_id", text, &mut Violations::default()).expect("employee id")
}

fn pto() -> PolicyId {
    PolicyId::parse("policy_id", "pto", &mut Violations::default()).expect("policy id")
}

fn date(text: &str) -> chrono::NaiveDate {
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("date")
}

type StateLedger = Ledger<SeaLedgerStore, SystemClock>;

async fn create_pto(ledger: &StateLedger) -> anyhow::Result<()> {
    ledger
        .create_policy(CreatePolicy {
            request_id: rid("state/policy"),
            policy_id: pto(),
            spec: PolicySpec {
                resource_type: ResourceType::parse(
                    "resource_type",
                    "pto",
                    &mut Violations::default(),
                )
                .expect("resource type"),
                unit: Unit::Days,
                accrual: AccrualRule {
                    frequency: AccrualFrequency::Monthly,
                    amount: Quantity::from_units(2),
                    max_balance: None,
                },
                allow_negative: false,
                carry_over_cap: None,
                full_day: Quantity::from_units(1),
                count_weekends: false,
                year_start_month: 1,
            },
        })
        .await?;
    Ok(())
}

async fn assign_e1(ledger: &StateLedger) -> anyhow::Result<()> {
    assign(ledger, "e-1").await
}

async fn assign(ledger: &StateLedger, employee_id: &str) -> anyhow::Result<()> {
    create_pto(ledger).await?;
    ledger
        .assign_policy(AssignPolicy {
            request_id: rid(&format!("state/assign/{employee_id}")),
            employee_id: employee(employee_id),
            policy_id: pto(),
            effective_from: date("2026-01-01"),
            effective_to: None,
        })
        .await?;
    Ok(())
}

/// Assigns pto to e-1 and accrues `days`; answers the accrual's entry id.
async fn accrue_e1(ledger: &StateLedger, days: i64) -> anyhow::Result<i64> {
    accrue(ledger, "e-1", days).await
}

/// Assigns pto to `employee_id` and accrues `days`; answers the accrual's entry id.
async fn accrue(ledger: &StateLedger, employee_id: &str, days: i64) -> anyhow::Result<i64> {
    assign(ledger, employee_id).await?;
    let entries = ledger
        .append_entries(AppendEntries {
            request_id: rid(&format!("state/accrue/{employee_id}")),
            entries: vec![NewEntry {
                employee_id: employee(employee_id),
                policy_id: pto(),
                kind: NewEntryKind::Accrual,
                amount: Quantity::from_units(days),
                effective_date: date("2026-01-31"),
                reason: "monthly accrual".into(),
                reference: String::new(),
            }],
        })
        .await?;
    Ok(entries[0].id)
}

/// Assigns pto to e-1 and freezes it over the PIP's period; answers the freeze's id.
async fn freeze_e1(
    ledger: &StateLedger,
    request_id: &str,
    reference: &str,
) -> anyhow::Result<String> {
    assign_e1(ledger).await?;
    let freeze = ledger
        .freeze_accruals(FreezeAccruals {
            request_id: rid(request_id),
            employee_id: employee("e-1"),
            policy_id: pto(),
            start_date: date("2026-12-01"),
            end_date: date("2027-02-26"),
            reason: "performance improvement plan".into(),
            reference: reference.into(),
        })
        .await?;
    Ok(freeze.id)
}

async fn hold_e1(ledger: &StateLedger) -> anyhow::Result<String> {
    hold(ledger, "e-1").await
}

async fn hold(ledger: &StateLedger, employee_id: &str) -> anyhow::Result<String> {
    accrue(ledger, employee_id, 10).await?;
    let hold = ledger
        .hold_days(HoldDays {
            request_id: rid(&format!("state/hold/{employee_id}")),
            employee_id: employee(employee_id),
            policy_id: pto(),
            start_date: date("2026-12-14"),
            end_date: date("2026-12-14"),
            half_days: Vec::new(),
            hold_timeout_secs: None,
            reference: String::new(),
            reason: "a day off".into(),
        })
        .await?;
    Ok(hold.id)
}

/// Sets up one provider state; the values it creates go into `values`.
async fn set_up(
    ledger: &StateLedger,
    state: &str,
    values: &mut HashMap<String, Value>,
) -> anyhow::Result<()> {
    match state {
        POLICY_PTO => create_pto(ledger).await?,
        E1_ASSIGNED_PTO => assign_e1(ledger).await?,
        E1_HAS_10_DAYS => {
            accrue_e1(ledger, 10).await?;
        }
        E1_HAS_1_DAY => {
            accrue_e1(ledger, 1).await?;
        }
        E1_HAS_ENTRY => {
            let id = accrue_e1(ledger, 10).await?;
            values.insert("entryId".into(), json!(id.to_string()));
        }
        E1_HAS_REVERSED_ENTRY => {
            let id = accrue_e1(ledger, 10).await?;
            ledger
                .reverse_entry(ReverseEntry {
                    request_id: rid("state/reverse"),
                    entry_id: id,
                    reason: "entered twice".into(),
                    expected_employee: None,
                })
                .await?;
            values.insert("entryId".into(), json!(id.to_string()));
        }
        E1_HAS_PENDING_HOLD => {
            let hold_id = hold_e1(ledger).await?;
            values.insert("holdId".into(), json!(hold_id));
        }
        E3_HAS_PENDING_HOLD => {
            let hold_id = hold(ledger, "e-3").await?;
            values.insert("holdId".into(), json!(hold_id));
        }
        E1_HAS_VOIDED_HOLD => {
            let hold_id = hold_e1(ledger).await?;
            ledger
                .void_hold(VoidHold {
                    rejected: false,
                    request_id: rid("state/void"),
                    hold_id: hold_id.clone(),
                    reason: "plans changed".into(),
                    expected_employee: None,
                })
                .await?;
            values.insert("holdId".into(), json!(hold_id));
        }
        E7_ASSIGNED_PTO => {
            create_pto(ledger).await?;
            ledger
                .assign_policy(AssignPolicy {
                    request_id: rid("state/assign/e-7"),
                    employee_id: employee("e-7"),
                    policy_id: pto(),
                    effective_from: date("2026-12-01"),
                    effective_to: None,
                })
                .await?;
        }
        E1_HAS_SAGA_FREEZE => {
            let freeze = freeze_e1(ledger, &key(1, "do"), "").await?;
            values.insert("freezeId".into(), json!(freeze));
        }
        E1_HAS_PIP_FREEZE => {
            freeze_e1(ledger, "state/freeze", PIP).await?;
            values.insert("pipId".into(), json!(PIP));
        }
        E1_PTO_FROZEN_IN_NOVEMBER => {
            assign_e1(ledger).await?;
            ledger
                .freeze_accruals(FreezeAccruals {
                    request_id: rid("state/freeze-november"),
                    employee_id: employee("e-1"),
                    policy_id: pto(),
                    start_date: date("2026-11-01"),
                    end_date: date("2026-11-30"),
                    reason: "performance improvement plan".into(),
                    reference: PIP.into(),
                })
                .await?;
        }
        E1_ASSIGNMENTS_ENDED => {
            assign_e1(ledger).await?;
            ledger
                .end_assignments(EndAssignments {
                    request_id: rid(&key(1, "do")),
                    employee_id: employee("e-1"),
                    policy_id: None,
                    end_date: date("2026-12-31"),
                    post_earlier_holds: true,
                    reason: "offboarding".into(),
                })
                .await?;
        }
        other => anyhow::bail!("the ledger has no set-up for the provider state \"{other}\""),
    }
    Ok(())
}

/// The real ledger server on a fresh database, states set up through the ledger's own service.
pub struct RealLedger {
    pub backend: Backend,
    /// Skip the provider states (a negative control).
    pub skip_states: bool,
}

impl Provider for RealLedger {
    type Running = (LedgerServer, TestDatabase);

    async fn start(
        &self,
        interaction: &SynchronousMessage,
    ) -> anyhow::Result<Started<Self::Running>> {
        let db = TestDatabase::new(self.backend).await;
        let store = SeaLedgerStore::open(
            &db.url,
            hrmesh_ledger_server::events::encode,
            hrmesh_mesh::testing::keyring(),
        )
        .await?;
        let ledger = Ledger::new(store.clone(), SystemClock);
        let mut values = HashMap::new();
        if !self.skip_states {
            for state in &interaction.provider_states {
                set_up(&ledger, &state.name, &mut values).await?;
            }
        }
        let mut config = LedgerConfig {
            // Accruals run when a test asks (RunAccruals), not on the wall clock.
            accrual_run_interval_secs: 0,
            ..LedgerConfig::default()
        };
        config.common.listen = ([127, 0, 0, 1], 0).into();
        hrmesh_mesh::testing::secure(&mut config.common);
        let server = LedgerServer::start_with(store, SystemClock, &config).await?;
        let channel = crate::connect(&server.server.uri()).await?;
        Ok(Started {
            running: (server, db),
            channel,
            values,
        })
    }

    async fn stop(&self, (server, _db): Self::Running) -> anyhow::Result<()> {
        server.stop().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer() {
    let exercised = contract().run().await;
    crate::assert_every_command_exercised(PROVIDER, &exercised);
}

async fn provider(backend: Backend) {
    let report = verify(
        &pact_path(PROVIDER),
        &RealLedger {
            backend,
            skip_states: false,
        },
    )
    .await
    .expect("verification ran");
    println!("{report}");
    assert!(report.passed(), "{report}");
}

hrmesh_mesh::test_on_every_backend!(provider);

/// Without its provider states the real ledger cannot honour the pact: the check can fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_without_states_fails() {
    let report = verify(
        &pact_path(PROVIDER),
        &RealLedger {
            backend: Backend::Sqlite,
            skip_states: true,
        },
    )
    .await
    .expect("verification ran");
    assert!(!report.passed(), "{report}");
    let failures = report.failures().join("\n");
    assert!(
        failures.contains("hold the days of a time-off request")
            && failures.contains("grpc-status"),
        "{failures}"
    );
}
