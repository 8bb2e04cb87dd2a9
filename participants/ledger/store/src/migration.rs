//! The ledger's schema. Append-only is enforced by the database itself: triggers refuse UPDATE and
//! DELETE on entries (and on policies and assignments, which are immutable too).

use sea_orm::DbBackend;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(hrmesh_storage::inbox::Migration),
            Box::new(LedgerSchema),
            Box::new(hrmesh_storage::audit::Migration),
            Box::new(hrmesh_storage::audit::OutcomeMigration),
            Box::new(hrmesh_storage::audit::OnBehalfOfMigration),
            Box::new(AccrualSchema),
            Box::new(hrmesh_storage::outbox::Migration),
            Box::new(hrmesh_storage::vault::Migration),
            Box::new(ArchiveReleases),
        ]
    }
}

struct LedgerSchema;

impl MigrationName for LedgerSchema {
    fn name(&self) -> &str {
        "m20261121_000002_ledger_schema"
    }
}

#[derive(DeriveIden)]
enum Policies {
    Table,
    PolicyId,
    ResourceType,
    Unit,
    AccrualFrequency,
    AccrualAmount,
    AllowNegative,
    CarryOverCap,
    FullDay,
    CountWeekends,
    RequestId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Assignments {
    Table,
    AssignmentId,
    EmployeeId,
    PolicyId,
    EffectiveFrom,
    EffectiveTo,
    RequestId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Accounts {
    Table,
    AccountId,
    EmployeeId,
    PolicyId,
    ResourceType,
    Accrued,
    Consumed,
    Pending,
    Adjustments,
    Version,
}

#[derive(DeriveIden)]
enum Entries {
    Table,
    EntryId,
    AccountId,
    EmployeeId,
    PolicyId,
    ResourceType,
    Kind,
    Amount,
    AccruedDelta,
    ConsumedDelta,
    PendingDelta,
    AdjustmentsDelta,
    EffectiveDate,
    HoldId,
    ReversesEntryId,
    Reason,
    Reference,
    RequestId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Holds {
    Table,
    HoldId,
    AccountId,
    EmployeeId,
    PolicyId,
    ResourceType,
    State,
    Total,
    Reference,
    Reason,
    RequestId,
    CreatedAt,
    ExpiresAt,
    ResolvedAt,
}

#[derive(DeriveIden)]
enum DayClaims {
    Table,
    EmployeeId,
    ResourceType,
    Day,
    HoldId,
}

#[derive(DeriveIden)]
enum BalanceSnapshots {
    Table,
    AccountId,
    MonthStart,
    Accrued,
    Consumed,
    Pending,
    Adjustments,
}

/// Tables whose rows are never updated or deleted.
const IMMUTABLE_TABLES: [&str; 3] = ["entries", "policies", "assignments"];

#[async_trait::async_trait]
impl MigrationTrait for LedgerSchema {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Policies::Table)
                    .col(string_len(Policies::PolicyId, 63).primary_key())
                    .col(string_len(Policies::ResourceType, 32))
                    .col(string_len(Policies::Unit, 16))
                    .col(string_len(Policies::AccrualFrequency, 16))
                    .col(big_integer(Policies::AccrualAmount))
                    .col(boolean(Policies::AllowNegative))
                    .col(big_integer_null(Policies::CarryOverCap))
                    .col(big_integer(Policies::FullDay))
                    .col(boolean(Policies::CountWeekends))
                    .col(string_len(Policies::RequestId, 128))
                    .col(timestamp_with_time_zone(Policies::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Assignments::Table)
                    .col(string_len(Assignments::AssignmentId, 36).primary_key())
                    .col(string_len(Assignments::EmployeeId, 64))
                    .col(string_len(Assignments::PolicyId, 63))
                    .col(date(Assignments::EffectiveFrom))
                    .col(date_null(Assignments::EffectiveTo))
                    .col(string_len(Assignments::RequestId, 128))
                    .col(timestamp_with_time_zone(Assignments::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Assignments::Table, Assignments::PolicyId)
                            .to(Policies::Table, Policies::PolicyId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_assignments_employee_policy")
                    .table(Assignments::Table)
                    .col(Assignments::EmployeeId)
                    .col(Assignments::PolicyId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Accounts::Table)
                    .col(big_pk_auto(Accounts::AccountId))
                    .col(string_len(Accounts::EmployeeId, 64))
                    .col(string_len(Accounts::PolicyId, 63))
                    .col(string_len(Accounts::ResourceType, 32))
                    .col(big_integer(Accounts::Accrued))
                    .col(big_integer(Accounts::Consumed))
                    .col(big_integer(Accounts::Pending))
                    .col(big_integer(Accounts::Adjustments))
                    .col(big_integer(Accounts::Version))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uniq_accounts_employee_policy")
                    .table(Accounts::Table)
                    .col(Accounts::EmployeeId)
                    .col(Accounts::PolicyId)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Entries::Table)
                    .col(big_pk_auto(Entries::EntryId))
                    .col(big_integer(Entries::AccountId))
                    .col(string_len(Entries::EmployeeId, 64))
                    .col(string_len(Entries::PolicyId, 63))
                    .col(string_len(Entries::ResourceType, 32))
                    .col(string_len(Entries::Kind, 16))
                    .col(big_integer(Entries::Amount))
                    .col(big_integer(Entries::AccruedDelta))
                    .col(big_integer(Entries::ConsumedDelta))
                    .col(big_integer(Entries::PendingDelta))
                    .col(big_integer(Entries::AdjustmentsDelta))
                    .col(date(Entries::EffectiveDate))
                    .col(string_len_null(Entries::HoldId, 36))
                    .col(big_integer_null(Entries::ReversesEntryId))
                    .col(text(Entries::Reason))
                    .col(string_len(Entries::Reference, 128))
                    .col(string_len(Entries::RequestId, 128))
                    .col(timestamp_with_time_zone(Entries::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Entries::Table, Entries::AccountId)
                            .to(Accounts::Table, Accounts::AccountId),
                    )
                    .to_owned(),
            )
            .await?;
        let entry_indexes = [
            // Balance as of a date: one account's entries in a date range.
            (
                "idx_entries_account_date",
                vec![Entries::AccountId, Entries::EffectiveDate],
            ),
            // Listing an employee's entries in order.
            (
                "idx_entries_employee_id",
                vec![Entries::EmployeeId, Entries::EntryId],
            ),
            // A hold's days.
            ("idx_entries_hold", vec![Entries::HoldId]),
        ];
        for (name, columns) in entry_indexes {
            let mut index = Index::create();
            index.name(name).table(Entries::Table);
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        // An entry is reversed at most once (NULLs, for entries that reverse nothing, are distinct).
        manager
            .create_index(
                Index::create()
                    .name("uniq_entries_reverses")
                    .table(Entries::Table)
                    .col(Entries::ReversesEntryId)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Holds::Table)
                    .col(string_len(Holds::HoldId, 36).primary_key())
                    .col(big_integer(Holds::AccountId))
                    .col(string_len(Holds::EmployeeId, 64))
                    .col(string_len(Holds::PolicyId, 63))
                    .col(string_len(Holds::ResourceType, 32))
                    .col(string_len(Holds::State, 16))
                    .col(big_integer(Holds::Total))
                    .col(string_len(Holds::Reference, 128))
                    .col(text(Holds::Reason))
                    .col(string_len(Holds::RequestId, 128))
                    .col(timestamp_with_time_zone(Holds::CreatedAt))
                    .col(timestamp_with_time_zone(Holds::ExpiresAt))
                    .col(timestamp_with_time_zone_null(Holds::ResolvedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Holds::Table, Holds::AccountId)
                            .to(Accounts::Table, Accounts::AccountId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_holds_state_expiry")
                    .table(Holds::Table)
                    .col(Holds::State)
                    .col(Holds::ExpiresAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(DayClaims::Table)
                    .col(string_len(DayClaims::EmployeeId, 64))
                    .col(string_len(DayClaims::ResourceType, 32))
                    .col(date(DayClaims::Day))
                    .col(string_len(DayClaims::HoldId, 36))
                    .primary_key(
                        Index::create()
                            .col(DayClaims::EmployeeId)
                            .col(DayClaims::ResourceType)
                            .col(DayClaims::Day),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_day_claims_hold")
                    .table(DayClaims::Table)
                    .col(DayClaims::HoldId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(BalanceSnapshots::Table)
                    .col(big_integer(BalanceSnapshots::AccountId))
                    .col(date(BalanceSnapshots::MonthStart))
                    .col(big_integer(BalanceSnapshots::Accrued))
                    .col(big_integer(BalanceSnapshots::Consumed))
                    .col(big_integer(BalanceSnapshots::Pending))
                    .col(big_integer(BalanceSnapshots::Adjustments))
                    .primary_key(
                        Index::create()
                            .col(BalanceSnapshots::AccountId)
                            .col(BalanceSnapshots::MonthStart),
                    )
                    .to_owned(),
            )
            .await?;

        let connection = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                connection
                    .execute_unprepared(
                        "CREATE FUNCTION hrmesh_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
                         BEGIN
                           RAISE EXCEPTION 'table % is append-only: % refused', TG_TABLE_NAME, TG_OP
                             USING ERRCODE = 'restrict_violation';
                         END $$",
                    )
                    .await?;
                for table in IMMUTABLE_TABLES {
                    connection
                        .execute_unprepared(&format!(
                            "CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
                             FOR EACH ROW EXECUTE FUNCTION hrmesh_refuse_change();
                             CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
                             FOR EACH STATEMENT EXECUTE FUNCTION hrmesh_refuse_change();"
                        ))
                        .await?;
                }
            }
            DbBackend::Sqlite => {
                for table in IMMUTABLE_TABLES {
                    for operation in ["UPDATE", "DELETE"] {
                        connection
                            .execute_unprepared(&format!(
                                "CREATE TRIGGER {table}_no_{op} BEFORE {operation} ON {table}
                                 BEGIN SELECT RAISE(ABORT, 'table {table} is append-only: {operation} refused'); END;",
                                op = operation.to_lowercase()
                            ))
                            .await?;
                    }
                }
            }
            other => {
                return Err(DbErr::Migration(format!(
                    "unsupported database backend {other:?}"
                )));
            }
        }
        Ok(())
    }
}

/// Accrual runs, carry-over, freezes and assignment ends: the policy's maximum balance and year
/// start, each entry's period (unique per account and kind: one accrual per period, one expiry per
/// policy year), each account's accrual watermark, the freezes, the record of ended assignments,
/// and an assignment whose end alone may change.
struct AccrualSchema;

impl MigrationName for AccrualSchema {
    fn name(&self) -> &str {
        "m20261202_000001_ledger_accruals"
    }
}

#[derive(DeriveIden)]
enum AccrualFreezes {
    Table,
    FreezeId,
    AccountId,
    EmployeeId,
    PolicyId,
    StartDate,
    EndDate,
    LiftedFrom,
    Reason,
    Reference,
    RequestId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AssignmentEndings {
    Table,
    RequestId,
    AssignmentId,
    PreviousTo,
    EndedTo,
}

#[derive(DeriveIden)]
enum AccrualColumns {
    AccrualMaxBalance,
    YearStartMonth,
    PeriodStart,
    PeriodEnd,
    AccruedThrough,
    ExpiryNotifiedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for AccrualSchema {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per ALTER: SQLite takes no more.
        let additions = [
            (
                Policies::Table.into_iden(),
                big_integer_null(AccrualColumns::AccrualMaxBalance),
            ),
            (
                Policies::Table.into_iden(),
                integer(AccrualColumns::YearStartMonth)
                    .default(1)
                    .to_owned(),
            ),
            (
                Entries::Table.into_iden(),
                date_null(AccrualColumns::PeriodStart),
            ),
            (
                Entries::Table.into_iden(),
                date_null(AccrualColumns::PeriodEnd),
            ),
            (
                Accounts::Table.into_iden(),
                date_null(AccrualColumns::AccruedThrough),
            ),
            (
                Holds::Table.into_iden(),
                timestamp_with_time_zone_null(AccrualColumns::ExpiryNotifiedAt),
            ),
        ];
        for (table, mut column) in additions {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        // One scheduled accrual per account and period, one expiry per account and policy year
        // (entries without a period, NULL, are distinct).
        manager
            .create_index(
                Index::create()
                    .name("uniq_entries_period")
                    .table(Entries::Table)
                    .col(Entries::AccountId)
                    .col(Entries::Kind)
                    .col(AccrualColumns::PeriodStart)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // Accounts an accrual run has yet to bring up to a day.
        manager
            .create_index(
                Index::create()
                    .name("idx_accounts_accrued_through")
                    .table(Accounts::Table)
                    .col(AccrualColumns::AccruedThrough)
                    .to_owned(),
            )
            .await?;
        // Expired holds whose employee is still to be told.
        manager
            .create_index(
                Index::create()
                    .name("idx_holds_expiry_notified")
                    .table(Holds::Table)
                    .col(Holds::State)
                    .col(AccrualColumns::ExpiryNotifiedAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AccrualFreezes::Table)
                    .col(string_len(AccrualFreezes::FreezeId, 36).primary_key())
                    .col(big_integer(AccrualFreezes::AccountId))
                    .col(string_len(AccrualFreezes::EmployeeId, 64))
                    .col(string_len(AccrualFreezes::PolicyId, 63))
                    .col(date(AccrualFreezes::StartDate))
                    .col(date(AccrualFreezes::EndDate))
                    .col(date_null(AccrualFreezes::LiftedFrom))
                    .col(text(AccrualFreezes::Reason))
                    .col(string_len(AccrualFreezes::Reference, 128))
                    .col(string_len(AccrualFreezes::RequestId, 128))
                    .col(timestamp_with_time_zone(AccrualFreezes::CreatedAt))
                    .col(timestamp_with_time_zone(AccrualFreezes::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(AccrualFreezes::Table, AccrualFreezes::AccountId)
                            .to(Accounts::Table, Accounts::AccountId),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("idx_freezes_account", AccrualFreezes::AccountId),
            ("idx_freezes_employee", AccrualFreezes::EmployeeId),
            ("idx_freezes_request", AccrualFreezes::RequestId),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(AccrualFreezes::Table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(AssignmentEndings::Table)
                    .col(string_len(AssignmentEndings::RequestId, 128))
                    .col(string_len(AssignmentEndings::AssignmentId, 36))
                    .col(date_null(AssignmentEndings::PreviousTo))
                    .col(date(AssignmentEndings::EndedTo))
                    .primary_key(
                        Index::create()
                            .col(AssignmentEndings::RequestId)
                            .col(AssignmentEndings::AssignmentId),
                    )
                    .to_owned(),
            )
            .await?;

        let connection = manager.get_connection();
        // Accounts that exist already accrue from the upgrade on: their earlier periods were
        // handled by whoever appended accruals before the ledger ran them (a manual first accrual,
        // a payroll import), and are not accrued a second time.
        let today = match manager.get_database_backend() {
            DbBackend::Postgres => "CURRENT_DATE",
            _ => "date('now')",
        };
        connection
            .execute_unprepared(&format!("UPDATE accounts SET accrued_through = {today}"))
            .await?;
        // Holds that expired before employees were told are not announced long after the fact.
        connection
            .execute_unprepared(
                "UPDATE holds SET expiry_notified_at = resolved_at WHERE state = 'expired'",
            )
            .await?;
        // Assignments stay immutable except for their end.
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                connection
                    .execute_unprepared(
                        // "carry_over_expiry" is longer than the kinds before it.
                        "ALTER TABLE entries ALTER COLUMN kind TYPE varchar(32);
                         DROP TRIGGER assignments_append_only ON assignments;
                         CREATE TRIGGER assignments_no_delete BEFORE DELETE ON assignments
                           FOR EACH ROW EXECUTE FUNCTION hrmesh_refuse_change();
                         CREATE FUNCTION hrmesh_assignment_end_only() RETURNS trigger
                         LANGUAGE plpgsql AS $$
                         BEGIN
                           IF NEW.assignment_id IS DISTINCT FROM OLD.assignment_id
                              OR NEW.employee_id IS DISTINCT FROM OLD.employee_id
                              OR NEW.policy_id IS DISTINCT FROM OLD.policy_id
                              OR NEW.effective_from IS DISTINCT FROM OLD.effective_from
                              OR NEW.request_id IS DISTINCT FROM OLD.request_id
                              OR NEW.created_at IS DISTINCT FROM OLD.created_at THEN
                             RAISE EXCEPTION 'assignments change only their end: UPDATE refused'
                               USING ERRCODE = 'restrict_violation';
                           END IF;
                           RETURN NEW;
                         END $$;
                         CREATE TRIGGER assignments_end_only BEFORE UPDATE ON assignments
                           FOR EACH ROW EXECUTE FUNCTION hrmesh_assignment_end_only();",
                    )
                    .await?;
            }
            DbBackend::Sqlite => {
                connection
                    .execute_unprepared(
                        "DROP TRIGGER assignments_no_update;
                         CREATE TRIGGER assignments_end_only BEFORE UPDATE ON assignments
                         WHEN NEW.assignment_id IS NOT OLD.assignment_id
                           OR NEW.employee_id IS NOT OLD.employee_id
                           OR NEW.policy_id IS NOT OLD.policy_id
                           OR NEW.effective_from IS NOT OLD.effective_from
                           OR NEW.request_id IS NOT OLD.request_id
                           OR NEW.created_at IS NOT OLD.created_at
                         BEGIN SELECT RAISE(ABORT, 'assignments change only their end: UPDATE refused'); END;",
                    )
                    .await?;
            }
            other => {
                return Err(DbErr::Migration(format!(
                    "unsupported database backend {other:?}"
                )));
            }
        }
        Ok(())
    }
}

/// The one way out of the append-only tables: a former employee's entries and assignments may
/// be deleted only while their id is in `archive_releases`, which the retention job inserts and
/// deletes again inside the transaction that removes the ledger it archived. No row of it is
/// ever committed, so for every other writer the tables stay append-only.
struct ArchiveReleases;

impl MigrationName for ArchiveReleases {
    fn name(&self) -> &str {
        "m20261204_000001_ledger_archive_releases"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for ArchiveReleases {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let connection = manager.get_connection();
        connection
            .execute_unprepared(
                "CREATE TABLE archive_releases (employee_id varchar(64) NOT NULL PRIMARY KEY)",
            )
            .await?;
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                connection
                    .execute_unprepared(
                        "CREATE FUNCTION hrmesh_refuse_unreleased_delete() RETURNS trigger
                         LANGUAGE plpgsql AS $$
                         BEGIN
                           IF NOT EXISTS (SELECT 1 FROM archive_releases r
                                          WHERE r.employee_id = OLD.employee_id) THEN
                             RAISE EXCEPTION 'table % is append-only: % refused', TG_TABLE_NAME, TG_OP
                               USING ERRCODE = 'restrict_violation';
                           END IF;
                           RETURN OLD;
                         END $$;
                         DROP TRIGGER entries_append_only ON entries;
                         CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries
                           FOR EACH ROW EXECUTE FUNCTION hrmesh_refuse_change();
                         CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries
                           FOR EACH ROW EXECUTE FUNCTION hrmesh_refuse_unreleased_delete();
                         DROP TRIGGER assignments_no_delete ON assignments;
                         CREATE TRIGGER assignments_no_delete BEFORE DELETE ON assignments
                           FOR EACH ROW EXECUTE FUNCTION hrmesh_refuse_unreleased_delete();",
                    )
                    .await?;
            }
            DbBackend::Sqlite => {
                for table in ["entries", "assignments"] {
                    connection
                        .execute_unprepared(&format!(
                            "DROP TRIGGER {table}_no_delete;
                             CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
                             WHEN NOT EXISTS (SELECT 1 FROM archive_releases r
                                              WHERE r.employee_id = OLD.employee_id)
                             BEGIN SELECT RAISE(ABORT, 'table {table} is append-only: DELETE refused'); END;"
                        ))
                        .await?;
                }
            }
            other => {
                return Err(DbErr::Migration(format!(
                    "unsupported database backend {other:?}"
                )));
            }
        }
        Ok(())
    }
}
