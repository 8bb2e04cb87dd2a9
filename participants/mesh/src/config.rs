//! Layered configuration: built-in defaults, then an optional TOML file, then environment
//! variables (`HRMESH_<SERVICE>_<FIELD>`, nested fields joined by `__`), then command-line flags
//! (applied by the caller on the result).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::auth::AuthConfig;
use crate::crypto::CryptoConfig;
use crate::events::EventsConfig;
use crate::retention::RetentionConfig;
use crate::tls::TlsConfig;

/// What every service's configuration has in common.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommonConfig {
    /// Address the gRPC (and grpc-web) server listens on.
    pub listen: SocketAddr,
    /// Directory of the embedded SQLite database, used when `database_url` is not set.
    pub data_dir: PathBuf,
    /// A `postgres://` or `sqlite://` URL; overrides `data_dir`.
    pub database_url: Option<String>,
    /// Browser origins allowed to call over grpc-web (CORS). Empty allows none.
    pub cors_allowed_origins: Vec<String>,
    /// How callers' tokens are verified (the `[auth]` table).
    pub auth: AuthConfig,
    /// TLS for this server and the services it calls (the `[tls]` table); plaintext by default.
    pub tls: TlsConfig,
    /// Integration events: the broker and retention (the `[events]` table).
    pub events: EventsConfig,
    /// The keyring that seals personal data (the `[crypto]` table).
    pub crypto: CryptoConfig,
    /// Archiving and removing records past their retention period (the `[retention]` table).
    pub retention: RetentionConfig,
}

impl CommonConfig {
    /// The defaults of service `service` (its token audience is `hrmesh-<service>`).
    pub fn new(service: &str, port: u16) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], port)),
            data_dir: PathBuf::from(".data"),
            database_url: None,
            cors_allowed_origins: Vec::new(),
            auth: AuthConfig::for_audience(&audience(service)),
            tls: TlsConfig::default(),
            events: EventsConfig::default(),
            crypto: CryptoConfig::default(),
            retention: RetentionConfig::default(),
        }
    }

    /// The keyring: as configured, or (on an embedded database) the development keyring beside
    /// the database file.
    pub fn keyring(&self) -> anyhow::Result<std::sync::Arc<hrmesh_crypto::Keyring>> {
        self.crypto.keyring(self.embedded_data_dir().as_deref())
    }

    /// The directory of the embedded database (SQLite), none on a server database.
    pub fn embedded_data_dir(&self) -> Option<PathBuf> {
        match &self.database_url {
            None => Some(self.data_dir.clone()),
            Some(url) => url
                .strip_prefix("sqlite://")
                .map(|rest| rest.split('?').next().unwrap_or_default())
                .and_then(|file| Path::new(file).parent().map(Path::to_path_buf)),
        }
    }

    /// The database to use: `database_url` if set, otherwise `<data_dir>/<file_stem>.sqlite`.
    pub fn database_url(&self, file_stem: &str) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => {
                hrmesh_storage::db::sqlite_url(&self.data_dir.join(format!("{file_stem}.sqlite")))
            }
        }
    }
}

/// The token audience of service `service`.
pub fn audience(service: &str) -> String {
    format!("hrmesh-{service}")
}

/// Loads `T` from its defaults, then `file` (if given), then the environment under `env_prefix`.
pub fn load<T>(defaults: T, file: Option<&Path>, env_prefix: &str) -> anyhow::Result<T>
where
    T: Serialize + for<'de> Deserialize<'de>,
{
    let mut figment = Figment::from(Serialized::defaults(defaults));
    if let Some(file) = file {
        if !file.exists() {
            anyhow::bail!("configuration file {} does not exist", file.display());
        }
        figment = figment.merge(Toml::file(file));
    }
    let config = figment
        .merge(Env::prefixed(env_prefix).split("__"))
        .extract()?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_overrides_defaults_and_keeps_what_it_does_not_name() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("ledger.toml");
        std::fs::write(&file, "listen = \"0.0.0.0:6000\"\n")?;
        let config = load(
            CommonConfig::new("ledger", 50052),
            Some(&file),
            "HRMESH_TEST_UNUSED_PREFIX_",
        )?;
        assert_eq!(config.listen, "0.0.0.0:6000".parse()?);
        assert_eq!(config.data_dir, PathBuf::from(".data"));
        Ok(())
    }

    #[test]
    fn a_missing_file_is_an_error_not_a_silent_default() {
        let result = load(
            CommonConfig::new("ledger", 1),
            Some(Path::new("/nonexistent/hrmesh.toml")),
            "HRMESH_TEST_UNUSED_PREFIX_",
        );
        assert!(result.is_err());
    }

    #[test]
    fn the_database_url_defaults_to_a_file_in_the_data_dir() {
        let config = CommonConfig::new("ledger", 1);
        assert_eq!(
            config.database_url("ledger"),
            "sqlite://.data/ledger.sqlite?mode=rwc"
        );
    }
}
