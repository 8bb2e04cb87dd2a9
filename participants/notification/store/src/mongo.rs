use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use hrmesh_domain::EmployeeId;
use hrmesh_domain::Fault;
use hrmesh_notification_core::{
    Inserted, Notification, NotificationError, NotificationEvent, NotificationStore, Preferences,
    Result,
};
use hrmesh_storage::outbox::Outbox;
use mongodb::bson::{self, Bson, Document, doc};
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::IndexOptions;
use mongodb::{Client, Collection, IndexModel};

use crate::internal;
use crate::mongo_outbox::{MongoOutbox, pending};
use hrmesh_crypto::Keyring;
use hrmesh_storage::vault::{KeyRows, Vault, VaultError, entity as key_row};
use std::sync::Arc;

/// The MongoDB duplicate-key error code.
const DUPLICATE_KEY: i32 = 11000;

/// The notification store on MongoDB: collection `notifications` holds one document per
/// notification (`_id` = notification id) with the indexed fields beside it; `preferences` holds
/// one per recipient. Every change is a single-document update conditioned on `version`, so no
/// multi-document transaction is ever needed.
#[derive(Debug, Clone)]
pub struct MongoNotificationStore {
    notifications: Collection<Document>,
    preferences: Collection<Document>,
    audit: Collection<Document>,
    counters: Collection<Document>,
    outbox: MongoOutbox,
    events: Outbox<NotificationEvent>,
    keys: MongoKeys,
    vault: Vault,
}

pub(crate) fn storage(err: mongodb::error::Error) -> NotificationError {
    match *err.kind {
        ErrorKind::Io(_)
        | ErrorKind::ServerSelection { .. }
        | ErrorKind::ConnectionPoolCleared { .. } => {
            NotificationError::Unavailable(Fault::caused_by("MongoDB", err))
        }
        _ => NotificationError::Internal(Fault::caused_by("MongoDB", err)),
    }
}

fn millis(time: Option<DateTime<Utc>>) -> Bson {
    time.map_or(Bson::Null, |t| Bson::Int64(t.timestamp_millis()))
}

/// `notification`'s document, its personal fields sealed ([`crate::sealed`]).
async fn encode(vault: &Vault, keys: &MongoKeys, notification: &Notification) -> Result<Document> {
    let sealed = crate::sealed::seal(vault, keys, notification).await?;
    let body = bson::to_bson(&sealed).map_err(|err| internal("encoding a notification", err))?;
    Ok(doc! {
        "_id": &notification.id,
        "request_id": &notification.request_id,
        "recipient_id": notification.recipient.id.as_str(),
        "due_at": millis(notification.due_at()),
        "in_app": notification.in_app(),
        "unread": notification.unread(),
        "dead": notification.has_dead_letter(),
        "version": notification.version,
        "retained_from": millis(notification.retention_start()),
        "notification": body,
    })
}

async fn decode(vault: &Vault, keys: &MongoKeys, document: Document) -> Result<Notification> {
    let body = document
        .get_document("notification")
        .map_err(|err| internal("a stored notification without its body", err))?;
    let sealed: serde_json::Value = bson::from_document(body.clone())
        .map_err(|err| internal("decoding a stored notification", err))?;
    crate::sealed::open(vault, keys, sealed).await
}

