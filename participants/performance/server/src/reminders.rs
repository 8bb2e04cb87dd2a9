//! The reminder job: reviews whose deadline nears (one reminder per review and day) and PIP
//! check-ins coming up (one reminder per check-in), sent through the notification service.
//!
//! At most one reminder per item and period, even with several replicas running the job: each
//! reminder's notification carries a request id derived from (kind, item, period), so the
//! notification service's idempotency inbox turns a second send — from a retry or another
//! replica — into a replay of the first. The `reminders_sent` table only spares the work of
//! sending again; a crash between sending and recording leads to a harmless replay.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{Days, NaiveDate};
use hrmesh_domain::Clock;
use hrmesh_mesh::auth::TokenSource;
use hrmesh_mesh::client::MeshChannel;
use hrmesh_performance_core::{
    Performance, PerformanceError, PerformanceStore, Pip, Review, ReviewState,
};
use hrmesh_proto::notification as npb;
use hrmesh_proto::notification::notification_service_client::NotificationServiceClient;
use tonic::Code;

use crate::PerformanceConfig;

const BATCH: u32 = 200;
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// What one run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReminderRun {
    /// Reminders handed to the notification service.
    pub sent: u32,
    /// Reminders due but recorded as sent earlier.
    pub already_sent: u32,
    /// Reminders the notification service did not take; the next run tries again.
    pub failed: u32,
}

/// One reminder to send.
struct Reminder {
    key: String,
    recipient_id: String,
    recipient_kind: npb::RecipientKind,
    template: &'static str,
    payload: HashMap<String, String>,
    correlation_id: String,
}

/// The reminder job of one replica.
#[derive(Clone)]
pub struct Reminders<S, C> {
    performance: Performance<S, C>,
    client: NotificationServiceClient<MeshChannel>,
    review_days: u32,
    pip_days: u32,
}

impl<S, C> std::fmt::Debug for Reminders<S, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reminders")
            .field("review_days", &self.review_days)
            .field("pip_days", &self.pip_days)
            .finish_non_exhaustive()
    }
}

