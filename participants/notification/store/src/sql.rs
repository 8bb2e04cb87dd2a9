use chrono::{DateTime, Utc};
use hrmesh_domain::EmployeeId;
use hrmesh_notification_core::{
    Inserted, Notification, NotificationError, NotificationEvent, NotificationStore, Preferences,
    Result,
};
use hrmesh_storage::outbox::Outbox;
use hrmesh_storage::retention::{Expired, RecordKind};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TryInsertResult,
};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::{NOTIFICATIONS, internal};
use hrmesh_crypto::Keyring;
use hrmesh_storage::vault::{KeyRows, Vault, VaultError};
use std::sync::Arc;

mod notifications {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "notifications")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub request_id: String,
        pub recipient_id: String,
        pub due_at: Option<ChronoDateTimeUtc>,
        pub in_app: bool,
        pub unread: bool,
        pub dead: bool,
        pub version: i64,
        #[sea_orm(column_type = "Text")]
        pub document: String,
        /// When its retention period started ([`Notification::retention_start`]).
        pub retained_from: Option<ChronoDateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

mod preferences {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "preferences")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub recipient_id: String,
        #[sea_orm(column_type = "Text")]
        pub document: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(NotificationSchema),
            Box::new(hrmesh_storage::audit::Migration),
            Box::new(hrmesh_storage::audit::OutcomeMigration),
            Box::new(hrmesh_storage::audit::OnBehalfOfMigration),
            Box::new(hrmesh_storage::outbox::Migration),
            Box::new(hrmesh_storage::vault::Migration),
            Box::new(RetentionColumn),
        ]
    }
}

struct NotificationSchema;

impl MigrationName for NotificationSchema {
    fn name(&self) -> &str {
        "m20261121_000001_notification_schema"
    }
}

#[derive(DeriveIden)]
enum Notifications {
    Table,
    Id,
    RequestId,
    RecipientId,
    DueAt,
    InApp,
    Unread,
    Dead,
    Version,
    Document,
}

#[derive(DeriveIden)]
enum Preferences_ {
    #[sea_orm(iden = "preferences")]
    Table,
    RecipientId,
    Document,
}

#[async_trait::async_trait]
impl MigrationTrait for NotificationSchema {
    async fn up(&self, manager: &SchemaManager) -> std::result::Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Notifications::Table)
                    .col(string_len(Notifications::Id, 36).primary_key())
                    .col(string_len_uniq(Notifications::RequestId, 128))
                    .col(string_len(Notifications::RecipientId, 64))
                    .col(timestamp_with_time_zone_null(Notifications::DueAt))
                    .col(boolean(Notifications::InApp))
                    .col(boolean(Notifications::Unread))
                    .col(boolean(Notifications::Dead))
                    .col(big_integer(Notifications::Version))
                    .col(text(Notifications::Document))
                    .to_owned(),
            )
            .await?;
        let indexes = [
            (
                "idx_notifications_recipient",
                vec![
                    Notifications::RecipientId,
                    Notifications::InApp,
                    Notifications::Id,
                ],
            ),
            ("idx_notifications_due", vec![Notifications::DueAt]),
            (
                "idx_notifications_dead",
                vec![Notifications::Dead, Notifications::Id],
            ),
        ];
        for (name, columns) in indexes {
            let mut index = Index::create();
            index.name(name).table(Notifications::Table);
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(Preferences_::Table)
                    .col(string_len(Preferences_::RecipientId, 64).primary_key())
                    .col(text(Preferences_::Document))
                    .to_owned(),
            )
            .await
    }
}

/// Adds `retained_from`, indexed; rows written before it get theirs when the store opens.
struct RetentionColumn;

impl MigrationName for RetentionColumn {
    fn name(&self) -> &str {
        "m20261204_000001_notification_retained_from"
    }
}

#[derive(DeriveIden)]
enum Retained {
    RetainedFrom,
}

