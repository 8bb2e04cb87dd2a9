//! The orchestrator's integration events (catalogued in `proto/hrmesh/events/v1`): a saga that
//! completed, was compensated or got stuck, and the employee an onboarding or offboarding saga
//! brought in or out. The saga log writes them in the transaction that records the saga's state.

use chrono::{DateTime, NaiveDate, Utc};
use hrmesh_domain::DomainEvent;
use serde::{Deserialize, Serialize};

use crate::sagas::offboard_employee::Settlement;
use crate::{SagaInput, SagaState};

/// Which saga, about whom, and the log's summary of how it ended (system text, no person's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SagaFacts {
    pub saga_id: String,
    pub saga_type: String,
    pub employee_id: String,
    pub started_at: DateTime<Utc>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum IntegrationEvent {
    SagaCompleted(SagaFacts),
    SagaCompensated(SagaFacts),
    SagaStuck(SagaFacts),
    EmployeeOnboarded {
        saga: SagaFacts,
        start_date: NaiveDate,
        policy_ids: Vec<String>,
    },
    EmployeeOffboarded {
        saga: SagaFacts,
        last_day: NaiveDate,
        settlement: Settlement,
    },
}

impl IntegrationEvent {
    /// The events of a saga whose state just became `state` (none for running or compensating).
    pub fn on_reaching(state: SagaState, facts: SagaFacts, input: Option<&SagaInput>) -> Vec<Self> {
        match state {
            SagaState::Running | SagaState::Compensating => Vec::new(),
            SagaState::Compensated => vec![Self::SagaCompensated(facts)],
            SagaState::Stuck => vec![Self::SagaStuck(facts)],
            SagaState::Completed => {
                let employee = match input {
                    Some(SagaInput::OnboardEmployee(onboard)) => Some(Self::EmployeeOnboarded {
                        saga: facts.clone(),
                        start_date: onboard.start_date,
                        policy_ids: onboard.policy_ids.iter().map(ToString::to_string).collect(),
                    }),
                    Some(SagaInput::OffboardEmployee(offboard)) => Some(Self::EmployeeOffboarded {
                        saga: facts.clone(),
                        last_day: offboard.last_day,
                        settlement: offboard.settlement,
                    }),
                    _ => None,
                };
                std::iter::once(Self::SagaCompleted(facts))
                    .chain(employee)
                    .collect()
            }
        }
    }

    pub fn facts(&self) -> &SagaFacts {
        match self {
            Self::SagaCompleted(facts) | Self::SagaCompensated(facts) | Self::SagaStuck(facts) => {
                facts
            }
            Self::EmployeeOnboarded { saga, .. } | Self::EmployeeOffboarded { saga, .. } => saga,
        }
    }
}

impl DomainEvent for IntegrationEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::SagaCompleted(_) => "hrmesh.orchestrator.saga.completed.v1",
            Self::SagaCompensated(_) => "hrmesh.orchestrator.saga.compensated.v1",
            Self::SagaStuck(_) => "hrmesh.orchestrator.saga.stuck.v1",
            Self::EmployeeOnboarded { .. } => "hrmesh.orchestrator.employee.onboarded.v1",
            Self::EmployeeOffboarded { .. } => "hrmesh.orchestrator.employee.offboarded.v1",
        }
    }

    fn subject(&self) -> &str {
        &self.facts().employee_id
    }

    fn aggregate(&self) -> String {
        format!("saga/{}", self.facts().saga_id)
    }
}
