//! The standard gRPC health service.

use hrmesh_mesh::testing::Backend;

use crate::Harness;

async fn health_reports_the_service_serving(backend: Backend) {
    let h = Harness::start(backend).await;
    let channel = tonic::transport::Channel::from_shared(h.server.server.uri())
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let serving = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "hrmesh.performance.v1.PerformanceService".into(),
        })
        .await
        .expect("health")
        .into_inner();
    assert_eq!(
        serving.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    h.server.stop().await.expect("stop");
}

hrmesh_mesh::test_on_every_backend!(health_reports_the_service_serving);
