//! One conformance suite for every implementation of the notification store port: SQLite,
//! PostgreSQL (the test server `.ci/run` starts) and MongoDB (the nx-27017 wire server it starts).

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use hrmesh_domain::{EmployeeId, Violations};
use hrmesh_notification_core::*;
use hrmesh_notification_store::{MongoNotificationStore, SqlNotificationStore};
use hrmesh_storage::testing::TestDatabase;

const MONGODB_URL_VAR: &str = "HRMESH_TEST_MONGODB_URL";

async fn sqlite() -> (SqlNotificationStore, TestDatabase) {
    let db = TestDatabase::sqlite();
    (
        SqlNotificationStore::open(
            &db.url,
            hrmesh_storage::outbox::json,
            hrmesh_storage::testing::keyring(),
        )
        .await
        .expect("open"),
        db,
    )
}

async fn postgres() -> (SqlNotificationStore, TestDatabase) {
    let db = TestDatabase::postgres().await;
    (
        SqlNotificationStore::open(
            &db.url,
            hrmesh_storage::outbox::json,
            hrmesh_storage::testing::keyring(),
        )
        .await
        .expect("open"),
        db,
    )
}

/// A test database on the MongoDB wire server.
struct MongoDatabase {
    url: String,
    name: String,
}

async fn mongo() -> (MongoNotificationStore, MongoDatabase) {
    let url = std::env::var(MONGODB_URL_VAR).unwrap_or_else(|_| {
        panic!("{MONGODB_URL_VAR} is not set: run the tests with `bash .ci/run`, which starts a MongoDB wire server")
    });
    let database = format!("test_{}", uuid::Uuid::now_v7().simple());
    (
        MongoNotificationStore::open(
            &url,
            &database,
            hrmesh_storage::outbox::json,
            hrmesh_storage::testing::keyring(),
        )
        .await
        .expect("open"),
        MongoDatabase {
            url,
            name: database,
        },
    )
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0)
        .single()
        .expect("time")
}

fn employee(id: &str) -> EmployeeId {
    EmployeeId::parse("e", id, &mut Violations::default()).expect("valid")
}

fn delivery(channel: Channel, state: DeliveryState, next: Option<DateTime<Utc>>) -> Delivery {
    Delivery {
        id: uuid::Uuid::now_v7().to_string(),
        channel,
        state,
        attempts: Vec::new(),
        failures_in_round: 0,
        next_attempt_at: next,
        delivered_at: (state == DeliveryState::Delivered).then(t0),
        lease_until: None,
        lease_owner: None,
    }
}

fn notification(request_id: &str, recipient: &str, deliveries: Vec<Delivery>) -> Notification {
    Notification {
        id: uuid::Uuid::now_v7().to_string(),
        request_id: request_id.into(),
        request_fingerprint: format!("{{\"request\":\"{request_id}\"}}"),
        recipient: Recipient {
            id: employee(recipient),
            kind: RecipientKind::Employee,
            email: Some("e@example.test".into()),
        },
        template: "time_off.decided".into(),
        payload: BTreeMap::from([
            ("decision".to_owned(), "approved".to_owned()),
            ("start_date".to_owned(), "2026-03-09".to_owned()),
        ]),
        category: "time_off".into(),
        priority: Priority::Normal,
        correlation_id: "saga-1".into(),
        subject: "Your time-off request was approved".into(),
        body: "Approved.".into(),
        deliveries,
        read_at: None,
        retracted_at: None,
        retract_reason: String::new(),
        created_at: t0(),
        version: 1,
    }
}

fn in_app(request_id: &str, recipient: &str) -> Notification {
    notification(
        request_id,
        recipient,
        vec![delivery(Channel::InApp, DeliveryState::Delivered, None)],
    )
}

