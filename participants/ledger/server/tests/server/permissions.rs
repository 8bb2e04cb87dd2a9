//! Who may act on whose records: services name the employee they act for, end users act only
//! for whom they may, and a request naming another employee leaves the records unchanged.

use hrmesh_mesh::auth::ActorType;
use hrmesh_mesh::client::MeshChannel;
use hrmesh_mesh::testing::{Backend, assert_record_of_another};
use hrmesh_proto::ledger::ledger_service_client::LedgerServiceClient;
use hrmesh_proto::ledger::*;
use tonic::Code;

use crate::{Harness, accrual_request, assign_request, hold_request, reason_of, violated_fields};

/// A ledger client calling with a token of `subject`.
fn client_as(
    h: &Harness,
    subject: &str,
    actor: ActorType,
    permissions: &[&str],
    manages: &[&str],
) -> LedgerServiceClient<MeshChannel> {
    let mut claims = hrmesh_mesh::testing::claims(subject, actor, permissions);
    claims.manages = manages.iter().map(|id| (*id).to_owned()).collect();
    LedgerServiceClient::new(hrmesh_mesh::testing::channel_as(
        &h.server.server.uri(),
        &claims,
    ))
}

const END_USER_PERMISSIONS: &[&str] = &["ledger.create", "ledger.read", "ledger.update"];

/// The orchestrator's identity: a service acts for anyone, so only the expected employee stands
/// between a request and another employee's records.
fn service_client(h: &Harness) -> LedgerServiceClient<MeshChannel> {
    client_as(
        h,
        "hrmesh-orchestrator",
        ActorType::System,
        &[
            "ledger.create",
            "ledger.read",
            "ledger.update",
            "ledger.admin",
        ],
        &[],
    )
}

async fn a_request_naming_another_employee_leaves_their_holds_and_entries_unchanged(
    backend: Backend,
) {
    let mut h = Harness::with_pto(backend).await;
    let mut service = service_client(&h);
    // The records are e-1's; the requests name e-2.
    let hold = h
        .client
        .hold_days(hold_request("hold-1", "2026-03-10", "2026-03-10"))
        .await
        .expect("hold")
        .into_inner();
    let accrual = h
        .client
        .append_entries(accrual_request("accrue-extra", "e-1", "1", "2026-02-28"))
        .await
        .expect("accrue")
        .into_inner()
        .entries
        .remove(0);
    let entries_before = h.entry_count("e-1").await;
    let balance_before = h.balance("").await;
    let post_as = |request_id: &str, employee_id: &str| PostHoldRequest {
        request_id: request_id.into(),
        hold_id: hold.hold_id.clone(),
        employee_id: employee_id.into(),
    };

    let refused = service
        .post_hold(post_as("post-e2", "e-2"))
        .await
        .expect_err("post another employee's hold");
    assert_record_of_another(&refused, "hold", &hold.hold_id, "e-1");
    let refused = service
        .void_hold(VoidHoldRequest {
            request_id: "void-e2".into(),
            hold_id: hold.hold_id.clone(),
            reason: "cancelled".into(),
            employee_id: "e-2".into(),
            rejected: false,
        })
        .await
        .expect_err("void another employee's hold");
    assert_record_of_another(&refused, "hold", &hold.hold_id, "e-1");
    let refused = service
        .reverse_entry(ReverseEntryRequest {
            request_id: "reverse-e2".into(),
            entry_id: accrual.entry_id,
            reason: "mistake".into(),
            employee_id: "e-2".into(),
        })
        .await
        .expect_err("reverse another employee's entry");
    assert_record_of_another(&refused, "entry", &accrual.entry_id.to_string(), "e-1");

    let unchanged = h
        .client
        .get_hold(GetHoldRequest {
            hold_id: hold.hold_id.clone(),
        })
        .await
        .expect("get hold")
        .into_inner();
    assert_eq!(unchanged, hold, "the hold is still pending");
    assert_eq!(
        h.balance("").await,
        balance_before,
        "the balance is unchanged"
    );
    assert_eq!(
        h.entry_count("e-1").await,
        entries_before,
        "no entry appended"
    );

    // The refusal is the recorded answer to that request; the key is not free for another one.
    let replayed = service
        .post_hold(post_as("post-e2", "e-2"))
        .await
        .expect_err("replayed");
    assert_record_of_another(&replayed, "hold", &hold.hold_id, "e-1");
    let reused = service
        .post_hold(post_as("post-e2", "e-1"))
        .await
        .expect_err("the key of another request");
    assert_eq!(reason_of(&reused).1, "IDEMPOTENCY_KEY_REUSED");
    let malformed = service
        .post_hold(post_as("post-bad", "not an id"))
        .await
        .expect_err("a malformed employee id");
    assert_eq!(violated_fields(&malformed), vec!["employee_id".to_owned()]);

    let posted = service
        .post_hold(post_as("post-e1", "e-1"))
        .await
        .expect("post the hold of the employee named")
        .into_inner();
    assert_eq!(posted.state, HoldState::Posted as i32);
    let second = h
        .client
        .hold_days(hold_request("hold-2", "2026-03-11", "2026-03-11"))
        .await
        .expect("hold")
        .into_inner();
    let voided = service
        .void_hold(VoidHoldRequest {
            request_id: "void-e1".into(),
            hold_id: second.hold_id.clone(),
            reason: "cancelled".into(),
            employee_id: "e-1".into(),
            rejected: false,
        })
        .await
        .expect("void the hold of the employee named")
        .into_inner();
    assert_eq!(voided.state, HoldState::Voided as i32);
    let reversal = service
        .reverse_entry(ReverseEntryRequest {
            request_id: "reverse-e1".into(),
            entry_id: accrual.entry_id,
            reason: "mistake".into(),
            employee_id: "e-1".into(),
        })
        .await
        .expect("reverse the entry of the employee named")
        .into_inner();
    assert_eq!(reversal.reverses_entry_id, accrual.entry_id);
    assert_eq!(h.balance("").await.accrued, "10");
}

