//! Retention on the performance store: finished records past their period are archived as
//! stored (sealed text stays sealed) and removed with their counts; records in progress and
//! recent ones stay; a second run changes nothing; rows written before `retained_from` existed
//! get theirs when the store opens.

use std::sync::Arc;

use chrono::Duration;
use hrmesh_domain::Clock as _;
use hrmesh_storage::retention::{Periods, Retention, verify};
use sea_orm::{ConnectionTrait, Statement};

use super::*;

async fn open_store(url: &str) -> SeaPerformanceStore {
    SeaPerformanceStore::open(
        url,
        hrmesh_performance_server::events::encode,
        hrmesh_mesh::testing::keyring(),
    )
    .await
    .expect("open store")
}

async fn scalar(store: &SeaPerformanceStore, sql: &str) -> Option<String> {
    let db = store.connection();
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("query")?;
    row.try_get_by_index::<Option<String>>(0)
        .ok()
        .flatten()
        .or_else(|| row.try_get_by_index::<i32>(0).ok().map(|n| n.to_string()))
        .or_else(|| {
            row.try_get_by_index::<chrono::DateTime<chrono::Utc>>(0)
                .ok()
                .map(|t| t.to_rfc3339())
        })
}

async fn finished_records_past_retention_are_archived_and_the_rest_stays(backend: Backend) {
    let mut h = Harness::start(backend).await;
    let store = h.store.clone();
    let done = h.review_in(ReviewState::Acknowledged, "old").await;
    let open = h.create_review("in-progress", "2026-01-01").await;
    assert_eq!(h.count_reviews("e-1").await, 2);
    let reviews = |id: &str| format!("SELECT retained_from FROM reviews WHERE id = '{id}'");

    // Rows from before the column: the store fills in the finished ones when it opens.
    store
        .connection()
        .execute_unprepared("UPDATE reviews SET retained_from = NULL")
        .await
        .expect("clear");
    let reopened = open_store(&h.db.url).await;
    assert!(scalar(&reopened, &reviews(&done.review_id)).await.is_some());
    assert_eq!(scalar(&reopened, &reviews(&open.review_id)).await, None);

    // A review finished a year later is not due yet.
    h.clock.advance(Duration::days(365));
    let later = h.review_in(ReviewState::Completed, "later-one").await;

    let archive = tempfile::tempdir().expect("archive");
    let dir = archive.path().join("performance");
    let retention = Retention::new(
        "performance",
        dir.clone(),
        Periods::default()
            .apply(store.record_kinds())
            .expect("kinds"),
        Arc::new(store.connection().clone()),
    );
    // Past the period of everything before the last month (the audit trail is dated by the wall
    // clock, the records by the service's).
    let now = chrono::Utc::now().max(start_clock().now()) + Duration::days(7 * 365 + 30);
    let report = retention.run(now).await.expect("archive");
    assert_eq!(report.get("reviews"), Some(&1), "{report:?}");
    assert!(
        report.get("audit_events").is_some_and(|n| *n > 0),
        "{report:?}"
    );
    assert!(
        report.get("idempotency_inbox").is_some_and(|n| *n > 0),
        "{report:?}"
    );

    let gone = h
        .client
        .get_review(GetReviewRequest {
            review_id: done.review_id.clone(),
        })
        .await
        .expect_err("archived");
    assert_eq!(gone.code(), Code::NotFound);
    h.review(&open.review_id).await;
    h.review(&later.review_id).await;
    assert_eq!(h.count_reviews("e-1").await, 2);
    assert_eq!(
        scalar(
            &store,
            "SELECT reviews FROM employee_counters WHERE employee_id = 'e-1'"
        )
        .await
        .as_deref(),
        Some("2"),
        "the employee's count is of the reviews the store still holds"
    );

    // The archive holds the review as stored: its free text sealed, checksums in the manifest.
    let archived = verify(&dir, "performance").expect("verify");
    assert!(archived >= 2, "{archived}");
    let found = hrmesh_storage::testing::archive_files(&dir);
    let all: Vec<u8> = found.values().flatten().copied().collect();
    let text = String::from_utf8_lossy(&all);
    assert!(text.contains(&done.review_id));
    assert!(
        !text.contains("Shipped the payroll migration"),
        "sealed text stays sealed in the archive"
    );

    // Again: nothing changes.
    let report = retention.run(now).await.expect("again");
    assert!(report.is_empty(), "{report:?}");
    assert_eq!(hrmesh_storage::testing::archive_files(&dir), found);
    h.review(&later.review_id).await;
}

hrmesh_mesh::test_on_every_backend!(
    finished_records_past_retention_are_archived_and_the_rest_stays
);
