//! The ListAuditEvents RPC over a service's audit trail ([`hrmesh_storage::audit`]).

/// The ListAuditEvents RPC every service serves (its admin permission is checked by the mesh
/// layer): the page after `page_token`, newest first.
pub async fn list_rpc(
    log: &hrmesh_storage::audit::AuditLog,
    request: tonic::Request<hrmesh_proto::common::ListAuditEventsRequest>,
) -> Result<tonic::Response<hrmesh_proto::common::ListAuditEventsResponse>, tonic::Status> {
    use hrmesh_proto::common as pb;
    let request = request.into_inner();
    let mut violations = hrmesh_domain::Violations::default();
    let page_size = match request.page_size {
        0 => 50,
        size @ 1..=500 => size,
        _ => {
            violations.add("page_size", "must be between 1 and 500 (0 means 50)");
            0
        }
    };
    let before_seq = if request.page_token.is_empty() {
        None
    } else {
        match request.page_token.parse::<i64>() {
            Ok(seq) => Some(seq),
            Err(_) => {
                violations.add("page_token", "is not a token this service issued");
                None
            }
        }
    };
    if !violations.is_empty() {
        return Err(crate::status::invalid_argument(&violations.into_vec()));
    }
    let query = hrmesh_storage::audit::AuditQuery {
        subject: Some(request.subject).filter(|subject| !subject.is_empty()),
        method: Some(request.method).filter(|method| !method.is_empty()),
        before_seq,
        limit: <u64 as TryFrom<i32>>::try_from(page_size).unwrap_or(50),
    };
    let events = log
        .list(&query)
        .await
        .map_err(|err| crate::status::internal(&format!("listing audit events: {err:#}")))?;
    let next_page_token = match events.last() {
        Some((seq, _)) if events.len() as u64 == query.limit => seq.to_string(),
        _ => String::new(),
    };
    Ok(tonic::Response::new(pb::ListAuditEventsResponse {
        events: events
            .into_iter()
            .map(|(seq, event)| pb::AuditEvent {
                seq,
                time: Some(prost_types::Timestamp {
                    seconds: event.at.timestamp(),
                    nanos: <i32 as TryFrom<u32>>::try_from(event.at.timestamp_subsec_nanos())
                        .unwrap_or(0),
                }),
                service: event.service,
                method: event.method,
                subject: event.subject,
                actor_type: event.actor,
                client_address: event.client_addr.unwrap_or_default(),
                forwarded_for: event.forwarded_for.unwrap_or_default(),
                request_id: event.request_id,
                trace_id: event.trace_id.unwrap_or_default(),
                outcome: event.outcome.unwrap_or_default(),
                on_behalf_of: event.on_behalf_of.unwrap_or_default(),
            })
            .collect(),
        next_page_token,
    }))
}