async fn end_users_hold_post_and_void_only_for_whom_they_may(backend: Backend) {
    let mut h = Harness::with_pto(backend).await;
    h.client
        .assign_policy(assign_request("assign-2", "e-2", "pto-standard"))
        .await
        .expect("assign e-2");
    h.client
        .append_entries(accrual_request("accrue-2", "e-2", "10", "2026-01-31"))
        .await
        .expect("accrue e-2");
    let hold_of = |request_id: &str, employee_id: &str| HoldDaysRequest {
        employee_id: employee_id.into(),
        ..hold_request(request_id, "2026-03-10", "2026-03-10")
    };
    let theirs = h
        .client
        .hold_days(hold_of("hold-e2", "e-2"))
        .await
        .expect("e-2's hold")
        .into_inner();
    let state_of = |client: &mut LedgerServiceClient<MeshChannel>, hold_id: String| {
        let mut client = client.clone();
        async move {
            client
                .get_hold(GetHoldRequest { hold_id })
                .await
                .expect("get hold")
                .into_inner()
                .state
        }
    };
    let mut manager = client_as(
        &h,
        "m-1",
        ActorType::Manager,
        END_USER_PERMISSIONS,
        &["e-1"],
    );
    let post = |request_id: &str, hold_id: &str, employee_id: &str| PostHoldRequest {
        request_id: request_id.into(),
        hold_id: hold_id.into(),
        employee_id: employee_id.into(),
    };

    let refused = manager
        .post_hold(post("m-post-e2", &theirs.hold_id, ""))
        .await
        .expect_err("e-2 is not the manager's");
    let (code, reason, _) = reason_of(&refused);
    assert_eq!(
        (code, reason.as_str()),
        (Code::PermissionDenied, "NOT_MANAGER")
    );
    // Naming an employee the manager does manage does not get them someone else's hold.
    let refused = manager
        .post_hold(post("m-post-e2-as-e1", &theirs.hold_id, "e-1"))
        .await
        .expect_err("the hold is not e-1's");
    assert_record_of_another(&refused, "hold", &theirs.hold_id, "e-1");
    assert_eq!(
        state_of(&mut h.client, theirs.hold_id.clone()).await,
        HoldState::Pending as i32
    );
    let refused = manager
        .hold_days(hold_of("m-hold-e2", "e-2"))
        .await
        .expect_err("not the manager's to request");
    assert_eq!(reason_of(&refused).1, "NOT_OWN_RECORD");

    let ours = manager
        .hold_days(hold_of("m-hold-e1", "e-1"))
        .await
        .expect("a hold for the manager's report")
        .into_inner();
    let posted = manager
        .post_hold(post("m-post-e1", &ours.hold_id, ""))
        .await
        .expect("the manager approves their report's hold")
        .into_inner();
    assert_eq!(posted.state, HoldState::Posted as i32);

    let mut employee = client_as(&h, "e-2", ActorType::Employee, END_USER_PERMISSIONS, &[]);
    let refused = employee
        .post_hold(post("e-post-own", &theirs.hold_id, "e-2"))
        .await
        .expect_err("nobody approves their own time off");
    assert_eq!(reason_of(&refused).1, "NOT_MANAGER");
    let refused = employee
        .void_hold(VoidHoldRequest {
            request_id: "e-void-e1".into(),
            hold_id: ours.hold_id.clone(),
            ..Default::default()
        })
        .await
        .expect_err("e-1's hold is not e-2's");
    assert_eq!(reason_of(&refused).1, "NOT_OWN_RECORD");
    let withdrawn = employee
        .void_hold(VoidHoldRequest {
            request_id: "e-void-own".into(),
            hold_id: theirs.hold_id.clone(),
            reason: "plans changed".into(),
            ..Default::default()
        })
        .await
        .expect("an employee withdraws their own request")
        .into_inner();
    assert_eq!(withdrawn.state, HoldState::Voided as i32);

    let accrual = h
        .client
        .list_entries(ListEntriesRequest {
            employee_id: "e-2".into(),
            kinds: vec![EntryKind::Accrual as i32],
            ..Default::default()
        })
        .await
        .expect("entries")
        .into_inner()
        .entries
        .remove(0);
    let entries_before = h.entry_count("e-2").await;
    let refused = employee
        .append_entries(accrual_request("e-accrue", "e-2", "30", "2026-02-28"))
        .await
        .expect_err("employees do not grant themselves days");
    assert_eq!(
        (reason_of(&refused).0, reason_of(&refused).1.as_str()),
        (Code::PermissionDenied, "ADMIN_ONLY")
    );
    let refused = manager
        .reverse_entry(ReverseEntryRequest {
            request_id: "m-reverse".into(),
            entry_id: accrual.entry_id,
            reason: "mistake".into(),
            ..Default::default()
        })
        .await
        .expect_err("managers do not reverse entries");
    assert_eq!(reason_of(&refused).1, "ADMIN_ONLY");
    assert_eq!(
        h.entry_count("e-2").await,
        entries_before,
        "nothing appended"
    );
}

