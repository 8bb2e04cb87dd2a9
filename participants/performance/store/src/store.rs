use std::collections::HashSet;

use chrono::{DateTime, NaiveDate, Utc};
use hrmesh_crypto::Keyring;
use hrmesh_domain::Fault;
use hrmesh_performance_core::{
    CancelPipOpenedBy, CloseEmployeeRecords, ClosedRecord, Closure, CreateGoal, CreateReview,
    ErasePersonalData, Erasure, FEEDBACK_PER_EMPLOYEE, Feedback, FeedbackFilter, FeedbackRequest,
    FeedbackRequestFilter, FeedbackRequestStatus, GOALS_PER_EMPLOYEE, GiveFeedback, Goal,
    GoalFilter, GoalStatus, OpenPip, PerformanceError, PerformanceEvent, PerformanceStore, Pip,
    PipFilter, PipStatus, PreviousState, REVIEWS_PER_EMPLOYEE, Rejection, ReopenEmployeeRecords,
    RequestFeedback, Resource, Result, Retained, Review, ReviewFilter, ReviewState, UpdateGoal,
    UpdatePip, UpdateReview, answer_feedback_request, check_goal_weights, check_review_of,
};
use hrmesh_storage::audit;
use hrmesh_storage::inbox::{self, TxError, Writer};
use hrmesh_storage::outbox::Outbox;
pub use hrmesh_storage::vault::VaultError as OpenError;
use hrmesh_storage::vault::{Reads, Vault, VaultError};
use sea_orm::sea_query::{Expr, ExprTrait, IntoCondition};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    DbBackend, EntityTrait, PrimaryKeyTrait, QueryFilter, QueryOrder, QuerySelect, Select,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;

use crate::Migrator;
use crate::entities::{
    Document, closures, employee_counters, feedback, feedback_requests, goals, pips,
    reminders_sent, reviews,
};

type Tx<T> = std::result::Result<T, TxError<PerformanceError>>;

use hrmesh_storage::error::{fail, from_db as storage_error};

/// A record kept as a JSON document whose personal fields are sealed ([`Vault`]).
pub(crate) trait Private: Serialize + DeserializeOwned {
    /// The table, the first part of every sealed value's context.
    const TABLE: &'static str;
    /// The document's field that names the record.
    const ID: &'static str = "id";
    /// Free text about the employee, sealed with their key: erased with them.
    const PERSONAL: &'static [&'static str];
    /// What only the service may read, sealed with its own key.
    const SERVICE_ONLY: &'static [&'static str] = &[];
    fn employee(&self) -> &str;
}

impl Private for Review {
    const TABLE: &'static str = "reviews";
    const PERSONAL: &'static [&'static str] = &[
        "self_assessment/*/body",
        "manager_assessment/*/body",
        "employee_comment",
        "history/*/reason",
    ];
    fn employee(&self) -> &str {
        self.employee_id.as_str()
    }
}

impl Private for Goal {
    const TABLE: &'static str = "goals";
    const PERSONAL: &'static [&'static str] =
        &["title", "description", "progress/*/note", "cancel_reason"];
    fn employee(&self) -> &str {
        self.employee_id.as_str()
    }
}

impl Private for Pip {
    const TABLE: &'static str = "pips";
    const PERSONAL: &'static [&'static str] = &[
        "reason",
        "objectives/*",
        "check_ins/*/notes",
        "outcomes/*/notes",
        "cancel_reason",
    ];
    fn employee(&self) -> &str {
        self.employee_id.as_str()
    }
}

impl Private for FeedbackRequest {
    const TABLE: &'static str = "feedback_requests";
    // Ids and states only; `giver_id` stays a column: the giver's own listing filters on it.
    const PERSONAL: &'static [&'static str] = &[];
    fn employee(&self) -> &str {
        self.employee_id.as_str()
    }
}

impl Private for Feedback {
    const TABLE: &'static str = "feedback";
    const PERSONAL: &'static [&'static str] = &["strengths", "improvements"];
    // Who gave it, and the request that names them: never to be read outside the service.
    const SERVICE_ONLY: &'static [&'static str] = &["giver_id", "feedback_request_id"];
    fn employee(&self) -> &str {
        self.employee_id.as_str()
    }
}

impl Private for Closure {
    const TABLE: &'static str = "closures";
    const ID: &'static str = "close_request_id";
    const PERSONAL: &'static [&'static str] = &["reason"];
    fn employee(&self) -> &str {
        self.employee_id.as_str()
    }
}

fn internal(
    what: &'static str,
    err: impl std::error::Error + Send + Sync + 'static,
) -> PerformanceError {
    PerformanceError::Internal(Fault::caused_by(what, err))
}

fn vault_error(err: VaultError) -> PerformanceError {
    match err {
        VaultError::Db(err) => storage_error(err),
        VaultError::Crypto(err) => internal("opening a stored record's sealed fields", err),
        VaultError::Store(err) => PerformanceError::internal(format!("the data key store: {err}")),
    }
}

fn context(table: &str, id: &str) -> String {
    format!("{table}/{id}")
}

