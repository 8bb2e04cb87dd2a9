//! The saga log on SQLite and PostgreSQL: creation, the semantic lock, fenced appends, leases,
//! retention.

use chrono::{Duration, TimeZone, Utc};
use hrmesh_saga_core::{Event, LockMode, SagaState, StepOutput};
use hrmesh_saga_store::{Append, Created, Fence, ListFilter, LogError, NewSaga, SagaLog};
use hrmesh_storage::audit::AuditSource as _;
use hrmesh_storage::retention::{Expired, Leases, Periods, RecordKind, Retention};
use hrmesh_storage::testing::{Backend, TestDatabase};

fn t0() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 4, 1, 12, 0, 0)
        .single()
        .expect("time")
}

fn new_saga(n: u32, employee: &str, lock: LockMode, owner: &str) -> NewSaga {
    NewSaga {
        id: format!("0195f1d2-0000-7000-8000-{n:012}"),
        saga_type: "complete-review".into(),
        employee_id: employee.into(),
        lock,
        request_id: format!("start-{n}"),
        input: vec![1, 2, 3],
        owner: owner.into(),
        lease_until: t0() + Duration::seconds(10),
        now: t0(),
    }
}

fn ok(step: usize) -> Event {
    Event::StepSucceeded {
        step,
        output: StepOutput::Notified {
            notification_id: "n-1".into(),
        },
    }
}

fn append(saga_id: &str, owner: &str, after: u64, events: Vec<Event>, state: SagaState) -> Append {
    Append {
        saga_id: saga_id.into(),
        fence: Fence::Owner(owner.into()),
        after,
        events: events.into_iter().map(|event| (t0(), event)).collect(),
        state,
        reason: String::new(),
        owner: (!state.is_terminal() && state != SagaState::Stuck).then(|| owner.to_owned()),
        lease_until: Some(t0() + Duration::seconds(10)),
        now: t0(),
    }
}

async fn open(backend: Backend) -> (SagaLog, TestDatabase) {
    let db = TestDatabase::new(backend).await;
    (
        SagaLog::open(
            &db.url,
            hrmesh_storage::outbox::json,
            hrmesh_storage::testing::keyring(),
        )
        .await
        .expect("open log"),
        db,
    )
}

async fn a_start_is_created_once_per_request_id(backend: Backend) {
    let (log, _db) = open(backend).await;
    let Created::New(saga) = log
        .create(new_saga(1, "e-1", LockMode::Shared, "a"))
        .await
        .expect("create")
    else {
        panic!("new saga expected");
    };
    assert_eq!(saga.state, SagaState::Running);
    assert_eq!(saga.input, vec![1, 2, 3]);
    assert_eq!(saga.log_version, hrmesh_saga_core::codec::LOG_VERSION);
    let mut again = new_saga(2, "e-1", LockMode::Shared, "a");
    again.request_id = "start-1".into();
    assert_eq!(
        log.create(again).await.expect("create again"),
        Created::Existing(saga.clone())
    );
    // Concurrent starts with one request id create one saga.
    let starts = (10..16).map(|n| {
        let log = log.clone();
        async move {
            let mut start = new_saga(n, "e-9", LockMode::None, "a");
            start.request_id = "same".into();
            log.create(start).await
        }
    });
    let results = futures_util::future::join_all(starts).await;
    let new = results
        .iter()
        .filter(|r| matches!(r, Ok(Created::New(_))))
        .count();
    assert_eq!(new, 1, "{results:?}");
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
}

async fn offboarding_excludes_every_other_saga_of_the_employee(backend: Backend) {
    let (log, _db) = open(backend).await;
    log.create(new_saga(1, "e-1", LockMode::Shared, "a"))
        .await
        .expect("shared");
    log.create(new_saga(2, "e-1", LockMode::Shared, "a"))
        .await
        .expect("shared with shared");
    let refused = log
        .create(new_saga(3, "e-1", LockMode::Exclusive, "a"))
        .await
        .expect_err("exclusive while shared run");
    assert!(
        matches!(&refused, LogError::Locked { saga_id, .. } if saga_id.ends_with("000000000001")),
        "{refused:?}"
    );
    log.create(new_saga(4, "e-2", LockMode::Exclusive, "a"))
        .await
        .expect("another employee");
    log.create(new_saga(5, "e-2", LockMode::None, "a"))
        .await
        .expect("a saga that locks nothing");
    assert!(matches!(
        log.create(new_saga(6, "e-2", LockMode::Shared, "a")).await,
        Err(LogError::Locked { .. })
    ));
    // Once the shared sagas end, offboarding may start; a stuck one still holds the employee.
    let first = new_saga(1, "e-1", LockMode::Shared, "a").id;
    let second = new_saga(2, "e-1", LockMode::Shared, "a").id;
    log.append(append(&first, "a", 0, vec![ok(0)], SagaState::Completed))
        .await
        .expect("complete");
    log.append(append(&second, "a", 0, vec![], SagaState::Stuck))
        .await
        .expect("stuck");
    assert!(matches!(
        log.create(new_saga(7, "e-1", LockMode::Exclusive, "a"))
            .await,
        Err(LogError::Locked { .. })
    ));
}

