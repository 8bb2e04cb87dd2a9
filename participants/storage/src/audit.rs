//! The audit trail: who (subject and actor type, and for a service the end user it acted for),
//! from where (client address), with which request id and when, for every accepted mutating call,
//! kept in the service's own store and listed to admins.
//!
//! Events go through one writer task that commits them in batches (group commit). For a service
//! whose store writes events with effects ([`AuditStore::with_effects`]: the ledger and the
//! performance service), the mesh layer hands the call's event to the handler's task
//! ([`in_call`]); the idempotency inbox writes it in the transaction of the call's effect, with
//! outcome OK when the call succeeded ([`pending`], [`insert`]), so the event costs no commit
//! of its own and no effect exists without it. An event the store did not write (the call was
//! refused before it reached the store, failed, or was a replay) is written by the mesh layer
//! once the handler answered, with its outcome, before the answer leaves. Other services' events
//! are committed before the handler runs, as before. Either way no crash can leave an effect
//! without its event. An outcome the store could not know (a recorded refusal's status code) is
//! added once the handler answers, without holding the answer back; an event whose outcome is
//! missing is a call that was still running, or whose service stopped, when the outcome would have
//! been written.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use sea_orm_migration::prelude::*;
use tokio::sync::{mpsc, oneshot};

/// One accepted mutating call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Unique per event; names it when its outcome is written.
    pub id: String,
    pub at: DateTime<Utc>,
    /// The service's short name (ledger, performance, notification, orchestrator).
    pub service: String,
    /// The full method path.
    pub method: String,
    pub subject: String,
    /// employee, manager, admin or system.
    pub actor: String,
    /// For a service's call: the end user it acted for (`x-hrmesh-on-behalf-of`).
    pub on_behalf_of: Option<String>,
    /// The peer's socket address.
    pub client_addr: Option<String>,
    /// `x-forwarded-for` as a gateway sent it.
    pub forwarded_for: Option<String>,
    pub request_id: String,
    pub trace_id: Option<String>,
    /// The call's status code name (OK, INVALID_ARGUMENT, …); `None` until the handler answered.
    pub outcome: Option<String>,
}

impl AuditEvent {
    /// Makes this event an anonymous act's: `pseudonym` replaces whoever called and the request
    /// id they chose, the call is dated `at` (coarsened by the caller), and where it came from
    /// (addresses, trace) is dropped. Only the method, the actor type and the outcome remain.
    pub fn disguise(&mut self, pseudonym: &str, at: DateTime<Utc>) {
        pseudonym.clone_into(&mut self.subject);
        pseudonym.clone_into(&mut self.request_id);
        self.at = at;
        self.on_behalf_of = None;
        self.client_addr = None;
        self.forwarded_for = None;
        self.trace_id = None;
    }
}

/// Which events to list, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub subject: Option<String>,
    pub method: Option<String>,
    /// Only events with a sequence number below this (the previous page's last one).
    pub before_seq: Option<i64>,
    pub limit: u64,
}

/// Where a service keeps its audit trail.
#[async_trait::async_trait]
pub trait AuditStore: Send + Sync + 'static {
    /// Appends the events in one transaction.
    async fn append(&self, events: &[AuditEvent]) -> anyhow::Result<()>;
    /// Writes `outcome` (a status code name) into the appended events `ids`.
    async fn settle(&self, outcome: &str, ids: &[String]) -> anyhow::Result<()>;
    /// Events matching `query`, newest first, each with its sequence number.
    async fn list(&self, query: &AuditQuery) -> anyhow::Result<Vec<(i64, AuditEvent)>>;
    /// Whether the service's store writes each call's event in the transaction of the call's
    /// effect ([`take_pending`]): then the mesh layer hands the event over instead of committing
    /// it first.
    fn with_effects(&self) -> bool {
        false
    }
}

/// The audit event of the call a task serves, while it is on its way to the store.
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "one per call, in one slot; boxing it would allocate once more per call"
)]
pub enum CallEvent {
    /// Not written yet.
    Pending(AuditEvent),
    /// Written by the store with the call's effect; `ok` when with outcome OK.
    Written { ok: bool },
}

/// Where a call's event waits for its store: shared by the mesh layer and the handler's task.
pub type CallSlot = Arc<std::sync::Mutex<Option<CallEvent>>>;

