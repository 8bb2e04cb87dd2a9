//! Personal free text is sealed at rest: the database holds none of it in the clear (a scan of
//! the SQLite files, or of every PostgreSQL table, finds none), every read answers it in the
//! clear, and a changed or moved ciphertext is refused, never returned.

use hrmesh_mesh::testing::Backend;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};

use super::*;
use hrmesh_proto::common::ErasePersonalDataRequest;

/// Text no test writes anywhere else.
fn secret(what: &str) -> String {
    format!("zq{what}plaintext")
}

async fn document(db: &DatabaseConnection, table: &str, id: &str) -> serde_json::Value {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            format!("SELECT document FROM {table} WHERE id = $1"),
            [id.into()],
        ))
        .await
        .expect("read a row")
        .expect("the row");
    let text: String = row.try_get("", "document").expect("a document");
    serde_json::from_str(&text).expect("JSON")
}

async fn set_document(
    db: &DatabaseConnection,
    table: &str,
    id: &str,
    document: &serde_json::Value,
) {
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        format!("UPDATE {table} SET document = $1 WHERE id = $2"),
        [document.to_string().into(), id.into()],
    ))
    .await
    .expect("write a row");
}

async fn personal_text_is_sealed_at_rest_and_read_in_the_clear(backend: Backend) {
    let mut h = Harness::start(backend).await;
    let review = h.create_review("create", "2026-01-01").await;
    let id = review.review_id.clone();
    h.client
        .open_self_assessment(OpenSelfAssessmentRequest {
            request_id: "open".into(),
            review_id: id.clone(),
        })
        .await
        .expect("open");
    let submitted = h
        .client
        .submit_self_assessment(SubmitSelfAssessmentRequest {
            request_id: "submit".into(),
            review_id: id.clone(),
            sections: vec![ReviewSection {
                title: "Delivery".into(),
                body: secret("selfbody"),
            }],
        })
        .await
        .expect("submit")
        .into_inner();
    assert_eq!(submitted.self_assessment[0].body, secret("selfbody"));
    let goal = h
        .client
        .create_goal(CreateGoalRequest {
            title: secret("goaltitle"),
            description: secret("goaldescription"),
            ..goal_request("goal", 50, "")
        })
        .await
        .expect("goal")
        .into_inner();
    let pip = h
        .client
        .open_pip(OpenPipRequest {
            reason: secret("pipreason"),
            objectives: vec![secret("pipobjective")],
            ..pip_request("pip")
        })
        .await
        .expect("pip")
        .into_inner();
    let feedback = h
        .client
        .give_feedback(GiveFeedbackRequest {
            strengths: secret("strengths"),
            improvements: secret("improvements"),
            ..feedback_request("feedback", "g-secretgiver", true)
        })
        .await
        .expect("feedback")
        .into_inner();

    // Every read answers the text as written.
    let read = h.review(&id).await;
    assert_eq!(read.self_assessment[0].body, secret("selfbody"));
    let goal_read = h
        .client
        .get_goal(GetGoalRequest {
            goal_id: goal.goal_id.clone(),
        })
        .await
        .expect("get goal")
        .into_inner();
    assert_eq!(
        (goal_read.title.as_str(), goal_read.description.as_str()),
        (
            secret("goaltitle").as_str(),
            secret("goaldescription").as_str()
        )
    );
    let pip_read = h
        .client
        .get_pip(GetPipRequest {
            pip_id: pip.pip_id.clone(),
        })
        .await
        .expect("get pip")
        .into_inner();
    assert_eq!(pip_read.reason, secret("pipreason"));
    assert_eq!(pip_read.objectives, [secret("pipobjective")]);
    let listed = h
        .client
        .list_feedback(ListFeedbackRequest {
            employee_id: "e-1".into(),
            ..Default::default()
        })
        .await
        .expect("list feedback")
        .into_inner();
    assert_eq!(listed.feedback[0].strengths, secret("strengths"));
    assert_eq!(listed.feedback[0].giver_id, "", "anonymous");
    assert_eq!(feedback.improvements, secret("improvements"));

    // The database holds none of it in the clear, though it holds the records.
    let db = Database::connect(h.db.url.as_str()).await.expect("connect");
    let stored = hrmesh_mesh::testing::stored(backend, &h.db.url).await;
    assert!(stored.contains(&id), "the scan reads the records");
    for what in [
        "selfbody",
        "goaltitle",
        "goaldescription",
        "pipreason",
        "pipobjective",
        "strengths",
        "improvements",
    ] {
        assert!(
            !stored.contains(&secret(what)),
            "{what} is stored in the clear"
        );
    }
    assert!(
        !stored.contains("g-secretgiver"),
        "an anonymous giver is stored in the clear"
    );

    // One changed character of a sealed value: the read is refused, not answered.
    let mut changed = document(&db, "reviews", &id).await;
    let body = changed["self_assessment"][0]["body"]
        .as_str()
        .expect("sealed")
        .to_owned();
    assert!(body.starts_with("enc:1:"), "{body}");
    let mut tampered = body.clone().into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'x' { b'y' } else { b'x' };
    changed["self_assessment"][0]["body"] =
        serde_json::Value::String(String::from_utf8(tampered).expect("text"));
    set_document(&db, "reviews", &id, &changed).await;
    let refused = h
        .client
        .get_review(GetReviewRequest {
            review_id: id.clone(),
        })
        .await
        .expect_err("a tampered value");
    assert_eq!(refused.code(), Code::Internal, "{refused:?}");
    assert!(!refused.message().contains("zq"), "{refused:?}");

    // A sealed value moved to another record of the same employee (and key): refused too.
    let other = h
        .client
        .create_goal(goal_request("goal-2", 10, ""))
        .await
        .expect("another goal")
        .into_inner();
    let source = document(&db, "goals", &goal.goal_id).await;
    let mut target = document(&db, "goals", &other.goal_id).await;
    target["title"] = source["title"].clone();
    set_document(&db, "goals", &other.goal_id, &target).await;
    let refused = h
        .client
        .get_goal(GetGoalRequest {
            goal_id: other.goal_id.clone(),
        })
        .await
        .expect_err("a moved value");
    assert_eq!(refused.code(), Code::Internal, "{refused:?}");
}

