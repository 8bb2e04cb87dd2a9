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

/// Whether `text` names `id` as a word of its own: a random record id that happens to contain
/// the characters of an employee id (`…-a01e-1…` holds `e-1`) does not count.
pub fn names(text: &str, id: &str) -> bool {
    text.split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_'))
        .any(|word| word == id)
}

/// The HS256 key every server and token of this test process shares, in a temporary directory
/// kept until the process ends.
pub fn dev_key_file() -> &'static std::path::Path {
    static KEY: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let dir = tempfile::tempdir()
            .expect("create a temporary directory")
            .keep();
        let file = dir.join("dev-hs256.key");
        crate::auth::ensure_dev_key(&file).expect("write the test signing key");
        file
    })
}

/// Makes a server verify tokens signed with [`dev_key_file`] (its audience stays its own).
pub fn secure(common: &mut crate::config::CommonConfig) {
    common.auth.hs256_key_file = Some(dev_key_file().to_path_buf());
}

/// Makes a service identity sign with [`dev_key_file`].
pub fn sign(identity: &mut crate::auth::IdentityConfig) {
    identity.hs256_key_file = Some(dev_key_file().to_path_buf());
}

/// The claims of a test token good for every service for an hour.
pub fn claims(
    subject: &str,
    actor: crate::auth::ActorType,
    permissions: &[&str],
) -> crate::auth::Claims {
    let now = crate::auth::now_secs();
    crate::auth::Claims {
        iss: crate::auth::DEFAULT_ISSUER.to_owned(),
        sub: subject.to_owned(),
        aud: crate::auth::SERVICES
            .iter()
            .map(|service| crate::config::audience(service))
            .collect(),
        exp: now + 3600,
        iat: now,
        act: actor,
        perms: permissions.iter().map(|perm| (*perm).to_owned()).collect(),
        manages: Vec::new(),
    }
}

/// Signs `claims` with [`dev_key_file`].
pub fn mint(claims: &crate::auth::Claims) -> crate::auth::TokenSource {
    let secret = std::fs::read(dev_key_file()).expect("read the test signing key");
    let jwt = crate::auth::Minter::hs256(secret.trim_ascii())
        .mint(claims)
        .expect("sign a test token");
    crate::auth::TokenSource::fixed(jwt)
}

/// An admin holding every permission.
pub fn admin_token() -> crate::auth::TokenSource {
    mint(&claims(
        "test-admin",
        crate::auth::ActorType::Admin,
        crate::auth::ALL_PERMISSIONS,
    ))
}

/// A lazily connecting channel to `url` calling as [`admin_token`].
pub fn admin_channel(url: &str) -> crate::client::MeshChannel {
    admin_channel_over(url, &crate::tls::TlsConfig::default())
}

/// [`admin_channel`] with TLS settings for `https://` URLs.
pub fn admin_channel_over(url: &str, tls: &crate::tls::TlsConfig) -> crate::client::MeshChannel {
    crate::client::MeshChannel::lazy(url, tls, Some(admin_token())).expect("a valid URL")
}

/// Panics unless every method of `service` (e.g. `hrmesh.ledger.v1.LedgerService`) in the
/// descriptor set has a permission in `table`, and the table names no other method.
pub fn assert_every_method_guarded(
    descriptor_set: &[u8],
    service: &str,
    table: &[(&'static str, &'static str)],
) {
    use prost::Message;
    let set = prost_types::FileDescriptorSet::decode(descriptor_set).expect("a descriptor set");
    let (package, name) = service.rsplit_once('.').expect("a full service name");
    let methods: std::collections::BTreeSet<String> = set
        .file
        .iter()
        .filter(|file| file.package() == package)
        .flat_map(|file| file.service.iter())
        .filter(|candidate| candidate.name() == name)
        .flat_map(|found| found.method.iter())
        .map(|method| format!("/{service}/{}", method.name()))
        .collect();
    assert!(
        !methods.is_empty(),
        "{service} is not in the descriptor set"
    );
    let guarded: std::collections::BTreeSet<String> =
        table.iter().map(|(path, _)| (*path).to_owned()).collect();
    assert_eq!(
        methods, guarded,
        "methods of {service} vs the permission table"
    );
}
