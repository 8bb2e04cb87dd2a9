//! Retention: records whose retention period has run out are archived to a directory as JSON
//! Lines, with a manifest and checksums, and then removed from the live store.
//!
//! A store describes each kind of record it keeps as a [`RecordKind`]: which records are past a
//! cutoff, oldest first, as they are stored (sealed personal data stays sealed: an archive is
//! read with the keyring, and an erasure reaches it too), and how to remove exactly those. The
//! [`Retention`] job runs every kind in batches:
//!
//! 1. the batch is written to `<dir>/<kind>/<first time>-<first key>.jsonl` (a temporary file,
//!    synced, then renamed);
//! 2. the manifest (`manifest.json`, and `SHA256SUMS` for `sha256sum -c`) records the file's
//!    records, times and checksum, written the same way;
//! 3. only then are the batch's records removed, in one transaction, and only those still past
//!    the cutoff.
//!
//! A run interrupted anywhere is resumed by the next: the records not yet removed are selected
//! again from the same first record, so they land in the same file (rewritten, with any record
//! that expired since added), and its manifest entry is replaced. A run with nothing past its
//! cutoff writes nothing at all. One replica per database runs it at a time (a lease).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use hrmesh_domain::Clock;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;

/// Records archived per batch (and per file) at most.
pub const BATCH_MAX: u64 = 1000;
/// Batches one run archives per kind at most; the next run goes on where it stopped.
pub const BATCHES_PER_RUN_MAX: u32 = 1000;
/// The name of the lease one replica per database archives under.
pub const LEASE: &str = "retention";
/// How long a run's lease lasts; renewed before every batch.
const LEASE_FOR: TimeDelta = TimeDelta::minutes(5);
/// The manifest's format.
pub const FORMAT: &str = "hrmesh-archive/1";

/// One record past its cutoff, as the store keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Expired {
    /// What identifies the record in its kind (its id).
    pub key: String,
    /// When its retention period started (a closed record's closing, an event's time…).
    pub at: DateTime<Utc>,
    /// The record and what belongs to it, as stored.
    pub record: serde_json::Value,
}

/// A kind of record a store keeps, as the retention job sees it.
#[async_trait::async_trait]
pub trait RecordKind: Send + Sync + 'static {
    /// The kind's name: its folder in the archive and its key in the configuration.
    fn name(&self) -> &'static str;
    /// Up to `limit` records whose retention started before `cutoff`, ordered by time, then key.
    async fn expired(&self, cutoff: DateTime<Utc>, limit: u64) -> anyhow::Result<Vec<Expired>>;
    /// Removes the records with these keys that are still past `cutoff` (with what belongs to
    /// them), in one transaction. Returns how many records it removed.
    async fn remove(&self, keys: &[String], cutoff: DateTime<Utc>) -> anyhow::Result<u64>;
}

/// The leases of a store: who runs a job on its database.
#[async_trait::async_trait]
pub trait Leases: Send + Sync + 'static {
    /// Takes or renews lease `name` for `holder` until `until`, unless another holder's lease
    /// runs past `now`. True when `holder` holds it.
    async fn acquire(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> anyhow::Result<bool>;
    /// Gives lease `name` up, if `holder` holds it.
    async fn release(&self, name: &str, holder: &str) -> anyhow::Result<()>;
}

/// Leases on a SQL store (the `outbox_leases` table every store has).
#[async_trait::async_trait]
impl Leases for sea_orm::DatabaseConnection {
    async fn acquire(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        Ok(crate::outbox::lease::take(self, name, holder, now, until).await?)
    }

    async fn release(&self, name: &str, holder: &str) -> anyhow::Result<()> {
        Ok(crate::outbox::lease::release(self, name, holder).await?)
    }
}

/// A kind and how long its records are kept.
#[derive(Clone)]
pub struct Kept {
    pub kind: Arc<dyn RecordKind>,
    pub period: TimeDelta,
}

/// How long records are kept, in days: a default, the audit trail's and the idempotency inbox's
/// own, and any kind's own by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Periods {
    /// Days every kind without a period of its own is kept (7 years).
    pub default_days: u32,
    /// Days the audit trail (`audit_events`) is kept.
    pub audit_days: u32,
    /// Days the idempotency inbox (`idempotency_inbox`) keeps a request's answer: a request
    /// repeated later than this is run again, so it must outlast any retry (a stuck saga's
    /// included).
    pub inbox_days: u32,
    /// Days by kind name, over the three above (`reviews = 3650`).
    pub kinds: BTreeMap<String, u32>,
}

