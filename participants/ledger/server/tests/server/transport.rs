//! Beyond plain gRPC: health, reflection and gRPC-Web for browsers.

use hrmesh_mesh::testing::Backend;
use hrmesh_proto::ledger::*;

use crate::Harness;

async fn health_and_reflection_answer(backend: Backend) {
    let h = Harness::start(backend).await;
    let channel = tonic::transport::Channel::from_shared(h.server.server.uri())
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    for service in ["", "hrmesh.ledger.v1.LedgerService"] {
        let reply = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("health")
            .into_inner();
        assert_eq!(
            reply.status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32,
            "{service:?}"
        );
    }

    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    // Health is open to probes; reflection needs a valid token.
    let mut reflection =
        ServerReflectionClient::new(hrmesh_mesh::testing::admin_channel(&h.server.server.uri()));
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut replies = reflection
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .expect("reflection")
        .into_inner();
    let reply = replies.message().await.expect("reply").expect("a message");
    let Some(MessageResponse::ListServicesResponse(list)) = reply.message_response else {
        panic!("unexpected reply {reply:?}")
    };
    let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&"hrmesh.ledger.v1.LedgerService".to_owned()),
        "{names:?}"
    );
    assert!(
        names.contains(&"grpc.health.v1.Health".to_owned()),
        "{names:?}"
    );
    // Looking at the schema changes nothing: reflection is not in the audit trail.
    let trail = h
        .client
        .clone()
        .list_audit_events(hrmesh_proto::common::ListAuditEventsRequest {
            page_size: 500,
            ..Default::default()
        })
        .await
        .expect("audit trail")
        .into_inner()
        .events;
    assert!(
        trail
            .iter()
            .all(|event| !event.method.contains("ServerReflection")),
        "{trail:?}"
    );
}

async fn browsers_reach_the_ledger_over_grpc_web(backend: Backend) {
    use std::io::{Read, Write};
    let mut h = Harness::with_pto(backend).await;
    let addr = h.server.addr();
    let body = prost::Message::encode_to_vec(&GetPolicyRequest {
        policy_id: "pto-standard".into(),
    });
    let bearer = hrmesh_mesh::testing::admin_token()
        .bearer()
        .expect("a token");
    let reply = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).expect("connect");
        let mut frame = vec![0u8];
        frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
        frame.extend_from_slice(&body);
        let head = format!(
            "POST /hrmesh.ledger.v1.LedgerService/GetPolicy HTTP/1.1\r\nHost: {addr}\r\nOrigin: https://hr.example.test\r\nContent-Type: application/grpc-web+proto\r\nX-Grpc-Web: 1\r\nAuthorization: {bearer}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            frame.len()
        );
        stream.write_all(head.as_bytes()).expect("write head");
        stream.write_all(&frame).expect("write body");
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).expect("read");
        reply
    })
    .await
    .expect("blocking task");
    let text = String::from_utf8_lossy(&reply);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.to_ascii_lowercase()
            .contains("access-control-allow-origin: https://hr.example.test"),
        "{text}"
    );
    assert!(
        text.contains("pto-standard"),
        "the Policy message is in the data frame: {text}"
    );
    assert!(
        text.contains("grpc-status:0"),
        "the trailer frame reports OK: {text}"
    );
    let _ = h
        .client
        .get_policy(GetPolicyRequest {
            policy_id: "pto-standard".into(),
        })
        .await
        .expect("plain gRPC still works");
}

hrmesh_mesh::test_on_every_backend!(
    health_and_reflection_answer,
    browsers_reach_the_ledger_over_grpc_web,
);