impl MongoNotificationStore {
    /// Connects to `uri` (e.g. `mongodb://127.0.0.1:27017`), uses `database`, and creates the
    /// indexes it relies on.
    pub async fn open(
        uri: &str,
        database: &str,
        encode: fn(&NotificationEvent) -> Vec<u8>,
        keyring: Arc<Keyring>,
    ) -> anyhow::Result<Self> {
        let client = Client::with_uri_str(uri).await?;
        let db = client.database(database);
        let keys = MongoKeys {
            keys: db.collection("data_keys"),
        };
        keys.keys
            .create_index(
                IndexModel::builder()
                    .keys(doc! { "owner": 1, "generation": 1 })
                    .options(IndexOptions::builder().unique(true).build())
                    .build(),
            )
            .await?;
        let vault = Vault::open(&keys, keyring).await?;
        let store = Self {
            notifications: db.collection("notifications"),
            preferences: db.collection("preferences"),
            audit: db.collection("audit_events"),
            counters: db.collection("counters"),
            outbox: MongoOutbox {
                notifications: db.collection("notifications"),
                events: db.collection("outbox_events"),
                leases: db.collection("outbox_leases"),
                counters: db.collection("counters"),
            },
            events: Outbox::new(encode),
            keys,
            vault,
        };
        store.outbox.create_indexes().await?;
        let unique = IndexOptions::builder().unique(true).build();
        let indexes = [
            IndexModel::builder()
                .keys(doc! { "request_id": 1 })
                .options(unique)
                .build(),
            // nx-27017, the wire server the tests run on, refuses `_id` inside a compound index;
            // on a real MongoDB, appending `_id` here would also serve the sort.
            IndexModel::builder()
                .keys(doc! { "recipient_id": 1, "in_app": 1 })
                .build(),
            IndexModel::builder().keys(doc! { "due_at": 1 }).build(),
            IndexModel::builder().keys(doc! { "dead": 1 }).build(),
            IndexModel::builder()
                .keys(doc! { "retained_from": 1 })
                .build(),
        ];
        for index in indexes {
            store.notifications.create_index(index).await?;
        }
        store
            .audit
            .create_index(
                IndexModel::builder()
                    .keys(doc! { "seq": 1 })
                    .options(IndexOptions::builder().unique(true).build())
                    .build(),
            )
            .await?;
        store
            .audit
            .create_index(IndexModel::builder().keys(doc! { "event_id": 1 }).build())
            .await?;
        store.backfill().await?;
        Ok(store)
    }

    /// Gives every finished notification written before `retained_from` existed its start.
    async fn backfill(&self) -> anyhow::Result<()> {
        let filter = doc! { "due_at": Bson::Null, "retained_from": { "$exists": false } };
        // Each round sets the field on a batch of them: as many rounds as batches, at most.
        let rounds = self.notifications.count_documents(filter.clone()).await? / 500 + 1;
        for _ in 0..rounds {
            let documents: Vec<Document> = self
                .notifications
                .find(filter.clone())
                .limit(500)
                .await?
                .try_collect()
                .await?;
            if documents.is_empty() {
                return Ok(());
            }
            for document in documents {
                let id = document.get_str("_id")?.to_owned();
                let notification = decode(&self.vault, &self.keys, document).await?;
                self.notifications
                    .update_one(
                        doc! { "_id": &id },
                        doc! { "$set": { "retained_from": millis(notification.retention_start()) } },
                    )
                    .await?;
            }
        }
        Ok(())
    }

    /// What the retention job archives: finished notifications and the audit trail.
    pub fn record_kinds(&self) -> Vec<Arc<dyn hrmesh_storage::retention::RecordKind>> {
        vec![
            Arc::new(crate::mongo_retention::MongoFinished(
                self.notifications.clone(),
            )),
            Arc::new(crate::mongo_retention::MongoAudit(self.audit.clone())),
        ]
    }

    /// The leases the retention job runs under.
    pub fn leases(&self) -> Arc<dyn hrmesh_storage::retention::Leases> {
        Arc::new(crate::mongo_retention::MongoLeases(
            self.outbox.leases.clone(),
        ))
    }

    async fn all(&self, filter: Document, sort: Document, limit: u32) -> Result<Vec<Notification>> {
        let cursor = self
            .notifications
            .find(filter)
            .sort(sort)
            .limit(i64::from(limit))
            .await
            .map_err(storage)?;
        let documents: Vec<Document> = cursor.try_collect().await.map_err(storage)?;
        let mut found = Vec::with_capacity(documents.len());
        for document in documents {
            found.push(decode(&self.vault, &self.keys, document).await?);
        }
        Ok(found)
    }