tokio::task_local! {
    static CALL: CallSlot;
}

/// Runs `call` (a handler) with `slot` as its call's event, for its store to take.
pub async fn in_call<F: std::future::Future>(slot: CallSlot, call: F) -> F::Output {
    CALL.scope(slot, call).await
}

/// The pending event of the call this task serves, if any, taken out of its slot: the caller
/// writes it with the call's effect and then marks it written ([`written`]), or puts it back
/// ([`put_back`]).
pub fn take_pending() -> Option<(CallSlot, AuditEvent)> {
    CALL.try_with(|slot| {
        let mut held = slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match held.take() {
            Some(CallEvent::Pending(event)) => Some((slot.clone(), event)),
            other => {
                *held = other;
                None
            }
        }
    })
    .ok()
    .flatten()
}

/// A copy of the pending event of the call this task serves, if any, left in its slot: the
/// caller writes it with the call's effect, then marks it written ([`written`]) once that
/// commits.
pub fn pending() -> Option<(CallSlot, AuditEvent)> {
    CALL.try_with(|slot| {
        let held = slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match &*held {
            Some(CallEvent::Pending(event)) => Some((slot.clone(), event.clone())),
            _ => None,
        }
    })
    .ok()
    .flatten()
}

/// Disguises the pending event of the call this task serves ([`AuditEvent::disguise`]), so it
/// is written, with the effect or after it, as an anonymous act's.
pub fn disguise_pending(pseudonym: &str, at: DateTime<Utc>) {
    let _ = CALL.try_with(|slot| {
        let mut held = slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(CallEvent::Pending(event)) = &mut *held {
            event.disguise(pseudonym, at);
        }
    });
}

/// Marks the call's event written (with outcome OK when `ok`).
pub fn written(slot: &CallSlot, ok: bool) {
    *slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(CallEvent::Written { ok });
}

/// Gives an event that was not committed back to its slot, for the mesh layer to write.
pub fn put_back(slot: &CallSlot, event: AuditEvent) {
    *slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(CallEvent::Pending(event));
}

/// Writes the pending event of the call this task serves in a commit of its own, before work
/// that is not one transaction (a long run in batches); its outcome follows from the mesh layer.
pub async fn write_pending(db: &DatabaseConnection) -> Result<(), DbErr> {
    let Some((slot, event)) = take_pending() else {
        return Ok(());
    };
    match insert(db, &event).await {
        Ok(()) => {
            written(&slot, false);
            Ok(())
        }
        Err(err) => {
            put_back(&slot, event);
            Err(err)
        }
    }
}

/// Inserts `event` on `db` (a transaction: the effect's).
pub async fn insert(db: &impl sea_orm::ConnectionTrait, event: &AuditEvent) -> Result<(), DbErr> {
    entity::Entity::insert(row(event)).exec(db).await?;
    Ok(())
}

fn row(event: &AuditEvent) -> entity::ActiveModel {
    entity::ActiveModel {
        at: Set(event.at),
        service: Set(event.service.clone()),
        method: Set(event.method.clone()),
        subject: Set(event.subject.clone()),
        actor: Set(event.actor.clone()),
        client_addr: Set(event.client_addr.clone()),
        forwarded_for: Set(event.forwarded_for.clone()),
        request_id: Set(event.request_id.clone()),
        trace_id: Set(event.trace_id.clone()),
        event_id: Set(Some(event.id.clone())),
        outcome: Set(event.outcome.clone()),
        on_behalf_of: Set(event.on_behalf_of.clone()),
        ..Default::default()
    }
}

/// A store that keeps its service's audit trail next to its data.
pub trait AuditSource {
    fn audit_store(&self) -> Arc<dyn AuditStore>;
}

/// What the writer task is asked to do.
#[expect(
    clippy::large_enum_variant,
    reason = "appends are the common case; boxing them would allocate once more per call"
)]
enum Pending {
    /// Append an event and say when it is committed.
    Append(AuditEvent, oneshot::Sender<Result<(), String>>),
    /// Write an appended event's outcome.
    Settle(String, &'static str),
}

/// The handle servers share; cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    sender: mpsc::Sender<Pending>,
    store: Arc<dyn AuditStore>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").finish_non_exhaustive()
    }
}

