//! The group commit on a real SQLite file: requests queued while the database is busy share one
//! commit, each keeps its own outcome, and a caller that goes away stalls nobody; a call's audit
//! event handed to the store commits with its effect, or goes back to the mesh layer.

use std::sync::{Arc, Mutex};

use hrmesh_storage::audit::{self, AuditEvent, CallEvent, CallSlot};
use hrmesh_storage::inbox::{self, InboxError, TxError, Writer};
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction};
use sea_orm_migration::{MigrationTrait, MigratorTrait};

struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(inbox::Migration),
            Box::new(audit::Migration),
            Box::new(audit::OutcomeMigration),
            Box::new(audit::OnBehalfOfMigration),
        ]
    }
}

async fn database(dir: &tempfile::TempDir) -> DatabaseConnection {
    let url = hrmesh_storage::db::sqlite_url(&dir.path().join("group.sqlite"));
    let db = hrmesh_storage::db::open::<Migrator>(&url)
        .await
        .expect("open SQLite");
    db.execute_unprepared("CREATE TABLE effects (request TEXT PRIMARY KEY)")
        .await
        .expect("create effects");
    db
}

/// What a request asks for.
#[derive(Debug, Clone, Copy, serde::Serialize)]
enum Ask {
    Write,
    /// A business refusal: recorded and replayed.
    Refuse,
    /// A failure that is not an outcome: nothing of the request stays.
    Fail,
}

fn is_recorded(reason: &String) -> bool {
    reason == "refused"
}

async fn request(writer: Writer, id: &'static str, ask: Ask) -> Result<String, InboxError<String>> {
    inbox::execute(
        &writer,
        id,
        "Effect",
        &ask,
        is_recorded,
        move |txn: &DatabaseTransaction| {
            Box::pin(async move {
                txn.execute_unprepared(&format!("INSERT INTO effects VALUES ('{id}')"))
                    .await?;
                match ask {
                    Ask::Write => Ok(format!("done {id}")),
                    Ask::Refuse => Err(TxError::Domain("refused".to_owned())),
                    Ask::Fail => Err(TxError::Domain("failed".to_owned())),
                }
            })
        },
    )
    .await
}

