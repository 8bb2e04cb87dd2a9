//! The participants' idempotency inbox.
//!
//! Every mutating request runs in one database transaction that first claims its request id in
//! `idempotency_inbox`, then applies its effect (in a savepoint), then records the outcome: the
//! response, or the business rejection. A repeated request id with the same request gets the
//! recorded outcome back without touching anything; with a different request it is refused. A
//! failure that is not a business outcome (storage down, a bug) rolls everything back, the claim
//! included, so a retry runs afresh. One key, one effect, one answer.
//!
//! The inbox keeps no copy of a request, only its SHA-256 digest, which is all a repeat is
//! compared with. A store that seals personal data also seals the recorded answers
//! ([`execute_protected`] with its [`Protect`]).

use std::future::Future;
use std::pin::Pin;

use hrmesh_domain::ServiceError;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, SqliteTransactionMode, TransactionOptions, TransactionTrait, TryInsertResult,
};
use sea_orm_migration::prelude::*;
use serde::Serialize;

use crate::group::Keep;
pub use crate::group::Writer;
use crate::vault::{KeyRows, Reads, VaultError};
use serde::de::DeserializeOwned;

/// The inbox table, shared in shape by every participant's database.
pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "idempotency_inbox")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub request_id: String,
        pub operation: String,
        /// `sha256:<hex>` of the request's JSON: what a repeated request is compared with.
        #[sea_orm(column_type = "Text")]
        pub request: String,
        /// "ok" or "rejected"; NULL only inside the claiming transaction.
        pub outcome: Option<String>,
        #[sea_orm(column_type = "Text", nullable)]
        pub response: Option<String>,
        pub created_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

const OUTCOME_OK: &str = "ok";
const OUTCOME_REJECTED: &str = "rejected";

/// Creates `idempotency_inbox`. Each participant lists it in its migrator.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261121_000001_idempotency_inbox"
    }
}

#[derive(DeriveIden)]
enum IdempotencyInbox {
    Table,
    RequestId,
    Operation,
    Request,
    Outcome,
    Response,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(IdempotencyInbox::Table)
                    .col(
                        ColumnDef::new(IdempotencyInbox::RequestId)
                            .string_len(128)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(IdempotencyInbox::Operation)
                            .string_len(128)
                            .not_null(),
                    )
                    .col(ColumnDef::new(IdempotencyInbox::Request).text().not_null())
                    .col(
                        ColumnDef::new(IdempotencyInbox::Outcome)
                            .string_len(16)
                            .null(),
                    )
                    .col(ColumnDef::new(IdempotencyInbox::Response).text().null())
                    .col(
                        ColumnDef::new(IdempotencyInbox::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(IdempotencyInbox::Table).to_owned())
            .await
    }
}

/// A failure inside the work of a request: a domain outcome or a storage error.
#[derive(Debug)]
pub enum TxError<E> {
    Domain(E),
    Db(DbErr),
}

impl<E> From<DbErr> for TxError<E> {
    fn from(err: DbErr) -> Self {
        TxError::Db(err)
    }
}

/// Why [`execute`] did not return a value.
#[derive(Debug)]
pub enum InboxError<E> {
    /// The work's domain error: fresh, or replayed from the inbox.
    Domain(E),
    /// The request id was recorded for a different request (or operation).
    KeyReused,
    /// The recorded answer was erased with its employee's personal data.
    Erased,
    Db(DbErr),
    /// A recorded outcome could not be read back.
    Corrupt(String),
}

impl<E> From<DbErr> for InboxError<E> {
    fn from(err: DbErr) -> Self {
        InboxError::Db(err)
    }
}

/// How recorded answers are kept: sealed by a store that protects personal data
/// ([`crate::vault::Vault`]), as they are by [`Plain`].
#[async_trait::async_trait]
pub trait Protect: Send + Sync {
    /// `text` as kept: sealed for `owner` (the employee the answer is about, so that erasing
    /// their personal data reaches it), or for the service when it is about nobody. `keys` is
    /// the writing transaction.
    async fn seal(
        &self,
        keys: &dyn KeyRows,
        owner: Option<&str>,
        context: &str,
        text: &str,
    ) -> Result<String, VaultError>;
    /// The kept `text` opened; `None` when its owner's personal data was erased.
    async fn open(
        &self,
        keys: &dyn KeyRows,
        context: &str,
        text: &str,
    ) -> Result<Option<String>, VaultError>;
}

