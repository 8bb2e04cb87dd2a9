//! What a step's call returned that later steps (and people reading the saga) need.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use hrmesh_domain::Quantity;

use crate::command::PipOutcome;
use crate::ids::PolicyId;
use serde::{Deserialize, Serialize};

/// A step's typed result. Each command has one shape; steps that need no call say what they
/// decided in the same terms (e.g. an `Entry` with no entry when there is nothing to settle).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StepOutput {
    Nothing,
    ReviewFinalized {
        manager_id: String,
        /// The review's cycle as people read it ("annual", "semi-annual", …).
        cycle: String,
    },
    /// The entry appended, or `None` when there was nothing to append.
    Entry {
        entry_id: Option<i64>,
        amount: Quantity,
    },
    Hold {
        hold_id: String,
        total: Quantity,
    },
    HoldResolved {
        start_date: Option<NaiveDate>,
        end_date: Option<NaiveDate>,
    },
    PipOpened {
        pip_id: String,
        first_check_in: Option<NaiveDate>,
    },
    RecordsClosed {
        records: u32,
    },
    Balance {
        available: Quantity,
    },
    Notified {
        notification_id: String,
    },
    /// The data keys a participant destroyed (0 when none was left).
    Erased {
        keys_destroyed: u32,
    },
    PolicyAssigned {
        assignment_id: String,
    },
    ReviewCreated {
        review_id: String,
    },
    GoalsCreated {
        goal_ids: Vec<String>,
    },
    PoliciesAssigned {
        assignment_ids: Vec<String>,
    },
    PipConcluded {
        manager_id: String,
        outcome: PipOutcome,
        end_date: Option<NaiveDate>,
    },
    /// The freeze created, or none when there was nothing to freeze.
    Frozen {
        freeze_id: Option<String>,
    },
    /// How many freezes a lift or an extension touched.
    FreezesChanged {
        freezes: u32,
    },
    AssignmentsEnded {
        assignments: u32,
        voided_hold_ids: Vec<String>,
        posted_hold_ids: Vec<String>,
    },
    /// What each policy has available, by policy.
    Balances {
        available: Vec<(PolicyId, Quantity)>,
    },
    /// The entries appended, in request order.
    Entries {
        entries: Vec<AppendedEntry>,
    },
    Accrued {
        entries: u32,
    },
}

/// One entry a saga appended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendedEntry {
    pub entry_id: i64,
    pub policy_id: PolicyId,
    pub amount: Quantity,
}

