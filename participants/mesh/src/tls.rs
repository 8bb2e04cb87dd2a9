//! Optional TLS (rustls) on every server and client, and mutual TLS between services.
//!
//! One `[tls]` table per service configures both directions, the way service meshes issue one
//! certificate per workload:
//! - `cert_file` + `key_file`: the certificate chain and key this service presents, as a server
//!   and, under mutual TLS, as a client of other services;
//! - `ca_file`: the CA certificates it trusts, for the servers it calls over `https://` and for
//!   the client certificates it checks;
//! - `require_client_cert`: mutual TLS, refusing every connection without a client certificate
//!   signed by `ca_file`.
//!
//! Without `cert_file` a server speaks plaintext HTTP/2; an `http://` URL is called in plaintext and
//! an `https://` URL over TLS.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity, ServerTlsConfig};

/// The `[tls]` table of a service's configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TlsConfig {
    /// PEM certificate chain presented as a server, and as a client under mutual TLS.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file` (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
    /// PEM CA certificates trusted for servers called over `https://` and for client certificates.
    pub ca_file: Option<PathBuf>,
    /// Mutual TLS: refuse connections without a client certificate signed by `ca_file`.
    pub require_client_cert: bool,
}

/// Makes ring the process's rustls crypto provider unless one is installed already. reqwest
/// (JWKS, webhooks) and lettre (SMTP) build their rustls configurations from it and panic without
/// one; tonic names ring itself.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// How long a TLS handshake may take before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

impl TlsConfig {
    /// The server's rustls configuration, or `None` for plaintext. Errors name the setting at
    /// fault: half a key pair, mutual TLS without a CA, unreadable or malformed PEM.
    pub fn server(&self) -> anyhow::Result<Option<ServerTlsConfig>> {
        let Some(identity) = self.identity()? else {
            anyhow::ensure!(
                !self.require_client_cert,
                "tls.require_client_cert needs the server's own tls.cert_file and tls.key_file"
            );
            return Ok(None);
        };
        let mut config = ServerTlsConfig::new()
            .identity(identity)
            .timeout(HANDSHAKE_TIMEOUT);
        if self.require_client_cert {
            let ca = self.ca()?.context(
                "tls.require_client_cert needs tls.ca_file, the CA that signs client certificates",
            )?;
            config = config.client_ca_root(ca).client_auth_optional(false);
        }
        Ok(Some(config))
    }

    /// An endpoint for `url` with TCP_NODELAY: plaintext for `http://`, TLS for `https://` trusting
    /// `ca_file` and presenting `cert_file` when one is configured.
    pub fn endpoint(&self, url: &str) -> anyhow::Result<Endpoint> {
        let endpoint = Endpoint::from_shared(url.to_owned())
            .map_err(|err| anyhow::anyhow!("{url} is not a URL: {err}"))?
            .tcp_nodelay(true);
        match endpoint.uri().scheme_str() {
            Some("http") => Ok(endpoint),
            Some("https") => {
                let ca = self.ca()?.with_context(|| {
                    format!("calling {url} over TLS needs tls.ca_file, the CA that signs its certificate")
                })?;
                let mut config = ClientTlsConfig::new()
                    .ca_certificate(ca)
                    .timeout(HANDSHAKE_TIMEOUT);
                if let Some(identity) = self.identity()? {
                    config = config.identity(identity);
                }
                endpoint
                    .tls_config(config)
                    .with_context(|| format!("the TLS configuration for {url}"))
            }
            _ => anyhow::bail!("{url} must start with http:// or https://"),
        }
    }

    /// The scheme clients use to reach a server with this configuration.
    pub fn scheme(&self) -> &'static str {
        if self.cert_file.is_some() {
            "https"
        } else {
            "http"
        }
    }

    fn identity(&self) -> anyhow::Result<Option<Identity>> {
        match (&self.cert_file, &self.key_file) {
            (None, None) => Ok(None),
            (Some(cert), Some(key)) => {
                let cert_pem = read_pem(cert, "tls.cert_file", "CERTIFICATE")?;
                let key_pem = read_pem(key, "tls.key_file", "PRIVATE KEY")?;
                Ok(Some(Identity::from_pem(cert_pem, key_pem)))
            }
            (Some(_), None) => anyhow::bail!("tls.cert_file is set but tls.key_file is not"),
            (None, Some(_)) => anyhow::bail!("tls.key_file is set but tls.cert_file is not"),
        }
    }

    fn ca(&self) -> anyhow::Result<Option<Certificate>> {
        self.ca_file
            .as_deref()
            .map(|file| read_pem(file, "tls.ca_file", "CERTIFICATE").map(Certificate::from_pem))
            .transpose()
    }
}