/// Answers kept as they are.
#[derive(Debug, Clone, Copy)]
pub struct Plain;

#[async_trait::async_trait]
impl Protect for Plain {
    async fn seal(
        &self,
        _keys: &dyn KeyRows,
        _owner: Option<&str>,
        _context: &str,
        text: &str,
    ) -> Result<String, VaultError> {
        Ok(text.to_owned())
    }

    async fn open(
        &self,
        _keys: &dyn KeyRows,
        _context: &str,
        text: &str,
    ) -> Result<Option<String>, VaultError> {
        Ok(Some(text.to_owned()))
    }
}

/// The one employee a request or its answer is about: its `employee_id`, or the one its
/// elements all name. None when it names nobody, or several.
fn owner_in(json: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct About {
        employee_id: Option<String>,
    }
    let owner = match serde_json::from_str::<About>(json) {
        Ok(about) => about.employee_id,
        Err(_) => {
            let all = serde_json::from_str::<Vec<About>>(json).ok()?;
            let first = all.first()?.employee_id.clone();
            all.iter()
                .all(|about| about.employee_id == first)
                .then_some(first)
                .flatten()
        }
    };
    owner.filter(|owner| !owner.is_empty())
}

/// What the inbox keeps of a request: the digest of its JSON; and whom it is about.
fn digest<E>(request: &impl Serialize) -> Result<(String, Option<String>), InboxError<E>> {
    use sha2::Digest;
    let json = serde_json::to_string(request)
        .map_err(|err| InboxError::Corrupt(format!("cannot encode request: {err}")))?;
    Ok((
        format!("sha256:{}", hex::encode(sha2::Sha256::digest(&json))),
        owner_in(&json),
    ))
}

/// A failure to seal or open a recorded answer: the database's stays one (so an outage is
/// retried, not taken for corrupt data); anything else is corrupt.
fn unprotected<E>(err: VaultError, request_id: &str) -> InboxError<E> {
    match err {
        VaultError::Db(err) => InboxError::Db(err),
        other => InboxError::Corrupt(format!("inbox entry {request_id}: {other}")),
    }
}

fn answer_context(request_id: &str) -> String {
    format!("idempotency_inbox/{request_id}/response")
}

/// The work of one request, run inside the request's transaction.
pub type Work<'t, T, E> = Pin<Box<dyn Future<Output = Result<T, TxError<E>>> + Send + 't>>;

/// Begins a write transaction. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`), so
/// a transaction never fails midway because another writer got there first.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    })
    .await
}

/// Runs `work` at most once per `request_id` (see the module documentation). `is_recorded` says
/// which domain errors are business outcomes to keep and replay.
pub async fn execute<T, E, F>(
    writer: &Writer,
    request_id: &str,
    operation: &str,
    request: &impl Serialize,
    is_recorded: fn(&E) -> bool,
    work: F,
) -> Result<T, InboxError<E>>
where
    T: Serialize + DeserializeOwned + Send,
    E: Serialize + DeserializeOwned + Send,
    F: for<'t> FnOnce(&'t DatabaseTransaction) -> Work<'t, T, E> + Send,
{
    execute_protected(
        writer,
        &Plain,
        request_id,
        operation,
        request,
        is_recorded,
        work,
    )
    .await
}

/// [`execute`], keeping the recorded answer as `protect` seals it.
///
/// The claim, the work and the recorded outcome share one transaction: the request's own on
/// PostgreSQL, a savepoint of a group commit on SQLite ([`crate::group`]).
pub async fn execute_protected<T, E, F>(
    writer: &Writer,
    protect: &dyn Protect,
    request_id: &str,
    operation: &str,
    request: &impl Serialize,
    is_recorded: fn(&E) -> bool,
    work: F,
) -> Result<T, InboxError<E>>
where
    T: Serialize + DeserializeOwned + Send,
    E: Serialize + DeserializeOwned + Send,
    F: for<'t> FnOnce(&'t DatabaseTransaction) -> Work<'t, T, E> + Send,
{
    let (request_json, owner) = digest(request)?;
    let ran = writer
        .write(|txn, _| {
            Box::pin(claim_and_run(
                txn,
                protect,
                Claim {
                    request_id,
                    operation,
                    request_json,
                    owner,
                },
                is_recorded,
                work,
            ))
        })
        .await;
    // The event is written only if the request's writes committed; otherwise it stays pending
    // and the mesh layer writes it with the call's outcome.
    if let Ok((result, Some(slot))) = &ran {
        crate::audit::written(slot, result.is_ok());
    }
    ran?.0
}