/// The audit trail's kind name.
pub const AUDIT: &str = "audit_events";
/// The idempotency inbox's kind name.
pub const INBOX: &str = "idempotency_inbox";

impl Default for Periods {
    fn default() -> Self {
        Self {
            default_days: 7 * 365 + 2,
            audit_days: 7 * 365 + 2,
            inbox_days: 400,
            kinds: BTreeMap::new(),
        }
    }
}

impl Periods {
    /// How long records of `kind` are kept.
    pub fn of(&self, kind: &str) -> TimeDelta {
        let days = match self.kinds.get(kind) {
            Some(days) => *days,
            None if kind == AUDIT => self.audit_days,
            None if kind == INBOX => self.inbox_days,
            None => self.default_days,
        };
        TimeDelta::days(i64::from(days))
    }

    /// Each of `kinds` with its period. Fails on a configured kind the store does not have, or a
    /// period of zero days.
    pub fn apply(&self, kinds: Vec<Arc<dyn RecordKind>>) -> anyhow::Result<Vec<Kept>> {
        for name in self.kinds.keys() {
            if !kinds.iter().any(|kind| kind.name() == name) {
                let known: Vec<_> = kinds.iter().map(|kind| kind.name()).collect();
                anyhow::bail!(
                    "retention period for unknown record kind {name:?} (this service keeps {})",
                    known.join(", ")
                );
            }
        }
        kinds
            .into_iter()
            .map(|kind| {
                let period = self.of(kind.name());
                anyhow::ensure!(
                    period > TimeDelta::zero(),
                    "the retention period of {} must be at least a day",
                    kind.name()
                );
                Ok(Kept { kind, period })
            })
            .collect()
    }
}

/// What one archive file holds, as the manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedFile {
    pub kind: String,
    pub records: u64,
    pub bytes: u64,
    /// `sha256` of the file, hex.
    pub sha256: String,
    pub first_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
    pub archived_at: DateTime<Utc>,
}

/// `manifest.json`: every file of the archive, by its path under the archive's directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub service: String,
    pub files: BTreeMap<String, ArchivedFile>,
}

impl Manifest {
    /// The manifest in `dir`, or an empty one.
    pub fn read(dir: &Path, service: &str) -> anyhow::Result<Self> {
        let path = dir.join("manifest.json");
        match std::fs::read(&path) {
            Ok(bytes) => {
                let manifest: Manifest = serde_json::from_slice(&bytes)
                    .with_context(|| format!("reading {}", path.display()))?;
                anyhow::ensure!(
                    manifest.format == FORMAT,
                    "{} is {:?}, not {FORMAT}",
                    path.display(),
                    manifest.format
                );
                Ok(manifest)
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Self {
                format: FORMAT.to_owned(),
                service: service.to_owned(),
                files: BTreeMap::new(),
            }),
            Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
        }
    }

    fn write(&self, dir: &Path) -> anyhow::Result<()> {
        let mut json = serde_json::to_vec_pretty(self)?;
        json.push(b'\n');
        let mut sums = String::new();
        for (path, file) in &self.files {
            sums.push_str(&format!("{}  {path}\n", file.sha256));
        }
        write_durably(&dir.join("manifest.json"), &json)?;
        write_durably(&dir.join("SHA256SUMS"), sums.as_bytes())
    }
}

