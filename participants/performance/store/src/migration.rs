//! The performance schema.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(hrmesh_storage::inbox::Migration),
            Box::new(PerformanceSchema),
            Box::new(hrmesh_storage::audit::Migration),
            Box::new(hrmesh_storage::audit::OutcomeMigration),
            Box::new(hrmesh_storage::audit::OnBehalfOfMigration),
            Box::new(hrmesh_storage::outbox::Migration),
            Box::new(hrmesh_storage::vault::Migration),
            Box::new(RetentionColumns),
        ]
    }
}

struct PerformanceSchema;

impl MigrationName for PerformanceSchema {
    fn name(&self) -> &str {
        "m20261121_000003_performance_schema"
    }
}

#[derive(DeriveIden)]
enum Reviews {
    Table,
    Id,
    EmployeeId,
    ManagerId,
    Cycle,
    PeriodStart,
    State,
    DueDate,
    Document,
}

#[derive(DeriveIden)]
enum Goals {
    Table,
    Id,
    EmployeeId,
    ReviewId,
    Status,
    Weight,
    Document,
}

#[derive(DeriveIden)]
enum Pips {
    Table,
    Id,
    EmployeeId,
    Status,
    OpenedByRequestId,
    StartDate,
    EndDate,
    Document,
}

#[derive(DeriveIden)]
enum FeedbackRequests {
    Table,
    Id,
    EmployeeId,
    GiverId,
    Status,
    Document,
}

#[derive(DeriveIden)]
enum Feedback {
    Table,
    Id,
    EmployeeId,
    ReviewId,
    Document,
}

#[derive(DeriveIden)]
enum Closures {
    Table,
    Id,
    EmployeeId,
    Document,
}

#[derive(DeriveIden)]
enum EmployeeCounters {
    Table,
    EmployeeId,
    Reviews,
    Goals,
    Feedback,
    Pips,
}

#[derive(DeriveIden)]
enum RemindersSent {
    Table,
    Key,
    SentAt,
}

const ID_LEN: u32 = 36;
const EMPLOYEE_ID_LEN: u32 = 64;
const STATE_LEN: u32 = 32;

