//! The production token path: RS256 and ES256 tokens signed with PEM keys (`Minter::from_pem`,
//! `[identity] private_key_file`) and verified against a JWKS served over HTTP or read from a
//! file, including key rotation and the ways a token can be forged. Keys are generated per test.

use std::sync::{Arc, Mutex};

use hrmesh_mesh::auth::{
    ActorType, AuthConfig, AuthError, Claims, IdentityConfig, Minter, TokenSource, Verifier,
    now_secs,
};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey};

/// A private key in PKCS#8 PEM, as an identity provider or `[identity] private_key_file` holds it.
struct Key {
    pem: String,
    algorithm: &'static str,
    kid: &'static str,
}

impl Key {
    fn es256(kid: &'static str) -> Self {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("EC key");
        Self {
            pem: pair.serialize_pem(),
            algorithm: "ES256",
            kid,
        }
    }

    fn rs256(kid: &'static str) -> Self {
        use rsa::pkcs8::EncodePrivateKey;
        let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("RSA key");
        Self {
            pem: key
                .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
                .expect("PKCS#8")
                .to_string(),
            algorithm: "RS256",
            kid,
        }
    }

    fn minter(&self) -> Minter {
        Minter::from_pem(
            self.algorithm,
            self.pem.as_bytes(),
            Some(self.kid.to_owned()),
        )
        .expect("a signer")
    }

    /// The public half, as published in a JWKS.
    fn jwk(&self) -> Jwk {
        let (key, algorithm) = match self.algorithm {
            "RS256" => (
                EncodingKey::from_rsa_pem(self.pem.as_bytes()),
                Algorithm::RS256,
            ),
            _ => (
                EncodingKey::from_ec_pem(self.pem.as_bytes()),
                Algorithm::ES256,
            ),
        };
        let mut jwk = Jwk::from_encoding_key(&key.expect("a key"), algorithm).expect("a JWK");
        jwk.common.key_id = Some(self.kid.to_owned());
        jwk
    }
}

fn jwks(keys: &[&Key]) -> String {
    serde_json::to_string(&JwkSet {
        keys: keys.iter().map(|key| key.jwk()).collect(),
    })
    .expect("JSON")
}

/// An HTTP server publishing whatever JWKS the test puts in `published`.
struct KeyServer {
    url: String,
    published: Arc<Mutex<String>>,
    fetches: Arc<Mutex<usize>>,
    task: tokio::task::JoinHandle<()>,
}

