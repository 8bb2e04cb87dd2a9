//! The notification service: `hrmesh.notification.v1.NotificationService` over the core
//! [`Notifier`], a store (MongoDB when configured, SQLite/PostgreSQL otherwise), the channels, and
//! the delivery worker. A Send wakes the worker at once, so deliveries go out within moments of
//! being accepted; the worker also polls, for retries and for work other replicas left behind.

mod channels;
mod convert;
pub mod events;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hrmesh_domain::{Clock, EmployeeId, SystemClock, Violations};
use hrmesh_mesh::auth::principal;
use hrmesh_mesh::config::CommonConfig;
use hrmesh_mesh::events::Events;
use hrmesh_mesh::server::{RunningServer, ServeSpec};
use hrmesh_mesh::status::{self, Refused};
use hrmesh_notification_core::{
    MarkRead, NotificationError, NotificationStore, Notifier, Redrive, Rejection, Retract,
    RetryPolicy,
};
use hrmesh_notification_store::{MongoNotificationStore, SqlNotificationStore};
use hrmesh_proto::notification as pb;
use hrmesh_proto::notification::notification_service_server::{
    NotificationService, NotificationServiceServer,
};
use hrmesh_storage::audit::{AuditLog, AuditSource};
use hrmesh_storage::outbox::OutboxSource;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tonic::{Request, Response, Status};

pub use channels::{Channels, SmtpConfig, SmtpSecurity, WebhookConfig, webhook_signature};

pub const DEFAULT_PORT: u16 = 50054;
const PAGE_SIZE_DEFAULT: u32 = 50;
const PAGE_SIZE_MAX: u32 = 500;

/// The notification service's configuration (see `hrmesh serve notification --help`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationConfig {
    #[serde(flatten)]
    pub common: CommonConfig,
    /// A MongoDB URI; when set, notifications are stored there instead of the SQL database.
    pub mongodb_url: Option<String>,
    pub mongodb_database: String,
    /// Email delivery; unset means the email channel is refused.
    pub smtp: Option<SmtpConfig>,
    /// Webhook delivery; unset means the webhook channel is refused.
    pub webhook: Option<WebhookConfig>,
    pub retry: RetryPolicy,
    /// Whether this process runs the delivery worker (replicas may leave it to others).
    pub worker_enabled: bool,
    /// How often the worker looks for due deliveries, in milliseconds (0: only when woken).
    pub worker_poll_ms: u64,
    /// Notifications claimed per worker round.
    pub worker_batch: u32,
}

impl Default for NotificationConfig {
    fn default() -> Self {
        Self {
            common: CommonConfig::new("notification", DEFAULT_PORT),
            mongodb_url: None,
            mongodb_database: "hrmesh_notification".into(),
            smtp: None,
            webhook: None,
            retry: RetryPolicy::default(),
            worker_enabled: true,
            worker_poll_ms: 1000,
            worker_batch: 100,
        }
    }
}

/// Maps a notification failure to its gRPC status with google.rpc details.
pub fn to_status(error: NotificationError) -> Status {
    status::to_status(error, refused)
}

/// Every refusal is FAILED_PRECONDITION, with a [`pb::NotificationErrorReason`].
fn refused(rejection: Rejection) -> Refused {
    use pb::NotificationErrorReason as Reason;
    let (reason, metadata) = match rejection {
        Rejection::NotInApp { notification_id } => {
            (Reason::NotInApp, vec![("notification_id", notification_id)])
        }
        Rejection::DeliveryNotDead { delivery_id, state } => (
            Reason::DeliveryNotDead,
            vec![("delivery_id", delivery_id), ("state", state)],
        ),
        Rejection::ChannelNotConfigured { channel } => {
            (Reason::ChannelNotConfigured, vec![("channel", channel)])
        }
    };
    Refused::precondition(reason.as_str_name(), metadata)
}

type Shared<S, C> = Arc<Notifier<S, C, Channels>>;

pub struct NotificationGrpc<S, C> {
    notifier: Shared<S, C>,
    wake_worker: Arc<Notify>,
    audit: AuditLog,
}

