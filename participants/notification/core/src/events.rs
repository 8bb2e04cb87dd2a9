//! Notification's domain events (catalogued in `proto/hrmesh/events/v1`), computed from what a
//! saved change did to the document and saved with it.

use hrmesh_domain::{DomainEvent, EmployeeId};
use serde::{Deserialize, Serialize};

use crate::{Channel, DeliveryState, Notification};

/// One delivery's facts: what a consumer needs, no message text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryFacts {
    pub notification_id: String,
    pub recipient_id: EmployeeId,
    pub channel: Channel,
    pub template: String,
    pub attempts: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NotificationEvent {
    Delivered(DeliveryFacts),
    DeadLettered(DeliveryFacts),
}

impl NotificationEvent {
    /// The deliveries that became delivered or dead-lettered between `before` (none for a new
    /// notification) and `after`.
    pub fn between(before: Option<&Notification>, after: &Notification) -> Vec<Self> {
        after
            .deliveries
            .iter()
            .filter_map(|delivery| {
                let was = before
                    .and_then(|n| n.deliveries.iter().find(|d| d.id == delivery.id))
                    .map(|d| d.state);
                let facts = || DeliveryFacts {
                    notification_id: after.id.clone(),
                    recipient_id: after.recipient.id.clone(),
                    channel: delivery.channel,
                    template: after.template.clone(),
                    attempts: u32::try_from(delivery.attempts.len()).unwrap_or(u32::MAX),
                };
                match delivery.state {
                    DeliveryState::Delivered if was != Some(DeliveryState::Delivered) => {
                        Some(Self::Delivered(facts()))
                    }
                    DeliveryState::Dead if was != Some(DeliveryState::Dead) => {
                        Some(Self::DeadLettered(facts()))
                    }
                    _ => None,
                }
            })
            .collect()
    }

    fn facts(&self) -> &DeliveryFacts {
        match self {
            Self::Delivered(facts) | Self::DeadLettered(facts) => facts,
        }
    }
}

impl DomainEvent for NotificationEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Delivered(_) => "hrmesh.notification.notification.delivered.v1",
            Self::DeadLettered(_) => "hrmesh.notification.notification.dead_lettered.v1",
        }
    }

    fn subject(&self) -> &str {
        self.facts().recipient_id.as_str()
    }

    fn aggregate(&self) -> String {
        format!("notification/{}", self.facts().notification_id)
    }
}