async fn a_notification_round_trips_and_its_request_id_is_taken_once(
    store: impl NotificationStore,
) {
    let original = notification(
        "req-1",
        "e-1",
        vec![
            delivery(Channel::InApp, DeliveryState::Delivered, None),
            delivery(Channel::Email, DeliveryState::Pending, Some(t0())),
        ],
    );
    assert_eq!(
        store.insert(&original, &[]).await.expect("insert"),
        Inserted::New(original.clone())
    );
    assert_eq!(
        store.get(&original.id).await.expect("get"),
        Some(original.clone())
    );
    let again = notification(
        "req-1",
        "e-1",
        vec![delivery(
            Channel::Webhook,
            DeliveryState::Pending,
            Some(t0()),
        )],
    );
    assert_eq!(
        store.insert(&again, &[]).await.expect("insert again"),
        Inserted::Existing(original.clone())
    );
    assert_eq!(
        store.get(&again.id).await.expect("get"),
        None,
        "the second one was not stored"
    );
    assert_eq!(
        store
            .get("0195f1d2-0000-7000-8000-000000000000")
            .await
            .expect("get"),
        None
    );
}

async fn a_save_over_a_stale_version_is_refused(store: impl NotificationStore) {
    let original = notification(
        "req-1",
        "e-1",
        vec![delivery(Channel::Email, DeliveryState::Pending, Some(t0()))],
    );
    store.insert(&original, &[]).await.expect("insert");
    let mut first = original.clone();
    first.retract(t0(), "changed plans");
    first.version = 2;
    assert!(store.replace(&first, 1, &[]).await.expect("replace"));
    let mut stale = original.clone();
    stale.read_at = Some(t0());
    stale.version = 2;
    assert!(
        !store.replace(&stale, 1, &[]).await.expect("stale replace"),
        "version 1 is gone"
    );
    assert_eq!(store.get(&original.id).await.expect("get"), Some(first));
}

async fn concurrent_saves_of_one_version_let_exactly_one_win(
    store: impl NotificationStore + Clone,
) {
    let original = notification(
        "req-1",
        "e-1",
        vec![delivery(Channel::Email, DeliveryState::Pending, Some(t0()))],
    );
    store.insert(&original, &[]).await.expect("insert");
    let store = Arc::new(store);
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = Arc::clone(&store);
            let mut next = original.clone();
            next.retract_reason = format!("writer {i}");
            next.version = 2;
            tokio::spawn(async move { store.replace(&next, 1, &[]).await.expect("replace") })
        })
        .collect();
    let mut winners = 0;
    for task in tasks {
        winners += usize::from(task.await.expect("task"));
    }
    assert_eq!(winners, 1);
}

async fn the_in_app_list_is_newest_first_pages_and_filters_unread(store: impl NotificationStore) {
    let mut ids = Vec::new();
    for i in 0..5 {
        let mut n = in_app(&format!("req-{i}"), "e-1");
        if i == 1 {
            n.read_at = Some(t0());
        }
        store.insert(&n, &[]).await.expect("insert");
        ids.push(n.id);
    }
    store
        .insert(&in_app("req-other", "e-2"), &[])
        .await
        .expect("insert");
    let email_only = notification(
        "req-email",
        "e-1",
        vec![delivery(Channel::Email, DeliveryState::Delivered, None)],
    );
    store.insert(&email_only, &[]).await.expect("insert");

    let first = store
        .list_in_app(&employee("e-1"), false, None, 3)
        .await
        .expect("page 1");
    assert_eq!(
        first.iter().map(|n| n.id.clone()).collect::<Vec<_>>(),
        vec![ids[4].clone(), ids[3].clone(), ids[2].clone()]
    );
    let rest = store
        .list_in_app(&employee("e-1"), false, Some(&ids[2]), 10)
        .await
        .expect("page 2");
    assert_eq!(
        rest.iter().map(|n| n.id.clone()).collect::<Vec<_>>(),
        vec![ids[1].clone(), ids[0].clone()]
    );
    let unread = store
        .list_in_app(&employee("e-1"), true, None, 10)
        .await
        .expect("unread");
    assert_eq!(unread.len(), 4);
    assert!(unread.iter().all(|n| n.id != ids[1]));
}

