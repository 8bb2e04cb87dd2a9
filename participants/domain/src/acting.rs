//! The HR authorisation policy: who may read or act on an employee's records, and why not.
//!
//! Pure functions over what a verified token says about its caller. Which permission makes a
//! caller an admin of a service, and how a refusal travels (a gRPC status), is the transport's
//! business; the rules are decided here, once, for every service.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// What kind of caller a token speaks for (recorded in the audit trail).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorType {
    Employee,
    Manager,
    Admin,
    System,
}

impl ActorType {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorType::Employee => "employee",
            ActorType::Manager => "manager",
            ActorType::Admin => "admin",
            ActorType::System => "system",
        }
    }
}

impl std::str::FromStr for ActorType {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "employee" => Ok(ActorType::Employee),
            "manager" => Ok(ActorType::Manager),
            "admin" => Ok(ActorType::Admin),
            "system" => Ok(ActorType::System),
            other => Err(format!(
                "unknown actor type {other:?} (expected employee, manager, admin or system)"
            )),
        }
    }
}

/// Who, besides services and admins, may act on an employee's behalf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActingRule {
    /// Only the employee themselves (e.g. their self-assessment, feedback they give).
    SelfOnly,
    /// The employee themselves or their manager (e.g. asking for time off).
    SelfOrManager,
    /// Only their manager (e.g. completing their review, deciding their time off).
    Manager,
    /// Nobody but admins (e.g. onboarding and offboarding).
    Admin,
}

/// Why a caller may not read or act on an employee's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The records are another employee's, and the caller neither is them nor (where the rule
    /// allows it) manages them.
    NotOwnRecord,
    /// Only the employee's manager may do this.
    NotManager,
    /// Only an admin may do this.
    AdminOnly,
}

/// A verified caller as the policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub subject: &'a str,
    pub actor: ActorType,
    /// Employees whose records the caller may read and act on as their manager.
    pub manages: &'a BTreeSet<String>,
    /// Whether the caller holds the admin permission of the service being called.
    pub is_admin: bool,
}

impl Caller<'_> {
    /// Services (system actors) and admins are trusted with every employee's records: the
    /// service's own permissions decide what it may call at all.
    fn trusted(&self) -> bool {
        self.actor == ActorType::System || self.is_admin
    }

    /// Whether this caller may see `employee_id`'s records: their own, those of employees they
    /// manage, and all of them as an admin or a service.
    pub fn may_read(&self, employee_id: &str) -> Result<(), Refusal> {
        if self.trusted() || self.subject == employee_id || self.manages.contains(employee_id) {
            Ok(())
        } else {
            Err(Refusal::NotOwnRecord)
        }
    }

    /// Whether this caller may act on `employee_id` under `rule` (for [`ActingRule::Admin`] the
    /// id is not looked at and may name the record instead).
    pub fn may_act_for(&self, employee_id: &str, rule: ActingRule) -> Result<(), Refusal> {
        if self.trusted() {
            return Ok(());
        }
        let own = self.subject == employee_id;
        let managed = self.manages.contains(employee_id);
        match rule {
            ActingRule::SelfOnly if own => Ok(()),
            ActingRule::SelfOrManager if own || managed => Ok(()),
            ActingRule::Manager if managed => Ok(()),
            ActingRule::SelfOnly | ActingRule::SelfOrManager => Err(Refusal::NotOwnRecord),
            ActingRule::Manager => Err(Refusal::NotManager),
            ActingRule::Admin => Err(Refusal::AdminOnly),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller<'a>(actor: ActorType, manages: &'a BTreeSet<String>, is_admin: bool) -> Caller<'a> {
        Caller {
            subject: "e-1",
            actor,
            manages,
            is_admin,
        }
    }

    #[test]
    fn employees_act_for_themselves_and_managers_for_their_reports() {
        let none = BTreeSet::new();
        let reports: BTreeSet<String> = ["e-2".to_owned()].into();
        let employee = caller(ActorType::Employee, &none, false);
        let manager = caller(ActorType::Manager, &reports, false);
        assert_eq!(employee.may_act_for("e-1", ActingRule::SelfOnly), Ok(()));
        assert_eq!(
            employee.may_act_for("e-2", ActingRule::SelfOrManager),
            Err(Refusal::NotOwnRecord)
        );
        assert_eq!(
            employee.may_act_for("e-1", ActingRule::Manager),
            Err(Refusal::NotManager),
            "nobody is their own manager"
        );
        assert_eq!(manager.may_act_for("e-2", ActingRule::Manager), Ok(()));
        assert_eq!(
            manager.may_act_for("e-2", ActingRule::SelfOrManager),
            Ok(())
        );
        assert_eq!(
            manager.may_act_for("e-2", ActingRule::SelfOnly),
            Err(Refusal::NotOwnRecord),
            "a manager does not give feedback in their report's name"
        );
        assert_eq!(
            manager.may_act_for("e-2", ActingRule::Admin),
            Err(Refusal::AdminOnly)
        );
        assert_eq!(manager.may_read("e-2"), Ok(()));
        assert_eq!(manager.may_read("e-3"), Err(Refusal::NotOwnRecord));
    }

    #[test]
    fn services_and_admins_act_for_anyone() {
        let none = BTreeSet::new();
        for trusted in [
            caller(ActorType::System, &none, false),
            caller(ActorType::Admin, &none, true),
        ] {
            for rule in [
                ActingRule::SelfOnly,
                ActingRule::SelfOrManager,
                ActingRule::Manager,
                ActingRule::Admin,
            ] {
                assert_eq!(trusted.may_act_for("e-9", rule), Ok(()), "{trusted:?}");
            }
            assert_eq!(trusted.may_read("e-9"), Ok(()));
        }
        assert_eq!(
            caller(ActorType::Admin, &none, false).may_act_for("e-9", ActingRule::Admin),
            Err(Refusal::AdminOnly),
            "the admin actor type alone grants nothing without the service's admin permission"
        );
    }
}
