//! The transactional outbox: a service's domain events, written in the transaction of the effect
//! that causes them, so an event exists if and only if its effect committed.
//!
//! Positions are the cursor readers page with ([`OutboxStore::after`]); they grow in commit order
//! without gaps. On SQLite, where one writer at a time holds the database, the writing
//! transaction numbers its own rows, so numbering costs no commit of its own. On PostgreSQL
//! concurrent transactions commit out of their insertion order, so rows are inserted with no
//! position and one worker per database, the holder of the `relay` lease
//! ([`OutboxStore::acquire`]), numbers the committed ones in insertion order, in one transaction
//! per batch. The same worker publishes numbered events in position order and marks them
//! published after the broker confirms them, fenced by its lease; published events are removed
//! after the retention period.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use hrmesh_domain::DomainEvent;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use sea_orm_migration::prelude::*;
pub use tokio::sync::Notify;

/// The outbox table, shared in shape by every service's SQL database.
pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "outbox_events")]
    pub struct Model {
        /// Insertion order; never seen outside.
        #[sea_orm(primary_key)]
        pub seq: i64,
        /// The CloudEvents id (a UUID).
        #[sea_orm(unique)]
        pub event_id: String,
        pub event_type: String,
        pub subject: String,
        pub aggregate: String,
        pub occurred_at: ChronoDateTimeUtc,
        /// The encoded event (a `google.protobuf.Any` of its catalogued message).
        pub data: Vec<u8>,
        /// Set by the lease holder once committed; the readers' cursor.
        #[sea_orm(unique)]
        pub position: Option<i64>,
        pub published_at: Option<ChronoDateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The lease that makes one worker per database number and publish events.
pub mod lease {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "outbox_leases")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        pub holder: String,
        pub until: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    /// Takes or renews lease `name` for `holder` until `until`, unless another holder's lease
    /// runs past `now`. True when `holder` holds it.
    pub async fn take(
        db: &impl ConnectionTrait,
        name: &str,
        holder: &str,
        now: ChronoDateTimeUtc,
        until: ChronoDateTimeUtc,
    ) -> Result<bool, DbErr> {
        use sea_orm::sea_query::{Expr, ExprTrait};
        use sea_orm::{Set, TryInsertResult};

        let inserted = Entity::insert(ActiveModel {
            name: Set(name.to_owned()),
            holder: Set(holder.to_owned()),
            until: Set(until),
        })
        .on_conflict_do_nothing_on([Column::Name])
        .exec(db)
        .await?;
        if !matches!(inserted, TryInsertResult::Conflicted) {
            return Ok(true);
        }
        let renewed = Entity::update_many()
            .col_expr(Column::Holder, Expr::value(holder))
            .col_expr(Column::Until, Expr::value(until))
            .filter(Column::Name.eq(name))
            .filter(Column::Holder.eq(holder).or(Column::Until.lt(now)))
            .exec(db)
            .await?;
        Ok(renewed.rows_affected == 1)
    }

    /// Gives lease `name` up, if `holder` holds it.
    pub async fn release(db: &impl ConnectionTrait, name: &str, holder: &str) -> Result<(), DbErr> {
        Entity::delete_many()
            .filter(Column::Name.eq(name))
            .filter(Column::Holder.eq(holder))
            .exec(db)
            .await?;
        Ok(())
    }
}

const RELAY_LEASE: &str = "relay";

/// Creates `outbox_events` and `outbox_leases`. Each service lists it in its migrator.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000001_outbox"
    }
}

#[derive(DeriveIden)]
enum OutboxEvents {
    Table,
    Seq,
    EventId,
    EventType,
    Subject,
    Aggregate,
    OccurredAt,
    Data,
    Position,
    PublishedAt,
}

