//! Test support: a fresh database per test, on SQLite or on the PostgreSQL cluster the test command
//! started (`HRMESH_TEST_POSTGRES_URL`, a server URL without a database name).

use sea_orm::{ConnectionTrait, DatabaseConnection};

/// The environment variable naming the PostgreSQL server tests create their databases on.
pub const POSTGRES_URL_VAR: &str = "HRMESH_TEST_POSTGRES_URL";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database that exists for one test.
pub struct TestDatabase {
    pub url: String,
    pub backend: Backend,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => Self::sqlite(),
            Backend::Postgres => Self::postgres().await,
        }
    }

    /// A SQLite file in a fresh temporary directory.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let url = crate::db::sqlite_url(&dir.path().join("test.sqlite"));
        Self {
            url,
            backend: Backend::Sqlite,
            _dir: Some(dir),
        }
    }

    /// A new, empty database with a random name on the test PostgreSQL server.
    ///
    /// Panics when `HRMESH_TEST_POSTGRES_URL` is unset: the PostgreSQL suites must run, never
    /// silently pass. The README's test command starts a throwaway cluster and sets it.
    pub async fn postgres() -> Self {
        let server = std::env::var(POSTGRES_URL_VAR).unwrap_or_else(|_| {
            panic!(
                "{POSTGRES_URL_VAR} is not set: run the tests with `bash .ci/run`, which starts a \
                 throwaway PostgreSQL cluster, or point it at a server you own \
                 (e.g. postgres://user@127.0.0.1:5432)"
            )
        });
        let server = server.trim_end_matches('/');
        let name = format!("test_{}", uuid::Uuid::now_v7().simple());
        let admin = crate::db::connect(&format!("{server}/postgres"))
            .await
            .expect("connect to the test PostgreSQL server");
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("create a test database");
        admin.close().await.expect("close the admin connection");
        Self {
            url: format!("{server}/{name}"),
            backend: Backend::Postgres,
            _dir: None,
        }
    }

    pub async fn connect(&self) -> DatabaseConnection {
        crate::db::connect(&self.url)
            .await
            .expect("connect to the test database")
    }
}

/// Generates, for each named `async fn name(backend: Backend)` in scope, one test on SQLite and
/// one on PostgreSQL (modules `sqlite` and `postgres`), each on a two-worker runtime so concurrent
/// tasks really run concurrently.
#[macro_export]
macro_rules! test_on_every_backend {
    (@backend $module:ident $backend:ident; $($name:ident),*) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::testing::Backend::$backend).await;
                }
            )*
        }
    };
    ($($name:ident),* $(,)?) => {
        $crate::test_on_every_backend!(@backend sqlite Sqlite; $($name),*);
        $crate::test_on_every_backend!(@backend postgres Postgres; $($name),*);
    };
}

/// The development keyring every store of this test process shares (replicas on one database
/// must read each other's data keys).
pub fn keyring_text() -> &'static str {
    static KEYRING: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    KEYRING.get_or_init(hrmesh_crypto::development_keyring)
}

/// [`keyring_text`], read.
pub fn keyring() -> std::sync::Arc<hrmesh_crypto::Keyring> {
    std::sync::Arc::new(
        hrmesh_crypto::Keyring::from_toml(keyring_text()).expect("the test keyring"),
    )
}

/// Every file under `dir` (an archive the retention job wrote), by its path under `dir`, with its
/// bytes: what a second run must leave as it is.
pub fn archive_files(dir: &std::path::Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut found = std::collections::BTreeMap::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("read the archive") {
            let path = entry.expect("an entry of the archive").path();
            if path.is_dir() {
                folders.push(path);
            } else {
                let name = path
                    .strip_prefix(dir)
                    .expect("under the archive")
                    .display()
                    .to_string();
                found.insert(name, std::fs::read(&path).expect("read an archive file"));
            }
        }
    }
    found
}

/// Everything a database holds, as bytes ([`stored`]).
pub struct Stored(pub Vec<u8>);

impl Stored {
    /// Whether `text` is anywhere in it.
    pub fn contains(&self, text: &str) -> bool {
        self.0
            .windows(text.len())
            .any(|window| window == text.as_bytes())
    }
}

/// What the database at `url` holds: the bytes of the SQLite file and its write-ahead log, or
/// every row of every table of the PostgreSQL database as JSON.
pub async fn stored(backend: Backend, url: &str) -> Stored {
    let bytes = match backend {
        Backend::Sqlite => {
            let file = url
                .strip_prefix("sqlite://")
                .and_then(|rest| rest.split('?').next())
                .expect("a SQLite file URL");
            let mut bytes = std::fs::read(file).expect("read the database file");
            if let Ok(wal) = std::fs::read(format!("{file}-wal")) {
                bytes.extend(wal);
            }
            bytes
        }
        Backend::Postgres => {
            let db = crate::db::connect(url)
                .await
                .expect("connect to the test database");
            let backend = db.get_database_backend();
            let tables = db
                .query_all_raw(sea_orm::Statement::from_string(
                    backend,
                    "SELECT table_name::text AS name FROM information_schema.tables \
                     WHERE table_schema = 'public'",
                ))
                .await
                .expect("list tables");
            let mut bytes = Vec::new();
            for table in tables {
                let name: String = table.try_get("", "name").expect("a table name");
                let rows = db
                    .query_all_raw(sea_orm::Statement::from_string(
                        backend,
                        format!("SELECT row_to_json(t)::text AS row FROM \"{name}\" t"),
                    ))
                    .await
                    .expect("read a table");
                for row in rows {
                    let text: String = row.try_get("", "row").expect("a row");
                    bytes.extend(text.into_bytes());
                }
            }
            bytes
        }
    };
    Stored(bytes)
}
