//! The orchestrator's durable saga log on sea-orm: SQLite (the embedded default) and PostgreSQL.
//!
//! - `sagas`: one row per saga — type, state, employee, the start (input and actor) and the
//!   version it is encoded in (`hrmesh_saga_core::codec`), the number of logged events, and the
//!   lease: which replica runs it until when.
//! - `saga_events`: the append-only log, `(saga_id, seq)`, each event saying its encoding's
//!   version (version 1 events, from before, say none).
//! - `saga_employee_locks`: one row per employee that starts of locking sagas update first, so the
//!   semantic-lock check ("no offboarding interleaves with another saga of the employee") is
//!   decided one start at a time. The lock itself is the set of non-terminal sagas in `sagas`: it
//!   survives restarts with the log.
//!
//! Every append is fenced: it applies only if the saga still has the number of events its writer
//! read and, for a running saga, the writer still holds the lease. A replica that lost its lease
//! (it stalled, a peer took the saga over) can no longer write, so a saga's log has one writer.
//! Many appends commit in one transaction ([`SagaLog::append_many`]): group commit.

mod entities;
mod migration;
pub mod retention;

use chrono::{DateTime, Utc};
use hrmesh_crypto::Keyring;
use hrmesh_saga_core::codec::{self, CodecError};
use hrmesh_saga_core::{Event, IntegrationEvent, LockMode, SagaFacts, SagaState, SagaType};
use hrmesh_storage::outbox::Outbox;
use hrmesh_storage::vault::{Reads, Vault, VaultError};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, DatabaseConnection, DatabaseTransaction, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, TryInsertResult,
};
use std::sync::Arc;

pub use sea_orm::DbErr;

use entities::{employee_locks, saga_events, sagas};
pub use migration::Migrator;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("employee {employee_id} is held by saga {saga_id}")]
    Locked {
        employee_id: String,
        saga_id: String,
    },
    #[error("saga {saga_id} is no longer this writer's to log")]
    LostLease { saga_id: String },
    #[error("saga {saga_id} is {state}, not stuck")]
    NotStuck { saga_id: String, state: String },
    #[error("saga {0} not found")]
    NotFound(String),
    #[error("saga log storage: {0}")]
    Db(#[from] DbErr),
    #[error("corrupt saga log: {0}")]
    Corrupt(String),
    #[error("saga log encoding: {0}")]
    Codec(#[from] CodecError),
    /// A sealed field of a saga's start does not open (changed, or moved from another saga).
    #[error("a saga's sealed start: {0}")]
    Sealed(String),
}

impl From<VaultError> for LogError {
    fn from(err: VaultError) -> Self {
        match err {
            VaultError::Db(err) => LogError::Db(err),
            other => LogError::Sealed(other.to_string()),
        }
    }
}

/// The free text of a saga's start, as paths into [`codec::SagaStart`]'s JSON: sealed with the
/// employee's data key ([`Vault`]) and erased with them. Everything else (ids, dates, ratings,
/// policies) stays plain: the saga runs on it, and its history stays readable after an erasure.
const PERSONAL: &[&str] = &[
    "input/complete_review/sections/*/body",
    "input/request_time_off/reason",
    "input/decide_time_off/reason",
    "input/initiate_pip/reason",
    "input/initiate_pip/objectives/*",
    "input/offboard_employee/reason",
    "input/onboard_employee/starter_goals/*",
    "input/conclude_pip/notes",
];

fn input_context(saga_id: &str) -> String {
    format!("sagas/{saga_id}/input")
}

/// A start encoded as JSON ([`codec::SagaStart`]); `None` for the protobuf of log version 1.
fn start_json(input: &[u8]) -> Option<serde_json::Value> {
    serde_json::from_slice::<serde_json::Value>(input)
        .ok()
        .filter(serde_json::Value::is_object)
}

/// `new`'s start as stored: its free text sealed with the employee's key.
async fn sealed_input(vault: &Vault, txn: &DatabaseTransaction, new: &NewSaga) -> Result<Vec<u8>> {
    let Some(mut start) = start_json(&new.input) else {
        return Ok(new.input.clone());
    };
    let key = vault.owner_key(txn, &new.employee_id).await?;
    vault.seal_json(&key, &input_context(&new.id), &mut start, PERSONAL);
    Ok(serde_json::to_vec(&start).unwrap_or_else(|_| new.input.clone()))
}

/// A stored start with its free text opened (or reading as erased).
async fn opened_input(
    vault: &Vault,
    db: &impl Reads,
    saga_id: &str,
    input: Vec<u8>,
) -> Result<Vec<u8>> {
    let Some(mut start) = start_json(&input) else {
        return Ok(input);
    };
    vault
        .open_json(db, &input_context(saga_id), &mut start, PERSONAL)
        .await?;
    Ok(serde_json::to_vec(&start).unwrap_or(input))
}

impl LogError {
    /// Whether retrying may succeed (storage busy or unreachable).
    pub fn is_transient(&self) -> bool {
        matches!(self, LogError::Db(err) if hrmesh_storage::db::is_transient(err))
    }
}

pub type Result<T, E = LogError> = std::result::Result<T, E>;

fn lock_str(lock: LockMode) -> &'static str {
    match lock {
        LockMode::None => "none",
        LockMode::Shared => "shared",
        LockMode::Exclusive => "exclusive",
    }
}

