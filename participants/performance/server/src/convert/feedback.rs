//! Feedback and requests for it: who may give it, and anonymity.

use hrmesh_domain::{
    EmployeeId, RequestId, Violations, check_text, page_size, parse_optional_date,
};
use hrmesh_performance_core as core;
use hrmesh_proto::performance as pb;

use super::{
    Listing, PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX, Parsed, date_text, optional_issued_id, page_token,
    rating, timestamp,
};
use hrmesh_performance_core::PerformanceError;

const FEEDBACK_CHARS_MAX: usize = 5_000;

fn relationship(value: i32, v: &mut Violations) -> Option<core::Relationship> {
    match pb::FeedbackRelationship::try_from(value) {
        Ok(pb::FeedbackRelationship::Peer) => Some(core::Relationship::Peer),
        Ok(pb::FeedbackRelationship::Manager) => Some(core::Relationship::Manager),
        Ok(pb::FeedbackRelationship::DirectReport) => Some(core::Relationship::DirectReport),
        Ok(pb::FeedbackRelationship::Self_) => Some(core::Relationship::SelfAssessment),
        _ => {
            v.add(
                "relationship",
                "must be one of PEER, MANAGER, DIRECT_REPORT, SELF",
            );
            None
        }
    }
}

fn relationship_pb(relationship: core::Relationship) -> pb::FeedbackRelationship {
    match relationship {
        core::Relationship::Peer => pb::FeedbackRelationship::Peer,
        core::Relationship::Manager => pb::FeedbackRelationship::Manager,
        core::Relationship::DirectReport => pb::FeedbackRelationship::DirectReport,
        core::Relationship::SelfAssessment => pb::FeedbackRelationship::Self_,
    }
}

/// The rules tying giver, subject, relationship and anonymity together.
fn check_giver(
    employee_id: &Option<EmployeeId>,
    giver_id: &Option<EmployeeId>,
    relationship: Option<core::Relationship>,
    anonymous: bool,
    v: &mut Violations,
) {
    let is_self = relationship == Some(core::Relationship::SelfAssessment);
    if let (Some(employee), Some(giver), Some(_)) = (employee_id, giver_id, relationship) {
        if is_self && employee != giver {
            v.add("giver_id", "must be the employee for relationship SELF");
        }
        if !is_self && employee == giver {
            v.add(
                "relationship",
                "must be SELF when the giver is the employee",
            );
        }
    }
    if is_self && anonymous {
        v.add("anonymous", "self feedback cannot be anonymous");
    }
}

pub fn feedback_request_status(status: core::FeedbackRequestStatus) -> pb::FeedbackRequestStatus {
    match status {
        core::FeedbackRequestStatus::Open => pb::FeedbackRequestStatus::Open,
        core::FeedbackRequestStatus::Given => pb::FeedbackRequestStatus::Given,
        core::FeedbackRequestStatus::Closed => pb::FeedbackRequestStatus::Closed,
    }
}

pub fn feedback_request(request: core::FeedbackRequest) -> pb::FeedbackRequest {
    pb::FeedbackRequest {
        feedback_request_id: request.id,
        employee_id: request.employee_id.to_string(),
        giver_id: request.giver_id.to_string(),
        relationship: relationship_pb(request.relationship) as i32,
        review_id: request.review_id.unwrap_or_default(),
        anonymous: request.anonymous,
        due_date: request.due_date.map(date_text).unwrap_or_default(),
        status: feedback_request_status(request.status) as i32,
        create_time: Some(timestamp(request.created_at)),
    }
}

pub fn request_feedback(request: pb::RequestFeedbackRequest) -> Parsed<core::RequestFeedback> {
    let mut v = Violations::default();
    let request_id = RequestId::parse("request_id", &request.request_id, &mut v);
    let employee_id = EmployeeId::parse("employee_id", &request.employee_id, &mut v);
    let giver_id = EmployeeId::parse("giver_id", &request.giver_id, &mut v);
    let relationship = relationship(request.relationship, &mut v);
    check_giver(
        &employee_id,
        &giver_id,
        relationship,
        request.anonymous,
        &mut v,
    );
    let review_id = optional_issued_id("review_id", &request.review_id, &mut v);
    let due_date = parse_optional_date("due_date", &request.due_date, &mut v);
    let command = (|| {
        Some(core::RequestFeedback {
            request_id: request_id?,
            employee_id: employee_id?,
            giver_id: giver_id?,
            relationship: relationship?,
            review_id: review_id?,
            anonymous: request.anonymous,
            due_date: due_date?,
        })
    })();
    PerformanceError::parsed(v, command)
}