/// `record` as stored: its document with the personal fields sealed.
async fn seal<T: Private>(vault: &Vault, db: &impl Reads, record: &T) -> Tx<String> {
    let mut document =
        serde_json::to_value(record).map_err(|err| fail(internal("encoding a record", err)))?;
    let id = document[T::ID].as_str().unwrap_or_default().to_owned();
    let context = context(T::TABLE, &id);
    if !T::PERSONAL.is_empty() {
        let key = vault
            .owner_key(db, record.employee())
            .await
            .map_err(|err| fail(vault_error(err)))?;
        vault.seal_json(&key, &context, &mut document, T::PERSONAL);
    }
    vault.seal_json(
        vault.service_key(),
        &context,
        &mut document,
        T::SERVICE_ONLY,
    );
    serde_json::to_string(&document).map_err(|err| fail(internal("encoding a record", err)))
}

/// The record a stored document holds, its sealed fields opened (erased ones read as such).
pub(crate) async fn open<T: Private>(vault: &Vault, db: &impl Reads, document: &str) -> Result<T> {
    let mut document: serde_json::Value =
        serde_json::from_str(document).map_err(|err| internal("reading a stored record", err))?;
    let id = document[T::ID].as_str().unwrap_or_default().to_owned();
    let context = context(T::TABLE, &id);
    for paths in [T::PERSONAL, T::SERVICE_ONLY] {
        vault
            .open_json(db, &context, &mut document, paths)
            .await
            .map_err(vault_error)?;
    }
    serde_json::from_value(document).map_err(|err| internal("reading a stored record", err))
}

async fn open_doc<T: Private>(vault: &Vault, txn: &DatabaseTransaction, document: &str) -> Tx<T> {
    open(vault, txn, document).await.map_err(fail)
}

/// Locks the selected rows for the rest of the transaction on PostgreSQL. SQLite needs no row
/// locks: a write transaction holds the database's write lock from its first statement.
fn locked<E: EntityTrait>(select: Select<E>, txn: &DatabaseTransaction) -> Select<E> {
    match txn.get_database_backend() {
        DbBackend::Postgres => select.lock_exclusive(),
        _ => select,
    }
}

/// The performance store on a sea-orm connection.
#[derive(Debug, Clone)]
pub struct SeaPerformanceStore {
    db: DatabaseConnection,
    /// Runs the write requests, grouping their commits on SQLite.
    writer: Writer,
    events: Outbox<PerformanceEvent>,
    vault: Vault,
}

impl SeaPerformanceStore {
    /// Connects to `url` and brings the schema up to date; events are encoded with `encode`,
    /// personal fields sealed with data keys that `keyring` wraps.
    pub async fn open(
        url: &str,
        encode: fn(&PerformanceEvent) -> Vec<u8>,
        keyring: Arc<Keyring>,
    ) -> std::result::Result<Self, OpenError> {
        let db = hrmesh_storage::db::open::<Migrator>(url).await?;
        let vault = Vault::open(&db, keyring).await?;
        crate::retention::backfill(&db, &vault).await?;
        Ok(Self {
            writer: Writer::new(db.clone()),
            db,
            events: Outbox::new(encode),
            vault,
        })
    }

    /// The store's data keys.
    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    /// The underlying connection (for tests that look at what is stored).
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// What the retention job archives: finished reviews, goals, PIPs, feedback requests,
    /// feedback and closures, the audit trail and the idempotency inbox.
    pub fn record_kinds(&self) -> Vec<std::sync::Arc<dyn hrmesh_storage::retention::RecordKind>> {
        let mut kinds = crate::retention::kinds(&self.db);
        kinds.extend(hrmesh_storage::retention::sql_common(&self.db));
        kinds
    }
}

// ---- Rows <-> records.

async fn review_row(
    vault: &Vault,
    txn: &DatabaseTransaction,
    review: &Review,
) -> Tx<reviews::ActiveModel> {
    Ok(reviews::ActiveModel {
        id: Set(review.id.clone()),
        employee_id: Set(review.employee_id.to_string()),
        manager_id: Set(review.manager_id.to_string()),
        cycle: Set(review.cycle.as_str().to_owned()),
        period_start: Set(review.period_start),
        state: Set(review.state.as_str().to_owned()),
        due_date: Set(review.due_date),
        document: Set(seal(vault, txn, review).await?),
        retained_from: Set(review.retention_start()),
    })
}

async fn goal_row(vault: &Vault, txn: &DatabaseTransaction, goal: &Goal) -> Tx<goals::ActiveModel> {
    Ok(goals::ActiveModel {
        id: Set(goal.id.clone()),
        employee_id: Set(goal.employee_id.to_string()),
        review_id: Set(goal.review_id.clone()),
        status: Set(goal.status.as_str().to_owned()),
        weight: Set(i32::from(goal.weight)),
        document: Set(seal(vault, txn, goal).await?),
        retained_from: Set(goal.retention_start()),
    })
}

async fn pip_row(vault: &Vault, txn: &DatabaseTransaction, pip: &Pip) -> Tx<pips::ActiveModel> {
    Ok(pips::ActiveModel {
        id: Set(pip.id.clone()),
        employee_id: Set(pip.employee_id.to_string()),
        status: Set(pip.status.as_str().to_owned()),
        opened_by_request_id: Set(pip.opened_by_request_id.clone()),
        start_date: Set(pip.start_date),
        end_date: Set(pip.end_date),
        document: Set(seal(vault, txn, pip).await?),
        retained_from: Set(pip.retention_start()),
    })
}

