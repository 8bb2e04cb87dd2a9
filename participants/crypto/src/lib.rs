//! Envelope encryption of personal free text.
//!
//! - A [`Keyring`] holds the key-encryption keys (KEKs), numbered versions of 256-bit keys read
//!   from a file or the environment. The newest version wraps every new data key; older versions
//!   stay readable until they are removed from the keyring (retired).
//! - A [`DataKey`] belongs to one owner (an employee, or the service itself). It is generated at
//!   random, stored only wrapped by a KEK ([`Keyring::wrap`]), and destroyed to erase its owner's
//!   data (crypto-shredding).
//! - A sealed value ([`DataKey::seal`]) is text: `enc:1:<key id>:<base64url(nonce ‖ ciphertext)>`.
//!   It is AES-256-GCM with a fresh 96-bit nonce and the value's context (its record and field) as
//!   associated data, so a ciphertext moved to another record or field does not open, and a
//!   changed byte is refused ([`CryptoError::Tampered`]), never returned.
//!
//! No storage and no transport here: the stores keep wrapped keys and sealed values.

use std::collections::BTreeMap;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use zeroize::Zeroizing;

/// What a field whose owner's data was erased reads as.
pub const ERASED: &str = "[erased]";

const SEALED_PREFIX: &str = "enc:1:";
const NONCE_LEN: usize = 12;
const KEY_LEN: usize = 32;
const VALUE_AAD: &[u8] = b"hrmesh/value/v1\0";
const WRAP_AAD: &[u8] = b"hrmesh/data-key/v1\0";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// The value or key does not authenticate: changed, or moved from another record.
    #[error("a ciphertext does not authenticate (changed, or moved from another record)")]
    Tampered,
    /// Not a sealed value, or one this version cannot read.
    #[error("malformed ciphertext: {0}")]
    Malformed(&'static str),
    /// A data key is wrapped by a keyring version the keyring no longer (or does not yet) hold.
    #[error("keyring version {0} is not in the keyring")]
    UnknownVersion(u32),
}

#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error("cannot read the keyring {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the keyring is not valid TOML: {0}")]
    Syntax(String),
    #[error("the keyring is invalid: {0}")]
    Invalid(String),
}

/// The keyring file: `current = N` and `[keys]` mapping each version to a base64 256-bit key.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyringFile {
    current: u32,
    keys: BTreeMap<String, String>,
}

