//! Integration events on a real RabbitMQ (the test command's): every catalogued type published
//! by the mesh's own relays in a valid CloudEvents envelope, each event once, none for an effect
//! that was refused; the consumer's ids are exactly what the services' EventService lists.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{TimeZone, Utc};
use hrmesh_domain::ManualClock;
use hrmesh_ledger_server::{LedgerConfig, LedgerServer};
use hrmesh_ledger_store::SeaLedgerStore;
use hrmesh_mesh::events::EventsConfig;
use hrmesh_mesh::testing::TestDatabase;
use hrmesh_mesh::testing::broker::{self, Broker, Consumer, Received};
use hrmesh_proto::events as epb;
use hrmesh_proto::events::event_service_client::EventServiceClient;
use hrmesh_testkit::events::{assert_arrived_in_commit_order, listed, until_received_as_listed};
use hrmesh_testkit::seed;
use prost::Message;

use super::*;

/// Events to `url` on an exchange of this test's own (tests share the broker).
fn events_to(url: &str, test: &str) -> EventsConfig {
    EventsConfig {
        amqp_url: Some(url.to_owned()),
        exchange: format!("hrmesh.test.{test}.{}", uuid::Uuid::now_v7()),
        ..EventsConfig::default()
    }
}

async fn listed_ids(urls: &[String]) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for url in urls {
        ids.extend(listed(url).await.into_iter().map(|event| event.id));
    }
    ids
}

/// The data of `name` decoded, as its Debug text.
fn decode(name: &str, body: &[u8]) -> Result<String, String> {
    macro_rules! by_name {
        ($($message:ident),* $(,)?) => {
            $(
                if name == <epb::$message as prost::Name>::full_name() {
                    return epb::$message::decode(body)
                        .map(|data| format!("{data:?}"))
                        .map_err(|err| err.to_string());
                }
            )*
        };
    }
    by_name!(
        ReviewCreated,
        ReviewSubmitted,
        ReviewCompleted,
        ReviewAcknowledged,
        GoalCompleted,
        PipInitiated,
        PipCheckedIn,
        PipConcluded,
        FeedbackGiven,
        TimeOffRequested,
        TimeOffApproved,
        TimeOffRejected,
        TimeOffCancelled,
        TimeOffExpired,
        AccrualPosted,
        BalanceSettled,
        NotificationDelivered,
        NotificationDeadLettered,
        SagaCompleted,
        SagaCompensated,
        SagaStuck,
        EmployeeOnboarded,
        EmployeeOffboarded,
    );
    Err(format!("{name} is not an event message"))
}

/// What is wrong with `received`'s envelope, if anything.
fn envelope_faults(received: &Received) -> Vec<String> {
    let mut faults = Vec::new();
    let attribute = |name: &str| received.attributes.get(name).cloned().unwrap_or_default();
    let event_type = attribute("type");
    let Some(message) = epb::CATALOGUE
        .iter()
        .find(|(catalogued, _)| *catalogued == event_type)
        .map(|(_, message)| *message)
    else {
        return vec![format!("type {event_type:?} is not catalogued")];
    };
    if received.routing_key != event_type {
        faults.push(format!("routing key {:?}", received.routing_key));
    }
    if attribute("specversion") != "1.0" {
        faults.push("specversion".into());
    }
    let id = attribute("id");
    if uuid::Uuid::parse_str(&id).is_err() || received.message_id.as_deref() != Some(id.as_str()) {
        faults.push(format!("id {id:?} / message_id {:?}", received.message_id));
    }
    let service = event_type.split('.').nth(1).unwrap_or_default();
    if attribute("source") != format!("/hrmesh/{service}") {
        faults.push(format!("source {:?}", attribute("source")));
    }
    if chrono::DateTime::parse_from_rfc3339(&attribute("time")).is_err() {
        faults.push(format!("time {:?}", attribute("time")));
    }
    if attribute("datacontenttype") != "application/protobuf"
        || received.content_type.as_deref() != Some("application/protobuf")
    {
        faults.push("datacontenttype".into());
    }
    if attribute("dataschema") != format!("proto:{message}") {
        faults.push(format!("dataschema {:?}", attribute("dataschema")));
    }
    if !received.persistent {
        faults.push("not persistent".into());
    }
    let subject = attribute("subject");
    match decode(message, &received.body) {
        // The subject is the employee the data names.
        Ok(data) if subject.is_empty() || !data.contains(&format!("\"{subject}\"")) => {
            faults.push(format!("subject {subject:?} is not in {data}"));
        }
        Ok(_) => {}
        Err(err) => faults.push(format!("data does not decode as {message}: {err}")),
    }
    faults
}

