//! sea-orm entities of the ledger's tables. They never leave this crate.

pub mod policies {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "policies")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub policy_id: String,
        pub resource_type: String,
        pub unit: String,
        pub accrual_frequency: String,
        pub accrual_amount: i64,
        pub allow_negative: bool,
        pub carry_over_cap: Option<i64>,
        pub full_day: i64,
        pub count_weekends: bool,
        pub request_id: String,
        pub accrual_max_balance: Option<i64>,
        pub year_start_month: i32,
        pub created_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod assignments {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "assignments")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub assignment_id: String,
        pub employee_id: String,
        pub policy_id: String,
        pub effective_from: Date,
        pub effective_to: Option<Date>,
        pub request_id: String,
        pub created_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// One row per employee and policy: the running totals over every entry (O(1) current balance)
/// and the row every write to the account locks first.
pub mod accounts {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "accounts")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub account_id: i64,
        pub employee_id: String,
        pub policy_id: String,
        pub resource_type: String,
        pub accrued: i64,
        pub consumed: i64,
        pub pending: i64,
        pub adjustments: i64,
        pub version: i64,
        /// Every accrual and expiry due on or before this day is applied (none: nothing yet).
        pub accrued_through: Option<Date>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The append-only log.
pub mod entries {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "entries")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub entry_id: i64,
        pub account_id: i64,
        pub employee_id: String,
        pub policy_id: String,
        pub resource_type: String,
        pub kind: String,
        pub amount: i64,
        pub accrued_delta: i64,
        pub consumed_delta: i64,
        pub pending_delta: i64,
        pub adjustments_delta: i64,
        pub effective_date: Date,
        pub hold_id: Option<String>,
        pub reverses_entry_id: Option<i64>,
        pub reason: String,
        pub reference: String,
        pub request_id: String,
        pub created_at: ChronoDateTimeUtc,
        pub period_start: Option<Date>,
        pub period_end: Option<Date>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod holds {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "holds")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub hold_id: String,
        pub account_id: i64,
        pub employee_id: String,
        pub policy_id: String,
        pub resource_type: String,
        pub state: String,
        pub total: i64,
        pub reference: String,
        pub reason: String,
        pub request_id: String,
        pub created_at: ChronoDateTimeUtc,
        pub expires_at: ChronoDateTimeUtc,
        pub resolved_at: Option<ChronoDateTimeUtc>,
        /// When the employee was told their hold expired.
        pub expiry_notified_at: Option<ChronoDateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The days currently taken by a pending or posted hold. The primary key is the day-uniqueness
/// constraint; a void or expiry deletes its hold's rows in the same transaction that appends the
/// resolving entries.
pub mod day_claims {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "day_claims")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub employee_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub resource_type: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub day: Date,
        pub hold_id: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Per account and month: the totals of every entry effective before the month's first day.
/// A balance as of any date reads one snapshot and at most one month of entries.
pub mod balance_snapshots {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "balance_snapshots")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub account_id: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub month_start: Date,
        pub accrued: i64,
        pub consumed: i64,
        pub pending: i64,
        pub adjustments: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Freezes of an account's accruals.
pub mod accrual_freezes {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "accrual_freezes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub freeze_id: String,
        pub account_id: i64,
        pub employee_id: String,
        pub policy_id: String,
        pub start_date: Date,
        pub end_date: Date,
        pub lifted_from: Option<Date>,
        pub reason: String,
        pub reference: String,
        pub request_id: String,
        pub created_at: ChronoDateTimeUtc,
        pub updated_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// What each EndAssignments request changed, so its undo restores exactly that.
pub mod assignment_endings {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "assignment_endings")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub request_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub assignment_id: String,
        pub previous_to: Option<Date>,
        pub ended_to: Date,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