fn parse_lock(text: &str) -> Result<LockMode> {
    match text {
        "none" => Ok(LockMode::None),
        "shared" => Ok(LockMode::Shared),
        "exclusive" => Ok(LockMode::Exclusive),
        other => Err(LogError::Corrupt(format!("lock mode {other:?}"))),
    }
}

/// A saga about to be created.
#[derive(Debug, Clone)]
pub struct NewSaga {
    pub id: String,
    pub saga_type: String,
    pub employee_id: String,
    pub lock: LockMode,
    pub request_id: String,
    /// The start, encoded in [`codec::LOG_VERSION`].
    pub input: Vec<u8>,
    pub owner: String,
    pub lease_until: DateTime<Utc>,
    pub now: DateTime<Utc>,
}

/// A saga's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SagaRecord {
    pub id: String,
    pub saga_type: String,
    pub state: SagaState,
    pub employee_id: String,
    pub lock: LockMode,
    pub request_id: String,
    pub input: Vec<u8>,
    /// The encoding of `input`.
    pub log_version: u32,
    pub reason: String,
    pub events: u64,
    pub owner: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn record(row: sagas::Model) -> Result<SagaRecord> {
    Ok(SagaRecord {
        state: SagaState::parse(&row.state)
            .ok_or_else(|| LogError::Corrupt(format!("saga state {:?}", row.state)))?,
        lock: parse_lock(&row.lock_mode)?,
        id: row.id,
        saga_type: row.saga_type,
        employee_id: row.employee_id,
        request_id: row.request_id,
        input: row.input,
        log_version: u32::try_from(row.log_version).unwrap_or(1),
        reason: row.reason,
        events: u64::try_from(row.events).unwrap_or(0),
        owner: row.owner,
        lease_until: row.lease_until,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// One logged event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedEvent {
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub event: Event,
}

fn logged(saga: &SagaRecord, row: saga_events::Model) -> Result<LoggedEvent> {
    let saga_type = SagaType::parse(&saga.saga_type)
        .ok_or_else(|| LogError::Corrupt(format!("saga type {:?}", saga.saga_type)))?;
    Ok(LoggedEvent {
        seq: u64::try_from(row.seq).unwrap_or(0),
        at: row.at,
        event: codec::decode_event(saga_type.definition(), &row.event)?,
    })
}

/// What [`SagaLog::create`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    New(SagaRecord),
    /// The request id had created this saga before.
    Existing(SagaRecord),
}

/// Who may append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fence {
    /// The replica holding the lease.
    Owner(String),
    /// Anyone, if the saga is stuck (operator actions).
    Stuck,
}

/// Events to append to one saga, with the saga's state after them.
#[derive(Debug, Clone)]
pub struct Append {
    pub saga_id: String,
    pub fence: Fence,
    /// How many events the writer has seen: the append applies only if that is still the count.
    pub after: u64,
    /// The new events, each with the time it happened (appends merged into one keep theirs).
    pub events: Vec<(DateTime<Utc>, Event)>,
    pub state: SagaState,
    pub reason: String,
    /// Who holds the saga afterwards (none once it is terminal or stuck).
    pub owner: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    pub now: DateTime<Utc>,
}