async fn due_finds_what_is_due_most_overdue_first(store: impl NotificationStore) {
    let later = notification(
        "req-later",
        "e-1",
        vec![delivery(
            Channel::Email,
            DeliveryState::Pending,
            Some(t0() + Duration::hours(2)),
        )],
    );
    let overdue = notification(
        "req-overdue",
        "e-1",
        vec![delivery(
            Channel::Webhook,
            DeliveryState::Pending,
            Some(t0() - Duration::minutes(5)),
        )],
    );
    let now_due = notification(
        "req-now",
        "e-2",
        vec![delivery(Channel::Email, DeliveryState::Pending, Some(t0()))],
    );
    let done = in_app("req-done", "e-3");
    for n in [&later, &overdue, &now_due, &done] {
        store.insert(n, &[]).await.expect("insert");
    }
    let due = store.due(t0(), 10).await.expect("due");
    assert_eq!(
        due.iter()
            .map(|n| n.request_id.as_str())
            .collect::<Vec<_>>(),
        vec!["req-overdue", "req-now"]
    );
    assert_eq!(store.due(t0(), 1).await.expect("due").len(), 1);
    let all = store
        .due(t0() + Duration::hours(3), 10)
        .await
        .expect("due later");
    assert_eq!(all.len(), 3);

    // A lease pushes a claimed delivery out of `due` until it ends.
    let mut claimed = overdue.clone();
    assert_eq!(
        claimed
            .claim_due(t0(), t0() + Duration::minutes(1), "worker-a")
            .len(),
        1
    );
    claimed.version = 2;
    assert!(store.replace(&claimed, 1, &[]).await.expect("claim"));
    let due = store.due(t0(), 10).await.expect("due");
    assert_eq!(
        due.iter()
            .map(|n| n.request_id.as_str())
            .collect::<Vec<_>>(),
        vec!["req-now"]
    );
    assert_eq!(
        store
            .due(t0() + Duration::minutes(1), 10)
            .await
            .expect("due")
            .len(),
        2
    );
}

async fn dead_letters_page_oldest_first(store: impl NotificationStore) {
    let mut dead_ids = Vec::new();
    for i in 0..3 {
        let n = notification(
            &format!("req-dead-{i}"),
            "e-1",
            vec![delivery(Channel::Webhook, DeliveryState::Dead, None)],
        );
        store.insert(&n, &[]).await.expect("insert");
        dead_ids.push(n.id);
    }
    store
        .insert(&in_app("req-fine", "e-1"), &[])
        .await
        .expect("insert");
    let first = store.dead_letters(None, 2).await.expect("page 1");
    assert_eq!(
        first.iter().map(|n| n.id.clone()).collect::<Vec<_>>(),
        dead_ids[..2].to_vec()
    );
    let rest = store
        .dead_letters(Some(&dead_ids[1]), 10)
        .await
        .expect("page 2");
    assert_eq!(
        rest.iter().map(|n| n.id.clone()).collect::<Vec<_>>(),
        dead_ids[2..].to_vec()
    );
}

async fn preferences_are_replaced_whole(store: impl NotificationStore) {
    assert_eq!(
        store.preferences(&employee("e-1")).await.expect("get"),
        None
    );
    let mut prefs = Preferences::none(employee("e-1"));
    prefs
        .disabled
        .insert("time_off".into(), [Channel::Email].into_iter().collect());
    prefs.quiet_hours = Some(QuietHours {
        start: chrono::NaiveTime::from_hms_opt(22, 0, 0).expect("t"),
        end: chrono::NaiveTime::from_hms_opt(7, 0, 0).expect("t"),
        time_zone: "Europe/Berlin".into(),
    });
    store.put_preferences(&prefs).await.expect("put");
    assert_eq!(
        store.preferences(&employee("e-1")).await.expect("get"),
        Some(prefs.clone())
    );
    let cleared = Preferences::none(employee("e-1"));
    store.put_preferences(&cleared).await.expect("put again");
    assert_eq!(
        store.preferences(&employee("e-1")).await.expect("get"),
        Some(cleared)
    );
}

