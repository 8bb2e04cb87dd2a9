use std::collections::BTreeSet;
use std::future::Future;

use chrono::{DateTime, Duration, Utc};
use hrmesh_domain::{Clock, EmployeeId, Violations};

use crate::rules::RetryPolicy;
use crate::{
    Channel, Delivery, DeliveryState, MarkRead, Notification, NotificationError, NotificationEvent,
    Preferences, Priority, Redrive, Rejection, Result, Retract, SendCommand, render,
};
use hrmesh_domain::Fault;

/// What inserting a notification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    New(Notification),
    /// A notification with the same request id already existed; here it is.
    Existing(Notification),
}

/// The storage port: one document per notification, saved with a version check. MongoDB and
/// sea-orm implement it; one conformance suite holds them to the same behaviour.
pub trait NotificationStore: Send + Sync + 'static {
    /// Stores a new notification with its `events`, unless its request id is taken (then
    /// neither is written).
    fn insert(
        &self,
        notification: &Notification,
        events: &[NotificationEvent],
    ) -> impl Future<Output = Result<Inserted>> + Send;
    fn get(&self, id: &str) -> impl Future<Output = Result<Option<Notification>>> + Send;
    /// Saves `notification` (whose version is `expected_version + 1`) with `events`, in the same
    /// single-document write, only if the stored version is still `expected_version`; false when
    /// someone else saved first (then nothing is written).
    fn replace(
        &self,
        notification: &Notification,
        expected_version: i64,
        events: &[NotificationEvent],
    ) -> impl Future<Output = Result<bool>> + Send;
    /// A recipient's in-app notifications, newest first, after the cursor id.
    fn list_in_app(
        &self,
        recipient_id: &EmployeeId,
        unread_only: bool,
        before_id: Option<&str>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Notification>>> + Send;
    /// Notifications with a delivery due at or before `now`, most overdue first.
    fn due(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Notification>>> + Send;
    /// Notifications with a dead-lettered delivery, oldest first, after the cursor id.
    fn dead_letters(
        &self,
        after_id: Option<&str>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Notification>>> + Send;
    fn preferences(
        &self,
        recipient_id: &EmployeeId,
    ) -> impl Future<Output = Result<Option<Preferences>>> + Send;
    fn put_preferences(&self, preferences: &Preferences)
    -> impl Future<Output = Result<()>> + Send;
    /// Destroys the data keys that seal `recipient_id`'s notifications: their personal text reads
    /// as erased from then on. How many keys were destroyed (0 when none was left).
    fn erase_personal_data(
        &self,
        recipient_id: &EmployeeId,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<u64>> + Send;
}

/// The channel port: makes one delivery. An error is the reason it failed (retried per policy).
pub trait ChannelSender: Send + Sync + 'static {
    /// Whether this deployment can deliver on `channel` (in-app always can).
    fn configured(&self, channel: Channel) -> bool;

    fn deliver(
        &self,
        notification: &Notification,
        delivery: &Delivery,
    ) -> impl Future<Output = std::result::Result<(), String>> + Send;
}

/// Saves attempted under contention before giving up with UNAVAILABLE.
const CAS_ATTEMPTS_MAX: u32 = 16;
const CHANNELS_MAX: usize = 3;
const PAYLOAD_ENTRIES_MAX: usize = 32;
const PAYLOAD_VALUE_CHARS_MAX: usize = 1000;

#[derive(Debug, Clone)]
pub struct Notifier<S, C, D> {
    store: S,
    clock: C,
    channels: D,
    policy: RetryPolicy,
    /// How long a worker owns the deliveries it claimed.
    lease: Duration,
    /// A random fraction in [0, 1) that spreads retries.
    jitter: fn() -> f64,
}

impl<S: NotificationStore, C: Clock, D: ChannelSender> Notifier<S, C, D> {
    pub fn new(store: S, clock: C, channels: D, policy: RetryPolicy, jitter: fn() -> f64) -> Self {
        Self {
            store,
            clock,
            channels,
            policy,
            lease: Duration::seconds(60),
            jitter,
        }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// Validates, renders and stores a notification; delivery follows from the store.
    pub async fn send(&self, command: SendCommand) -> Result<Notification> {
        let mut violations = Violations::default();
        if command.channels.is_empty() || command.channels.len() > CHANNELS_MAX {
            violations.add("channels", "must name 1 to 3 channels");
        }
        let unique: BTreeSet<_> = command.channels.iter().collect();
        if unique.len() != command.channels.len() {
            violations.add("channels", "must not name a channel twice");
        }
        if command.payload.len() > PAYLOAD_ENTRIES_MAX {
            violations.add(
                "payload",
                format!("must have at most {PAYLOAD_ENTRIES_MAX} entries"),
            );
        }
        for (key, value) in &command.payload {
            let identifier = key.len() <= 64
                && key.starts_with(|c: char| c.is_ascii_lowercase())
                && key
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !identifier {
                violations.add(
                    format!("payload.{key}"),
                    "keys are lowercase identifiers ([a-z][a-z0-9_]*, at most 64)",
                );
            }
            if value.chars().count() > PAYLOAD_VALUE_CHARS_MAX {
                violations.add(
                    format!("payload.{key}"),
                    format!("must be at most {PAYLOAD_VALUE_CHARS_MAX} characters"),
                );
            }
        }
        if command.channels.contains(&Channel::Email) && command.recipient.email.is_none() {
            violations.add("recipient.email", "is required for the email channel");
        }
        let rendered = render(&command.template, &command.payload, &mut violations);
        if let Some(channel) = command
            .channels
            .iter()
            .find(|c| !self.channels.configured(**c))
        {
            return Err(NotificationError::Rejected(
                Rejection::ChannelNotConfigured {
                    channel: format!("{channel:?}"),
                },
            ));
        }
        let (default_category, subject, body) = match (violations.is_empty(), rendered) {
            (true, Some(rendered)) => rendered,
            _ => return Err(NotificationError::Invalid(violations.into_vec())),
        };
        let category = command
            .category
            .clone()
            .unwrap_or_else(|| default_category.to_owned());
        let preferences = self
            .store
            .preferences(&command.recipient.id)
            .await?
            .unwrap_or_else(|| Preferences::none(command.recipient.id.clone()));
        let now = self.clock.now();
        let critical = command.priority == Priority::Critical;
        let deliveries = command
            .channels
            .iter()
            .map(|channel| {
                let allowed = critical || preferences.allows(&category, *channel);
                let (state, next_attempt_at, delivered_at) = match (allowed, channel) {
                    (false, _) => (DeliveryState::Suppressed, None, None),
                    // Storing it is delivering it: the recipient's list shows it from now on.
                    (true, Channel::InApp) => (DeliveryState::Delivered, None, Some(now)),
                    (true, _) => {
                        let released = preferences
                            .quiet_hours
                            .as_ref()
                            .filter(|_| !critical)
                            .and_then(|quiet| quiet.release_time(now));
                        (DeliveryState::Pending, Some(released.unwrap_or(now)), None)
                    }
                };
                Delivery {
                    id: uuid::Uuid::now_v7().to_string(),
                    channel: *channel,
                    state,
                    attempts: Vec::new(),
                    failures_in_round: 0,
                    next_attempt_at,
                    delivered_at,
                    lease_until: None,
                    lease_owner: None,
                }
            })
            .collect();
        let json = serde_json::to_string(&command).map_err(|err| {
            NotificationError::Internal(Fault::caused_by("encoding the request", err))
        })?;
        // A digest, not the request: the request carries the payload, which is personal.
        let fingerprint = {
            use sha2::Digest;
            format!(
                "sha256:{}",
                hex::encode(sha2::Sha256::digest(json.as_bytes()))
            )
        };
        let notification = Notification {
            id: uuid::Uuid::now_v7().to_string(),
            request_id: command.request_id.as_str().to_owned(),
            request_fingerprint: fingerprint.clone(),
            recipient: command.recipient,
            template: command.template,
            payload: command.payload,
            category,
            priority: command.priority,
            correlation_id: command.correlation_id,
            subject,
            body,
            deliveries,
            read_at: None,
            retracted_at: None,
            retract_reason: String::new(),
            created_at: now,
            version: 1,
        };
        let events = NotificationEvent::between(None, &notification);
        match self.store.insert(&notification, &events).await? {
            Inserted::New(stored) => Ok(stored),
            // Notifications stored before fingerprints were digests hold the request's JSON.
            Inserted::Existing(existing)
                if existing.request_fingerprint == fingerprint
                    || existing.request_fingerprint == json =>
            {
                Ok(existing)
            }
            Inserted::Existing(_) => Err(NotificationError::IdempotencyKeyReused {
                request_id: notification.request_id,
            }),
        }
    }

    pub async fn get(&self, id: &str) -> Result<Notification> {
        self.store
            .get(id)
            .await?
            .ok_or_else(|| NotificationError::not_found("notification", id))
    }

    pub async fn list_in_app(
        &self,
        recipient_id: &EmployeeId,
        unread_only: bool,
        before_id: Option<&str>,
        page_size: u32,
    ) -> Result<(Vec<Notification>, Option<String>)> {
        let mut items = self
            .store
            .list_in_app(recipient_id, unread_only, before_id, page_size + 1)
            .await?;
        let next = next_page(&mut items, page_size);
        Ok((items, next))
    }

    pub async fn dead_letters(
        &self,
        after_id: Option<&str>,
        page_size: u32,
    ) -> Result<(Vec<Notification>, Option<String>)> {
        let mut items = self.store.dead_letters(after_id, page_size + 1).await?;
        let next = next_page(&mut items, page_size);
        Ok((items, next))
    }

    pub async fn mark_read(&self, command: MarkRead) -> Result<Notification> {
        let now = self.clock.now();
        self.update(&command.notification_id, |n| n.mark_read(now))
            .await
    }

    pub async fn retract(&self, command: Retract) -> Result<Notification> {
        let now = self.clock.now();
        self.update(&command.notification_id, |n| {
            n.retract(now, &command.reason);
            Ok(())
        })
        .await
    }

    /// Destroys the data keys that seal what the recipient's notifications say. Erasing is its
    /// own idempotence: a repeat destroys nothing more (and answers 0 keys).
    pub async fn erase_personal_data(
        &self,
        command: hrmesh_domain::erasure::ErasePersonalData,
    ) -> Result<hrmesh_domain::erasure::Erasure> {
        let now = self.clock.now();
        let destroyed = self
            .store
            .erase_personal_data(&command.employee_id, now)
            .await?;
        Ok(hrmesh_domain::erasure::Erasure::of(
            command.employee_id,
            destroyed,
            now,
        ))
    }

    pub async fn redrive(&self, command: Redrive) -> Result<Notification> {
        let now = self.clock.now();
        self.update(&command.notification_id, |n| {
            // Redriving a delivery that is pending again (an earlier redrive with this request) is
            // the same request repeated: answer with the current state.
            match n.deliveries.iter().find(|d| d.id == command.delivery_id) {
                Some(d) if d.state == DeliveryState::Pending && d.failures_in_round == 0 => Ok(()),
                _ => n.redrive(&command.delivery_id, now),
            }
        })
        .await
    }

    pub async fn preferences(&self, recipient_id: &EmployeeId) -> Result<Preferences> {
        Ok(self
            .store
            .preferences(recipient_id)
            .await?
            .unwrap_or_else(|| Preferences::none(recipient_id.clone())))
    }

    pub async fn set_preferences(&self, preferences: Preferences) -> Result<Preferences> {
        if let Some(quiet) = &preferences.quiet_hours
            && quiet.zone().is_none()
        {
            return Err(NotificationError::invalid(
                "preferences.quiet_hours.time_zone",
                "must be an IANA time zone such as Europe/Berlin",
            ));
        }
        self.store.put_preferences(&preferences).await?;
        Ok(preferences)
    }

    /// One round of the delivery worker: claims up to `limit` notifications with due deliveries,
    /// makes each delivery and records its outcome. Returns the number of attempts made.
    pub async fn deliver_due(&self, worker: &str, limit: u32) -> Result<u32> {
        let now = self.clock.now();
        let mut attempts = 0;
        for candidate in self.store.due(now, limit).await? {
            let mut claimed = candidate.clone();
            let ids = claimed.claim_due(now, now + self.lease, worker);
            claimed.version = candidate.version + 1;
            let events = NotificationEvent::between(Some(&candidate), &claimed);
            if ids.is_empty()
                || !self
                    .store
                    .replace(&claimed, candidate.version, &events)
                    .await?
            {
                continue; // another worker or a retraction got there first
            }
            for id in ids {
                let Some(delivery) = claimed.deliveries.iter().find(|d| d.id == id) else {
                    continue;
                };
                // A failure is kept in the delivery's attempts, with its reason.
                let outcome = self.channels.deliver(&claimed, delivery).await;
                let finished = self.clock.now();
                let quiet = self
                    .store
                    .preferences(&claimed.recipient.id)
                    .await?
                    .and_then(|p| p.quiet_hours);
                let jitter = (self.jitter)();
                self.update(&claimed.id, |n| {
                    n.record_attempt(
                        &id,
                        outcome.clone(),
                        finished,
                        &self.policy,
                        jitter,
                        quiet.as_ref(),
                    )
                })
                .await?;
                attempts += 1;
            }
        }
        Ok(attempts)
    }

    /// Load, change, save with the version check; retried when another writer saved first.
    async fn update(
        &self,
        id: &str,
        change: impl Fn(&mut Notification) -> Result<()>,
    ) -> Result<Notification> {
        for _ in 0..CAS_ATTEMPTS_MAX {
            let current = self.get(id).await?;
            let mut next = current.clone();
            change(&mut next)?;
            if next == current {
                return Ok(current);
            }
            next.version = current.version + 1;
            let events = NotificationEvent::between(Some(&current), &next);
            if self.store.replace(&next, current.version, &events).await? {
                return Ok(next);
            }
        }
        Err(NotificationError::Unavailable(Fault::new(format!(
            "notification {id} is changing too often to update"
        ))))
    }
}

fn next_page(items: &mut Vec<Notification>, page_size: u32) -> Option<String> {
    if items.len() <= page_size as usize {
        return None;
    }
    items.truncate(page_size as usize);
    items.last().map(|n| n.id.clone())
}