pub fn list_feedback_requests(
    request: &pb::ListFeedbackRequestsRequest,
) -> Parsed<Listing<core::FeedbackRequestFilter>> {
    let mut v = Violations::default();
    let giver_id = EmployeeId::parse("giver_id", &request.giver_id, &mut v);
    let status = if request.status == 0 {
        None
    } else {
        let status = core::FeedbackRequestStatus::ALL
            .into_iter()
            .find(|status| feedback_request_status(*status) as i32 == request.status);
        if status.is_none() {
            v.add("status", "is not a feedback request status");
        }
        status
    };
    let after = page_token(&request.page_token, &mut v);
    let page_size = page_size(request.page_size, PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX, &mut v);
    let listing = giver_id.map(|giver_id| Listing {
        filter: core::FeedbackRequestFilter { giver_id, status },
        after,
        page_size,
    });
    PerformanceError::parsed(v, listing)
}

/// Feedback as callers see it: the domain already removed an anonymous giver.
pub fn feedback(entry: core::Feedback) -> pb::Feedback {
    pb::Feedback {
        feedback_id: entry.id,
        employee_id: entry.employee_id.to_string(),
        giver_id: entry
            .giver_id
            .filter(|_| !entry.anonymous)
            .map(|giver| giver.to_string())
            .unwrap_or_default(),
        relationship: relationship_pb(entry.relationship) as i32,
        anonymous: entry.anonymous,
        review_id: entry.review_id.unwrap_or_default(),
        rating: entry.rating.map_or(0, |rating| i32::from(rating.points())),
        strengths: entry.strengths,
        improvements: entry.improvements,
        create_time: Some(timestamp(entry.created_at)),
    }
}

pub fn give_feedback(request: pb::GiveFeedbackRequest) -> Parsed<core::GiveFeedback> {
    let mut v = Violations::default();
    let request_id = RequestId::parse("request_id", &request.request_id, &mut v);
    let employee_id = EmployeeId::parse("employee_id", &request.employee_id, &mut v);
    let giver_id = EmployeeId::parse("giver_id", &request.giver_id, &mut v);
    let relationship = relationship(request.relationship, &mut v);
    check_giver(
        &employee_id,
        &giver_id,
        relationship,
        request.anonymous,
        &mut v,
    );
    let review_id = optional_issued_id("review_id", &request.review_id, &mut v);
    let feedback_request_id =
        optional_issued_id("feedback_request_id", &request.feedback_request_id, &mut v);
    let rating = if request.rating == 0 {
        Some(None)
    } else {
        rating("rating", request.rating, &mut v).map(Some)
    };
    if request.strengths.trim().is_empty() && request.improvements.trim().is_empty() {
        v.add("strengths", "strengths or improvements is required");
    }
    check_text("strengths", &request.strengths, FEEDBACK_CHARS_MAX, &mut v);
    check_text(
        "improvements",
        &request.improvements,
        FEEDBACK_CHARS_MAX,
        &mut v,
    );
    let command = (|| {
        Some(core::GiveFeedback {
            request_id: request_id?,
            employee_id: employee_id?,
            giver_id: giver_id?,
            relationship: relationship?,
            review_id: review_id?,
            feedback_request_id: feedback_request_id?,
            anonymous: request.anonymous,
            rating: rating?,
            strengths: request.strengths,
            improvements: request.improvements,
        })
    })();
    PerformanceError::parsed(v, command)
}

pub fn list_feedback(request: &pb::ListFeedbackRequest) -> Parsed<Listing<core::FeedbackFilter>> {
    let mut v = Violations::default();
    let employee_id = EmployeeId::parse("employee_id", &request.employee_id, &mut v);
    let review_id = optional_issued_id("review_id", &request.review_id, &mut v).flatten();
    let after = page_token(&request.page_token, &mut v);
    let page_size = page_size(request.page_size, PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX, &mut v);
    let listing = employee_id.map(|employee_id| Listing {
        filter: core::FeedbackFilter {
            employee_id,
            review_id,
        },
        after,
        page_size,
    });
    PerformanceError::parsed(v, listing)
}
