//! Who is calling: the [`Principal`] a verified token becomes and how handlers check it against
//! the HR policy ([`hrmesh_domain::acting`]); [`verify`]ing tokens (HS256 with a development key,
//! RS256/ES256 against a [`jwks`] in production; issuer, audience and expiry always checked);
//! [`mint`]ing the tokens a service calls another with; and the [`dev`]elopment key.
//!
//! The per-RPC permission check lives in [`crate::mesh`], which knows the method being called.

mod dev;
mod jwks;
mod mint;
mod verify;

use std::collections::BTreeSet;
use std::path::PathBuf;

pub use hrmesh_domain::acting::{ActingRule, ActorType, Caller, Refusal};
use serde::{Deserialize, Serialize};
use tonic::{Code, Status};

pub use dev::ensure_dev_key;
pub use jwks::{JWKS_MAX_AGE, JWKS_REFRESH_MIN};
pub use mint::{IdentityConfig, IdentityTokens, Minter, TokenSource, now_secs};
pub use verify::{AuthError, Verifier};

use crate::status;
use hrmesh_proto::common::ErrorReason;

/// The ErrorInfo reason of a refusal by the HR policy.
fn reason(refusal: Refusal) -> &'static str {
    match refusal {
        Refusal::NotOwnRecord => ErrorReason::NotOwnRecord,
        Refusal::NotManager => ErrorReason::NotManager,
        Refusal::AdminOnly => ErrorReason::AdminOnly,
    }
    .as_str_name()
}

/// How a service verifies the tokens it is called with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthConfig {
    /// The `iss` every token must carry.
    pub issuer: String,
    /// The `aud` this service answers to (a token may list several).
    pub audience: String,
    /// Development: a file holding the HS256 secret (`hrmesh up` generates one).
    pub hs256_key_file: Option<PathBuf>,
    /// Production: where the RS256/ES256 public keys are published (`https://…` or `file://…`).
    pub jwks_url: Option<String>,
    /// Seconds of clock skew tolerated on `exp`.
    pub leeway_secs: u64,
    /// The shortest interval between two JWKS fetches: a token naming an unknown key id fetches
    /// the set again (key rotation) at most this often, so forged key ids cannot make the service
    /// hammer the key server.
    pub jwks_refresh_secs: u64,
    /// The longest a fetched JWKS is used: the first call after it fetches the set again, so a
    /// key removed at the identity provider stops verifying without a restart. While the
    /// provider cannot be reached, the keys held stay in use.
    pub jwks_max_age_secs: u64,
}

impl AuthConfig {
    pub fn for_audience(audience: &str) -> Self {
        Self {
            issuer: DEFAULT_ISSUER.to_owned(),
            audience: audience.to_owned(),
            hs256_key_file: None,
            jwks_url: None,
            leeway_secs: 30,
            jwks_refresh_secs: JWKS_REFRESH_MIN.as_secs(),
            jwks_max_age_secs: JWKS_MAX_AGE.as_secs(),
        }
    }
}

/// Every hrmesh service by its short name; its token audience is `hrmesh-<name>`.
pub const SERVICES: [&str; 4] = ["orchestrator", "ledger", "performance", "notification"];

/// The issuer of the tokens `hrmesh token` and the services' own identities mint by default.
pub const DEFAULT_ISSUER: &str = "hrmesh";

/// Every permission any hrmesh service checks: create, read, update and admin per service, and
/// performance.feedback (seed 000).
pub const ALL_PERMISSIONS: &[&str] = &[
    "performance.create",
    "performance.read",
    "performance.update",
    "performance.admin",
    "performance.feedback",
    "ledger.create",
    "ledger.read",
    "ledger.update",
    "ledger.admin",
    "notification.create",
    "notification.read",
    "notification.update",
    "notification.admin",
    "saga.create",
    "saga.read",
    "saga.admin",
];

