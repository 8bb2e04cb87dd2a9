//! The notification service on port 0 with a real store (SQLite or the MongoDB wire server), a
//! real SMTP sink and a real HTTP webhook receiver. Delivery rounds are driven explicitly with a
//! controlled clock, except in the test that checks the running worker delivers within seconds.

use hrmesh_mesh::testing::violated_fields;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use hrmesh_domain::ManualClock;
use hrmesh_mesh::client::MeshChannel;
use hrmesh_mesh::testing::TestDatabase;
use hrmesh_notification_core::RetryPolicy;
use hrmesh_notification_server::{
    Channels, NotificationConfig, NotificationServer, SmtpConfig, SmtpSecurity, WebhookConfig,
    webhook_signature,
};
use hrmesh_notification_store::{MongoNotificationStore, SqlNotificationStore};
use hrmesh_proto::notification::notification_service_client::NotificationServiceClient;
use hrmesh_proto::notification::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tonic::Code;

const WEBHOOK_SECRET: &str = "test-only-webhook-secret";

/// What the webhook receiver shares with its handler: the status to answer, where to report.
type WebhookState = (
    Arc<AtomicU16>,
    mpsc::UnboundedSender<(String, serde_json::Value)>,
);

/// A minimal SMTP server that accepts every message and hands its DATA to the test.
async fn smtp_sink() -> (u16, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind smtp");
    let port = listener.local_addr().expect("addr").port();
    let (sender, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let sender = sender.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 sink ESMTP\r\n").await.ok();
                let mut data: Option<String> = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(message) = data.as_mut() {
                        if line == "." {
                            let _ = sender.send(data.take().unwrap_or_default());
                            write.write_all(b"250 queued\r\n").await.ok();
                        } else {
                            message.push_str(&line);
                            message.push('\n');
                        }
                        continue;
                    }
                    let verb = line
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 sink\r\n",
                        "DATA" => {
                            data = Some(String::new());
                            b"354 go ahead\r\n"
                        }
                        "QUIT" => {
                            write.write_all(b"221 bye\r\n").await.ok();
                            break;
                        }
                        _ => b"250 ok\r\n",
                    };
                    write.write_all(reply).await.ok();
                }
            });
        }
    });
    (port, receiver)
}

/// An HTTP webhook receiver answering with a status the test controls; it checks every signature.
struct WebhookSink {
    url: String,
    status: Arc<AtomicU16>,
    received: mpsc::UnboundedReceiver<(String, serde_json::Value)>,
}

async fn webhook_sink() -> WebhookSink {
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    let status = Arc::new(AtomicU16::new(200));
    let (sender, received) = mpsc::unbounded_channel();
    let state = (Arc::clone(&status), sender);
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(
                |State((status, sender)): State<WebhookState>,
                 headers: HeaderMap,
                 body: axum::body::Bytes| async move {
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned()
                    };
                    let timestamp: i64 = header("x-hrmesh-timestamp").parse().unwrap_or_default();
                    if header("x-hrmesh-signature")
                        != webhook_signature(WEBHOOK_SECRET, timestamp, &body)
                    {
                        return StatusCode::UNAUTHORIZED;
                    }
                    let code = StatusCode::from_u16(status.load(Ordering::SeqCst))
                        .unwrap_or(StatusCode::OK);
                    if code.is_success() {
                        let json = serde_json::from_slice(&body).unwrap_or_default();
                        let _ = sender.send((header("x-hrmesh-delivery"), json));
                    }
                    code
                },
            ),
        )
        .with_state(state);
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind webhook");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    WebhookSink {
        url,
        status,
        received,
    }
}

#[derive(Clone, Copy)]
enum Store {
    Sqlite,
    Mongo,
}

/// Delivery rounds, whatever the store.
type Round =
    Box<dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = u32> + Send>> + Send + Sync>;

struct Harness {
    client: NotificationServiceClient<MeshChannel>,
    clock: ManualClock,
    mail: mpsc::UnboundedReceiver<String>,
    webhook: WebhookSink,
    round: Round,
    _db: Option<TestDatabase>,
}

