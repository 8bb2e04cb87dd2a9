//! The data keys of a service's personal data, and the sealing of its free-text fields with them.
//!
//! Each owner (an employee, or the service itself) has a data key, generated at random and kept
//! only wrapped by the keyring ([`hrmesh_crypto::Keyring`]) in `data_keys`. A store seals a
//! record's personal fields with its owner's key before writing the record and opens them after
//! reading it ([`Vault::seal_json`], [`Vault::open_json`]); columns that queries filter on stay
//! plain. Erasing an owner destroys their keys ([`Vault::erase`]): every value sealed with them
//! reads as [`hrmesh_crypto::ERASED`], and nothing else changes.
//!
//! Keys are created in the writing transaction, so a key exists if and only if a value sealed
//! with it may have committed. A new keyring version wraps new keys at once, and an owner's key is
//! re-wrapped under it the next time the owner's data is written; [`Vault::rewrap`] moves the
//! rest, one conditional update per key, so it is safe to interrupt, re-run and run beside writes.
//!
//! Unwrapped keys are cached in memory for [`CACHE_TTL`] (at most [`CACHE_MAX`] of them): an
//! erasure is seen by this process at once and by other replicas within the TTL.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use hrmesh_crypto::{CryptoError, DataKey, ERASED, Keyring, Wrapped, sealed};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use sea_orm_migration::prelude::*;
use serde_json::Value;

/// How long an unwrapped key (or the news that it was erased) is trusted without a look at the
/// database.
pub const CACHE_TTL: Duration = Duration::from_secs(60);
/// A key row read inside a transaction is cached only once its last change (creation or erasure)
/// is this old: it may be the transaction's own uncommitted write, or another request's (a batch
/// of the group commit, [`crate::group`], shares one transaction), and no transaction lives this
/// long. What a pooled connection reads is committed and is cached at once.
pub const SETTLED: chrono::TimeDelta = chrono::TimeDelta::minutes(5);
/// Unwrapped keys kept at once; the cache starts afresh when it is full.
pub const CACHE_MAX: usize = 10_000;

/// The owner of the service's own data key: what only the service may read (an anonymous
/// feedback's giver, the idempotency inbox's recorded answers).
pub const SERVICE_OWNER: &str = "~service";

pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "data_keys")]
    pub struct Model {
        /// The key id every value sealed with it names (a UUID).
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub owner: String,
        /// 1 for an owner's first key, one more after each erasure.
        pub generation: i32,
        /// The keyring version that wraps it.
        pub kek_version: i32,
        /// The wrapped key; empty once erased.
        pub wrapped: Vec<u8>,
        pub created_at: ChronoDateTimeUtc,
        pub erased_at: Option<ChronoDateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Creates `data_keys`. A service whose store seals personal data lists it in its migrator.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261203_000001_data_keys"
    }
}

