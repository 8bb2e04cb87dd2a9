//! Test support for servers and clients: a shared development signing key, tokens, admin
//! channels, and checks on permission tables. The databases come from
//! [`hrmesh_storage::testing`], re-exported here; a RabbitMQ broker from [`broker`].

pub mod broker;

pub use hrmesh_storage::testing::*;

/// The fields a status's google.rpc.BadRequest names; panics unless it is INVALID_ARGUMENT with
/// one.
pub fn violated_fields(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt;
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    status
        .get_error_details()
        .bad_request()
        .expect("a google.rpc.BadRequest")
        .field_violations
        .iter()
        .map(|violation| violation.field.clone())
        .collect()
}

/// A status's code and its google.rpc.ErrorInfo's reason and facts; panics unless it has one in
/// the hrmesh domain.
pub fn reason_of(
    status: &tonic::Status,
) -> (
    tonic::Code,
    String,
    std::collections::HashMap<String, String>,
) {
    use tonic_types::StatusExt;
    let details = status.get_error_details();
    let info = details.error_info().expect("a google.rpc.ErrorInfo");
    assert_eq!(info.domain, crate::status::ERROR_DOMAIN, "{status:?}");
    (status.code(), info.reason.clone(), info.metadata.clone())
}

/// PERMISSION_DENIED, RECORD_OF_ANOTHER_EMPLOYEE, naming the record and never its `owner`.
pub fn assert_record_of_another(
    status: &tonic::Status,
    record: &str,
    record_id: &str,
    owner: &str,
) {
    let (code, reason, metadata) = reason_of(status);
    assert_eq!(
        (code, reason.as_str()),
        (tonic::Code::PermissionDenied, "RECORD_OF_ANOTHER_EMPLOYEE"),
        "{status:?}"
    );
    assert_eq!(
        (metadata["record"].as_str(), metadata["record_id"].as_str()),
        (record, record_id)
    );
    assert!(
        !names(status.message(), owner) && !metadata.values().any(|value| value == owner),
        "the owner is never named: {status:?}"
    );
}

/// Whether `text` names `id` as a word of its own: a random record id that happens to contain
/// the characters of an employee id (`…-a01e-1…` holds `e-1`) does not count.
pub fn names(text: &str, id: &str) -> bool {
    text.split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_'))
        .any(|word| word == id)
}

/// The HS256 key every server and token of this test process shares, in a temporary directory
/// kept until the process ends.
pub fn dev_key_file() -> &'static std::path::Path {
    static KEY: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let dir = tempfile::tempdir()
            .expect("create a temporary directory")
            .keep();
        let file = dir.join("dev-hs256.key");
        crate::auth::ensure_dev_key(&file).expect("write the test signing key");
        file
    })
}

pub use hrmesh_storage::testing::{Stored, keyring, keyring_text, stored};

/// Makes a server verify tokens signed with [`dev_key_file`] (its audience stays its own) and
/// seal personal data with [`keyring`].
pub fn secure(common: &mut crate::config::CommonConfig) {
    common.auth.hs256_key_file = Some(dev_key_file().to_path_buf());
    common.crypto.keyring = Some(keyring_text().to_owned());
}

/// Makes a service identity sign with [`dev_key_file`].
pub fn sign(identity: &mut crate::auth::IdentityConfig) {
    identity.hs256_key_file = Some(dev_key_file().to_path_buf());
}

/// The claims of a test token good for every service for an hour.
pub fn claims(
    subject: &str,
    actor: crate::auth::ActorType,
    permissions: &[&str],
) -> crate::auth::Claims {
    let now = crate::auth::now_secs();
    crate::auth::Claims {
        iss: crate::auth::DEFAULT_ISSUER.to_owned(),
        sub: subject.to_owned(),
        aud: crate::auth::SERVICES
            .iter()
            .map(|service| crate::config::audience(service))
            .collect(),
        exp: now + 3600,
        iat: now,
        act: actor,
        perms: permissions.iter().map(|perm| (*perm).to_owned()).collect(),
        manages: Vec::new(),
    }
}

/// Signs `claims` with [`dev_key_file`].
pub fn mint(claims: &crate::auth::Claims) -> crate::auth::TokenSource {
    let secret = std::fs::read(dev_key_file()).expect("read the test signing key");
    let jwt = crate::auth::Minter::hs256(secret.trim_ascii())
        .mint(claims)
        .expect("sign a test token");
    crate::auth::TokenSource::fixed(jwt)
}

/// An admin holding every permission.
pub fn admin_token() -> crate::auth::TokenSource {
    mint(&claims(
        "test-admin",
        crate::auth::ActorType::Admin,
        crate::auth::ALL_PERMISSIONS,
    ))
}

/// A lazily connecting plaintext channel to `url` calling with a token for `claims`.
pub fn channel_as(url: &str, claims: &crate::auth::Claims) -> crate::client::MeshChannel {
    crate::client::MeshChannel::lazy(url, &crate::tls::TlsConfig::default(), Some(mint(claims)))
        .expect("a valid URL")
}

/// A lazily connecting channel to `url` calling as [`admin_token`].
pub fn admin_channel(url: &str) -> crate::client::MeshChannel {
    admin_channel_over(url, &crate::tls::TlsConfig::default())
}

/// [`admin_channel`] with TLS settings for `https://` URLs.
pub fn admin_channel_over(url: &str, tls: &crate::tls::TlsConfig) -> crate::client::MeshChannel {
    crate::client::MeshChannel::lazy(url, tls, Some(admin_token())).expect("a valid URL")
}

/// Panics unless every method of `services` (e.g. `hrmesh.ledger.v1.LedgerService` and
/// `hrmesh.events.v1.EventService`, which one server serves together) in the descriptor set has a
/// permission in `table`, and the table names no other method.
pub fn assert_every_method_guarded(
    descriptor_set: &[u8],
    services: &[&str],
    table: &[(&'static str, &'static str)],
) {
    use prost::Message;
    let set = prost_types::FileDescriptorSet::decode(descriptor_set).expect("a descriptor set");
    let mut methods = std::collections::BTreeSet::new();
    for service in services {
        let (package, name) = service.rsplit_once('.').expect("a full service name");
        let found: Vec<String> = set
            .file
            .iter()
            .filter(|file| file.package() == package)
            .flat_map(|file| file.service.iter())
            .filter(|candidate| candidate.name() == name)
            .flat_map(|found| found.method.iter())
            .map(|method| format!("/{service}/{}", method.name()))
            .collect();
        assert!(!found.is_empty(), "{service} is not in the descriptor set");
        methods.extend(found);
    }
    let guarded: std::collections::BTreeSet<String> =
        table.iter().map(|(path, _)| (*path).to_owned()).collect();
    assert_eq!(
        methods, guarded,
        "methods of {services:?} vs the permission table"
    );
}
