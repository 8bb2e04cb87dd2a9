use std::collections::{BTreeMap, HashMap};
use std::future::Future;

use chrono::{DateTime, NaiveDate, Utc};
use hrmesh_domain::erasure::{ErasePersonalData, Erasure};
use hrmesh_domain::{Clock, EmployeeId, Violations};

use crate::plan::{AccountPlan, EntryDraft, HoldPlan, expand_hold_days};
use crate::{
    AccrualRun, AppendEntries, AssignPolicies, AssignPolicy, Assignment, Balance, CreatePolicy,
    EndAssignments, EndedAssignments, Entry, EntryFilter, ExtendFreeze, Freeze, FreezeAccruals,
    FreezeTarget, Hold, HoldDays, LedgerError, NewEntryKind, Page, Policy, PolicyId, PostHold,
    Quantity, ReopenAssignments, Result, ReverseEntry, RunAccruals, Totals, UnfreezeAccruals,
    VoidHold,
};

/// Entries one AppendEntries request may carry.
pub const BATCH_ENTRIES_MAX: usize = 1000;
/// How long a hold stays pending when the request does not say.
pub const HOLD_TIMEOUT_DEFAULT_SECS: i64 = 14 * 24 * 3600;
pub const HOLD_TIMEOUT_MIN_SECS: i64 = 60;
pub const HOLD_TIMEOUT_MAX_SECS: i64 = 90 * 24 * 3600;
/// Policies one AssignPolicies request assigns at most.
pub const POLICIES_PER_REQUEST_MAX: usize = 20;
/// The longest freeze, in days (a PIP runs at most a year; extensions included).
pub const FREEZE_SPAN_DAYS_MAX: i64 = 2 * 366;
/// How far past today an accrual run may accrue (a year's advance at most).
pub const ACCRUAL_RUN_AHEAD_DAYS_MAX: i64 = 366;

