//! The reminder job against a real notification service, with two performance replicas sharing
//! one database: each item gets at most one reminder per period, and none is lost when the
//! notification service is unreachable.

use chrono::{TimeZone, Utc};
use hrmesh_domain::ManualClock;
use hrmesh_mesh::client::MeshChannel;
use hrmesh_mesh::testing::{Backend, TestDatabase};
use hrmesh_notification_server::{NotificationConfig, NotificationServer};
use hrmesh_performance_server::{PerformanceConfig, PerformanceServer, ReminderRun};
use hrmesh_performance_store::SeaPerformanceStore;
use hrmesh_proto::notification::notification_service_client::NotificationServiceClient;
use hrmesh_proto::notification::{ListNotificationsRequest, Notification};
use hrmesh_proto::performance::performance_service_client::PerformanceServiceClient;
use hrmesh_proto::performance::*;

type Replica = PerformanceServer;

async fn replica(url: &str, clock: &ManualClock, notification_url: &str) -> Replica {
    let store = SeaPerformanceStore::open(
        url,
        hrmesh_performance_server::events::encode,
        hrmesh_mesh::testing::keyring(),
    )
    .await
    .expect("open store");
    let mut config = PerformanceConfig::default();
    hrmesh_mesh::testing::secure(&mut config.common);
    hrmesh_mesh::testing::sign(&mut config.identity);
    config.common.listen = "127.0.0.1:0".parse().expect("addr");
    config.notification_url = Some(notification_url.to_owned());
    config.reminder_interval_secs = 0;
    config.review_reminder_days = 7;
    config.pip_reminder_days = 7;
    PerformanceServer::start_with(store, clock.clone(), &config)
        .await
        .expect("start replica")
}

async fn run(replica: &Replica) -> ReminderRun {
    replica
        .reminders()
        .expect("reminders configured")
        .run_once()
        .await
        .expect("reminder run")
}

async fn inbox(
    client: &mut NotificationServiceClient<MeshChannel>,
    recipient: &str,
) -> Vec<Notification> {
    client
        .list_notifications(ListNotificationsRequest {
            recipient_id: recipient.into(),
            page_size: 100,
            ..Default::default()
        })
        .await
        .expect("list notifications")
        .into_inner()
        .notifications
}

fn review_request(request_id: &str, employee: &str, start: &str, due: &str) -> CreateReviewRequest {
    CreateReviewRequest {
        request_id: request_id.into(),
        employee_id: employee.into(),
        manager_id: "m-1".into(),
        cycle: ReviewCycle::Quarterly as i32,
        period_start: start.into(),
        period_end: "2026-03-31".into(),
        due_date: due.into(),
    }
}