#[async_trait::async_trait]
impl MigrationTrait for RetentionColumn {
    async fn up(&self, manager: &SchemaManager) -> std::result::Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Notifications::Table)
                    .add_column(timestamp_with_time_zone_null(Retained::RetainedFrom))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_notifications_retained_from")
                    .table(Notifications::Table)
                    .col(Retained::RetainedFrom)
                    .to_owned(),
            )
            .await
    }
}

/// Notifications with nothing left to attempt, archived as stored (sealed fields sealed).
struct Finished(DatabaseConnection);

#[async_trait::async_trait]
impl RecordKind for Finished {
    fn name(&self) -> &'static str {
        NOTIFICATIONS
    }

    async fn expired(&self, cutoff: DateTime<Utc>, limit: u64) -> anyhow::Result<Vec<Expired>> {
        let rows = notifications::Entity::find()
            .filter(notifications::Column::RetainedFrom.lt(cutoff))
            .order_by_asc(notifications::Column::RetainedFrom)
            .order_by_asc(notifications::Column::Id)
            .limit(limit)
            .all(&self.0)
            .await?;
        rows.into_iter()
            .map(|row| {
                Ok(Expired {
                    at: row.retained_from.unwrap_or(cutoff),
                    record: serde_json::from_str(&row.document)?,
                    key: row.id,
                })
            })
            .collect()
    }

    async fn remove(&self, keys: &[String], cutoff: DateTime<Utc>) -> anyhow::Result<u64> {
        let removed = notifications::Entity::delete_many()
            .filter(notifications::Column::Id.is_in(keys.iter().cloned()))
            .filter(notifications::Column::RetainedFrom.lt(cutoff))
            .exec(&self.0)
            .await?;
        Ok(removed.rows_affected)
    }
}

/// Gives every finished notification written before `retained_from` existed its start.
async fn backfill(db: &DatabaseConnection, vault: &Vault) -> std::result::Result<(), VaultError> {
    let mut after = String::new();
    loop {
        let rows = notifications::Entity::find()
            .filter(notifications::Column::RetainedFrom.is_null())
            .filter(notifications::Column::DueAt.is_null())
            .filter(notifications::Column::Id.gt(after.as_str()))
            .order_by_asc(notifications::Column::Id)
            .limit(500)
            .all(db)
            .await?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        after = last.id.clone();
        for row in rows {
            let id = row.id.clone();
            let notification = decode(vault, db, row).await.map_err(|error| {
                VaultError::Store(Box::new(std::io::Error::other(error.to_string())))
            })?;
            if let Some(start) = notification.retention_start() {
                notifications::Entity::update_many()
                    .col_expr(notifications::Column::RetainedFrom, Expr::value(start))
                    .filter(notifications::Column::Id.eq(id))
                    .exec(db)
                    .await?;
            }
        }
    }
}

/// The notification store on SQLite or PostgreSQL.
#[derive(Debug, Clone)]
pub struct SqlNotificationStore {
    db: DatabaseConnection,
    events: Outbox<NotificationEvent>,
    vault: Vault,
}

use hrmesh_storage::error::from_db as storage;

/// `notification`'s row, its personal fields sealed ([`crate::sealed`]) with a key read or
/// created through `keys`.
async fn encode(
    vault: &Vault,
    keys: &(impl KeyRows + ?Sized),
    notification: &Notification,
) -> Result<notifications::ActiveModel> {
    let document = crate::sealed::seal(vault, keys, notification).await?;
    Ok(notifications::ActiveModel {
        id: Set(notification.id.clone()),
        request_id: Set(notification.request_id.clone()),
        recipient_id: Set(notification.recipient.id.as_str().to_owned()),
        due_at: Set(notification.due_at()),
        in_app: Set(notification.in_app()),
        unread: Set(notification.unread()),
        dead: Set(notification.has_dead_letter()),
        version: Set(notification.version),
        document: Set(document.to_string()),
        retained_from: Set(notification.retention_start()),
    })
}