/// Events committed in one transaction at most.
const BATCH_MAX: usize = 256;

impl AuditLog {
    /// Starts the writer task; it ends when the last handle is dropped.
    pub fn start(store: Arc<dyn AuditStore>) -> Self {
        let (sender, mut receiver) = mpsc::channel::<Pending>(4 * BATCH_MAX);
        let writer = store.clone();
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH_MAX);
            while receiver.recv_many(&mut batch, BATCH_MAX).await > 0 {
                let mut events = Vec::new();
                let mut waiters = Vec::new();
                let mut outcomes: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
                for pending in batch.drain(..) {
                    match pending {
                        Pending::Append(event, waiter) => {
                            events.push(event);
                            waiters.push(waiter);
                        }
                        Pending::Settle(id, outcome) => {
                            outcomes.entry(outcome).or_default().push(id)
                        }
                    }
                }
                // Outcomes first: each names an event committed in an earlier batch (its call
                // ran only after that commit), and a call queued after another one answered
                // then finds that one's outcome written.
                for (outcome, ids) in outcomes {
                    if let Err(err) = writer.settle(outcome, &ids).await {
                        tracing::error!(error = %format!("{err:#}"), calls = ids.len(), outcome, "audit outcomes not recorded");
                    }
                }
                if !events.is_empty() {
                    let result = writer
                        .append(&events)
                        .await
                        .map_err(|err| format!("{err:#}"));
                    for waiter in waiters {
                        let _ = waiter.send(result.clone());
                    }
                }
            }
        });
        Self { sender, store }
    }

    /// Records `event`, returning once it is committed.
    pub async fn record(&self, event: AuditEvent) -> anyhow::Result<()> {
        let (done, committed) = oneshot::channel();
        self.sender
            .send(Pending::Append(event, done))
            .await
            .map_err(|_| anyhow::anyhow!("the audit writer has stopped"))?;
        committed
            .await
            .map_err(|_| anyhow::anyhow!("the audit writer has stopped"))?
            .map_err(|err| anyhow::anyhow!(err))
    }

    /// Queues the outcome of the call event `id` recorded; returns without waiting for the commit.
    pub async fn settle(&self, id: String, outcome: &'static str) {
        if self
            .sender
            .send(Pending::Settle(id, outcome))
            .await
            .is_err()
        {
            tracing::error!("the audit writer has stopped; an outcome is not recorded");
        }
    }

    pub async fn list(&self, query: &AuditQuery) -> anyhow::Result<Vec<(i64, AuditEvent)>> {
        self.store.list(query).await
    }

    /// See [`AuditStore::with_effects`].
    pub fn with_effects(&self) -> bool {
        self.store.with_effects()
    }
}

/// The `audit_events` table of a SQL store.
pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "audit_events")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub seq: i64,
        pub at: ChronoDateTimeUtc,
        pub service: String,
        pub method: String,
        pub subject: String,
        pub actor: String,
        pub client_addr: Option<String>,
        pub forwarded_for: Option<String>,
        pub request_id: String,
        pub trace_id: Option<String>,
        pub event_id: Option<String>,
        pub outcome: Option<String>,
        pub on_behalf_of: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Creates `audit_events`. Each SQL store lists it, then [`OutcomeMigration`] and
/// [`OnBehalfOfMigration`], in its migrator.
pub struct Migration;

/// Adds each event's id and its call's outcome to `audit_events`.
pub struct OutcomeMigration;

/// Adds the end user a service acted for to `audit_events` (nullable: people act for
/// themselves, and events written before it have none).
pub struct OnBehalfOfMigration;

impl MigrationName for OnBehalfOfMigration {
    fn name(&self) -> &str {
        "m20261201_000001_audit_on_behalf_of"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for OnBehalfOfMigration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AuditEvents::Table)
                    .add_column(
                        ColumnDef::new(AuditEvents::OnBehalfOf)
                            .string_len(128)
                            .null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AuditEvents::Table)
                    .drop_column(AuditEvents::OnBehalfOf)
                    .to_owned(),
            )
            .await
    }
}