async fn appends_are_fenced_by_owner_and_length(backend: Backend) {
    let (log, _db) = open(backend).await;
    let saga = new_saga(1, "e-1", LockMode::None, "a");
    let id = saga.id.clone();
    log.create(saga).await.expect("create");
    log.append(append(&id, "a", 0, vec![ok(0), ok(1)], SagaState::Running))
        .await
        .expect("append");
    assert!(
        matches!(
            log.append(append(&id, "a", 1, vec![ok(2)], SagaState::Running))
                .await,
            Err(LogError::LostLease { .. })
        ),
        "a writer behind the log cannot append"
    );
    assert!(
        matches!(
            log.append(append(&id, "b", 2, vec![ok(2)], SagaState::Running))
                .await,
            Err(LogError::LostLease { .. })
        ),
        "a replica without the lease cannot append"
    );
    // Group commit: one transaction, each append decided on its own.
    let other = new_saga(2, "e-2", LockMode::None, "a");
    let other_id = other.id.clone();
    log.create(other).await.expect("create");
    let results = log
        .append_many(&[
            append(&id, "a", 2, vec![ok(2)], SagaState::Completed),
            append(&other_id, "a", 5, vec![ok(0)], SagaState::Running),
        ])
        .await
        .expect("append many");
    assert!(results[0].is_ok());
    assert!(matches!(results[1], Err(LogError::LostLease { .. })));
    let (record, events) = log.get(&id).await.expect("get").expect("saga");
    assert_eq!(record.state, SagaState::Completed);
    assert_eq!(record.owner, None, "a finished saga has no owner");
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(events[0].event, ok(0));
    assert_eq!(log.events(&record, 2).await.expect("tail").len(), 1);
}

async fn expired_leases_are_taken_over_by_exactly_one_replica(backend: Backend) {
    let (log, _db) = open(backend).await;
    for n in 0..10 {
        log.create(new_saga(n, &format!("e-{n}"), LockMode::None, "crashed"))
            .await
            .expect("create");
    }
    let later = t0() + Duration::seconds(60);
    // Leases still valid: nobody else may take them; the owner itself may after a restart.
    assert!(
        log.claim("b", t0(), later, 100)
            .await
            .expect("claim")
            .is_empty()
    );
    assert_eq!(
        log.claim("crashed", t0(), later, 2)
            .await
            .expect("own")
            .len(),
        2
    );
    // Past the lease: two replicas race for the rest, each saga goes to one.
    let now = t0() + Duration::seconds(30);
    let (b, c) = tokio::join!(
        log.claim("b", now, later, 100),
        log.claim("c", now, later, 100)
    );
    let (b, c) = (b.expect("claim b"), c.expect("claim c"));
    assert_eq!(b.len() + c.len(), 8, "each expired saga claimed once");
    for saga in &b {
        assert!(!c.iter().any(|other| other.id == saga.id));
        assert_eq!(saga.owner.as_deref(), Some("b"));
    }
    // The renewals of the new owner keep it.
    let ids: Vec<String> = b.iter().map(|s| s.id.clone()).collect();
    assert_eq!(
        log.renew("b", &ids, later + Duration::seconds(60))
            .await
            .expect("renew"),
        ids.len() as u64
    );
    assert_eq!(log.renew("c", &ids, later).await.expect("renew"), 0);

    let listed = log
        .list(
            &ListFilter {
                state: Some(SagaState::Running),
                ..ListFilter::default()
            },
            None,
            3,
        )
        .await
        .expect("list");
    assert_eq!(listed.len(), 3);
    assert!(listed[0].id > listed[1].id, "newest first");
    let by_employee = log
        .list(
            &ListFilter {
                employee_id: Some("e-4".into()),
                ..ListFilter::default()
            },
            None,
            10,
        )
        .await
        .expect("list");
    assert_eq!(by_employee.len(), 1);
}

