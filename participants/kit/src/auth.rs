//! Who is calling: JWT verification (HS256 with a configured development key, RS256/ES256 against
//! a JWKS in production; issuer, audience and expiry always checked), the [`Principal`] a verified
//! token becomes, and the [`TokenSource`] a service uses to call another under its own identity.
//!
//! The per-RPC permission check lives in [`crate::mesh`], which knows the method being called.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;
use tonic::{Code, Status};

use crate::status;

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

/// What kind of caller a token speaks for (recorded in the audit trail).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorType {
    Employee,
    Manager,
    Admin,
    System,
}

impl ActorType {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorType::Employee => "employee",
            ActorType::Manager => "manager",
            ActorType::Admin => "admin",
            ActorType::System => "system",
        }
    }
}

impl std::str::FromStr for ActorType {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "employee" => Ok(ActorType::Employee),
            "manager" => Ok(ActorType::Manager),
            "admin" => Ok(ActorType::Admin),
            "system" => Ok(ActorType::System),
            other => Err(format!(
                "unknown actor type {other:?} (expected employee, manager, admin or system)"
            )),
        }
    }
}

/// Who, besides services and admins, may act on an employee's behalf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActingRule {
    /// Only the employee themselves (e.g. their self-assessment, feedback they give).
    SelfOnly,
    /// The employee themselves or their manager (e.g. asking for time off).
    SelfOrManager,
    /// Only their manager (e.g. completing their review, deciding their time off).
    Manager,
    /// Nobody but admins (e.g. onboarding and offboarding).
    Admin,
}

/// A verified caller, put in every authorised request's extensions.
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

    /// Whether this caller may see `employee_id`'s records: their own, those of employees they
    /// manage, all of them with `admin_permission`, and all of them as a service (system actor).
    pub fn may_read(&self, employee_id: &str, admin_permission: &str) -> bool {
        self.actor == ActorType::System
            || self.has(admin_permission)
            || self.subject == employee_id
            || self.manages.contains(employee_id)
    }

    /// Whether this caller may act on `employee_id` under `rule` (for [`ActingRule::Admin`] the
    /// id is not looked at and may name the record instead). Services (system actors) and
    /// holders of `admin_permission` always may.
    pub fn may_act_for(&self, employee_id: &str, admin_permission: &str, rule: ActingRule) -> bool {
        if self.actor == ActorType::System || self.has(admin_permission) {
            return true;
        }
        match rule {
            ActingRule::SelfOnly => self.subject == employee_id,
            ActingRule::SelfOrManager => {
                self.subject == employee_id || self.manages.contains(employee_id)
            }
            ActingRule::Manager => self.manages.contains(employee_id),
            ActingRule::Admin => false,
        }
    }

    /// [`Self::may_act_for`] as a PERMISSION_DENIED status whose reason names the rule:
    /// NOT_OWN_RECORD, NOT_MANAGER or ADMIN_ONLY.
    pub fn check_act(
        &self,
        employee_id: &str,
        admin_permission: &str,
        rule: ActingRule,
    ) -> Result<(), Status> {
        if self.may_act_for(employee_id, admin_permission, rule) {
            return Ok(());
        }
        let (reason, message) = match rule {
            ActingRule::SelfOnly => (
                "NOT_OWN_RECORD",
                format!("only the employee themselves or {admin_permission} may do this"),
            ),
            ActingRule::SelfOrManager => (
                "NOT_OWN_RECORD",
                format!("only the employee, their manager or {admin_permission} may do this"),
            ),
            ActingRule::Manager => (
                "NOT_MANAGER",
                format!("only the employee's manager or {admin_permission} may do this"),
            ),
            ActingRule::Admin => ("ADMIN_ONLY", format!("only {admin_permission} may do this")),
        };
        Err(status::with_reason(
            Code::PermissionDenied,
            reason,
            message,
            std::iter::once(("permission", admin_permission.to_owned())).chain(
                (rule != ActingRule::Admin).then(|| ("employee_id", employee_id.to_owned())),
            ),
        ))
    }

    /// [`Self::may_read`] as a PERMISSION_DENIED status naming the rule.
    pub fn check_read(&self, employee_id: &str, admin_permission: &str) -> Result<(), Status> {
        if self.may_read(employee_id, admin_permission) {
            return Ok(());
        }
        Err(status::with_reason(
            Code::PermissionDenied,
            "NOT_OWN_RECORD",
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
            "TOKEN_MISSING",
            "no verified caller",
            [],
        )
    })
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no bearer token in the authorization metadata")]
    Missing,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not meant for {expected}")]
    WrongAudience { expected: String },
    #[error("the token was not issued by {expected}")]
    WrongIssuer { expected: String },
    #[error("the token is invalid: {0}")]
    Invalid(String),
    #[error("the signing keys cannot be fetched: {0}")]
    KeysUnavailable(String),
}

