//! The business sagas, one module each: the typed input, the steps with their kinds, and
//! `plan`: what each step does in each direction, given the input and the outputs of the steps
//! before it. Pure; the server executes the plans.

pub mod complete_review;
pub mod conclude_pip;
pub mod decide_time_off;
pub mod erase_personal_data;
pub mod initiate_pip;
pub mod offboard_employee;
pub mod onboard_employee;
pub mod request_time_off;

use std::sync::OnceLock;

use chrono::NaiveDate;
use hrmesh_domain::EmployeeId;
use serde::{Deserialize, Serialize};

use crate::command::ParticipantCommand;
use crate::output::StepOutput;
use crate::{Definition, Direction, LockMode, StepDef, idempotency_key};

pub use complete_review::CompleteReview;
pub use conclude_pip::ConcludePip;
pub use decide_time_off::DecideTimeOff;
pub use erase_personal_data::ErasePersonalData;
pub use initiate_pip::InitiatePip;
pub use offboard_employee::{OffboardEmployee, Settlement};
pub use onboard_employee::OnboardEmployee;
pub use request_time_off::RequestTimeOff;

/// The saga types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SagaType {
    CompleteReview,
    RequestTimeOff,
    DecideTimeOff,
    InitiatePip,
    OffboardEmployee,
    OnboardEmployee,
    ConcludePip,
    ErasePersonalData,
}

/// Who, besides services and saga admins, may start a saga about an employee.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Starter {
    /// The employee themselves or their manager.
    SelfOrManager,
    /// Only their manager.
    Manager,
    /// Nobody but admins.
    Admin,
}

impl SagaType {
    pub const ALL: [SagaType; 8] = [
        SagaType::CompleteReview,
        SagaType::RequestTimeOff,
        SagaType::DecideTimeOff,
        SagaType::InitiatePip,
        SagaType::OffboardEmployee,
        SagaType::OnboardEmployee,
        SagaType::ConcludePip,
        SagaType::ErasePersonalData,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SagaType::CompleteReview => "complete-review",
            SagaType::RequestTimeOff => "request-time-off",
            SagaType::DecideTimeOff => "decide-time-off",
            SagaType::InitiatePip => "initiate-pip",
            SagaType::OffboardEmployee => "offboard-employee",
            SagaType::OnboardEmployee => "onboard-employee",
            SagaType::ConcludePip => "conclude-pip",
            SagaType::ErasePersonalData => "erase-personal-data",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }

    /// Who may start it.
    pub fn starter(self) -> Starter {
        match self {
            SagaType::RequestTimeOff => Starter::SelfOrManager,
            SagaType::CompleteReview
            | SagaType::DecideTimeOff
            | SagaType::InitiatePip
            | SagaType::ConcludePip => Starter::Manager,
            SagaType::OffboardEmployee
            | SagaType::OnboardEmployee
            | SagaType::ErasePersonalData => Starter::Admin,
        }
    }

    fn shape(self) -> (LockMode, &'static [StepDef]) {
        match self {
            SagaType::CompleteReview => (complete_review::LOCK, complete_review::STEPS),
            SagaType::RequestTimeOff => (request_time_off::LOCK, request_time_off::STEPS),
            SagaType::DecideTimeOff => (decide_time_off::LOCK, decide_time_off::STEPS),
            SagaType::InitiatePip => (initiate_pip::LOCK, initiate_pip::STEPS),
            SagaType::OffboardEmployee => (offboard_employee::LOCK, offboard_employee::STEPS),
            SagaType::OnboardEmployee => (onboard_employee::LOCK, onboard_employee::STEPS),
            SagaType::ConcludePip => (conclude_pip::LOCK, conclude_pip::STEPS),
            SagaType::ErasePersonalData => (erase_personal_data::LOCK, erase_personal_data::STEPS),
        }
    }

    /// The saga's steps, checked for order once (a test builds every one).
    pub fn definition(self) -> &'static Definition {
        static DEFINITIONS: OnceLock<Vec<Definition>> = OnceLock::new();
        let all = DEFINITIONS.get_or_init(|| {
            SagaType::ALL
                .into_iter()
                .map(|kind| {
                    let (lock, steps) = kind.shape();
                    Definition::new(kind.as_str(), lock, steps.to_vec())
                        .unwrap_or_else(|err| panic!("saga definitions are static: {err}"))
                })
                .collect()
        });
        &all[self as usize]
    }
}