fn date_text(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

fn review_reminder(review: &Review, today: NaiveDate) -> Reminder {
    // Whoever has to act next gets the reminder.
    let (recipient, kind) = match review.state {
        ReviewState::SelfAssessment => (&review.employee_id, npb::RecipientKind::Employee),
        _ => (&review.manager_id, npb::RecipientKind::Manager),
    };
    Reminder {
        key: format!(
            "reminder/review-deadline/{}/{}",
            review.id,
            date_text(today)
        ),
        recipient_id: recipient.to_string(),
        recipient_kind: kind,
        template: "review.deadline_near",
        payload: HashMap::from([
            ("cycle".to_owned(), review.cycle.as_str().replace('_', "-")),
            ("employee_name".to_owned(), review.employee_id.to_string()),
            ("due_date".to_owned(), date_text(review.due_date)),
        ]),
        correlation_id: review.id.clone(),
    }
}

fn check_in_reminder(pip: &Pip, date: NaiveDate) -> Reminder {
    Reminder {
        key: format!("reminder/pip-check-in/{}/{}", pip.id, date_text(date)),
        recipient_id: pip.manager_id.to_string(),
        recipient_kind: npb::RecipientKind::Manager,
        template: "pip.check_in_due",
        payload: HashMap::from([
            ("employee_name".to_owned(), pip.employee_id.to_string()),
            ("due_date".to_owned(), date_text(date)),
        ]),
        correlation_id: pip.id.clone(),
    }
}

/// One reminder run on demand, whatever the store and clock of the server (tests with a manual
/// clock run reminders by hand).
#[tonic::async_trait]
pub trait RunReminders: Send + Sync {
    async fn run_once(&self) -> Result<ReminderRun, PerformanceError>;
}

#[tonic::async_trait]
impl<S: PerformanceStore, C: Clock> RunReminders for Reminders<S, C> {
    async fn run_once(&self) -> Result<ReminderRun, PerformanceError> {
        Reminders::run_once(self).await
    }
}

impl<S: PerformanceStore, C: Clock> Reminders<S, C> {
    /// A job sending through the notification service at `notification_url` (connected lazily, so
    /// the service may start later).
    pub fn new(
        performance: Performance<S, C>,
        notification_url: &str,
        config: &PerformanceConfig,
        token: TokenSource,
    ) -> anyhow::Result<Self> {
        let channel = config
            .common
            .tls
            .endpoint(notification_url)?
            .timeout(SEND_TIMEOUT)
            .connect_lazy();
        Ok(Self {
            performance,
            client: NotificationServiceClient::new(MeshChannel::new(channel, Some(token))),
            review_days: config.review_reminder_days,
            pip_days: config.pip_reminder_days,
        })
    }

    /// Runs every `interval`, starting now, until the task is aborted.
    pub async fn run_every(self, interval: Duration) {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match self.run_once().await {
                Ok(run) if run.sent > 0 || run.failed > 0 => {
                    tracing::info!(sent = run.sent, failed = run.failed, "reminders sent");
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(error = %hrmesh_domain::error::report(&error), "reminder run failed")
                }
            }
        }
    }

    /// Sends every reminder due today and not sent yet.
    pub async fn run_once(&self) -> Result<ReminderRun, PerformanceError> {
        let today = self.performance.clock().now().date_naive();
        let mut reminders = Vec::new();

        let review_until = today + Days::new(u64::from(self.review_days));
        let mut after: Option<String> = None;
        loop {
            let reviews = self
                .performance
                .store()
                .open_reviews_due(today, review_until, after.as_deref(), BATCH)
                .await?;
            reminders.extend(reviews.iter().map(|review| review_reminder(review, today)));
            after = reviews.last().map(|review| review.id.clone());
            if reviews.len() < BATCH as usize {
                break;
            }
        }

        let pip_until = today + Days::new(u64::from(self.pip_days));
        let mut after: Option<String> = None;
        loop {
            let pips = self
                .performance
                .store()
                .active_pips_between(today, pip_until, after.as_deref(), BATCH)
                .await?;
            for pip in &pips {
                reminders.extend(
                    pip.pending_check_ins()
                        .filter(|date| (today..=pip_until).contains(date))
                        .map(|date| check_in_reminder(pip, date)),
                );
            }
            after = pips.last().map(|pip| pip.id.clone());
            if pips.len() < BATCH as usize {
                break;
            }
        }

        let mut run = ReminderRun::default();
        for chunk in reminders.chunks(BATCH as usize) {
            let keys: Vec<String> = chunk.iter().map(|reminder| reminder.key.clone()).collect();
            let sent = self.performance.store().reminders_sent(&keys).await?;
            for reminder in chunk {
                if sent.contains(&reminder.key) {
                    run.already_sent += 1;
                } else if self.send(reminder).await {
                    self.performance
                        .store()
                        .record_reminder_sent(&reminder.key, self.performance.clock().now())
                        .await?;
                    run.sent += 1;
                } else {
                    run.failed += 1;
                }
            }
        }
        Ok(run)
    }

    /// Sends one reminder; whether the notification service has it now.
    async fn send(&self, reminder: &Reminder) -> bool {
        let request = npb::SendRequest {
            request_id: reminder.key.clone(),
            recipient: Some(npb::Recipient {
                recipient_id: reminder.recipient_id.clone(),
                kind: reminder.recipient_kind as i32,
                email: String::new(),
            }),
            template: reminder.template.to_owned(),
            payload: reminder.payload.clone(),
            channels: vec![npb::Channel::InApp as i32],
            category: String::new(),
            priority: npb::Priority::Normal as i32,
            correlation_id: reminder.correlation_id.clone(),
        };
        match self.client.clone().send(request).await {
            Ok(_) => true,
            // The key was used with other content: this item's reminder for this period went
            // out already.
            Err(status) if status.code() == Code::AlreadyExists => true,
            Err(status) => {
                tracing::warn!(key = %reminder.key, code = ?status.code(), message = status.message(), "reminder not sent");
                false
            }
        }
    }
}