async fn audit_events(h: &mut Harness, subject: &str) -> Vec<hrmesh_proto::common::AuditEvent> {
    h.client
        .list_audit_events(hrmesh_proto::common::ListAuditEventsRequest {
            subject: subject.into(),
            ..Default::default()
        })
        .await
        .expect("audit trail")
        .into_inner()
        .events
}

/// `request` with the on-behalf-of metadata a saga's participant calls carry.
fn on_behalf_of<T>(request: T, subject: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(request);
    request.metadata_mut().insert(
        hrmesh_mesh::mesh::ON_BEHALF_OF_HEADER,
        subject.parse().expect("a metadata value"),
    );
    request
}

async fn a_service_says_whom_it_acts_for_and_nobody_else_may(backend: Backend) {
    let mut h = Harness::with_pto(backend).await;
    let mut service = service_client(&h);
    let hold = service
        .hold_days(on_behalf_of(
            hold_request("saga-1:0:do", "2026-03-10", "2026-03-10"),
            "m-1",
        ))
        .await
        .expect("a service acting for a user")
        .into_inner();
    let events = audit_events(&mut h, "hrmesh-orchestrator").await;
    let event = events
        .iter()
        .find(|event| event.method == "/hrmesh.ledger.v1.LedgerService/HoldDays")
        .expect("the call is in the audit trail");
    assert_eq!(
        (event.actor_type.as_str(), event.on_behalf_of.as_str()),
        ("system", "m-1")
    );
    let own_calls = audit_events(&mut h, "test-admin").await;
    assert!(
        own_calls.iter().all(|event| event.on_behalf_of.is_empty()),
        "a person's own call acts for nobody else: {own_calls:?}"
    );

    let entries_before = h.entry_count("e-1").await;
    let mut employee = client_as(&h, "e-1", ActorType::Employee, END_USER_PERMISSIONS, &[]);
    let refused = employee
        .hold_days(on_behalf_of(
            hold_request("e-hold", "2026-03-11", "2026-03-11"),
            "m-1",
        ))
        .await
        .expect_err("only services act on behalf of others");
    let (code, reason, metadata) = reason_of(&refused);
    assert_eq!(
        (code, reason.as_str(), metadata["header"].as_str()),
        (
            Code::PermissionDenied,
            "DELEGATION_NOT_ALLOWED",
            hrmesh_mesh::mesh::ON_BEHALF_OF_HEADER
        )
    );
    assert_eq!(h.entry_count("e-1").await, entries_before, "no hold");
    assert!(
        audit_events(&mut h, "e-1").await.is_empty(),
        "a refused call is not audited"
    );
    let malformed = service
        .hold_days(on_behalf_of(
            hold_request("saga-2:0:do", "2026-03-11", "2026-03-11"),
            "m 1",
        ))
        .await
        .expect_err("a malformed subject");
    assert_eq!(
        violated_fields(&malformed),
        vec![hrmesh_mesh::mesh::ON_BEHALF_OF_HEADER.to_owned()]
    );
    assert_eq!(h.entry_count("e-1").await, entries_before);
    assert_eq!(hold.state, HoldState::Pending as i32);
}

hrmesh_mesh::test_on_every_backend!(
    a_request_naming_another_employee_leaves_their_holds_and_entries_unchanged,
    end_users_hold_post_and_void_only_for_whom_they_may,
    a_service_says_whom_it_acts_for_and_nobody_else_may,
);