impl Harness {
    async fn start(store: Store, worker_enabled: bool) -> Self {
        let (smtp_port, mail) = smtp_sink().await;
        let webhook = webhook_sink().await;
        let clock = ManualClock::new(
            Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0)
                .single()
                .expect("time"),
        );
        let config = NotificationConfig {
            common: {
                let mut c = hrmesh_mesh::config::CommonConfig::new("notification", 0);
                c.listen = "127.0.0.1:0".parse().expect("addr");
                hrmesh_mesh::testing::secure(&mut c);
                c
            },
            smtp: Some(SmtpConfig {
                host: "127.0.0.1".into(),
                port: smtp_port,
                security: SmtpSecurity::None,
                username: None,
                password: None,
                from: "hrmesh <no-reply@hrmesh.test>".into(),
            }),
            webhook: Some(WebhookConfig {
                url: webhook.url.clone(),
                secret: WEBHOOK_SECRET.into(),
                timeout_ms: 5_000,
            }),
            retry: RetryPolicy {
                attempts_max: 3,
                base_ms: 1_000,
                cap_ms: 60_000,
            },
            worker_enabled,
            worker_poll_ms: 200,
            ..NotificationConfig::default()
        };
        let channels =
            Channels::new(config.smtp.as_ref(), config.webhook.as_ref()).expect("channels");
        let (addr, round, db): (String, Round, Option<TestDatabase>) = match store {
            Store::Sqlite => {
                let db = TestDatabase::sqlite();
                let store = SqlNotificationStore::open(
                    &db.url,
                    hrmesh_notification_server::events::encode,
                    hrmesh_mesh::testing::keyring(),
                )
                .await
                .expect("store");
                let server = Arc::new(
                    NotificationServer::start_with(store, clock.clone(), channels, &config)
                        .await
                        .expect("start"),
                );
                let addr = server.server.uri();
                (addr, round_of(server), Some(db))
            }
            Store::Mongo => {
                let url = std::env::var("HRMESH_TEST_MONGODB_URL")
                    .expect("HRMESH_TEST_MONGODB_URL (bash .ci/run starts the wire server)");
                let store = MongoNotificationStore::open(
                    &url,
                    &format!("test_{}", uuid_simple()),
                    hrmesh_notification_server::events::encode,
                    hrmesh_mesh::testing::keyring(),
                )
                .await
                .expect("store");
                let server = Arc::new(
                    NotificationServer::start_with(store, clock.clone(), channels, &config)
                        .await
                        .expect("start"),
                );
                let addr = server.server.uri();
                (addr, round_of(server), None)
            }
        };
        let client = NotificationServiceClient::new(hrmesh_mesh::testing::admin_channel(&addr));
        Harness {
            client,
            clock,
            mail,
            webhook,
            round,
            _db: db,
        }
    }

    async fn deliver(&self) -> u32 {
        (self.round)().await
    }

    async fn get(&mut self, id: &str) -> Notification {
        self.client
            .get_notification(GetNotificationRequest {
                notification_id: id.into(),
            })
            .await
            .expect("get")
            .into_inner()
    }
}

fn round_of(server: Arc<NotificationServer>) -> Round {
    Box::new(move || {
        let server = Arc::clone(&server);
        Box::pin(async move {
            server
                .notifier()
                .deliver_due("test-worker", 100)
                .await
                .expect("delivery round")
        })
    })
}

fn uuid_simple() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

fn send_request(request_id: &str, channels: &[Channel]) -> SendRequest {
    SendRequest {
        request_id: request_id.into(),
        recipient: Some(Recipient {
            recipient_id: "e-1".into(),
            kind: RecipientKind::Employee as i32,
            email: "e1@example.test".into(),
        }),
        template: "time_off.decided".into(),
        payload: HashMap::from([
            ("decision".to_owned(), "approved".to_owned()),
            ("start_date".to_owned(), "2026-03-09".to_owned()),
            ("end_date".to_owned(), "2026-03-13".to_owned()),
        ]),
        channels: channels.iter().map(|c| *c as i32).collect(),
        correlation_id: "saga-42".into(),
        ..Default::default()
    }
}

fn delivery_state(n: &Notification, channel: Channel) -> DeliveryState {
    let delivery = n
        .deliveries
        .iter()
        .find(|d| d.channel == channel as i32)
        .expect("a delivery on the channel");
    DeliveryState::try_from(delivery.state).expect("a state")
}

