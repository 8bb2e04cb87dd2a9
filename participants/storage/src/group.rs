//! Group commit for a store's write requests: on SQLite, concurrent requests share one
//! transaction and one commit (one fsync), each in a savepoint of its own, and every one of them
//! is answered only after that commit.
//!
//! SQLite admits one writer and syncs its WAL on every commit (`synchronous = FULL`), so a
//! request that commits alone pays a whole fsync and the requests queued behind it wait for it.
//! Here the first request that finds no open batch opens one and is its leader; requests that
//! arrive while it waits for the connection or runs its work join it, up to [`BATCH_MAX`]. The
//! members run one after another on the batch's transaction (there is one connection anyway),
//! each inside a savepoint, so a request that fails rolls back its own writes and nothing else.
//! When the leader's work is done the batch closes to newcomers, waits for the members that
//! joined, and commits once; then every member answers. A failed commit fails every member with a
//! transient error, which the service answers as UNAVAILABLE and the caller retries: nothing was
//! written. There is no linger: a batch holds exactly the requests that queued while the one
//! before it committed.
//!
//! PostgreSQL runs many writers at once and already flushes the WAL of concurrent commits
//! together, so there each request keeps a transaction of its own.
//!
//! The closing and the commit run in a task of their own, so a member whose caller goes away
//! (a cancelled RPC) cannot stall the others.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use sea_orm::{
    DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr, RuntimeErr, TransactionTrait,
};
use tokio::sync::watch;

/// Requests sharing one commit at most.
pub const BATCH_MAX: usize = 64;

/// What becomes of a request's writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Commit them; answer after the commit.
    Write,
    /// Roll them back and answer at once: the answer depends on nothing uncommitted.
    Discard,
    /// Roll them back, but answer only after the commit: the answer was read from what other
    /// members of the batch wrote.
    Read,
}

/// Proof for the compiler that borrows living for `'a` outlive a transaction living for `'t`.
pub type Outlives<'t, 'a> = PhantomData<&'t &'a ()>;

/// A request's work on the transaction it is given: its answer, and what to do with its writes.
pub type Body<'t, T> = Pin<Box<dyn Future<Output = (Keep, T)> + Send + 't>>;

/// What to run once the writes of the request a task is running commit.
type Deferred = Arc<Mutex<Vec<Box<dyn FnOnce() + Send>>>>;

tokio::task_local! {
    static AFTER_COMMIT: Deferred;
}

/// Runs `then` once the writes of the request this task is running ([`Writer::write`]) have
/// committed, and never if they do not. False, and `then` dropped, when the task runs no request.
pub fn after_commit(then: impl FnOnce() + Send + 'static) -> bool {
    AFTER_COMMIT
        .try_with(|deferred| {
            deferred
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push(Box::new(then));
        })
        .is_ok()
}

/// Runs `body`, a store's own write that commits its transaction itself and returns `Ok` only
/// once it did, collecting what it defers with [`after_commit`]; runs that after an `Ok`, and
/// drops it otherwise. For stores that write outside a [`Writer`] (the notification store, the
/// saga log): the vault caches the keys it read or created inside their transactions this way.
pub async fn committing<T, E>(body: impl Future<Output = Result<T, E>>) -> Result<T, E> {
    let deferred = Deferred::default();
    let result = AFTER_COMMIT.scope(deferred.clone(), body).await;
    if result.is_ok() {
        run_deferred(&deferred);
    }
    result
}

/// How much the request this task is running has deferred so far, for [`forget_deferred`].
pub fn deferred_mark() -> usize {
    AFTER_COMMIT
        .try_with(|deferred| {
            deferred
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .len()
        })
        .unwrap_or(0)
}

/// Drops what was deferred after `mark`: the writes it waited for were rolled back (a savepoint).
pub fn forget_deferred(mark: usize) {
    let _ = AFTER_COMMIT.try_with(|deferred| {
        deferred
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .truncate(mark);
    });
}

fn run_deferred(deferred: &Deferred) {
    let then = std::mem::take(
        &mut *deferred
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()),
    );
    for then in then {
        then();
    }
}

/// Writes a store's requests, grouping their commits on SQLite. Cheap to clone; clones share
/// batches.
#[derive(Clone)]
pub struct Writer {
    db: DatabaseConnection,
    groups: Option<Arc<Groups>>,
    commits: Arc<AtomicU64>,
}

/// The batch open to newcomers, if any.
#[derive(Default)]
struct Groups {
    open: Mutex<Option<Arc<Batch>>>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("grouped", &self.groups.is_some())
            .finish_non_exhaustive()
    }
}

struct Batch {
    /// Members that joined, and whether the batch still takes newcomers.
    members: Mutex<(usize, bool)>,
    /// The shared transaction, begun by the first member to run.
    txn: tokio::sync::Mutex<Option<DatabaseTransaction>>,
    /// Members that finished their work (or went away).
    done: watch::Sender<usize>,
    /// Set once the leader's work is done (or its caller went away).
    leader_done: watch::Sender<bool>,
    /// Whether a member kept writes: a batch of replays and failures commits nothing of note.
    wrote: std::sync::atomic::AtomicBool,
    /// The commit's result, once it ran.
    committed: watch::Sender<Option<Result<(), String>>>,
}

impl Batch {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            members: Mutex::new((1, true)),
            txn: tokio::sync::Mutex::new(None),
            done: watch::Sender::new(0),
            leader_done: watch::Sender::new(false),
            wrote: std::sync::atomic::AtomicBool::new(false),
            committed: watch::Sender::new(None),
        })
    }
}

/// Counts a member as done when it finishes or its future is dropped.
struct Member {
    batch: Arc<Batch>,
    leader: bool,
}