impl AuthError {
    fn reason(&self) -> &'static str {
        match self {
            AuthError::Missing => "TOKEN_MISSING",
            AuthError::Expired => "TOKEN_EXPIRED",
            AuthError::WrongAudience { .. } => "TOKEN_WRONG_AUDIENCE",
            AuthError::WrongIssuer { .. } => "TOKEN_WRONG_ISSUER",
            AuthError::Invalid(_) => "TOKEN_INVALID",
            AuthError::KeysUnavailable(_) => "SIGNING_KEYS_UNAVAILABLE",
        }
    }

    /// UNAUTHENTICATED with an ErrorInfo; UNAVAILABLE when the keys could not be fetched (the
    /// caller's token may well be good).
    pub fn to_status(&self) -> Status {
        let code = match self {
            AuthError::KeysUnavailable(_) => Code::Unavailable,
            _ => Code::Unauthenticated,
        };
        let metadata: Vec<(&'static str, String)> = match self {
            AuthError::WrongAudience { expected } => vec![("expected_audience", expected.clone())],
            AuthError::WrongIssuer { expected } => vec![("expected_issuer", expected.clone())],
            _ => Vec::new(),
        };
        status::with_reason(code, self.reason(), self.to_string(), metadata)
    }
}

/// Verifies bearer tokens for one service.
#[derive(Clone)]
pub struct Verifier {
    keys: Keys,
    issuer: String,
    audience: String,
    leeway: u64,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
enum Keys {
    Hs256(Arc<DecodingKey>),
    Jwks(Arc<Jwks>),
}

/// A JWKS, fetched at start and again when a token names a key id it does not hold (at most once
/// per `refresh`).
struct Jwks {
    url: String,
    http: reqwest::Client,
    refresh: Duration,
    state: RwLock<(JwkSet, Instant)>,
}

/// The default shortest interval between two JWKS fetches.
pub const JWKS_REFRESH_MIN: Duration = Duration::from_secs(30);

impl Jwks {
    async fn fetch(url: &str, http: &reqwest::Client) -> anyhow::Result<JwkSet> {
        let text = if let Some(path) = url.strip_prefix("file://") {
            tokio::fs::read_to_string(path)
                .await
                .with_context(|| format!("reading the JWKS {path}"))?
        } else {
            http.get(url)
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .with_context(|| format!("fetching the JWKS {url}"))?
                .text()
                .await
                .with_context(|| format!("reading the JWKS {url}"))?
        };
        serde_json::from_str(&text).with_context(|| format!("parsing the JWKS {url}"))
    }

    async fn key(&self, kid: Option<&str>) -> Result<(DecodingKey, Algorithm), AuthError> {
        if let Some(found) = Self::lookup(&self.state.read().await.0, kid)? {
            return Ok(found);
        }
        let mut state = self.state.write().await;
        if state.1.elapsed() >= self.refresh {
            let set = Self::fetch(&self.url, &self.http)
                .await
                .map_err(|err| AuthError::KeysUnavailable(format!("{err:#}")))?;
            *state = (set, Instant::now());
        }
        Self::lookup(&state.0, kid)?
            .ok_or_else(|| AuthError::Invalid(format!("unknown signing key {kid:?}")))
    }

    fn lookup(
        set: &JwkSet,
        kid: Option<&str>,
    ) -> Result<Option<(DecodingKey, Algorithm)>, AuthError> {
        let jwk = match kid {
            Some(kid) => set.find(kid),
            // Without a key id only a one-key set is unambiguous.
            None if set.keys.len() == 1 => set.keys.first(),
            None => return Err(AuthError::Invalid("the token names no key id".into())),
        };
        let Some(jwk) = jwk else { return Ok(None) };
        let algorithm = jwk
            .common
            .key_algorithm
            .and_then(|alg| Algorithm::try_from(alg).ok())
            .ok_or_else(|| AuthError::Invalid("the signing key names no algorithm".into()))?;
        if !matches!(algorithm, Algorithm::RS256 | Algorithm::ES256) {
            return Err(AuthError::Invalid(format!(
                "{algorithm:?} keys are not accepted (RS256 or ES256)"
            )));
        }
        let key = DecodingKey::from_jwk(jwk).map_err(|err| AuthError::Invalid(err.to_string()))?;
        Ok(Some((key, algorithm)))
    }
}

impl Verifier {
    /// Builds the verifier `config` describes: exactly one of an HS256 key file or a JWKS URL.
    pub async fn from_config(config: &AuthConfig) -> anyhow::Result<Self> {
        let keys = match (&config.hs256_key_file, &config.jwks_url) {
            (Some(file), None) => Keys::Hs256(Arc::new(DecodingKey::from_secret(
                &read_secret(file).await?,
            ))),
            (None, Some(url)) => {
                crate::tls::install_crypto_provider();
                let http = reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .context("building the JWKS client")?;
                let set = Jwks::fetch(url, &http).await?;
                Keys::Jwks(Arc::new(Jwks {
                    url: url.clone(),
                    http,
                    refresh: Duration::from_secs(config.jwks_refresh_secs),
                    state: RwLock::new((set, Instant::now())),
                }))
            }
            (Some(_), Some(_)) => {
                anyhow::bail!("auth: set hs256_key_file or jwks_url, not both")
            }
            (None, None) => anyhow::bail!(
                "auth: no way to verify tokens; set auth.hs256_key_file (development; `hrmesh up` \
                 generates one) or auth.jwks_url (production)"
            ),
        };
        Ok(Self {
            keys,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            leeway: config.leeway_secs,
        })
    }

