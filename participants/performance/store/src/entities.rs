//! sea-orm entities of the performance tables. Each record is one row: the columns that queries
//! filter on, and the whole record as a JSON document. They never leave this crate.

macro_rules! document_table {
    ($module:ident, $table:literal, { $($column:ident : $ty:ty),* $(,)? }) => {
        pub mod $module {
            use sea_orm::entity::prelude::*;

            #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
            #[sea_orm(table_name = $table)]
            pub struct Model {
                #[sea_orm(primary_key, auto_increment = false)]
                pub id: String,
                $(pub $column: $ty,)*
                #[sea_orm(column_type = "Text")]
                pub document: String,
                /// When the record's retention period started; none while it is in progress.
                pub retained_from: Option<ChronoDateTimeUtc>,
            }

            #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
            pub enum Relation {}

            impl ActiveModelBehavior for ActiveModel {}

            impl super::Document for Model {
                fn document(&self) -> &str {
                    &self.document
                }
            }

            impl super::DocumentTable for Entity {
                const ID: Column = Column::Id;
                const EMPLOYEE: Column = Column::EmployeeId;
                const DOCUMENT: Column = Column::Document;
                const RETAINED_FROM: Column = Column::RetainedFrom;
            }
        }
    };
}

/// A row that carries its record as a JSON document.
pub trait Document {
    fn document(&self) -> &str;
}

/// The columns every document table has.
pub trait DocumentTable: sea_orm::EntityTrait {
    const ID: Self::Column;
    const EMPLOYEE: Self::Column;
    const DOCUMENT: Self::Column;
    const RETAINED_FROM: Self::Column;
}

document_table!(reviews, "reviews", {
    employee_id: String,
    manager_id: String,
    cycle: String,
    period_start: Date,
    state: String,
    due_date: Date,
});

document_table!(goals, "goals", {
    employee_id: String,
    review_id: Option<String>,
    status: String,
    weight: i32,
});

document_table!(pips, "pips", {
    employee_id: String,
    status: String,
    opened_by_request_id: String,
    start_date: Date,
    end_date: Date,
});

document_table!(feedback_requests, "feedback_requests", {
    employee_id: String,
    giver_id: String,
    status: String,
});

document_table!(feedback, "feedback", {
    employee_id: String,
    review_id: Option<String>,
});

// Keyed by the close request id.
document_table!(closures, "closures", {
    employee_id: String,
});

/// One row per employee: how many records they have of each limited kind. Every write that
/// creates or closes an employee's records updates it first, which serialises them per employee.
pub mod employee_counters {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "employee_counters")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub employee_id: String,
        pub reviews: i32,
        pub goals: i32,
        pub feedback: i32,
        pub pips: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Reminders already sent, one row per item and period.
pub mod reminders_sent {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "reminders_sent")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        pub sent_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
