//! The orchestrator's integration events as the catalogue's messages (`hrmesh.events.v1`),
//! encoded for the saga log's outbox.

use hrmesh_mesh::events::{pack, timestamp};
use hrmesh_proto::events as pb;
use hrmesh_saga_core::sagas::offboard_employee::Settlement;
use hrmesh_saga_core::{IntegrationEvent, SagaFacts};

fn saga_ref(facts: &SagaFacts) -> pb::SagaRef {
    pb::SagaRef {
        saga_id: facts.saga_id.clone(),
        saga_type: facts.saga_type.clone(),
        employee_id: facts.employee_id.clone(),
        started_at: Some(timestamp(facts.started_at)),
    }
}

/// The outbox's encoder for the orchestrator ([`hrmesh_saga_store::SagaLog::open`]).
pub fn encode(event: &IntegrationEvent) -> Vec<u8> {
    match event {
        IntegrationEvent::SagaCompleted(facts) => pack(&pb::SagaCompleted {
            saga: Some(saga_ref(facts)),
        }),
        IntegrationEvent::SagaCompensated(facts) => pack(&pb::SagaCompensated {
            saga: Some(saga_ref(facts)),
            reason: facts.reason.clone(),
        }),
        IntegrationEvent::SagaStuck(facts) => pack(&pb::SagaStuck {
            saga: Some(saga_ref(facts)),
            reason: facts.reason.clone(),
        }),
        IntegrationEvent::EmployeeOnboarded {
            saga,
            start_date,
            policy_ids,
        } => pack(&pb::EmployeeOnboarded {
            employee_id: saga.employee_id.clone(),
            saga_id: saga.saga_id.clone(),
            start_date: start_date.to_string(),
            policy_ids: policy_ids.clone(),
        }),
        IntegrationEvent::EmployeeOffboarded {
            saga,
            last_day,
            settlement,
        } => pack(&pb::EmployeeOffboarded {
            employee_id: saga.employee_id.clone(),
            saga_id: saga.saga_id.clone(),
            last_day: last_day.to_string(),
            settlement: match settlement {
                Settlement::Payout => pb::Settlement::Payout,
                Settlement::Forfeit => pb::Settlement::Forfeiture,
            }
            .into(),
        }),
    }
}