fn count_of(consumer: &Consumer, event_type: &str) -> usize {
    consumer
        .events
        .iter()
        .filter(|event| event.routing_key == event_type)
        .count()
}

fn data_of<M: Message + Default>(consumer: &Consumer, event_type: &str) -> Vec<M> {
    consumer
        .events
        .iter()
        .filter(|event| event.routing_key == event_type)
        .map(|event| M::decode(event.body.as_slice()).expect("decodes"))
        .collect()
}

/// A ledger of its own on a manual clock, publishing to `events`: holds expire when the test
/// moves the clock.
async fn ledger_on_a_clock(
    events: &EventsConfig,
    db: &TestDatabase,
) -> (LedgerServer, ManualClock) {
    let clock = ManualClock::new(
        Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0)
            .single()
            .expect("time"),
    );
    let mut config = LedgerConfig {
        accrual_run_interval_secs: 0,
        hold_sweep_interval_secs: 1,
        ..LedgerConfig::default()
    };
    testing::secure(&mut config.common);
    config.common.listen = localhost_zero();
    config.common.events = events.clone();
    let store = SeaLedgerStore::open(
        &db.url,
        hrmesh_ledger_server::events::encode,
        hrmesh_mesh::testing::keyring(),
    )
    .await
    .expect("store");
    let ledger = LedgerServer::start_with(store, clock.clone(), &config)
        .await
        .expect("ledger");
    (ledger, clock)
}

async fn hold_days(
    ledger: &mut LedgerServiceClient<MeshChannel>,
    request_id: &str,
    employee: &str,
    start: &str,
    end: &str,
) -> Result<lpb::Hold, Status> {
    ledger
        .hold_days(lpb::HoldDaysRequest {
            request_id: request_id.into(),
            employee_id: employee.into(),
            policy_id: "pto".into(),
            dates: Some(DateRange {
                start_date: start.into(),
                end_date: end.into(),
            }),
            ..Default::default()
        })
        .await
        .map(tonic::Response::into_inner)
}

fn decide(employee: &str, hold_id: &str, approve: bool) -> Input {
    Input::DecideTimeOff(DecideTimeOffInput {
        employee_id: employee.into(),
        hold_id: hold_id.into(),
        approve,
        reason: String::new(),
    })
}