#[derive(DeriveIden)]
enum OutboxLeases {
    Table,
    Name,
    Holder,
    Until,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OutboxEvents::Table)
                    .col(
                        ColumnDef::new(OutboxEvents::Seq)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(OutboxEvents::EventId)
                            .string_len(36)
                            .not_null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(OutboxEvents::EventType)
                            .string_len(128)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OutboxEvents::Subject)
                            .string_len(128)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OutboxEvents::Aggregate)
                            .string_len(192)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OutboxEvents::OccurredAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(OutboxEvents::Data).blob().not_null())
                    .col(
                        ColumnDef::new(OutboxEvents::Position)
                            .big_integer()
                            .null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(OutboxEvents::PublishedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("outbox_events_subject_position")
                    .table(OutboxEvents::Table)
                    .col(OutboxEvents::Subject)
                    .col(OutboxEvents::Position)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OutboxLeases::Table)
                    .col(
                        ColumnDef::new(OutboxLeases::Name)
                            .string_len(32)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(OutboxLeases::Holder)
                            .string_len(128)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OutboxLeases::Until)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(OutboxLeases::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(OutboxEvents::Table).to_owned())
            .await
    }
}

/// An event as the outbox keeps it, ready to be published or read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub position: i64,
    pub id: String,
    pub event_type: String,
    pub subject: String,
    pub aggregate: String,
    pub time: DateTime<Utc>,
    /// The encoded event: a `google.protobuf.Any` of its catalogued message.
    pub data: Vec<u8>,
    pub published: bool,
}

/// An event about to be written: its envelope fields and encoding, and a fresh id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub id: String,
    pub event_type: &'static str,
    pub subject: String,
    pub aggregate: String,
    pub time: DateTime<Utc>,
    pub data: Vec<u8>,
}

/// What a store writes its events with: the encoding the service chose (the server crate's
/// protobuf encoder; a test's JSON), and the signal that wakes the worker in this process.
pub struct Outbox<E> {
    encode: fn(&E) -> Vec<u8>,
    written: Arc<Notify>,
}

impl<E> Clone for Outbox<E> {
    fn clone(&self) -> Self {
        Self {
            encode: self.encode,
            written: self.written.clone(),
        }
    }
}

impl<E> std::fmt::Debug for Outbox<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox").finish_non_exhaustive()
    }
}

impl<E: DomainEvent> Outbox<E> {
    pub fn new(encode: fn(&E) -> Vec<u8>) -> Self {
        Self {
            encode,
            written: Arc::new(Notify::new()),
        }
    }

    /// `events` as they will be written at `time`, each with a new id. The id is a UUIDv7 of
    /// `time`, not of the instant it was made: an event dated coarsely (anonymous feedback) has
    /// an id no finer.
    pub fn prepare<'e>(
        &self,
        events: impl IntoIterator<Item = &'e E>,
        time: DateTime<Utc>,
    ) -> Vec<NewEvent>
    where
        E: 'e,
    {
        let stamp = uuid::Timestamp::from_unix(
            uuid::NoContext,
            <u64 as TryFrom<i64>>::try_from(time.timestamp()).unwrap_or_default(),
            time.timestamp_subsec_nanos(),
        );
        events
            .into_iter()
            .map(|event| NewEvent {
                id: uuid::Uuid::new_v7(stamp).to_string(),
                event_type: event.event_type(),
                subject: event.subject().to_owned(),
                aggregate: event.aggregate(),
                time,
                data: (self.encode)(event),
            })
            .collect()
    }

    /// Writes `events` in the caller's transaction `db`, stamped `time`.
    pub async fn add<'e>(
        &self,
        db: &impl ConnectionTrait,
        events: impl IntoIterator<Item = &'e E>,
        time: DateTime<Utc>,
    ) -> Result<(), DbErr>
    where
        E: 'e,
    {
        // On SQLite this transaction holds the only write lock until it commits: no other row
        // can be numbered or committed in between, so the rows take the next positions as they
        // are inserted, at the cost of one indexed read.
        let mut next = match db.get_database_backend() {
            DbBackend::Sqlite => Some(head(db).await? + 1),
            _ => None,
        };
        let rows: Vec<entity::ActiveModel> = self
            .prepare(events, time)
            .into_iter()
            .map(|event| entity::ActiveModel {
                seq: sea_orm::ActiveValue::NotSet,
                event_id: Set(event.id),
                event_type: Set(event.event_type.to_owned()),
                subject: Set(event.subject),
                aggregate: Set(event.aggregate),
                occurred_at: Set(event.time),
                data: Set(event.data),
                position: Set(next.as_mut().map(|next| {
                    *next += 1;
                    *next - 1
                })),
                published_at: Set(None),
            })
            .collect();
        if rows.is_empty() {
            return Ok(());
        }
        entity::Entity::insert_many(rows)
            .exec_without_returning(db)
            .await?;
        // Before the commit: the worker lingers before it looks, and a wake-up that comes too
        // early is caught up by its polling.
        self.written.notify_one();
        Ok(())
    }

    /// Notified whenever this outbox writes events.
    pub fn written(&self) -> Arc<Notify> {
        self.written.clone()
    }
}

