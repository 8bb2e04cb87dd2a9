//! Integration events: each service's outbox ([`hrmesh_storage::outbox`]) read through
//! `hrmesh.events.v1.EventService` ([`service`]) and published to RabbitMQ by the relay
//! ([`relay`]) when an AMQP URL is configured.

pub mod relay;
pub mod service;

use std::sync::Arc;
use std::time::Duration;

use hrmesh_storage::outbox::{Notify, OutboxSource, OutboxStore};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

pub use service::EventRpc;

/// The exchange events are published to unless configured otherwise.
pub const DEFAULT_EXCHANGE: &str = "hrmesh.events";

/// Where a service's events go (the `[events]` table).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventsConfig {
    /// The RabbitMQ broker (`amqp://user:password@host:5672/%2f`). Unset, events stay in the
    /// service's outbox and are read with EventService only.
    pub amqp_url: Option<String>,
    /// The topic exchange events are published to (declared durable if missing); the routing key
    /// is the event's type.
    pub exchange: String,
    /// How long an event is kept once published (without a broker: once written), in seconds.
    pub retention_secs: u64,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            amqp_url: None,
            exchange: DEFAULT_EXCHANGE.to_owned(),
            retention_secs: 7 * 24 * 3600,
        }
    }
}

/// A service's events: the relay running in the background and the EventService over them.
pub struct Events {
    relay: relay::Relay,
    rpc: EventRpc,
}

impl Events {
    /// Starts the relay of service `service` ("ledger", …) over `source`'s outbox. `admin` is
    /// the permission that lets a person read every employee's events.
    pub fn start(
        service: &'static str,
        admin: &'static str,
        source: &impl OutboxSource,
        config: &EventsConfig,
    ) -> Self {
        Self::start_on(
            service,
            admin,
            source.outbox_store(),
            source.outbox_written(),
            config,
        )
    }

    pub fn start_on(
        service: &'static str,
        admin: &'static str,
        store: Arc<dyn OutboxStore>,
        written: Arc<Notify>,
        config: &EventsConfig,
    ) -> Self {
        let (numbered, watch) = watch::channel(());
        let relay = relay::Relay::start(
            relay::RelaySpec {
                source: source_of(service),
                exchange: config.exchange.clone(),
                amqp_url: config.amqp_url.clone(),
                retention: Duration::from_secs(config.retention_secs.max(60)),
                ..relay::RelaySpec::default()
            },
            store.clone(),
            written,
            numbered,
        );
        let rpc = EventRpc::new(store, source_of(service), admin, watch);
        Self { relay, rpc }
    }

    /// The EventService to serve.
    pub fn service(
        &self,
    ) -> hrmesh_proto::events::event_service_server::EventServiceServer<EventRpc> {
        hrmesh_proto::events::event_service_server::EventServiceServer::new(self.rpc.clone())
    }

    /// Stops the relay (events not yet published stay in the outbox).
    pub async fn stop(self) {
        self.relay.stop().await;
    }
}

/// The CloudEvents `source` of service `service`.
pub fn source_of(service: &str) -> String {
    format!("/hrmesh/{service}")
}

/// EventService's name, for health reporting.
pub const SERVICE_NAME: &str = <hrmesh_proto::events::event_service_server::EventServiceServer<
    EventRpc,
> as tonic::server::NamedService>::NAME;

/// A time as protobuf's Timestamp.
pub fn timestamp(at: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// `message` packed as a `google.protobuf.Any` and encoded: what a service's encoder writes to
/// its outbox.
pub fn pack<M: prost::Message + prost::Name>(message: &M) -> Vec<u8> {
    use prost::Message as _;
    prost_types::Any::from_msg(message)
        .expect("encoding into a Vec cannot fail")
        .encode_to_vec()
}