impl Drop for Member {
    fn drop(&mut self) {
        self.batch.done.send_modify(|done| *done += 1);
        if self.leader {
            self.batch.leader_done.send_replace(true);
        }
    }
}

/// A failed shared commit, as the transient error each member answers with.
fn commit_failed(err: &str) -> DbErr {
    DbErr::Conn(RuntimeErr::Internal(format!(
        "the shared commit failed, nothing was written: {err}"
    )))
}

impl Writer {
    /// Groups commits when `db` is SQLite.
    pub fn new(db: DatabaseConnection) -> Self {
        let groups =
            (db.get_database_backend() == DatabaseBackend::Sqlite).then(Arc::<Groups>::default);
        Self {
            db,
            groups,
            commits: Arc::default(),
        }
    }

    /// Transactions with writes this writer (and its clones) committed, a shared one once.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Requests that joined the batch still open to newcomers: 0 when there is none, and always
    /// on PostgreSQL.
    pub fn joined(&self) -> usize {
        let Some(groups) = &self.groups else { return 0 };
        let open = groups
            .open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        open.as_ref().map_or(0, |batch| {
            batch
                .members
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0
        })
    }

    /// Runs `body` in a write transaction, alone (PostgreSQL) or in a savepoint of a shared one
    /// (SQLite), and returns its answer once what it kept is committed. `Err` is a storage
    /// failure outside the body: beginning, releasing or committing.
    ///
    /// `body`'s second argument only says that what it borrows (`'a`) outlives the transaction.
    pub async fn write<'a, T, F>(&self, body: F) -> Result<T, DbErr>
    where
        T: Send,
        F: for<'t> FnOnce(&'t DatabaseTransaction, Outlives<'t, 'a>) -> Body<'t, T>,
    {
        let deferred = Deferred::default();
        let Some(groups) = &self.groups else {
            let txn = crate::inbox::begin_write(&self.db).await?;
            let (keep, answer) = AFTER_COMMIT
                .scope(deferred.clone(), body(&txn, PhantomData))
                .await;
            match keep {
                Keep::Write => {
                    txn.commit().await?;
                    self.commits.fetch_add(1, Ordering::Relaxed);
                    run_deferred(&deferred);
                }
                Keep::Discard | Keep::Read => txn.rollback().await?,
            }
            return Ok(answer);
        };

        let member = join(groups, &self.commits);
        let mut committed = member.batch.committed.subscribe();
        let (keep, answer) = {
            let mut slot = member.batch.txn.lock().await;
            if slot.is_none() {
                *slot = Some(crate::inbox::begin_write(&self.db).await?);
            }
            let Some(txn) = slot.as_ref() else {
                return Err(DbErr::Custom("the shared transaction vanished".into()));
            };
            let savepoint = txn.begin().await?;
            let (keep, answer) = AFTER_COMMIT
                .scope(deferred.clone(), body(&savepoint, PhantomData))
                .await;
            match keep {
                Keep::Write => {
                    savepoint.commit().await?;
                    member.batch.wrote.store(true, Ordering::Relaxed);
                }
                Keep::Discard | Keep::Read => savepoint.rollback().await?,
            }
            (keep, answer)
        };
        drop(member);
        if keep == Keep::Discard {
            return Ok(answer);
        }
        let result = committed
            .wait_for(Option::is_some)
            .await
            .map_err(|_| commit_failed("the committing task stopped"))?
            .clone();
        match result {
            Some(Ok(())) => {
                if keep == Keep::Write {
                    run_deferred(&deferred);
                }
                Ok(answer)
            }
            Some(Err(err)) => Err(commit_failed(&err)),
            None => Err(commit_failed("the commit left no result")),
        }
    }
}

/// Joins the open batch, or opens one and starts the task that will commit it.
fn join(groups: &Arc<Groups>, commits: &Arc<AtomicU64>) -> Member {
    let mut open = groups
        .open
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(batch) = open.as_ref() {
        let mut members = batch
            .members
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if members.1 && members.0 < BATCH_MAX {
            members.0 += 1;
            return Member {
                batch: batch.clone(),
                leader: false,
            };
        }
    }
    let batch = Batch::new();
    *open = Some(batch.clone());
    tokio::spawn(commit(groups.clone(), batch.clone(), commits.clone()));
    Member {
        batch,
        leader: true,
    }
}

/// Closes `batch` once its leader's work is done, waits for the members that joined, commits.
async fn commit(groups: Arc<Groups>, batch: Arc<Batch>, commits: Arc<AtomicU64>) {
    // The senders live in `batch`, which this task holds: the waits end only by their condition.
    let _ = batch.leader_done.subscribe().wait_for(|done| *done).await;
    let joined = {
        let mut open = groups
            .open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if open.as_ref().is_some_and(|open| Arc::ptr_eq(open, &batch)) {
            *open = None;
        }
        let mut members = batch
            .members
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        members.1 = false;
        members.0
    };
    let _ = batch
        .done
        .subscribe()
        .wait_for(|done| *done >= joined)
        .await;
    let txn = batch.txn.lock().await.take();
    let result = match txn {
        Some(txn) => {
            let committed = txn.commit().await.map_err(|err| err.to_string());
            if committed.is_ok() && batch.wrote.load(Ordering::Relaxed) {
                commits.fetch_add(1, Ordering::Relaxed);
            }
            committed
        }
        None => Ok(()),
    };
    if let Err(err) = &result {
        tracing::error!(error = %err, members = joined, "a shared commit failed; its requests are answered UNAVAILABLE");
    }
    batch.committed.send_replace(Some(result));
}