    /// Verifies the `authorization` metadata value (`Bearer <jwt>`).
    pub async fn verify_header(&self, header: Option<&str>) -> Result<Principal, AuthError> {
        let token = header
            .and_then(|value| {
                value
                    .strip_prefix("Bearer ")
                    .or_else(|| value.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|token| !token.is_empty())
            .ok_or(AuthError::Missing)?;
        self.verify(token).await
    }

    pub async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|err| AuthError::Invalid(err.to_string()))?;
        let (key, algorithm) = match &self.keys {
            Keys::Hs256(key) => (key.as_ref().clone(), Algorithm::HS256),
            Keys::Jwks(jwks) => jwks.key(header.kid.as_deref()).await?,
        };
        if header.alg != algorithm {
            return Err(AuthError::Invalid(format!(
                "signed with {:?}, expected {algorithm:?}",
                header.alg
            )));
        }
        let mut validation = Validation::new(algorithm);
        validation.set_audience(&[&self.audience]);
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = self.leeway;
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|err| {
            use jsonwebtoken::errors::ErrorKind;
            match err.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::InvalidAudience => AuthError::WrongAudience {
                    expected: self.audience.clone(),
                },
                ErrorKind::InvalidIssuer => AuthError::WrongIssuer {
                    expected: self.issuer.clone(),
                },
                _ => AuthError::Invalid(err.to_string()),
            }
        })?;
        let claims = data.claims;
        Ok(Principal {
            subject: claims.sub,
            actor: claims.act,
            permissions: claims.perms.into_iter().collect(),
            manages: claims.manages.into_iter().collect(),
            // Only the mesh layer knows the metadata; it fills this in for services.
            on_behalf_of: None,
        })
    }
}

async fn read_secret(file: &Path) -> anyhow::Result<Vec<u8>> {
    let secret = tokio::fs::read(file)
        .await
        .with_context(|| format!("reading the HS256 key {}", file.display()))?;
    let secret = secret.trim_ascii().to_vec();
    anyhow::ensure!(
        secret.len() >= 32,
        "the HS256 key {} is shorter than 32 bytes",
        file.display()
    );
    Ok(secret)
}

/// Writes a fresh random HS256 development key to `file` (mode 0600) unless one is there.
pub fn ensure_dev_key(file: &Path) -> anyhow::Result<()> {
    if file.exists() {
        return Ok(());
    }
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|err| anyhow::anyhow!("no randomness: {err}"))?;
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut out = options
        .open(file)
        .with_context(|| format!("creating {}", file.display()))?;
    std::io::Write::write_all(&mut out, format!("{hex}\n").as_bytes())?;
    Ok(())
}

/// How a service signs the tokens it calls other services with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityConfig {
    /// The `sub` of this service's tokens.
    pub subject: String,
    pub issuer: String,
    /// The audiences (services) its tokens are good for.
    pub audiences: Vec<String>,
    /// Development: the shared HS256 secret.
    pub hs256_key_file: Option<PathBuf>,
    /// Production: a PKCS#8 PEM private key whose public half is in the services' JWKS.
    pub private_key_file: Option<PathBuf>,
    /// RS256 or ES256, for `private_key_file`.
    pub algorithm: Option<String>,
    /// The JWKS key id of `private_key_file`.
    pub key_id: Option<String>,
    /// Lifetime of a minted token; a new one is minted when less than a fifth is left.
    pub token_lifetime_secs: u64,
}

impl IdentityConfig {
    pub fn new(subject: &str, audiences: &[&str]) -> Self {
        Self {
            subject: subject.to_owned(),
            issuer: DEFAULT_ISSUER.to_owned(),
            audiences: audiences.iter().map(|aud| (*aud).to_owned()).collect(),
            hs256_key_file: None,
            private_key_file: None,
            algorithm: None,
            key_id: None,
            token_lifetime_secs: 300,
        }
    }
}