/// The key-encryption keys, by version.
pub struct Keyring {
    current: u32,
    keks: BTreeMap<u32, Aes256Gcm>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current)
            .field("versions", &self.keks.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Keyring {
    /// Reads a keyring from its TOML text.
    pub fn from_toml(text: &str) -> Result<Self, KeyringError> {
        let file: KeyringFile =
            toml::from_str(text).map_err(|err| KeyringError::Syntax(err.message().to_owned()))?;
        let mut keks = BTreeMap::new();
        for (version, key) in &file.keys {
            let number: u32 = version
                .parse()
                .ok()
                .filter(|number| *number > 0)
                .ok_or_else(|| {
                    KeyringError::Invalid(format!("version {version:?} is not a positive number"))
                })?;
            let bytes = Zeroizing::new(STANDARD.decode(key.trim()).map_err(|_| {
                KeyringError::Invalid(format!("version {number}: the key is not base64"))
            })?);
            if bytes.len() != KEY_LEN {
                return Err(KeyringError::Invalid(format!(
                    "version {number}: a key is {KEY_LEN} bytes, this one {}",
                    bytes.len()
                )));
            }
            let cipher = Aes256Gcm::new_from_slice(&bytes)
                .map_err(|_| KeyringError::Invalid(format!("version {number}: a bad key")))?;
            keks.insert(number, cipher);
        }
        if !keks.contains_key(&file.current) {
            return Err(KeyringError::Invalid(format!(
                "current = {} names no version in [keys]",
                file.current
            )));
        }
        Ok(Self {
            current: file.current,
            keks,
        })
    }

    /// Reads a keyring file.
    pub fn load(path: &Path) -> Result<Self, KeyringError> {
        let text =
            Zeroizing::new(
                std::fs::read_to_string(path).map_err(|source| KeyringError::Read {
                    path: path.display().to_string(),
                    source,
                })?,
            );
        Self::from_toml(&text)
    }

    /// The version that wraps new data keys.
    pub fn current(&self) -> u32 {
        self.current
    }

    /// Every version held, oldest first.
    pub fn versions(&self) -> Vec<u32> {
        self.keks.keys().copied().collect()
    }

    /// Wraps `key` for `owner` under the current version.
    pub fn wrap(&self, owner: &str, key: &DataKey) -> Wrapped {
        let kek = &self.keks[&self.current];
        let aad = wrap_aad(self.current, owner, &key.id);
        let bytes = seal_bytes(kek, &aad, key.secret.as_slice());
        Wrapped {
            version: self.current,
            bytes,
        }
    }

    /// Unwraps the data key `key_id` of `owner`.
    pub fn unwrap(
        &self,
        owner: &str,
        key_id: &str,
        wrapped: &Wrapped,
    ) -> Result<DataKey, CryptoError> {
        let kek = self
            .keks
            .get(&wrapped.version)
            .ok_or(CryptoError::UnknownVersion(wrapped.version))?;
        let aad = wrap_aad(wrapped.version, owner, key_id);
        let secret = Zeroizing::new(open_bytes(kek, &aad, &wrapped.bytes)?);
        DataKey::from_secret(key_id.to_owned(), &secret)
    }
}

fn wrap_aad(version: u32, owner: &str, key_id: &str) -> Vec<u8> {
    let mut aad = WRAP_AAD.to_vec();
    aad.extend_from_slice(&version.to_be_bytes());
    aad.extend_from_slice(owner.as_bytes());
    aad.push(0);
    aad.extend_from_slice(key_id.as_bytes());
    aad
}

/// A data key as stored: wrapped by keyring version `version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wrapped {
    pub version: u32,
    /// The nonce, then the wrapped key and its tag.
    pub bytes: Vec<u8>,
}

/// One owner's data key, in memory only.
pub struct DataKey {
    id: String,
    secret: Zeroizing<[u8; KEY_LEN]>,
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl DataKey {
    /// A new random key named `id` (a UUID: no `:` in it).
    pub fn generate(id: String) -> Self {
        let mut secret = Zeroizing::new([0u8; KEY_LEN]);
        random(secret.as_mut_slice());
        let cipher = Aes256Gcm::new_from_slice(secret.as_slice()).expect("a 256-bit key");
        Self { id, secret, cipher }
    }

    fn from_secret(id: String, secret: &[u8]) -> Result<Self, CryptoError> {
        let secret: [u8; KEY_LEN] = secret
            .try_into()
            .map_err(|_| CryptoError::Malformed("a data key of the wrong length"))?;
        let secret = Zeroizing::new(secret);
        let cipher = Aes256Gcm::new_from_slice(secret.as_slice()).expect("a 256-bit key");
        Ok(Self { id, secret, cipher })
    }

    /// The key's id, named in every value it seals.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `plaintext` sealed for `context` (its record and field, e.g. `reviews/r-1/employee_comment`).
    pub fn seal(&self, context: &str, plaintext: &str) -> String {
        let bytes = seal_bytes(
            &self.cipher,
            &value_aad(&self.id, context),
            plaintext.as_bytes(),
        );
        let mut sealed = String::with_capacity(
            SEALED_PREFIX.len() + self.id.len() + 1 + bytes.len() * 4 / 3 + 4,
        );
        sealed.push_str(SEALED_PREFIX);
        sealed.push_str(&self.id);
        sealed.push(':');
        URL_SAFE_NO_PAD.encode_string(&bytes, &mut sealed);
        sealed
    }

    /// Opens `sealed`, sealed for `context` with this key.
    pub fn open(&self, context: &str, sealed: &Sealed<'_>) -> Result<String, CryptoError> {
        if sealed.key_id != self.id {
            return Err(CryptoError::Malformed("sealed with another key"));
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(sealed.payload)
            .map_err(|_| CryptoError::Tampered)?;
        let plain = open_bytes(&self.cipher, &value_aad(&self.id, context), &bytes)?;
        String::from_utf8(plain).map_err(|_| CryptoError::Tampered)
    }
}

fn value_aad(key_id: &str, context: &str) -> Vec<u8> {
    let mut aad = VALUE_AAD.to_vec();
    aad.extend_from_slice(key_id.as_bytes());
    aad.push(0);
    aad.extend_from_slice(context.as_bytes());
    aad
}

/// A sealed value's parts, borrowed from its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sealed<'a> {
    pub key_id: &'a str,
    pub payload: &'a str,
}

/// The parts of `value` when it is a sealed value; `None` for any other text.
pub fn sealed(value: &str) -> Option<Sealed<'_>> {
    let rest = value.strip_prefix(SEALED_PREFIX)?;
    let (key_id, payload) = rest.split_once(':')?;
    Some(Sealed { key_id, payload })
}

