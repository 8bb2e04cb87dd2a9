//! The ledger's free text at rest.
//!
//! A reason a person wrote (on an entry, a hold or a freeze) may say anything about the employee,
//! so it is sealed with the employee's data key ([`Vault`]) and erased with them. The context of
//! each sealed value is its record and field, so a reason moved to another record does not open.
//! Reasons the ledger writes itself on the entries of an accrual run (those that name their
//! period, such as "accrual for 2026-01-01 to 2026-01-31") hold nothing personal and stay plain:
//! an accrual run over every assignment seals nothing. Amounts, dates, kinds and references stay
//! plain as well: balances, queries and the append-only checks read them.
//!
//! Values leave the store opened ([`opened`]): what the work of a request returns and what the
//! inbox replays are opened the same way, after the transaction.

use chrono::NaiveDate;
use hrmesh_ledger_core::{
    AccrualRun, EndedAssignments, Entry, EntryKind, Freeze, Hold, LedgerError, Result,
};
use hrmesh_storage::vault::{Reads, Vault, VaultError};

use crate::store::{Tx, fail, storage_error};

/// The context of an entry's reason: what identifies the entry when it is written (its id is
/// the database's, known only after the insert).
pub(crate) fn entry_context(
    employee_id: &str,
    policy_id: &str,
    request_id: &str,
    kind: EntryKind,
    effective_date: NaiveDate,
    hold_id: Option<&str>,
) -> String {
    format!(
        "entries/{employee_id}/{policy_id}/{request_id}/{}/{effective_date}/{}/reason",
        kind.as_str(),
        hold_id.unwrap_or_default()
    )
}

pub(crate) fn hold_context(hold_id: &str) -> String {
    format!("holds/{hold_id}/reason")
}

pub(crate) fn freeze_context(freeze_id: &str) -> String {
    format!("accrual_freezes/{freeze_id}/reason")
}

pub(crate) fn vault_error(err: VaultError) -> LedgerError {
    match err {
        VaultError::Db(err) => storage_error(err),
        VaultError::Store(err) => LedgerError::internal(format!("the data key store: {err}")),
        VaultError::Crypto(err) => {
            LedgerError::internal(format!("a stored reason does not open: {err}"))
        }
    }
}

/// `text` sealed with `employee_id`'s key, in the writing transaction; empty text stays empty.
pub(crate) async fn seal(
    vault: &Vault,
    db: &impl Reads,
    employee_id: &str,
    context: &str,
    text: &str,
) -> Tx<String> {
    if text.is_empty() {
        return Ok(String::new());
    }
    let key = vault
        .owner_key(db, employee_id)
        .await
        .map_err(|err| fail(vault_error(err)))?;
    Ok(key.seal(context, text))
}

/// A value that carries reasons: calls `each` with every reason's context and text.
pub(crate) trait Reasons {
    fn reasons(&mut self, each: &mut dyn FnMut(String, &mut String));
}

impl Reasons for Entry {
    fn reasons(&mut self, each: &mut dyn FnMut(String, &mut String)) {
        let context = entry_context(
            self.employee_id.as_str(),
            self.policy_id.as_str(),
            &self.request_id,
            self.kind,
            self.effective_date,
            self.hold_id.as_deref(),
        );
        each(context, &mut self.reason);
    }
}

impl Reasons for Hold {
    fn reasons(&mut self, each: &mut dyn FnMut(String, &mut String)) {
        each(hold_context(&self.id), &mut self.reason);
    }
}

impl Reasons for Freeze {
    fn reasons(&mut self, each: &mut dyn FnMut(String, &mut String)) {
        each(freeze_context(&self.id), &mut self.reason);
    }
}

impl Reasons for EndedAssignments {
    fn reasons(&mut self, each: &mut dyn FnMut(String, &mut String)) {
        self.withdrawn.reasons(each);
    }
}

impl Reasons for AccrualRun {
    fn reasons(&mut self, each: &mut dyn FnMut(String, &mut String)) {
        self.entries.reasons(each);
    }
}

impl<T: Reasons> Reasons for Vec<T> {
    fn reasons(&mut self, each: &mut dyn FnMut(String, &mut String)) {
        for item in self {
            item.reasons(each);
        }
    }
}

impl<T: Reasons> Reasons for Option<T> {
    fn reasons(&mut self, each: &mut dyn FnMut(String, &mut String)) {
        if let Some(item) = self {
            item.reasons(each);
        }
    }
}

/// `value` with every reason opened: in the clear, or [`hrmesh_crypto::ERASED`] once its
/// employee's data was erased. A changed or moved ciphertext is refused, never returned.
pub(crate) async fn opened<T: Reasons>(vault: &Vault, db: &impl Reads, mut value: T) -> Result<T> {
    // Visited twice in the same order: first to take the sealed reasons, then to put them back
    // opened. `found` holds each sealed one's position among all the reasons.
    let mut found = Vec::new();
    let mut position = 0;
    value.reasons(&mut |context, text| {
        if hrmesh_crypto::sealed(text).is_some() {
            found.push((position, context, std::mem::take(text)));
        }
        position += 1;
    });
    if found.is_empty() {
        return Ok(value);
    }
    let mut plain = Vec::with_capacity(found.len());
    for (position, context, text) in &found {
        let opened = vault
            .open_value(db, context, text)
            .await
            .map_err(vault_error)?;
        plain.push((*position, opened));
    }
    let mut plain = plain.into_iter().peekable();
    let mut position = 0;
    value.reasons(&mut |_, text| {
        if let Some((_, opened)) = plain.next_if(|(at, _)| *at == position) {
            *text = opened;
        }
        position += 1;
    });
    Ok(value)
}