/// What a request claims in the inbox.
struct Claim<'a> {
    request_id: &'a str,
    operation: &'a str,
    /// The request's digest.
    request_json: String,
    /// Whom the request is about, if anyone.
    owner: Option<String>,
}

/// One request on `txn`: claims its id, runs its work in a savepoint, records the outcome.
async fn claim_and_run<T, E, F>(
    txn: &DatabaseTransaction,
    protect: &dyn Protect,
    claim: Claim<'_>,
    is_recorded: fn(&E) -> bool,
    work: F,
) -> (
    Keep,
    (Result<T, InboxError<E>>, Option<crate::audit::CallSlot>),
)
where
    T: Serialize + DeserializeOwned,
    E: Serialize + DeserializeOwned,
    F: for<'t> FnOnce(&'t DatabaseTransaction) -> Work<'t, T, E>,
{
    let Claim {
        request_id,
        operation,
        request_json,
        owner,
    } = claim;
    let claim = entity::ActiveModel {
        request_id: Set(request_id.to_owned()),
        operation: Set(operation.to_owned()),
        request: Set(request_json.clone()),
        outcome: Set(None),
        response: Set(None),
        created_at: Set(chrono::Utc::now()),
    };
    let claimed = match entity::Entity::insert(claim)
        .on_conflict_do_nothing_on([entity::Column::RequestId])
        .exec(txn)
        .await
    {
        Ok(claimed) => claimed,
        Err(err) => return (Keep::Discard, (Err(err.into()), None)),
    };
    if matches!(claimed, TryInsertResult::Conflicted) {
        // The claim may be another member's of the same uncommitted batch: read it here, answer
        // after the commit.
        let replayed = replay(txn, protect, request_id, operation, &request_json).await;
        return (Keep::Read, (replayed, None));
    }

    let savepoint = match txn.begin().await {
        Ok(savepoint) => savepoint,
        Err(err) => return (Keep::Discard, (Err(err.into()), None)),
    };
    let deferred = crate::group::deferred_mark();
    let ran = work(&savepoint).await;
    let (outcome, response, result) = match ran {
        Ok(value) => {
            if let Err(err) = savepoint.commit().await {
                return (Keep::Discard, (Err(err.into()), None));
            }
            match encode(&value) {
                Ok(response) => (OUTCOME_OK, response, Ok(value)),
                Err(err) => return (Keep::Discard, (Err(err), None)),
            }
        }
        Err(TxError::Domain(err)) if is_recorded(&err) => {
            // The work's writes are rolled back: so is what waited for their commit.
            crate::group::forget_deferred(deferred);
            if let Err(rollback) = savepoint.rollback().await {
                return (Keep::Discard, (Err(rollback.into()), None));
            }
            match encode(&err) {
                Ok(response) => (OUTCOME_REJECTED, response, Err(InboxError::Domain(err))),
                Err(encoding) => return (Keep::Discard, (Err(encoding), None)),
            }
        }
        Err(TxError::Domain(err)) => return (Keep::Discard, (Err(InboxError::Domain(err)), None)),
        Err(TxError::Db(err)) => return (Keep::Discard, (Err(InboxError::Db(err)), None)),
    };
    // Sealed for whom the answer is about (a review's employee…), else whom the request names.
    let owner = owner_in(&response).or(owner);
    let response = match protect
        .seal(
            txn,
            owner.as_deref(),
            &answer_context(request_id),
            &response,
        )
        .await
    {
        Ok(sealed) => sealed,
        Err(err) => return (Keep::Discard, (Err(unprotected(err, request_id)), None)),
    };
    let recorded = entity::Entity::update_many()
        .col_expr(entity::Column::Outcome, Expr::value(outcome))
        .col_expr(entity::Column::Response, Expr::value(response))
        .filter(entity::Column::RequestId.eq(request_id))
        .exec(txn)
        .await;
    if let Err(err) = recorded {
        return (Keep::Discard, (Err(err.into()), None));
    }
    // The call's audit event, in the same transaction: OK when it succeeded; a recorded refusal's
    // status code is the mesh layer's to add. It is read only now, as the work may have disguised
    // it (`crate::audit::disguise_pending`).
    let call = crate::audit::pending();
    if let Some((_, event)) = &call {
        let mut event = event.clone();
        event.outcome = (outcome == OUTCOME_OK).then(|| "OK".to_owned());
        if let Err(err) = crate::audit::insert(txn, &event).await {
            return (Keep::Discard, (Err(err.into()), None));
        }
    }
    (Keep::Write, (result, call.map(|(slot, _)| slot)))
}

