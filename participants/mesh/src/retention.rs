//! The `[retention]` table every service shares, and the job it starts: records past their
//! retention period archived to `<archive_dir>/<service>` and removed
//! ([`hrmesh_storage::retention`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hrmesh_domain::Clock;
use hrmesh_storage::retention::{Leases, Periods, RecordKind, Retention};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use crate::config::CommonConfig;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionConfig {
    /// The archive's directory; each service writes to a folder of its own in it. Unset, a
    /// service on its embedded database archives to `<data_dir>/archive`, and one on a server
    /// database does not archive (nothing is removed).
    pub archive_dir: Option<PathBuf>,
    /// Seconds between retention runs; 0 turns the job off.
    pub interval_secs: u64,
    /// How long each kind of record is kept (the `[retention.periods]` table).
    pub periods: Periods,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            archive_dir: None,
            interval_secs: 24 * 3600,
            periods: Periods::default(),
        }
    }
}

impl RetentionConfig {
    /// The job of `service` over `kinds` as configured, or none when it is off. Fails on a period
    /// for a kind the service does not keep.
    pub fn job(
        &self,
        service: &str,
        common: &CommonConfig,
        kinds: Vec<Arc<dyn RecordKind>>,
        leases: Arc<dyn Leases>,
    ) -> anyhow::Result<Option<Retention>> {
        let kept = self.periods.apply(kinds)?;
        let dir = match (&self.archive_dir, common.embedded_data_dir()) {
            (Some(dir), _) => dir.clone(),
            (None, Some(data_dir)) => data_dir.join("archive"),
            (None, None) => {
                tracing::info!(
                    service,
                    "no retention.archive_dir configured: records are kept, none archived"
                );
                return Ok(None);
            }
        };
        if self.interval_secs == 0 {
            return Ok(None);
        }
        Ok(Some(Retention::new(
            service,
            dir.join(service),
            kept,
            leases,
        )))
    }

    /// Starts [`Self::job`] on `clock`, every `interval_secs`.
    pub fn start<C: Clock>(
        &self,
        service: &str,
        common: &CommonConfig,
        kinds: Vec<Arc<dyn RecordKind>>,
        leases: Arc<dyn Leases>,
        clock: C,
    ) -> anyhow::Result<Option<JoinHandle<()>>> {
        Ok(self
            .job(service, common, kinds, leases)?
            .map(|job| job.start(clock, Duration::from_secs(self.interval_secs))))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use hrmesh_storage::retention::SqlAudit;

    async fn kinds() -> Vec<Arc<dyn RecordKind>> {
        let db = sea_orm::Database::connect("sqlite::memory:")
            .await
            .expect("an in-process SQLite");
        vec![Arc::new(SqlAudit(db.clone()))]
    }

    async fn leases() -> Arc<dyn Leases> {
        Arc::new(
            sea_orm::Database::connect("sqlite::memory:")
                .await
                .expect("an in-process SQLite"),
        )
    }

    #[tokio::test]
    async fn the_job_follows_the_configuration() {
        let mut common = CommonConfig::new("ledger", 1);
        common.data_dir = PathBuf::from("/var/lib/hrmesh");
        let config = RetentionConfig::default();
        let job = config
            .job("ledger", &common, kinds().await, leases().await)
            .expect("valid")
            .expect("on by default on the embedded database");
        assert_eq!(job.dir(), Path::new("/var/lib/hrmesh/archive/ledger"));

        common.database_url = Some("postgres://db/ledger".into());
        let off = config
            .job("ledger", &common, kinds().await, leases().await)
            .expect("valid");
        assert!(off.is_none(), "a server database archives only where told");
        let mut told = config.clone();
        told.archive_dir = Some(PathBuf::from("/archive"));
        let job = told
            .job("ledger", &common, kinds().await, leases().await)
            .expect("valid")
            .expect("on");
        assert_eq!(job.dir(), Path::new("/archive/ledger"));

        let mut stopped = told.clone();
        stopped.interval_secs = 0;
        assert!(
            stopped
                .job("ledger", &common, kinds().await, leases().await)
                .expect("valid")
                .is_none()
        );

        let mut unknown = told;
        unknown.periods.kinds.insert("reviews".into(), 3650);
        let refused = unknown
            .job("ledger", &common, kinds().await, leases().await)
            .err()
            .expect("a kind the ledger does not keep");
        assert!(refused.to_string().contains("\"reviews\""), "{refused}");
    }
}