    /// The data keys of the notifications' sealed fields.
    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    /// Where those keys are kept (the re-wrap job runs on it).
    pub fn key_rows(&self) -> Arc<dyn KeyRows> {
        Arc::new(self.keys.clone())
    }
}

impl NotificationStore for MongoNotificationStore {
    async fn insert(
        &self,
        notification: &Notification,
        events: &[NotificationEvent],
    ) -> Result<Inserted> {
        let mut document = encode(&self.vault, &self.keys, notification).await?;
        let pending = pending(&self.events.prepare(events, notification.created_at));
        document.insert("has_events", !pending.is_empty());
        document.insert("outbox", pending);
        match self.notifications.insert_one(document).await {
            Ok(_) => {
                if !events.is_empty() {
                    self.events.written().notify_one();
                }
                Ok(Inserted::New(notification.clone()))
            }
            Err(err) => match *err.kind {
                ErrorKind::Write(WriteFailure::WriteError(ref write))
                    if write.code == DUPLICATE_KEY =>
                {
                    let existing = self
                        .notifications
                        .find_one(doc! { "request_id": &notification.request_id })
                        .await
                        .map_err(storage)?
                        .ok_or_else(|| {
                            NotificationError::internal("a conflicting request id vanished")
                        })?;
                    Ok(Inserted::Existing(
                        decode(&self.vault, &self.keys, existing).await?,
                    ))
                }
                _ => Err(storage(err)),
            },
        }
    }

    async fn get(&self, id: &str) -> Result<Option<Notification>> {
        match self
            .notifications
            .find_one(doc! { "_id": id })
            .await
            .map_err(storage)?
        {
            Some(document) => decode(&self.vault, &self.keys, document).await.map(Some),
            None => Ok(None),
        }
    }

    async fn replace(
        &self,
        notification: &Notification,
        expected_version: i64,
        events: &[NotificationEvent],
    ) -> Result<bool> {
        let mut fields = encode(&self.vault, &self.keys, notification).await?;
        fields.remove("_id");
        let mut update = doc! { "$set": fields };
        if !events.is_empty() {
            let set = update
                .get_document_mut("$set")
                .map_err(|err| internal("building an update", err))?;
            set.insert("has_events", true);
            for (id, event) in pending(&self.events.prepare(events, Utc::now())) {
                set.insert(format!("outbox.{id}"), event);
            }
        }
        let updated = self
            .notifications
            .update_one(
                doc! { "_id": &notification.id, "version": expected_version },
                update,
            )
            .await
            .map_err(storage)?;
        if updated.matched_count == 1 && !events.is_empty() {
            self.events.written().notify_one();
        }
        Ok(updated.matched_count == 1)
    }