/// A service's outbox as its worker and its EventService see it.
#[async_trait::async_trait]
pub trait OutboxStore: Send + Sync + 'static {
    /// Takes or renews the relay lease for `holder` until `until`, unless another holder's lease
    /// runs past `now`. True when `holder` holds it.
    async fn acquire(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> anyhow::Result<bool>;
    /// Gives up to `limit` committed, unnumbered events the next positions, in the order they
    /// were written, if `holder` still holds the lease at `now`. Returns how many it numbered.
    async fn sequence(&self, holder: &str, now: DateTime<Utc>, limit: u64) -> anyhow::Result<u64>;
    /// The position of the newest numbered event (0 when there is none).
    async fn head(&self) -> anyhow::Result<i64>;
    /// Numbered events after `position`, about `subject` when given, oldest first.
    async fn after(
        &self,
        position: i64,
        subject: Option<&str>,
        limit: u64,
    ) -> anyhow::Result<Vec<StoredEvent>>;
    /// Numbered events not yet published, oldest first.
    async fn unpublished(&self, limit: u64) -> anyhow::Result<Vec<StoredEvent>>;
    /// Marks the events up to position `through` published at `now`, if `holder` still holds
    /// the lease. False when it lost it (nothing is marked).
    async fn mark_published(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        through: i64,
    ) -> anyhow::Result<bool>;
    /// Removes up to `limit` events published before `before` — with `unpublished_too`, every
    /// numbered event that happened before it (a service with no broker). Returns how many.
    async fn prune(
        &self,
        before: DateTime<Utc>,
        unpublished_too: bool,
        limit: u64,
    ) -> anyhow::Result<u64>;
}

/// A store that keeps its service's outbox next to its data.
pub trait OutboxSource {
    fn outbox_store(&self) -> Arc<dyn OutboxStore>;
    /// Notified when this process writes events.
    fn outbox_written(&self) -> Arc<Notify>;
}

/// [`OutboxStore`] on a sea-orm connection (SQLite or PostgreSQL).
#[derive(Debug, Clone)]
pub struct SqlOutbox {
    db: DatabaseConnection,
}

impl SqlOutbox {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

fn stored(row: entity::Model) -> StoredEvent {
    StoredEvent {
        position: row.position.unwrap_or_default(),
        id: row.event_id,
        event_type: row.event_type,
        subject: row.subject,
        aggregate: row.aggregate,
        time: row.occurred_at,
        data: row.data,
        published: row.published_at.is_some(),
    }
}

async fn holds_lease(
    db: &impl ConnectionTrait,
    holder: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    Ok(lease::Entity::find_by_id(RELAY_LEASE.to_owned())
        .one(db)
        .await?
        .is_some_and(|lease| lease.holder == holder && lease.until > now))
}

fn limit_of(limit: u64) -> u64 {
    limit.clamp(1, 10_000)
}

async fn head(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    let last: Option<Option<i64>> = entity::Entity::find()
        .select_only()
        .column_as(entity::Column::Position.max(), "last")
        .into_tuple()
        .one(db)
        .await?;
    Ok(last.flatten().unwrap_or(0))
}

/// Gives up to `limit` unnumbered rows visible to `txn` the next positions, in insertion order;
/// the caller makes sure no other transaction numbers or commits rows meanwhile. Returns how
/// many it numbered.
async fn number_waiting(txn: &impl ConnectionTrait, limit: u64) -> Result<u64, DbErr> {
    let waiting: Vec<i64> = entity::Entity::find()
        .select_only()
        .column(entity::Column::Seq)
        .filter(entity::Column::Position.is_null())
        .order_by_asc(entity::Column::Seq)
        .limit(limit_of(limit))
        .into_tuple()
        .all(txn)
        .await?;
    if waiting.is_empty() {
        return Ok(0);
    }
    // One statement per run of consecutive seqs (usually the whole batch): every row of a run is
    // waiting, so its position is its seq plus the run's offset.
    let mut next = head(txn).await? + 1;
    for run in waiting.chunk_by(|a, b| b - a == 1) {
        let (first, last) = (run[0], run[run.len() - 1]);
        entity::Entity::update_many()
            .col_expr(
                entity::Column::Position,
                Expr::col(entity::Column::Seq).add(next - first),
            )
            .filter(entity::Column::Seq.between(first, last))
            .exec(txn)
            .await?;
        next += run.len() as i64;
    }
    Ok(waiting.len() as u64)
}

#[async_trait::async_trait]
impl OutboxStore for SqlOutbox {
    async fn acquire(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        Ok(lease::take(&self.db, RELAY_LEASE, holder, now, until).await?)
    }