async fn decode(
    vault: &Vault,
    db: &DatabaseConnection,
    row: notifications::Model,
) -> Result<Notification> {
    let document = serde_json::from_str(&row.document)
        .map_err(|err| internal("decoding a stored notification", err))?;
    crate::sealed::open(vault, db, document).await
}

impl SqlNotificationStore {
    /// Connects to `url` and brings the schema up to date; events are encoded with `encode`, and
    /// personal fields sealed with data keys that `keyring` wraps.
    pub async fn open(
        url: &str,
        encode: fn(&NotificationEvent) -> Vec<u8>,
        keyring: Arc<Keyring>,
    ) -> std::result::Result<Self, VaultError> {
        let db = hrmesh_storage::db::open::<Migrator>(url).await?;
        let vault = Vault::open(&db, keyring).await?;
        backfill(&db, &vault).await?;
        Ok(Self {
            db,
            events: Outbox::new(encode),
            vault,
        })
    }

    /// The data keys of the notifications' sealed fields.
    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    /// The underlying connection (the re-wrap job runs on it).
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// What the retention job archives: finished notifications and the audit trail.
    pub fn record_kinds(&self) -> Vec<Arc<dyn RecordKind>> {
        vec![
            Arc::new(Finished(self.db.clone())),
            Arc::new(hrmesh_storage::retention::SqlAudit(self.db.clone())),
        ]
    }

    async fn decoded(&self, row: Option<notifications::Model>) -> Result<Option<Notification>> {
        match row {
            Some(row) => decode(&self.vault, &self.db, row).await.map(Some),
            None => Ok(None),
        }
    }

    async fn by_request_id(&self, request_id: &str) -> Result<Option<Notification>> {
        let row = notifications::Entity::find()
            .filter(notifications::Column::RequestId.eq(request_id))
            .one(&self.db)
            .await
            .map_err(storage)?;
        self.decoded(row).await
    }

    async fn all(
        &self,
        query: sea_orm::Select<notifications::Entity>,
    ) -> Result<Vec<Notification>> {
        let rows = query.all(&self.db).await.map_err(storage)?;
        let mut found = Vec::with_capacity(rows.len());
        for row in rows {
            found.push(decode(&self.vault, &self.db, row).await?);
        }
        Ok(found)
    }
}

impl NotificationStore for SqlNotificationStore {
    async fn insert(
        &self,
        notification: &Notification,
        events: &[NotificationEvent],
    ) -> Result<Inserted> {
        let conflicted = hrmesh_storage::group::committing(async {
            let txn = hrmesh_storage::inbox::begin_write(&self.db)
                .await
                .map_err(storage)?;
            let row = encode(&self.vault, &txn, notification).await?;
            let inserted = notifications::Entity::insert(row)
                .on_conflict_do_nothing_on([notifications::Column::RequestId])
                .exec(&txn)
                .await
                .map_err(storage)?;
            let conflicted = matches!(inserted, TryInsertResult::Conflicted);
            if !conflicted {
                self.events
                    .add(&txn, events, notification.created_at)
                    .await
                    .map_err(storage)?;
            }
            txn.commit().await.map_err(storage)?;
            Ok::<_, NotificationError>(conflicted)
        })
        .await?;
        if conflicted {
            let existing = self
                .by_request_id(&notification.request_id)
                .await?
                .ok_or_else(|| NotificationError::internal("a conflicting request id vanished"))?;
            return Ok(Inserted::Existing(existing));
        }
        Ok(Inserted::New(notification.clone()))
    }

    async fn get(&self, id: &str) -> Result<Option<Notification>> {
        let row = notifications::Entity::find_by_id(id.to_owned())
            .one(&self.db)
            .await
            .map_err(storage)?;
        self.decoded(row).await
    }