/// The permission each method needs (checked by the mesh layer before the handler runs).
pub const PERMISSIONS: &[(&str, &str)] = &[
    ("/hrmesh.notification.v1.NotificationService/Send", CREATE),
    (
        "/hrmesh.notification.v1.NotificationService/GetNotification",
        READ,
    ),
    (
        "/hrmesh.notification.v1.NotificationService/ListNotifications",
        READ,
    ),
    (
        "/hrmesh.notification.v1.NotificationService/MarkRead",
        UPDATE,
    ),
    (
        "/hrmesh.notification.v1.NotificationService/Retract",
        UPDATE,
    ),
    (
        "/hrmesh.notification.v1.NotificationService/GetPreferences",
        READ,
    ),
    (
        "/hrmesh.notification.v1.NotificationService/SetPreferences",
        UPDATE,
    ),
    (
        "/hrmesh.notification.v1.NotificationService/ListDeadLetters",
        ADMIN,
    ),
    ("/hrmesh.notification.v1.NotificationService/Redrive", ADMIN),
    (
        "/hrmesh.notification.v1.NotificationService/ErasePersonalData",
        ADMIN,
    ),
    (
        "/hrmesh.notification.v1.NotificationService/ListAuditEvents",
        ADMIN,
    ),
    ("/hrmesh.events.v1.EventService/ListEvents", READ),
    ("/hrmesh.events.v1.EventService/WatchEvents", READ),
];
const CREATE: &str = "notification.create";
const READ: &str = "notification.read";
const UPDATE: &str = "notification.update";
/// Also lets a caller read every recipient's notifications.
const ADMIN: &str = "notification.admin";

fn respond<T, U>(
    result: Result<T, NotificationError>,
    convert: impl FnOnce(T) -> U,
) -> Result<Response<U>, Status> {
    result
        .map(|value| Response::new(convert(value)))
        .map_err(to_status)
}

fn page_token(field: &str, token: &str, v: &mut Violations) -> Option<Option<String>> {
    match token {
        "" => Some(None),
        token => convert::issued_id(field, token, v).map(Some),
    }
}

fn request_id(text: &str, v: &mut Violations) -> Option<hrmesh_domain::RequestId> {
    hrmesh_domain::RequestId::parse("request_id", text, v)
}

fn invalid(v: Violations) -> Status {
    to_status(NotificationError::Invalid(v.into_vec()))
}

#[tonic::async_trait]
impl<S: NotificationStore, C: Clock> NotificationService for NotificationGrpc<S, C> {
    async fn send(
        &self,
        request: Request<pb::SendRequest>,
    ) -> Result<Response<pb::Notification>, Status> {
        let command = convert::send(request.into_inner()).map_err(to_status)?;
        let sent = self.notifier.send(command).await;
        if sent.is_ok() {
            self.wake_worker.notify_one();
        }
        respond(sent, convert::notification)
    }

    async fn get_notification(
        &self,
        request: Request<pb::GetNotificationRequest>,
    ) -> Result<Response<pb::Notification>, Status> {
        let id = convert::id_only("notification_id", &request.get_ref().notification_id)
            .map_err(to_status)?;
        let notification = self.notifier.get(&id).await.map_err(to_status)?;
        principal(&request)?.check_read(notification.recipient.id.as_str(), ADMIN)?;
        Ok(Response::new(convert::notification(notification)))
    }

    async fn list_notifications(
        &self,
        request: Request<pb::ListNotificationsRequest>,
    ) -> Result<Response<pb::ListNotificationsResponse>, Status> {
        principal(&request)?.check_read(&request.get_ref().recipient_id, ADMIN)?;
        let request = request.into_inner();
        let mut v = Violations::default();
        let recipient = EmployeeId::parse("recipient_id", &request.recipient_id, &mut v);
        let before = page_token("page_token", &request.page_token, &mut v);
        let size =
            hrmesh_domain::page_size(request.page_size, PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX, &mut v);
        let (Some(recipient), Some(before), true) = (recipient, before, v.is_empty()) else {
            return Err(invalid(v));
        };
        let page = self
            .notifier
            .list_in_app(&recipient, request.unread_only, before.as_deref(), size)
            .await;
        respond(page, |(items, next)| pb::ListNotificationsResponse {
            notifications: items.into_iter().map(convert::notification).collect(),
            next_page_token: next.unwrap_or_default(),
        })
    }

