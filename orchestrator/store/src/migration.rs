//! The saga log's schema.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(SagaLogSchema),
            Box::new(hrmesh_storage::audit::Migration),
            Box::new(hrmesh_storage::audit::OutcomeMigration),
            Box::new(hrmesh_storage::audit::OnBehalfOfMigration),
            Box::new(LogVersion),
            Box::new(hrmesh_storage::outbox::Migration),
            Box::new(hrmesh_storage::vault::Migration),
        ]
    }
}

struct SagaLogSchema;

impl MigrationName for SagaLogSchema {
    fn name(&self) -> &str {
        "m20261121_000004_saga_log"
    }
}

#[derive(DeriveIden)]
enum Sagas {
    Table,
    Id,
    SagaType,
    State,
    EmployeeId,
    LockMode,
    RequestId,
    Input,
    Reason,
    Events,
    Owner,
    LeaseUntil,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum SagaEvents {
    Table,
    SagaId,
    Seq,
    At,
    Event,
}

#[derive(DeriveIden)]
enum SagaEmployeeLocks {
    Table,
    EmployeeId,
    Starts,
}

#[async_trait::async_trait]
impl MigrationTrait for SagaLogSchema {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Sagas::Table)
                    .col(string_len(Sagas::Id, 36).primary_key())
                    .col(string_len(Sagas::SagaType, 32))
                    .col(string_len(Sagas::State, 16))
                    .col(string_len(Sagas::EmployeeId, 64))
                    .col(string_len(Sagas::LockMode, 16))
                    .col(string_len_uniq(Sagas::RequestId, 128))
                    .col(blob(Sagas::Input))
                    .col(text(Sagas::Reason))
                    .col(big_integer(Sagas::Events))
                    .col(string_len_null(Sagas::Owner, 64))
                    .col(timestamp_with_time_zone_null(Sagas::LeaseUntil))
                    .col(timestamp_with_time_zone(Sagas::CreatedAt))
                    .col(timestamp_with_time_zone(Sagas::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SagaEvents::Table)
                    .col(string_len(SagaEvents::SagaId, 36))
                    .col(big_integer(SagaEvents::Seq))
                    .col(timestamp_with_time_zone(SagaEvents::At))
                    .col(text(SagaEvents::Event))
                    .primary_key(Index::create().col(SagaEvents::SagaId).col(SagaEvents::Seq))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SagaEmployeeLocks::Table)
                    .col(string_len(SagaEmployeeLocks::EmployeeId, 64).primary_key())
                    .col(big_integer(SagaEmployeeLocks::Starts))
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            (
                "idx_sagas_state_lease",
                vec![Sagas::State, Sagas::LeaseUntil],
            ),
            (
                "idx_sagas_employee_state",
                vec![Sagas::EmployeeId, Sagas::State],
            ),
            ("idx_sagas_created", vec![Sagas::CreatedAt]),
        ] {
            let mut index = Index::create();
            index.name(name).table(Sagas::Table);
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            SagaEmployeeLocks::Table.into_iden(),
            SagaEvents::Table.into_iden(),
            Sagas::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

/// Records which encoding each saga's start is in (`hrmesh_saga_core::codec`):
/// sagas logged before this migration are version 1.
struct LogVersion;

impl MigrationName for LogVersion {
    fn name(&self) -> &str {
        "m20261201_000002_saga_log_version"
    }
}

#[derive(DeriveIden)]
enum SagasVersion {
    #[sea_orm(iden = "sagas")]
    Table,
    LogVersion,
}

#[async_trait::async_trait]
impl MigrationTrait for LogVersion {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(SagasVersion::Table)
                    .add_column(integer(SagasVersion::LogVersion).default(1))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(SagasVersion::Table)
                    .drop_column(SagasVersion::LogVersion)
                    .to_owned(),
            )
            .await
    }
}
