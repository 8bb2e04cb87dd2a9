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