    async fn mark_read(
        &self,
        request: Request<pb::MarkReadRequest>,
    ) -> Result<Response<pb::Notification>, Status> {
        let caller = principal(&request)?.clone();
        let request = request.into_inner();
        let mut v = Violations::default();
        let request_id = request_id(&request.request_id, &mut v);
        let id = convert::issued_id("notification_id", &request.notification_id, &mut v);
        let (Some(request_id), Some(notification_id)) = (request_id, id) else {
            return Err(invalid(v));
        };
        // Only the recipient (or an admin) marks a notification read.
        let notification = self
            .notifier
            .get(&notification_id)
            .await
            .map_err(to_status)?;
        caller.check_read(notification.recipient.id.as_str(), ADMIN)?;
        respond(
            self.notifier
                .mark_read(MarkRead {
                    request_id,
                    notification_id,
                })
                .await,
            convert::notification,
        )
    }

    async fn retract(
        &self,
        request: Request<pb::RetractRequest>,
    ) -> Result<Response<pb::Notification>, Status> {
        let request = request.into_inner();
        let mut v = Violations::default();
        let request_id = request_id(&request.request_id, &mut v);
        let id = convert::issued_id("notification_id", &request.notification_id, &mut v);
        hrmesh_domain::check_text("reason", &request.reason, 500, &mut v);
        let (Some(request_id), Some(notification_id), true) = (request_id, id, v.is_empty()) else {
            return Err(invalid(v));
        };
        respond(
            self.notifier
                .retract(Retract {
                    request_id,
                    notification_id,
                    reason: request.reason,
                })
                .await,
            convert::notification,
        )
    }

    async fn get_preferences(
        &self,
        request: Request<pb::GetPreferencesRequest>,
    ) -> Result<Response<pb::Preferences>, Status> {
        principal(&request)?.check_read(&request.get_ref().recipient_id, ADMIN)?;
        let mut v = Violations::default();
        let Some(recipient) =
            EmployeeId::parse("recipient_id", &request.get_ref().recipient_id, &mut v)
        else {
            return Err(invalid(v));
        };
        respond(
            self.notifier.preferences(&recipient).await,
            convert::preferences_to,
        )
    }

    async fn set_preferences(
        &self,
        request: Request<pb::SetPreferencesRequest>,
    ) -> Result<Response<pb::Preferences>, Status> {
        // One's own preferences, unless an admin.
        let recipient = request
            .get_ref()
            .preferences
            .as_ref()
            .map(|preferences| preferences.recipient_id.as_str())
            .unwrap_or_default();
        principal(&request)?.check_read(recipient, ADMIN)?;
        // Setting the same preferences again is harmless, so the request id needs no record.
        let (_request_id, preferences) =
            convert::preferences(request.into_inner()).map_err(to_status)?;
        respond(
            self.notifier.set_preferences(preferences).await,
            convert::preferences_to,
        )
    }

    async fn list_dead_letters(
        &self,
        request: Request<pb::ListDeadLettersRequest>,
    ) -> Result<Response<pb::ListDeadLettersResponse>, Status> {
        let request = request.into_inner();
        let mut v = Violations::default();
        let after = page_token("page_token", &request.page_token, &mut v);
        let size =
            hrmesh_domain::page_size(request.page_size, PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX, &mut v);
        let (Some(after), true) = (after, v.is_empty()) else {
            return Err(invalid(v));
        };
        respond(
            self.notifier.dead_letters(after.as_deref(), size).await,
            |(items, next)| pb::ListDeadLettersResponse {
                notifications: items.into_iter().map(convert::notification).collect(),
                next_page_token: next.unwrap_or_default(),
            },
        )
    }

