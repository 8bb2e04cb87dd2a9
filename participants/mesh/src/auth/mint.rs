//! Minting tokens: a service's own identity, renewed before it expires, or `hrmesh token`.

use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

use super::dev::read_secret;
use super::{ActorType, Claims, DEFAULT_ISSUER};
use std::path::PathBuf;

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
