//! `hrmesh.events.v1.EventService` over a service's outbox: ListEvents pages from a cursor,
//! WatchEvents streams from one and then follows new events.

use std::sync::Arc;
use std::time::Duration;

use hrmesh_domain::FieldViolation;
use hrmesh_proto::events as pb;
use hrmesh_storage::outbox::{OutboxStore, StoredEvent};
use prost::Message;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Request, Response, Status};

use crate::auth::{ActorType, Principal, principal};
use crate::status;

const PAGE_DEFAULT: u64 = 100;
const PAGE_MAX: i32 = 500;
/// Events one WatchEvents stream buffers for a slow reader.
const WATCH_BUFFER: usize = 64;
/// How often a watcher looks for events numbered by another replica.
const WATCH_POLL: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct EventRpc {
    store: Arc<dyn OutboxStore>,
    source: String,
    admin: &'static str,
    numbered: watch::Receiver<()>,
}

impl EventRpc {
    pub fn new(
        store: Arc<dyn OutboxStore>,
        source: String,
        admin: &'static str,
        numbered: watch::Receiver<()>,
    ) -> Self {
        Self {
            store,
            source,
            admin,
            numbered,
        }
    }

    /// The subject the caller may list: any (None) for services and admins, otherwise one they
    /// may read, which they must name.
    fn subject(&self, caller: &Principal, subject: &str) -> Result<Option<String>, Status> {
        if subject.is_empty() {
            if caller.actor == ActorType::System || caller.has(self.admin) {
                return Ok(None);
            }
            return Err(status::with_reason(
                Code::PermissionDenied,
                hrmesh_proto::common::ErrorReason::NotOwnRecord.as_str_name(),
                format!(
                    "reading every employee's events needs {}; name a subject you may read",
                    self.admin
                ),
                [("permission", self.admin.to_owned())],
            ));
        }
        if subject.len() > 128 || !subject.bytes().all(|byte| byte.is_ascii_graphic()) {
            return Err(status::invalid_argument(&[FieldViolation {
                field: "subject".to_owned(),
                description: "must be an employee id: 1-128 visible ASCII characters".to_owned(),
            }]));
        }
        caller.check_read(subject, self.admin)?;
        Ok(Some(subject.to_owned()))
    }
}

fn cursor(after_position: u64) -> Result<i64, Status> {
    i64::try_from(after_position).map_err(|_| {
        status::invalid_argument(&[FieldViolation {
            field: "after_position".to_owned(),
            description: "is past any position this service hands out".to_owned(),
        }])
    })
}

fn storage(err: anyhow::Error) -> Status {
    tracing::warn!(error = format!("{err:#}"), "reading the outbox failed");
    status::unavailable("the event store is unavailable; retry")
}

/// The event as EventService answers it.
pub fn to_event(source: &str, event: StoredEvent) -> pb::Event {
    let data = prost_types::Any::decode(event.data.as_slice()).ok();
    let data_schema = data
        .as_ref()
        .and_then(|any| any.type_url.rsplit('/').next())
        .map(|name| format!("proto:{name}"))
        .unwrap_or_default();
    pb::Event {
        position: u64::try_from(event.position).unwrap_or_default(),
        id: event.id,
        source: source.to_owned(),
        spec_version: "1.0".to_owned(),
        r#type: event.event_type,
        subject: event.subject,
        time: Some(super::timestamp(event.time)),
        data_content_type: "application/protobuf".to_owned(),
        data_schema,
        data,
    }
}

#[tonic::async_trait]
impl pb::event_service_server::EventService for EventRpc {
    async fn list_events(
        &self,
        request: Request<pb::ListEventsRequest>,
    ) -> Result<Response<pb::ListEventsResponse>, Status> {
        let caller = principal(&request)?.clone();
        let request = request.into_inner();
        let subject = self.subject(&caller, &request.subject)?;
        let after = cursor(request.after_position)?;
        let limit = match request.page_size {
            0 => PAGE_DEFAULT,
            size @ 1..=PAGE_MAX => size as u64,
            _ => {
                return Err(status::invalid_argument(&[FieldViolation {
                    field: "page_size".to_owned(),
                    description: format!("must be between 1 and {PAGE_MAX} (0 means 100)"),
                }]));
            }
        };
        let events = self
            .store
            .after(after, subject.as_deref(), limit)
            .await
            .map_err(storage)?;
        let next_position = events
            .last()
            .map_or(request.after_position, |event| event.position as u64);
        Ok(Response::new(pb::ListEventsResponse {
            events: events
                .into_iter()
                .map(|event| to_event(&self.source, event))
                .collect(),
            next_position,
        }))
    }

    type WatchEventsStream = ReceiverStream<Result<pb::Event, Status>>;

    async fn watch_events(
        &self,
        request: Request<pb::WatchEventsRequest>,
    ) -> Result<Response<Self::WatchEventsStream>, Status> {
        let caller = principal(&request)?.clone();
        let request = request.into_inner();
        let subject = self.subject(&caller, &request.subject)?;
        let mut after = cursor(request.after_position)?;
        let (sender, receiver) = mpsc::channel(WATCH_BUFFER);
        let (store, source, mut numbered) = (
            self.store.clone(),
            self.source.clone(),
            self.numbered.clone(),
        );
        tokio::spawn(async move {
            loop {
                let events = match store.after(after, subject.as_deref(), PAGE_DEFAULT).await {
                    Ok(events) => events,
                    Err(err) => {
                        let _ = sender.send(Err(storage(err))).await;
                        return;
                    }
                };
                let full = events.len() as u64 == PAGE_DEFAULT;
                for event in events {
                    after = event.position;
                    if sender.send(Ok(to_event(&source, event))).await.is_err() {
                        return;
                    }
                }
                if full {
                    continue;
                }
                // A stopped relay signals nothing more: the poll still finds new events.
                let numbered_again = async {
                    if numbered.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                };
                tokio::select! {
                    () = numbered_again => {}
                    _ = tokio::time::sleep(WATCH_POLL) => {}
                    _ = sender.closed() => return,
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(receiver)))
    }
}