/// Writes `bytes` to `path` through a synced temporary file renamed over it, then syncs the
/// directory: a crash leaves the old file or the new one, never a part.
fn write_durably(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().context("an archive path has a directory")?;
    let temporary = path.with_extension("tmp");
    let mut file = std::fs::File::create(&temporary)
        .with_context(|| format!("creating {}", temporary.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temporary, path)
        .with_context(|| format!("renaming {} to {}", temporary.display(), path.display()))?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// A key as a file name: letters, digits, `-` and `_` kept, any other byte as `~hex`; at most
/// 120 characters.
fn file_key(key: &str) -> String {
    let mut name = String::with_capacity(key.len());
    for byte in key.bytes() {
        match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' => name.push(byte as char),
            _ => name.push_str(&format!("~{byte:02x}")),
        }
    }
    name.truncate(120);
    name
}

/// What a run archived: records per kind (kinds with none left out).
pub type Report = BTreeMap<&'static str, u64>;

/// The retention job of one service's store.
#[derive(Clone)]
pub struct Retention {
    service: String,
    dir: PathBuf,
    kinds: Vec<Kept>,
    leases: Arc<dyn Leases>,
    holder: String,
}

impl Retention {
    /// The job of `service`, archiving `kinds` into `dir` (created if missing); `leases` decides
    /// which replica runs it.
    pub fn new(service: &str, dir: PathBuf, kinds: Vec<Kept>, leases: Arc<dyn Leases>) -> Self {
        Self {
            service: service.to_owned(),
            dir,
            kinds,
            leases,
            holder: format!("{service}-{}", uuid::Uuid::now_v7()),
        }
    }

    /// The archive's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Archives and removes every record past its kind's period at `now`, up to
    /// [`BATCHES_PER_RUN_MAX`] batches per kind. Returns nothing archived when another replica
    /// holds the lease.
    pub async fn run(&self, now: DateTime<Utc>) -> anyhow::Result<Report> {
        if !self.renew().await? {
            return Ok(Report::new());
        }
        let run = self.archive_all(now).await;
        // Given up at the end, failed or not: another replica (or this one restarted) need not
        // wait for it to run out. A replica that died holding it is waited for.
        if let Err(error) = self.leases.release(LEASE, &self.holder).await {
            tracing::warn!(%error, "could not give the retention lease up");
        }
        run
    }

    async fn archive_all(&self, now: DateTime<Utc>) -> anyhow::Result<Report> {
        let mut report = Report::new();
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating the archive {}", self.dir.display()))?;
        let mut manifest = Manifest::read(&self.dir, &self.service)?;
        for kept in &self.kinds {
            let cutoff = now - kept.period;
            let mut archived = 0;
            for _ in 0..BATCHES_PER_RUN_MAX {
                let batch = kept.kind.expired(cutoff, BATCH_MAX).await?;
                if batch.is_empty() {
                    break;
                }
                // Renewed before every batch: a replica that lost the lease stops before
                // writing, so two never archive the same records at once.
                if !self.renew().await? {
                    return Ok(report);
                }
                archived += self.archive(&mut manifest, kept.kind.name(), &batch, now)?;
                let keys: Vec<String> = batch.into_iter().map(|record| record.key).collect();
                kept.kind.remove(&keys, cutoff).await?;
            }
            if archived > 0 {
                tracing::info!(
                    kind = kept.kind.name(),
                    archived,
                    "archived records past their retention"
                );
                report.insert(kept.kind.name(), archived);
            }
        }
        Ok(report)
    }

    async fn renew(&self) -> anyhow::Result<bool> {
        // The lease runs by the wall clock (a service's clock may be a test's manual one), so
        // replicas agree on it whatever they archive up to.
        let wall = Utc::now();
        self.leases
            .acquire(LEASE, &self.holder, wall, wall + LEASE_FOR)
            .await
    }

    /// Writes `batch` to its file and the manifest; returns how many records it holds.
    fn archive(
        &self,
        manifest: &mut Manifest,
        kind: &str,
        batch: &[Expired],
        now: DateTime<Utc>,
    ) -> anyhow::Result<u64> {
        let (first, last) = (&batch[0], &batch[batch.len() - 1]);
        let folder = self.dir.join(kind);
        std::fs::create_dir_all(&folder)?;
        let name = format!(
            "{kind}/{}-{}.jsonl",
            first.at.format("%Y%m%dT%H%M%S%6fZ"),
            file_key(&first.key)
        );
        let mut lines = Vec::new();
        for record in batch {
            serde_json::to_writer(
                &mut lines,
                &serde_json::json!({
                    "kind": kind,
                    "key": record.key,
                    "at": record.at.to_rfc3339_opts(SecondsFormat::Micros, true),
                    "record": record.record,
                }),
            )?;
            lines.push(b'\n');
        }
        write_durably(&self.dir.join(&name), &lines)?;
        manifest.files.insert(
            name,
            ArchivedFile {
                kind: kind.to_owned(),
                records: batch.len() as u64,
                bytes: lines.len() as u64,
                sha256: hex::encode(Sha256::digest(&lines)),
                first_at: first.at,
                last_at: last.at,
                archived_at: now,
            },
        );
        manifest.write(&self.dir)?;
        Ok(batch.len() as u64)
    }

    /// Runs the job every `interval` on `clock`'s time until the handle is dropped or aborted.
    pub fn start<C: Clock>(self, clock: C, interval: Duration) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if let Err(error) = self.run(clock.now()).await {
                    tracing::warn!(
                        error = format!("{error:#}"),
                        "the retention run failed; the next one resumes it"
                    );
                }
            }
        })
    }
}

