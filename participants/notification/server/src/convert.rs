//! Hand-written conversion between protobuf messages and the notification domain.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveTime, Utc};
use hrmesh_domain::{EmployeeId, RequestId, Violations};
use hrmesh_notification_core as core;
use hrmesh_notification_core::NotificationError;
use hrmesh_proto::notification as pb;

type Parsed<T> = Result<T, NotificationError>;

fn timestamp(time: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: time.timestamp(),
        nanos: time.timestamp_subsec_nanos() as i32,
    }
}

fn channel_from(field: &str, value: i32, v: &mut Violations) -> Option<core::Channel> {
    match pb::Channel::try_from(value) {
        Ok(pb::Channel::InApp) => Some(core::Channel::InApp),
        Ok(pb::Channel::Email) => Some(core::Channel::Email),
        Ok(pb::Channel::Webhook) => Some(core::Channel::Webhook),
        _ => {
            v.add(
                field,
                "must be CHANNEL_IN_APP, CHANNEL_EMAIL or CHANNEL_WEBHOOK",
            );
            None
        }
    }
}

fn channel_to(channel: core::Channel) -> pb::Channel {
    match channel {
        core::Channel::InApp => pb::Channel::InApp,
        core::Channel::Email => pb::Channel::Email,
        core::Channel::Webhook => pb::Channel::Webhook,
    }
}

/// Categories name preference keys: lowercase identifiers.
fn category(field: &str, text: &str, v: &mut Violations) -> Option<String> {
    let valid = (1..=32).contains(&text.len())
        && text.starts_with(|c: char| c.is_ascii_lowercase())
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if valid {
        return Some(text.to_owned());
    }
    v.add(
        field,
        "must be 1-32 lowercase letters, digits or '_', starting with a letter",
    );
    None
}

/// Notification and delivery ids are UUIDs this service issued.
pub fn issued_id(field: &str, text: &str, v: &mut Violations) -> Option<String> {
    hrmesh_domain::parse_issued_id(field, text, v)
}

pub fn id_only(field: &str, text: &str) -> Parsed<String> {
    let mut v = Violations::default();
    let id = issued_id(field, text, &mut v);
    NotificationError::parsed(v, id)
}

pub fn send(request: pb::SendRequest) -> Parsed<core::SendCommand> {
    let mut v = Violations::default();
    let request_id = RequestId::parse("request_id", &request.request_id, &mut v);
    let recipient = request.recipient.unwrap_or_default();
    let recipient_id = EmployeeId::parse("recipient.recipient_id", &recipient.recipient_id, &mut v);
    let kind = match pb::RecipientKind::try_from(recipient.kind) {
        Ok(pb::RecipientKind::Employee) => Some(core::RecipientKind::Employee),
        Ok(pb::RecipientKind::Manager) => Some(core::RecipientKind::Manager),
        Ok(pb::RecipientKind::Hr) => Some(core::RecipientKind::Hr),
        _ => {
            v.add("recipient.kind", "must be EMPLOYEE, MANAGER or HR");
            None
        }
    };
    let email = match recipient.email.as_str() {
        "" => Some(None),
        address if address.parse::<lettre::Address>().is_ok() => Some(Some(address.to_owned())),
        _ => {
            v.add("recipient.email", "must be an email address");
            None
        }
    };
    let channels: Vec<Option<core::Channel>> = request
        .channels
        .iter()
        .enumerate()
        .map(|(i, c)| channel_from(&format!("channels[{i}]"), *c, &mut v))
        .collect();
    let category = match request.category.as_str() {
        "" => Some(None),
        text => category("category", text, &mut v).map(Some),
    };
    let priority = match pb::Priority::try_from(request.priority) {
        Ok(pb::Priority::Low) => Some(core::Priority::Low),
        Ok(pb::Priority::Normal) | Ok(pb::Priority::Unspecified) => Some(core::Priority::Normal),
        Ok(pb::Priority::High) => Some(core::Priority::High),
        Ok(pb::Priority::Critical) => Some(core::Priority::Critical),
        Err(_) => {
            v.add("priority", "is not a priority");
            None
        }
    };
    hrmesh_domain::check_text("correlation_id", &request.correlation_id, 128, &mut v);
    if request.template.is_empty() {
        v.add("template", "is required");
    }
    let command = (|| {
        Some(core::SendCommand {
            request_id: request_id?,
            recipient: core::Recipient {
                id: recipient_id?,
                kind: kind?,
                email: email?,
            },
            template: request.template,
            payload: request.payload.into_iter().collect::<BTreeMap<_, _>>(),
            channels: channels.into_iter().collect::<Option<Vec<_>>>()?,
            category: category?,
            priority: priority?,
            correlation_id: request.correlation_id,
        })
    })();
    NotificationError::parsed(v, command)
}