#[derive(DeriveIden)]
enum DataKeys {
    Table,
    Id,
    Owner,
    Generation,
    KekVersion,
    Wrapped,
    CreatedAt,
    ErasedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DataKeys::Table)
                    .col(
                        ColumnDef::new(DataKeys::Id)
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(DataKeys::Owner).string_len(128).not_null())
                    .col(ColumnDef::new(DataKeys::Generation).integer().not_null())
                    .col(ColumnDef::new(DataKeys::KekVersion).integer().not_null())
                    .col(ColumnDef::new(DataKeys::Wrapped).blob().not_null())
                    .col(
                        ColumnDef::new(DataKeys::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(DataKeys::ErasedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        // One key per owner and generation: two first writes for one owner agree on one key.
        manager
            .create_index(
                Index::create()
                    .name("data_keys_owner_generation")
                    .table(DataKeys::Table)
                    .col(DataKeys::Owner)
                    .col(DataKeys::Generation)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("data_keys_kek_version")
                    .table(DataKeys::Table)
                    .col(DataKeys::KekVersion)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(DataKeys::Table).to_owned())
            .await
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Db(#[from] DbErr),
    /// A key store other than a SQL database failed ([`KeyRows`]).
    #[error("the data key store: {0}")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
}

#[derive(Clone)]
struct Cached {
    /// `None`: erased.
    key: Option<Arc<DataKey>>,
    at: Instant,
}

#[derive(Default)]
struct Cache {
    by_id: HashMap<String, Cached>,
    /// An owner's live key id.
    current: HashMap<String, (String, Instant)>,
}

impl Cache {
    fn make_room(&mut self) {
        if self.by_id.len() >= CACHE_MAX || self.current.len() >= CACHE_MAX {
            self.by_id.clear();
            self.current.clear();
        }
    }
}

/// A service's data keys and the keyring that wraps them.
#[derive(Clone)]
pub struct Vault {
    keyring: Arc<Keyring>,
    service: Arc<DataKey>,
    cache: Arc<Mutex<Cache>>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("keyring", &self.keyring)
            .finish_non_exhaustive()
    }
}

fn fresh(at: Instant) -> bool {
    at.elapsed() < CACHE_TTL
}

impl Vault {
    /// The vault on `db` (migrated), with the service's own key, created on first use.
    pub async fn open(
        db: &(impl KeyRows + ?Sized),
        keyring: Arc<Keyring>,
    ) -> Result<Self, VaultError> {
        let empty = Self {
            keyring,
            service: Arc::new(DataKey::generate(String::new())),
            cache: Arc::default(),
        };
        let service = empty.owner_key(db, SERVICE_OWNER).await?;
        Ok(Self { service, ..empty })
    }

    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// The service's own key, for what only the service may read.
    pub fn service_key(&self) -> &DataKey {
        &self.service
    }

    /// `owner`'s live key, created in `db` (the writing transaction) if they have none; wrapped
    /// again under the keyring's current version if an older one wraps it.
    pub async fn owner_key(
        &self,
        db: &(impl KeyRows + ?Sized),
        owner: &str,
    ) -> Result<Arc<DataKey>, VaultError> {
        if let Some(key) = self.cached_current(owner) {
            return Ok(key);
        }
        let newest = db.newest(owner).await?;
        let current = column_version(self.keyring.current());
        match newest {
            Some(row) if row.erased_at.is_none() => {
                let key = Arc::new(self.keyring.unwrap(owner, &row.id, &wrapped(&row))?);
                if row.kek_version != current {
                    self.store_wrap(db, owner, &key, row.kek_version).await?;
                }
                self.remember_when_committed(db, &row, Some(owner), &key);
                Ok(key)
            }
            newest => {
                let generation = newest.map_or(1, |row| row.generation + 1);
                let key = DataKey::generate(uuid::Uuid::now_v7().to_string());
                let wrap = self.keyring.wrap(owner, &key);
                let inserted = db
                    .insert(entity::Model {
                        id: key.id().to_owned(),
                        owner: owner.to_owned(),
                        generation,
                        kek_version: column_version(wrap.version),
                        wrapped: wrap.bytes,
                        created_at: Utc::now(),
                        erased_at: None,
                    })
                    .await?;
                if !inserted {
                    // Another writer's key of this generation committed meanwhile: use it.
                    return Box::pin(self.owner_key(db, owner)).await;
                }
                // Cached once the writing transaction commits (it may still roll back), or at
                // once by a store without transactions.
                let key = Arc::new(key);
                if db.reads_committed() {
                    self.remember(Some(owner), key.id(), Some(key.clone()));
                    return Ok(key);
                }
                let vault = self.clone();
                let (owner, cached) = (owner.to_owned(), key.clone());
                crate::group::after_commit(move || {
                    vault.remember(Some(&owner), cached.id(), Some(cached.clone()))
                });
                Ok(key)
            }
        }
    }

    /// The key `key_id`; `None` when it was erased.
    pub async fn key(
        &self,
        db: &(impl KeyRows + ?Sized),
        key_id: &str,
    ) -> Result<Option<Arc<DataKey>>, VaultError> {
        if let Some(cached) = self.cached(key_id) {
            return Ok(cached.key);
        }
        let Some(row) = db.by_id(key_id).await? else {
            return Err(
                CryptoError::Malformed("a value names a data key that does not exist").into(),
            );
        };
        let key = if row.erased_at.is_some() {
            None
        } else {
            Some(Arc::new(self.keyring.unwrap(
                &row.owner,
                &row.id,
                &wrapped(&row),
            )?))
        };
        match &key {
            Some(live) => self.remember_when_committed(db, &row, None, live),
            None if db.reads_committed() || settled(&row) => self.remember(None, key_id, None),
            None => {}
        }
        Ok(key)
    }

    /// `value` as it reads: sealed values opened (or [`ERASED`]), any other text as it is.
    pub async fn open_value(
        &self,
        db: &(impl KeyRows + ?Sized),
        context: &str,
        value: &str,
    ) -> Result<String, VaultError> {
        let Some(parts) = sealed(value) else {
            return Ok(value.to_owned());
        };
        if parts.key_id == self.service.id() {
            return Ok(self.service.open(context, &parts)?);
        }
        match self.key(db, parts.key_id).await? {
            Some(key) => Ok(key.open(context, &parts)?),
            None => Ok(ERASED.to_owned()),
        }
    }

    /// Seals, in the JSON record `document` whose context is `context` (`<table>/<id>`), every
    /// string that `paths` name, with `key`. A path is `/`-separated field names; `*` stands for
    /// every element of an array or value of an object. A value's own context is `context` and its
    /// concrete path.
    pub fn seal_json(&self, key: &DataKey, context: &str, document: &mut Value, paths: &[&str]) {
        for path in paths {
            visit(document, path, context.to_owned(), &mut |value, at| {
                if let Value::String(text) = value
                    && !text.is_empty()
                {
                    *text = key.seal(at, text);
                }
            });
        }
    }

    /// Opens what [`Vault::seal_json`] sealed.
    pub async fn open_json(
        &self,
        db: &(impl KeyRows + ?Sized),
        context: &str,
        document: &mut Value,
        paths: &[&str],
    ) -> Result<(), VaultError> {
        let mut found: Vec<(String, String)> = Vec::new();
        for path in paths {
            visit(document, path, context.to_owned(), &mut |value, at| {
                if let Value::String(text) = value
                    && sealed(text).is_some()
                {
                    found.push((at.to_owned(), text.clone()));
                }
            });
        }
        if found.is_empty() {
            return Ok(());
        }
        let mut opened = HashMap::with_capacity(found.len());
        for (at, text) in found {
            let plain = self.open_value(db, &at, &text).await?;
            opened.insert(at, plain);
        }
        for path in paths {
            visit(document, path, context.to_owned(), &mut |value, at| {
                if let Some(plain) = opened.remove(at) {
                    *value = Value::String(plain);
                }
            });
        }
        Ok(())
    }

    /// Destroys every key of `owner`: whatever was sealed with them reads as [`ERASED`] from now
    /// on. Returns how many keys were destroyed (0 when already erased).
    pub async fn erase(
        &self,
        db: &(impl KeyRows + ?Sized),
        owner: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, VaultError> {
        let erased = db.erase(owner, now).await?;
        // The owner's keys may be cached under their ids: start the by-id cache afresh, now and
        // once the erasure commits (a key remembered after another request's commit in between
        // must not outlive it).
        self.forget(owner);
        let vault = self.clone();
        let owner = owner.to_owned();
        crate::group::after_commit(move || vault.forget(&owner));
        Ok(erased)
    }

    fn forget(&self, owner: &str) {
        let mut cache = self.cache.lock().expect("the key cache");
        cache.current.remove(owner);
        cache.by_id.clear();
    }

    /// Re-wraps up to `limit` live keys wrapped by an older keyring version under the current
    /// one. Returns how many it moved; 0 means none is left.
    pub async fn rewrap(
        &self,
        db: &(impl KeyRows + ?Sized),
        limit: u64,
    ) -> Result<u64, VaultError> {
        let current = column_version(self.keyring.current());
        let rows = db.stale(current, limit.clamp(1, 10_000)).await?;
        let mut moved = 0;
        for row in rows {
            let key = self.keyring.unwrap(&row.owner, &row.id, &wrapped(&row))?;
            if self
                .store_wrap(db, &row.owner, &key, row.kek_version)
                .await?
            {
                moved += 1;
            }
        }
        Ok(moved)
    }

    /// The keyring versions that still wrap live keys, oldest first: a version not listed can be
    /// retired.
    pub async fn versions_in_use(
        &self,
        db: &(impl KeyRows + ?Sized),
    ) -> Result<Vec<u32>, VaultError> {
        let versions = db.versions().await?;
        Ok(versions.into_iter().map(row_version).collect())
    }

    /// Stores `key` wrapped under the current version, if `from` still wraps it (so a re-wrap
    /// racing a write, or an erasure, changes nothing twice). True when it moved.
    async fn store_wrap(
        &self,
        db: &(impl KeyRows + ?Sized),
        owner: &str,
        key: &DataKey,
        from: i32,
    ) -> Result<bool, VaultError> {
        let wrap = self.keyring.wrap(owner, key);
        let to = column_version(wrap.version);
        db.set_wrap(key.id(), from, to, wrap.bytes).await
    }

    fn cached_current(&self, owner: &str) -> Option<Arc<DataKey>> {
        let cache = self.cache.lock().expect("the key cache");
        let (id, at) = cache.current.get(owner)?;
        if !fresh(*at) {
            return None;
        }
        let cached = cache.by_id.get(id)?;
        cached.key.clone().filter(|_| fresh(cached.at))
    }

    fn cached(&self, key_id: &str) -> Option<Cached> {
        let cache = self.cache.lock().expect("the key cache");
        cache.by_id.get(key_id).filter(|c| fresh(c.at)).cloned()
    }

    /// Caches `key` (as `owner`'s current one when given) once its row is surely committed: at
    /// once when read through a pooled connection or old enough ([`SETTLED`]), after the request's
    /// commit when read inside a request's transaction ([`crate::group::after_commit`]), and never
    /// otherwise.
    fn remember_when_committed(
        &self,
        db: &(impl KeyRows + ?Sized),
        row: &entity::Model,
        owner: Option<&str>,
        key: &Arc<DataKey>,
    ) {
        if db.reads_committed() || settled(row) {
            self.remember(owner, key.id(), Some(key.clone()));
            return;
        }
        let vault = self.clone();
        let owner = owner.map(str::to_owned);
        let key = key.clone();
        crate::group::after_commit(move || {
            vault.remember(owner.as_deref(), key.id(), Some(key.clone()))
        });
    }

    /// Caches the key `key_id` (`None`: erased), as `owner`'s current one when given.
    fn remember(&self, owner: Option<&str>, key_id: &str, key: Option<Arc<DataKey>>) {
        let mut cache = self.cache.lock().expect("the key cache");
        cache.make_room();
        let now = Instant::now();
        if let Some(owner) = owner {
            cache
                .current
                .insert(owner.to_owned(), (key_id.to_owned(), now));
        }
        cache
            .by_id
            .insert(key_id.to_owned(), Cached { key, at: now });
    }
}

/// A connection the vault reads keys through: whether what it reads is committed.
pub trait Reads: ConnectionTrait + Send + Sync {
    fn committed(&self) -> bool;
}

/// Where a vault keeps its keys' rows: `data_keys` in a SQL database (any [`Reads`]), or a store
/// of another kind (the notification service's MongoDB).
#[async_trait::async_trait]
pub trait KeyRows: Send + Sync {
    /// Whether what it reads is committed: true for a pool, false inside a transaction.
    fn reads_committed(&self) -> bool;
    /// `owner`'s key of the highest generation.
    async fn newest(&self, owner: &str) -> Result<Option<entity::Model>, VaultError>;
    async fn by_id(&self, id: &str) -> Result<Option<entity::Model>, VaultError>;
    /// Inserts `row`, unless its owner has a key of its generation already: false then.
    async fn insert(&self, row: entity::Model) -> Result<bool, VaultError>;
    /// Stores the key `id` wrapped by version `to`, if version `from` still wraps it and it is
    /// live. True when it moved.
    async fn set_wrap(
        &self,
        id: &str,
        from: i32,
        to: i32,
        wrapped: Vec<u8>,
    ) -> Result<bool, VaultError>;
    /// Destroys every live key of `owner`; how many.
    async fn erase(&self, owner: &str, now: DateTime<Utc>) -> Result<u64, VaultError>;
    /// Up to `limit` live keys wrapped by a version other than `current`, by id.
    async fn stale(&self, current: i32, limit: u64) -> Result<Vec<entity::Model>, VaultError>;
    /// The versions that wrap live keys, ascending.
    async fn versions(&self) -> Result<Vec<i32>, VaultError>;
}

#[async_trait::async_trait]
impl<C: Reads> KeyRows for C {
    fn reads_committed(&self) -> bool {
        self.committed()
    }

    async fn newest(&self, owner: &str) -> Result<Option<entity::Model>, VaultError> {
        Ok(entity::Entity::find()
            .filter(entity::Column::Owner.eq(owner))
            .order_by_desc(entity::Column::Generation)
            .one(self)
            .await?)
    }

    async fn by_id(&self, id: &str) -> Result<Option<entity::Model>, VaultError> {
        Ok(entity::Entity::find_by_id(id.to_owned()).one(self).await?)
    }

    async fn insert(&self, row: entity::Model) -> Result<bool, VaultError> {
        let inserted = entity::Entity::insert(entity::ActiveModel {
            id: Set(row.id),
            owner: Set(row.owner),
            generation: Set(row.generation),
            kek_version: Set(row.kek_version),
            wrapped: Set(row.wrapped),
            created_at: Set(row.created_at),
            erased_at: Set(row.erased_at),
        })
        .on_conflict_do_nothing_on([entity::Column::Owner, entity::Column::Generation])
        .exec_without_returning(self)
        .await?;
        Ok(matches!(inserted, sea_orm::TryInsertResult::Inserted(1)))
    }

    async fn set_wrap(
        &self,
        id: &str,
        from: i32,
        to: i32,
        wrapped: Vec<u8>,
    ) -> Result<bool, VaultError> {
        let moved = entity::Entity::update_many()
            .col_expr(entity::Column::KekVersion, Expr::value(to))
            .col_expr(entity::Column::Wrapped, Expr::value(wrapped))
            .filter(entity::Column::Id.eq(id))
            .filter(entity::Column::KekVersion.eq(from))
            .filter(entity::Column::ErasedAt.is_null())
            .exec(self)
            .await?;
        Ok(moved.rows_affected == 1)
    }

    async fn erase(&self, owner: &str, now: DateTime<Utc>) -> Result<u64, VaultError> {
        let erased = entity::Entity::update_many()
            .col_expr(entity::Column::Wrapped, Expr::value(Vec::<u8>::new()))
            .col_expr(entity::Column::ErasedAt, Expr::value(now))
            .filter(entity::Column::Owner.eq(owner))
            .filter(entity::Column::ErasedAt.is_null())
            .exec(self)
            .await?;
        Ok(erased.rows_affected)
    }

    async fn stale(&self, current: i32, limit: u64) -> Result<Vec<entity::Model>, VaultError> {
        Ok(entity::Entity::find()
            .filter(entity::Column::KekVersion.ne(current))
            .filter(entity::Column::ErasedAt.is_null())
            .order_by_asc(entity::Column::Id)
            .limit(limit)
            .all(self)
            .await?)
    }

    async fn versions(&self) -> Result<Vec<i32>, VaultError> {
        Ok(entity::Entity::find()
            .select_only()
            .column(entity::Column::KekVersion)
            .filter(entity::Column::ErasedAt.is_null())
            .distinct()
            .order_by_asc(entity::Column::KekVersion)
            .into_tuple()
            .all(self)
            .await?)
    }
}

/// A pooled connection reads what is committed.
impl Reads for sea_orm::DatabaseConnection {
    fn committed(&self) -> bool {
        true
    }
}

/// A transaction reads its own writes and, under the group commit, other requests' too.
impl Reads for sea_orm::DatabaseTransaction {
    fn committed(&self) -> bool {
        false
    }
}

/// Whether `row` changed longer ago than any transaction lives, so it is committed ([`SETTLED`]).
fn settled(row: &entity::Model) -> bool {
    let changed = row
        .erased_at
        .map_or(row.created_at, |erased| Ord::max(erased, row.created_at));
    Utc::now() - changed >= SETTLED
}

fn column_version(version: u32) -> i32 {
    <i32 as TryFrom<u32>>::try_from(version).unwrap_or(i32::MAX)
}

fn row_version(version: i32) -> u32 {
    <u32 as TryFrom<i32>>::try_from(version).unwrap_or_default()
}

fn wrapped(row: &entity::Model) -> Wrapped {
    Wrapped {
        version: row_version(row.kek_version),
        bytes: row.wrapped.clone(),
    }
}

/// Calls `each` with every value `path` names under `value`, and its concrete path appended to
/// `at`.
fn visit(value: &mut Value, path: &str, at: String, each: &mut dyn FnMut(&mut Value, &str)) {
    let (head, rest) = match path.split_once('/') {
        Some((head, rest)) => (head, Some(rest)),
        None => (path, None),
    };
    let mut step = |child: &mut Value, name: &str| {
        let at = format!("{at}/{name}");
        match rest {
            Some(rest) => visit(child, rest, at, each),
            None => each(child, &at),
        }
    };
    match (head, value) {
        ("*", Value::Array(items)) => {
            for (index, item) in items.iter_mut().enumerate() {
                step(item, &index.to_string());
            }
        }
        ("*", Value::Object(fields)) => {
            for (name, child) in fields.iter_mut() {
                step(child, name);
            }
        }
        (name, Value::Object(fields)) => {
            if let Some(child) = fields.get_mut(name) {
                step(child, name);
            }
        }
        _ => {}
    }
}

/// The inbox's answers, sealed with their owner's key (so an erasure reaches them), or with the
/// service's when they are about nobody.
#[async_trait::async_trait]
impl crate::inbox::Protect for Vault {
    async fn seal(
        &self,
        keys: &dyn KeyRows,
        owner: Option<&str>,
        context: &str,
        text: &str,
    ) -> Result<String, VaultError> {
        match owner {
            Some(owner) => Ok(self.owner_key(keys, owner).await?.seal(context, text)),
            None => Ok(self.service.seal(context, text)),
        }
    }

    async fn open(
        &self,
        keys: &dyn KeyRows,
        context: &str,
        text: &str,
    ) -> Result<Option<String>, VaultError> {
        let Some(parts) = sealed(text) else {
            return Ok(Some(text.to_owned()));
        };
        if parts.key_id == self.service.id() {
            return Ok(Some(self.service.open(context, &parts)?));
        }
        match self.key(keys, parts.key_id).await? {
            Some(key) => Ok(Some(key.open(context, &parts)?)),
            None => Ok(None),
        }
    }
}