async fn feedback_request_row(
    vault: &Vault,
    txn: &DatabaseTransaction,
    request: &FeedbackRequest,
) -> Tx<feedback_requests::ActiveModel> {
    Ok(feedback_requests::ActiveModel {
        id: Set(request.id.clone()),
        employee_id: Set(request.employee_id.to_string()),
        giver_id: Set(request.giver_id.to_string()),
        status: Set(request.status.as_str().to_owned()),
        document: Set(seal(vault, txn, request).await?),
        retained_from: Set(request.retention_start()),
    })
}

async fn feedback_row(
    vault: &Vault,
    txn: &DatabaseTransaction,
    entry: &Feedback,
) -> Tx<feedback::ActiveModel> {
    Ok(feedback::ActiveModel {
        id: Set(entry.id.clone()),
        employee_id: Set(entry.employee_id.to_string()),
        review_id: Set(entry.review_id.clone()),
        document: Set(seal(vault, txn, entry).await?),
        retained_from: Set(entry.retention_start()),
    })
}

async fn closure_row(
    vault: &Vault,
    txn: &DatabaseTransaction,
    closure: &Closure,
) -> Tx<closures::ActiveModel> {
    Ok(closures::ActiveModel {
        id: Set(closure.close_request_id.clone()),
        employee_id: Set(closure.employee_id.to_string()),
        document: Set(seal(vault, txn, closure).await?),
        retained_from: Set(closure.retention_start()),
    })
}

/// Loads the record `id` of `E` for update (locked until the transaction ends).
async fn load<E, T>(vault: &Vault, txn: &DatabaseTransaction, id: &str, resource: Resource) -> Tx<T>
where
    E: EntityTrait<PrimaryKey: PrimaryKeyTrait<ValueType = String>>,
    E::Model: Document,
    T: Private,
{
    let row = locked(E::find_by_id(id.to_owned()), txn)
        .one(txn)
        .await?
        .ok_or_else(|| fail(PerformanceError::not_found(resource, id)))?;
    open_doc(vault, txn, row.document()).await
}

async fn load_review(vault: &Vault, txn: &DatabaseTransaction, id: &str) -> Tx<Review> {
    load::<reviews::Entity, _>(vault, txn, id, Resource::Review).await
}

async fn load_goal(vault: &Vault, txn: &DatabaseTransaction, id: &str) -> Tx<Goal> {
    load::<goals::Entity, _>(vault, txn, id, Resource::Goal).await
}

async fn load_pip(vault: &Vault, txn: &DatabaseTransaction, id: &str) -> Tx<Pip> {
    load::<pips::Entity, _>(vault, txn, id, Resource::Pip).await
}

async fn load_feedback_request(
    vault: &Vault,
    txn: &DatabaseTransaction,
    id: &str,
) -> Tx<FeedbackRequest> {
    load::<feedback_requests::Entity, _>(vault, txn, id, Resource::FeedbackRequest).await
}

/// Reads the record `id` of `E`, if there is one.
async fn get<E, T>(vault: &Vault, db: &DatabaseConnection, id: &str) -> Result<Option<T>>
where
    E: EntityTrait<PrimaryKey: PrimaryKeyTrait<ValueType = String>>,
    E::Model: Document,
    T: Private,
{
    let row = E::find_by_id(id.to_owned())
        .one(db)
        .await
        .map_err(storage_error)?;
    match row {
        Some(row) => open(vault, db, row.document()).await.map(Some),
        None => Ok(None),
    }
}

/// Runs a listing query and decodes its documents.
async fn list<E, T>(vault: &Vault, db: &DatabaseConnection, query: Select<E>) -> Result<Vec<T>>
where
    E: EntityTrait,
    E::Model: Document,
    T: Private,
{
    let rows = query.all(db).await.map_err(storage_error)?;
    let mut records = Vec::with_capacity(rows.len());
    for row in &rows {
        records.push(open(vault, db, row.document()).await?);
    }
    Ok(records)
}

/// The per-employee counters one write touches.
#[derive(Clone, Copy)]
pub(crate) enum Counter {
    Reviews,
    Goals,
    Feedback,
    Pips,
}

impl Counter {
    pub(crate) fn column(self) -> employee_counters::Column {
        match self {
            Counter::Reviews => employee_counters::Column::Reviews,
            Counter::Goals => employee_counters::Column::Goals,
            Counter::Feedback => employee_counters::Column::Feedback,
            Counter::Pips => employee_counters::Column::Pips,
        }
    }
}

/// Creates the employee's counter row if needed.
async fn ensure_counters(txn: &DatabaseTransaction, employee_id: &str) -> Tx<()> {
    employee_counters::Entity::insert(employee_counters::ActiveModel {
        employee_id: Set(employee_id.to_owned()),
        reviews: Set(0),
        goals: Set(0),
        feedback: Set(0),
        pips: Set(0),
    })
    .on_conflict_do_nothing_on([employee_counters::Column::EmployeeId])
    .exec(txn)
    .await?;
    Ok(())
}

/// Locks the employee's counter row until commit without counting anything.
async fn lock_employee(txn: &DatabaseTransaction, employee_id: &str) -> Tx<()> {
    ensure_counters(txn, employee_id).await?;
    let column = employee_counters::Column::Pips;
    employee_counters::Entity::update_many()
        .col_expr(column, Expr::col(column))
        .filter(employee_counters::Column::EmployeeId.eq(employee_id))
        .exec(txn)
        .await?;
    Ok(())
}