/// Filters of [`SagaLog::list`].
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub saga_type: Option<String>,
    pub state: Option<SagaState>,
    pub employee_id: Option<String>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
}

const ACTIVE: [SagaState; 2] = [SagaState::Running, SagaState::Compensating];
const IN_FLIGHT: [SagaState; 3] = [
    SagaState::Running,
    SagaState::Compensating,
    SagaState::Stuck,
];

fn states(states: &[SagaState]) -> Vec<&'static str> {
    states.iter().map(|state| state.as_str()).collect()
}

async fn create_in(
    txn: &DatabaseTransaction,
    vault: &Vault,
    new: &NewSaga,
) -> Result<Result<Created>> {
    if new.lock == LockMode::Exclusive {
        // A repeated start must find its own saga before the lock check, which it would fail.
        // (Other starts learn it from the insert below.)
        let existing = sagas::Entity::find()
            .filter(sagas::Column::RequestId.eq(new.request_id.as_str()))
            .one(txn)
            .await?;
        if let Some(existing) = existing {
            return Ok(Ok(Created::Existing(record(existing)?)));
        }
    }
    if new.lock != LockMode::None {
        // Insert or bump the employee's row: either way it is locked until commit.
        employee_locks::Entity::insert(employee_locks::ActiveModel {
            employee_id: Set(new.employee_id.clone()),
            starts: Set(1),
        })
        .on_conflict(
            OnConflict::column(employee_locks::Column::EmployeeId)
                .value(
                    employee_locks::Column::Starts,
                    Expr::col((employee_locks::Entity, employee_locks::Column::Starts)).add(1),
                )
                .to_owned(),
        )
        .exec(txn)
        .await?;
        let in_flight = sagas::Entity::find()
            .filter(sagas::Column::EmployeeId.eq(new.employee_id.as_str()))
            .filter(sagas::Column::State.is_in(states(&IN_FLIGHT)))
            .filter(sagas::Column::LockMode.ne(lock_str(LockMode::None)))
            .order_by_asc(sagas::Column::Id)
            .all(txn)
            .await?;
        for other in in_flight {
            if !new.lock.compatible_with(parse_lock(&other.lock_mode)?) {
                return Ok(Err(LogError::Locked {
                    employee_id: new.employee_id.clone(),
                    saga_id: other.id,
                }));
            }
        }
    }
    let created = SagaRecord {
        id: new.id.clone(),
        saga_type: new.saga_type.clone(),
        state: SagaState::Running,
        employee_id: new.employee_id.clone(),
        lock: new.lock,
        request_id: new.request_id.clone(),
        input: new.input.clone(),
        log_version: codec::LOG_VERSION,
        reason: String::new(),
        events: 0,
        owner: Some(new.owner.clone()),
        lease_until: Some(new.lease_until),
        created_at: new.now,
        updated_at: new.now,
    };
    let row = sagas::ActiveModel {
        id: Set(created.id.clone()),
        saga_type: Set(created.saga_type.clone()),
        state: Set(SagaState::Running.as_str().to_owned()),
        employee_id: Set(created.employee_id.clone()),
        lock_mode: Set(lock_str(created.lock).to_owned()),
        request_id: Set(created.request_id.clone()),
        input: Set(sealed_input(vault, txn, new).await?),
        reason: Set(String::new()),
        events: Set(0),
        owner: Set(created.owner.clone()),
        lease_until: Set(created.lease_until),
        created_at: Set(created.created_at),
        updated_at: Set(created.updated_at),
        log_version: Set(codec::LOG_VERSION as i32),
    };
    // A concurrent start with the same request id (on another replica) may have won meanwhile:
    // the insert then does nothing and that saga is the answer.
    let inserted = sagas::Entity::insert(row)
        .on_conflict_do_nothing_on([sagas::Column::RequestId])
        .exec(txn)
        .await?;
    if matches!(inserted, TryInsertResult::Conflicted) {
        let existing = sagas::Entity::find()
            .filter(sagas::Column::RequestId.eq(created.request_id.as_str()))
            .one(txn)
            .await?
            .ok_or_else(|| LogError::Corrupt("a conflicting start vanished".into()))?;
        return Ok(Ok(Created::Existing(record(existing)?)));
    }
    Ok(Ok(Created::New(created)))
}