/// Checks an archive: every file the manifest lists exists with its checksum and record count.
/// Returns the records it holds.
pub fn verify(dir: &Path, service: &str) -> anyhow::Result<u64> {
    let manifest = Manifest::read(dir, service)?;
    let mut records = 0;
    for (path, file) in &manifest.files {
        let bytes = std::fs::read(dir.join(path)).with_context(|| format!("reading {path}"))?;
        anyhow::ensure!(
            hex::encode(Sha256::digest(&bytes)) == file.sha256,
            "{path}: checksum differs from the manifest"
        );
        let lines = bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .count() as u64;
        anyhow::ensure!(
            lines == file.records,
            "{path}: {lines} records, the manifest says {}",
            file.records
        );
        records += lines;
    }
    Ok(records)
}

/// The audit trail of a SQL store: events by their time.
pub struct SqlAudit(pub sea_orm::DatabaseConnection);

#[async_trait::async_trait]
impl RecordKind for SqlAudit {
    fn name(&self) -> &'static str {
        AUDIT
    }

    async fn expired(&self, cutoff: DateTime<Utc>, limit: u64) -> anyhow::Result<Vec<Expired>> {
        use crate::audit::entity::{Column, Entity};
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

        let rows = Entity::find()
            .filter(Column::At.lt(cutoff))
            .order_by_asc(Column::At)
            .order_by_asc(Column::Seq)
            .limit(limit)
            .all(&self.0)
            .await?;
        rows.into_iter()
            .map(|row| {
                Ok(Expired {
                    key: row.seq.to_string(),
                    at: row.at,
                    record: serde_json::to_value(&row)?,
                })
            })
            .collect()
    }

    async fn remove(&self, keys: &[String], cutoff: DateTime<Utc>) -> anyhow::Result<u64> {
        use crate::audit::entity::{Column, Entity};
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

        let seqs = keys
            .iter()
            .map(|key| key.parse::<i64>())
            .collect::<Result<Vec<_>, _>>()?;
        let removed = Entity::delete_many()
            .filter(Column::Seq.is_in(seqs))
            .filter(Column::At.lt(cutoff))
            .exec(&self.0)
            .await?;
        Ok(removed.rows_affected)
    }
}

/// The idempotency inbox of a SQL store: answered requests by the time they were first made.
pub struct SqlInbox(pub sea_orm::DatabaseConnection);

#[async_trait::async_trait]
impl RecordKind for SqlInbox {
    fn name(&self) -> &'static str {
        INBOX
    }

    async fn expired(&self, cutoff: DateTime<Utc>, limit: u64) -> anyhow::Result<Vec<Expired>> {
        use crate::inbox::entity::{Column, Entity};
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

        let rows = Entity::find()
            .filter(Column::CreatedAt.lt(cutoff))
            .filter(Column::Outcome.is_not_null())
            .order_by_asc(Column::CreatedAt)
            .order_by_asc(Column::RequestId)
            .limit(limit)
            .all(&self.0)
            .await?;
        rows.into_iter()
            .map(|row| {
                Ok(Expired {
                    key: row.request_id.clone(),
                    at: row.created_at,
                    record: serde_json::to_value(&row)?,
                })
            })
            .collect()
    }

    async fn remove(&self, keys: &[String], cutoff: DateTime<Utc>) -> anyhow::Result<u64> {
        use crate::inbox::entity::{Column, Entity};
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

        let removed = Entity::delete_many()
            .filter(Column::RequestId.is_in(keys.iter().cloned()))
            .filter(Column::CreatedAt.lt(cutoff))
            .filter(Column::Outcome.is_not_null())
            .exec(&self.0)
            .await?;
        Ok(removed.rows_affected)
    }
}

/// The audit trail and the inbox of a SQL store: the kinds every participant's database has.
pub fn sql_common(db: &sea_orm::DatabaseConnection) -> Vec<Arc<dyn RecordKind>> {
    vec![
        Arc::new(SqlAudit(db.clone())),
        Arc::new(SqlInbox(db.clone())),
    ]
}
