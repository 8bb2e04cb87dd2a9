//! What the sagas did, read back from each service as an admin, and the assertions on it.

use std::collections::HashMap;

use hrmesh_mesh::client::MeshChannel;
use hrmesh_mesh::testing;
use hrmesh_proto::common::{AuditEvent, ListAuditEventsRequest};
use hrmesh_proto::ledger as lpb;
use hrmesh_proto::ledger::ledger_service_client::LedgerServiceClient;
use hrmesh_proto::notification as npb;
use hrmesh_proto::notification::notification_service_client::NotificationServiceClient;
use hrmesh_proto::orchestrator::saga_service_client::SagaServiceClient;
use hrmesh_proto::orchestrator::{GetSagaRequest, Saga, StepStatus, WatchSagaRequest};
use hrmesh_proto::performance as ppb;
use hrmesh_proto::performance::performance_service_client::PerformanceServiceClient;
use tonic::Status;

/// The employee's ledger entries (up to 500).
pub async fn entries(
    ledger: &mut LedgerServiceClient<MeshChannel>,
    employee: &str,
) -> Vec<lpb::Entry> {
    ledger
        .list_entries(lpb::ListEntriesRequest {
            employee_id: employee.into(),
            page_size: 500,
            ..Default::default()
        })
        .await
        .expect("entries")
        .into_inner()
        .entries
}

/// The employee's balance of policy `pto` today.
pub async fn balance(
    ledger: &mut LedgerServiceClient<MeshChannel>,
    employee: &str,
) -> lpb::Balance {
    ledger
        .get_balance(lpb::GetBalanceRequest {
            employee_id: employee.into(),
            policy_id: "pto".into(),
            as_of_date: String::new(),
        })
        .await
        .expect("balance")
        .into_inner()
}

pub async fn review(
    performance: &mut PerformanceServiceClient<MeshChannel>,
    review_id: &str,
) -> ppb::Review {
    performance
        .get_review(ppb::GetReviewRequest {
            review_id: review_id.into(),
        })
        .await
        .expect("review")
        .into_inner()
}

/// What the recipient was sent (up to 100).
pub async fn inbox(
    notifications: &mut NotificationServiceClient<MeshChannel>,
    recipient: &str,
) -> Vec<npb::Notification> {
    notifications
        .list_notifications(npb::ListNotificationsRequest {
            recipient_id: recipient.into(),
            page_size: 100,
            ..Default::default()
        })
        .await
        .expect("notifications")
        .into_inner()
        .notifications
}

pub async fn saga(sagas: &mut SagaServiceClient<MeshChannel>, saga_id: &str) -> Saga {
    sagas
        .get_saga(GetSagaRequest {
            saga_id: saga_id.into(),
        })
        .await
        .expect("get saga")
        .into_inner()
}

/// Waits for the saga to settle by watching it.
pub async fn settled(sagas: &mut SagaServiceClient<MeshChannel>, saga_id: &str) -> Saga {
    let mut updates = sagas
        .watch_saga(WatchSagaRequest {
            saga_id: saga_id.into(),
        })
        .await
        .expect("watch")
        .into_inner();
    while updates.message().await.expect("update").is_some() {}
    saga(sagas, saga_id).await
}

/// The status of each of the saga's steps.
pub fn statuses(saga: &Saga) -> Vec<StepStatus> {
    saga.steps
        .iter()
        .map(|step| StepStatus::try_from(step.status).expect("status"))
        .collect()
}

/// The kind of each event in the saga's history.
pub fn kinds(saga: &Saga) -> Vec<&str> {
    saga.history.iter().map(|e| e.kind.as_str()).collect()
}

/// The reason and metadata of the status's `google.rpc.ErrorInfo`.
pub fn reason_of(status: &Status) -> (String, HashMap<String, String>) {
    let (_, reason, metadata) = testing::reason_of(status);
    (reason, metadata)
}

/// The service's audit trail, read by an admin.
pub async fn audit_trail(service: &str, url: &str) -> Vec<AuditEvent> {
    audit_trail_over(service, testing::admin_channel(url)).await
}

/// The service's audit trail, read by an admin over `channel`.
pub async fn audit_trail_over(service: &str, channel: MeshChannel) -> Vec<AuditEvent> {
    let request = ListAuditEventsRequest::default();
    let reply = match service {
        "ledger" => {
            LedgerServiceClient::new(channel)
                .list_audit_events(request)
                .await
        }
        "performance" => {
            PerformanceServiceClient::new(channel)
                .list_audit_events(request)
                .await
        }
        "notification" => {
            NotificationServiceClient::new(channel)
                .list_audit_events(request)
                .await
        }
        _ => {
            SagaServiceClient::new(channel)
                .list_audit_events(request)
                .await
        }
    };
    reply
        .expect("an admin lists the audit trail")
        .into_inner()
        .events
}
