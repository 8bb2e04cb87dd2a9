//! What the retention job archives on MongoDB: finished notifications (`retained_from` before the
//! cutoff, none of their events still waiting in the document's outbox) and the audit trail, as
//! relaxed extended JSON of the stored documents; and the lease it runs under.

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use hrmesh_storage::retention::{AUDIT, Expired, Leases, RecordKind};
use mongodb::Collection;
use mongodb::bson::{self, Bson, Document, doc};

use crate::NOTIFICATIONS;
use crate::mongo::whole_number;
use crate::mongo_outbox::take_lease;

/// Finished notifications.
pub(crate) struct MongoFinished(pub(crate) Collection<Document>);

/// The audit trail.
pub(crate) struct MongoAudit(pub(crate) Collection<Document>);

/// The leases collection the relay's lease lives in too.
pub(crate) struct MongoLeases(pub(crate) Collection<Document>);

fn json(document: Document) -> serde_json::Value {
    Bson::Document(document).into_relaxed_extjson()
}

fn past(cutoff: DateTime<Utc>) -> Document {
    doc! {
        "retained_from": { "$lt": cutoff.timestamp_millis() },
        // Events not yet sequenced live in the document: it goes once they have left.
        "has_events": { "$ne": true },
    }
}

#[async_trait::async_trait]
impl RecordKind for MongoFinished {
    fn name(&self) -> &'static str {
        NOTIFICATIONS
    }

    async fn expired(&self, cutoff: DateTime<Utc>, limit: u64) -> anyhow::Result<Vec<Expired>> {
        let documents: Vec<Document> = self
            .0
            .find(past(cutoff))
            .sort(doc! { "retained_from": 1, "_id": 1 })
            .limit(i64::try_from(limit)?)
            .await?
            .try_collect()
            .await?;
        documents
            .into_iter()
            .map(|document| {
                let key = document.get_str("_id")?.to_owned();
                let at = DateTime::from_timestamp_millis(whole_number(&document, "retained_from")?)
                    .ok_or_else(|| anyhow::anyhow!("a retention start out of range"))?;
                Ok(Expired {
                    key,
                    at,
                    record: json(document),
                })
            })
            .collect()
    }

    async fn remove(&self, keys: &[String], cutoff: DateTime<Utc>) -> anyhow::Result<u64> {
        let mut filter = past(cutoff);
        filter.insert("_id", doc! { "$in": keys });
        Ok(self.0.delete_many(filter).await?.deleted_count)
    }
}

#[async_trait::async_trait]
impl RecordKind for MongoAudit {
    fn name(&self) -> &'static str {
        AUDIT
    }

    async fn expired(&self, cutoff: DateTime<Utc>, limit: u64) -> anyhow::Result<Vec<Expired>> {
        let before = bson::DateTime::from_millis(cutoff.timestamp_millis());
        let documents: Vec<Document> = self
            .0
            .find(doc! { "at": { "$lt": before } })
            .sort(doc! { "at": 1, "seq": 1 })
            .limit(i64::try_from(limit)?)
            .await?
            .try_collect()
            .await?;
        documents
            .into_iter()
            .map(|document| {
                let key = whole_number(&document, "seq")?.to_string();
                let at = DateTime::from_timestamp_millis(
                    document.get_datetime("at")?.timestamp_millis(),
                )
                .ok_or_else(|| anyhow::anyhow!("an audit time out of range"))?;
                Ok(Expired {
                    key,
                    at,
                    record: json(document),
                })
            })
            .collect()
    }

    async fn remove(&self, keys: &[String], cutoff: DateTime<Utc>) -> anyhow::Result<u64> {
        let seqs = keys
            .iter()
            .map(|key| key.parse::<i64>())
            .collect::<Result<Vec<_>, _>>()?;
        let before = bson::DateTime::from_millis(cutoff.timestamp_millis());
        Ok(self
            .0
            .delete_many(doc! { "seq": { "$in": seqs }, "at": { "$lt": before } })
            .await?
            .deleted_count)
    }
}

#[async_trait::async_trait]
impl Leases for MongoLeases {
    async fn acquire(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        take_lease(&self.0, name, holder, now, until).await
    }

    async fn release(&self, name: &str, holder: &str) -> anyhow::Result<()> {
        self.0
            .delete_one(doc! { "_id": name, "holder": holder })
            .await?;
        Ok(())
    }
}
