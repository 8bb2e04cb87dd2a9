//! Telling employees their hold expired: after each sweep, every expired hold not yet told gets a
//! `time_off.expired` notification through the notification service.
//!
//! Nothing is lost and nothing doubled: a hold is marked told only after the notification service
//! took the notification (or refused it for good, which is logged as an error), and the
//! notification's request id is derived from the hold, so a send repeated after a crash, an
//! outage or by another replica is a replay of the first. An outage ends the round: the rest wait
//! for the next sweep rather than each for its own timeout.

use std::collections::HashMap;
use std::time::Duration;

use hrmesh_domain::Clock;
use hrmesh_ledger_core::{Hold, Ledger, LedgerError, LedgerStore};
use hrmesh_mesh::auth::TokenSource;
use hrmesh_mesh::client::MeshChannel;
use hrmesh_proto::notification as npb;
use hrmesh_proto::notification::notification_service_client::NotificationServiceClient;
use tonic::Code;

use crate::LedgerConfig;

/// Holds told per sweep at most; the rest wait for the next one.
const NOTICES_PER_SWEEP_MAX: u32 = 200;
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// What one round of notices did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoticeRun {
    pub sent: u32,
    /// Not taken by the notification service: tried again at the next sweep when it was away,
    /// logged and given up when it refused the notice for good.
    pub failed: u32,
}

/// Sends the expiry notices of one replica.
#[derive(Clone)]
pub struct ExpiryNotices {
    client: NotificationServiceClient<MeshChannel>,
}

impl std::fmt::Debug for ExpiryNotices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExpiryNotices").finish_non_exhaustive()
    }
}

fn date_text(date: chrono::NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

/// The notification telling the employee `hold` expired.
fn notice(hold: &Hold) -> npb::SendRequest {
    let first = hold.days.first().map(|day| date_text(day.date));
    let last = hold.days.last().map(|day| date_text(day.date));
    npb::SendRequest {
        request_id: format!("ledger/hold-expired/{}", hold.id),
        recipient: Some(npb::Recipient {
            recipient_id: hold.employee_id.to_string(),
            kind: npb::RecipientKind::Employee as i32,
            email: String::new(),
        }),
        template: "time_off.expired".to_owned(),
        payload: HashMap::from([
            ("start_date".to_owned(), first.unwrap_or_default()),
            ("end_date".to_owned(), last.unwrap_or_default()),
            ("days".to_owned(), hold.total.to_string()),
        ]),
        channels: vec![npb::Channel::InApp as i32],
        category: String::new(),
        priority: npb::Priority::Normal as i32,
        correlation_id: hold.id.clone(),
    }
}

fn is_outage(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable
            | Code::DeadlineExceeded
            | Code::ResourceExhausted
            | Code::Aborted
            | Code::Cancelled
            | Code::Unknown
    )
}

impl ExpiryNotices {
    /// Notices sent through the notification service at `url` (connected lazily, so it may start
    /// later), signed with `token`.
    pub fn new(url: &str, config: &LedgerConfig, token: TokenSource) -> anyhow::Result<Self> {
        let channel = config
            .common
            .tls
            .endpoint(url)?
            .timeout(SEND_TIMEOUT)
            .connect_lazy();
        Ok(Self {
            client: NotificationServiceClient::new(MeshChannel::new(channel, Some(token))),
        })
    }

    /// Tells the employees of expired holds not yet told, up to [`NOTICES_PER_SWEEP_MAX`].
    pub async fn run_once<S: LedgerStore, C: Clock>(
        &self,
        ledger: &Ledger<S, C>,
    ) -> Result<NoticeRun, LedgerError> {
        let mut run = NoticeRun::default();
        for hold in ledger.expired_holds_untold(NOTICES_PER_SWEEP_MAX).await? {
            match self.client.clone().send(notice(&hold)).await {
                // Taken, or taken before under the same key with other content.
                Ok(_) => run.sent += 1,
                Err(status) if status.code() == Code::AlreadyExists => run.sent += 1,
                // The service is away or slow: the rest wait for the next sweep, which then does
                // not wait for each of them in turn.
                Err(status) if is_outage(status.code()) => {
                    tracing::warn!(hold_id = %hold.id, code = ?status.code(), message = status.message(), "expiry notices wait for the notification service");
                    run.failed += 1;
                    break;
                }
                // Refused for good (a bug or a misconfiguration): asking again cannot help, and
                // would keep every later notice waiting behind it.
                Err(status) => {
                    tracing::error!(hold_id = %hold.id, code = ?status.code(), message = status.message(), "expiry notice refused; not retried");
                    run.failed += 1;
                }
            }
            ledger.mark_expiry_told(&hold.id).await?;
        }
        Ok(run)
    }
}