fn random(bytes: &mut [u8]) {
    getrandom::fill(bytes).expect("the operating system's random source");
}

fn seal_bytes(cipher: &Aes256Gcm, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    random(&mut nonce);
    let ciphertext = cipher
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .expect("AES-GCM seals any message shorter than 64 GiB");
    let mut bytes = Vec::with_capacity(NONCE_LEN + ciphertext.len());
    bytes.extend_from_slice(&nonce);
    bytes.extend_from_slice(&ciphertext);
    bytes
}

fn open_bytes(cipher: &Aes256Gcm, aad: &[u8], bytes: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if bytes.len() < NONCE_LEN + 16 {
        return Err(CryptoError::Tampered);
    }
    let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| CryptoError::Tampered)?;
    cipher
        .decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map_err(|_| CryptoError::Tampered)
}

/// A new development keyring's TOML text: one random version, clearly marked.
pub fn development_keyring() -> String {
    let mut text = String::from(
        "# DEVELOPMENT KEYRING, written by `hrmesh keygen`. Not for production: keep real keys in\n\
         # your secret store and hand them to the services through HRMESH_<SERVICE>_CRYPTO__KEYRING\n\
         # or a file only the service can read. Rotate with `hrmesh keygen --rotate FILE`.\n",
    );
    text.push_str(&format!("current = 1\n\n[keys]\n1 = \"{}\"\n", new_kek()));
    text
}

/// `text` (a keyring) with one more version, made current: new writes use it at once, the
/// re-wrap job moves the data keys to it, and the older versions stay until they are removed.
/// The comment lines `text` starts with are kept.
pub fn rotate(text: &str) -> Result<String, KeyringError> {
    Keyring::from_toml(text)?;
    let mut file: KeyringFile =
        toml::from_str(text).map_err(|err| KeyringError::Syntax(err.message().to_owned()))?;
    let next = file
        .keys
        .keys()
        .filter_map(|version| version.parse::<u32>().ok())
        .max()
        .unwrap_or(0)
        + 1;
    file.keys.insert(next.to_string(), new_kek());
    file.current = next;
    let mut rotated: String = text
        .lines()
        .take_while(|line| line.starts_with('#'))
        .map(|line| format!("{line}\n"))
        .collect();
    rotated.push_str(&format!("current = {next}\n\n[keys]\n"));
    let mut versions: Vec<(u32, &String)> = file
        .keys
        .iter()
        .filter_map(|(version, key)| Some((version.parse().ok()?, key)))
        .collect();
    versions.sort();
    for (version, key) in versions {
        rotated.push_str(&format!("{version} = \"{key}\"\n"));
    }
    Ok(rotated)
}