impl KeyServer {
    async fn start(set: String) -> Self {
        let published = Arc::new(Mutex::new(set));
        let fetches = Arc::new(Mutex::new(0));
        let router = axum::Router::new().route(
            "/.well-known/jwks.json",
            axum::routing::get({
                let published = published.clone();
                let fetches = fetches.clone();
                move || async move {
                    *fetches.lock().expect("lock") += 1;
                    let body = published.lock().expect("lock").clone();
                    ([(http::header::CONTENT_TYPE, "application/json")], body)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.expect("serve");
        });
        Self {
            url: format!("http://{addr}/.well-known/jwks.json"),
            published,
            fetches,
            task,
        }
    }

    fn publish(&self, set: String) {
        *self.published.lock().expect("lock") = set;
    }

    fn fetches(&self) -> usize {
        *self.fetches.lock().expect("lock")
    }
}

fn claims(audience: &str) -> Claims {
    let now = now_secs();
    Claims {
        iss: "hrmesh".into(),
        sub: "e-7".into(),
        aud: vec![audience.into()],
        exp: now + 300,
        iat: now,
        act: ActorType::Employee,
        perms: vec!["ledger.read".into()],
        manages: Vec::new(),
    }
}

fn config(jwks_url: &str, refresh_secs: u64) -> AuthConfig {
    AuthConfig {
        jwks_url: Some(jwks_url.to_owned()),
        jwks_refresh_secs: refresh_secs,
        ..AuthConfig::for_audience("hrmesh-ledger")
    }
}

#[tokio::test]
async fn rs256_and_es256_tokens_verify_against_the_published_keys_and_forgeries_do_not() {
    let ec = Key::es256("ec-1");
    let rsa = Key::rs256("rsa-1");
    let server = KeyServer::start(jwks(&[&ec, &rsa])).await;
    // The long refresh interval: an unknown key id must not fetch again.
    let verifier = Verifier::from_config(&config(&server.url, 3600))
        .await
        .expect("the JWKS is fetched at start");
    assert_eq!(server.fetches(), 1);

    for key in [&ec, &rsa] {
        let token = key.minter().mint(&claims("hrmesh-ledger")).expect("token");
        let principal = verifier
            .verify(&token)
            .await
            .unwrap_or_else(|err| panic!("{}: {err}", key.algorithm));
        assert_eq!(principal.subject, "e-7");
        assert_eq!(principal.actor, ActorType::Employee);
        assert!(principal.has("ledger.read"));
        assert!(!principal.has("ledger.admin"));
    }

    let expired = Claims {
        exp: now_secs() - 3600,
        ..claims("hrmesh-ledger")
    };
    let refused = |result: Result<_, AuthError>| result.expect_err("refused");
    assert!(matches!(
        refused(
            verifier
                .verify(&ec.minter().mint(&expired).expect("token"))
                .await
        ),
        AuthError::Expired
    ));
    assert!(matches!(
        refused(
            verifier
                .verify(&rsa.minter().mint(&claims("hrmesh-payroll")).expect("token"))
                .await
        ),
        AuthError::WrongAudience { .. }
    ));

    // Another key claiming a published key id: the signature does not verify.
    let impostor = Key {
        kid: "ec-1",
        ..Key::es256("unused")
    };
    let forged = impostor
        .minter()
        .mint(&claims("hrmesh-ledger"))
        .expect("token");
    assert!(matches!(
        refused(verifier.verify(&forged).await),
        AuthError::Invalid(_)
    ));
    // An HS256 token naming a published key id: the algorithm is the key's, not the token's.
    let confused = {
        let mut header = jsonwebtoken::Header::new(Algorithm::HS256);
        header.kid = Some("ec-1".into());
        jsonwebtoken::encode(
            &header,
            &claims("hrmesh-ledger"),
            // What a forger has: the published key, used as an HMAC secret.
            &EncodingKey::from_secret(jwks(&[&ec]).as_bytes()),
        )
        .expect("token")
    };
    assert!(matches!(
        refused(verifier.verify(&confused).await),
        AuthError::Invalid(_)
    ));
    // A key id nobody published, within the refresh interval: refused without another fetch.
    let unknown = Key::es256("ec-unknown")
        .minter()
        .mint(&claims("hrmesh-ledger"))
        .expect("token");
    assert!(matches!(
        refused(verifier.verify(&unknown).await),
        AuthError::Invalid(_)
    ));
    assert_eq!(server.fetches(), 1, "no fetch per unknown key id");
    server.task.abort();
}

#[tokio::test]
async fn a_rotated_key_is_fetched_when_a_token_first_names_it() {
    let old = Key::es256("2026-10");
    let server = KeyServer::start(jwks(&[&old])).await;
    let verifier = Verifier::from_config(&config(&server.url, 0))
        .await
        .expect("verifier");
    let new = Key::es256("2026-11");
    let token = new.minter().mint(&claims("hrmesh-ledger")).expect("token");
    assert!(
        verifier.verify(&token).await.is_err(),
        "not published yet: refused"
    );
    server.publish(jwks(&[&old, &new]));
    verifier
        .verify(&token)
        .await
        .expect("the new key is fetched and the token verifies");
    let fetches = server.fetches();
    verifier.verify(&token).await.expect("still valid");
    assert_eq!(server.fetches(), fetches, "a known key id needs no fetch");
    server.task.abort();
}

#[tokio::test]
async fn a_key_removed_at_the_identity_provider_stops_verifying_once_the_set_is_old() {
    let (old, new) = (Key::es256("2026-10"), Key::es256("2026-11"));
    let server = KeyServer::start(jwks(&[&old, &new])).await;
    let verifier = Verifier::from_config(&AuthConfig {
        // Every use finds the set old: each call fetches it again.
        jwks_max_age_secs: 0,
        ..config(&server.url, 3600)
    })
    .await
    .expect("verifier");
    let old_token = old.minter().mint(&claims("hrmesh-ledger")).expect("token");
    let new_token = new.minter().mint(&claims("hrmesh-ledger")).expect("token");
    verifier.verify(&old_token).await.expect("published: valid");
    server.publish(jwks(&[&new]));
    assert!(
        matches!(
            verifier.verify(&old_token).await,
            Err(AuthError::Invalid(_))
        ),
        "the removed key no longer verifies"
    );
    verifier
        .verify(&new_token)
        .await
        .expect("the kept key verifies");
    // The identity provider breaks (its answer is no JWKS): the keys held stay in use.
    server.publish("{ not a key set".into());
    let fetches = server.fetches();
    verifier
        .verify(&new_token)
        .await
        .expect("verified with the keys fetched before");
    assert_eq!(server.fetches(), fetches + 1, "the refresh was tried");
    server.task.abort();
}

#[tokio::test]
async fn a_fresh_set_is_not_fetched_again_for_a_known_key() {
    let key = Key::es256("2026-10");
    let server = KeyServer::start(jwks(&[&key])).await;
    let verifier = Verifier::from_config(&config(&server.url, 0))
        .await
        .expect("verifier");
    let token = key.minter().mint(&claims("hrmesh-ledger")).expect("token");
    for _ in 0..3 {
        verifier.verify(&token).await.expect("valid");
    }
    assert_eq!(
        server.fetches(),
        1,
        "within the maximum age, the set is reused"
    );
    server.task.abort();
}

#[tokio::test]
async fn a_service_identity_signed_with_a_pem_key_verifies_against_a_jwks_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = Key::es256("orchestrator-1");
    let key_file = dir.path().join("orchestrator.key");
    std::fs::write(&key_file, &key.pem).expect("write key");
    let set_file = dir.path().join("jwks.json");
    std::fs::write(&set_file, jwks(&[&key])).expect("write JWKS");

    let identity = TokenSource::identity(
        &IdentityConfig {
            private_key_file: Some(key_file),
            algorithm: Some("ES256".into()),
            key_id: Some("orchestrator-1".into()),
            ..IdentityConfig::new("hrmesh-orchestrator", &["hrmesh-ledger"])
        },
        &["ledger.create"],
    )
    .await
    .expect("an identity from a PEM key");
    let verifier = Verifier::from_config(&config(&format!("file://{}", set_file.display()), 30))
        .await
        .expect("a verifier from a JWKS file");
    let principal = verifier
        .verify_header(Some(&identity.bearer().expect("bearer")))
        .await
        .expect("the identity's token verifies");
    assert_eq!(principal.subject, "hrmesh-orchestrator");
    assert_eq!(principal.actor, ActorType::System);
    assert!(principal.has("ledger.create"));

    let err = Verifier::from_config(&config("http://127.0.0.1:1/jwks.json", 30))
        .await
        .expect_err("no key server, no start");
    assert!(format!("{err:#}").contains("fetching the JWKS"), "{err:#}");
}
