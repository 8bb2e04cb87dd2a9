//! The outbox on MongoDB. A change's events travel in the notification's own document: the
//! update that saves the change adds them to its `outbox` sub-document (one field per event id,
//! set by path, so events already waiting stay), so an event exists if and only if its change was
//! saved, with no multi-document transaction. The relay's lease holder
//! moves them into `outbox_events`, numbered, and then takes them off the document — only if the
//! document's version is still the one it read, so events pushed meanwhile stay for the next
//! round; an event moved twice (a crash between the two writes) is kept once, by its unique id.

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use hrmesh_storage::outbox::{NewEvent, OutboxStore, StoredEvent};
use mongodb::bson::{self, Bson, Document, doc};
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::{IndexOptions, ReturnDocument};
use mongodb::{Collection, IndexModel};

use crate::mongo::whole_number;

const DUPLICATE_KEY: i32 = 11000;
const RELAY_LEASE: &str = "relay";

/// The pending events of a change, as its document carries them: event id → event.
pub(crate) fn pending(events: &[NewEvent]) -> Document {
    events
        .iter()
        .enumerate()
        .map(|(order, event)| {
            let entry = doc! {
                "id": &event.id,
                "order": i64::try_from(order).unwrap_or(i64::MAX),
                "type": event.event_type,
                "subject": &event.subject,
                "aggregate": &event.aggregate,
                "time": event.time.timestamp_micros(),
                "data": Bson::Binary(bson::Binary {
                    subtype: bson::spec::BinarySubtype::Generic,
                    bytes: event.data.clone(),
                }),
            };
            (event.id.clone(), Bson::Document(entry))
        })
        .collect()
}

#[derive(Debug, Clone)]
pub(crate) struct MongoOutbox {
    pub(crate) notifications: Collection<Document>,
    pub(crate) events: Collection<Document>,
    pub(crate) leases: Collection<Document>,
    pub(crate) counters: Collection<Document>,
}

impl MongoOutbox {
    pub(crate) async fn create_indexes(&self) -> mongodb::error::Result<()> {
        let unique = || IndexOptions::builder().unique(true).build();
        self.events
            .create_index(
                IndexModel::builder()
                    .keys(doc! { "event_id": 1 })
                    .options(unique())
                    .build(),
            )
            .await?;
        self.events
            .create_index(
                IndexModel::builder()
                    .keys(doc! { "position": 1 })
                    .options(unique())
                    .build(),
            )
            .await?;
        self.notifications
            .create_index(IndexModel::builder().keys(doc! { "has_events": 1 }).build())
            .await?;
        Ok(())
    }

    async fn holds_lease(&self, holder: &str, now: DateTime<Utc>) -> anyhow::Result<bool> {
        let lease = self.leases.find_one(doc! { "_id": RELAY_LEASE }).await?;
        Ok(lease.is_some_and(|lease| {
            lease.get_str("holder") == Ok(holder)
                && whole_number(&lease, "until").is_ok_and(|until| until > now.timestamp_micros())
        }))
    }

    /// Reserves `count` positions: the first of them.
    async fn reserve(&self, count: i64) -> anyhow::Result<i64> {
        let counter = self
            .counters
            .find_one_and_update(
                doc! { "_id": "outbox_events" },
                doc! { "$inc": { "next": count } },
            )
            .upsert(true)
            .return_document(ReturnDocument::After)
            .await?
            .ok_or_else(|| anyhow::anyhow!("the outbox counter vanished"))?;
        Ok(whole_number(&counter, "next")? - count + 1)
    }
}

fn stored(document: &Document) -> anyhow::Result<StoredEvent> {
    let text = |key: &str| document.get_str(key).map(str::to_owned);
    let time = whole_number(document, "time")?;
    Ok(StoredEvent {
        position: whole_number(document, "position")?,
        id: text("event_id")?,
        event_type: text("type")?,
        subject: text("subject")?,
        aggregate: text("aggregate")?,
        time: DateTime::from_timestamp_micros(time)
            .ok_or_else(|| anyhow::anyhow!("an event time out of range"))?,
        data: document.get_binary_generic("data")?.clone(),
        published: !matches!(document.get("published_at"), None | Some(Bson::Null)),
    })
}

fn is_duplicate(err: &mongodb::error::Error) -> bool {
    matches!(&*err.kind, ErrorKind::Write(WriteFailure::WriteError(write)) if write.code == DUPLICATE_KEY)
}

/// Takes or renews lease `name` in `leases` for `holder` until `until`, unless another holder's
/// lease runs past `now`. True when `holder` holds it.
pub(crate) async fn take_lease(
    leases: &Collection<Document>,
    name: &str,
    holder: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let taken = leases
        .find_one_and_update(
            doc! {
                "_id": name,
                "$or": [ { "holder": holder }, { "until": { "$lt": now.timestamp_micros() } } ],
            },
            doc! { "$set": { "holder": holder, "until": until.timestamp_micros() } },
        )
        .await?;
    if taken.is_some() {
        return Ok(true);
    }
    match leases
        .insert_one(doc! { "_id": name, "holder": holder, "until": until.timestamp_micros() })
        .await
    {
        Ok(_) => Ok(true),
        Err(err) if is_duplicate(&err) => Ok(false),
        Err(err) => Err(err.into()),
    }
}