    async fn list_in_app(
        &self,
        recipient_id: &EmployeeId,
        unread_only: bool,
        before_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Notification>> {
        let mut filter = doc! { "recipient_id": recipient_id.as_str(), "in_app": true };
        if unread_only {
            filter.insert("unread", true);
        }
        if let Some(before_id) = before_id {
            filter.insert("_id", doc! { "$lt": before_id });
        }
        self.all(filter, doc! { "_id": -1 }, limit).await
    }

    async fn due(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<Notification>> {
        let filter = doc! { "due_at": { "$ne": Bson::Null, "$lte": now.timestamp_millis() } };
        self.all(filter, doc! { "due_at": 1 }, limit).await
    }

    async fn dead_letters(&self, after_id: Option<&str>, limit: u32) -> Result<Vec<Notification>> {
        let mut filter = doc! { "dead": true };
        if let Some(after_id) = after_id {
            filter.insert("_id", doc! { "$gt": after_id });
        }
        self.all(filter, doc! { "_id": 1 }, limit).await
    }

    async fn preferences(&self, recipient_id: &EmployeeId) -> Result<Option<Preferences>> {
        let Some(found) = self
            .preferences
            .find_one(doc! { "_id": recipient_id.as_str() })
            .await
            .map_err(storage)?
        else {
            return Ok(None);
        };
        let body = found
            .get_document("preferences")
            .map_err(|err| internal("stored preferences", err))?;
        bson::from_document(body.clone())
            .map(Some)
            .map_err(|err| internal("decoding preferences", err))
    }

    async fn put_preferences(&self, prefs: &Preferences) -> Result<()> {
        let body = bson::to_bson(prefs).map_err(|err| internal("encoding preferences", err))?;
        self.preferences
            .replace_one(
                doc! { "_id": prefs.recipient_id.as_str() },
                doc! { "_id": prefs.recipient_id.as_str(), "preferences": body },
            )
            .upsert(true)
            .await
            .map_err(storage)?;
        Ok(())
    }

    async fn erase_personal_data(
        &self,
        recipient_id: &EmployeeId,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        self.vault
            .erase(&self.keys, recipient_id.as_str(), now)
            .await
            .map_err(crate::sealed::vault_error)
    }
}

impl hrmesh_storage::outbox::OutboxSource for MongoNotificationStore {
    fn outbox_store(&self) -> std::sync::Arc<dyn hrmesh_storage::outbox::OutboxStore> {
        std::sync::Arc::new(self.outbox.clone())
    }

    fn outbox_written(&self) -> std::sync::Arc<hrmesh_storage::outbox::Notify> {
        self.events.written()
    }
}

impl hrmesh_storage::audit::AuditSource for MongoNotificationStore {
    fn audit_store(&self) -> std::sync::Arc<dyn hrmesh_storage::audit::AuditStore> {
        std::sync::Arc::new(MongoAudit {
            events: self.audit.clone(),
            counters: self.counters.clone(),
        })
    }
}

/// The audit trail in MongoDB: sequence numbers reserved per batch from a counter document.
/// An integer field. MongoDB keeps the Int64 it was given (or incremented by); wire-compatible
/// servers may answer with another numeric type.
pub(crate) fn whole_number(document: &Document, key: &str) -> anyhow::Result<i64> {
    match document.get(key) {
        Some(bson::Bson::Int64(number)) => Ok(*number),
        Some(bson::Bson::Int32(number)) => Ok(i64::from(*number)),
        Some(bson::Bson::Double(number))
            if number.fract() == 0.0 && number.abs() < 9_007_199_254_740_992.0 =>
        {
            #[expect(
                clippy::cast_possible_truncation,
                reason = "a whole number below 2^53, checked above"
            )]
            Ok(*number as i64)
        }
        other => anyhow::bail!("{key} holds {other:?}, not a whole number"),
    }
}

struct MongoAudit {
    events: Collection<Document>,
    counters: Collection<Document>,
}

#[async_trait::async_trait]
impl hrmesh_storage::audit::AuditStore for MongoAudit {
    async fn append(&self, events: &[hrmesh_storage::audit::AuditEvent]) -> anyhow::Result<()> {
        let count = i64::try_from(events.len())?;
        let counter = self
            .counters
            .find_one_and_update(
                doc! { "_id": "audit_events" },
                doc! { "$inc": { "next": count } },
            )
            .upsert(true)
            .return_document(mongodb::options::ReturnDocument::After)
            .await?
            .ok_or_else(|| anyhow::anyhow!("the audit counter vanished"))?;
        let last = whole_number(&counter, "next")?;
        let documents = events.iter().zip(last - count + 1..).map(|(event, seq)| {
            doc! {
                "seq": seq,
                "at": bson::DateTime::from_millis(event.at.timestamp_millis()),
                "service": &event.service,
                "method": &event.method,
                "subject": &event.subject,
                "actor": &event.actor,
                "on_behalf_of": event.on_behalf_of.as_deref(),
                "client_addr": event.client_addr.as_deref(),
                "forwarded_for": event.forwarded_for.as_deref(),
                "request_id": &event.request_id,
                "trace_id": event.trace_id.as_deref(),
                "event_id": &event.id,
                "outcome": event.outcome.as_deref(),
            }
        });
        self.events.insert_many(documents).await?;
        Ok(())
    }

