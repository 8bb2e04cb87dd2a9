//! The ledger's gRPC server on port 0 with a real database, driven by the generated client.

mod bad_input;
mod permissions;
mod personal_data;
mod rejections;
mod rpcs;
mod transport;

use chrono::{TimeZone, Utc};
use hrmesh_domain::ManualClock;
use hrmesh_ledger_server::{LedgerConfig, LedgerServer};
use hrmesh_ledger_store::SeaLedgerStore;
use hrmesh_mesh::client::MeshChannel;
use hrmesh_mesh::testing::{Backend, TestDatabase};
pub(crate) use hrmesh_mesh::testing::{reason_of, violated_fields};
use hrmesh_proto::common::DateRange;
use hrmesh_proto::ledger::ledger_service_client::LedgerServiceClient;
use hrmesh_proto::ledger::*;

pub(crate) struct Harness {
    pub(crate) client: LedgerServiceClient<MeshChannel>,
    pub(crate) clock: ManualClock,
    pub(crate) server: LedgerServer,
    pub(crate) db: TestDatabase,
}

impl Harness {
    pub(crate) async fn start(backend: Backend) -> Self {
        let db = TestDatabase::new(backend).await;
        let store = SeaLedgerStore::open(
            &db.url,
            hrmesh_ledger_server::events::encode,
            hrmesh_mesh::testing::keyring(),
        )
        .await
        .expect("open store");
        let clock = ManualClock::new(
            Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0)
                .single()
                .expect("time"),
        );
        let mut config = LedgerConfig {
            // Accruals run when a test asks (RunAccruals), not on the wall clock.
            accrual_run_interval_secs: 0,
            ..LedgerConfig::default()
        };
        hrmesh_mesh::testing::secure(&mut config.common);
        config.common.listen = "127.0.0.1:0".parse().expect("addr");
        config.common.cors_allowed_origins = vec!["https://hr.example.test".into()];
        let server = LedgerServer::start_with(store, clock.clone(), &config)
            .await
            .expect("start server");
        let client =
            LedgerServiceClient::new(hrmesh_mesh::testing::admin_channel(&server.server.uri()));
        Harness {
            client,
            clock,
            server,
            db,
        }
    }

    /// Policy "pto-standard" (days, no negative balance), assigned to e-1, with 10 days accrued.
    pub(crate) async fn with_pto(backend: Backend) -> Self {
        let mut harness = Self::start(backend).await;
        harness
            .client
            .create_policy(create_policy_request("policy-1", "pto-standard"))
            .await
            .expect("create policy");
        harness
            .client
            .assign_policy(assign_request("assign-1", "e-1", "pto-standard"))
            .await
            .expect("assign");
        harness
            .client
            .append_entries(accrual_request("accrue-1", "e-1", "10", "2026-01-31"))
            .await
            .expect("accrue");
        harness
    }

    pub(crate) async fn entry_count(&mut self, employee_id: &str) -> usize {
        self.client
            .list_entries(ListEntriesRequest {
                employee_id: employee_id.into(),
                page_size: 500,
                ..Default::default()
            })
            .await
            .expect("list entries")
            .into_inner()
            .entries
            .len()
    }

    pub(crate) async fn balance(&mut self, as_of: &str) -> Balance {
        self.client
            .get_balance(GetBalanceRequest {
                employee_id: "e-1".into(),
                policy_id: "pto-standard".into(),
                as_of_date: as_of.into(),
            })
            .await
            .expect("balance")
            .into_inner()
    }
}

pub(crate) fn create_policy_request(request_id: &str, policy_id: &str) -> CreatePolicyRequest {
    CreatePolicyRequest {
        request_id: request_id.into(),
        policy_id: policy_id.into(),
        policy: Some(Policy {
            resource_type: "pto".into(),
            unit: Unit::Days as i32,
            accrual: Some(AccrualRule {
                frequency: AccrualFrequency::Monthly as i32,
                amount: "1.75".into(),
                max_balance: String::new(),
            }),
            allow_negative: false,
            carry_over_cap: "5".into(),
            ..Default::default()
        }),
    }
}

pub(crate) fn assign_request(
    request_id: &str,
    employee_id: &str,
    policy_id: &str,
) -> AssignPolicyRequest {
    AssignPolicyRequest {
        request_id: request_id.into(),
        employee_id: employee_id.into(),
        policy_id: policy_id.into(),
        effective_from: "2026-01-01".into(),
        effective_to: String::new(),
    }
}

pub(crate) fn accrual_request(
    request_id: &str,
    employee_id: &str,
    amount: &str,
    on: &str,
) -> AppendEntriesRequest {
    AppendEntriesRequest {
        request_id: request_id.into(),
        entries: vec![NewEntry {
            employee_id: employee_id.into(),
            policy_id: "pto-standard".into(),
            kind: EntryKind::Accrual as i32,
            amount: amount.into(),
            effective_date: on.into(),
            ..Default::default()
        }],
    }
}

pub(crate) fn hold_request(request_id: &str, from: &str, to: &str) -> HoldDaysRequest {
    HoldDaysRequest {
        request_id: request_id.into(),
        employee_id: "e-1".into(),
        policy_id: "pto-standard".into(),
        dates: Some(DateRange {
            start_date: from.into(),
            end_date: to.into(),
        }),
        reference: "time-off-request-9".into(),
        reason: "family visit".into(),
        ..Default::default()
    }
}
