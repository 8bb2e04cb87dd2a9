//! The JWKS a verifier fetches: again when it is older than its maximum age (a key removed at the
//! identity provider stops verifying), and on an unknown key id (at most once per refresh).

use std::time::{Duration, Instant};

use anyhow::Context;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::sync::RwLock;

use super::AuthError;

/// A JWKS, fetched at start, again on the first use after `max_age`, and when a token names a key
/// id it does not hold (at most once per `refresh`).
pub(super) struct Jwks {
    pub(super) url: String,
    pub(super) http: reqwest::Client,
    pub(super) refresh: Duration,
    pub(super) max_age: Duration,
    pub(super) state: RwLock<(JwkSet, Instant)>,
}

/// The default shortest interval between two JWKS fetches.
pub const JWKS_REFRESH_MIN: Duration = Duration::from_secs(30);
/// The default longest time a fetched JWKS is used before it is fetched again.
pub const JWKS_MAX_AGE: Duration = Duration::from_secs(300);

impl Jwks {
    pub(super) async fn fetch(url: &str, http: &reqwest::Client) -> anyhow::Result<JwkSet> {
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

    pub(super) async fn key(
        &self,
        kid: Option<&str>,
    ) -> Result<(DecodingKey, Algorithm), AuthError> {
        {
            let state = self.state.read().await;
            if state.1.elapsed() < self.max_age
                && let Some(found) = Self::lookup(&state.0, kid)?
            {
                return Ok(found);
            }
        }
        let mut state = self.state.write().await;
        let age = state.1.elapsed();
        let known = Self::lookup(&state.0, kid)?.is_some();
        if age >= self.max_age || (!known && age >= self.refresh) {
            match Self::fetch(&self.url, &self.http).await {
                Ok(set) => *state = (set, Instant::now()),
                Err(err) if known => {
                    // The identity provider is away: keep the keys held, and try again after
                    // the refresh interval rather than on every call.
                    tracing::warn!(
                        error = format!("{err:#}"),
                        "the JWKS could not be refreshed; the keys fetched before stay in use"
                    );
                    state.1 = Instant::now()
                        .checked_sub(self.max_age.saturating_sub(self.refresh))
                        .unwrap_or_else(Instant::now);
                }
                Err(err) => return Err(AuthError::KeysUnavailable(format!("{err:#}"))),
            }
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
