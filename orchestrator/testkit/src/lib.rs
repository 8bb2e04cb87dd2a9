//! The whole mesh for the end-to-end tests, the saga benchmark and the `hrmesh` binary's tests.
//!
//! - [`Mesh`]: the orchestrator and the real participants in one process, each server on its own
//!   port with its own real database (SQLite or PostgreSQL), started as [`Options`] say (TLS, a
//!   participant that starts down, the tests' or the deployed retry settings). [`Participants`]
//!   is the same mesh without the orchestrator, for a test that runs the orchestrator elsewhere.
//! - [`seed`]: what the sagas need to exist first (policy `pto` and its assignments, reviews
//!   waiting for the manager) and the saga inputs the tests start.
//! - [`read`]: what the sagas did, read back from each service, and the assertions on it.
//! - [`events`]: what the services publish, listed by EventService and caught up with by a
//!   broker consumer.
//! - [`process`]: the `hrmesh` binary as a child process (its command and what it logs).
//!
//! Only ever a dev-dependency: it starts servers on loopback with test keys.

pub mod events;
pub mod mesh;
pub mod process;
pub mod read;
pub mod seed;

pub use mesh::{Clients, Mesh, Options, PKI_NAMES, Participants, Profile, fast_resilience};
pub use read::{audit_trail, audit_trail_over, kinds, reason_of, statuses};
pub use seed::{Cohort, complete_review, sections, time_off};

/// Loopback on a port the OS picks when the server binds it.
pub fn localhost_zero() -> std::net::SocketAddr {
    "127.0.0.1:0".parse().expect("addr")
}

/// A plain HTTP/1.1 GET of `path` from `authority` (`host:port`), as a browser's first request
/// for a page would go: the status line, the head's lines (names in lower case) and the body.
pub fn http_get(authority: &str, path: &str) -> (String, Vec<String>, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(authority).expect("connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nhost: {authority}\r\nconnection: close\r\n\r\n"
    )
    .expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    let mut lines = head.lines();
    let status = lines.next().unwrap_or_default().to_owned();
    let headers = lines.map(str::to_lowercase).collect();
    (status, headers, body.to_owned())
}

/// A free port for a server that starts later in the test (a participant that "comes back").
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}