/// [`execute`] for a service's work: its business refusals are recorded and replayed, and every
/// failure comes back as the service's error ([`crate::error::from_inbox`]).
pub async fn once<T, R, F>(
    writer: &Writer,
    request_id: &str,
    operation: &str,
    request: &impl Serialize,
    work: F,
) -> Result<T, ServiceError<R>>
where
    T: Serialize + DeserializeOwned + Send,
    R: Serialize + DeserializeOwned + Send,
    F: for<'t> FnOnce(&'t DatabaseTransaction) -> Work<'t, T, ServiceError<R>> + Send,
{
    once_protected(writer, &Plain, request_id, operation, request, work).await
}

/// [`once`], keeping the recorded answer as `protect` seals it.
pub async fn once_protected<T, R, F>(
    writer: &Writer,
    protect: &dyn Protect,
    request_id: &str,
    operation: &str,
    request: &impl Serialize,
    work: F,
) -> Result<T, ServiceError<R>>
where
    T: Serialize + DeserializeOwned + Send,
    R: Serialize + DeserializeOwned + Send,
    F: for<'t> FnOnce(&'t DatabaseTransaction) -> Work<'t, T, ServiceError<R>> + Send,
{
    execute_protected(
        writer,
        protect,
        request_id,
        operation,
        request,
        ServiceError::is_recorded,
        work,
    )
    .await
    .map_err(|err| crate::error::from_inbox(err, request_id))
}

/// The recorded outcome of `request_id`, if it has one: what [`execute`] would replay. For work
/// too long for one transaction that is safe to repeat, which checks first and records last;
/// `protect` opens the answer as [`once_protected`] sealed it.
pub async fn recorded<T, E>(
    db: &DatabaseConnection,
    protect: &dyn Protect,
    request_id: &str,
    operation: &str,
    request: &impl Serialize,
) -> Result<Option<T>, InboxError<E>>
where
    T: DeserializeOwned,
    E: DeserializeOwned,
{
    let (request_json, _) = digest(request)?;
    let exists = entity::Entity::find_by_id(request_id.to_owned())
        .one(db)
        .await?
        .is_some_and(|entry| entry.outcome.is_some());
    if !exists {
        return Ok(None);
    }
    replay(db, protect, request_id, operation, &request_json)
        .await
        .map(Some)
}

fn encode<E>(value: &impl Serialize) -> Result<String, InboxError<E>> {
    serde_json::to_string(value)
        .map_err(|err| InboxError::Corrupt(format!("cannot encode outcome: {err}")))
}

async fn replay<T, E>(
    db: &impl Reads,
    protect: &dyn Protect,
    request_id: &str,
    operation: &str,
    request_json: &str,
) -> Result<T, InboxError<E>>
where
    T: DeserializeOwned,
    E: DeserializeOwned,
{
    let recorded = entity::Entity::find_by_id(request_id.to_owned())
        .one(db)
        .await?
        .ok_or_else(|| InboxError::Corrupt(format!("inbox entry {request_id} vanished")))?;
    if recorded.operation != operation || recorded.request != request_json {
        return Err(InboxError::KeyReused);
    }
    let response = protect
        .open(
            db,
            &answer_context(request_id),
            &recorded.response.unwrap_or_default(),
        )
        .await
        .map_err(|err| unprotected(err, request_id))?
        .ok_or(InboxError::Erased)?;
    let corrupt = |err: serde_json::Error| {
        InboxError::Corrupt(format!("inbox entry {request_id} cannot be decoded: {err}"))
    };
    match recorded.outcome.as_deref() {
        Some(OUTCOME_OK) => serde_json::from_str(&response).map_err(corrupt),
        Some(OUTCOME_REJECTED) => Err(InboxError::Domain(
            serde_json::from_str(&response).map_err(corrupt)?,
        )),
        other => Err(InboxError::Corrupt(format!(
            "inbox entry {request_id} has outcome {other:?}"
        ))),
    }
}
