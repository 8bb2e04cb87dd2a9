//! A hold nobody decides expires, and its employee is told: the real ledger (on a manual clock)
//! sends `time_off.expired` through the real notification service, once.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use hrmesh_domain::ManualClock;
use hrmesh_ledger_server::{LedgerConfig, LedgerServer};
use hrmesh_ledger_store::SeaLedgerStore;
use hrmesh_mesh::testing::{self, Backend, TestDatabase};
use hrmesh_notification_server::{NotificationConfig, NotificationServer};
use hrmesh_proto::common::DateRange;
use hrmesh_proto::ledger as lpb;
use hrmesh_proto::ledger::ledger_service_client::LedgerServiceClient;
use hrmesh_proto::notification as npb;
use hrmesh_proto::notification::notification_service_client::NotificationServiceClient;

use crate::localhost_zero;

async fn expired_holds_are_announced_once(backend: Backend) {
    let ledger_db = TestDatabase::new(backend).await;
    let notification_db = TestDatabase::new(backend).await;
    let mut notification_config = NotificationConfig::default();
    testing::secure(&mut notification_config.common);
    notification_config.common.listen = localhost_zero();
    notification_config.common.database_url = Some(notification_db.url.clone());
    notification_config.worker_enabled = false;
    let notification = NotificationServer::start(&notification_config)
        .await
        .expect("notification");
    let notification_uri = notification.server.uri();

    let clock = ManualClock::new(
        Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0)
            .single()
            .expect("time"),
    );
    let start_ledger = |clock: ManualClock| {
        let mut config = LedgerConfig {
            accrual_run_interval_secs: 0,
            hold_sweep_interval_secs: 1,
            notification_url: Some(notification_uri.clone()),
            ..LedgerConfig::default()
        };
        testing::secure(&mut config.common);
        testing::sign(&mut config.identity);
        config.common.listen = localhost_zero();
        let url = ledger_db.url.clone();
        async move {
            let store = SeaLedgerStore::open(
                &url,
                hrmesh_ledger_server::events::encode,
                hrmesh_mesh::testing::keyring(),
            )
            .await
            .expect("store");
            LedgerServer::start_with(store, clock, &config)
                .await
                .expect("ledger")
        }
    };
    let ledger = start_ledger(clock.clone()).await;
    let mut client = LedgerServiceClient::new(testing::admin_channel(&ledger.server.uri()));
    client
        .create_policy(lpb::CreatePolicyRequest {
            request_id: "policy".into(),
            policy_id: "pto".into(),
            policy: Some(lpb::Policy {
                resource_type: "pto".into(),
                unit: lpb::Unit::Days as i32,
                accrual: Some(lpb::AccrualRule {
                    frequency: lpb::AccrualFrequency::None as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
        })
        .await
        .expect("policy");
    client
        .assign_policy(lpb::AssignPolicyRequest {
            request_id: "assign".into(),
            employee_id: "e-1".into(),
            policy_id: "pto".into(),
            effective_from: "2026-01-01".into(),
            effective_to: String::new(),
        })
        .await
        .expect("assign");
    client
        .append_entries(lpb::AppendEntriesRequest {
            request_id: "accrue".into(),
            entries: vec![lpb::NewEntry {
                employee_id: "e-1".into(),
                policy_id: "pto".into(),
                kind: lpb::EntryKind::Accrual as i32,
                amount: "5".into(),
                effective_date: "2026-01-31".into(),
                ..Default::default()
            }],
        })
        .await
        .expect("accrue");
    let hold = client
        .hold_days(lpb::HoldDaysRequest {
            request_id: "hold".into(),
            employee_id: "e-1".into(),
            policy_id: "pto".into(),
            dates: Some(DateRange {
                start_date: "2026-03-16".into(),
                end_date: "2026-03-17".into(),
            }),
            hold_timeout: Some(prost_types::Duration {
                seconds: 3600,
                nanos: 0,
            }),
            reason: "a long weekend".into(),
            ..Default::default()
        })
        .await
        .expect("hold")
        .into_inner();

    let notifications = NotificationServiceClient::new(testing::admin_channel(&notification_uri));
    let inbox = |mut notifications: NotificationServiceClient<_>| async move {
        notifications
            .list_notifications(npb::ListNotificationsRequest {
                recipient_id: "e-1".into(),
                page_size: 100,
                ..Default::default()
            })
            .await
            .expect("inbox")
            .into_inner()
            .notifications
    };
    assert!(
        inbox(notifications.clone()).await.is_empty(),
        "nothing while pending"
    );

    clock.advance(chrono::Duration::hours(2));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let told = loop {
        let told = inbox(notifications.clone()).await;
        if !told.is_empty() || tokio::time::Instant::now() > deadline {
            break told;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0].template, "time_off.expired");
    assert!(told[0].body.contains("2026-03-16"), "{}", told[0].body);
    assert!(told[0].body.contains("2026-03-17"), "{}", told[0].body);
    assert_eq!(told[0].correlation_id, hold.hold_id);
    let expired = client
        .get_hold(lpb::GetHoldRequest {
            hold_id: hold.hold_id.clone(),
        })
        .await
        .expect("hold")
        .into_inner();
    assert_eq!(expired.state, lpb::HoldState::Expired as i32);

    // A restarted ledger sweeps again and tells nobody twice.
    ledger.stop().await.expect("stop");
    let ledger = start_ledger(clock.clone()).await;
    let mut client = LedgerServiceClient::new(testing::admin_channel(&ledger.server.uri()));
    // A second hold expiring proves a sweep ran after the restart.
    let second = client
        .hold_days(lpb::HoldDaysRequest {
            request_id: "hold-2".into(),
            employee_id: "e-1".into(),
            policy_id: "pto".into(),
            dates: Some(DateRange {
                start_date: "2026-03-23".into(),
                end_date: "2026-03-23".into(),
            }),
            hold_timeout: Some(prost_types::Duration {
                seconds: 60,
                nanos: 0,
            }),
            reason: "a dentist".into(),
            ..Default::default()
        })
        .await
        .expect("second hold")
        .into_inner();
    clock.advance(chrono::Duration::minutes(5));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let told = loop {
        let told = inbox(notifications.clone()).await;
        if told.len() >= 2 || tokio::time::Instant::now() > deadline {
            break told;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let correlations: Vec<&str> = told.iter().map(|n| n.correlation_id.as_str()).collect();
    assert_eq!(told.len(), 2, "{correlations:?}");
    assert!(correlations.contains(&hold.hold_id.as_str()));
    assert!(correlations.contains(&second.hold_id.as_str()));
    ledger.stop().await.expect("stop");
    notification.stop().await.expect("stop notification");
}

hrmesh_mesh::test_on_every_backend!(expired_holds_are_announced_once);