async fn in_app_notifications_list_read_and_replay_once(store: Store) {
    let mut h = Harness::start(store, false).await;
    let sent = h
        .client
        .send(send_request("send-1", &[Channel::InApp]))
        .await
        .expect("send")
        .into_inner();
    assert_eq!(sent.state, NotificationState::Delivered as i32);
    assert_eq!(sent.subject, "Your time-off request was approved");
    let replay = h
        .client
        .send(send_request("send-1", &[Channel::InApp]))
        .await
        .expect("replay")
        .into_inner();
    assert_eq!(
        replay.notification_id, sent.notification_id,
        "a retried send never notifies twice"
    );
    let mut different = send_request("send-1", &[Channel::InApp]);
    different.template = "employee.onboarded".into();
    different.payload = HashMap::from([
        ("employee_name".to_owned(), "Ada".to_owned()),
        ("review_date".to_owned(), "2026-06-01".to_owned()),
    ]);
    let reused = h.client.send(different).await.expect_err("reused key");
    assert_eq!(reused.code(), Code::AlreadyExists);
    h.client
        .send(send_request("send-2", &[Channel::InApp]))
        .await
        .expect("second");

    let list = |unread_only| ListNotificationsRequest {
        recipient_id: "e-1".into(),
        unread_only,
        page_size: 10,
        page_token: String::new(),
    };
    let all = h
        .client
        .list_notifications(list(false))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(all.notifications.len(), 2);
    assert_eq!(
        all.notifications[1].notification_id, sent.notification_id,
        "newest first"
    );
    let read = h
        .client
        .mark_read(MarkReadRequest {
            request_id: "read-1".into(),
            notification_id: sent.notification_id.clone(),
        })
        .await
        .expect("read")
        .into_inner();
    assert!(read.read && read.read_time.is_some());
    let unread = h
        .client
        .list_notifications(list(true))
        .await
        .expect("unread")
        .into_inner();
    assert_eq!(unread.notifications.len(), 1);
    assert_ne!(
        unread.notifications[0].notification_id,
        sent.notification_id
    );
    assert_eq!(h.deliver().await, 0, "in-app needs no delivery round");
}

async fn the_running_worker_emails_within_seconds(store: Store) {
    let mut h = Harness::start(store, true).await;
    let sent = h
        .client
        .send(send_request("send-mail", &[Channel::Email]))
        .await
        .expect("send")
        .into_inner();
    assert_eq!(sent.state, NotificationState::Pending as i32);
    let message = tokio::time::timeout(Duration::from_secs(10), h.mail.recv())
        .await
        .expect("delivered within seconds")
        .expect("a message");
    assert!(
        message.contains("Subject: Your time-off request was approved"),
        "{message}"
    );
    assert!(message.contains("e1@example.test"), "{message}");
}

async fn a_failing_webhook_is_retried_to_the_dead_letters_and_redriven(store: Store) {
    let mut h = Harness::start(store, false).await;
    h.webhook.status.store(503, Ordering::SeqCst);
    let sent = h
        .client
        .send(send_request("send-hook", &[Channel::Webhook]))
        .await
        .expect("send")
        .into_inner();
    let id = sent.notification_id.clone();
    for attempt in 1..=3 {
        assert_eq!(h.deliver().await, 1, "attempt {attempt} is due");
        assert_eq!(
            h.deliver().await,
            0,
            "nothing due again before the backoff passes"
        );
        h.clock.advance(chrono::Duration::seconds(120));
    }
    let dead = h.get(&id).await;
    assert_eq!(
        (dead.state, delivery_state(&dead, Channel::Webhook)),
        (NotificationState::Failed as i32, DeliveryState::Dead)
    );
    let attempts = &dead.deliveries[0].attempts;
    assert_eq!(attempts.len(), 3);
    assert!(
        attempts.iter().all(|a| !a.ok && a.error.contains("503")),
        "{attempts:?}"
    );
    let times: Vec<i64> = attempts
        .iter()
        .map(|a| a.time.as_ref().expect("time").seconds)
        .collect();
    assert!(times.windows(2).all(|w| w[1] > w[0]));
    assert_eq!(h.deliver().await, 0, "a dead letter is not retried");

    let letters = h
        .client
        .list_dead_letters(ListDeadLettersRequest::default())
        .await
        .expect("dead letters")
        .into_inner();
    assert_eq!(
        letters
            .notifications
            .iter()
            .map(|n| n.notification_id.clone())
            .collect::<Vec<_>>(),
        vec![id.clone()]
    );

    h.webhook.status.store(200, Ordering::SeqCst);
    let delivery_id = dead.deliveries[0].delivery_id.clone();
    let redriven = h
        .client
        .redrive(RedriveRequest {
            request_id: "redrive-1".into(),
            notification_id: id.clone(),
            delivery_id: delivery_id.clone(),
        })
        .await
        .expect("redrive")
        .into_inner();
    assert_eq!(
        delivery_state(&redriven, Channel::Webhook),
        DeliveryState::Pending
    );
    assert_eq!(h.deliver().await, 1);
    let delivered = h.get(&id).await;
    assert_eq!(delivered.state, NotificationState::Delivered as i32);
    let (header, body) = h.webhook.received.recv().await.expect("the webhook got it");
    assert_eq!(
        header, delivery_id,
        "receivers can deduplicate on the delivery id"
    );
    assert_eq!(body["correlation_id"], "saga-42");
    assert!(
        h.client
            .list_dead_letters(ListDeadLettersRequest::default())
            .await
            .expect("list")
            .into_inner()
            .notifications
            .is_empty()
    );
    let again = h
        .client
        .redrive(RedriveRequest {
            request_id: "redrive-2".into(),
            notification_id: id,
            delivery_id,
        })
        .await
        .expect_err("not dead");
    assert_eq!(again.code(), Code::FailedPrecondition);
}