fn date_text(date: Option<NaiveDate>) -> String {
    date.map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

impl StepOutput {
    /// The output as named facts, for display (the saga's steps in the API).
    pub fn facts(&self) -> BTreeMap<&'static str, String> {
        let mut facts = BTreeMap::new();
        match self {
            StepOutput::Nothing => {}
            StepOutput::ReviewFinalized { manager_id, cycle } => {
                facts.insert("manager_id", manager_id.clone());
                facts.insert("cycle", cycle.clone());
            }
            StepOutput::Entry { entry_id, amount } => {
                facts.insert(
                    "entry_id",
                    entry_id.map(|id| id.to_string()).unwrap_or_default(),
                );
                facts.insert("amount", amount.to_string());
            }
            StepOutput::Hold { hold_id, total } => {
                facts.insert("hold_id", hold_id.clone());
                facts.insert("total", total.to_string());
            }
            StepOutput::HoldResolved {
                start_date,
                end_date,
            } => {
                facts.insert("start_date", date_text(*start_date));
                facts.insert("end_date", date_text(*end_date));
            }
            StepOutput::PipOpened {
                pip_id,
                first_check_in,
            } => {
                facts.insert("pip_id", pip_id.clone());
                facts.insert("first_check_in", date_text(*first_check_in));
            }
            StepOutput::RecordsClosed { records } => {
                facts.insert("closed_records", records.to_string());
            }
            StepOutput::Balance { available } => {
                facts.insert("available", available.to_string());
            }
            StepOutput::Notified { notification_id } => {
                facts.insert("notification_id", notification_id.clone());
            }
            StepOutput::Erased { keys_destroyed } => {
                facts.insert("keys_destroyed", keys_destroyed.to_string());
            }
            StepOutput::PolicyAssigned { assignment_id } => {
                facts.insert("assignment_id", assignment_id.clone());
            }
            StepOutput::ReviewCreated { review_id } => {
                facts.insert("review_id", review_id.clone());
            }
            StepOutput::GoalsCreated { goal_ids } => {
                facts.insert("goal_ids", goal_ids.join(","));
            }
            StepOutput::PoliciesAssigned { assignment_ids } => {
                facts.insert("assignment_ids", assignment_ids.join(","));
            }
            StepOutput::PipConcluded {
                manager_id,
                outcome,
                end_date,
            } => {
                facts.insert("manager_id", manager_id.clone());
                facts.insert("outcome", outcome.words().to_owned());
                facts.insert("end_date", date_text(*end_date));
            }
            StepOutput::Frozen { freeze_id } => {
                facts.insert("freeze_id", freeze_id.clone().unwrap_or_default());
            }
            StepOutput::FreezesChanged { freezes } => {
                facts.insert("freezes", freezes.to_string());
            }
            StepOutput::AssignmentsEnded {
                assignments,
                voided_hold_ids,
                posted_hold_ids,
            } => {
                facts.insert("ended_assignments", assignments.to_string());
                facts.insert("voided_hold_ids", voided_hold_ids.join(","));
                facts.insert("posted_hold_ids", posted_hold_ids.join(","));
            }
            StepOutput::Balances { available } => {
                let text: Vec<String> = available
                    .iter()
                    .map(|(policy, amount)| format!("{policy}={amount}"))
                    .collect();
                facts.insert("available", text.join(","));
            }
            StepOutput::Entries { entries } => {
                let ids: Vec<String> = entries.iter().map(|e| e.entry_id.to_string()).collect();
                let amounts: Vec<String> = entries
                    .iter()
                    .map(|e| format!("{}={}", e.policy_id, e.amount))
                    .collect();
                facts.insert("entry_ids", ids.join(","));
                facts.insert("amounts", amounts.join(","));
            }
            StepOutput::Accrued { entries } => {
                facts.insert("accrual_entries", entries.to_string());
            }
        }
        facts
    }

    /// Reads the string map a version-1 log kept, by the keys each step wrote.
    pub fn from_legacy(map: &BTreeMap<String, String>) -> Self {
        let get = |key: &str| map.get(key).cloned().unwrap_or_default();
        let quantity = |key: &str| {
            let mut ignored = hrmesh_domain::Violations::default();
            Quantity::parse(key, &get(key), &mut ignored).unwrap_or(Quantity::ZERO)
        };
        let date = |key: &str| NaiveDate::parse_from_str(&get(key), "%Y-%m-%d").ok();
        let has = |key: &str| map.contains_key(key);
        if has("manager_id") && has("cycle") {
            StepOutput::ReviewFinalized {
                manager_id: get("manager_id"),
                cycle: get("cycle"),
            }
        } else if has("entry_id") {
            StepOutput::Entry {
                entry_id: get("entry_id").parse().ok(),
                amount: quantity("amount"),
            }
        } else if has("hold_id") {
            StepOutput::Hold {
                hold_id: get("hold_id"),
                total: quantity("total"),
            }
        } else if has("start_date") || has("end_date") {
            StepOutput::HoldResolved {
                start_date: date("start_date"),
                end_date: date("end_date"),
            }
        } else if has("pip_id") {
            StepOutput::PipOpened {
                pip_id: get("pip_id"),
                first_check_in: date("first_check_in"),
            }
        } else if has("closed_records") {
            StepOutput::RecordsClosed {
                records: get("closed_records").parse().unwrap_or(0),
            }
        } else if has("available") {
            StepOutput::Balance {
                available: quantity("available"),
            }
        } else if has("notification_id") {
            StepOutput::Notified {
                notification_id: get("notification_id"),
            }
        } else if has("assignment_id") {
            StepOutput::PolicyAssigned {
                assignment_id: get("assignment_id"),
            }
        } else if has("review_id") {
            StepOutput::ReviewCreated {
                review_id: get("review_id"),
            }
        } else if has("goal_ids") {
            StepOutput::GoalsCreated {
                goal_ids: get("goal_ids")
                    .split(',')
                    .filter(|id| !id.is_empty())
                    .map(str::to_owned)
                    .collect(),
            }
        } else {
            StepOutput::Nothing
        }
    }
}