async fn reminders_go_out_once_per_item_and_period_across_replicas(backend: Backend) {
    let performance_db = TestDatabase::new(backend).await;
    let notification_db = TestDatabase::new(backend).await;
    let mut notification_config = NotificationConfig::default();
    hrmesh_mesh::testing::secure(&mut notification_config.common);
    notification_config.common.listen = "127.0.0.1:0".parse().expect("addr");
    notification_config.common.database_url = Some(notification_db.url.clone());
    notification_config.worker_enabled = false;
    let notification = NotificationServer::start(&notification_config)
        .await
        .expect("notification service");
    let notification_url = notification.server.uri();
    let mut notifications = NotificationServiceClient::new(hrmesh_mesh::testing::admin_channel(
        &notification_url.clone(),
    ));

    let clock = ManualClock::new(
        Utc.with_ymd_and_hms(2026, 3, 2, 6, 0, 0)
            .single()
            .expect("time"),
    );
    let a = replica(&performance_db.url, &clock, &notification_url).await;
    let b = replica(&performance_db.url, &clock, &notification_url).await;
    let mut client =
        PerformanceServiceClient::new(hrmesh_mesh::testing::admin_channel(&a.server.uri()));

    // Due in 3 days, the employee's turn: e-1 is reminded.
    let soon = client
        .create_review(review_request("r-soon", "e-1", "2026-01-01", "2026-03-05"))
        .await
        .expect("review")
        .into_inner();
    client
        .open_self_assessment(OpenSelfAssessmentRequest {
            request_id: "r-soon-open".into(),
            review_id: soon.review_id.clone(),
        })
        .await
        .expect("open self-assessment");
    // Due in 5 days, still a draft: the manager is reminded.
    client
        .create_review(review_request("r-draft", "e-2", "2026-01-01", "2026-03-07"))
        .await
        .expect("review");
    // Due in two months: no reminder yet.
    client
        .create_review(review_request("r-later", "e-3", "2026-01-01", "2026-05-01"))
        .await
        .expect("review");
    // A PIP with a check-in in two days and one next month.
    let pip = client
        .open_pip(OpenPipRequest {
            request_id: "pip".into(),
            employee_id: "e-4".into(),
            manager_id: "m-2".into(),
            reason: "Missed deadlines".into(),
            objectives: vec!["Deliver commitments".into()],
            start_date: "2026-03-01".into(),
            end_date: "2026-05-31".into(),
            check_in_dates: vec!["2026-03-04".into(), "2026-04-01".into()],
        })
        .await
        .expect("pip")
        .into_inner();

    // A replica that cannot reach the notification service records nothing: nothing is lost.
    let cut_off = replica(&performance_db.url, &clock, "http://127.0.0.1:9").await;
    let failed = run(&cut_off).await;
    assert_eq!(failed.sent, 0);
    assert_eq!(failed.failed, 3);

    // Both replicas run at once.
    let (first, second) = tokio::join!(run(&a), run(&b));
    assert_eq!(first.failed + second.failed, 0);
    assert!(first.sent + first.already_sent == 3 && second.sent + second.already_sent == 3);
    let e1 = inbox(&mut notifications, "e-1").await;
    assert_eq!(e1.len(), 1, "one reminder for the review, whoever sent it");
    assert_eq!(e1[0].template, "review.deadline_near");
    assert!(e1[0].body.contains("2026-03-05"), "{}", e1[0].body);
    assert_eq!(e1[0].correlation_id, soon.review_id);
    assert_eq!(inbox(&mut notifications, "m-1").await.len(), 1);
    let m2 = inbox(&mut notifications, "m-2").await;
    assert_eq!(m2.len(), 1);
    assert_eq!(m2[0].template, "pip.check_in_due");
    assert_eq!(m2[0].correlation_id, pip.pip_id);
    assert!(inbox(&mut notifications, "e-3").await.is_empty());

    // Later the same day: nothing new.
    clock.advance(chrono::Duration::hours(6));
    let again = run(&b).await;
    assert_eq!((again.sent, again.already_sent), (0, 3));

    // The next day: the reviews are reminded again (daily); the check-in is not (once).
    clock.advance(chrono::Duration::hours(18));
    let next_day = run(&a).await;
    assert_eq!((next_day.sent, next_day.already_sent), (2, 1));
    assert_eq!(inbox(&mut notifications, "e-1").await.len(), 2);
    assert_eq!(inbox(&mut notifications, "m-2").await.len(), 1);

    // Once the check-in is recorded and the review submitted, they are no longer reminded.
    client
        .record_pip_check_in(RecordPipCheckInRequest {
            request_id: "check-in".into(),
            pip_id: pip.pip_id.clone(),
            check_in_date: "2026-03-04".into(),
            notes: "On track".into(),
            on_track: true,
        })
        .await
        .expect("check-in");
    client
        .close_employee_records(CloseEmployeeRecordsRequest {
            request_id: "offboard-e-1".into(),
            employee_id: "e-1".into(),
            reason: "left".into(),
        })
        .await
        .expect("close");
    clock.advance(chrono::Duration::days(1));
    let day_three = run(&b).await;
    assert_eq!(
        (day_three.sent, day_three.already_sent),
        (1, 0),
        "only e-2's draft"
    );
    assert_eq!(inbox(&mut notifications, "e-1").await.len(), 2);

    for replica in [a, b, cut_off] {
        replica.stop().await.expect("stop");
    }
    notification.stop().await.expect("stop notification");
}

hrmesh_mesh::test_on_every_backend!(reminders_go_out_once_per_item_and_period_across_replicas);