pub fn notification(n: core::Notification) -> pb::Notification {
    let state = match n.state() {
        core::NotificationState::Pending => pb::NotificationState::Pending,
        core::NotificationState::Delivered => pb::NotificationState::Delivered,
        core::NotificationState::Failed => pb::NotificationState::Failed,
        core::NotificationState::Retracted => pb::NotificationState::Retracted,
    };
    pb::Notification {
        notification_id: n.id,
        request_id: n.request_id,
        recipient: Some(pb::Recipient {
            recipient_id: n.recipient.id.as_str().to_owned(),
            kind: match n.recipient.kind {
                core::RecipientKind::Employee => pb::RecipientKind::Employee,
                core::RecipientKind::Manager => pb::RecipientKind::Manager,
                core::RecipientKind::Hr => pb::RecipientKind::Hr,
            } as i32,
            email: n.recipient.email.unwrap_or_default(),
        }),
        template: n.template,
        payload: n.payload.into_iter().collect(),
        category: n.category,
        priority: match n.priority {
            core::Priority::Low => pb::Priority::Low,
            core::Priority::Normal => pb::Priority::Normal,
            core::Priority::High => pb::Priority::High,
            core::Priority::Critical => pb::Priority::Critical,
        } as i32,
        correlation_id: n.correlation_id,
        subject: n.subject,
        body: n.body,
        state: state as i32,
        deliveries: n
            .deliveries
            .into_iter()
            .map(|d| pb::Delivery {
                delivery_id: d.id,
                channel: channel_to(d.channel) as i32,
                state: match d.state {
                    core::DeliveryState::Pending => pb::DeliveryState::Pending,
                    core::DeliveryState::Delivered => pb::DeliveryState::Delivered,
                    core::DeliveryState::Dead => pb::DeliveryState::Dead,
                    core::DeliveryState::Cancelled => pb::DeliveryState::Cancelled,
                    core::DeliveryState::Suppressed => pb::DeliveryState::Suppressed,
                } as i32,
                attempts: d
                    .attempts
                    .into_iter()
                    .map(|a| pb::Attempt {
                        time: Some(timestamp(a.at)),
                        ok: a.ok,
                        error: a.error,
                    })
                    .collect(),
                next_attempt_time: d.next_attempt_at.map(timestamp),
                delivered_time: d.delivered_at.map(timestamp),
            })
            .collect(),
        read: n.read_at.is_some(),
        create_time: Some(timestamp(n.created_at)),
        read_time: n.read_at.map(timestamp),
        retract_time: n.retracted_at.map(timestamp),
        retract_reason: n.retract_reason,
    }
}

fn time_of_day(field: &str, text: &str, v: &mut Violations) -> Option<NaiveTime> {
    match NaiveTime::parse_from_str(text, "%H:%M") {
        Ok(time) if text.len() == 5 => Some(time),
        _ => {
            v.add(field, "must be a time of day written HH:MM");
            None
        }
    }
}

pub fn preferences(request: pb::SetPreferencesRequest) -> Parsed<(RequestId, core::Preferences)> {
    let mut v = Violations::default();
    let request_id = RequestId::parse("request_id", &request.request_id, &mut v);
    let prefs = request.preferences.unwrap_or_default();
    let recipient_id = EmployeeId::parse("preferences.recipient_id", &prefs.recipient_id, &mut v);
    let mut disabled: BTreeMap<String, BTreeSet<core::Channel>> = BTreeMap::new();
    for (i, entry) in prefs.categories.iter().enumerate() {
        let Some(name) = category(
            &format!("preferences.categories[{i}].category"),
            &entry.category,
            &mut v,
        ) else {
            continue;
        };
        let channels = entry
            .disabled_channels
            .iter()
            .enumerate()
            .filter_map(|(j, c)| {
                channel_from(
                    &format!("preferences.categories[{i}].disabled_channels[{j}]"),
                    *c,
                    &mut v,
                )
            });
        disabled.entry(name).or_default().extend(channels);
    }
    let quiet_hours = match prefs.quiet_hours {
        None => Some(None),
        Some(quiet) => {
            let start = time_of_day("preferences.quiet_hours.start", &quiet.start, &mut v);
            let end = time_of_day("preferences.quiet_hours.end", &quiet.end, &mut v);
            match (start, end) {
                (Some(start), Some(end)) if start == end => {
                    v.add("preferences.quiet_hours.end", "must differ from start");
                    None
                }
                (Some(start), Some(end)) => Some(Some(core::QuietHours {
                    start,
                    end,
                    time_zone: quiet.time_zone,
                })),
                _ => None,
            }
        }
    };
    let result = (|| {
        Some((
            request_id?,
            core::Preferences {
                recipient_id: recipient_id?,
                disabled,
                quiet_hours: quiet_hours?,
            },
        ))
    })();
    NotificationError::parsed(v, result)
}

pub fn preferences_to(prefs: core::Preferences) -> pb::Preferences {
    pb::Preferences {
        recipient_id: prefs.recipient_id.as_str().to_owned(),
        categories: prefs
            .disabled
            .into_iter()
            .map(|(category, channels)| pb::CategoryChannels {
                category,
                disabled_channels: channels.into_iter().map(|c| channel_to(c) as i32).collect(),
            })
            .collect(),
        quiet_hours: prefs.quiet_hours.map(|q| pb::QuietHours {
            start: q.start.format("%H:%M").to_string(),
            end: q.end.format("%H:%M").to_string(),
            time_zone: q.time_zone,
        }),
    }
}