impl MigrationName for OutcomeMigration {
    fn name(&self) -> &str {
        "m20261121_000003_audit_outcome"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for OutcomeMigration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds a single column per ALTER TABLE.
        manager
            .alter_table(
                Table::alter()
                    .table(AuditEvents::Table)
                    .add_column(ColumnDef::new(AuditEvents::EventId).string_len(36).null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(AuditEvents::Table)
                    .add_column(ColumnDef::new(AuditEvents::Outcome).string_len(32).null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("audit_events_event_id")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::EventId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("audit_events_event_id")
                    .table(AuditEvents::Table)
                    .to_owned(),
            )
            .await?;
        for column in [AuditEvents::Outcome, AuditEvents::EventId] {
            manager
                .alter_table(
                    Table::alter()
                        .table(AuditEvents::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261121_000002_audit_events"
    }
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Seq,
    At,
    Service,
    Method,
    Subject,
    Actor,
    ClientAddr,
    ForwardedFor,
    RequestId,
    TraceId,
    EventId,
    Outcome,
    OnBehalfOf,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .col(
                        ColumnDef::new(AuditEvents::Seq)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(AuditEvents::At)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AuditEvents::Service)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AuditEvents::Method)
                            .string_len(200)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AuditEvents::Subject)
                            .string_len(200)
                            .not_null(),
                    )
                    .col(ColumnDef::new(AuditEvents::Actor).string_len(16).not_null())
                    .col(
                        ColumnDef::new(AuditEvents::ClientAddr)
                            .string_len(64)
                            .null(),
                    )
                    .col(ColumnDef::new(AuditEvents::ForwardedFor).text().null())
                    .col(
                        ColumnDef::new(AuditEvents::RequestId)
                            .string_len(128)
                            .not_null(),
                    )
                    .col(ColumnDef::new(AuditEvents::TraceId).string_len(32).null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("audit_events_subject")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::Subject)
                    .col(AuditEvents::Seq)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuditEvents::Table).to_owned())
            .await
    }
}

/// The audit trail in a SQL database whose migrator ran [`Migration`].
pub struct SqlAudit {
    db: DatabaseConnection,
    with_effects: bool,
}

impl SqlAudit {
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            with_effects: false,
        }
    }

    /// The trail of a store whose every mutating request writes its call's event in the
    /// effect's transaction ([`take_pending`]).
    pub fn written_with_effects(db: DatabaseConnection) -> Self {
        Self {
            db,
            with_effects: true,
        }
    }
}

#[async_trait::async_trait]
impl AuditStore for SqlAudit {
    fn with_effects(&self) -> bool {
        self.with_effects
    }

    async fn append(&self, events: &[AuditEvent]) -> anyhow::Result<()> {
        let rows = events.iter().map(row);
        // One multi-row INSERT is one implicit transaction.
        entity::Entity::insert_many(rows).exec(&self.db).await?;
        Ok(())
    }

    async fn settle(&self, outcome: &str, ids: &[String]) -> anyhow::Result<()> {
        entity::Entity::update_many()
            .col_expr(entity::Column::Outcome, Expr::value(outcome))
            .filter(entity::Column::EventId.is_in(ids))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    async fn list(&self, query: &AuditQuery) -> anyhow::Result<Vec<(i64, AuditEvent)>> {
        let mut select = entity::Entity::find();
        if let Some(subject) = &query.subject {
            select = select.filter(entity::Column::Subject.eq(subject.as_str()));
        }
        if let Some(method) = &query.method {
            select = select.filter(entity::Column::Method.eq(method.as_str()));
        }
        if let Some(before) = query.before_seq {
            select = select.filter(entity::Column::Seq.lt(before));
        }
        let rows = select
            .order_by_desc(entity::Column::Seq)
            .limit(Ord::max(query.limit, 1))
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                (
                    row.seq,
                    AuditEvent {
                        id: row.event_id.unwrap_or_default(),
                        at: row.at,
                        service: row.service,
                        method: row.method,
                        subject: row.subject,
                        actor: row.actor,
                        on_behalf_of: row.on_behalf_of,
                        client_addr: row.client_addr,
                        forwarded_for: row.forwarded_for,
                        request_id: row.request_id,
                        trace_id: row.trace_id,
                        outcome: row.outcome,
                    },
                )
            })
            .collect())
    }
}
