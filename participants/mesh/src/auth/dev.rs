//! The development HS256 key `hrmesh up` generates, and reading key files.

use std::path::Path;

use anyhow::Context;

pub(super) async fn read_secret(file: &Path) -> anyhow::Result<Vec<u8>> {
    let secret = tokio::fs::read(file)
        .await
        .with_context(|| format!("reading the HS256 key {}", file.display()))?;
    let secret = secret.trim_ascii().to_vec();
    anyhow::ensure!(
        secret.len() >= 32,
        "the HS256 key {} is shorter than 32 bytes",
        file.display()
    );
    Ok(secret)
}

/// Writes a fresh random HS256 development key to `file` (mode 0600) unless one is there.
pub fn ensure_dev_key(file: &Path) -> anyhow::Result<()> {
    if file.exists() {
        return Ok(());
    }
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|err| anyhow::anyhow!("no randomness: {err}"))?;
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut out = options
        .open(file)
        .with_context(|| format!("creating {}", file.display()))?;
    std::io::Write::write_all(&mut out, format!("{hex}\n").as_bytes())?;
    Ok(())
}
