//! Feedback and requests for it; an anonymous giver is never revealed.

use hrmesh_mesh::testing::Backend;
use hrmesh_proto::performance::*;
use prost::Message;
use tonic::Code;

use crate::{Client, Harness, feedback_request, reason_of};

async fn anonymous_givers_are_never_revealed(backend: Backend) {
    let mut h = Harness::start(backend).await;
    let review = h.create_review("review", "2026-01-01").await;
    let asked = h
        .client
        .request_feedback(RequestFeedbackRequest {
            request_id: "ask-1".into(),
            employee_id: "e-1".into(),
            giver_id: "secret-peer".into(),
            relationship: FeedbackRelationship::Peer as i32,
            review_id: review.review_id.clone(),
            anonymous: true,
            due_date: "2026-03-20".into(),
        })
        .await
        .expect("request feedback")
        .into_inner();
    assert_eq!(asked.status, FeedbackRequestStatus::Open as i32);
    // The giver sees what they were asked for.
    let inbox = h
        .client
        .list_feedback_requests(ListFeedbackRequestsRequest {
            giver_id: "secret-peer".into(),
            ..Default::default()
        })
        .await
        .expect("giver's requests")
        .into_inner();
    assert_eq!(inbox.feedback_requests, vec![asked.clone()]);

    // Another giver cannot answer it.
    let mismatch = h
        .client
        .give_feedback(GiveFeedbackRequest {
            feedback_request_id: asked.feedback_request_id.clone(),
            ..feedback_request("answer-wrong", "someone-else", false)
        })
        .await
        .expect_err("someone else answers");
    let (code, reason, _) = reason_of(&mismatch);
    assert_eq!(code, Code::FailedPrecondition);
    assert_eq!(reason, "FEEDBACK_REQUEST_MISMATCH");

    let answer = GiveFeedbackRequest {
        feedback_request_id: asked.feedback_request_id.clone(),
        rating: Rating::ExceedsExpectations as i32,
        ..feedback_request("answer-1", "secret-peer", false)
    };
    let given = h
        .client
        .give_feedback(answer.clone())
        .await
        .expect("answer")
        .into_inner();
    assert!(given.anonymous, "the request's anonymity applies");
    assert_eq!(given.giver_id, "");
    assert_eq!(
        given.review_id, review.review_id,
        "the request's review applies"
    );
    let replayed = h
        .client
        .give_feedback(answer)
        .await
        .expect("replay")
        .into_inner();
    assert_eq!(replayed.giver_id, "");

    // Feedback in the open, and outside any review cycle.
    let open = h
        .client
        .give_feedback(feedback_request("open-1", "known-peer", false))
        .await
        .expect("named feedback")
        .into_inner();
    assert_eq!(open.giver_id, "known-peer");
    assert_eq!(open.review_id, "");

    let listed = h
        .client
        .list_feedback(ListFeedbackRequest {
            employee_id: "e-1".into(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.feedback.len(), 2);
    let encoded = listed.encode_to_vec();
    assert!(
        !encoded
            .windows(b"secret-peer".len())
            .any(|w| w == b"secret-peer"),
        "the anonymous giver appears nowhere in the answer"
    );
    assert!(
        !encoded
            .windows(asked.feedback_request_id.len())
            .any(|w| w == asked.feedback_request_id.as_bytes()),
        "nor does the request that names them"
    );
    let of_review = h
        .client
        .list_feedback(ListFeedbackRequest {
            employee_id: "e-1".into(),
            review_id: review.review_id.clone(),
            ..Default::default()
        })
        .await
        .expect("list by review")
        .into_inner();
    assert_eq!(of_review.feedback.len(), 1);
    assert_eq!(of_review.feedback[0].giver_id, "");

    let answered = h
        .client
        .list_feedback_requests(ListFeedbackRequestsRequest {
            giver_id: "secret-peer".into(),
            status: FeedbackRequestStatus::Given as i32,
            ..Default::default()
        })
        .await
        .expect("given requests")
        .into_inner();
    assert_eq!(answered.feedback_requests.len(), 1);
}

/// The milliseconds since the epoch a UUIDv7 carries.
fn uuid_millis(id: &str) -> i64 {
    let hex: String = id.chars().filter(|c| *c != '-').take(12).collect();
    i64::from_str_radix(&hex, 16).expect("a UUIDv7")
}

async fn anonymous_feedback_leaves_no_trail_to_its_giver(backend: Backend) {
    use hrmesh_mesh::auth::ActorType;
    use hrmesh_mesh::testing::{channel_as, claims};
    use hrmesh_proto::events::event_service_client::EventServiceClient;

    let mut h = Harness::start(backend).await;
    // An instant that alone would single the giver out. The outbox prunes by the wall clock,
    // so the service's clock is moved to it.
    use hrmesh_domain::Clock;
    let now = chrono::Utc::now();
    h.clock.advance(now - h.clock.now());
    let day_start = now.date_naive().and_time(chrono::NaiveTime::MIN).and_utc();
    let url = h.server.server.uri();
    let as_giver = |giver: &str| {
        Client::new(channel_as(
            &url,
            &claims(giver, ActorType::Employee, &["performance.feedback"]),
        ))
    };
    // A client may well choose request ids that name its user.
    let anonymous = feedback_request("secret-peer-feedback-1", "secret-peer", true);
    let given = as_giver("secret-peer")
        .give_feedback(anonymous.clone())
        .await
        .expect("anonymous feedback")
        .into_inner();
    let replayed = as_giver("secret-peer")
        .give_feedback(anonymous)
        .await
        .expect("its replay")
        .into_inner();
    assert_eq!(replayed, given);
    let named = as_giver("known-peer")
        .give_feedback(feedback_request(
            "known-peer-feedback-1",
            "known-peer",
            false,
        ))
        .await
        .expect("named feedback")
        .into_inner();

    // Everything an admin can read about it.
    let listed = h
        .client
        .list_feedback(ListFeedbackRequest {
            employee_id: "e-1".into(),
            ..Default::default()
        })
        .await
        .expect("feedback")
        .into_inner();
    let trail = h
        .client
        .list_audit_events(hrmesh_proto::common::ListAuditEventsRequest::default())
        .await
        .expect("audit trail")
        .into_inner();
    // Both entries' events, as a watcher sees them (PostgreSQL numbers events after the commit).
    let mut watch = EventServiceClient::new(hrmesh_mesh::testing::admin_channel(&url))
        .watch_events(hrmesh_proto::events::WatchEventsRequest::default())
        .await
        .expect("integration events")
        .into_inner();
    let mut seen = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while seen
            .iter()
            .filter(|e: &&hrmesh_proto::events::Event| {
                e.r#type == "hrmesh.performance.feedback.given.v1"
            })
            .count()
            < 2
        {
            let event = watch
                .message()
                .await
                .expect("the stream")
                .expect("an event");
            seen.push(event);
        }
    })
    .await
    .expect("both feedback events arrive");
    let events = hrmesh_proto::events::ListEventsResponse {
        events: seen,
        next_position: 0,
    };
    let mut everything = Vec::new();
    given.encode(&mut everything).expect("encode");
    replayed.encode(&mut everything).expect("encode");
    listed.encode(&mut everything).expect("encode");
    trail.encode(&mut everything).expect("encode");
    events.encode(&mut everything).expect("encode");
    assert!(
        !everything
            .windows(b"secret-peer".len())
            .any(|w| w == b"secret-peer"),
        "the giver, or a request id naming them, appears in an answer or the trail"
    );

    // The entry, its event and its calls are dated to the day, and their ids no finer.
    assert_eq!(
        given.create_time.as_ref().map(|t| t.seconds),
        Some(day_start.timestamp())
    );
    assert_eq!(
        uuid_millis(&given.feedback_id),
        day_start.timestamp_millis()
    );
    let given_event = events
        .events
        .iter()
        .find(|event| {
            event.r#type == "hrmesh.performance.feedback.given.v1"
                && event.data.as_ref().is_some_and(|data| {
                    data.value
                        .windows(given.feedback_id.len())
                        .any(|w| w == given.feedback_id.as_bytes())
                })
        })
        .unwrap_or_else(|| panic!("the feedback's event: {events:?}"));
    assert_eq!(
        given_event.time.as_ref().map(|t| (t.seconds, t.nanos)),
        Some((day_start.timestamp(), 0))
    );
    assert_eq!(uuid_millis(&given_event.id), day_start.timestamp_millis());
    let calls: Vec<_> = trail
        .events
        .iter()
        .filter(|event| event.method.ends_with("/GiveFeedback"))
        .collect();
    assert_eq!(calls.len(), 3, "{calls:?}");
    let pseudonym = format!("anonymous-feedback/{}", given.feedback_id);
    for call in calls.iter().filter(|call| call.subject != "known-peer") {
        assert_eq!(call.subject, pseudonym, "{call:?}");
        assert_eq!(call.request_id, pseudonym, "{call:?}");
        assert_eq!(call.outcome, "OK", "{call:?}");
        assert_eq!(call.actor_type, "employee");
        assert!(
            call.client_address.is_empty()
                && call.forwarded_for.is_empty()
                && call.trace_id.is_empty(),
            "{call:?}"
        );
        assert_eq!(
            call.time.as_ref().map(|t| (t.seconds, t.nanos)),
            Some((day_start.timestamp(), 0))
        );
    }
    // Named feedback keeps its full trail.
    let known: Vec<_> = calls
        .iter()
        .filter(|call| call.subject == "known-peer")
        .collect();
    assert_eq!(known.len(), 1, "{calls:?}");
    assert!(!known[0].request_id.is_empty(), "{known:?}");
    assert!(!known[0].client_address.is_empty(), "{known:?}");
    assert_eq!(named.giver_id, "known-peer");
    assert!(uuid_millis(&named.feedback_id) > day_start.timestamp_millis());
}

hrmesh_mesh::test_on_every_backend!(
    anonymous_givers_are_never_revealed,
    anonymous_feedback_leaves_no_trail_to_its_giver,
);