#[async_trait::async_trait]
impl OutboxStore for MongoOutbox {
    async fn acquire(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        take_lease(&self.leases, RELAY_LEASE, holder, now, until).await
    }

    async fn sequence(&self, holder: &str, now: DateTime<Utc>, limit: u64) -> anyhow::Result<u64> {
        if !self.holds_lease(holder, now).await? {
            return Ok(0);
        }
        let documents: Vec<Document> = self
            .notifications
            .find(doc! { "has_events": true })
            .limit(i64::try_from(limit.clamp(1, 1000))?)
            .await?
            .try_collect()
            .await?;
        let mut numbered = 0;
        for document in documents {
            let version = whole_number(&document, "version")?;
            let mut pending: Vec<Document> = match document.get_document("outbox") {
                Ok(pending) => pending
                    .values()
                    .filter_map(|entry| entry.as_document().cloned())
                    .collect(),
                Err(_) => Vec::new(),
            };
            // In the order they were written: by time, then by place within their change.
            pending.sort_by_key(|entry| {
                (
                    whole_number(entry, "time").unwrap_or_default(),
                    whole_number(entry, "order").unwrap_or_default(),
                )
            });
            if !pending.is_empty() {
                let mut position = self.reserve(i64::try_from(pending.len())?).await?;
                for mut event in pending {
                    let id = event.get_str("id")?.to_owned();
                    event.remove("id");
                    event.remove("order");
                    event.insert("event_id", id);
                    event.insert("position", position);
                    event.insert("published_at", Bson::Null);
                    position += 1;
                    match self.events.insert_one(event).await {
                        Ok(_) => numbered += 1,
                        // Moved already by a round that stopped before taking it off.
                        Err(err) if is_duplicate(&err) => {}
                        Err(err) => return Err(err.into()),
                    }
                }
            }
            // Only over the version read: events pushed since stay for the next round.
            self.notifications
                .update_one(
                    doc! { "_id": document.get_str("_id")?, "version": version },
                    doc! { "$set": { "outbox": {}, "has_events": false } },
                )
                .await?;
        }
        Ok(numbered)
    }

    async fn head(&self) -> anyhow::Result<i64> {
        let newest = self
            .events
            .find_one(doc! {})
            .sort(doc! { "position": -1 })
            .await?;
        newest.map_or(Ok(0), |event| whole_number(&event, "position"))
    }

    async fn after(
        &self,
        position: i64,
        subject: Option<&str>,
        limit: u64,
    ) -> anyhow::Result<Vec<StoredEvent>> {
        let mut filter = doc! { "position": { "$gt": position } };
        if let Some(subject) = subject {
            filter.insert("subject", subject);
        }
        let documents: Vec<Document> = self
            .events
            .find(filter)
            .sort(doc! { "position": 1 })
            .limit(i64::try_from(limit.clamp(1, 10_000))?)
            .await?
            .try_collect()
            .await?;
        documents.iter().map(stored).collect()
    }

    async fn unpublished(&self, limit: u64) -> anyhow::Result<Vec<StoredEvent>> {
        let documents: Vec<Document> = self
            .events
            .find(doc! { "published_at": Bson::Null })
            .sort(doc! { "position": 1 })
            .limit(i64::try_from(limit.clamp(1, 10_000))?)
            .await?
            .try_collect()
            .await?;
        documents.iter().map(stored).collect()
    }

    async fn mark_published(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        through: i64,
    ) -> anyhow::Result<bool> {
        if !self.holds_lease(holder, now).await? {
            return Ok(false);
        }
        self.events
            .update_many(
                doc! { "position": { "$lte": through }, "published_at": Bson::Null },
                doc! { "$set": { "published_at": now.timestamp_micros() } },
            )
            .await?;
        Ok(true)
    }

    async fn prune(
        &self,
        before: DateTime<Utc>,
        unpublished_too: bool,
        _limit: u64,
    ) -> anyhow::Result<u64> {
        // The last event stays whatever its age (positions come from the counter, but a reader's
        // "after the last one" keeps meaning something).
        let last = self
            .events
            .find_one(doc! {})
            .sort(doc! { "position": -1 })
            .await?;
        let Some(last) = last else {
            return Ok(0);
        };
        let last = whole_number(&last, "position")?;
        let cutoff = before.timestamp_micros();
        let filter = if unpublished_too {
            doc! { "time": { "$lt": cutoff }, "position": { "$lt": last } }
        } else {
            doc! { "published_at": { "$ne": Bson::Null, "$lt": cutoff }, "position": { "$lt": last } }
        };
        Ok(self.events.delete_many(filter).await?.deleted_count)
    }
}