    async fn redrive(
        &self,
        request: Request<pb::RedriveRequest>,
    ) -> Result<Response<pb::Notification>, Status> {
        let request = request.into_inner();
        let mut v = Violations::default();
        let request_id = request_id(&request.request_id, &mut v);
        let notification_id =
            convert::issued_id("notification_id", &request.notification_id, &mut v);
        let delivery_id = convert::issued_id("delivery_id", &request.delivery_id, &mut v);
        let (Some(request_id), Some(notification_id), Some(delivery_id)) =
            (request_id, notification_id, delivery_id)
        else {
            return Err(invalid(v));
        };
        let redriven = self
            .notifier
            .redrive(Redrive {
                request_id,
                notification_id,
                delivery_id,
            })
            .await;
        if redriven.is_ok() {
            self.wake_worker.notify_one();
        }
        respond(redriven, convert::notification)
    }

    async fn erase_personal_data(
        &self,
        request: Request<hrmesh_proto::common::ErasePersonalDataRequest>,
    ) -> Result<Response<hrmesh_proto::common::Erasure>, Status> {
        let command =
            hrmesh_mesh::crypto::erase_request(request.into_inner()).map_err(to_status)?;
        respond(
            self.notifier.erase_personal_data(command).await,
            hrmesh_mesh::crypto::erasure,
        )
    }

    async fn list_audit_events(
        &self,
        request: Request<hrmesh_proto::common::ListAuditEventsRequest>,
    ) -> Result<Response<hrmesh_proto::common::ListAuditEventsResponse>, Status> {
        hrmesh_mesh::audit::list_rpc(&self.audit, request).await
    }
}

/// A running notification service: the gRPC server and the delivery worker.
pub struct NotificationServer {
    pub server: RunningServer,
    notifier: Arc<dyn DeliveryRounds>,
    worker: JoinHandle<()>,
    events: Events,
    /// The job that moves data keys to the keyring's current version (a store of its own only).
    rewrap: Option<hrmesh_mesh::crypto::Rewrap>,
    /// The job that archives records past their retention (a SQL store of its own only).
    retention: Option<JoinHandle<()>>,
}

/// One delivery round on demand, whatever the store and clock of the server (tests with a manual
/// clock drive delivery by hand).
#[tonic::async_trait]
pub trait DeliveryRounds: Send + Sync {
    /// Attempts the deliveries due now as `worker`, at most `limit`; the attempts made.
    async fn deliver_due(&self, worker: &str, limit: u32) -> Result<u32, NotificationError>;
}

#[tonic::async_trait]
impl<S: NotificationStore, C: Clock> DeliveryRounds for Notifier<S, C, Channels> {
    async fn deliver_due(&self, worker: &str, limit: u32) -> Result<u32, NotificationError> {
        Notifier::deliver_due(self, worker, limit).await
    }
}

impl NotificationServer {
    /// Starts on the configured store: MongoDB when `mongodb_url` is set, SQL otherwise.
    pub async fn start(config: &NotificationConfig) -> anyhow::Result<Self> {
        let channels = Channels::new(config.smtp.as_ref(), config.webhook.as_ref())?;
        let every = Duration::from_secs(config.common.crypto.rewrap_interval_secs);
        let rewrap_job = |vault: &hrmesh_storage::vault::Vault, keys| {
            (!every.is_zero())
                .then(|| hrmesh_mesh::crypto::Rewrap::start(vault.clone(), keys, every))
        };
        let server = match &config.mongodb_url {
            Some(url) => {
                // A server database: the keyring must be configured, never a development one.
                let keyring = config.common.crypto.keyring(None)?;
                let store = MongoNotificationStore::open(
                    url,
                    &config.mongodb_database,
                    events::encode,
                    keyring,
                )
                .await
                .context("opening MongoDB")?;
                let rewrap = rewrap_job(store.vault(), store.key_rows());
                // A server database: archived only to a directory configured for it.
                let retention = match config.common.retention.archive_dir {
                    Some(_) => config.common.retention.start(
                        "notification",
                        &config.common,
                        store.record_kinds(),
                        store.leases(),
                        SystemClock,
                    )?,
                    None => None,
                };
                let mut server = Self::start_with(store, SystemClock, channels, config).await?;
                server.rewrap = rewrap;
                server.retention = retention;
                server
            }
            None => {
                let store = SqlNotificationStore::open(
                    &config.common.database_url("notification"),
                    events::encode,
                    config.common.keyring()?,
                )
                .await
                .context("opening the notification database")?;
                let rewrap = rewrap_job(store.vault(), Arc::new(store.connection().clone()));
                let retention = config.common.retention.start(
                    "notification",
                    &config.common,
                    store.record_kinds(),
                    Arc::new(store.connection().clone()),
                    SystemClock,
                )?;
                let mut server = Self::start_with(store, SystemClock, channels, config).await?;
                server.rewrap = rewrap;
                server.retention = retention;
                server
            }
        };
        Ok(server)
    }

