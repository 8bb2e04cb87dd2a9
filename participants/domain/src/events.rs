//! Domain events: what a service tells the outside world happened, written with the effect that
//! caused it (the outbox in `hrmesh-storage`) and published as integration events
//! (`proto/hrmesh/events/v1`). Each core lists its own events; this trait is what the outbox needs
//! to know of them besides their encoding.

/// One event a core emits.
pub trait DomainEvent: Send + Sync {
    /// The catalogued type, e.g. "hrmesh.ledger.time_off.approved.v1".
    fn event_type(&self) -> &'static str;
    /// The employee the event is about (the CloudEvents `subject`).
    fn subject(&self) -> &str;
    /// The record it concerns (a hold, review, saga …): events of one aggregate are published in
    /// the order they were written.
    fn aggregate(&self) -> String;
}
