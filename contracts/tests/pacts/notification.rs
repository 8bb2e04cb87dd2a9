//! The contract with notification: one interaction per template the sagas send, verified against
//! the real server on each of its stores.

use hrmesh_contracts::verify::{Provider, Started, verify};
use hrmesh_mesh::testing::{Backend, TestDatabase};
use hrmesh_notification_server::{NotificationConfig, NotificationServer};
use hrmesh_saga_core::Direction::Forward;
use pact_consumer::prelude::*;
use pact_models::v4::sync_message::SynchronousMessage;

use crate::consumer::*;
use hrmesh_saga_core::StepOutput;
use hrmesh_saga_core::command::PipOutcome;

pub const PROVIDER: &str = "hrmesh-notification";
const SERVICE: &str = "hrmesh.notification.v1.NotificationService";

/// A `Send` of `template` to `recipient` with exactly the payload keys in `payload`.
fn send(
    c: &mut Contract,
    description: &str,
    step: usize,
    recipient: (&str, &str),
    template: &str,
    payload: &[(&str, &str)],
    drive: Drive,
) {
    let payload = JsonPattern::Object(
        payload
            .iter()
            .map(|(key, value)| ((*key).to_owned(), like!(*value).into()))
            .collect(),
    );
    c.interaction(
        description,
        &[],
        "Send",
        json_pattern!({
            "requestId": key_pattern(step, "do"),
            "recipient": {"recipientId": like!(recipient.0), "kind": recipient.1},
            "template": template,
            "payload": payload,
            "channels": ["CHANNEL_IN_APP"],
            "priority": "PRIORITY_NORMAL",
            "correlationId": like!(SAGA),
        }),
        Reply::Ok(json_pattern!({
            "notificationId": term!(UUID, NOTIFICATION),
            "template": template,
        })),
        drive,
    );
}

const SENT: Expect = Expect::Done(&[("notification_id", NOTIFICATION)]);

pub fn contract() -> Contract {
    let mut c = Contract::new(PROVIDER, SERVICE);
    let reviewed = [("manager_id", "e-2"), ("cycle", "annual")];
    send(
        &mut c,
        "tell an employee their review is complete",
        3,
        ("e-1", "RECIPIENT_KIND_EMPLOYEE"),
        "review.completed",
        &[("cycle", "annual"), ("rating", "outstanding")],
        Drive::new(complete_review(), 3, Forward, SENT).after(0, &reviewed),
    );
    send(
        &mut c,
        "tell a manager the review of their report is complete",
        4,
        ("e-2", "RECIPIENT_KIND_MANAGER"),
        "review.completed_for_manager",
        &[
            ("cycle", "annual"),
            ("rating", "outstanding"),
            ("employee_name", "e-1"),
        ],
        Drive::new(complete_review(), 4, Forward, SENT).after(0, &reviewed),
    );
    send(
        &mut c,
        "ask a manager to decide a time-off request",
        1,
        ("e-2", "RECIPIENT_KIND_MANAGER"),
        "time_off.requested",
        &[
            ("employee_name", "e-1"),
            ("days", "3"),
            ("start_date", "2026-12-14"),
            ("end_date", "2026-12-16"),
        ],
        Drive::new(request_time_off(), 1, Forward, SENT)
            .after(0, &[("hold_id", HOLD), ("total", "3")]),
    );
    send(
        &mut c,
        "tell an employee their time off was decided",
        1,
        ("e-1", "RECIPIENT_KIND_EMPLOYEE"),
        "time_off.decided",
        &[
            ("decision", "approved"),
            ("start_date", "2026-12-14"),
            ("end_date", "2026-12-16"),
        ],
        Drive::new(decide_time_off(true), 1, Forward, SENT).after(
            0,
            &[("start_date", "2026-12-14"), ("end_date", "2026-12-16")],
        ),
    );
    send(
        &mut c,
        "tell an employee a PIP was opened",
        2,
        ("e-1", "RECIPIENT_KIND_EMPLOYEE"),
        "pip.initiated",
        &[
            ("start_date", "2026-12-01"),
            ("end_date", "2027-02-26"),
            ("first_check_in", "2026-12-15"),
        ],
        Drive::new(initiate_pip(), 2, Forward, SENT)
            .after(0, &[("pip_id", PIP), ("first_check_in", "2026-12-15")]),
    );
    send(
        &mut c,
        "tell HR an employee was offboarded",
        5,
        ("e-9", "RECIPIENT_KIND_HR"),
        "employee.offboarded",
        &[
            ("employee_name", "e-1"),
            ("last_day", "2026-12-31"),
            ("settlement", "pto: 10 day(s) paid out"),
        ],
        Drive::new(offboard_employee(), 5, Forward, SENT).with(3, settled_pto()),
    );
    send(
        &mut c,
        "tell a manager a PIP was concluded",
        3,
        ("e-2", "RECIPIENT_KIND_MANAGER"),
        "pip.concluded",
        &[
            ("employee_name", "e-1"),
            ("outcome", "successful"),
            ("end_date", "2027-02-26"),
        ],
        Drive::new(conclude_pip(false), 3, Forward, SENT).with(
            0,
            StepOutput::PipConcluded {
                manager_id: "e-2".into(),
                outcome: PipOutcome::Successful,
                end_date: chrono::NaiveDate::from_ymd_opt(2027, 2, 26),
            },
        ),
    );
    send(
        &mut c,
        "welcome a new employee",
        4,
        ("e-7", "RECIPIENT_KIND_EMPLOYEE"),
        "employee.onboarded",
        &[("employee_name", "e-7"), ("review_date", "2027-03-01")],
        Drive::new(onboard_employee(), 4, Forward, SENT),
    );
    c.erase_personal_data(2);
    c
}