/// A start as the orchestrator logs it: `codec::SagaStart` as JSON, with free text in it.
fn time_off_start(reason: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "actor": "e-7",
        "input": { "request_time_off": {
            "employee_id": "e-7",
            "manager_id": "e-8",
            "policy_id": "pto",
            "start_date": "2026-04-06",
            "end_date": "2026-04-07",
            "half_days": [],
            "reason": reason,
        } },
    }))
    .expect("JSON")
}

async fn a_starts_free_text_is_sealed_and_erased_with_the_employee(backend: Backend) {
    let (log, db) = open(backend).await;
    let secret = "zqtimeoffreasonplaintext";
    let mut new = new_saga(9, "e-7", LockMode::Shared, "a");
    new.saga_type = "request-time-off".into();
    new.input = time_off_start(secret);
    let Created::New(created) = log.create(new.clone()).await.expect("create") else {
        panic!("new saga expected");
    };
    assert_eq!(created.input, new.input, "the creator runs on its input");
    let read = log.record(&created.id).await.expect("read").expect("saga");
    assert_eq!(read.input, new.input, "read back in the clear");
    let Created::Existing(again) = log.create(new.clone()).await.expect("repeat") else {
        panic!("the same saga expected");
    };
    assert_eq!(
        again.input, new.input,
        "a repeated start reads it in the clear"
    );
    let stored = hrmesh_storage::testing::stored(backend, &db.url).await;
    assert!(stored.contains(&created.id), "the scan reads the saga");
    assert!(
        !stored.contains(secret),
        "the reason is stored in the clear"
    );

    // Erasing the employee's key: the saga and its start stay readable, the reason is erased.
    let connection = log.connection().clone();
    let erased = log
        .vault()
        .erase(&connection, "e-7", t0())
        .await
        .expect("erase");
    assert_eq!(erased, 1);
    let after = log.record(&created.id).await.expect("read").expect("saga");
    let start = hrmesh_saga_core::codec::decode_start(after.log_version, &after.input)
        .expect("the start still decodes");
    assert_eq!(start.actor, "e-7");
    let hrmesh_saga_core::SagaInput::RequestTimeOff(input) = start.input else {
        panic!("a time-off start");
    };
    assert_eq!(input.reason, hrmesh_crypto::ERASED);
    assert_eq!(input.policy_id.as_str(), "pto");
}

fn audit_event(id: &str, at: chrono::DateTime<Utc>) -> hrmesh_storage::audit::AuditEvent {
    hrmesh_storage::audit::AuditEvent {
        id: id.into(),
        at,
        service: "orchestrator".into(),
        method: "/hrmesh.saga.v1.SagaService/StartSaga".into(),
        subject: "e-1".into(),
        actor: "admin".into(),
        on_behalf_of: None,
        client_addr: None,
        forwarded_for: None,
        request_id: id.into(),
        trace_id: None,
        outcome: Some("OK".into()),
    }
}

/// A kind whose removal fails: a run that stops between writing the archive and removing.
struct Interrupted(std::sync::Arc<dyn RecordKind>);

#[async_trait::async_trait]
impl RecordKind for Interrupted {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    async fn expired(
        &self,
        cutoff: chrono::DateTime<Utc>,
        limit: u64,
    ) -> anyhow::Result<Vec<Expired>> {
        self.0.expired(cutoff, limit).await
    }
    async fn remove(&self, _: &[String], _: chrono::DateTime<Utc>) -> anyhow::Result<u64> {
        anyhow::bail!("the process died before removing")
    }
}

