use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use hrmesh_domain::{EmployeeId, RequestId};
use serde::{Deserialize, Serialize};

use crate::rules::{QuietHours, RetryPolicy};
use crate::{NotificationError, Rejection, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Channel {
    InApp,
    Email,
    Webhook,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecipientKind {
    Employee,
    Manager,
    Hr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Priority {
    Low,
    Normal,
    High,
    Critical,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    pub id: EmployeeId,
    pub kind: RecipientKind,
    pub email: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeliveryState {
    Pending,
    Delivered,
    Dead,
    Cancelled,
    Suppressed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub at: DateTime<Utc>,
    pub ok: bool,
    pub error: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: String,
    pub channel: Channel,
    pub state: DeliveryState,
    pub attempts: Vec<Attempt>,
    /// Failed attempts since the delivery was created or last redriven.
    pub failures_in_round: u32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// While set and in the future, one worker owns the delivery.
    pub lease_until: Option<DateTime<Utc>>,
    pub lease_owner: Option<String>,
}

impl Delivery {
    fn due_at(&self) -> Option<DateTime<Utc>> {
        if self.state != DeliveryState::Pending {
            return None;
        }
        let next = self.next_attempt_at?;
        Some(match self.lease_until {
            Some(lease) if lease > next => lease,
            _ => next,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NotificationState {
    Pending,
    Delivered,
    Failed,
    Retracted,
}

/// The send request as the caller made it: what idempotency compares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendCommand {
    pub request_id: RequestId,
    pub recipient: Recipient,
    pub template: String,
    pub payload: BTreeMap<String, String>,
    pub channels: Vec<Channel>,
    pub category: Option<String>,
    pub priority: Priority,
    pub correlation_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub id: String,
    pub request_id: String,
    /// `sha256:<hex>` of the [`SendCommand`]'s JSON, compared when the request id comes again.
    pub request_fingerprint: String,
    pub recipient: Recipient,
    pub template: String,
    pub payload: BTreeMap<String, String>,
    pub category: String,
    pub priority: Priority,
    pub correlation_id: String,
    pub subject: String,
    pub body: String,
    pub deliveries: Vec<Delivery>,
    pub read_at: Option<DateTime<Utc>>,
    pub retracted_at: Option<DateTime<Utc>>,
    pub retract_reason: String,
    pub created_at: DateTime<Utc>,
    /// Incremented by every saved change; the store saves only over the version it read.
    pub version: i64,
}

impl Notification {
    pub fn state(&self) -> NotificationState {
        if self.retracted_at.is_some() {
            return NotificationState::Retracted;
        }
        let states = self.deliveries.iter().map(|d| d.state);
        if states.clone().any(|s| s == DeliveryState::Dead) {
            NotificationState::Failed
        } else if states.clone().any(|s| s == DeliveryState::Pending) {
            NotificationState::Pending
        } else {
            NotificationState::Delivered
        }
    }

    /// When the notification's retention period starts: once nothing is left to attempt (every
    /// channel delivered or dead, or retracted), from its creation. None while it is in flight.
    pub fn retention_start(&self) -> Option<DateTime<Utc>> {
        self.due_at().is_none().then_some(self.created_at)
    }

    /// When a worker should next look at this notification (None: nothing left to attempt).
    pub fn due_at(&self) -> Option<DateTime<Utc>> {
        self.deliveries.iter().filter_map(Delivery::due_at).min()
    }

    pub fn has_dead_letter(&self) -> bool {
        self.deliveries
            .iter()
            .any(|d| d.state == DeliveryState::Dead)
    }

    /// Whether it appears in the recipient's in-app list.
    pub fn in_app(&self) -> bool {
        self.deliveries
            .iter()
            .any(|d| d.channel == Channel::InApp && d.state == DeliveryState::Delivered)
    }

    pub fn unread(&self) -> bool {
        self.read_at.is_none()
    }

    fn delivery_mut(&mut self, delivery_id: &str) -> Result<&mut Delivery> {
        self.deliveries
            .iter_mut()
            .find(|d| d.id == delivery_id)
            .ok_or_else(|| NotificationError::not_found("delivery", delivery_id))
    }

    /// Leases every delivery due at `now` to `worker` until `lease_until`; returns their ids.
    pub fn claim_due(
        &mut self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        worker: &str,
    ) -> Vec<String> {
        let mut claimed = Vec::new();
        for delivery in &mut self.deliveries {
            if delivery.due_at().is_some_and(|due| due <= now) {
                delivery.lease_until = Some(lease_until);
                delivery.lease_owner = Some(worker.to_owned());
                claimed.push(delivery.id.clone());
            }
        }
        claimed
    }

    /// Records the outcome of one attempt: delivered; or retried later with backoff (never inside
    /// quiet hours unless critical); or dead-lettered once the policy's attempts are spent.
    pub fn record_attempt(
        &mut self,
        delivery_id: &str,
        outcome: std::result::Result<(), String>,
        now: DateTime<Utc>,
        policy: &RetryPolicy,
        jitter: f64,
        quiet_hours: Option<&QuietHours>,
    ) -> Result<()> {
        let critical = self.priority == Priority::Critical;
        let delivery = self.delivery_mut(delivery_id)?;
        delivery.lease_until = None;
        delivery.lease_owner = None;
        match outcome {
            Ok(()) => {
                delivery.attempts.push(Attempt {
                    at: now,
                    ok: true,
                    error: String::new(),
                });
                // Delivered even if a retraction raced the send: the message is out, say so.
                delivery.state = DeliveryState::Delivered;
                delivery.delivered_at = Some(now);
                delivery.next_attempt_at = None;
            }
            Err(error) => {
                delivery.attempts.push(Attempt {
                    at: now,
                    ok: false,
                    error,
                });
                if delivery.state != DeliveryState::Pending {
                    return Ok(());
                }
                delivery.failures_in_round += 1;
                if delivery.failures_in_round >= policy.attempts_max {
                    delivery.state = DeliveryState::Dead;
                    delivery.next_attempt_at = None;
                } else {
                    let retry_at = now + policy.backoff(delivery.failures_in_round, jitter);
                    let released = quiet_hours
                        .filter(|_| !critical && delivery.channel != Channel::InApp)
                        .and_then(|quiet| quiet.release_time(retry_at));
                    delivery.next_attempt_at = Some(released.unwrap_or(retry_at));
                }
            }
        }
        Ok(())
    }

    /// Cancels deliveries not yet made and marks the notification retracted (an in-app one already
    /// shown stays listed, shown as retracted). Retracting twice changes nothing.
    pub fn retract(&mut self, now: DateTime<Utc>, reason: &str) {
        if self.retracted_at.is_some() {
            return;
        }
        for delivery in &mut self.deliveries {
            if matches!(delivery.state, DeliveryState::Pending | DeliveryState::Dead) {
                delivery.state = DeliveryState::Cancelled;
                delivery.next_attempt_at = None;
            }
        }
        self.retracted_at = Some(now);
        self.retract_reason = reason.to_owned();
    }

    pub fn mark_read(&mut self, now: DateTime<Utc>) -> Result<()> {
        if !self.in_app() {
            return Err(NotificationError::Rejected(Rejection::NotInApp {
                notification_id: self.id.clone(),
            }));
        }
        if self.read_at.is_none() {
            self.read_at = Some(now);
        }
        Ok(())
    }

    /// Gives a dead-lettered delivery a fresh round of attempts, due now.
    pub fn redrive(&mut self, delivery_id: &str, now: DateTime<Utc>) -> Result<()> {
        let retracted = self.retracted_at.is_some();
        let delivery = self.delivery_mut(delivery_id)?;
        if retracted || delivery.state != DeliveryState::Dead {
            return Err(NotificationError::Rejected(Rejection::DeliveryNotDead {
                delivery_id: delivery_id.to_owned(),
                state: format!("{:?}", delivery.state),
            }));
        }
        delivery.state = DeliveryState::Pending;
        delivery.failures_in_round = 0;
        delivery.next_attempt_at = Some(now);
        Ok(())
    }
}

/// A recipient's preferences.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preferences {
    pub recipient_id: EmployeeId,
    /// Channels turned off, per category.
    pub disabled: BTreeMap<String, BTreeSet<Channel>>,
    pub quiet_hours: Option<QuietHours>,
}

impl Preferences {
    pub fn none(recipient_id: EmployeeId) -> Self {
        Self {
            recipient_id,
            disabled: BTreeMap::new(),
            quiet_hours: None,
        }
    }

    pub fn allows(&self, category: &str, channel: Channel) -> bool {
        !self
            .disabled
            .get(category)
            .is_some_and(|off| off.contains(&channel))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkRead {
    pub request_id: RequestId,
    pub notification_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retract {
    pub request_id: RequestId,
    pub notification_id: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redrive {
    pub request_id: RequestId,
    pub notification_id: String,
    pub delivery_id: String,
}