    /// Serves `store` with `clock` (tests pass a manual clock) through `channels`.
    pub async fn start_with<
        S: NotificationStore + AuditSource + OutboxSource + Clone,
        C: Clock + Clone,
    >(
        store: S,
        clock: C,
        channels: Channels,
        config: &NotificationConfig,
    ) -> anyhow::Result<Self> {
        let events = Events::start("notification", ADMIN, &store, &config.common.events);
        let (mesh, audit) = hrmesh_mesh::mesh::layer(
            "notification",
            PERMISSIONS,
            &config.common.auth,
            store.audit_store(),
        )
        .await?;
        let notifier = Arc::new(Notifier::new(
            store,
            clock,
            channels,
            config.retry.clone(),
            fastrand::f64,
        ));
        let wake_worker = Arc::new(Notify::new());
        let worker = if config.worker_enabled {
            tokio::spawn(deliver_forever(
                Arc::clone(&notifier),
                Arc::clone(&wake_worker),
                config.worker_poll_ms,
                config.worker_batch.max(1),
            ))
        } else {
            tokio::spawn(std::future::ready(()))
        };
        let grpc = NotificationGrpc {
            notifier: Arc::clone(&notifier),
            wake_worker,
            audit,
        };
        let spec = ServeSpec {
            routes: tonic::service::Routes::new(NotificationServiceServer::new(grpc))
                .add_service(events.service()),
            service_names: vec![
                <NotificationServiceServer<NotificationGrpc<S, C>> as tonic::server::NamedService>::NAME,
                hrmesh_mesh::events::SERVICE_NAME,
            ],
            descriptor_sets: vec![hrmesh_proto::FILE_DESCRIPTOR_SET],
            cors_allowed_origins: config.common.cors_allowed_origins.clone(),
            mesh,
            dependencies: Vec::new(),
            tls: config.common.tls.clone(),
            site: None,
        };
        let server = RunningServer::start(config.common.listen, spec).await?;
        tracing::info!(addr = %server.addr, "notification serving");
        Ok(Self {
            server,
            notifier,
            worker,
            events,
            rewrap: None,
            retention: None,
        })
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.server.addr
    }

    /// The service's core, for driving delivery rounds directly (tests with a controlled clock).
    pub fn notifier(&self) -> &dyn DeliveryRounds {
        self.notifier.as_ref()
    }

    /// Stops the delivery worker, drains the server, then stops the event relay.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.worker.abort();
        if let Some(retention) = self.retention {
            retention.abort();
        }
        let stopped = self.server.stop().await;
        self.events.stop().await;
        if let Some(rewrap) = self.rewrap {
            rewrap.stop().await;
        }
        stopped
    }
}

async fn deliver_forever<S: NotificationStore, C: Clock>(
    notifier: Shared<S, C>,
    wake: Arc<Notify>,
    poll_ms: u64,
    batch: u32,
) {
    let worker = format!("{}-{}", std::process::id(), uuid_like());
    let poll = (poll_ms > 0).then(|| Duration::from_millis(poll_ms));
    loop {
        match poll {
            Some(poll) => {
                let _ = tokio::time::timeout(poll, wake.notified()).await;
            }
            None => wake.notified().await,
        }
        // Drain what is due, a bounded batch at a time.
        loop {
            match notifier.deliver_due(&worker, batch).await {
                Ok(0) => break,
                Ok(attempts) => tracing::debug!(attempts, "delivery round"),
                Err(err) => {
                    tracing::warn!(error = %hrmesh_domain::error::report(&err), "delivery round failed; retrying at the next poll");
                    break;
                }
            }
        }
    }
}

/// A per-process worker name suffix.
fn uuid_like() -> String {
    format!("{:016x}", fastrand::u64(..))
}