/// The claims of an hrmesh token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    /// One audience or several.
    #[serde(deserialize_with = "one_or_many")]
    pub aud: Vec<String>,
    pub exp: u64,
    pub iat: u64,
    /// employee, manager, admin or system.
    pub act: ActorType,
    /// Permissions such as `performance.read` or `ledger.admin`.
    #[serde(default)]
    pub perms: Vec<String>,
    /// Employees whose records this subject may read as their manager.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub manages: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub subject: String,
    pub actor: ActorType,
    pub permissions: BTreeSet<String>,
    pub manages: BTreeSet<String>,
    /// For a service (system actor) only: the end user it acts for, as the service named them in
    /// the `x-hrmesh-on-behalf-of` metadata ([`crate::mesh::ON_BEHALF_OF_HEADER`]). It is recorded
    /// in the audit trail and grants nothing: the service's own permissions decide.
    pub on_behalf_of: Option<String>,
}

impl Principal {
    pub fn has(&self, permission: &str) -> bool {
        self.permissions.contains(permission)
    }

    /// The caller as the HR policy ([`hrmesh_domain::acting`]) sees it, for a service whose
    /// admin permission is `admin_permission`.
    pub fn caller<'a>(&'a self, admin_permission: &str) -> Caller<'a> {
        Caller {
            subject: &self.subject,
            actor: self.actor,
            manages: &self.manages,
            is_admin: self.has(admin_permission),
        }
    }

    /// Whether this caller may see `employee_id`'s records: their own, those of employees they
    /// manage, all of them with `admin_permission`, and all of them as a service (system actor).
    pub fn may_read(&self, employee_id: &str, admin_permission: &str) -> bool {
        self.caller(admin_permission).may_read(employee_id).is_ok()
    }

    /// Whether this caller may act on `employee_id` under `rule` (for [`ActingRule::Admin`] the
    /// id is not looked at and may name the record instead). Services (system actors) and
    /// holders of `admin_permission` always may.
    pub fn may_act_for(&self, employee_id: &str, admin_permission: &str, rule: ActingRule) -> bool {
        self.caller(admin_permission)
            .may_act_for(employee_id, rule)
            .is_ok()
    }

    /// [`Self::may_act_for`] as a PERMISSION_DENIED status whose reason names the refusal:
    /// NOT_OWN_RECORD, NOT_MANAGER or ADMIN_ONLY.
    pub fn check_act(
        &self,
        employee_id: &str,
        admin_permission: &str,
        rule: ActingRule,
    ) -> Result<(), Status> {
        let refusal = match self.caller(admin_permission).may_act_for(employee_id, rule) {
            Ok(()) => return Ok(()),
            Err(refusal) => refusal,
        };
        let message = match rule {
            ActingRule::SelfOnly => {
                format!("only the employee themselves or {admin_permission} may do this")
            }
            ActingRule::SelfOrManager => {
                format!("only the employee, their manager or {admin_permission} may do this")
            }
            ActingRule::Manager => {
                format!("only the employee's manager or {admin_permission} may do this")
            }
            ActingRule::Admin => format!("only {admin_permission} may do this"),
        };
        Err(status::with_reason(
            Code::PermissionDenied,
            reason(refusal),
            message,
            std::iter::once(("permission", admin_permission.to_owned())).chain(
                (rule != ActingRule::Admin).then(|| ("employee_id", employee_id.to_owned())),
            ),
        ))
    }

    /// [`Self::may_read`] as a PERMISSION_DENIED status naming the refusal.
    pub fn check_read(&self, employee_id: &str, admin_permission: &str) -> Result<(), Status> {
        let Err(refusal) = self.caller(admin_permission).may_read(employee_id) else {
            return Ok(());
        };
        Err(status::with_reason(
            Code::PermissionDenied,
            reason(refusal),
            format!(
                "these records belong to another employee; reading them needs {admin_permission} \
                 or managing that employee"
            ),
            [("permission", admin_permission.to_owned())],
        ))
    }
}

/// The principal of a request that passed the mesh layer. Handlers call this; a request without
/// one (a server built without the layer) is refused rather than trusted.
pub fn principal<T>(request: &tonic::Request<T>) -> Result<&Principal, Status> {
    request.extensions().get::<Principal>().ok_or_else(|| {
        status::with_reason(
            Code::Unauthenticated,
            ErrorReason::TokenMissing.as_str_name(),
            "no verified caller",
            [],
        )
    })
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}