/// The audit trail kept next to the notifications: appended in batches with rising sequence
/// numbers, outcomes written afterwards by event id, listed newest first, filtered and paged; a
/// service's event keeps the end user it acted for.
async fn the_audit_trail_appends_settles_and_pages(
    store: impl NotificationStore + hrmesh_storage::audit::AuditSource,
) {
    use hrmesh_storage::audit::{AuditEvent, AuditQuery};
    let audit = store.audit_store();
    let event = |n: usize, subject: &str| AuditEvent {
        id: format!("event-{n}"),
        at: t0() + Duration::seconds(i64::try_from(n).expect("small")),
        service: "notification".into(),
        method: "/hrmesh.notification.v1.NotificationService/Send".into(),
        subject: subject.into(),
        actor: "system".into(),
        on_behalf_of: (n == 1).then(|| "m-1".to_owned()),
        client_addr: Some("127.0.0.1:5000".into()),
        forwarded_for: None,
        request_id: format!("request-{n}"),
        trace_id: None,
        outcome: None,
    };
    audit
        .append(&[event(1, "hrmesh-orchestrator"), event(2, "admin")])
        .await
        .expect("a first batch");
    audit
        .append(&[event(3, "hrmesh-orchestrator")])
        .await
        .expect("a second batch");
    audit
        .settle("OK", &["event-1".into()])
        .await
        .expect("an outcome");
    audit
        .settle("INVALID_ARGUMENT", &["event-2".into()])
        .await
        .expect("another outcome");
    let all = audit
        .list(&AuditQuery {
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .expect("list");
    let ids: Vec<&str> = all.iter().map(|(_, event)| event.id.as_str()).collect();
    assert_eq!(ids, ["event-3", "event-2", "event-1"], "newest first");
    assert!(
        all.windows(2).all(|pair| pair[0].0 > pair[1].0),
        "sequence numbers rise"
    );
    let outcomes: Vec<Option<&str>> = all
        .iter()
        .map(|(_, event)| event.outcome.as_deref())
        .collect();
    assert_eq!(outcomes, [None, Some("INVALID_ARGUMENT"), Some("OK")]);
    assert_eq!(all[2].1.client_addr.as_deref(), Some("127.0.0.1:5000"));
    let on_behalf_of: Vec<Option<&str>> = all
        .iter()
        .map(|(_, event)| event.on_behalf_of.as_deref())
        .collect();
    assert_eq!(on_behalf_of, [None, None, Some("m-1")]);
    // Every field comes back as it was written.
    assert_eq!(
        all[2].1,
        AuditEvent {
            outcome: Some("OK".into()),
            ..event(1, "hrmesh-orchestrator")
        }
    );
    assert_eq!(all[2].1.at, event(1, "").at);

    let orchestrator = audit
        .list(&AuditQuery {
            subject: Some("hrmesh-orchestrator".into()),
            limit: 1,
            ..AuditQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(orchestrator.len(), 1);
    assert_eq!(orchestrator[0].1.id, "event-3");
    let next = audit
        .list(&AuditQuery {
            subject: Some("hrmesh-orchestrator".into()),
            before_seq: Some(orchestrator[0].0),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .expect("the next page");
    assert_eq!(
        next.iter().map(|(_, e)| e.id.as_str()).collect::<Vec<_>>(),
        ["event-1"]
    );
}

fn facts(notification: &Notification) -> DeliveryFacts {
    DeliveryFacts {
        notification_id: notification.id.clone(),
        recipient_id: notification.recipient.id.clone(),
        channel: Channel::Email,
        template: notification.template.clone(),
        attempts: 1,
    }
}

/// Numbers what is waiting (as the relay would) and returns every event, oldest first.
async fn events_of(store: &impl hrmesh_storage::outbox::OutboxSource) -> Vec<NotificationEvent> {
    let outbox = store.outbox_store();
    let now = Utc::now();
    assert!(
        outbox
            .acquire("test", now, now + Duration::seconds(30))
            .await
            .expect("lease")
    );
    while outbox.sequence("test", now, 100).await.expect("number") > 0 {}
    let events = outbox.after(0, None, 100).await.expect("list");
    let positions: Vec<i64> = events.iter().map(|e| e.position).collect();
    let mut sorted = positions.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(positions, sorted, "positions increase");
    events
        .iter()
        .map(|event| serde_json::from_slice(&event.data).expect("a notification event"))
        .collect()
}

async fn events_are_saved_with_their_change_and_a_refused_save_writes_none(
    store: impl NotificationStore + hrmesh_storage::outbox::OutboxSource,
) {
    let original = notification(
        "req-1",
        "e-1",
        vec![delivery(Channel::Email, DeliveryState::Pending, Some(t0()))],
    );
    let first = NotificationEvent::Delivered(facts(&original));
    store
        .insert(&original, std::slice::from_ref(&first))
        .await
        .expect("insert");
    // The same request id again: neither the notification nor its event is written twice.
    store
        .insert(&original, std::slice::from_ref(&first))
        .await
        .expect("insert again");
    let mut next = original.clone();
    next.version = 2;
    let second = NotificationEvent::DeadLettered(facts(&original));
    assert!(
        store
            .replace(&next, 1, std::slice::from_ref(&second))
            .await
            .expect("replace")
    );
    let mut stale = original.clone();
    stale.version = 2;
    assert!(
        !store
            .replace(&stale, 1, std::slice::from_ref(&second))
            .await
            .expect("stale replace")
    );
    assert_eq!(events_of(&store).await, [first.clone(), second.clone()]);
    // Numbered once: a later change adds only its own.
    let mut third_version = next.clone();
    third_version.version = 3;
    assert!(
        store
            .replace(&third_version, 2, std::slice::from_ref(&first))
            .await
            .expect("replace")
    );
    assert_eq!(events_of(&store).await, [first.clone(), second, first]);
}

/// What a database holds, as bytes: the SQL databases' files or rows, or every document of every
/// MongoDB collection as extended JSON.
trait Scan {
    async fn stored(&self) -> hrmesh_storage::testing::Stored;
}

impl Scan for TestDatabase {
    async fn stored(&self) -> hrmesh_storage::testing::Stored {
        hrmesh_storage::testing::stored(self.backend, &self.url).await
    }
}

impl Scan for MongoDatabase {
    async fn stored(&self) -> hrmesh_storage::testing::Stored {
        use futures_util::TryStreamExt;
        let client = ::mongodb::Client::with_uri_str(&self.url)
            .await
            .expect("connect");
        let db = client.database(&self.name);
        let mut bytes = Vec::new();
        for name in db.list_collection_names().await.expect("collections") {
            let documents: Vec<::mongodb::bson::Document> = db
                .collection(&name)
                .find(::mongodb::bson::doc! {})
                .await
                .expect("find")
                .try_collect()
                .await
                .expect("read");
            for document in documents {
                let json = ::mongodb::bson::Bson::Document(document).into_relaxed_extjson();
                bytes.extend(json.to_string().into_bytes());
            }
        }
        hrmesh_storage::testing::Stored(bytes)
    }
}

/// Text no test writes anywhere else.
fn secret(what: &str) -> String {
    format!("zq{what}plaintext")
}

async fn personal_text_is_sealed_at_rest_and_erased_with_its_recipient(
    store: impl NotificationStore,
    db: impl Scan,
) {
    let mut original = notification(
        "req-secret",
        "e-1",
        vec![delivery(Channel::Email, DeliveryState::Pending, Some(t0()))],
    );
    original.payload = BTreeMap::from([("note".to_owned(), secret("payload"))]);
    original.subject = secret("subject");
    original.body = secret("body");
    original.recipient.email = Some(format!("{}@example.test", secret("email")));
    original.deliveries[0].attempts.push(Attempt {
        at: t0(),
        ok: false,
        error: secret("error"),
    });
    store.insert(&original, &[]).await.expect("insert");
    let mut retracted = original.clone();
    retracted.retracted_at = Some(t0());
    retracted.retract_reason = secret("retraction");
    retracted.version = 2;
    assert!(store.replace(&retracted, 1, &[]).await.expect("replace"));
    assert_eq!(
        store.get(&original.id).await.expect("get"),
        Some(retracted.clone()),
        "read in the clear"
    );
    assert_eq!(
        store.due(t0(), 10).await.expect("due"),
        [retracted.clone()],
        "listed in the clear"
    );

    let stored = db.stored().await;
    assert!(stored.contains(&original.id), "the scan reads the records");
    assert!(stored.contains("time_off.decided"), "templates stay plain");
    for what in ["payload", "subject", "body", "email", "error", "retraction"] {
        assert!(
            !stored.contains(&secret(what)),
            "{what} is stored in the clear"
        );
    }

    // Erasing the recipient shreds their text and keeps the notification.
    let someone_else = in_app("req-other", "e-2");
    store.insert(&someone_else, &[]).await.expect("insert");
    assert_eq!(
        store
            .erase_personal_data(&employee("e-1"), t0())
            .await
            .expect("erase"),
        1
    );
    let erased = store.get(&original.id).await.expect("get").expect("kept");
    assert_eq!(erased.subject, hrmesh_crypto::ERASED);
    assert_eq!(erased.body, hrmesh_crypto::ERASED);
    assert_eq!(erased.payload["note"], hrmesh_crypto::ERASED);
    assert_eq!(erased.retract_reason, hrmesh_crypto::ERASED);
    assert_eq!(
        erased.recipient.email.as_deref(),
        Some(hrmesh_crypto::ERASED)
    );
    assert_eq!(
        (erased.template.as_str(), erased.state(), erased.version),
        ("time_off.decided", NotificationState::Retracted, 2)
    );
    assert_eq!(
        store.get(&someone_else.id).await.expect("get"),
        Some(someone_else),
        "another recipient's text stays"
    );
    assert_eq!(
        store
            .erase_personal_data(&employee("e-1"), t0())
            .await
            .expect("erase again"),
        0,
        "nothing is left to erase"
    );
}

/// A store's record kinds and leases, for the retention job.
trait Archived {
    fn kinds(&self) -> Vec<Arc<dyn hrmesh_storage::retention::RecordKind>>;
    fn leases(&self) -> Arc<dyn hrmesh_storage::retention::Leases>;
}

impl Archived for SqlNotificationStore {
    fn kinds(&self) -> Vec<Arc<dyn hrmesh_storage::retention::RecordKind>> {
        self.record_kinds()
    }
    fn leases(&self) -> Arc<dyn hrmesh_storage::retention::Leases> {
        Arc::new(self.connection().clone())
    }
}

impl Archived for MongoNotificationStore {
    fn kinds(&self) -> Vec<Arc<dyn hrmesh_storage::retention::RecordKind>> {
        self.record_kinds()
    }
    fn leases(&self) -> Arc<dyn hrmesh_storage::retention::Leases> {
        MongoNotificationStore::leases(self)
    }
}

async fn finished_notifications_past_retention_are_archived_once(
    store: impl NotificationStore + hrmesh_storage::audit::AuditSource + Archived,
) {
    use hrmesh_storage::audit::AuditEvent;
    use hrmesh_storage::retention::{Periods, Retention, verify};

    let years = |n: i64| Duration::days(365 * n);
    let mut done = in_app("req-done", "e-1");
    done.subject = secret("subject");
    let pending = notification(
        "req-pending",
        "e-1",
        vec![delivery(Channel::Email, DeliveryState::Pending, Some(t0()))],
    );
    let mut recent = in_app("req-recent", "e-1");
    recent.created_at = t0() + years(5);
    for n in [&done, &pending, &recent] {
        store.insert(n, &[]).await.expect("insert");
    }
    let event = |id: &str, at: DateTime<Utc>| AuditEvent {
        id: id.into(),
        at,
        service: "notification".into(),
        method: "/hrmesh.notification.v1.NotificationService/Send".into(),
        subject: "e-1".into(),
        actor: "system".into(),
        on_behalf_of: None,
        client_addr: None,
        forwarded_for: None,
        request_id: id.into(),
        trace_id: None,
        outcome: Some("OK".into()),
    };
    store
        .audit_store()
        .append(&[event("old", t0()), event("new", t0() + years(5))])
        .await
        .expect("audit");

    let archive = tempfile::tempdir().expect("archive");
    let dir = archive.path().join("notification");
    let retention = Retention::new(
        "notification",
        dir.clone(),
        Periods::default().apply(store.kinds()).expect("kinds"),
        store.leases(),
    );
    let now = t0() + years(7) + Duration::days(30);
    let report = retention.run(now).await.expect("archive");
    assert_eq!(
        report,
        [("audit_events", 1), ("notifications", 1)]
            .into_iter()
            .collect(),
    );
    assert_eq!(store.get(&done.id).await.expect("get"), None, "archived");
    for kept in [&pending, &recent] {
        assert!(store.get(&kept.id).await.expect("get").is_some(), "kept");
    }
    assert_eq!(verify(&dir, "notification").expect("verify"), 2);
    let files = hrmesh_storage::testing::archive_files(&dir);
    let all: Vec<u8> = files.values().flatten().copied().collect();
    let text = String::from_utf8_lossy(&all);
    assert!(
        text.contains(&done.id),
        "the notification is in the archive"
    );
    assert!(!text.contains(&secret("subject")), "sealed, as stored");

    let report = retention.run(now).await.expect("again");
    assert!(report.is_empty(), "{report:?}");
    assert_eq!(
        hrmesh_storage::testing::archive_files(&dir),
        files,
        "a second run changes nothing"
    );
}

mod sealed {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let (store, db) = super::sqlite().await;
        super::personal_text_is_sealed_at_rest_and_erased_with_its_recipient(store, db).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        let (store, db) = super::postgres().await;
        super::personal_text_is_sealed_at_rest_and_erased_with_its_recipient(store, db).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mongodb() {
        let (store, db) = super::mongo().await;
        super::personal_text_is_sealed_at_rest_and_erased_with_its_recipient(store, db).await;
    }
}

mod backfill {
    use ::mongodb::bson::{Bson, Document, doc};
    use hrmesh_notification_core::*;

    /// A finished notification's document written before `retained_from` existed gets it when
    /// the store opens.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mongodb_fills_in_the_retention_start_of_older_documents() {
        let (store, db) = super::mongo().await;
        let done = super::in_app("req-done", "e-1");
        let pending = super::notification(
            "req-pending",
            "e-1",
            vec![super::delivery(
                Channel::Email,
                DeliveryState::Pending,
                Some(super::t0()),
            )],
        );
        for n in [&done, &pending] {
            store.insert(n, &[]).await.expect("insert");
        }
        let client = ::mongodb::Client::with_uri_str(&db.url)
            .await
            .expect("connect");
        let notifications = client
            .database(&db.name)
            .collection::<Document>("notifications");
        notifications
            .update_many(doc! {}, doc! { "$unset": { "retained_from": "" } })
            .await
            .expect("as written before the field");
        let retained = |id: String| {
            let notifications = notifications.clone();
            async move {
                notifications
                    .find_one(doc! { "_id": id })
                    .await
                    .expect("read")
                    .expect("the document")
                    .get("retained_from")
                    .cloned()
            }
        };
        assert_eq!(retained(done.id.clone()).await, None, "the field is gone");

        hrmesh_notification_store::MongoNotificationStore::open(
            &db.url,
            &db.name,
            hrmesh_storage::outbox::json,
            hrmesh_storage::testing::keyring(),
        )
        .await
        .expect("reopen");
        assert_eq!(
            retained(done.id.clone()).await,
            Some(Bson::Int64(super::t0().timestamp_millis()))
        );
        // One still in flight gets it with its next change.
        assert_eq!(retained(pending.id.clone()).await, None);
    }
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { let (store, _db) = super::sqlite().await; super::$name(store).await; } )*
        }
        mod postgres {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { let (store, _db) = super::postgres().await; super::$name(store).await; } )*
        }
        mod mongodb {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { let (store, _db) = super::mongo().await; super::$name(store).await; } )*
        }
    };
}

conformance!(
    a_notification_round_trips_and_its_request_id_is_taken_once,
    a_save_over_a_stale_version_is_refused,
    concurrent_saves_of_one_version_let_exactly_one_win,
    the_in_app_list_is_newest_first_pages_and_filters_unread,
    due_finds_what_is_due_most_overdue_first,
    dead_letters_page_oldest_first,
    preferences_are_replaced_whole,
    the_audit_trail_appends_settles_and_pages,
    events_are_saved_with_their_change_and_a_refused_save_writes_none,
    finished_notifications_past_retention_are_archived_once,
);