    async fn replace(
        &self,
        notification: &Notification,
        expected_version: i64,
        events: &[NotificationEvent],
    ) -> Result<bool> {
        use notifications::Column;
        let row = encode(&self.vault, &self.db, notification).await?;
        let update = notifications::Entity::update_many()
            .set(row)
            .filter(Column::Id.eq(notification.id.as_str()))
            .filter(Column::Version.eq(expected_version));
        if events.is_empty() {
            let updated = update.exec(&self.db).await.map_err(storage)?;
            return Ok(updated.rows_affected == 1);
        }
        let txn = hrmesh_storage::inbox::begin_write(&self.db)
            .await
            .map_err(storage)?;
        let updated = update.exec(&txn).await.map_err(storage)?;
        if updated.rows_affected != 1 {
            txn.rollback().await.map_err(storage)?;
            return Ok(false);
        }
        self.events
            .add(&txn, events, chrono::Utc::now())
            .await
            .map_err(storage)?;
        txn.commit().await.map_err(storage)?;
        Ok(true)
    }

    async fn list_in_app(
        &self,
        recipient_id: &EmployeeId,
        unread_only: bool,
        before_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Notification>> {
        use notifications::Column;
        let mut query = notifications::Entity::find()
            .filter(Column::RecipientId.eq(recipient_id.as_str()))
            .filter(Column::InApp.eq(true));
        if unread_only {
            query = query.filter(Column::Unread.eq(true));
        }
        if let Some(before_id) = before_id {
            query = query.filter(Column::Id.lt(before_id));
        }
        self.all(query.order_by_desc(Column::Id).limit(u64::from(limit)))
            .await
    }

    async fn due(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<Notification>> {
        use notifications::Column;
        let query = notifications::Entity::find()
            .filter(Column::DueAt.lte(now))
            .order_by_asc(Column::DueAt)
            .limit(u64::from(limit));
        self.all(query).await
    }

    async fn dead_letters(&self, after_id: Option<&str>, limit: u32) -> Result<Vec<Notification>> {
        use notifications::Column;
        let mut query = notifications::Entity::find().filter(Column::Dead.eq(true));
        if let Some(after_id) = after_id {
            query = query.filter(Column::Id.gt(after_id));
        }
        self.all(query.order_by_asc(Column::Id).limit(u64::from(limit)))
            .await
    }

    async fn preferences(&self, recipient_id: &EmployeeId) -> Result<Option<Preferences>> {
        preferences::Entity::find_by_id(recipient_id.as_str().to_owned())
            .one(&self.db)
            .await
            .map_err(storage)?
            .map(|row| {
                serde_json::from_str(&row.document)
                    .map_err(|err| internal("decoding preferences", err))
            })
            .transpose()
    }

    async fn put_preferences(&self, prefs: &Preferences) -> Result<()> {
        let document =
            serde_json::to_string(prefs).map_err(|err| internal("encoding preferences", err))?;
        preferences::Entity::insert(preferences::ActiveModel {
            recipient_id: Set(prefs.recipient_id.as_str().to_owned()),
            document: Set(document),
        })
        .on_conflict(
            OnConflict::column(preferences::Column::RecipientId)
                .update_column(preferences::Column::Document)
                .to_owned(),
        )
        .exec_without_returning(&self.db)
        .await
        .map_err(storage)?;
        Ok(())
    }

    async fn erase_personal_data(
        &self,
        recipient_id: &EmployeeId,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        self.vault
            .erase(&self.db, recipient_id.as_str(), now)
            .await
            .map_err(crate::sealed::vault_error)
    }
}

impl hrmesh_storage::audit::AuditSource for SqlNotificationStore {
    fn audit_store(&self) -> std::sync::Arc<dyn hrmesh_storage::audit::AuditStore> {
        std::sync::Arc::new(hrmesh_storage::audit::SqlAudit::new(self.db.clone()))
    }
}

impl hrmesh_storage::outbox::OutboxSource for SqlNotificationStore {
    fn outbox_store(&self) -> std::sync::Arc<dyn hrmesh_storage::outbox::OutboxStore> {
        std::sync::Arc::new(hrmesh_storage::outbox::SqlOutbox::new(self.db.clone()))
    }

    fn outbox_written(&self) -> std::sync::Arc<hrmesh_storage::outbox::Notify> {
        self.events.written()
    }
}