/// Counts one more record of `counter` for the employee, within `limit`. The conditional UPDATE
/// both enforces the limit under concurrency and locks the employee's counter row until commit,
/// which serialises every creating or closing write of one employee.
async fn count_one_more(
    txn: &DatabaseTransaction,
    employee_id: &str,
    counter: Counter,
    limit: Option<u32>,
) -> Tx<bool> {
    ensure_counters(txn, employee_id).await?;
    let column = counter.column();
    let mut update = employee_counters::Entity::update_many()
        .col_expr(column, Expr::col(column).add(1))
        .filter(employee_counters::Column::EmployeeId.eq(employee_id));
    if let Some(limit) = limit {
        update = update.filter(column.lt(limit as i32));
    }
    Ok(update.exec(txn).await?.rows_affected == 1)
}

async fn within_limit(
    txn: &DatabaseTransaction,
    employee_id: &str,
    counter: Counter,
    resource: Resource,
    limit: u32,
) -> Tx<()> {
    if count_one_more(txn, employee_id, counter, Some(limit)).await? {
        Ok(())
    } else {
        Err(fail(Rejection::LimitReached {
            employee_id: employee_id.to_owned(),
            resource,
            limit,
        }))
    }
}

async fn review_of(
    vault: &Vault,
    txn: &DatabaseTransaction,
    review_id: &str,
    employee: &str,
) -> Tx<Review> {
    let review = load_review(vault, txn, review_id).await?;
    let employee_id = hrmesh_domain::EmployeeId::from_trusted(employee.to_owned());
    check_review_of(&review, &employee_id).map_err(fail)?;
    Ok(review)
}

fn page_after<C: ColumnTrait>(column: C, after: Option<&str>) -> sea_orm::Condition {
    match after {
        Some(after) => column.lt(after).into_condition(),
        None => sea_orm::Condition::all(),
    }
}

impl PerformanceStore for SeaPerformanceStore {
    async fn create_review(&self, command: &CreateReview, review: Review) -> Result<Review> {
        let vault = self.vault.clone();
        let events = self.events.clone();
        inbox::once_protected(
            &self.writer,
            &self.vault,
            command.request_id.as_str(),
            "CreateReview",
            command,
            move |txn| {
                Box::pin(async move {
                    let employee = review.employee_id.to_string();
                    within_limit(
                        txn,
                        &employee,
                        Counter::Reviews,
                        Resource::Review,
                        REVIEWS_PER_EMPLOYEE,
                    )
                    .await?;
                    let existing = reviews::Entity::find()
                        .filter(reviews::Column::EmployeeId.eq(employee.as_str()))
                        .filter(reviews::Column::Cycle.eq(review.cycle.as_str()))
                        .filter(reviews::Column::PeriodStart.eq(review.period_start))
                        .one(txn)
                        .await?;
                    if let Some(existing) = existing {
                        return Err(fail(Rejection::ReviewExists {
                            review_id: existing.id,
                        }));
                    }
                    reviews::Entity::insert(review_row(&vault, txn, &review).await?)
                        .exec(txn)
                        .await?;
                    let created = PerformanceEvent::ReviewCreated(review.clone());
                    events.add(txn, [&created], review.created_at).await?;
                    Ok(review)
                })
            },
        )
        .await
    }

    async fn update_review(&self, command: &UpdateReview, now: DateTime<Utc>) -> Result<Review> {
        let vault = self.vault.clone();
        let owned = command.clone();
        let events = self.events.clone();
        inbox::once_protected(
            &self.writer,
            &self.vault,
            command.request_id.as_str(),
            command.operation(),
            command,
            move |txn| {
                Box::pin(async move {
                    let mut review = load_review(&vault, txn, &owned.review_id).await?;
                    let changed = owned.apply_to(&mut review, now).map_err(fail)?;
                    if changed {
                        reviews::Entity::update(review_row(&vault, txn, &review).await?)
                            .exec(txn)
                            .await?;
                        let event = PerformanceEvent::of_review_change(&owned.change, &review);
                        events.add(txn, &event, now).await?;
                    }
                    Ok(review)
                })
            },
        )
        .await
    }

    async fn review(&self, id: &str) -> Result<Option<Review>> {
        get::<reviews::Entity, _>(&self.vault, &self.db, id).await
    }