// ---- provider

/// Where the real notification server keeps its notifications.
#[derive(Debug, Clone, Copy)]
pub enum Store {
    Sql(Backend),
    /// The MongoDB wire server the test command starts.
    Mongo,
}

pub struct RealNotification {
    pub store: Store,
}

impl Provider for RealNotification {
    type Running = (NotificationServer, Option<TestDatabase>);

    async fn start(
        &self,
        interaction: &SynchronousMessage,
    ) -> anyhow::Result<Started<Self::Running>> {
        if let Some(state) = interaction.provider_states.first() {
            anyhow::bail!(
                "notification has no set-up for the provider state \"{}\"",
                state.name
            );
        }
        let mut config = NotificationConfig::default();
        config.common.listen = ([127, 0, 0, 1], 0).into();
        hrmesh_mesh::testing::secure(&mut config.common);
        config.worker_enabled = false;
        let db = match self.store {
            Store::Sql(backend) => {
                let db = TestDatabase::new(backend).await;
                config.common.database_url = Some(db.url.clone());
                Some(db)
            }
            Store::Mongo => {
                config.mongodb_url = Some(std::env::var("HRMESH_TEST_MONGODB_URL").expect(
                    "HRMESH_TEST_MONGODB_URL is not set: run the tests with `bash .ci/run`, \
                     which starts a MongoDB wire server",
                ));
                config.mongodb_database = format!("pact_{}", uuid::Uuid::now_v7().simple());
                None
            }
        };
        let server = NotificationServer::start(&config).await?;
        let channel = crate::connect(&server.server.uri()).await?;
        Ok(Started {
            running: (server, db),
            channel,
            values: Default::default(),
        })
    }

    async fn stop(&self, (server, _db): Self::Running) -> anyhow::Result<()> {
        server.stop().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer() {
    let exercised = contract().run().await;
    crate::assert_every_command_exercised(PROVIDER, &exercised);
}

async fn provider(backend: Backend) {
    run_provider(Store::Sql(backend)).await;
}

hrmesh_mesh::test_on_every_backend!(provider);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_on_mongodb() {
    run_provider(Store::Mongo).await;
}

async fn run_provider(store: Store) {
    let report = verify(&pact_path(PROVIDER), &RealNotification { store })
        .await
        .expect("verification ran");
    println!("{report}");
    assert!(report.passed(), "{report}");
}