async fn apply_append(
    txn: &DatabaseTransaction,
    outbox: &Outbox<IntegrationEvent>,
    vault: &Vault,
    append: &Append,
) -> Result<Result<()>> {
    let mut update = sagas::Entity::update_many()
        .col_expr(
            sagas::Column::Events,
            Expr::value((append.after + append.events.len() as u64) as i64),
        )
        .col_expr(sagas::Column::State, Expr::value(append.state.as_str()))
        .col_expr(sagas::Column::Reason, Expr::value(append.reason.clone()))
        .col_expr(sagas::Column::Owner, Expr::value(append.owner.clone()))
        .col_expr(sagas::Column::LeaseUntil, Expr::value(append.lease_until))
        .col_expr(sagas::Column::UpdatedAt, Expr::value(append.now))
        .filter(sagas::Column::Id.eq(append.saga_id.as_str()))
        .filter(sagas::Column::Events.eq(append.after as i64));
    update = match &append.fence {
        Fence::Owner(owner) => update
            .filter(sagas::Column::Owner.eq(owner.as_str()))
            .filter(sagas::Column::State.is_in(states(&ACTIVE))),
        Fence::Stuck => update.filter(sagas::Column::State.eq(SagaState::Stuck.as_str())),
    };
    if update.exec(txn).await?.rows_affected != 1 {
        return Ok(Err(LogError::LostLease {
            saga_id: append.saga_id.clone(),
        }));
    }
    if !append.events.is_empty() {
        let rows = append
            .events
            .iter()
            .enumerate()
            .map(|(i, (at, event))| {
                Ok(saga_events::ActiveModel {
                    saga_id: Set(append.saga_id.clone()),
                    seq: Set((append.after + i as u64 + 1) as i64),
                    at: Set(*at),
                    event: Set(codec::encode_event(event)),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        saga_events::Entity::insert_many(rows).exec(txn).await?;
    }
    // An owner appends only to a running or compensating saga, an operator only to a stuck one:
    // whether the state changed is known without reading it first.
    let changed = match append.fence {
        Fence::Owner(_) => !ACTIVE.contains(&append.state),
        Fence::Stuck => append.state != SagaState::Stuck,
    };
    if changed {
        integration_events(txn, outbox, vault, append).await?;
    }
    Ok(Ok(()))
}

/// Writes what the saga `append` brought to its new state causes: its integration events, and
/// for a completed erasure the erasure of the employee's key in the log.
async fn integration_events(
    txn: &DatabaseTransaction,
    outbox: &Outbox<IntegrationEvent>,
    vault: &Vault,
    append: &Append,
) -> Result<()> {
    let Some(row) = sagas::Entity::find_by_id(append.saga_id.clone())
        .one(txn)
        .await?
    else {
        return Ok(());
    };
    let input = opened_input(vault, txn, &row.id, row.input).await?;
    let input = codec::decode_start(u32::try_from(row.log_version).unwrap_or(1), &input)
        .ok()
        .map(|start| start.input);
    // An erasure completes by destroying the log's own key for the employee, in the same
    // transaction: every saga's sealed start about them reads as erased from then on.
    let erased = (append.state == SagaState::Completed
        && row.saga_type == SagaType::ErasePersonalData.as_str())
    .then(|| row.employee_id.clone());
    let facts = SagaFacts {
        saga_id: row.id,
        saga_type: row.saga_type,
        employee_id: row.employee_id,
        started_at: row.created_at,
        reason: append.reason.clone(),
    };
    let events = IntegrationEvent::on_reaching(append.state, facts, input.as_ref());
    outbox.add(txn, &events, append.now).await?;
    if let Some(employee_id) = erased {
        vault.erase(txn, &employee_id, append.now).await?;
    }
    Ok(())
}

/// The saga log.
#[derive(Debug, Clone)]
pub struct SagaLog {
    db: DatabaseConnection,
    outbox: Outbox<IntegrationEvent>,
    vault: Vault,
}

impl SagaLog {
    /// Connects to `url` and brings the schema up to date; integration events are encoded with
    /// `encode`, and the free text of saga starts sealed with data keys that `keyring` wraps.
    pub async fn open(
        url: &str,
        encode: fn(&IntegrationEvent) -> Vec<u8>,
        keyring: Arc<Keyring>,
    ) -> Result<Self, VaultError> {
        let db = hrmesh_storage::db::open::<Migrator>(url).await?;
        let vault = Vault::open(&db, keyring).await?;
        Ok(Self {
            db,
            outbox: Outbox::new(encode),
            vault,
        })
    }

    /// The data keys of the sealed starts.
    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    /// `row` as a record, its start opened.
    async fn record_of(&self, row: sagas::Model) -> Result<SagaRecord> {
        let mut saga = record(row)?;
        saga.input = opened_input(&self.vault, &self.db, &saga.id, saga.input).await?;
        Ok(saga)
    }

    async fn records_of(&self, rows: Vec<sagas::Model>) -> Result<Vec<SagaRecord>> {
        let mut records = Vec::with_capacity(rows.len());
        for row in rows {
            records.push(self.record_of(row).await?);
        }
        Ok(records)
    }

    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// What the retention job archives: finished sagas with their events, and the audit trail.
    pub fn record_kinds(&self) -> Vec<Arc<dyn hrmesh_storage::retention::RecordKind>> {
        retention::kinds(&self.db)
    }

    /// Creates the saga, durably, before anything is called. A request id that created a saga
    /// before gets that saga back. A locking saga is refused while an incompatible one of the
    /// same employee is in flight (running, compensating or stuck).
    pub async fn create(&self, new: NewSaga) -> Result<Created> {
        let (mut created, _) = self.commit(std::slice::from_ref(&new), &[]).await?;
        created
            .pop()
            .unwrap_or_else(|| Err(LogError::Corrupt("no answer".into())))
    }

    /// Group commit: applies `appends` (each on its own terms, in order), then `creates`, in one
    /// transaction — one flush for all of them.
    pub async fn commit(
        &self,
        creates: &[NewSaga],
        appends: &[Append],
    ) -> Result<(Vec<Result<Created>>, Vec<Result<()>>)> {
        // Keys read or created in the transaction are cached once it commits.
        let (mut created, appended) = hrmesh_storage::group::committing(async {
            let txn = hrmesh_storage::inbox::begin_write(&self.db).await?;
            let mut appended = Vec::with_capacity(appends.len());
            for append in appends {
                appended.push(apply_append(&txn, &self.outbox, &self.vault, append).await?);
            }
            let mut created = Vec::with_capacity(creates.len());
            for new in creates {
                created.push(create_in(&txn, &self.vault, new).await?);
            }
            txn.commit().await?;
            Ok::<_, LogError>((created, appended))
        })
        .await?;
        // A saga found rather than created was read inside the transaction, sealed.
        for answer in &mut created {
            if let Ok(Created::Existing(saga)) = answer {
                let input = std::mem::take(&mut saga.input);
                saga.input = opened_input(&self.vault, &self.db, &saga.id, input).await?;
            }
        }
        Ok((created, appended))
    }

    pub async fn record(&self, id: &str) -> Result<Option<SagaRecord>> {
        match sagas::Entity::find_by_id(id.to_owned())
            .one(&self.db)
            .await?
        {
            Some(row) => self.record_of(row).await.map(Some),
            None => Ok(None),
        }
    }

    pub async fn find_by_request(&self, request_id: &str) -> Result<Option<SagaRecord>> {
        let row = sagas::Entity::find()
            .filter(sagas::Column::RequestId.eq(request_id))
            .one(&self.db)
            .await?;
        match row {
            Some(row) => self.record_of(row).await.map(Some),
            None => Ok(None),
        }
    }

    /// The saga's events after `after` (a sequence number; 0 for all), in order.
    pub async fn events(&self, saga: &SagaRecord, after: u64) -> Result<Vec<LoggedEvent>> {
        saga_events::Entity::find()
            .filter(saga_events::Column::SagaId.eq(saga.id.as_str()))
            .filter(saga_events::Column::Seq.gt(after as i64))
            .order_by_asc(saga_events::Column::Seq)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|row| logged(saga, row))
            .collect()
    }

    /// The saga and its whole log.
    pub async fn get(&self, id: &str) -> Result<Option<(SagaRecord, Vec<LoggedEvent>)>> {
        let Some(saga) = self.record(id).await? else {
            return Ok(None);
        };
        let events = self.events(&saga, 0).await?;
        Ok(Some((saga, events)))
    }

    /// Applies every append it can in one transaction (one flush), in order; each answer says
    /// whether its append applied.
    pub async fn append_many(&self, appends: &[Append]) -> Result<Vec<Result<()>>> {
        Ok(self.commit(&[], appends).await?.1)
    }

    /// Appends to one saga.
    pub async fn append(&self, append: Append) -> Result<()> {
        self.append_many(std::slice::from_ref(&append))
            .await?
            .pop()
            .unwrap_or(Ok(()))
    }

    /// Extends the leases of the sagas `owner` runs.
    pub async fn renew(&self, owner: &str, ids: &[String], until: DateTime<Utc>) -> Result<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let result = sagas::Entity::update_many()
            .col_expr(sagas::Column::LeaseUntil, Expr::value(Some(until)))
            .filter(sagas::Column::Owner.eq(owner))
            .filter(sagas::Column::Id.is_in(ids.iter().map(String::as_str)))
            .filter(sagas::Column::State.is_in(states(&ACTIVE)))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected)
    }

    /// Takes over up to `limit` running or compensating sagas whose lease expired (their replica
    /// crashed or stalled) or that `owner` held before a restart. Each is claimed by a conditional
    /// update, so two replicas never claim the same saga.
    pub async fn claim(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<SagaRecord>> {
        let claimable = || {
            Condition::any()
                .add(sagas::Column::LeaseUntil.lt(now))
                .add(sagas::Column::LeaseUntil.is_null())
                .add(sagas::Column::Owner.is_null())
                .add(sagas::Column::Owner.eq(owner))
        };
        let candidates: Vec<String> = sagas::Entity::find()
            .select_only()
            .column(sagas::Column::Id)
            .filter(sagas::Column::State.is_in(states(&ACTIVE)))
            .filter(claimable())
            .order_by_asc(sagas::Column::Id)
            .limit(limit)
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut claimed = Vec::new();
        for id in candidates {
            let result = sagas::Entity::update_many()
                .col_expr(sagas::Column::Owner, Expr::value(Some(owner.to_owned())))
                .col_expr(sagas::Column::LeaseUntil, Expr::value(Some(until)))
                .filter(sagas::Column::Id.eq(id.as_str()))
                .filter(sagas::Column::State.is_in(states(&ACTIVE)))
                .filter(claimable())
                .exec(&self.db)
                .await?;
            if result.rows_affected == 1
                && let Some(saga) = self.record(&id).await?
            {
                claimed.push(saga);
            }
        }
        Ok(claimed)
    }

    /// Sagas matching `filter`, newest first, before the saga `before`.
    pub async fn list(
        &self,
        filter: &ListFilter,
        before: Option<&str>,
        limit: u64,
    ) -> Result<Vec<SagaRecord>> {
        let mut query = sagas::Entity::find()
            .order_by_desc(sagas::Column::Id)
            .limit(limit);
        if let Some(before) = before {
            query = query.filter(sagas::Column::Id.lt(before));
        }
        if let Some(saga_type) = &filter.saga_type {
            query = query.filter(sagas::Column::SagaType.eq(saga_type.as_str()));
        }
        if let Some(state) = filter.state {
            query = query.filter(sagas::Column::State.eq(state.as_str()));
        }
        if let Some(employee) = &filter.employee_id {
            query = query.filter(sagas::Column::EmployeeId.eq(employee.as_str()));
        }
        if let Some(after) = filter.created_after {
            query = query.filter(sagas::Column::CreatedAt.gte(after));
        }
        if let Some(before) = filter.created_before {
            query = query.filter(sagas::Column::CreatedAt.lt(before));
        }
        let rows = query.all(&self.db).await?;
        self.records_of(rows).await
    }
}

impl hrmesh_storage::audit::AuditSource for SagaLog {
    fn audit_store(&self) -> std::sync::Arc<dyn hrmesh_storage::audit::AuditStore> {
        std::sync::Arc::new(hrmesh_storage::audit::SqlAudit::new(self.db.clone()))
    }
}

impl hrmesh_storage::outbox::OutboxSource for SagaLog {
    fn outbox_store(&self) -> std::sync::Arc<dyn hrmesh_storage::outbox::OutboxStore> {
        std::sync::Arc::new(hrmesh_storage::outbox::SqlOutbox::new(self.db.clone()))
    }

    fn outbox_written(&self) -> std::sync::Arc<hrmesh_storage::outbox::Notify> {
        self.outbox.written()
    }
}
