//! A notification's personal text at rest, in both stores.
//!
//! What a notification says about its recipient (the payload's values, the rendered subject and
//! body, the email address, a retraction's reason, the channels' error messages) is sealed with
//! the recipient's data key ([`Vault`]) and erased with them; the context of each value is
//! `notifications/<id>` and its field, so a value moved to another notification does not open.
//! What the stores query on (recipient, due time, flags, version) and the template, category and
//! states stay plain.

use hrmesh_notification_core::{Notification, NotificationError, Result};
use hrmesh_storage::vault::{KeyRows, Vault, VaultError};
use serde_json::Value;

/// The sealed fields, as paths into a notification's JSON ([`Vault::seal_json`]).
const PERSONAL: &[&str] = &[
    "payload/*",
    "subject",
    "body",
    "retract_reason",
    "recipient/email",
    "deliveries/*/attempts/*/error",
];

fn context(id: &str) -> String {
    format!("notifications/{id}")
}

pub(crate) fn vault_error(err: VaultError) -> NotificationError {
    match err {
        VaultError::Db(err) => hrmesh_storage::error::from_db(err),
        VaultError::Store(err) => match err.downcast::<mongodb::error::Error>() {
            Ok(err) => crate::mongo::storage(*err),
            Err(err) => NotificationError::internal(format!("the data key store: {err}")),
        },
        VaultError::Crypto(err) => {
            NotificationError::internal(format!("a stored notification does not open: {err}"))
        }
    }
}

/// `notification` as stored: its JSON with the personal fields sealed, with a key created in
/// `keys` if the recipient has none.
pub(crate) async fn seal(
    vault: &Vault,
    keys: &(impl KeyRows + ?Sized),
    notification: &Notification,
) -> Result<Value> {
    let mut document = serde_json::to_value(notification)
        .map_err(|err| crate::internal("encoding a notification", err))?;
    let key = vault
        .owner_key(keys, notification.recipient.id.as_str())
        .await
        .map_err(vault_error)?;
    vault.seal_json(&key, &context(&notification.id), &mut document, PERSONAL);
    Ok(document)
}

/// The notification a stored JSON holds, its sealed fields opened (erased ones read as such).
pub(crate) async fn open(
    vault: &Vault,
    keys: &(impl KeyRows + ?Sized),
    mut document: Value,
) -> Result<Notification> {
    let id = document
        .get("id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_default();
    vault
        .open_json(keys, &context(&id), &mut document, PERSONAL)
        .await
        .map_err(vault_error)?;
    serde_json::from_value(document)
        .map_err(|err| crate::internal("decoding a stored notification", err))
}