/// The storage port. Every mutating method runs in one database transaction together with the
/// idempotency inbox entry for the command's request id, and enforces the rules that depend on
/// current state (day uniqueness, the balance floor, a hold resolving once) atomically.
pub trait LedgerStore: Send + Sync + 'static {
    fn create_policy(
        &self,
        command: &CreatePolicy,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Policy>> + Send;

    fn policy(&self, id: &PolicyId) -> impl Future<Output = Result<Option<Policy>>> + Send;

    fn assign_policy(
        &self,
        command: &AssignPolicy,
        policy: &Policy,
        assignment_id: String,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Assignment>> + Send;

    /// Assigns every policy of the command (given in its order) in one transaction: all or none.
    fn assign_policies(
        &self,
        command: &AssignPolicies,
        policies: &[Policy],
        assignment_ids: Vec<String>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<Assignment>>> + Send;

    /// An employee's assignments ordered by id, optionally of one policy, after `after_id`.
    fn assignments(
        &self,
        employee_id: &EmployeeId,
        policy_id: Option<&PolicyId>,
        after_id: Option<&str>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Assignment>>> + Send;

    /// Appends the planned entries, accounts in the order given; answers in request order.
    fn append_entries(
        &self,
        command: &AppendEntries,
        accounts: &[AccountPlan],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<Entry>>> + Send;

    fn hold_days(&self, plan: &HoldPlan) -> impl Future<Output = Result<Hold>> + Send;

    fn post_hold(
        &self,
        command: &PostHold,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Hold>> + Send;

    fn void_hold(
        &self,
        command: &VoidHold,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Hold>> + Send;

    fn hold(&self, hold_id: &str) -> impl Future<Output = Result<Option<Hold>>> + Send;

    /// Expires up to `limit` pending holds whose expiry is at or before `now`; returns how many.
    fn expire_due_holds(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> impl Future<Output = Result<u32>> + Send;

    fn reverse_entry(
        &self,
        command: &ReverseEntry,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Entry>> + Send;

    /// The account's totals over all entries, or over entries effective on or before `as_of`.
    /// None when the employee was never assigned the policy.
    fn totals(
        &self,
        employee_id: &EmployeeId,
        policy_id: &PolicyId,
        as_of: Option<NaiveDate>,
    ) -> impl Future<Output = Result<Option<Totals>>> + Send;

    /// Creates a freeze of the account's accruals; refused when it overlaps another.
    fn freeze_accruals(
        &self,
        command: &FreezeAccruals,
        freeze_id: String,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Freeze>> + Send;

    /// Lifts the target freezes from the command's day and reopens the periods it frees.
    fn unfreeze_accruals(
        &self,
        command: &UnfreezeAccruals,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<Freeze>>> + Send;

    fn extend_freeze(
        &self,
        command: &ExtendFreeze,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<Freeze>>> + Send;

    /// An employee's freezes ordered by start, optionally of one policy.
    fn freezes(
        &self,
        employee_id: &EmployeeId,
        policy_id: Option<&PolicyId>,
    ) -> impl Future<Output = Result<Vec<Freeze>>> + Send;

    /// Ends the assignments and, in the same transaction, voids the pending holds with a day
    /// after the end (and posts the earlier ones when asked).
    fn end_assignments(
        &self,
        command: &EndAssignments,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<EndedAssignments>> + Send;

    fn reopen_assignments(
        &self,
        command: &ReopenAssignments,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<Assignment>>> + Send;

    /// Destroys the employee's data keys: every reason sealed with them reads as erased from
    /// then on, and nothing else changes. Once per request id.
    fn erase_personal_data(
        &self,
        command: &ErasePersonalData,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Erasure>> + Send;

    /// Applies every accrual and carry-over expiry due up to the command's day to the accounts in
    /// its scope: at most once per account and period, safe to run concurrently and again.
    fn run_accruals(
        &self,
        command: &RunAccruals,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<AccrualRun>> + Send;

    /// Up to `limit` expired holds whose employee has not been told yet, oldest expiry first.
    fn expired_holds_untold(&self, limit: u32) -> impl Future<Output = Result<Vec<Hold>>> + Send;

    /// Records that the employee was told their hold expired.
    fn mark_expiry_told(
        &self,
        hold_id: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<()>> + Send;

    /// The current totals of each account of the employee, by policy id.
    fn balances(
        &self,
        employee_id: &EmployeeId,
    ) -> impl Future<Output = Result<Vec<(PolicyId, Totals)>>> + Send;

    /// Entries matching `filter` ordered by id, after `after_id`.
    fn entries(
        &self,
        filter: &EntryFilter,
        after_id: Option<i64>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Entry>>> + Send;
}

/// The ledger service: validates commands against policies and assignments, plans what to write,
/// and hands the plan to the store.
#[derive(Debug, Clone)]
pub struct Ledger<S, C> {
    store: S,
    clock: C,
}

impl<S: LedgerStore, C: Clock> Ledger<S, C> {
    pub fn new(store: S, clock: C) -> Self {
        Self { store, clock }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub async fn create_policy(&self, command: CreatePolicy) -> Result<Policy> {
        let mut violations = Violations::default();
        check_policy_spec(&command, &mut violations);
        violations.finish(()).map_err(LedgerError::Invalid)?;
        self.store.create_policy(&command, self.clock.now()).await
    }

    pub async fn get_policy(&self, policy_id: &PolicyId) -> Result<Policy> {
        self.store
            .policy(policy_id)
            .await?
            .ok_or_else(|| LedgerError::not_found("policy", policy_id.as_str()))
    }

    pub async fn assign_policy(&self, command: AssignPolicy) -> Result<Assignment> {
        if command
            .effective_to
            .is_some_and(|to| to < command.effective_from)
        {
            return Err(LedgerError::invalid(
                "effective_to",
                "must not be before effective_from",
            ));
        }
        let policy = self
            .existing_policy("policy_id", &command.policy_id)
            .await?;
        let assignment_id = uuid::Uuid::now_v7().to_string();
        self.store
            .assign_policy(&command, &policy, assignment_id, self.clock.now())
            .await
    }

    pub async fn assign_policies(&self, command: AssignPolicies) -> Result<Vec<Assignment>> {
        let mut violations = Violations::default();
        if command.policy_ids.is_empty() || command.policy_ids.len() > POLICIES_PER_REQUEST_MAX {
            violations.add(
                "policy_ids",
                format!("must name 1 to {POLICIES_PER_REQUEST_MAX} policies"),
            );
        }
        if command
            .effective_to
            .is_some_and(|to| to < command.effective_from)
        {
            violations.add("effective_to", "must not be before effective_from");
        }
        let mut policies = Vec::with_capacity(command.policy_ids.len());
        for (index, policy_id) in command.policy_ids.iter().enumerate() {
            let field = format!("policy_ids[{index}]");
            if command.policy_ids[..index].contains(policy_id) {
                violations.add(field, "is listed twice");
                continue;
            }
            match self.store.policy(policy_id).await? {
                Some(policy) => policies.push(policy),
                None => violations.add(field, format!("policy {policy_id} does not exist")),
            }
        }
        violations.finish(()).map_err(LedgerError::Invalid)?;
        let ids = policies
            .iter()
            .map(|_| uuid::Uuid::now_v7().to_string())
            .collect();
        self.store
            .assign_policies(&command, &policies, ids, self.clock.now())
            .await
    }

    pub async fn list_assignments(
        &self,
        employee_id: &EmployeeId,
        after_id: Option<&str>,
        page_size: u32,
    ) -> Result<Page<Assignment>> {
        let mut items = self
            .store
            .assignments(employee_id, None, after_id, page_size + 1)
            .await?;
        let next_after = next_page(&mut items, page_size, |a| a.id.clone());
        Ok(Page { items, next_after })
    }

    pub async fn append_entries(&self, command: AppendEntries) -> Result<Vec<Entry>> {
        if command.entries.is_empty() || command.entries.len() > BATCH_ENTRIES_MAX {
            return Err(LedgerError::invalid(
                "entries",
                format!("must hold 1 to {BATCH_ENTRIES_MAX} entries"),
            ));
        }
        let mut violations = Violations::default();
        let mut policies: HashMap<PolicyId, Option<Policy>> = HashMap::new();
        let mut assignments: HashMap<(EmployeeId, PolicyId), Vec<Assignment>> = HashMap::new();
        // BTreeMap: accounts are written in a fixed order, so concurrent batches lock them in the
        // same order and cannot deadlock.
        let mut accounts: BTreeMap<(EmployeeId, PolicyId), AccountPlan> = BTreeMap::new();

        for (index, entry) in command.entries.iter().enumerate() {
            let field = |name: &str| format!("entries[{index}].{name}");
            match entry.kind {
                NewEntryKind::Accrual if !entry.amount.is_positive() => {
                    violations.add(field("amount"), "must be positive for an accrual");
                }
                NewEntryKind::Adjustment if entry.amount == Quantity::ZERO => {
                    violations.add(field("amount"), "must not be zero for an adjustment");
                }
                NewEntryKind::Adjustment if entry.reason.trim().is_empty() => {
                    violations.add(field("reason"), "is required for an adjustment");
                }
                NewEntryKind::Payout | NewEntryKind::Forfeiture if !entry.amount.is_negative() => {
                    violations.add(
                        field("amount"),
                        "must be negative for a settlement (the days leave the balance)",
                    );
                }
                _ => {}
            }
            if !policies.contains_key(&entry.policy_id) {
                let policy = self.store.policy(&entry.policy_id).await?;
                policies.insert(entry.policy_id.clone(), policy);
            }
            let Some(policy) = policies.get(&entry.policy_id).and_then(Option::as_ref) else {
                violations.add(
                    field("policy_id"),
                    format!("policy {} does not exist", entry.policy_id),
                );
                continue;
            };
            let key = (entry.employee_id.clone(), entry.policy_id.clone());
            if !assignments.contains_key(&key) {
                let found = self
                    .all_assignments(&entry.employee_id, &entry.policy_id)
                    .await?;
                assignments.insert(key.clone(), found);
            }
            // An accrual is earned under an assignment on its day; an adjustment (a correction,
            // a settlement) needs only an assignment that started by its day: the leftover of an
            // assignment that ended is still settled after it.
            let found = assignments.get(&key).map(Vec::as_slice).unwrap_or_default();
            let day = entry.effective_date;
            let (covered, rule) = match entry.kind {
                NewEntryKind::Accrual => (found.iter().any(|a| a.covers(day)), "on"),
                NewEntryKind::Adjustment | NewEntryKind::Payout | NewEntryKind::Forfeiture => {
                    (found.iter().any(|a| a.effective_from <= day), "starting by")
                }
            };
            if !covered {
                violations.add(
                    field("employee_id"),
                    format!(
                        "employee {} has no assignment of policy {} {rule} {day}",
                        entry.employee_id, entry.policy_id
                    ),
                );
                continue;
            }
            let kind = match entry.kind {
                NewEntryKind::Accrual => crate::EntryKind::Accrual,
                NewEntryKind::Adjustment => crate::EntryKind::Adjustment,
                NewEntryKind::Payout => crate::EntryKind::Payout,
                NewEntryKind::Forfeiture => crate::EntryKind::Forfeiture,
            };
            let plan = accounts.entry(key).or_insert_with(|| AccountPlan {
                employee_id: entry.employee_id.clone(),
                policy_id: entry.policy_id.clone(),
                resource_type: policy.spec.resource_type.clone(),
                allow_negative: policy.spec.allow_negative,
                drafts: Vec::new(),
            });
            plan.drafts.push((
                index,
                EntryDraft {
                    kind,
                    amount: entry.amount,
                    deltas: Totals::of_entry(kind, entry.amount),
                    effective_date: entry.effective_date,
                    hold_id: None,
                    reverses_entry_id: None,
                    period: None,
                    reason: entry.reason.clone(),
                    reference: entry.reference.clone(),
                },
            ));
        }
        violations.finish(()).map_err(LedgerError::Invalid)?;
        let accounts: Vec<AccountPlan> = accounts.into_values().collect();
        self.store
            .append_entries(&command, &accounts, self.clock.now())
            .await
    }

    pub async fn hold_days(&self, command: HoldDays) -> Result<Hold> {
        let mut violations = Violations::default();
        let timeout_secs = command
            .hold_timeout_secs
            .unwrap_or(HOLD_TIMEOUT_DEFAULT_SECS);
        if !(HOLD_TIMEOUT_MIN_SECS..=HOLD_TIMEOUT_MAX_SECS).contains(&timeout_secs) {
            violations.add("hold_timeout", "must be between 1 minute and 90 days");
        }
        let policy = self
            .existing_policy("policy_id", &command.policy_id)
            .await?;
        let assignments = self
            .all_assignments(&command.employee_id, &command.policy_id)
            .await?;
        let days = expand_hold_days(&policy, &command, &assignments, &mut violations);
        violations.finish(()).map_err(LedgerError::Invalid)?;
        let now = self.clock.now();
        let plan = HoldPlan {
            hold_id: uuid::Uuid::now_v7().to_string(),
            resource_type: policy.spec.resource_type.clone(),
            allow_negative: policy.spec.allow_negative,
            days,
            created_at: now,
            expires_at: now + chrono::Duration::seconds(timeout_secs),
            command,
        };
        self.store.hold_days(&plan).await
    }

    pub async fn post_hold(&self, command: PostHold) -> Result<Hold> {
        self.store.post_hold(&command, self.clock.now()).await
    }

    pub async fn void_hold(&self, command: VoidHold) -> Result<Hold> {
        self.store.void_hold(&command, self.clock.now()).await
    }

    pub async fn get_hold(&self, hold_id: &str) -> Result<Hold> {
        self.store
            .hold(hold_id)
            .await?
            .ok_or_else(|| LedgerError::not_found("hold", hold_id))
    }

    /// Expires pending holds that are past their expiry; run periodically by the server.
    pub async fn expire_due_holds(&self, limit: u32) -> Result<u32> {
        self.store.expire_due_holds(self.clock.now(), limit).await
    }

    /// Expired holds whose employee is still to be told.
    pub async fn expired_holds_untold(&self, limit: u32) -> Result<Vec<Hold>> {
        self.store.expired_holds_untold(limit).await
    }

    pub async fn mark_expiry_told(&self, hold_id: &str) -> Result<()> {
        self.store.mark_expiry_told(hold_id, self.clock.now()).await
    }

    pub async fn reverse_entry(&self, command: ReverseEntry) -> Result<Entry> {
        if command.entry_id <= 0 {
            return Err(LedgerError::invalid(
                "entry_id",
                "must be a positive entry id",
            ));
        }
        self.store.reverse_entry(&command, self.clock.now()).await
    }

    pub async fn balance(
        &self,
        employee_id: EmployeeId,
        policy_id: PolicyId,
        as_of: Option<NaiveDate>,
    ) -> Result<Balance> {
        self.existing_policy("policy_id", &policy_id).await?;
        let totals = self
            .store
            .totals(&employee_id, &policy_id, as_of)
            .await?
            .ok_or_else(|| {
                LedgerError::invalid(
                    "employee_id",
                    format!("employee {employee_id} was never assigned policy {policy_id}"),
                )
            })?;
        Ok(Balance {
            employee_id,
            policy_id,
            as_of,
            totals,
        })
    }

    pub async fn list_entries(
        &self,
        filter: EntryFilter,
        after_id: Option<i64>,
        page_size: u32,
    ) -> Result<Page<Entry>> {
        if let (Some(from), Some(to)) = (filter.effective_from, filter.effective_to)
            && to < from
        {
            return Err(LedgerError::invalid(
                "effective.end_date",
                "must not be before effective.start_date",
            ));
        }
        let mut items = self.store.entries(&filter, after_id, page_size + 1).await?;
        let next_after = next_page(&mut items, page_size, |entry| entry.id.to_string());
        Ok(Page { items, next_after })
    }

    pub async fn freeze_accruals(&self, command: FreezeAccruals) -> Result<Freeze> {
        let mut violations = Violations::default();
        if command.end_date < command.start_date {
            violations.add("dates.end_date", "must not be before dates.start_date");
        } else if (command.end_date - command.start_date).num_days() >= FREEZE_SPAN_DAYS_MAX {
            violations.add(
                "dates",
                format!("must span at most {FREEZE_SPAN_DAYS_MAX} days"),
            );
        }
        if command.reason.trim().is_empty() {
            violations.add("reason", "is required");
        }
        if self.store.policy(&command.policy_id).await?.is_none() {
            violations.add(
                "policy_id",
                format!("policy {} does not exist", command.policy_id),
            );
        }
        violations.finish(()).map_err(LedgerError::Invalid)?;
        let freeze_id = uuid::Uuid::now_v7().to_string();
        self.store
            .freeze_accruals(&command, freeze_id, self.clock.now())
            .await
    }

    pub async fn unfreeze_accruals(&self, command: UnfreezeAccruals) -> Result<Vec<Freeze>> {
        check_freeze_target(&command.target, command.expected_employee.as_ref())?;
        self.store
            .unfreeze_accruals(&command, self.clock.now())
            .await
    }

    pub async fn extend_freeze(&self, command: ExtendFreeze) -> Result<Vec<Freeze>> {
        check_freeze_target(&command.target, command.expected_employee.as_ref())?;
        self.store.extend_freeze(&command, self.clock.now()).await
    }

    pub async fn list_freezes(
        &self,
        employee_id: &EmployeeId,
        policy_id: Option<&PolicyId>,
    ) -> Result<Vec<Freeze>> {
        self.store.freezes(employee_id, policy_id).await
    }

    pub async fn end_assignments(&self, command: EndAssignments) -> Result<EndedAssignments> {
        if let Some(policy_id) = &command.policy_id {
            self.existing_policy("policy_id", policy_id).await?;
        }
        self.store.end_assignments(&command, self.clock.now()).await
    }

    pub async fn reopen_assignments(&self, command: ReopenAssignments) -> Result<Vec<Assignment>> {
        self.store
            .reopen_assignments(&command, self.clock.now())
            .await
    }

    pub async fn erase_personal_data(&self, command: ErasePersonalData) -> Result<Erasure> {
        self.store
            .erase_personal_data(&command, self.clock.now())
            .await
    }

    pub async fn run_accruals(&self, command: RunAccruals) -> Result<AccrualRun> {
        let now = self.clock.now();
        let latest = now.date_naive() + chrono::Duration::days(ACCRUAL_RUN_AHEAD_DAYS_MAX);
        if command.up_to > latest {
            return Err(LedgerError::invalid(
                "up_to_date",
                format!("must be at most {ACCRUAL_RUN_AHEAD_DAYS_MAX} days after today"),
            ));
        }
        if let Some(policy_id) = &command.scope.policy_id {
            self.existing_policy("policy_id", policy_id).await?;
        }
        self.store.run_accruals(&command, now).await
    }

    /// Every balance of the employee, one per policy ever assigned.
    pub async fn balances(&self, employee_id: EmployeeId) -> Result<Vec<Balance>> {
        let accounts = self.store.balances(&employee_id).await?;
        Ok(accounts
            .into_iter()
            .map(|(policy_id, totals)| Balance {
                employee_id: employee_id.clone(),
                policy_id,
                as_of: None,
                totals,
            })
            .collect())
    }

    async fn existing_policy(&self, field: &str, policy_id: &PolicyId) -> Result<Policy> {
        self.store.policy(policy_id).await?.ok_or_else(|| {
            LedgerError::invalid(field, format!("policy {policy_id} does not exist"))
        })
    }

    async fn all_assignments(
        &self,
        employee_id: &EmployeeId,
        policy_id: &PolicyId,
    ) -> Result<Vec<Assignment>> {
        // Overlapping assignments are refused, so one policy has few per employee; the bound only
        // guards against a corrupt store.
        const ASSIGNMENTS_PER_POLICY_MAX: u32 = 1000;
        self.store
            .assignments(
                employee_id,
                Some(policy_id),
                None,
                ASSIGNMENTS_PER_POLICY_MAX,
            )
            .await
    }
}

/// A reference names freezes only among one employee's: references are free text.
fn check_freeze_target(target: &FreezeTarget, employee: Option<&EmployeeId>) -> Result<()> {
    match (target, employee) {
        (FreezeTarget::Reference(reference), _) if reference.trim().is_empty() => Err(
            LedgerError::invalid("target.reference", "must not be empty"),
        ),
        (FreezeTarget::Reference(_), None) => Err(LedgerError::invalid(
            "employee_id",
            "is required when freezes are named by reference",
        )),
        _ => Ok(()),
    }
}

/// Trims a page fetched with one extra item and returns the cursor for the next page, if any.
fn next_page<T>(
    items: &mut Vec<T>,
    page_size: u32,
    cursor: impl Fn(&T) -> String,
) -> Option<String> {
    if items.len() <= page_size as usize {
        return None;
    }
    items.truncate(page_size as usize);
    items.last().map(cursor)
}

fn check_policy_spec(command: &CreatePolicy, violations: &mut Violations) {
    use crate::{AccrualFrequency, Unit};
    let spec = &command.spec;
    match spec.unit {
        Unit::Days if spec.full_day != Quantity::from_units(1) => {
            violations.add(
                "policy.full_day",
                "must be \"1\" (or empty) for a policy counted in days",
            );
        }
        Unit::Hours if !spec.full_day.is_positive() || spec.full_day > Quantity::from_units(24) => {
            violations.add(
                "policy.full_day",
                "must be more than 0 and at most 24 hours",
            );
        }
        _ => {}
    }
    if spec.full_day.millis() % 2 != 0 {
        violations.add(
            "policy.full_day",
            "must halve exactly (an even number of thousandths)",
        );
    }
    match spec.accrual.frequency {
        AccrualFrequency::None if spec.accrual.amount != Quantity::ZERO => {
            violations.add(
                "policy.accrual.amount",
                "must be empty or 0 when nothing accrues",
            );
        }
        AccrualFrequency::None if spec.accrual.max_balance.is_some() => {
            violations.add(
                "policy.accrual.max_balance",
                "must be empty when nothing accrues",
            );
        }
        AccrualFrequency::Monthly
        | AccrualFrequency::SemiMonthly
        | AccrualFrequency::Biweekly
        | AccrualFrequency::Annual
            if !spec.accrual.amount.is_positive() =>
        {
            violations.add("policy.accrual.amount", "must be positive");
        }
        _ => {}
    }
    if spec
        .accrual
        .max_balance
        .is_some_and(|max| !max.is_positive())
    {
        violations.add("policy.accrual.max_balance", "must be positive");
    }
    if !(1..=12).contains(&spec.year_start_month) {
        violations.add("policy.year_start_month", "must be a month, 1 to 12");
    }
    if spec.carry_over_cap.is_some_and(Quantity::is_negative) {
        violations.add("policy.carry_over_cap", "must not be negative");
    }
}