    async fn reviews(
        &self,
        filter: &ReviewFilter,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Review>> {
        let mut query = reviews::Entity::find()
            .filter(page_after(reviews::Column::Id, after))
            .order_by_desc(reviews::Column::Id)
            .limit(u64::from(limit));
        if let Some(employee) = &filter.employee_id {
            query = query.filter(reviews::Column::EmployeeId.eq(employee.as_str()));
        }
        if let Some(manager) = &filter.manager_id {
            query = query.filter(reviews::Column::ManagerId.eq(manager.as_str()));
        }
        if let Some(cycle) = filter.cycle {
            query = query.filter(reviews::Column::Cycle.eq(cycle.as_str()));
        }
        if let Some(state) = filter.state {
            query = query.filter(reviews::Column::State.eq(state.as_str()));
        }
        list(&self.vault, &self.db, query).await
    }

    async fn create_goal(&self, command: &CreateGoal, goal: Goal) -> Result<Goal> {
        let vault = self.vault.clone();
        inbox::once_protected(
            &self.writer,
            &self.vault,
            command.request_id.as_str(),
            "CreateGoal",
            command,
            move |txn| {
                Box::pin(async move {
                    let employee = goal.employee_id.to_string();
                    within_limit(
                        txn,
                        &employee,
                        Counter::Goals,
                        Resource::Goal,
                        GOALS_PER_EMPLOYEE,
                    )
                    .await?;
                    if let Some(review_id) = &goal.review_id {
                        review_of(&vault, txn, review_id, &employee).await?;
                        let weights: Vec<i32> = goals::Entity::find()
                            .select_only()
                            .column(goals::Column::Weight)
                            .filter(goals::Column::ReviewId.eq(review_id.as_str()))
                            .filter(goals::Column::Status.ne(GoalStatus::Cancelled.as_str()))
                            .into_tuple()
                            .all(txn)
                            .await?;
                        let existing = weights.iter().map(|w| *w as u32).sum();
                        check_goal_weights(review_id, existing, goal.weight).map_err(fail)?;
                    }
                    goals::Entity::insert(goal_row(&vault, txn, &goal).await?)
                        .exec(txn)
                        .await?;
                    Ok(goal)
                })
            },
        )
        .await
    }

    async fn update_goal(&self, command: &UpdateGoal, now: DateTime<Utc>) -> Result<Goal> {
        let vault = self.vault.clone();
        let owned = command.clone();
        let events = self.events.clone();
        inbox::once_protected(
            &self.writer,
            &self.vault,
            command.request_id.as_str(),
            command.operation(),
            command,
            move |txn| {
                Box::pin(async move {
                    let mut goal = load_goal(&vault, txn, &owned.goal_id).await?;
                    let before = goal.status;
                    goal.apply(&owned.change, owned.request_id.as_str(), now)
                        .map_err(fail)?;
                    goals::Entity::update(goal_row(&vault, txn, &goal).await?)
                        .exec(txn)
                        .await?;
                    let event = PerformanceEvent::of_goal_change(before, &goal);
                    events.add(txn, &event, now).await?;
                    Ok(goal)
                })
            },
        )
        .await
    }

    async fn goal(&self, id: &str) -> Result<Option<Goal>> {
        get::<goals::Entity, _>(&self.vault, &self.db, id).await
    }

    async fn goals(
        &self,
        filter: &GoalFilter,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Goal>> {
        let mut query = goals::Entity::find()
            .filter(goals::Column::EmployeeId.eq(filter.employee_id.as_str()))
            .filter(page_after(goals::Column::Id, after))
            .order_by_desc(goals::Column::Id)
            .limit(u64::from(limit));
        if let Some(review_id) = &filter.review_id {
            query = query.filter(goals::Column::ReviewId.eq(review_id.as_str()));
        }
        if let Some(status) = filter.status {
            query = query.filter(goals::Column::Status.eq(status.as_str()));
        }
        list(&self.vault, &self.db, query).await
    }

    async fn open_pip(&self, command: &OpenPip, pip: Pip) -> Result<Pip> {
        let vault = self.vault.clone();
        let events = self.events.clone();
        inbox::once_protected(
            &self.writer,
            &self.vault,
            command.request_id.as_str(),
            "OpenPip",
            command,
            move |txn| {
                Box::pin(async move {
                    let employee = pip.employee_id.to_string();
                    count_one_more(txn, &employee, Counter::Pips, None).await?;
                    let active = pips::Entity::find()
                        .filter(pips::Column::EmployeeId.eq(employee.as_str()))
                        .filter(pips::Column::Status.eq(PipStatus::Active.as_str()))
                        .one(txn)
                        .await?;
                    if let Some(active) = active {
                        return Err(fail(Rejection::PipAlreadyActive { pip_id: active.id }));
                    }
                    pips::Entity::insert(pip_row(&vault, txn, &pip).await?)
                        .exec(txn)
                        .await?;
                    let initiated = PerformanceEvent::PipInitiated(pip.clone());
                    events.add(txn, [&initiated], pip.created_at).await?;
                    Ok(pip)
                })
            },
        )
        .await
    }

    async fn update_pip(&self, command: &UpdatePip, now: DateTime<Utc>) -> Result<(Pip, bool)> {
        let vault = self.vault.clone();
        let owned = command.clone();
        let events = self.events.clone();
        inbox::once_protected(
            &self.writer,
            &self.vault,
            command.request_id.as_str(),
            command.operation(),
            command,
            move |txn| {
                Box::pin(async move {
                    let mut pip = load_pip(&vault, txn, &owned.pip_id).await?;
                    let changed = owned.apply_to(&mut pip, now).map_err(fail)?;
                    if changed {
                        pips::Entity::update(pip_row(&vault, txn, &pip).await?)
                            .exec(txn)
                            .await?;
                        let event = PerformanceEvent::of_pip_change(&owned.change, &pip);
                        events.add(txn, &event, now).await?;
                    }
                    Ok((pip, changed))
                })
            },
        )
        .await
    }

    async fn cancel_pip_opened_by(
        &self,
        command: &CancelPipOpenedBy,
        now: DateTime<Utc>,
    ) -> Result<(Option<Pip>, bool)> {
        let vault = self.vault.clone();
        let owned = command.clone();
        inbox::once_protected(
            &self.writer,
            &self.vault,
            command.request_id.as_str(),
            "CancelPip",
            command,
            move |txn| {
                Box::pin(async move {
                    let row = locked(
                        pips::Entity::find().filter(
                            pips::Column::OpenedByRequestId.eq(owned.opened_by_request_id.as_str()),
                        ),
                        txn,
                    )
                    .one(txn)
                    .await?;
                    let Some(row) = row else {
                        return Ok((None, false));
                    };
                    let mut pip: Pip = open_doc(&vault, txn, &row.document).await?;
                    let changed = owned.apply_to(&mut pip, now).map_err(fail)?;
                    if changed {
                        pips::Entity::update(pip_row(&vault, txn, &pip).await?)
                            .exec(txn)
                            .await?;
                    }
                    Ok((Some(pip), changed))
                })
            },
        )
        .await
    }

    async fn pip(&self, id: &str) -> Result<Option<Pip>> {
        get::<pips::Entity, _>(&self.vault, &self.db, id).await
    }

    async fn pips(&self, filter: &PipFilter, after: Option<&str>, limit: u32) -> Result<Vec<Pip>> {
        let mut query = pips::Entity::find()
            .filter(pips::Column::EmployeeId.eq(filter.employee_id.as_str()))
            .filter(page_after(pips::Column::Id, after))
            .order_by_desc(pips::Column::Id)
            .limit(u64::from(limit));
        if let Some(status) = filter.status {
            query = query.filter(pips::Column::Status.eq(status.as_str()));
        }
        list(&self.vault, &self.db, query).await
    }

    async fn request_feedback(
        &self,
        command: &RequestFeedback,
        request: FeedbackRequest,
    ) -> Result<FeedbackRequest> {
        let vault = self.vault.clone();
        inbox::once_protected(
            &self.writer,
            &self.vault,
            command.request_id.as_str(),
            "RequestFeedback",
            command,
            move |txn| {
                Box::pin(async move {
                    if let Some(review_id) = &request.review_id {
                        review_of(&vault, txn, review_id, request.employee_id.as_str()).await?;
                    }
                    feedback_requests::Entity::insert(
                        feedback_request_row(&vault, txn, &request).await?,
                    )
                    .exec(txn)
                    .await?;
                    Ok(request)
                })
            },
        )
        .await
    }

    async fn feedback_requests(
        &self,
        filter: &FeedbackRequestFilter,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<FeedbackRequest>> {
        let mut query = feedback_requests::Entity::find()
            .filter(feedback_requests::Column::GiverId.eq(filter.giver_id.as_str()))
            .filter(page_after(feedback_requests::Column::Id, after))
            .order_by_desc(feedback_requests::Column::Id)
            .limit(u64::from(limit));
        if let Some(status) = filter.status {
            query = query.filter(feedback_requests::Column::Status.eq(status.as_str()));
        }
        list(&self.vault, &self.db, query).await
    }

    async fn give_feedback(&self, command: &GiveFeedback, entry: Feedback) -> Result<Feedback> {
        let vault = self.vault.clone();
        let events = self.events.clone();
        inbox::once_protected(
            &self.writer,
            &self.vault,
            command.request_id.as_str(),
            "GiveFeedback",
            command,
            move |txn| {
                Box::pin(async move {
                    let mut entry = entry;
                    let employee = entry.employee_id.to_string();
                    within_limit(
                        txn,
                        &employee,
                        Counter::Feedback,
                        Resource::Feedback,
                        FEEDBACK_PER_EMPLOYEE,
                    )
                    .await?;
                    if let Some(request_id) = entry.feedback_request_id.clone() {
                        let mut request = load_feedback_request(&vault, txn, &request_id).await?;
                        answer_feedback_request(&mut request, &mut entry).map_err(fail)?;
                        feedback_requests::Entity::update(
                            feedback_request_row(&vault, txn, &request).await?,
                        )
                        .exec(txn)
                        .await?;
                    }
                    if let Some(review_id) = &entry.review_id {
                        review_of(&vault, txn, review_id, &employee).await?;
                    }
                    if entry.anonymous {
                        audit::disguise_pending(&entry.pseudonym(), entry.created_at);
                    }
                    feedback::Entity::insert(feedback_row(&vault, txn, &entry).await?)
                        .exec(txn)
                        .await?;
                    let given = PerformanceEvent::feedback_given(&entry);
                    events.add(txn, [&given], entry.created_at).await?;
                    Ok(entry)
                })
            },
        )
        .await
        .inspect(|entry| {
            // A replay's event is written by the mesh layer after this: as anonymous as the
            // first call's.
            if entry.anonymous {
                audit::disguise_pending(&entry.pseudonym(), entry.created_at);
            }
        })
    }

    async fn feedback(
        &self,
        filter: &FeedbackFilter,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Feedback>> {
        let mut query = feedback::Entity::find()
            .filter(feedback::Column::EmployeeId.eq(filter.employee_id.as_str()))
            .filter(page_after(feedback::Column::Id, after))
            .order_by_desc(feedback::Column::Id)
            .limit(u64::from(limit));
        if let Some(review_id) = &filter.review_id {
            query = query.filter(feedback::Column::ReviewId.eq(review_id.as_str()));
        }
        list(&self.vault, &self.db, query).await
    }

    async fn close_employee_records(
        &self,
        command: &CloseEmployeeRecords,
        now: DateTime<Utc>,
    ) -> Result<Closure> {
        let vault = self.vault.clone();
        let owned = command.clone();
        inbox::once_protected(
            &self.writer,
            &self.vault,
            command.request_id.as_str(),
            "CloseEmployeeRecords",
            command,
            move |txn| Box::pin(async move { close_records(&vault, txn, &owned, now).await }),
        )
        .await
    }

    async fn erase_personal_data(
        &self,
        command: &ErasePersonalData,
        now: DateTime<Utc>,
    ) -> Result<Erasure> {
        let vault = self.vault.clone();
        let owned = command.clone();
        inbox::once_protected(
            &self.writer,
            &self.vault,
            command.request_id.as_str(),
            "ErasePersonalData",
            command,
            move |txn| {
                Box::pin(async move {
                    let destroyed = vault
                        .erase(txn, owned.employee_id.as_str(), now)
                        .await
                        .map_err(|err| fail(vault_error(err)))?;
                    Ok(Erasure::of(owned.employee_id, destroyed, now))
                })
            },
        )
        .await
    }

    async fn reopen_employee_records(
        &self,
        command: &ReopenEmployeeRecords,
        now: DateTime<Utc>,
    ) -> Result<Option<Closure>> {
        let vault = self.vault.clone();
        let owned = command.clone();
        inbox::once_protected(
            &self.writer,
            &self.vault,
            command.request_id.as_str(),
            "ReopenEmployeeRecords",
            command,
            move |txn| Box::pin(async move { reopen_records(&vault, txn, &owned, now).await }),
        )
        .await
    }

    async fn open_reviews_due(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Review>> {
        let open: Vec<&str> = ReviewState::ALL
            .into_iter()
            .filter(|state| state.is_open())
            .map(ReviewState::as_str)
            .collect();
        let mut query = reviews::Entity::find()
            .filter(reviews::Column::DueDate.between(from, to))
            .filter(reviews::Column::State.is_in(open))
            .order_by_asc(reviews::Column::Id)
            .limit(u64::from(limit));
        if let Some(after) = after {
            query = query.filter(reviews::Column::Id.gt(after));
        }
        list(&self.vault, &self.db, query).await
    }

    async fn active_pips_between(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Pip>> {
        let mut query = pips::Entity::find()
            .filter(pips::Column::Status.eq(PipStatus::Active.as_str()))
            .filter(pips::Column::StartDate.lte(to))
            .filter(pips::Column::EndDate.gte(from))
            .order_by_asc(pips::Column::Id)
            .limit(u64::from(limit));
        if let Some(after) = after {
            query = query.filter(pips::Column::Id.gt(after));
        }
        list(&self.vault, &self.db, query).await
    }

    async fn reminders_sent(&self, keys: &[String]) -> Result<HashSet<String>> {
        if keys.is_empty() {
            return Ok(HashSet::new());
        }
        let sent: Vec<String> = reminders_sent::Entity::find()
            .select_only()
            .column(reminders_sent::Column::Key)
            .filter(reminders_sent::Column::Key.is_in(keys.iter().map(String::as_str)))
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(storage_error)?;
        Ok(sent.into_iter().collect())
    }

    async fn record_reminder_sent(&self, key: &str, now: DateTime<Utc>) -> Result<()> {
        reminders_sent::Entity::insert(reminders_sent::ActiveModel {
            key: Set(key.to_owned()),
            sent_at: Set(now),
        })
        .on_conflict_do_nothing_on([reminders_sent::Column::Key])
        .exec(&self.db)
        .await
        .map_err(storage_error)?;
        Ok(())
    }
}

async fn close_records(
    vault: &Vault,
    txn: &DatabaseTransaction,
    command: &CloseEmployeeRecords,
    now: DateTime<Utc>,
) -> Tx<Closure> {
    let employee = command.employee_id.as_str();
    let request_id = command.request_id.as_str();
    // No record of the employee is created while we close.
    lock_employee(txn, employee).await?;
    let mut records = Vec::new();

    let open_states: Vec<&str> = ReviewState::ALL
        .into_iter()
        .filter(|state| state.is_open())
        .map(ReviewState::as_str)
        .collect();
    let rows = locked(
        reviews::Entity::find()
            .filter(reviews::Column::EmployeeId.eq(employee))
            .filter(reviews::Column::State.is_in(open_states))
            .order_by_asc(reviews::Column::Id),
        txn,
    )
    .all(txn)
    .await?;
    for row in rows {
        let mut review: Review = open_doc(vault, txn, &row.document).await?;
        let previous = review.state;
        review
            .close(request_id, now, &command.reason)
            .map_err(fail)?;
        reviews::Entity::update(review_row(vault, txn, &review).await?)
            .exec(txn)
            .await?;
        records.push(ClosedRecord {
            id: review.id,
            previous: PreviousState::Review(previous),
        });
    }

    let rows = locked(
        goals::Entity::find()
            .filter(goals::Column::EmployeeId.eq(employee))
            .filter(goals::Column::Status.is_in([
                GoalStatus::NotStarted.as_str(),
                GoalStatus::InProgress.as_str(),
            ]))
            .order_by_asc(goals::Column::Id),
        txn,
    )
    .all(txn)
    .await?;
    for row in rows {
        let mut goal: Goal = open_doc(vault, txn, &row.document).await?;
        let previous = goal.status;
        goal.close(now).map_err(fail)?;
        goals::Entity::update(goal_row(vault, txn, &goal).await?)
            .exec(txn)
            .await?;
        records.push(ClosedRecord {
            id: goal.id,
            previous: PreviousState::Goal(previous),
        });
    }

    let rows = locked(
        pips::Entity::find()
            .filter(pips::Column::EmployeeId.eq(employee))
            .filter(pips::Column::Status.eq(PipStatus::Active.as_str()))
            .order_by_asc(pips::Column::Id),
        txn,
    )
    .all(txn)
    .await?;
    for row in rows {
        let mut pip: Pip = open_doc(vault, txn, &row.document).await?;
        pip.close(now).map_err(fail)?;
        pips::Entity::update(pip_row(vault, txn, &pip).await?)
            .exec(txn)
            .await?;
        records.push(ClosedRecord {
            id: pip.id,
            previous: PreviousState::Pip(PipStatus::Active),
        });
    }

    // Open feedback requests about the employee and addressed to them.
    let rows = locked(
        feedback_requests::Entity::find()
            .filter(
                feedback_requests::Column::EmployeeId
                    .eq(employee)
                    .or(feedback_requests::Column::GiverId.eq(employee)),
            )
            .filter(feedback_requests::Column::Status.eq(FeedbackRequestStatus::Open.as_str()))
            .order_by_asc(feedback_requests::Column::Id),
        txn,
    )
    .all(txn)
    .await?;
    for row in rows {
        let mut request: FeedbackRequest = open_doc(vault, txn, &row.document).await?;
        request.close().map_err(fail)?;
        feedback_requests::Entity::update(feedback_request_row(vault, txn, &request).await?)
            .exec(txn)
            .await?;
        records.push(ClosedRecord {
            id: request.id,
            previous: PreviousState::FeedbackRequest(FeedbackRequestStatus::Open),
        });
    }

    let closure = Closure {
        close_request_id: request_id.to_owned(),
        employee_id: command.employee_id.clone(),
        reason: command.reason.clone(),
        records,
        closed_at: now,
        reopened_at: None,
    };
    closures::Entity::insert(closure_row(vault, txn, &closure).await?)
        .exec(txn)
        .await?;
    Ok(closure)
}

async fn reopen_records(
    vault: &Vault,
    txn: &DatabaseTransaction,
    command: &ReopenEmployeeRecords,
    now: DateTime<Utc>,
) -> Tx<Option<Closure>> {
    let row = locked(
        closures::Entity::find_by_id(command.close_request_id.clone()),
        txn,
    )
    .one(txn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let mut closure: Closure = open_doc(vault, txn, &row.document).await?;
    if closure.reopened_at.is_some() {
        return Ok(Some(closure));
    }
    lock_employee(txn, closure.employee_id.as_str()).await?;
    let request_id = command.request_id.as_str();
    for record in &closure.records {
        match record.previous {
            PreviousState::Review(previous) => {
                let mut review = load_review(vault, txn, &record.id).await?;
                review.restore(previous, request_id, now).map_err(fail)?;
                reviews::Entity::update(review_row(vault, txn, &review).await?)
                    .exec(txn)
                    .await?;
            }
            PreviousState::Goal(previous) => {
                let mut goal = load_goal(vault, txn, &record.id).await?;
                goal.restore(previous, now).map_err(fail)?;
                goals::Entity::update(goal_row(vault, txn, &goal).await?)
                    .exec(txn)
                    .await?;
            }
            PreviousState::Pip(_) => {
                let active = pips::Entity::find()
                    .filter(pips::Column::EmployeeId.eq(closure.employee_id.as_str()))
                    .filter(pips::Column::Status.eq(PipStatus::Active.as_str()))
                    .one(txn)
                    .await?;
                if let Some(active) = active {
                    return Err(fail(Rejection::PipAlreadyActive { pip_id: active.id }));
                }
                let mut pip = load_pip(vault, txn, &record.id).await?;
                pip.restore(now).map_err(fail)?;
                pips::Entity::update(pip_row(vault, txn, &pip).await?)
                    .exec(txn)
                    .await?;
            }
            PreviousState::FeedbackRequest(_) => {
                let mut request = load_feedback_request(vault, txn, &record.id).await?;
                request.restore().map_err(fail)?;
                feedback_requests::Entity::update(
                    feedback_request_row(vault, txn, &request).await?,
                )
                .exec(txn)
                .await?;
            }
        }
    }
    closure.reopened_at = Some(now);
    closures::Entity::update(closure_row(vault, txn, &closure).await?)
        .exec(txn)
        .await?;
    Ok(Some(closure))
}

impl hrmesh_storage::audit::AuditSource for SeaPerformanceStore {
    fn audit_store(&self) -> std::sync::Arc<dyn hrmesh_storage::audit::AuditStore> {
        std::sync::Arc::new(hrmesh_storage::audit::SqlAudit::written_with_effects(
            self.db.clone(),
        ))
    }
}

impl hrmesh_storage::outbox::OutboxSource for SeaPerformanceStore {
    fn outbox_store(&self) -> std::sync::Arc<dyn hrmesh_storage::outbox::OutboxStore> {
        std::sync::Arc::new(hrmesh_storage::outbox::SqlOutbox::new(self.db.clone()))
    }

    fn outbox_written(&self) -> std::sync::Arc<hrmesh_storage::outbox::Notify> {
        self.events.written()
    }
}
