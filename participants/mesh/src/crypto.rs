//! Where a service's keyring comes from (the `[crypto]` table), and the job that moves its data
//! keys to the keyring's current version.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hrmesh_crypto::Keyring;
use hrmesh_storage::vault::{KeyRows, Vault};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The file a service on its embedded database keeps its development keyring in, in `data_dir`.
pub const DEVELOPMENT_KEYRING: &str = "keyring.toml";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CryptoConfig {
    /// The keyring's TOML text itself (`HRMESH_<SERVICE>_CRYPTO__KEYRING`, from a secret store).
    pub keyring: Option<String>,
    /// A keyring file (`hrmesh keygen` writes one). With neither, a service on its embedded
    /// database uses `<data_dir>/keyring.toml`, writing a development keyring there if missing.
    pub keyring_file: Option<PathBuf>,
    /// Seconds between runs of the job that re-wraps data keys under the keyring's current
    /// version; 0 turns it off.
    pub rewrap_interval_secs: u64,
}

impl Default for CryptoConfig {
    fn default() -> Self {
        Self {
            keyring: None,
            keyring_file: None,
            rewrap_interval_secs: 300,
        }
    }
}

impl CryptoConfig {
    /// The keyring. `embedded_data_dir` is the data directory of a service on its embedded
    /// database: only such a service falls back to (and writes) a development keyring; one on a
    /// server database without a keyring configured is refused.
    pub fn keyring(&self, embedded_data_dir: Option<&Path>) -> anyhow::Result<Arc<Keyring>> {
        if let Some(text) = &self.keyring {
            return Ok(Arc::new(
                Keyring::from_toml(text)
                    .context("reading the keyring given in the configuration")?,
            ));
        }
        if let Some(path) = &self.keyring_file {
            return Ok(Arc::new(Keyring::load(path)?));
        }
        let Some(dir) = embedded_data_dir else {
            anyhow::bail!(
                "no keyring: set [crypto] keyring_file (or HRMESH_<SERVICE>_CRYPTO__KEYRING); \
                 `hrmesh keygen` writes a development one"
            );
        };
        let path = dir.join(DEVELOPMENT_KEYRING);
        if !path.exists() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            // Services started at once on one data directory share one keyring: each writes a
            // whole file aside and links it in place, and the first link wins.
            let aside = dir.join(format!(".{DEVELOPMENT_KEYRING}.{}", std::process::id()));
            let _ = std::fs::remove_file(&aside);
            write_private(&aside, &hrmesh_crypto::development_keyring())?;
            let linked = std::fs::hard_link(&aside, &path);
            let _ = std::fs::remove_file(&aside);
            match linked {
                Ok(()) => tracing::warn!(
                    path = %path.display(),
                    "wrote a development keyring: personal data is sealed with keys kept next to it"
                ),
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(err) => {
                    return Err(err).with_context(|| format!("creating {}", path.display()));
                }
            }
        }
        Ok(Arc::new(Keyring::load(&path)?))
    }
}

/// Writes `text` to a new file `path` that only its owner may read.
pub fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// Keys re-wrapped per batch, and batches per run.
const REWRAP_BATCH: u64 = 500;
const REWRAP_BATCHES: usize = 100;

/// The re-wrap job: every `interval`, moves the data keys still wrapped by an older keyring
/// version to the current one, in bounded batches, and logs the versions still in use whenever
/// they change (a version not listed can be removed from the keyring). Interrupting it loses
/// nothing: each key moves in one conditional update, and the next run goes on.
pub struct Rewrap {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Rewrap {
    pub fn start(vault: Vault, keys: Arc<dyn KeyRows>, interval: Duration) -> Self {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut in_use = Vec::new();
            loop {
                match rewrap_all(&vault, &*keys).await {
                    Ok(0) => {}
                    Ok(moved) => tracing::info!(moved, "re-wrapped data keys"),
                    Err(err) => tracing::warn!(
                        error = format!("{err:#}"),
                        "re-wrapping data keys failed; retrying later"
                    ),
                }
                // Which versions an operator may retire: those no live key is wrapped by.
                match vault.versions_in_use(&*keys).await {
                    Ok(versions) if versions != in_use => {
                        tracing::info!(
                            versions_in_use = ?versions,
                            current = vault.keyring().current(),
                            "keyring versions wrapping live data keys (any other can be retired)"
                        );
                        in_use = versions;
                    }
                    Ok(_) => {}
                    Err(err) => tracing::warn!(
                        error = format!("{err:#}"),
                        "reading the keyring versions in use failed"
                    ),
                }
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = stopped.changed() => break,
                }
            }
        });
        Self { stop, task }
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Re-wraps every key that needs it (up to [`REWRAP_BATCHES`] batches). Returns how many moved.
pub async fn rewrap_all(vault: &Vault, keys: &dyn KeyRows) -> anyhow::Result<u64> {
    let mut moved = 0;
    for _ in 0..REWRAP_BATCHES {
        let batch = vault.rewrap(keys, REWRAP_BATCH).await?;
        moved += batch;
        if batch == 0 {
            break;
        }
    }
    Ok(moved)
}

/// An `ErasePersonalData` request as the command every service answers, or the violations of
/// its fields.
pub fn erase_request<R>(
    request: hrmesh_proto::common::ErasePersonalDataRequest,
) -> Result<hrmesh_domain::erasure::ErasePersonalData, hrmesh_domain::ServiceError<R>> {
    let mut v = hrmesh_domain::Violations::default();
    let request_id = hrmesh_domain::RequestId::parse("request_id", &request.request_id, &mut v);
    let employee_id = hrmesh_domain::EmployeeId::parse("employee_id", &request.employee_id, &mut v);
    let command = request_id
        .zip(employee_id)
        .map(
            |(request_id, employee_id)| hrmesh_domain::erasure::ErasePersonalData {
                request_id,
                employee_id,
            },
        );
    hrmesh_domain::ServiceError::parsed(v, command)
}

/// An erasure as the services answer it.
pub fn erasure(erasure: hrmesh_domain::erasure::Erasure) -> hrmesh_proto::common::Erasure {
    hrmesh_proto::common::Erasure {
        employee_id: erasure.employee_id.to_string(),
        keys_destroyed: erasure.keys_destroyed,
        erased_at: Some(crate::events::timestamp(erasure.erased_at)),
    }
}