const ERASE: &str = "/hrmesh.performance.v1.PerformanceService/ErasePersonalData";

async fn erasing_an_employee_shreds_their_free_text_and_keeps_their_records(backend: Backend) {
    let mut h = Harness::start(backend).await;
    let review = h.review_in(ReviewState::Acknowledged, "erased").await;
    let id = review.review_id.clone();
    assert_eq!(review.employee_comment, "Agreed");
    let pip = h
        .client
        .open_pip(pip_request("pip"))
        .await
        .expect("pip")
        .into_inner();
    h.client
        .give_feedback(feedback_request("feedback", "g-1", true))
        .await
        .expect("feedback");
    // Another employee's text, untouched by e-1's erasure.
    let kept = h
        .client
        .create_review(create_review_request("create-e2", "e-2", "2026-01-01"))
        .await
        .expect("e-2's review")
        .into_inner();
    h.client
        .open_self_assessment(OpenSelfAssessmentRequest {
            request_id: "open-e2".into(),
            review_id: kept.review_id.clone(),
        })
        .await
        .expect("open");
    h.client
        .submit_self_assessment(SubmitSelfAssessmentRequest {
            request_id: "submit-e2".into(),
            review_id: kept.review_id.clone(),
            sections: sections(),
        })
        .await
        .expect("submit");

    // Admins only: the employee themself, or a manager, may not.
    for (subject, actor, permissions) in [
        (
            "e-1",
            hrmesh_mesh::auth::ActorType::Employee,
            &["performance.read", "performance.update"][..],
        ),
        (
            "m-1",
            hrmesh_mesh::auth::ActorType::Manager,
            &[
                "performance.read",
                "performance.update",
                "performance.create",
            ][..],
        ),
    ] {
        let mut client = Client::new(hrmesh_mesh::testing::channel_as(
            &h.server.server.uri(),
            &hrmesh_mesh::testing::claims(subject, actor, permissions),
        ));
        let refused = client
            .erase_personal_data(ErasePersonalDataRequest {
                request_id: format!("erase-by-{subject}"),
                employee_id: "e-1".into(),
            })
            .await
            .expect_err("not an admin");
        assert_eq!(
            refused.code(),
            Code::PermissionDenied,
            "{subject}: {refused:?}"
        );
    }
    assert_eq!(
        h.review(&id).await.employee_comment,
        "Agreed",
        "nothing erased"
    );
    let bad = h
        .client
        .erase_personal_data(ErasePersonalDataRequest {
            request_id: "erase-bad".into(),
            employee_id: String::new(),
        })
        .await
        .expect_err("no employee");
    assert_eq!(violated_fields(&bad), ["employee_id"]);

    let erase = ErasePersonalDataRequest {
        request_id: "erase".into(),
        employee_id: "e-1".into(),
    };
    let erasure = h
        .client
        .erase_personal_data(erase.clone())
        .await
        .expect("erase")
        .into_inner();
    assert_eq!(erasure.employee_id, "e-1");
    assert!(erasure.keys_destroyed >= 1, "{erasure:?}");
    let repeated = h
        .client
        .erase_personal_data(erase)
        .await
        .expect("repeat")
        .into_inner();
    assert_eq!(repeated, erasure, "the first erasure's answer");

    // Free text reads as erased; the record's structure is intact.
    let after = h.review(&id).await;
    assert_eq!(after.employee_comment, hrmesh_crypto::ERASED);
    assert!(
        after
            .self_assessment
            .iter()
            .all(|section| section.body == hrmesh_crypto::ERASED && section.title == "Delivery"),
        "{:?}",
        after.self_assessment
    );
    assert_eq!(
        (
            after.state,
            after.rating,
            &after.period_start,
            &after.due_date
        ),
        (
            review.state,
            review.rating,
            &review.period_start,
            &review.due_date
        )
    );
    let pip_after = h
        .client
        .get_pip(GetPipRequest {
            pip_id: pip.pip_id.clone(),
        })
        .await
        .expect("pip")
        .into_inner();
    assert_eq!(pip_after.reason, hrmesh_crypto::ERASED);
    assert_eq!(pip_after.objectives, [hrmesh_crypto::ERASED]);
    assert_eq!(
        (pip_after.status, &pip_after.start_date),
        (pip.status, &pip.start_date)
    );
    let feedback = h
        .client
        .list_feedback(ListFeedbackRequest {
            employee_id: "e-1".into(),
            ..Default::default()
        })
        .await
        .expect("feedback")
        .into_inner()
        .feedback;
    assert_eq!(feedback[0].strengths, hrmesh_crypto::ERASED);
    assert!(feedback[0].anonymous);
    assert_eq!(
        h.review(&kept.review_id).await.self_assessment,
        sections(),
        "another employee's text is theirs still"
    );

    // Text written about them afterwards is sealed with a new key and reads in the clear.
    let goal = h
        .client
        .create_goal(goal_request("goal-after", 10, ""))
        .await
        .expect("a goal after the erasure")
        .into_inner();
    let goal = h
        .client
        .get_goal(GetGoalRequest {
            goal_id: goal.goal_id,
        })
        .await
        .expect("goal")
        .into_inner();
    assert_eq!(goal.title, "Cut payroll run time");

    // The erasure is in the audit trail, with who asked for it.
    let audited = h
        .client
        .list_audit_events(hrmesh_proto::common::ListAuditEventsRequest {
            method: ERASE.into(),
            ..Default::default()
        })
        .await
        .expect("audit trail")
        .into_inner()
        .events;
    let erased: Vec<_> = audited
        .iter()
        .filter(|event| event.outcome == "OK")
        .map(|event| (event.subject.as_str(), event.actor_type.as_str()))
        .collect();
    assert_eq!(
        erased,
        [("test-admin", "admin"); 2],
        "the erasure and its repeat: {audited:?}"
    );
}

hrmesh_mesh::test_on_every_backend!(
    personal_text_is_sealed_at_rest_and_read_in_the_clear,
    erasing_an_employee_shreds_their_free_text_and_keeps_their_records,
);
