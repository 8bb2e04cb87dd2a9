//! Verifying bearer tokens: HS256 against the development key, RS256/ES256 against a JWKS.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use tokio::sync::RwLock;
use tonic::{Code, Status};

use super::dev::read_secret;
use super::jwks::Jwks;
use super::{AuthConfig, Claims, Principal};
use crate::status;
use hrmesh_proto::common::ErrorReason;

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
            AuthError::Missing => ErrorReason::TokenMissing,
            AuthError::Expired => ErrorReason::TokenExpired,
            AuthError::WrongAudience { .. } => ErrorReason::TokenWrongAudience,
            AuthError::WrongIssuer { .. } => ErrorReason::TokenWrongIssuer,
            AuthError::Invalid(_) => ErrorReason::TokenInvalid,
            AuthError::KeysUnavailable(_) => ErrorReason::SigningKeysUnavailable,
        }
        .as_str_name()
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
                    max_age: Duration::from_secs(config.jwks_max_age_secs),
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