/// Reads a PEM file and checks it holds a block of the expected kind (`PRIVATE KEY` also matches
/// `RSA PRIVATE KEY` and `EC PRIVATE KEY`), so a swapped or empty file fails at start, by name.
fn read_pem(path: &Path, setting: &str, kind: &str) -> anyhow::Result<Vec<u8>> {
    let pem = std::fs::read(path)
        .with_context(|| format!("{setting}: cannot read {}", path.display()))?;
    let text = String::from_utf8_lossy(&pem);
    let has_block = text.lines().any(|line| {
        line.strip_prefix("-----BEGIN ")
            .and_then(|rest| rest.strip_suffix("-----"))
            .is_some_and(|label| label.ends_with(kind))
    });
    anyhow::ensure!(
        has_block,
        "{setting}: {} holds no PEM {kind} block",
        path.display()
    );
    Ok(pem)
}

/// A development PKI: a CA and one certificate per service, written as PEM files. For local runs
/// and tests only; production certificates come from your own CA.
#[cfg(feature = "dev-pki")]
pub mod dev {
    use std::path::{Path, PathBuf};

    use anyhow::Context;
    use chrono::{Datelike, Duration, Utc};
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };

    use super::TlsConfig;

    /// The CA certificate's file name in a development PKI directory.
    pub const CA_FILE: &str = "ca.pem";

    /// How long development certificates stay valid.
    const VALIDITY_DAYS: i64 = 825;

    /// A development PKI in a directory: `ca.pem`, and `<name>.pem` / `<name>.key` per name.
    #[derive(Debug, Clone)]
    pub struct DevPki {
        dir: PathBuf,
    }

    impl DevPki {
        /// Creates a fresh CA (its private key is never written: no certificate can be added
        /// later) and one certificate per name, valid as server and client, for the DNS name
        /// `name`, `localhost`, 127.0.0.1 and ::1. Key files are readable by the owner only.
        pub fn generate(dir: &Path, names: &[&str]) -> anyhow::Result<Self> {
            check_names(names)?;
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            let ca_key = KeyPair::generate()?;
            let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
            validity(&mut ca_params);
            ca_params
                .distinguished_name
                .push(DnType::CommonName, "hrmesh development CA");
            ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
            ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            let ca_cert = ca_params.self_signed(&ca_key)?;
            let issuer = Issuer::new(ca_params, ca_key);
            write(&dir.join(CA_FILE), &ca_cert.pem(), false)?;
            for name in names {
                let key = KeyPair::generate()?;
                let mut params = CertificateParams::new(vec![
                    (*name).to_owned(),
                    "localhost".to_owned(),
                    "127.0.0.1".to_owned(),
                    "::1".to_owned(),
                ])?;
                validity(&mut params);
                params.distinguished_name.push(DnType::CommonName, *name);
                params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
                params.extended_key_usages = vec![
                    ExtendedKeyUsagePurpose::ServerAuth,
                    ExtendedKeyUsagePurpose::ClientAuth,
                ];
                let cert = params.signed_by(&key, &issuer)?;
                write(&dir.join(format!("{name}.pem")), &cert.pem(), false)?;
                write(&dir.join(format!("{name}.key")), &key.serialize_pem(), true)?;
            }
            Ok(Self {
                dir: dir.to_owned(),
            })
        }

        /// The PKI in `dir` if it has the CA and a certificate and key for every name; otherwise
        /// a new one from [`DevPki::generate`] (the CA's key is never stored, so a missing
        /// certificate cannot be added to an existing CA). The flag tells whether it is new.
        pub fn ensure(dir: &Path, names: &[&str]) -> anyhow::Result<(Self, bool)> {
            check_names(names)?;
            let complete = std::iter::once(dir.join(CA_FILE))
                .chain(names.iter().flat_map(|name| {
                    [
                        dir.join(format!("{name}.pem")),
                        dir.join(format!("{name}.key")),
                    ]
                }))
                .all(|file| file.exists());
            if complete {
                return Ok((
                    Self {
                        dir: dir.to_owned(),
                    },
                    false,
                ));
            }
            Ok((Self::generate(dir, names)?, true))
        }

        /// `name`'s `[tls]` table: its certificate and key, the development CA, and mutual TLS
        /// when `mutual`.
        pub fn config(&self, name: &str, mutual: bool) -> TlsConfig {
            TlsConfig {
                cert_file: Some(self.dir.join(format!("{name}.pem"))),
                key_file: Some(self.dir.join(format!("{name}.key"))),
                ca_file: Some(self.dir.join(CA_FILE)),
                require_client_cert: mutual,
            }
        }

        /// A client that trusts the development CA and presents no certificate.
        pub fn trusting_client(&self) -> TlsConfig {
            TlsConfig {
                ca_file: Some(self.dir.join(CA_FILE)),
                ..TlsConfig::default()
            }
        }
    }

    /// Each name becomes a file name and a DNS name: never a path.
    fn check_names(names: &[&str]) -> anyhow::Result<()> {
        for name in names {
            anyhow::ensure!(
                !name.is_empty()
                    && !name.starts_with('.')
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'),
                "{name:?} is not a host name (letters, digits, '-' and '.')"
            );
        }
        Ok(())
    }

    fn validity(params: &mut CertificateParams) {
        let day = |date: chrono::DateTime<Utc>| {
            // Months and days from chrono are always in rcgen's ranges.
            rcgen::date_time_ymd(date.year(), date.month() as u8, date.day() as u8)
        };
        let today = Utc::now();
        params.not_before = day(today - Duration::days(1));
        params.not_after = day(today + Duration::days(VALIDITY_DAYS));
    }

    fn write(path: &Path, contents: &str, private: bool) -> anyhow::Result<()> {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        if private {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        #[cfg(not(unix))]
        let _ = private;
        options
            .open(path)
            .and_then(|mut file| file.write_all(contents.as_bytes()))
            .with_context(|| format!("writing {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_is_the_default_on_both_sides() -> anyhow::Result<()> {
        let config = TlsConfig::default();
        assert!(config.server()?.is_none());
        assert_eq!(config.scheme(), "http");
        config.endpoint("http://127.0.0.1:1")?;
        Ok(())
    }

    #[test]
    fn half_a_key_pair_or_mutual_tls_without_a_ca_is_refused_by_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cert = dir.path().join("cert.pem");
        std::fs::write(
            &cert,
            "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
        )
        .expect("write");
        let cases = [
            (
                TlsConfig {
                    cert_file: Some(cert.clone()),
                    ..TlsConfig::default()
                },
                "tls.cert_file is set but tls.key_file is not",
            ),
            (
                TlsConfig {
                    require_client_cert: true,
                    ..TlsConfig::default()
                },
                "tls.require_client_cert needs the server's own",
            ),
            (
                TlsConfig {
                    cert_file: Some(cert.clone()),
                    key_file: Some(dir.path().join("missing.key")),
                    ..TlsConfig::default()
                },
                "tls.key_file: cannot read",
            ),
            (
                TlsConfig {
                    cert_file: Some(cert.clone()),
                    key_file: Some(cert.clone()),
                    ..TlsConfig::default()
                },
                "holds no PEM PRIVATE KEY block",
            ),
        ];
        for (config, expected) in cases {
            let err = config.server().expect_err("refused");
            assert!(format!("{err:#}").contains(expected), "{err:#}");
        }
        let err = TlsConfig::default()
            .endpoint("https://127.0.0.1:1")
            .expect_err("no CA to trust");
        assert!(format!("{err:#}").contains("needs tls.ca_file"), "{err:#}");
        let err = TlsConfig::default()
            .endpoint("ftp://127.0.0.1:1")
            .expect_err("not http");
        assert!(
            format!("{err:#}").contains("http:// or https://"),
            "{err:#}"
        );
    }
}