async fn column(db: &DatabaseConnection, sql: &str) -> Vec<String> {
    db.query_all_raw(sea_orm::Statement::from_string(
        sea_orm::DatabaseBackend::Sqlite,
        sql.to_owned(),
    ))
    .await
    .expect("query")
    .iter()
    .map(|row| row.try_get_by_index::<String>(0).expect("a text column"))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_queued_behind_a_busy_database_share_one_commit_and_keep_their_outcomes() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = database(&dir).await;
    let writer = Writer::new(db.clone());

    // The database's one connection is busy, so every request below queues for it.
    let busy = inbox::begin_write(&db).await.expect("hold the connection");
    let asks: [(&'static str, Ask); 7] = [
        ("a", Ask::Write),
        ("b", Ask::Refuse),
        ("c", Ask::Fail),
        ("d", Ask::Write),
        ("dup", Ask::Write),
        ("dup", Ask::Write),
        ("gone", Ask::Write),
    ];
    let mut tasks = Vec::new();
    for (id, ask) in asks {
        tasks.push((id, tokio::spawn(request(writer.clone(), id, ask))));
    }
    while writer.joined() < asks.len() {
        tokio::task::yield_now().await;
    }
    // One caller goes away while it waits: the others must not wait for it.
    let (_, gone) = tasks.pop().expect("the last request");
    gone.abort();
    busy.rollback().await.expect("free the connection");

    let mut answers = Vec::new();
    for (id, task) in tasks {
        answers.push((id, task.await.expect("the request ran")));
    }
    assert_eq!(writer.commits(), 1, "one commit for the whole batch");
    let answer = |id: &str| {
        answers
            .iter()
            .filter(|(of, _)| *of == id)
            .map(|(_, answer)| match answer {
                Ok(value) => value.clone(),
                Err(InboxError::Domain(reason)) => format!("error {reason}"),
                Err(other) => format!("{other:?}"),
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(answer("a"), ["done a"]);
    assert_eq!(answer("b"), ["error refused"]);
    assert_eq!(answer("c"), ["error failed"]);
    assert_eq!(answer("d"), ["done d"]);
    assert_eq!(
        answer("dup"),
        ["done dup", "done dup"],
        "a repeat in the batch replays"
    );

    // Refused and failed requests rolled back their effects; the refusal alone is recorded.
    let effects = column(&db, "SELECT request FROM effects ORDER BY request").await;
    assert!(
        effects == ["a", "d", "dup"] || effects == ["a", "d", "dup", "gone"],
        "{effects:?}"
    );
    let recorded = column(
        &db,
        "SELECT request_id || ':' || outcome FROM idempotency_inbox WHERE request_id <> 'gone' ORDER BY request_id",
    )
    .await;
    assert_eq!(recorded, ["a:ok", "b:rejected", "d:ok", "dup:ok"]);

    // A repeat after the commit replays what the batch recorded, and a request alone commits alone.
    assert_eq!(
        request(writer.clone(), "d", Ask::Write)
            .await
            .expect("replay"),
        "done d"
    );
    assert!(matches!(
        request(writer.clone(), "b", Ask::Refuse).await,
        Err(InboxError::Domain(reason)) if reason == "refused"
    ));
    request(writer.clone(), "e", Ask::Write)
        .await
        .expect("a lone request");
    assert_eq!(
        writer.commits(),
        2,
        "replays commit nothing; the lone request commits once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_shared_commit_fails_every_member_writes_nothing_and_gives_the_event_back() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = database(&dir).await;
    let writer = Writer::new(db.clone());
    // A deferred foreign key is checked at COMMIT: the batch's commit fails as a whole.
    db.execute_unprepared(
        "CREATE TABLE parents (id TEXT PRIMARY KEY);
         CREATE TABLE children (id TEXT PRIMARY KEY,
           parent TEXT REFERENCES parents(id) DEFERRABLE INITIALLY DEFERRED)",
    )
    .await
    .expect("create tables");

    let busy = inbox::begin_write(&db).await.expect("hold the connection");
    // The good request carries its call's audit event, as the mesh layer hands it over.
    let good = tokio::spawn(handed(writer.clone(), "good", Ask::Write));
    let orphan = {
        let writer = writer.clone();
        tokio::spawn(async move {
            inbox::execute(
                &writer,
                "orphan",
                "Orphan",
                &(),
                is_recorded,
                |txn: &DatabaseTransaction| {
                    Box::pin(async move {
                        txn.execute_unprepared("INSERT INTO children VALUES ('c', 'missing')")
                            .await?;
                        Ok::<_, TxError<String>>("inserted".to_owned())
                    })
                },
            )
            .await
        })
    };
    while writer.joined() < 2 {
        tokio::task::yield_now().await;
    }
    busy.rollback().await.expect("free the connection");

    let (good, held) = good.await.expect("ran");
    let orphan = orphan.await.expect("ran");
    for answer in [&good, &orphan] {
        match answer {
            Err(InboxError::Db(err)) => assert!(
                hrmesh_storage::db::is_transient(err),
                "a failed commit is an outage to retry: {err}"
            ),
            other => panic!("expected the commit's failure, got {other:?}"),
        }
    }
    assert_eq!(writer.commits(), 0);
    assert!(
        matches!(&held, Some(CallEvent::Pending(e)) if e.request_id == "good"),
        "the event goes back to the mesh layer: {held:?}"
    );
    assert!(
        column(&db, "SELECT event_id FROM audit_events")
            .await
            .is_empty()
    );
    assert!(column(&db, "SELECT request FROM effects").await.is_empty());
    assert!(
        column(&db, "SELECT request_id FROM idempotency_inbox")
            .await
            .is_empty()
    );
    // Nothing was recorded, so the retry runs afresh.
    assert_eq!(
        request(writer.clone(), "good", Ask::Write)
            .await
            .expect("retry"),
        "done good"
    );
}

fn event(id: &str) -> AuditEvent {
    AuditEvent {
        id: format!("event-{id}"),
        at: chrono::Utc::now(),
        service: "test".into(),
        method: "/test.v1.Test/Effect".into(),
        subject: "e-1".into(),
        actor: "employee".into(),
        on_behalf_of: None,
        client_addr: None,
        forwarded_for: None,
        request_id: id.into(),
        trace_id: None,
        outcome: None,
    }
}

/// Runs `request` as the mesh layer does for a store that writes events with effects; returns
/// what became of the event.
async fn handed(
    writer: Writer,
    id: &'static str,
    ask: Ask,
) -> (Result<String, InboxError<String>>, Option<CallEvent>) {
    let slot: CallSlot = Arc::new(Mutex::new(Some(CallEvent::Pending(event(id)))));
    let answer = audit::in_call(slot.clone(), request(writer, id, ask)).await;
    let held = slot.lock().expect("the slot").take();
    (answer, held)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handed_event_commits_with_the_effect_or_goes_back_to_the_mesh_layer() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = database(&dir).await;
    let writer = Writer::new(db.clone());

    let (answer, held) = handed(writer.clone(), "a", Ask::Write).await;
    assert!(
        answer.is_ok() && matches!(held, Some(CallEvent::Written { ok: true })),
        "{held:?}"
    );
    let (answer, held) = handed(writer.clone(), "b", Ask::Refuse).await;
    assert!(
        answer.is_err() && matches!(held, Some(CallEvent::Written { ok: false })),
        "{held:?}"
    );
    // A failure and a replay wrote no effect: the event goes back, for the layer to write.
    let (answer, held) = handed(writer.clone(), "c", Ask::Fail).await;
    assert!(
        answer.is_err() && matches!(&held, Some(CallEvent::Pending(e)) if e.request_id == "c"),
        "{held:?}"
    );
    let (answer, held) = handed(writer.clone(), "a", Ask::Write).await;
    assert!(
        answer.is_ok() && matches!(&held, Some(CallEvent::Pending(e)) if e.request_id == "a"),
        "{held:?}"
    );
    assert_eq!(
        writer.commits(),
        2,
        "the events cost no commit of their own"
    );

    let trail = column(
        &db,
        "SELECT request_id || ':' || coalesce(outcome, '-') FROM audit_events ORDER BY seq",
    )
    .await;
    assert_eq!(
        trail,
        ["a:OK", "b:-"],
        "the refusal's status code is the layer's to add"
    );
}

/// A request that defers `then` to its commit, then asks for `ask`.
async fn deferring(
    writer: &Writer,
    id: &'static str,
    ask: Ask,
    then: Arc<Mutex<Vec<&'static str>>>,
) {
    let _ = inbox::execute(
        &writer.clone(),
        id,
        "Effect",
        &ask,
        is_recorded,
        move |txn: &DatabaseTransaction| {
            Box::pin(async move {
                txn.execute_unprepared(&format!("INSERT INTO effects VALUES ('{id}')"))
                    .await?;
                assert!(hrmesh_storage::group::after_commit(move || {
                    then.lock().expect("the list").push(id);
                }));
                match ask {
                    Ask::Write => Ok(()),
                    Ask::Refuse => Err(TxError::Domain("refused".to_owned())),
                    Ask::Fail => Err(TxError::Domain("failed".to_owned())),
                }
            })
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_deferred_to_the_commit_runs_only_when_its_writes_committed() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = database(&dir).await;
    let writer = Writer::new(db.clone());
    let ran = Arc::new(Mutex::new(Vec::new()));
    deferring(&writer, "kept", Ask::Write, ran.clone()).await;
    deferring(&writer, "failed", Ask::Fail, ran.clone()).await;
    // A recorded refusal commits its record, but its work's writes were rolled back.
    deferring(&writer, "refused", Ask::Refuse, ran.clone()).await;
    assert_eq!(*ran.lock().expect("the list"), ["kept"]);
    assert!(
        !hrmesh_storage::group::after_commit(|| {}),
        "outside a request nothing is deferred"
    );
}