fn index(name: &str, table: impl IntoIden, columns: Vec<DynIden>) -> IndexCreateStatement {
    let mut statement = Index::create();
    statement.name(name).table(table);
    for column in columns {
        statement.col(column);
    }
    statement.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for PerformanceSchema {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Reviews::Table)
                    .col(string_len(Reviews::Id, ID_LEN).primary_key())
                    .col(string_len(Reviews::EmployeeId, EMPLOYEE_ID_LEN))
                    .col(string_len(Reviews::ManagerId, EMPLOYEE_ID_LEN))
                    .col(string_len(Reviews::Cycle, STATE_LEN))
                    .col(date(Reviews::PeriodStart))
                    .col(string_len(Reviews::State, STATE_LEN))
                    .col(date(Reviews::DueDate))
                    .col(text(Reviews::Document))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Goals::Table)
                    .col(string_len(Goals::Id, ID_LEN).primary_key())
                    .col(string_len(Goals::EmployeeId, EMPLOYEE_ID_LEN))
                    .col(string_len_null(Goals::ReviewId, ID_LEN))
                    .col(string_len(Goals::Status, STATE_LEN))
                    .col(integer(Goals::Weight))
                    .col(text(Goals::Document))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Pips::Table)
                    .col(string_len(Pips::Id, ID_LEN).primary_key())
                    .col(string_len(Pips::EmployeeId, EMPLOYEE_ID_LEN))
                    .col(string_len(Pips::Status, STATE_LEN))
                    .col(string_len_uniq(Pips::OpenedByRequestId, 128))
                    .col(date(Pips::StartDate))
                    .col(date(Pips::EndDate))
                    .col(text(Pips::Document))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(FeedbackRequests::Table)
                    .col(string_len(FeedbackRequests::Id, ID_LEN).primary_key())
                    .col(string_len(FeedbackRequests::EmployeeId, EMPLOYEE_ID_LEN))
                    .col(string_len(FeedbackRequests::GiverId, EMPLOYEE_ID_LEN))
                    .col(string_len(FeedbackRequests::Status, STATE_LEN))
                    .col(text(FeedbackRequests::Document))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Feedback::Table)
                    .col(string_len(Feedback::Id, ID_LEN).primary_key())
                    .col(string_len(Feedback::EmployeeId, EMPLOYEE_ID_LEN))
                    .col(string_len_null(Feedback::ReviewId, ID_LEN))
                    .col(text(Feedback::Document))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Closures::Table)
                    .col(string_len(Closures::Id, 128).primary_key())
                    .col(string_len(Closures::EmployeeId, EMPLOYEE_ID_LEN))
                    .col(text(Closures::Document))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(EmployeeCounters::Table)
                    .col(string_len(EmployeeCounters::EmployeeId, EMPLOYEE_ID_LEN).primary_key())
                    .col(integer(EmployeeCounters::Reviews))
                    .col(integer(EmployeeCounters::Goals))
                    .col(integer(EmployeeCounters::Feedback))
                    .col(integer(EmployeeCounters::Pips))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RemindersSent::Table)
                    .col(string_len(RemindersSent::Key, 200).primary_key())
                    .col(timestamp_with_time_zone(RemindersSent::SentAt))
                    .to_owned(),
            )
            .await?;

        let mut unique_period = index(
            "ux_reviews_employee_cycle_period",
            Reviews::Table,
            vec![
                Reviews::EmployeeId.into_iden(),
                Reviews::Cycle.into_iden(),
                Reviews::PeriodStart.into_iden(),
            ],
        );
        manager
            .create_index(unique_period.unique().to_owned())
            .await?;
        let indexes = [
            index(
                "idx_reviews_employee",
                Reviews::Table,
                vec![Reviews::EmployeeId.into_iden(), Reviews::Id.into_iden()],
            ),
            index(
                "idx_reviews_manager",
                Reviews::Table,
                vec![Reviews::ManagerId.into_iden(), Reviews::Id.into_iden()],
            ),
            index(
                "idx_reviews_due",
                Reviews::Table,
                vec![Reviews::DueDate.into_iden(), Reviews::State.into_iden()],
            ),
            index(
                "idx_goals_employee",
                Goals::Table,
                vec![Goals::EmployeeId.into_iden(), Goals::Id.into_iden()],
            ),
            index(
                "idx_goals_review",
                Goals::Table,
                vec![Goals::ReviewId.into_iden()],
            ),
            index(
                "idx_pips_employee",
                Pips::Table,
                vec![Pips::EmployeeId.into_iden(), Pips::Id.into_iden()],
            ),
            index(
                "idx_pips_status_end",
                Pips::Table,
                vec![Pips::Status.into_iden(), Pips::EndDate.into_iden()],
            ),
            index(
                "idx_feedback_requests_giver",
                FeedbackRequests::Table,
                vec![
                    FeedbackRequests::GiverId.into_iden(),
                    FeedbackRequests::Id.into_iden(),
                ],
            ),
            index(
                "idx_feedback_requests_employee",
                FeedbackRequests::Table,
                vec![FeedbackRequests::EmployeeId.into_iden()],
            ),
            index(
                "idx_feedback_employee",
                Feedback::Table,
                vec![Feedback::EmployeeId.into_iden(), Feedback::Id.into_iden()],
            ),
        ];
        for statement in indexes {
            manager.create_index(statement).await?;
        }
        // The database's own guard for "one active PIP per employee" (a partial index: the same
        // statement on SQLite and PostgreSQL).
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX ux_pips_one_active ON pips (employee_id) WHERE status = 'active'",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            RemindersSent::Table.into_iden(),
            EmployeeCounters::Table.into_iden(),
            Closures::Table.into_iden(),
            Feedback::Table.into_iden(),
            FeedbackRequests::Table.into_iden(),
            Pips::Table.into_iden(),
            Goals::Table.into_iden(),
            Reviews::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

/// Adds `retained_from` to every document table, indexed: when the record's retention period
/// started (none while it is in progress). Rows written before it get theirs when the store
/// opens (`retention::backfill`).
struct RetentionColumns;

/// The document tables, as the retention job names them.
pub(crate) const DOCUMENT_TABLES: [&str; 6] = [
    "reviews",
    "goals",
    "pips",
    "feedback_requests",
    "feedback",
    "closures",
];

impl MigrationName for RetentionColumns {
    fn name(&self) -> &str {
        "m20261204_000001_performance_retained_from"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for RetentionColumns {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in DOCUMENT_TABLES {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(table))
                        .add_column(timestamp_with_time_zone_null(Alias::new("retained_from")))
                        .to_owned(),
                )
                .await?;
            manager
                .create_index(
                    Index::create()
                        .name(format!("{table}_retained_from"))
                        .table(Alias::new(table))
                        .col(Alias::new("retained_from"))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in DOCUMENT_TABLES {
            manager
                .drop_index(
                    Index::drop()
                        .name(format!("{table}_retained_from"))
                        .table(Alias::new(table))
                        .to_owned(),
                )
                .await?;
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(table))
                        .drop_column(Alias::new("retained_from"))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