/// Mints tokens: a service's own identity, or `hrmesh token`.
#[derive(Clone)]
pub struct Minter {
    key: Arc<EncodingKey>,
    header: Header,
}

impl std::fmt::Debug for Minter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Minter")
            .field("alg", &self.header.alg)
            .field("kid", &self.header.kid)
            .finish_non_exhaustive()
    }
}

impl Minter {
    pub fn hs256(secret: &[u8]) -> Self {
        Self {
            key: Arc::new(EncodingKey::from_secret(secret)),
            header: Header::new(Algorithm::HS256),
        }
    }

    /// An RS256 or ES256 signer from a PEM private key.
    pub fn from_pem(algorithm: &str, pem: &[u8], key_id: Option<String>) -> anyhow::Result<Self> {
        let (key, algorithm) = match algorithm {
            "RS256" => (EncodingKey::from_rsa_pem(pem)?, Algorithm::RS256),
            "ES256" => (EncodingKey::from_ec_pem(pem)?, Algorithm::ES256),
            other => anyhow::bail!("unsupported signing algorithm {other:?} (RS256 or ES256)"),
        };
        let mut header = Header::new(algorithm);
        header.kid = key_id;
        Ok(Self {
            key: Arc::new(key),
            header,
        })
    }

    pub async fn hs256_file(file: &Path) -> anyhow::Result<Self> {
        Ok(Self::hs256(&read_secret(file).await?))
    }

    pub fn mint(&self, claims: &Claims) -> anyhow::Result<String> {
        jsonwebtoken::encode(&self.header, claims, &self.key).context("signing a token")
    }
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// The bearer token a client sends: a fixed one (a person's, from `hrmesh token`) or one minted
/// for a service identity and renewed before it expires.
#[derive(Clone, Debug)]
pub enum TokenSource {
    Fixed(Arc<str>),
    Identity(Arc<IdentityTokens>),
}

/// A service identity's cached token.
#[derive(Debug)]
pub struct IdentityTokens {
    minter: Minter,
    template: Claims,
    lifetime: u64,
    current: Mutex<Option<(String, u64)>>,
}

impl TokenSource {
    pub fn fixed(token: impl Into<Arc<str>>) -> Self {
        TokenSource::Fixed(token.into())
    }

    /// A service identity holding `permissions`, signed as `config` says.
    pub async fn identity(config: &IdentityConfig, permissions: &[&str]) -> anyhow::Result<Self> {
        let minter = match (&config.hs256_key_file, &config.private_key_file) {
            (Some(file), None) => Minter::hs256_file(file).await?,
            (None, Some(file)) => {
                let pem = tokio::fs::read(file)
                    .await
                    .with_context(|| format!("reading {}", file.display()))?;
                let algorithm = config.algorithm.as_deref().unwrap_or("ES256");
                Minter::from_pem(algorithm, &pem, config.key_id.clone())?
            }
            (Some(_), Some(_)) => {
                anyhow::bail!("identity: set hs256_key_file or private_key_file, not both")
            }
            (None, None) => anyhow::bail!(
                "identity: this service calls others and needs a signing key; set \
                 identity.hs256_key_file (development) or identity.private_key_file"
            ),
        };
        let template = Claims {
            iss: config.issuer.clone(),
            sub: config.subject.clone(),
            aud: config.audiences.clone(),
            exp: 0,
            iat: 0,
            act: ActorType::System,
            perms: permissions.iter().map(|perm| (*perm).to_owned()).collect(),
            manages: Vec::new(),
        };
        let tokens = IdentityTokens {
            minter,
            template,
            lifetime: config.token_lifetime_secs.max(10),
            current: Mutex::new(None),
        };
        // Fail at start, not at the first call, when the key cannot sign.
        tokens.token()?;
        Ok(TokenSource::Identity(Arc::new(tokens)))
    }

    /// The `authorization` value to send.
    pub fn bearer(&self) -> anyhow::Result<String> {
        match self {
            TokenSource::Fixed(token) => Ok(format!("Bearer {token}")),
            TokenSource::Identity(tokens) => Ok(format!("Bearer {}", tokens.token()?)),
        }
    }
}

impl IdentityTokens {
    fn token(&self) -> anyhow::Result<String> {
        let now = now_secs();
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((token, exp)) = current.as_ref()
            && exp.saturating_sub(now) > self.lifetime / 5
        {
            return Ok(token.clone());
        }
        let claims = Claims {
            iat: now,
            exp: now + self.lifetime,
            ..self.template.clone()
        };
        let token = self.minter.mint(&claims)?;
        *current = Some((token.clone(), claims.exp));
        Ok(token)
    }
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
