//! The delivery channels: in-app (storing is delivering), email over SMTP (lettre) and signed
//! webhooks (reqwest). Each failure comes back as a reason; the core decides about retries.

use std::time::Duration;

use hmac::{Hmac, Mac};
use hrmesh_notification_core::{
    Channel, ChannelSender, Delivery, Notification, Priority, RecipientKind,
};
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// How to reach the mail server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain SMTP: only for a relay on the same host or network (and tests).
    None,
    /// STARTTLS on the submission port.
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: Option<String>,
    pub password: Option<String>,
    /// The From address, e.g. "hrmesh <no-reply@example.com>".
    pub from: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookConfig {
    pub url: String,
    /// Key of the HMAC-SHA256 signature in `X-Hrmesh-Signature`.
    pub secret: String,
    pub timeout_ms: u64,
}

/// The channels this deployment delivers on.
#[derive(Clone)]
pub struct Channels {
    smtp: Option<(AsyncSmtpTransport<Tokio1Executor>, lettre::message::Mailbox)>,
    webhook: Option<(reqwest::Client, WebhookConfig)>,
}

impl Channels {
    pub fn new(smtp: Option<&SmtpConfig>, webhook: Option<&WebhookConfig>) -> anyhow::Result<Self> {
        hrmesh_mesh::tls::install_crypto_provider();
        let smtp = match smtp {
            None => None,
            Some(config) => {
                let mut builder = match config.security {
                    SmtpSecurity::None => {
                        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
                    }
                    SmtpSecurity::Starttls => {
                        AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host)?
                    }
                    SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host)?,
                }
                .port(config.port)
                .timeout(Some(Duration::from_secs(10)));
                if let (Some(user), Some(password)) = (&config.username, &config.password) {
                    builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
                }
                Some((builder.build(), config.from.parse()?))
            }
        };
        let webhook = match webhook {
            None => None,
            Some(config) => {
                let client = reqwest::Client::builder()
                    .timeout(Duration::from_millis(config.timeout_ms))
                    .build()?;
                Some((client, config.clone()))
            }
        };
        Ok(Self { smtp, webhook })
    }
}

#[derive(Serialize)]
struct WebhookBody<'a> {
    notification_id: &'a str,
    delivery_id: &'a str,
    recipient_id: &'a str,
    recipient_kind: &'a str,
    template: &'a str,
    category: &'a str,
    priority: &'a str,
    correlation_id: &'a str,
    subject: &'a str,
    body: &'a str,
    payload: &'a std::collections::BTreeMap<String, String>,
    create_time: String,
}

/// `sha256=<hex>` of HMAC-SHA256 over `"<timestamp>.<body>"`: receivers recompute it with the shared
/// secret and reject old timestamps, so a captured request cannot be replayed later.
pub fn webhook_signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl ChannelSender for Channels {
    fn configured(&self, channel: Channel) -> bool {
        match channel {
            Channel::InApp => true,
            Channel::Email => self.smtp.is_some(),
            Channel::Webhook => self.webhook.is_some(),
        }
    }

    async fn deliver(
        &self,
        notification: &Notification,
        delivery: &Delivery,
    ) -> Result<(), String> {
        match delivery.channel {
            Channel::InApp => Ok(()),
            Channel::Email => {
                let (transport, from) = self.smtp.as_ref().ok_or("email is not configured")?;
                let to = notification
                    .recipient
                    .email
                    .as_deref()
                    .ok_or("the recipient has no email address")?;
                let message = Message::builder()
                    .from(from.clone())
                    .to(to
                        .parse()
                        .map_err(|err| format!("recipient address {to:?}: {err}"))?)
                    .subject(&notification.subject)
                    .header(ContentType::TEXT_PLAIN)
                    .body(notification.body.clone())
                    .map_err(|err| format!("building the message: {err}"))?;
                transport
                    .send(message)
                    .await
                    .map(drop)
                    .map_err(|err| format!("SMTP: {err}"))
            }
            Channel::Webhook => {
                let (client, config) =
                    self.webhook.as_ref().ok_or("webhooks are not configured")?;
                let body = serde_json::to_vec(&WebhookBody {
                    notification_id: &notification.id,
                    delivery_id: &delivery.id,
                    recipient_id: notification.recipient.id.as_str(),
                    recipient_kind: match notification.recipient.kind {
                        RecipientKind::Employee => "employee",
                        RecipientKind::Manager => "manager",
                        RecipientKind::Hr => "hr",
                    },
                    template: &notification.template,
                    category: &notification.category,
                    priority: match notification.priority {
                        Priority::Low => "low",
                        Priority::Normal => "normal",
                        Priority::High => "high",
                        Priority::Critical => "critical",
                    },
                    correlation_id: &notification.correlation_id,
                    subject: &notification.subject,
                    body: &notification.body,
                    payload: &notification.payload,
                    create_time: notification.created_at.to_rfc3339(),
                })
                .map_err(|err| format!("encoding the webhook body: {err}"))?;
                let timestamp = chrono::Utc::now().timestamp();
                let response = client
                    .post(&config.url)
                    .header("content-type", "application/json")
                    .header("x-hrmesh-delivery", &delivery.id)
                    .header("x-hrmesh-timestamp", timestamp.to_string())
                    .header(
                        "x-hrmesh-signature",
                        webhook_signature(&config.secret, timestamp, &body),
                    )
                    .body(body)
                    .send()
                    .await
                    .map_err(|err| format!("webhook: {err}"))?;
                if response.status().is_success() {
                    Ok(())
                } else {
                    Err(format!("webhook answered {}", response.status()))
                }
            }
        }
    }
}
