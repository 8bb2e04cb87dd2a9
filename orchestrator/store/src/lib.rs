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

use chrono::{DateTime, Utc};
use hrmesh_saga_core::codec::{self, CodecError};
use hrmesh_saga_core::{Event, IntegrationEvent, LockMode, SagaFacts, SagaState, SagaType};
use hrmesh_storage::outbox::Outbox;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, DatabaseConnection, DatabaseTransaction, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, TryInsertResult,
};

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
    pub events: Vec<Event>,
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

async fn create_in(txn: &DatabaseTransaction, new: &NewSaga) -> Result<Result<Created>> {
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
        input: Set(created.input.clone()),
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
            .map(|(i, event)| {
                Ok(saga_events::ActiveModel {
                    saga_id: Set(append.saga_id.clone()),
                    seq: Set((append.after + i as u64 + 1) as i64),
                    at: Set(append.now),
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
        integration_events(txn, outbox, append).await?;
    }
    Ok(Ok(()))
}

/// Writes the integration events of the saga `append` brought to its new state.
async fn integration_events(
    txn: &DatabaseTransaction,
    outbox: &Outbox<IntegrationEvent>,
    append: &Append,
) -> Result<()> {
    let Some(row) = sagas::Entity::find_by_id(append.saga_id.clone())
        .one(txn)
        .await?
    else {
        return Ok(());
    };
    let input = codec::decode_start(u32::try_from(row.log_version).unwrap_or(1), &row.input)
        .ok()
        .map(|start| start.input);
    let facts = SagaFacts {
        saga_id: row.id,
        saga_type: row.saga_type,
        employee_id: row.employee_id,
        started_at: row.created_at,
        reason: append.reason.clone(),
    };
    let events = IntegrationEvent::on_reaching(append.state, facts, input.as_ref());
    outbox.add(txn, &events, append.now).await?;
    Ok(())
}

/// The saga log.
#[derive(Debug, Clone)]
pub struct SagaLog {
    db: DatabaseConnection,
    outbox: Outbox<IntegrationEvent>,
}

impl SagaLog {
    /// Connects to `url` and brings the schema up to date; integration events are encoded with
    /// `encode`.
    pub async fn open(url: &str, encode: fn(&IntegrationEvent) -> Vec<u8>) -> Result<Self, DbErr> {
        let db = hrmesh_storage::db::open::<Migrator>(url).await?;
        Ok(Self {
            db,
            outbox: Outbox::new(encode),
        })
    }

    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
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
        let txn = hrmesh_storage::inbox::begin_write(&self.db).await?;
        let mut appended = Vec::with_capacity(appends.len());
        for append in appends {
            appended.push(apply_append(&txn, &self.outbox, append).await?);
        }
        let mut created = Vec::with_capacity(creates.len());
        for new in creates {
            created.push(create_in(&txn, new).await?);
        }
        txn.commit().await?;
        Ok((created, appended))
    }

    pub async fn record(&self, id: &str) -> Result<Option<SagaRecord>> {
        sagas::Entity::find_by_id(id.to_owned())
            .one(&self.db)
            .await?
            .map(record)
            .transpose()
    }

    pub async fn find_by_request(&self, request_id: &str) -> Result<Option<SagaRecord>> {
        sagas::Entity::find()
            .filter(sagas::Column::RequestId.eq(request_id))
            .one(&self.db)
            .await?
            .map(record)
            .transpose()
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
        query.all(&self.db).await?.into_iter().map(record).collect()
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