async fn quiet_hours_hold_email_until_they_end_and_critical_goes_at_once(store: Store) {
    let mut h = Harness::start(store, false).await;
    // 10:00 UTC is 11:00 in Berlin: quiet 09:00-12:00 there ends at 11:00 UTC.
    h.client
        .set_preferences(SetPreferencesRequest {
            request_id: "prefs-1".into(),
            preferences: Some(Preferences {
                recipient_id: "e-1".into(),
                categories: vec![],
                quiet_hours: Some(QuietHours {
                    start: "09:00".into(),
                    end: "12:00".into(),
                    time_zone: "Europe/Berlin".into(),
                }),
            }),
        })
        .await
        .expect("prefs");
    let quiet = h
        .client
        .send(send_request("send-quiet", &[Channel::Email]))
        .await
        .expect("send")
        .into_inner();
    assert_eq!(
        quiet.deliveries[0]
            .next_attempt_time
            .as_ref()
            .expect("scheduled")
            .seconds,
        Utc.with_ymd_and_hms(2026, 3, 2, 11, 0, 0)
            .single()
            .expect("t")
            .timestamp()
    );
    let mut critical = send_request("send-critical", &[Channel::Email]);
    critical.priority = Priority::Critical as i32;
    let critical = h
        .client
        .send(critical)
        .await
        .expect("send critical")
        .into_inner();
    assert_eq!(
        h.deliver().await,
        1,
        "only the critical one goes during quiet hours"
    );
    assert_eq!(
        h.get(&critical.notification_id).await.state,
        NotificationState::Delivered as i32
    );
    assert_eq!(
        h.get(&quiet.notification_id).await.state,
        NotificationState::Pending as i32
    );
    h.clock.advance(chrono::Duration::minutes(60));
    assert_eq!(h.deliver().await, 1);
    assert_eq!(
        h.get(&quiet.notification_id).await.state,
        NotificationState::Delivered as i32
    );
    assert_eq!(
        h.mail.recv().await.map(|m| m.contains("Subject")),
        Some(true)
    );
}