    async fn settle(&self, outcome: &str, ids: &[String]) -> anyhow::Result<()> {
        self.events
            .update_many(
                doc! { "event_id": { "$in": ids } },
                doc! { "$set": { "outcome": outcome } },
            )
            .await?;
        Ok(())
    }

    async fn list(
        &self,
        query: &hrmesh_storage::audit::AuditQuery,
    ) -> anyhow::Result<Vec<(i64, hrmesh_storage::audit::AuditEvent)>> {
        let mut filter = doc! {};
        if let Some(subject) = &query.subject {
            filter.insert("subject", subject);
        }
        if let Some(method) = &query.method {
            filter.insert("method", method);
        }
        if let Some(before) = query.before_seq {
            filter.insert("seq", doc! { "$lt": before });
        }
        let documents: Vec<Document> = self
            .events
            .find(filter)
            .sort(doc! { "seq": -1 })
            .limit(i64::try_from(query.limit.max(1))?)
            .await?
            .try_collect()
            .await?;
        documents
            .into_iter()
            .map(|document| {
                let text = |key: &str| document.get_str(key).map(str::to_owned);
                let optional = |key: &str| document.get_str(key).ok().map(str::to_owned);
                Ok((
                    whole_number(&document, "seq")?,
                    hrmesh_storage::audit::AuditEvent {
                        id: optional("event_id").unwrap_or_default(),
                        at: chrono::DateTime::from_timestamp_millis(
                            document.get_datetime("at")?.timestamp_millis(),
                        )
                        .ok_or_else(|| anyhow::anyhow!("an audit time out of range"))?,
                        service: text("service")?,
                        method: text("method")?,
                        subject: text("subject")?,
                        actor: text("actor")?,
                        on_behalf_of: optional("on_behalf_of"),
                        client_addr: optional("client_addr"),
                        forwarded_for: optional("forwarded_for"),
                        request_id: text("request_id")?,
                        trace_id: optional("trace_id"),
                        outcome: optional("outcome"),
                    },
                ))
            })
            .collect()
    }
}

/// The notification service's data keys in MongoDB: collection `data_keys`, one document per
/// key (`_id` = key id), unique on owner and generation. A key is created just before the
/// notification document that first uses it: a key whose notification failed to insert is left
/// unused, never the other way round.
#[derive(Debug, Clone)]
struct MongoKeys {
    keys: Collection<Document>,
}

fn key_store(err: mongodb::error::Error) -> VaultError {
    VaultError::Store(Box::new(err))
}

fn key_from_document(document: &Document) -> std::result::Result<key_row::Model, VaultError> {
    let corrupt = |err: bson::document::ValueAccessError| VaultError::Store(Box::new(err));
    let time = |millis: i64| {
        DateTime::from_timestamp_millis(millis)
            .ok_or_else(|| VaultError::Store("a data key's time is out of range".into()))
    };
    let whole = |key: &str| {
        whole_number(document, key)
            .and_then(|number| Ok(i32::try_from(number)?))
            .map_err(|err| VaultError::Store(err.into()))
    };
    Ok(key_row::Model {
        id: document.get_str("_id").map_err(corrupt)?.to_owned(),
        owner: document.get_str("owner").map_err(corrupt)?.to_owned(),
        generation: whole("generation")?,
        kek_version: whole("kek_version")?,
        wrapped: document
            .get_binary_generic("wrapped")
            .map_err(corrupt)?
            .clone(),
        created_at: time(
            whole_number(document, "created_at").map_err(|err| VaultError::Store(err.into()))?,
        )?,
        erased_at: match document.get("erased_at") {
            None | Some(Bson::Null) => None,
            Some(_) => Some(time(
                whole_number(document, "erased_at").map_err(|err| VaultError::Store(err.into()))?,
            )?),
        },
    })
}