/// A saga's input, typed and valid: what `StartSaga` was asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SagaInput {
    CompleteReview(CompleteReview),
    RequestTimeOff(RequestTimeOff),
    DecideTimeOff(DecideTimeOff),
    InitiatePip(InitiatePip),
    OffboardEmployee(OffboardEmployee),
    OnboardEmployee(OnboardEmployee),
    ConcludePip(ConcludePip),
    ErasePersonalData(ErasePersonalData),
}

impl SagaInput {
    pub fn saga_type(&self) -> SagaType {
        match self {
            SagaInput::CompleteReview(_) => SagaType::CompleteReview,
            SagaInput::RequestTimeOff(_) => SagaType::RequestTimeOff,
            SagaInput::DecideTimeOff(_) => SagaType::DecideTimeOff,
            SagaInput::InitiatePip(_) => SagaType::InitiatePip,
            SagaInput::OffboardEmployee(_) => SagaType::OffboardEmployee,
            SagaInput::OnboardEmployee(_) => SagaType::OnboardEmployee,
            SagaInput::ConcludePip(_) => SagaType::ConcludePip,
            SagaInput::ErasePersonalData(_) => SagaType::ErasePersonalData,
        }
    }

    /// The employee the saga is about: the one its starter must be allowed to act for, and the
    /// owner every record it names must have.
    pub fn employee(&self) -> &EmployeeId {
        match self {
            SagaInput::CompleteReview(i) => &i.employee_id,
            SagaInput::RequestTimeOff(i) => &i.employee_id,
            SagaInput::DecideTimeOff(i) => &i.employee_id,
            SagaInput::InitiatePip(i) => &i.employee_id,
            SagaInput::OffboardEmployee(i) => &i.employee_id,
            SagaInput::OnboardEmployee(i) => &i.employee_id,
            SagaInput::ConcludePip(i) => &i.employee_id,
            SagaInput::ErasePersonalData(i) => &i.employee_id,
        }
    }

    /// What `step` does in `direction`.
    pub fn plan(&self, step: usize, direction: Direction, ctx: &StepContext<'_>) -> Plan {
        match self {
            SagaInput::CompleteReview(i) => i.plan(step, direction, ctx),
            SagaInput::RequestTimeOff(i) => i.plan(step, direction, ctx),
            SagaInput::DecideTimeOff(i) => i.plan(step, direction, ctx),
            SagaInput::InitiatePip(i) => i.plan(step, direction, ctx),
            SagaInput::OffboardEmployee(i) => i.plan(step, direction, ctx),
            SagaInput::OnboardEmployee(i) => i.plan(step, direction, ctx),
            SagaInput::ConcludePip(i) => i.plan(step, direction, ctx),
            SagaInput::ErasePersonalData(i) => i.plan(step, direction, ctx),
        }
    }
}

/// What a step does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Call a participant.
    Call(ParticipantCommand),
    /// Nothing to call: the step's output is known (nothing to settle, an undo of a read).
    Done(StepOutput),
    /// The definition has no such call (a programmer error; the step is refused).
    Undefined,
}

/// What a step's plan may look at besides the input.
#[derive(Debug, Clone, Copy)]
pub struct StepContext<'a> {
    pub saga_id: &'a str,
    /// The day the saga was created: the effective date of entries it writes, so a re-driven
    /// call is the same request.
    pub created: NaiveDate,
    /// Outputs of the steps that succeeded, by index.
    pub outputs: &'a [Option<StepOutput>],
}

impl StepContext<'_> {
    /// The idempotency key of a call of this saga.
    pub fn key(&self, step: usize, direction: Direction) -> String {
        idempotency_key(self.saga_id, step, direction)
    }

    pub fn output(&self, step: usize) -> Option<&StepOutput> {
        self.outputs.get(step).and_then(Option::as_ref)
    }

    /// Why a compensation undoes something.
    pub fn undo_reason(&self) -> String {
        format!("saga {} compensation", self.saga_id)
    }
}

fn date_text(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

fn optional_date_text(date: Option<NaiveDate>) -> String {
    date.map(date_text).unwrap_or_default()
}