async fn finished_sagas_past_retention_are_archived_once_and_removed(backend: Backend) {
    let (log, _db) = open(backend).await;
    let old = new_saga(1, "e-1", LockMode::None, "a").id;
    let stuck = new_saga(2, "e-1", LockMode::None, "a").id;
    let running = new_saga(3, "e-1", LockMode::None, "a").id;
    let recent = new_saga(4, "e-1", LockMode::None, "a").id;
    for n in 1..=4 {
        log.create(new_saga(n, "e-1", LockMode::None, "a"))
            .await
            .expect("create");
    }
    let years = |n: i64| Duration::days(365 * n);
    log.append(append(
        &old,
        "a",
        0,
        vec![ok(0), ok(1)],
        SagaState::Completed,
    ))
    .await
    .expect("old saga completes");
    log.append(append(&stuck, "a", 0, vec![ok(0)], SagaState::Stuck))
        .await
        .expect("stuck");
    log.append(append(&running, "a", 0, vec![ok(0)], SagaState::Running))
        .await
        .expect("running");
    let mut late = append(&recent, "a", 0, vec![ok(0)], SagaState::Completed);
    late.now = t0() + years(5);
    log.append(late).await.expect("recent saga completes");
    log.audit_store()
        .append(&[
            audit_event("old", t0()),
            audit_event("new", t0() + years(5)),
        ])
        .await
        .expect("audit");

    let archive = tempfile::tempdir().expect("archive dir");
    let dir = archive.path().join("orchestrator");
    let periods = Periods::default();
    let leases: std::sync::Arc<dyn Leases> = std::sync::Arc::new(log.connection().clone());
    let now = t0() + years(7) + Duration::days(30);

    // A run that dies after writing its first batch removes nothing; the next one resumes it.
    let interrupted = log
        .record_kinds()
        .into_iter()
        .map(|kind| std::sync::Arc::new(Interrupted(kind)) as std::sync::Arc<dyn RecordKind>)
        .collect();
    let failed = Retention::new(
        "orchestrator",
        dir.clone(),
        periods.apply(interrupted).expect("kinds"),
        leases.clone(),
    )
    .run(now)
    .await;
    assert!(failed.is_err(), "{failed:?}");
    assert!(
        log.get(&old).await.expect("read").is_some(),
        "nothing removed"
    );

    let retention = Retention::new(
        "orchestrator",
        dir.clone(),
        periods.apply(log.record_kinds()).expect("kinds"),
        leases,
    );
    let report = retention.run(now).await.expect("archive");
    assert_eq!(
        report,
        [("audit_events", 1), ("sagas", 1)].into_iter().collect(),
        "the old finished saga and the old audit event"
    );
    assert!(log.get(&old).await.expect("read").is_none(), "removed");
    for kept in [&stuck, &running, &recent] {
        assert!(log.get(kept).await.expect("read").is_some(), "{kept} kept");
    }
    let trail = log
        .audit_store()
        .list(&hrmesh_storage::audit::AuditQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("trail");
    assert_eq!(
        trail.iter().map(|(_, e)| e.id.as_str()).collect::<Vec<_>>(),
        ["new"]
    );

    // The archive: one file per kind, listed in the manifest with its checksum.
    assert_eq!(
        hrmesh_storage::retention::verify(&dir, "orchestrator").expect("verify"),
        2
    );
    let manifest =
        hrmesh_storage::retention::Manifest::read(&dir, "orchestrator").expect("manifest");
    assert_eq!(
        manifest.files.len(),
        2,
        "the resumed run rewrote the interrupted run's file"
    );
    let files = hrmesh_storage::testing::archive_files(&dir);
    let (_, sagas) = files
        .iter()
        .find(|(name, _)| name.starts_with("sagas/"))
        .expect("a sagas file");
    let line: serde_json::Value =
        serde_json::from_slice(sagas.split(|b| *b == b'\n').next().expect("a line")).expect("json");
    assert_eq!(line["key"], old.as_str());
    assert_eq!(line["record"]["state"], "completed");
    assert_eq!(line["record"]["events"].as_array().map(Vec::len), Some(2));
    let sums = String::from_utf8(files["SHA256SUMS"].clone()).expect("text");
    assert_eq!(sums.lines().count(), 2, "{sums}");

    // Tampering is found.
    let (name, bytes) = files
        .iter()
        .find(|(name, _)| name.ends_with(".jsonl"))
        .expect("a file");
    let mut tampered = bytes.clone();
    tampered[10] ^= 1;
    std::fs::write(dir.join(name), &tampered).expect("tamper");
    assert!(hrmesh_storage::retention::verify(&dir, "orchestrator").is_err());
    std::fs::write(dir.join(name), bytes).expect("restore");

    // A second run changes nothing: not the archive, not the log.
    let before = hrmesh_storage::testing::archive_files(&dir);
    let report = retention.run(now).await.expect("again");
    assert!(report.is_empty(), "{report:?}");
    assert_eq!(hrmesh_storage::testing::archive_files(&dir), before);
    for kept in [&stuck, &running, &recent] {
        assert!(log.get(kept).await.expect("read").is_some(), "{kept} kept");
    }
}

hrmesh_storage::test_on_every_backend!(
    a_start_is_created_once_per_request_id,
    offboarding_excludes_every_other_saga_of_the_employee,
    appends_are_fenced_by_owner_and_length,
    expired_leases_are_taken_over_by_exactly_one_replica,
    a_starts_free_text_is_sealed_and_erased_with_the_employee,
    finished_sagas_past_retention_are_archived_once_and_removed,
);
