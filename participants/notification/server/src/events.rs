//! Notification's events as the catalogue's messages (`hrmesh.events.v1`), encoded for the outbox.

use hrmesh_mesh::events::pack;
use hrmesh_notification_core::{Channel, DeliveryFacts, NotificationEvent};
use hrmesh_proto::events as pb;

fn channel(channel: Channel) -> &'static str {
    match channel {
        Channel::InApp => "in_app",
        Channel::Email => "email",
        Channel::Webhook => "webhook",
    }
}

/// The outbox's encoder for notification (both stores' `open`).
pub fn encode(event: &NotificationEvent) -> Vec<u8> {
    let fields = |facts: &DeliveryFacts| {
        (
            facts.notification_id.clone(),
            facts.recipient_id.to_string(),
            channel(facts.channel).to_owned(),
            facts.template.clone(),
            facts.attempts,
        )
    };
    match event {
        NotificationEvent::Delivered(facts) => {
            let (notification_id, recipient_id, channel, template, attempts) = fields(facts);
            pack(&pb::NotificationDelivered {
                notification_id,
                recipient_id,
                channel,
                template,
                attempts,
            })
        }
        NotificationEvent::DeadLettered(facts) => {
            let (notification_id, recipient_id, channel, template, attempts) = fields(facts);
            pack(&pb::NotificationDeadLettered {
                notification_id,
                recipient_id,
                channel,
                template,
                attempts,
            })
        }
    }
}