fn new_kek() -> String {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    random(key.as_mut_slice());
    STANDARD.encode(key.as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_opens_only_in_its_own_context_and_unchanged() {
        let key = DataKey::generate("k-1".to_owned());
        let sealed_text = key.seal("reviews/r-1/employee_comment", "I disagree");
        assert!(!sealed_text.contains("disagree"));
        let parts = sealed(&sealed_text).expect("sealed");
        assert_eq!(parts.key_id, "k-1");
        assert_eq!(
            key.open("reviews/r-1/employee_comment", &parts),
            Ok("I disagree".to_owned())
        );
        // Moved to another record or field: refused.
        assert_eq!(
            key.open("reviews/r-2/employee_comment", &parts),
            Err(CryptoError::Tampered)
        );
        assert_eq!(
            key.open("reviews/r-1/reason", &parts),
            Err(CryptoError::Tampered)
        );
        // One changed character: refused.
        let mut changed = sealed_text.clone().into_bytes();
        let last = changed.len() - 3;
        changed[last] = if changed[last] == b'A' { b'B' } else { b'A' };
        let changed = String::from_utf8(changed).expect("text");
        assert_eq!(
            key.open(
                "reviews/r-1/employee_comment",
                &sealed(&changed).expect("sealed")
            ),
            Err(CryptoError::Tampered)
        );
        // Two seals of one text differ (fresh nonces).
        assert_ne!(key.seal("c", "same"), key.seal("c", "same"));
        assert_eq!(sealed("plain text"), None);
    }

    #[test]
    fn a_wrapped_key_unwraps_for_its_owner_under_any_version_held() {
        let text = development_keyring();
        assert!(text.contains("DEVELOPMENT KEYRING"));
        let keyring = Keyring::from_toml(&text).expect("keyring");
        let key = DataKey::generate("k-1".to_owned());
        let wrapped = keyring.wrap("e-1", &key);
        assert_eq!(wrapped.version, 1);
        let unwrapped = keyring.unwrap("e-1", "k-1", &wrapped).expect("unwrap");
        let sealed_text = key.seal("c", "text");
        assert_eq!(
            unwrapped.open("c", &sealed(&sealed_text).expect("sealed")),
            Ok("text".to_owned())
        );
        // Another owner's, or another key id's: refused.
        assert_eq!(
            keyring.unwrap("e-2", "k-1", &wrapped).map(|_| ()),
            Err(CryptoError::Tampered)
        );
        assert_eq!(
            keyring.unwrap("e-1", "k-2", &wrapped).map(|_| ()),
            Err(CryptoError::Tampered)
        );

        // Rotation: a new current version; the old one still unwraps until it is retired.
        let rotated_text = rotate(&text).expect("rotate");
        let rotated = Keyring::from_toml(&rotated_text).expect("keyring");
        assert_eq!(rotated.current(), 2);
        assert_eq!(rotated.versions(), [1, 2]);
        assert!(rotated.unwrap("e-1", "k-1", &wrapped).is_ok());
        assert_eq!(rotated.wrap("e-1", &key).version, 2);
        let retired = Keyring::from_toml(
            &rotated_text.replace(
                rotated_text
                    .lines()
                    .find(|line| line.starts_with("1 = "))
                    .expect("version 1"),
                "",
            ),
        )
        .expect("keyring");
        assert_eq!(
            retired.unwrap("e-1", "k-1", &wrapped).map(|_| ()),
            Err(CryptoError::UnknownVersion(1))
        );
    }

    #[test]
    fn a_bad_keyring_is_refused_with_its_reason() {
        for (text, reason) in [
            ("current = 2\n[keys]\n1 = \"AAAA\"\n", "version 1"),
            ("current = 1\n[keys]\n", "current = 1"),
            ("current = 1\n[keys]\nx = \"AAAA\"\n", "positive number"),
            ("nonsense", "TOML"),
        ] {
            let err = Keyring::from_toml(text).expect_err(text).to_string();
            assert!(err.contains(reason), "{text:?}: {err}");
        }
    }
}