async fn every_event_type_is_published_once_in_a_valid_envelope() {
    let url = broker::shared_url();
    let events = events_to(&url, "journey");
    let mut consumer = Consumer::bind(&url, &events.exchange, &format!("{}.all", events.exchange))
        .await
        .expect("consumer");
    let mut mesh = Mesh::start_tuned(
        Backend::Sqlite,
        Options {
            events: events.clone(),
            ..Options::default()
        },
        |config| {
            // A step after the pivot that cannot reach its participant is stuck after three
            // rounds; no breaker, so the operator's retry goes straight through.
            config.after_pivot_rounds = 3;
            config.resilience.breaker_min_calls = 1_000;
        },
    )
    .await;
    // Performance: a review created, finalized (submitted) and completed by the saga, then
    // acknowledged; a goal completed; feedback given, once in the open and once anonymously.
    mesh.pto("e-1", "10").await;
    mesh.pto("e-2", "10").await;
    let review_id = mesh.review_in_manager_review("e-1").await;
    let completed = mesh
        .run_saga(
            "complete-e-1",
            complete_review(&review_id, "e-1", ppb::Rating::Outstanding, "pto"),
        )
        .await
        .expect("complete-review");
    assert_eq!(
        completed.state,
        SagaState::Completed as i32,
        "{completed:?}"
    );
    mesh.performance
        .acknowledge_review(ppb::AcknowledgeReviewRequest {
            request_id: "ack-e-1".into(),
            review_id: review_id.clone(),
            employee_comment: "Thanks".into(),
        })
        .await
        .expect("acknowledge");
    let goal = mesh
        .performance
        .create_goal(ppb::CreateGoalRequest {
            request_id: "goal-e-1".into(),
            employee_id: "e-1".into(),
            title: "Ship the migration".into(),
            target_date: "2026-12-31".into(),
            weight: 50,
            ..Default::default()
        })
        .await
        .expect("goal")
        .into_inner();
    for (n, percent) in [40, 100].into_iter().enumerate() {
        mesh.performance
            .update_goal_progress(ppb::UpdateGoalProgressRequest {
                request_id: format!("progress-{n}"),
                goal_id: goal.goal_id.clone(),
                percent,
                note: String::new(),
            })
            .await
            .expect("progress");
    }
    for (request_id, giver, anonymous) in [("open", "e-7", false), ("anon", "secret-peer", true)] {
        mesh.performance
            .give_feedback(ppb::GiveFeedbackRequest {
                request_id: format!("feedback-{request_id}"),
                employee_id: "e-1".into(),
                giver_id: giver.into(),
                relationship: ppb::FeedbackRelationship::Peer as i32,
                anonymous,
                rating: ppb::Rating::ExceedsExpectations as i32,
                strengths: "Calm under pressure".into(),
                ..Default::default()
            })
            .await
            .expect("feedback");
    }

    // The ledger: time off requested and approved, requested and rejected, held and withdrawn;
    // a request past the balance is refused and compensated, and writes no event.
    let mut holds = Vec::new();
    for (n, (start, end)) in [("2026-08-03", "2026-08-04"), ("2026-08-10", "2026-08-10")]
        .into_iter()
        .enumerate()
    {
        let saga = mesh
            .run_saga(&format!("ask-{n}"), time_off("e-2", "m-1", start, end))
            .await
            .expect("request-time-off");
        assert_eq!(saga.state, SagaState::Completed as i32, "{saga:?}");
        holds.push(saga.steps[0].output["hold_id"].clone());
    }
    for (n, approve) in [true, false].into_iter().enumerate() {
        let saga = mesh
            .run_saga(&format!("decide-{n}"), decide("e-2", &holds[n], approve))
            .await
            .expect("decide-time-off");
        assert_eq!(saga.state, SagaState::Completed as i32, "{saga:?}");
    }
    let too_much = mesh
        .run_saga(
            "ask-too-much",
            time_off("e-2", "m-1", "2026-09-01", "2026-09-30"),
        )
        .await
        .expect("request-time-off");
    assert_eq!(
        too_much.state,
        SagaState::Compensated as i32,
        "{too_much:?}"
    );
    let withdrawn = hold_days(
        &mut mesh.ledger,
        "hold-withdrawn",
        "e-2",
        "2026-10-05",
        "2026-10-05",
    )
    .await
    .expect("hold");
    mesh.ledger
        .void_hold(lpb::VoidHoldRequest {
            request_id: "withdraw".into(),
            hold_id: withdrawn.hold_id.clone(),
            reason: "plans changed".into(),
            employee_id: "e-2".into(),
            rejected: false,
        })
        .await
        .expect("withdraw");

    // The PIP's life: initiated by its saga, checked in, concluded by its saga.
    let today = Utc::now().date_naive();
    let day = |offset: i64| {
        (today + chrono::Duration::days(offset))
            .format("%Y-%m-%d")
            .to_string()
    };
    let pip = mesh
        .run_saga(
            "pip-e-1",
            Input::InitiatePip(InitiatePipInput {
                employee_id: "e-1".into(),
                manager_id: "m-1".into(),
                reason: "Missed deadlines".into(),
                objectives: vec!["Deliver commitments".into()],
                start_date: day(-30),
                end_date: day(60),
                check_in_dates: vec![day(-10)],
                bonus_policy_id: "pto".into(),
            }),
        )
        .await
        .expect("initiate-pip");
    assert_eq!(pip.state, SagaState::Completed as i32, "{pip:?}");
    let pip_id = pip.steps[0].output["pip_id"].clone();
    mesh.performance
        .record_pip_check_in(ppb::RecordPipCheckInRequest {
            request_id: "check-in".into(),
            pip_id: pip_id.clone(),
            check_in_date: day(-10),
            notes: "On track".into(),
            on_track: true,
        })
        .await
        .expect("check in");
    let concluded = mesh
        .run_saga(
            "conclude-e-1",
            Input::ConcludePip(ConcludePipInput {
                pip_id: pip_id.clone(),
                employee_id: "e-1".into(),
                outcome: ppb::PipOutcome::Successful as i32,
                notes: "Reviewed with HR".into(),
                ..Default::default()
            }),
        )
        .await
        .expect("conclude-pip");
    assert_eq!(
        concluded.state,
        SagaState::Completed as i32,
        "{concluded:?}"
    );

    // An employee joins, another leaves (their balance paid out).
    let onboarded = mesh
        .run_saga(
            "onboard-e-3",
            Input::OnboardEmployee(OnboardEmployeeInput {
                employee_id: "e-3".into(),
                manager_id: "m-1".into(),
                policy_id: "pto".into(),
                start_date: "2026-02-10".into(),
                probation_review_due_date: "2026-05-10".into(),
                starter_goals: vec!["Learn the payroll stack".into()],
                ..Default::default()
            }),
        )
        .await
        .expect("onboard");
    assert_eq!(
        onboarded.state,
        SagaState::Completed as i32,
        "{onboarded:?}"
    );
    let offboarded = mesh
        .run_saga(
            "offboard-e-2",
            Input::OffboardEmployee(OffboardEmployeeInput {
                employee_id: "e-2".into(),
                last_day: "2026-12-31".into(),
                settlement: Settlement::Payout as i32,
                hr_recipient_id: "hr-1".into(),
                reason: "resigned".into(),
                ..Default::default()
            }),
        )
        .await
        .expect("offboard");
    assert_eq!(
        offboarded.state,
        SagaState::Completed as i32,
        "{offboarded:?}"
    );

    // The notification service goes away: a saga past its pivot is stuck. It comes back with
    // a webhook nobody answers, retrying once: a webhook notification is dead-lettered; the
    // operator's retry completes the stuck saga.
    mesh.participants
        .notification
        .take()
        .expect("notification is up")
        .stop()
        .await
        .expect("stop notification");
    let second_review = mesh.review_in_manager_review("e-4").await;
    let stuck = mesh
        .run_saga(
            "complete-e-4",
            complete_review(&second_review, "e-4", ppb::Rating::MeetsExpectations, ""),
        )
        .await
        .expect("complete-review");
    assert_eq!(stuck.state, SagaState::Stuck as i32, "{stuck:?}");
    mesh.participants.notification_config.webhook =
        Some(hrmesh_notification_server::WebhookConfig {
            url: format!("http://127.0.0.1:{}/hook", free_port()),
            secret: "development-only".into(),
            timeout_ms: 1_000,
        });
    mesh.participants.notification_config.retry.attempts_max = 1;
    mesh.participants.notification_config.worker_enabled = true;
    mesh.participants.notification_config.worker_poll_ms = 50;
    mesh.bring_notification_up().await;
    mesh.notification_client()
        .send(npb::SendRequest {
            request_id: "hook-1".into(),
            recipient: Some(npb::Recipient {
                recipient_id: "e-1".into(),
                kind: npb::RecipientKind::Employee as i32,
                email: String::new(),
            }),
            template: "time_off.decided".into(),
            payload: [
                ("decision", "approved"),
                ("start_date", "2026-03-09"),
                ("end_date", "2026-03-13"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
            channels: vec![npb::Channel::Webhook as i32],
            ..Default::default()
        })
        .await
        .expect("send on the webhook");
    mesh.saga
        .retry_saga(OperatorRequest {
            saga_id: stuck.saga_id.clone(),
            justification: String::new(),
            request_id: "retry-e-4".into(),
        })
        .await
        .expect("retry");
    let retried = mesh.settled(&stuck.saga_id).await;
    assert_eq!(retried.state, SagaState::Completed as i32, "{retried:?}");

    // A hold nobody decides expires (a ledger of its own, on a clock the test moves).
    let clock_db = TestDatabase::new(Backend::Sqlite).await;
    let (clock_ledger, clock) = ledger_on_a_clock(&events, &clock_db).await;
    let mut clock_client =
        LedgerServiceClient::new(testing::admin_channel(&clock_ledger.server.uri()));
    seed::create_pto(&mut clock_client, "1.75").await;
    seed::assign_pto(&mut clock_client, "e-5", Some("5")).await;
    hold_days(
        &mut clock_client,
        "hold-expiring",
        "e-5",
        "2026-03-09",
        "2026-03-10",
    )
    .await
    .expect("hold");
    clock.advance(chrono::Duration::days(15));

    // The consumer receives exactly what the services list, every catalogued type among it.
    let urls = [
        mesh.participants.ledger_server.server.uri(),
        mesh.participants.performance_url(),
        mesh.participants.notification_url(),
        mesh.orchestrator.server.uri(),
        clock_ledger.server.uri(),
    ];
    let mut expected = listed_ids(&urls).await;
    let all_types: BTreeSet<String> = epb::CATALOGUE
        .iter()
        .map(|(t, _)| (*t).to_owned())
        .collect();
    let types_of = |consumer: &Consumer| -> BTreeSet<String> {
        consumer
            .events
            .iter()
            .map(|e| e.routing_key.clone())
            .collect()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut settled = false;
    while tokio::time::Instant::now() < deadline {
        let arrived = consumer
            .until(Duration::from_millis(500), |c| {
                c.ids() == expected && types_of(c) == all_types
            })
            .await;
        let now = listed_ids(&urls).await;
        if arrived && now == expected {
            settled = true;
            break;
        }
        expected = now;
    }
    let received = consumer.ids();
    let types = types_of(&consumer);
    assert!(
        settled,
        "missing types {:?}; listed but not received {:?}; received but not listed {:?}",
        all_types.difference(&types).collect::<Vec<_>>(),
        expected.difference(&received).collect::<Vec<_>>(),
        received.difference(&expected).collect::<Vec<_>>(),
    );
    assert_eq!(
        consumer.duplicates, 0,
        "no failure, so nothing is published twice"
    );
    let faults: BTreeMap<String, Vec<String>> = consumer
        .events
        .iter()
        .map(|event| (event.routing_key.clone(), envelope_faults(event)))
        .filter(|(_, faults)| !faults.is_empty())
        .collect();
    assert!(faults.is_empty(), "{faults:#?}");

    // What each effect published, and nothing for what was refused.
    assert_eq!(
        count_of(&consumer, "hrmesh.ledger.time_off.requested.v1"),
        4
    );
    assert_eq!(count_of(&consumer, "hrmesh.ledger.time_off.approved.v1"), 1);
    assert_eq!(count_of(&consumer, "hrmesh.ledger.time_off.rejected.v1"), 1);
    assert_eq!(
        count_of(&consumer, "hrmesh.orchestrator.saga.compensated.v1"),
        1
    );
    assert_eq!(count_of(&consumer, "hrmesh.orchestrator.saga.stuck.v1"), 1);
    assert_eq!(count_of(&consumer, "hrmesh.ledger.time_off.expired.v1"), 1);
    assert_eq!(
        count_of(&consumer, "hrmesh.performance.feedback.given.v1"),
        2
    );
    let settledb: Vec<epb::BalanceSettled> = data_of(&consumer, "hrmesh.ledger.balance.settled.v1");
    assert!(
        settledb
            .iter()
            .all(|s| s.employee_id == "e-2" && s.settlement == epb::Settlement::Payout as i32),
        "{settledb:?}"
    );
    // The anonymous giver appears nowhere in what was published.
    let feedback: Vec<epb::FeedbackGiven> =
        data_of(&consumer, "hrmesh.performance.feedback.given.v1");
    assert!(
        feedback.iter().any(|f| f.giver_id == "e-7" && !f.anonymous),
        "{feedback:?}"
    );
    assert!(
        feedback
            .iter()
            .any(|f| f.giver_id.is_empty() && f.anonymous),
        "{feedback:?}"
    );
    let needle = b"secret-peer";
    assert!(
        consumer
            .events
            .iter()
            .all(|e| !e.body.windows(needle.len()).any(|w| w == needle)
                && e.attributes.values().all(|v| !v.contains("secret-peer"))),
        "the anonymous giver was published"
    );
    consumer.close().await;
    clock_ledger.stop().await.expect("stop ledger");
    mesh.stop().await;
}

/// A ledger of its own on `db_url`, publishing as `events` says.
async fn ledger_publishing(db_url: &str, events: &EventsConfig) -> LedgerServer {
    let mut config = LedgerConfig {
        accrual_run_interval_secs: 0,
        ..LedgerConfig::default()
    };
    testing::secure(&mut config.common);
    config.common.listen = localhost_zero();
    config.common.database_url = Some(db_url.to_owned());
    config.common.events = events.clone();
    LedgerServer::start(&config).await.expect("ledger")
}

async fn a_broker_stopped_and_started_mid_stream_loses_and_invents_no_event() {
    let mut broker = Broker::start().await.expect("a broker of this test's own");
    let events = events_to(&broker.url(), "outage");
    let mut consumer = Consumer::bind(&broker.url(), &events.exchange, "outage")
        .await
        .expect("consumer");
    let db = TestDatabase::new(Backend::Sqlite).await;
    let ledger = ledger_publishing(&db.url, &events).await;
    let mut client = LedgerServiceClient::new(testing::admin_channel(&ledger.server.uri()));
    seed::create_pto(&mut client, "1").await;
    for n in 0..4 {
        seed::assign_pto(&mut client, &format!("e-{n}"), None).await;
    }
    // A stream of accruals; the broker stops while the relay publishes the first hundred, the
    // ledger goes on committing, and the broker comes back on the same directory.
    for n in 0..100 {
        seed::accrue(&mut client, &format!("before-{n}"), &format!("e-{}", n % 4)).await;
    }
    broker.stop().await.expect("stop the broker");
    for n in 0..100 {
        seed::accrue(&mut client, &format!("during-{n}"), &format!("e-{}", n % 4)).await;
    }
    broker.restart().await.expect("start the broker again");
    for n in 0..100 {
        seed::accrue(&mut client, &format!("after-{n}"), &format!("e-{}", n % 4)).await;
    }
    let urls = [ledger.server.uri()];
    let listed_events = until_received_as_listed(&mut consumer, &urls, 300).await;
    assert_eq!(
        listed_events.len(),
        300,
        "one event per committed accrual, none invented"
    );
    assert_arrived_in_commit_order(&consumer, &listed_events);
    eprintln!(
        "{} events, {} delivered again after the outage (deduplicated on the id)",
        consumer.events.len(),
        consumer.duplicates
    );
    consumer.close().await;
    ledger.stop().await.expect("stop ledger");
    broker.stop().await.expect("stop the broker");
}

async fn two_relays_on_one_database_publish_each_event_once(backend: Backend) {
    let url = broker::shared_url();
    let events = events_to(&url, "replicas");
    let mut consumer = Consumer::bind(&url, &events.exchange, &format!("{}.all", events.exchange))
        .await
        .expect("consumer");
    let db = TestDatabase::new(backend).await;
    let replicas = [
        ledger_publishing(&db.url, &events).await,
        ledger_publishing(&db.url, &events).await,
    ];
    let mut clients: Vec<_> = replicas
        .iter()
        .map(|replica| LedgerServiceClient::new(testing::admin_channel(&replica.server.uri())))
        .collect();
    seed::create_pto(&mut clients[0], "1").await;
    for n in 0..4 {
        seed::assign_pto(&mut clients[n % 2], &format!("e-{n}"), None).await;
    }
    // Both replicas commit concurrently; both relays run; the lease lets one publish at a time.
    let writers = clients
        .into_iter()
        .enumerate()
        .map(|(replica, mut client)| {
            tokio::spawn(async move {
                for n in 0..100 {
                    seed::accrue(
                        &mut client,
                        &format!("r{replica}-{n}"),
                        &format!("e-{}", (n + replica) % 4),
                    )
                    .await;
                }
            })
        });
    for writer in writers.collect::<Vec<_>>() {
        writer.await.expect("writer");
    }
    let urls = [replicas[0].server.uri()];
    let listed_events = until_received_as_listed(&mut consumer, &urls, 200).await;
    assert_eq!(listed_events.len(), 200);
    assert_eq!(
        listed(&replicas[1].server.uri()).await,
        listed_events,
        "both replicas list the one stream"
    );
    assert_eq!(consumer.duplicates, 0, "no event was published twice");
    assert_arrived_in_commit_order(&consumer, &listed_events);
    consumer.close().await;
    for replica in replicas {
        replica.stop().await.expect("stop ledger");
    }
}

async fn next_event(stream: &mut tonic::Streaming<epb::Event>) -> epb::Event {
    tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("an event within 10 s")
        .expect("the stream goes on")
        .expect("an event")
}

async fn watch_events_resumes_from_its_cursor_and_shows_only_what_the_caller_may_read(
    backend: Backend,
) {
    // No broker: the events stay in the outbox and EventService serves them.
    let mut mesh = Mesh::start(backend).await;
    mesh.pto("e-1", "10").await;
    mesh.pto("e-2", "10").await;
    let url = mesh.participants.ledger_server.server.uri();
    let mut admin = EventServiceClient::new(testing::admin_channel(&url));
    let watch = |after_position: u64, subject: &str| epb::WatchEventsRequest {
        after_position,
        subject: subject.into(),
    };
    let mut stream = admin
        .watch_events(watch(0, ""))
        .await
        .expect("watch")
        .into_inner();
    let (first, second) = (next_event(&mut stream).await, next_event(&mut stream).await);
    assert_eq!(
        [
            (first.position, first.subject.as_str()),
            (second.position, second.subject.as_str())
        ],
        [(1, "e-1"), (2, "e-2")]
    );
    // A new event reaches the watcher as it commits.
    seed::accrue(&mut mesh.ledger, "live", "e-1").await;
    let live = next_event(&mut stream).await;
    assert_eq!(
        (live.position, live.r#type.as_str()),
        (3, "hrmesh.ledger.accrual.posted.v1")
    );
    drop(stream);
    // Two more while nobody watches; resuming from the last position seen gives exactly those.
    seed::accrue(&mut mesh.ledger, "away-1", "e-2").await;
    seed::accrue(&mut mesh.ledger, "away-2", "e-1").await;
    let mut resumed = admin
        .watch_events(watch(live.position, ""))
        .await
        .expect("resume")
        .into_inner();
    let resumed_positions = [
        next_event(&mut resumed).await.position,
        next_event(&mut resumed).await.position,
    ];
    assert_eq!(resumed_positions, [4, 5]);
    drop(resumed);
    let all = listed(&url).await;
    assert_eq!(
        all.iter().map(|e| e.position).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );

    // An employee reads their own events only, and must say so; their manager reads theirs.
    let employee = EventServiceClient::new(testing::channel_as(
        &url,
        &testing::claims("e-1", ActorType::Employee, &["ledger.read"]),
    ));
    let list = |subject: &str| epb::ListEventsRequest {
        subject: subject.into(),
        ..Default::default()
    };
    for subject in ["", "e-2"] {
        let refused = employee
            .clone()
            .list_events(list(subject))
            .await
            .expect_err("another's events");
        assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
        let refused = employee
            .clone()
            .watch_events(watch(0, subject))
            .await
            .expect_err("another's events");
        assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    }
    let own = employee
        .clone()
        .list_events(list("e-1"))
        .await
        .expect("own events")
        .into_inner();
    assert_eq!(
        own.events.iter().map(|e| e.position).collect::<Vec<_>>(),
        vec![1, 3, 5]
    );
    assert_eq!(own.next_position, 5);
    let mut manager_claims = testing::claims("m-1", ActorType::Employee, &["ledger.read"]);
    manager_claims.manages = vec!["e-2".into()];
    let manager = EventServiceClient::new(testing::channel_as(&url, &manager_claims));
    let reports = manager
        .clone()
        .list_events(list("e-2"))
        .await
        .expect("a report's events")
        .into_inner();
    assert_eq!(
        reports
            .events
            .iter()
            .map(|e| e.position)
            .collect::<Vec<_>>(),
        vec![2, 4]
    );
    let unreadable = EventServiceClient::new(testing::channel_as(
        &url,
        &testing::claims("e-1", ActorType::Employee, &["performance.read"]),
    ))
    .list_events(list("e-1"))
    .await
    .expect_err("no ledger.read");
    assert_eq!(unreadable.code(), Code::PermissionDenied, "{unreadable:?}");

    // Bad input names its field.
    for (request, field) in [
        (
            epb::ListEventsRequest {
                page_size: 501,
                ..Default::default()
            },
            "page_size",
        ),
        (
            epb::ListEventsRequest {
                subject: "e 1".into(),
                ..Default::default()
            },
            "subject",
        ),
        (
            epb::ListEventsRequest {
                after_position: u64::MAX,
                ..Default::default()
            },
            "after_position",
        ),
    ] {
        let bad = admin.list_events(request).await.expect_err("bad input");
        assert_eq!(bad.code(), Code::InvalidArgument, "{bad:?}");
        assert_eq!(testing::violated_fields(&bad), vec![field.to_owned()]);
    }
    mesh.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_type_is_published_once_in_a_valid_envelope_on_sqlite() {
    every_event_type_is_published_once_in_a_valid_envelope().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_stopped_and_started_mid_stream_loses_and_invents_no_event_on_sqlite() {
    a_broker_stopped_and_started_mid_stream_loses_and_invents_no_event().await;
}

hrmesh_mesh::test_on_every_backend!(
    two_relays_on_one_database_publish_each_event_once,
    watch_events_resumes_from_its_cursor_and_shows_only_what_the_caller_may_read,
);