async fn retraction_cancels_what_is_not_yet_delivered_and_marks_what_is(store: Store) {
    let mut h = Harness::start(store, false).await;
    let pending = h
        .client
        .send(send_request("send-1", &[Channel::InApp, Channel::Email]))
        .await
        .expect("send")
        .into_inner();
    let retracted = h
        .client
        .retract(RetractRequest {
            request_id: "retract-1".into(),
            notification_id: pending.notification_id.clone(),
            reason: "saga compensated".into(),
        })
        .await
        .expect("retract")
        .into_inner();
    assert_eq!(retracted.state, NotificationState::Retracted as i32);
    assert_eq!(
        delivery_state(&retracted, Channel::Email),
        DeliveryState::Cancelled
    );
    assert_eq!(
        delivery_state(&retracted, Channel::InApp),
        DeliveryState::Delivered
    );
    assert_eq!(h.deliver().await, 0, "a cancelled email is never sent");
    let listed = h
        .client
        .list_notifications(ListNotificationsRequest {
            recipient_id: "e-1".into(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.notifications.len(), 1);
    assert!(
        listed.notifications[0].retract_time.is_some(),
        "shown as retracted"
    );
    assert_eq!(listed.notifications[0].retract_reason, "saga compensated");
    let twice = h
        .client
        .retract(RetractRequest {
            request_id: "retract-2".into(),
            notification_id: pending.notification_id.clone(),
            reason: "again".into(),
        })
        .await
        .expect("retract again")
        .into_inner();
    assert_eq!(
        twice.retract_reason, "saga compensated",
        "retracting twice changes nothing"
    );
    assert!(h.mail.try_recv().is_err());
}

async fn preferences_suppress_channels_per_category_unless_critical(store: Store) {
    let mut h = Harness::start(store, false).await;
    h.client
        .set_preferences(SetPreferencesRequest {
            request_id: "prefs-1".into(),
            preferences: Some(Preferences {
                recipient_id: "e-1".into(),
                categories: vec![CategoryChannels {
                    category: "time_off".into(),
                    disabled_channels: vec![Channel::Email as i32],
                }],
                quiet_hours: None,
            }),
        })
        .await
        .expect("prefs");
    let got = h
        .client
        .get_preferences(GetPreferencesRequest {
            recipient_id: "e-1".into(),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(
        got.categories[0].disabled_channels,
        vec![Channel::Email as i32]
    );
    let sent = h
        .client
        .send(send_request("send-1", &[Channel::InApp, Channel::Email]))
        .await
        .expect("send")
        .into_inner();
    assert_eq!(
        delivery_state(&sent, Channel::Email),
        DeliveryState::Suppressed
    );
    assert_eq!(sent.state, NotificationState::Delivered as i32);
    let mut critical = send_request("send-2", &[Channel::Email]);
    critical.priority = Priority::Critical as i32;
    let critical = h.client.send(critical).await.expect("send").into_inner();
    assert_eq!(
        delivery_state(&critical, Channel::Email),
        DeliveryState::Pending
    );
}

async fn bad_input_is_named_field_by_field(store: Store) {
    let mut h = Harness::start(store, false).await;
    let mut bad = send_request("", &[Channel::Email, Channel::Email]);
    bad.recipient = Some(Recipient {
        recipient_id: "-x".into(),
        kind: 0,
        email: String::new(),
    });
    bad.payload.remove("decision");
    let fields = violated_fields(&h.client.send(bad).await.expect_err("invalid"));
    for field in ["request_id", "recipient.recipient_id", "recipient.kind"] {
        assert!(
            fields.contains(&field.to_owned()),
            "{field} missing from {fields:?}"
        );
    }
    let mut missing = send_request("send-x", &[Channel::Email]);
    missing.payload.remove("decision");
    missing.recipient.as_mut().expect("recipient").email.clear();
    let fields = violated_fields(&h.client.send(missing).await.expect_err("invalid"));
    assert_eq!(fields, vec!["recipient.email", "payload.decision"]);
    let mut unknown = send_request("send-y", &[Channel::InApp]);
    unknown.template = "nope".into();
    assert_eq!(
        violated_fields(&h.client.send(unknown).await.expect_err("unknown")),
        vec!["template"]
    );
    let zone = h
        .client
        .set_preferences(SetPreferencesRequest {
            request_id: "p".into(),
            preferences: Some(Preferences {
                recipient_id: "e-1".into(),
                categories: vec![],
                quiet_hours: Some(QuietHours {
                    start: "22:00".into(),
                    end: "07:00".into(),
                    time_zone: "Mars/Olympus".into(),
                }),
            }),
        })
        .await
        .expect_err("bad zone");
    assert_eq!(
        violated_fields(&zone),
        vec!["preferences.quiet_hours.time_zone"]
    );
    let listed = h
        .client
        .list_notifications(ListNotificationsRequest {
            recipient_id: "e-1".into(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert!(listed.notifications.is_empty(), "nothing was written");
}

macro_rules! on_every_store {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Store::Sqlite).await; } )*
        }
        mod mongodb {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Store::Mongo).await; } )*
        }
    };
}

on_every_store!(
    in_app_notifications_list_read_and_replay_once,
    the_running_worker_emails_within_seconds,
    a_failing_webhook_is_retried_to_the_dead_letters_and_redriven,
    quiet_hours_hold_email_until_they_end_and_critical_goes_at_once,
    retraction_cancels_what_is_not_yet_delivered_and_marks_what_is,
    preferences_suppress_channels_per_category_unless_critical,
    bad_input_is_named_field_by_field,
);
