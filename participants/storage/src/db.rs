//! Database connections: SQLite (the embedded default) and PostgreSQL, chosen by URL.

use std::path::Path;
use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr, RuntimeErr, SqlErr};

/// The URL of a SQLite database file, created if missing.
pub fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

/// Connects to `url`, creating the parent directory of a SQLite file first.
///
/// SQLite runs in WAL mode with `synchronous = FULL` (a committed transaction survives a power cut)
/// and foreign keys on, through **one** pooled connection: SQLite admits one writer at a time
/// anyway, and queueing in the pool is first-come first-served, where SQLite's busy handler makes
/// waiting writers sleep in growing steps. Measured with 8 concurrent holds: the same throughput,
/// p99 21 ms instead of 131 ms. Code must therefore never hold a transaction while acquiring
/// another connection.
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .sqlx_logging(false)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30));
    if let Some(path) = url.strip_prefix("sqlite://") {
        let path = path.split('?').next().unwrap_or_default();
        if let Some(parent) = Path::new(path)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent).map_err(|err| {
                DbErr::Custom(format!("cannot create {}: {err}", parent.display()))
            })?;
        }
        options.max_connections(1).map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(30))
        });
    } else {
        options.max_connections(32);
    }
    Database::connect(options).await
}

/// Connects to `url` and brings the schema of migrator `M` up to date.
pub async fn open<M: sea_orm_migration::MigratorTrait>(
    url: &str,
) -> Result<DatabaseConnection, DbErr> {
    let db = connect(url).await?;
    M::up(&db, None).await?;
    Ok(db)
}

/// Whether a failed statement may succeed when the whole transaction is retried: a lost
/// connection, a deadlock, a serialization failure or a busy SQLite database.
pub fn is_transient(err: &DbErr) -> bool {
    match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(sqlx)) | DbErr::Query(RuntimeErr::SqlxError(sqlx)) => {
            match sqlx.as_database_error().and_then(|db| db.code()) {
                // PostgreSQL: serialization_failure, deadlock_detected, lock timeouts.
                Some(code) if matches!(code.as_ref(), "40001" | "40P01" | "55P03") => true,
                // SQLite: SQLITE_BUSY and SQLITE_LOCKED (and their extended codes).
                Some(code) => {
                    matches!(code.parse::<i32>(), Ok(c) if c & 0xff == 5 || c & 0xff == 6)
                }
                None => matches!(
                    sqlx.as_ref(),
                    sea_orm::sqlx::Error::Io(_) | sea_orm::sqlx::Error::PoolTimedOut
                ),
            }
        }
        _ => false,
    }
}

/// Whether the error is a unique-constraint violation.
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// A database URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            super::redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(
            super::redact("sqlite://.data/ledger.sqlite?mode=rwc"),
            "sqlite://.data/ledger.sqlite?mode=rwc"
        );
    }
}