fn binary(bytes: Vec<u8>) -> Bson {
    Bson::Binary(bson::Binary {
        subtype: bson::spec::BinarySubtype::Generic,
        bytes,
    })
}

#[async_trait::async_trait]
impl KeyRows for MongoKeys {
    fn reads_committed(&self) -> bool {
        true
    }

    async fn newest(&self, owner: &str) -> std::result::Result<Option<key_row::Model>, VaultError> {
        let found = self
            .keys
            .find_one(doc! { "owner": owner })
            .sort(doc! { "generation": -1 })
            .await
            .map_err(key_store)?;
        found.as_ref().map(key_from_document).transpose()
    }

    async fn by_id(&self, id: &str) -> std::result::Result<Option<key_row::Model>, VaultError> {
        let found = self
            .keys
            .find_one(doc! { "_id": id })
            .await
            .map_err(key_store)?;
        found.as_ref().map(key_from_document).transpose()
    }

    async fn insert(&self, row: key_row::Model) -> std::result::Result<bool, VaultError> {
        let document = doc! {
            "_id": row.id,
            "owner": row.owner,
            "generation": row.generation,
            "kek_version": row.kek_version,
            "wrapped": binary(row.wrapped),
            "created_at": row.created_at.timestamp_millis(),
            "erased_at": millis(row.erased_at),
        };
        match self.keys.insert_one(document).await {
            Ok(_) => Ok(true),
            Err(err) => match *err.kind {
                ErrorKind::Write(WriteFailure::WriteError(ref write))
                    if write.code == DUPLICATE_KEY =>
                {
                    Ok(false)
                }
                _ => Err(key_store(err)),
            },
        }
    }

    async fn set_wrap(
        &self,
        id: &str,
        from: i32,
        to: i32,
        wrapped: Vec<u8>,
    ) -> std::result::Result<bool, VaultError> {
        let moved = self
            .keys
            .update_one(
                doc! { "_id": id, "kek_version": from, "erased_at": Bson::Null },
                doc! { "$set": { "kek_version": to, "wrapped": binary(wrapped) } },
            )
            .await
            .map_err(key_store)?;
        Ok(moved.modified_count == 1)
    }

    async fn erase(&self, owner: &str, now: DateTime<Utc>) -> std::result::Result<u64, VaultError> {
        let erased = self
            .keys
            .update_many(
                doc! { "owner": owner, "erased_at": Bson::Null },
                doc! { "$set": { "wrapped": binary(Vec::new()), "erased_at": now.timestamp_millis() } },
            )
            .await
            .map_err(key_store)?;
        Ok(erased.modified_count)
    }

    async fn stale(
        &self,
        current: i32,
        limit: u64,
    ) -> std::result::Result<Vec<key_row::Model>, VaultError> {
        let documents: Vec<Document> = self
            .keys
            .find(doc! { "kek_version": { "$ne": current }, "erased_at": Bson::Null })
            .sort(doc! { "_id": 1 })
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .await
            .map_err(key_store)?
            .try_collect()
            .await
            .map_err(key_store)?;
        documents.iter().map(key_from_document).collect()
    }

    async fn versions(&self) -> std::result::Result<Vec<i32>, VaultError> {
        let mut versions = std::collections::BTreeSet::new();
        for value in self
            .keys
            .distinct("kek_version", doc! { "erased_at": Bson::Null })
            .await
            .map_err(key_store)?
        {
            let version = match value {
                Bson::Int32(version) => version,
                Bson::Int64(version) => {
                    i32::try_from(version).map_err(|err| VaultError::Store(err.into()))?
                }
                Bson::Double(version) if version.fract() == 0.0 => {
                    #[expect(clippy::cast_possible_truncation, reason = "a whole keyring version")]
                    let version = version as i32;
                    version
                }
                other => {
                    return Err(VaultError::Store(
                        format!("a keyring version {other:?} is not a number").into(),
                    ));
                }
            };
            versions.insert(version);
        }
        Ok(versions.into_iter().collect())
    }
}