    async fn sequence(&self, holder: &str, now: DateTime<Utc>, limit: u64) -> anyhow::Result<u64> {
        // A read first: on SQLite nothing is ever waiting, and the write lock is not taken for
        // nothing.
        let waiting = entity::Entity::find()
            .filter(entity::Column::Position.is_null())
            .one(&self.db)
            .await?;
        if waiting.is_none() {
            return Ok(0);
        }
        let txn = crate::inbox::begin_write(&self.db).await?;
        if !holds_lease(&txn, holder, now).await? {
            return Ok(0);
        }
        let numbered = number_waiting(&txn, limit).await?;
        txn.commit().await?;
        Ok(numbered)
    }

    async fn head(&self) -> anyhow::Result<i64> {
        Ok(head(&self.db).await?)
    }

    async fn after(
        &self,
        position: i64,
        subject: Option<&str>,
        limit: u64,
    ) -> anyhow::Result<Vec<StoredEvent>> {
        let mut query = entity::Entity::find().filter(entity::Column::Position.gt(position));
        if let Some(subject) = subject {
            query = query.filter(entity::Column::Subject.eq(subject));
        }
        let rows = query
            .order_by_asc(entity::Column::Position)
            .limit(limit_of(limit))
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(stored).collect())
    }

    async fn unpublished(&self, limit: u64) -> anyhow::Result<Vec<StoredEvent>> {
        let rows = entity::Entity::find()
            .filter(entity::Column::Position.is_not_null())
            .filter(entity::Column::PublishedAt.is_null())
            .order_by_asc(entity::Column::Position)
            .limit(limit_of(limit))
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(stored).collect())
    }

    async fn mark_published(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        through: i64,
    ) -> anyhow::Result<bool> {
        let txn = crate::inbox::begin_write(&self.db).await?;
        if !holds_lease(&txn, holder, now).await? {
            return Ok(false);
        }
        entity::Entity::update_many()
            .col_expr(entity::Column::PublishedAt, Expr::value(now))
            .filter(entity::Column::Position.lte(through))
            .filter(entity::Column::PublishedAt.is_null())
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(true)
    }

    async fn prune(
        &self,
        before: DateTime<Utc>,
        unpublished_too: bool,
        limit: u64,
    ) -> anyhow::Result<u64> {
        // The last numbered event stays whatever its age: the next position follows it, so a
        // cursor is never handed out twice.
        let last = head(&self.db).await?;
        if last == 0 {
            return Ok(0);
        }
        let due = if unpublished_too {
            entity::Column::Position
                .is_not_null()
                .and(entity::Column::OccurredAt.lt(before))
        } else {
            entity::Column::PublishedAt.lt(before)
        };
        let seqs: Vec<i64> = entity::Entity::find()
            .select_only()
            .column(entity::Column::Seq)
            .filter(due)
            .filter(entity::Column::Position.lt(last))
            .order_by_asc(entity::Column::Seq)
            .limit(limit_of(limit))
            .into_tuple()
            .all(&self.db)
            .await?;
        if seqs.is_empty() {
            return Ok(0);
        }
        let txn = self.db.begin().await?;
        let deleted = entity::Entity::delete_many()
            .filter(entity::Column::Seq.is_in(seqs))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(deleted.rows_affected)
    }
}

/// An encoder that writes events as JSON: for stores tested without the service's protobuf
/// encoder.
pub fn json<E: serde::Serialize>(event: &E) -> Vec<u8> {
    serde_json::to_vec(event).expect("domain events serialise to JSON")
}
