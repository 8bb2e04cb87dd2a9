//! The performance participant's gRPC server: `hrmesh.performance.v1.PerformanceService` over the
//! core [`Performance`] service and the sea-orm store, plus the reminder job that sends review
//! deadline and PIP check-in reminders through the notification service.
//!
//! Handlers are thin: parse the request into a domain command (every violation named), call the
//! core, convert the answer. Only this crate knows both tonic and the performance domain.

mod convert;
pub mod events;
mod reminders;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hrmesh_domain::{Clock, SystemClock};
use hrmesh_mesh::auth::{ActingRule, ActorType, IdentityConfig, Principal, TokenSource, principal};
use hrmesh_mesh::config::CommonConfig;
use hrmesh_mesh::events::Events;
use hrmesh_mesh::server::{RunningServer, ServeSpec};
use hrmesh_mesh::status::{self, Refused};
use hrmesh_performance_core::{Performance, PerformanceError, PerformanceStore, Rejection};
use hrmesh_performance_store::SeaPerformanceStore;
use hrmesh_proto::performance as pb;
use hrmesh_proto::performance::performance_service_server::{
    PerformanceService, PerformanceServiceServer,
};
use hrmesh_storage::audit::{AuditLog, AuditSource};
use hrmesh_storage::outbox::OutboxSource;
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tonic::{Code, Request, Response, Status};

pub use reminders::{ReminderRun, Reminders, RunReminders};

/// The port `hrmesh serve performance` listens on by default.
pub const DEFAULT_PORT: u16 = 50053;

/// The performance service's configuration (see `hrmesh serve performance --help`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PerformanceConfig {
    #[serde(flatten)]
    pub common: CommonConfig,
    /// The notification service reminders are sent through (`http://host:port`). Without one, no
    /// reminders are sent.
    pub notification_url: Option<String>,
    /// How reminders are signed when sent to the notification service (the `[identity]` table).
    pub identity: IdentityConfig,
    /// Seconds between reminder runs; 0 turns the job off. Each run sends what is due and not yet
    /// sent, so running it often never repeats a reminder.
    pub reminder_interval_secs: u64,
    /// Days before a review's due date from which its reminders are sent (one per day).
    pub review_reminder_days: u32,
    /// Days ahead within which a PIP check-in gets its reminder (one per check-in).
    pub pip_reminder_days: u32,
}

impl Default for PerformanceConfig {
    fn default() -> Self {
        Self {
            common: CommonConfig::new("performance", DEFAULT_PORT),
            notification_url: None,
            identity: IdentityConfig::new("hrmesh-performance", &["hrmesh-notification"]),
            reminder_interval_secs: 3600,
            review_reminder_days: 7,
            pip_reminder_days: 7,
        }
    }
}

impl PerformanceConfig {
    /// The database URL: configured, or `performance.sqlite` in the data directory.
    pub fn database_url(&self) -> String {
        self.common.database_url("performance")
    }
}

/// The gRPC status for a performance error, with its google.rpc details.
pub fn to_status(error: PerformanceError) -> Status {
    status::to_status(error, refused)
}

/// Every rejection but one is FAILED_PRECONDITION: a business outcome a retry cannot change
/// (limits too, which RESOURCE_EXHAUSTED would invite callers to retry). A record of another
/// employee than the request names is PERMISSION_DENIED. Reasons are
/// [`pb::PerformanceErrorReason`]'s.
fn refused(rejection: Rejection) -> Refused {
    let code = match rejection {
        Rejection::RecordOfAnotherEmployee { .. } => Code::PermissionDenied,
        _ => Code::FailedPrecondition,
    };
    let (reason, metadata): (pb::PerformanceErrorReason, Vec<(&'static str, String)>) =
        match rejection {
            Rejection::IllegalTransition {
                resource,
                id,
                state,
                action,
            } => (
                pb::PerformanceErrorReason::IllegalTransition,
                vec![
                    ("resource", resource.as_str().to_owned()),
                    ("id", id),
                    ("state", state),
                    ("action", action),
                ],
            ),
            Rejection::LimitReached {
                employee_id,
                resource,
                limit,
            } => (
                pb::PerformanceErrorReason::LimitReached,
                vec![
                    ("employee_id", employee_id),
                    ("resource", resource.plural().to_owned()),
                    ("limit", limit.to_string()),
                ],
            ),
            Rejection::ReviewExists { review_id } => (
                pb::PerformanceErrorReason::ReviewExists,
                vec![("review_id", review_id)],
            ),
            Rejection::GoalWeightsExceeded {
                review_id,
                weight_total,
            } => (
                pb::PerformanceErrorReason::GoalWeightsExceeded,
                vec![
                    ("review_id", review_id),
                    ("weight_total", weight_total.to_string()),
                ],
            ),
            Rejection::PipAlreadyActive { pip_id } => (
                pb::PerformanceErrorReason::PipAlreadyActive,
                vec![("pip_id", pip_id)],
            ),
            Rejection::FeedbackRequestMismatch {
                feedback_request_id,
                problem,
            } => (
                pb::PerformanceErrorReason::FeedbackRequestMismatch,
                vec![
                    ("feedback_request_id", feedback_request_id),
                    ("problem", problem),
                ],
            ),
            Rejection::RecordOfAnotherEmployee { resource, id } => (
                pb::PerformanceErrorReason::RecordOfAnotherEmployee,
                vec![("record", resource.as_str().to_owned()), ("record_id", id)],
            ),
        };
    Refused {
        code,
        reason: reason.as_str_name(),
        metadata,
    }
}

/// The permission each method needs (checked by the mesh layer before the handler runs), after
/// seed 000: create, read, update, admin and feedback.
pub const PERMISSIONS: &[(&str, &str)] = &[
    (
        "/hrmesh.performance.v1.PerformanceService/CreateReview",
        CREATE,
    ),
    ("/hrmesh.performance.v1.PerformanceService/GetReview", READ),
    (
        "/hrmesh.performance.v1.PerformanceService/ListReviews",
        READ,
    ),
    (
        "/hrmesh.performance.v1.PerformanceService/OpenSelfAssessment",
        UPDATE,
    ),
    (
        "/hrmesh.performance.v1.PerformanceService/SubmitSelfAssessment",
        UPDATE,
    ),
    (
        "/hrmesh.performance.v1.PerformanceService/FinalizeReview",
        UPDATE,
    ),
    (
        "/hrmesh.performance.v1.PerformanceService/ReopenReview",
        ADMIN,
    ),
    (
        "/hrmesh.performance.v1.PerformanceService/CompleteReview",
        UPDATE,
    ),
    (
        "/hrmesh.performance.v1.PerformanceService/AcknowledgeReview",
        UPDATE,
    ),
    (
        "/hrmesh.performance.v1.PerformanceService/CreateGoal",
        CREATE,
    ),
    ("/hrmesh.performance.v1.PerformanceService/GetGoal", READ),
    ("/hrmesh.performance.v1.PerformanceService/ListGoals", READ),
    (
        "/hrmesh.performance.v1.PerformanceService/UpdateGoalProgress",
        UPDATE,
    ),
    (
        "/hrmesh.performance.v1.PerformanceService/CancelGoal",
        UPDATE,
    ),
    ("/hrmesh.performance.v1.PerformanceService/OpenPip", CREATE),
    ("/hrmesh.performance.v1.PerformanceService/GetPip", READ),
    ("/hrmesh.performance.v1.PerformanceService/ListPips", READ),
    (
        "/hrmesh.performance.v1.PerformanceService/RecordPipCheckIn",
        UPDATE,
    ),
    (
        "/hrmesh.performance.v1.PerformanceService/RecordPipOutcome",
        UPDATE,
    ),
    (
        "/hrmesh.performance.v1.PerformanceService/CancelPip",
        UPDATE,
    ),
    (
        "/hrmesh.performance.v1.PerformanceService/RequestFeedback",
        FEEDBACK,
    ),
    (
        "/hrmesh.performance.v1.PerformanceService/ListFeedbackRequests",
        READ,
    ),
    (
        "/hrmesh.performance.v1.PerformanceService/GiveFeedback",
        FEEDBACK,
    ),
    (
        "/hrmesh.performance.v1.PerformanceService/ListFeedback",
        READ,
    ),
    (
        "/hrmesh.performance.v1.PerformanceService/CloseEmployeeRecords",
        ADMIN,
    ),
    (
        "/hrmesh.performance.v1.PerformanceService/ReopenEmployeeRecords",
        ADMIN,
    ),
    (
        "/hrmesh.performance.v1.PerformanceService/ErasePersonalData",
        ADMIN,
    ),
    (
        "/hrmesh.performance.v1.PerformanceService/ListAuditEvents",
        ADMIN,
    ),
    ("/hrmesh.events.v1.EventService/ListEvents", READ),
    ("/hrmesh.events.v1.EventService/WatchEvents", READ),
];
const CREATE: &str = "performance.create";
const READ: &str = "performance.read";
const UPDATE: &str = "performance.update";
const FEEDBACK: &str = "performance.feedback";
/// Also lets a caller read every employee's records.
const ADMIN: &str = "performance.admin";

/// The tonic service.
pub struct PerformanceGrpc<S, C> {
    performance: Performance<S, C>,
    audit: AuditLog,
}

impl<S, C> PerformanceGrpc<S, C> {
    pub fn new(performance: Performance<S, C>, audit: AuditLog) -> Self {
        Self { performance, audit }
    }
}

fn respond<T, U>(
    result: Result<T, PerformanceError>,
    convert: impl FnOnce(T) -> U,
) -> Result<Response<U>, Status> {
    result
        .map(|value| Response::new(convert(value)))
        .map_err(to_status)
}

fn parse<T>(parsed: Result<T, PerformanceError>) -> Result<T, Status> {
    parsed.map_err(to_status)
}

/// Whom a caller may act for on a record of `employee` that names `manager`: the named manager
/// counts as the employee's manager besides the token's `manages` claim.
fn may_change(
    caller: &Principal,
    employee: &str,
    manager: Option<&str>,
    rule: ActingRule,
) -> Result<(), Status> {
    let named_manager = manager.is_some_and(|manager| manager == caller.subject);
    if named_manager && matches!(rule, ActingRule::Manager | ActingRule::SelfOrManager) {
        return Ok(());
    }
    caller.check_act(employee, ADMIN, rule)
}

/// Services and admins act for anyone: no record needs loading to tell.
fn acts_for_anyone(caller: &Principal) -> bool {
    caller.actor == ActorType::System || caller.has(ADMIN)
}

impl<S: PerformanceStore, C: Clock> PerformanceGrpc<S, C> {
    /// An employee writes and acknowledges their own self-assessment; their manager opens,
    /// finalizes, reopens and completes the review.
    async fn may_change_review(
        &self,
        caller: &Principal,
        command: &hrmesh_performance_core::UpdateReview,
    ) -> Result<(), Status> {
        if acts_for_anyone(caller) {
            return Ok(());
        }
        use hrmesh_performance_core::ReviewChange;
        let rule = match command.change {
            ReviewChange::SubmitSelfAssessment { .. } | ReviewChange::Acknowledge { .. } => {
                ActingRule::SelfOnly
            }
            _ => ActingRule::Manager,
        };
        let review = self
            .performance
            .review(&command.review_id)
            .await
            .map_err(to_status)?;
        may_change(
            caller,
            review.employee_id.as_str(),
            Some(review.manager_id.as_str()),
            rule,
        )
    }

    /// An employee's goals are theirs and their manager's to change.
    async fn may_change_goal(&self, caller: &Principal, goal_id: &str) -> Result<(), Status> {
        if acts_for_anyone(caller) {
            return Ok(());
        }
        let goal = self.performance.goal(goal_id).await.map_err(to_status)?;
        may_change(
            caller,
            goal.employee_id.as_str(),
            None,
            ActingRule::SelfOrManager,
        )
    }

    /// A PIP is its manager's to change.
    async fn may_change_pip(&self, caller: &Principal, pip_id: &str) -> Result<(), Status> {
        if acts_for_anyone(caller) {
            return Ok(());
        }
        let pip = self.performance.pip(pip_id).await.map_err(to_status)?;
        may_change(
            caller,
            pip.employee_id.as_str(),
            Some(pip.manager_id.as_str()),
            ActingRule::Manager,
        )
    }
}

#[tonic::async_trait]
impl<S: PerformanceStore, C: Clock> PerformanceService for PerformanceGrpc<S, C> {
    async fn create_review(
        &self,
        request: Request<pb::CreateReviewRequest>,
    ) -> Result<Response<pb::Review>, Status> {
        let caller = principal(&request)?.clone();
        let command = parse(convert::create_review(request.into_inner()))?;
        // The manager a new review names is the caller's say-so: only the claim counts.
        caller.check_act(command.employee_id.as_str(), ADMIN, ActingRule::Manager)?;
        respond(
            self.performance.create_review(command).await,
            convert::review,
        )
    }

    async fn get_review(
        &self,
        request: Request<pb::GetReviewRequest>,
    ) -> Result<Response<pb::Review>, Status> {
        let id = parse(convert::issued_id(
            "review_id",
            &request.get_ref().review_id,
        ))?;
        let review = self.performance.review(&id).await.map_err(to_status)?;
        principal(&request)?.check_read(review.employee_id.as_str(), ADMIN)?;
        Ok(Response::new(convert::review(review)))
    }

    async fn list_reviews(
        &self,
        request: Request<pb::ListReviewsRequest>,
    ) -> Result<Response<pb::ListReviewsResponse>, Status> {
        let caller = principal(&request)?;
        let asked = request.get_ref();
        // A manager lists the reviews they write; anyone else names the employee.
        if asked.employee_id.is_empty() {
            caller.check_read(&asked.manager_id, ADMIN)?;
        } else {
            caller.check_read(&asked.employee_id, ADMIN)?;
        }
        let listing = parse(convert::list_reviews(request.get_ref()))?;
        let page = self
            .performance
            .reviews(&listing.filter, listing.after.as_deref(), listing.page_size)
            .await;
        respond(page, |page| pb::ListReviewsResponse {
            reviews: page.items.into_iter().map(convert::review).collect(),
            next_page_token: page.next_after.unwrap_or_default(),
        })
    }

    async fn open_self_assessment(
        &self,
        request: Request<pb::OpenSelfAssessmentRequest>,
    ) -> Result<Response<pb::Review>, Status> {
        let caller = principal(&request)?.clone();
        let command = parse(convert::open_self_assessment(request.into_inner()))?;
        self.may_change_review(&caller, &command).await?;
        respond(
            self.performance.update_review(command).await,
            convert::review,
        )
    }

    async fn submit_self_assessment(
        &self,
        request: Request<pb::SubmitSelfAssessmentRequest>,
    ) -> Result<Response<pb::Review>, Status> {
        let caller = principal(&request)?.clone();
        let command = parse(convert::submit_self_assessment(request.into_inner()))?;
        self.may_change_review(&caller, &command).await?;
        respond(
            self.performance.update_review(command).await,
            convert::review,
        )
    }

    async fn finalize_review(
        &self,
        request: Request<pb::FinalizeReviewRequest>,
    ) -> Result<Response<pb::Review>, Status> {
        let caller = principal(&request)?.clone();
        let command = parse(convert::finalize_review(request.into_inner()))?;
        self.may_change_review(&caller, &command).await?;
        respond(
            self.performance.update_review(command).await,
            convert::review,
        )
    }

    async fn reopen_review(
        &self,
        request: Request<pb::ReopenReviewRequest>,
    ) -> Result<Response<pb::Review>, Status> {
        let caller = principal(&request)?.clone();
        let command = parse(convert::reopen_review(request.into_inner()))?;
        self.may_change_review(&caller, &command).await?;
        respond(
            self.performance.update_review(command).await,
            convert::review,
        )
    }

    async fn complete_review(
        &self,
        request: Request<pb::CompleteReviewRequest>,
    ) -> Result<Response<pb::Review>, Status> {
        let caller = principal(&request)?.clone();
        let command = parse(convert::complete_review(request.into_inner()))?;
        self.may_change_review(&caller, &command).await?;
        respond(
            self.performance.update_review(command).await,
            convert::review,
        )
    }

    async fn acknowledge_review(
        &self,
        request: Request<pb::AcknowledgeReviewRequest>,
    ) -> Result<Response<pb::Review>, Status> {
        let caller = principal(&request)?.clone();
        let command = parse(convert::acknowledge_review(request.into_inner()))?;
        self.may_change_review(&caller, &command).await?;
        respond(
            self.performance.update_review(command).await,
            convert::review,
        )
    }

    async fn create_goal(
        &self,
        request: Request<pb::CreateGoalRequest>,
    ) -> Result<Response<pb::Goal>, Status> {
        let caller = principal(&request)?.clone();
        let command = parse(convert::create_goal(request.into_inner()))?;
        caller.check_act(
            command.employee_id.as_str(),
            ADMIN,
            ActingRule::SelfOrManager,
        )?;
        respond(self.performance.create_goal(command).await, convert::goal)
    }

    async fn get_goal(
        &self,
        request: Request<pb::GetGoalRequest>,
    ) -> Result<Response<pb::Goal>, Status> {
        let id = parse(convert::issued_id("goal_id", &request.get_ref().goal_id))?;
        let goal = self.performance.goal(&id).await.map_err(to_status)?;
        principal(&request)?.check_read(goal.employee_id.as_str(), ADMIN)?;
        Ok(Response::new(convert::goal(goal)))
    }

    async fn list_goals(
        &self,
        request: Request<pb::ListGoalsRequest>,
    ) -> Result<Response<pb::ListGoalsResponse>, Status> {
        principal(&request)?.check_read(&request.get_ref().employee_id, ADMIN)?;
        let listing = parse(convert::list_goals(request.get_ref()))?;
        let page = self
            .performance
            .goals(&listing.filter, listing.after.as_deref(), listing.page_size)
            .await;
        respond(page, |page| pb::ListGoalsResponse {
            goals: page.items.into_iter().map(convert::goal).collect(),
            next_page_token: page.next_after.unwrap_or_default(),
        })
    }

    async fn update_goal_progress(
        &self,
        request: Request<pb::UpdateGoalProgressRequest>,
    ) -> Result<Response<pb::Goal>, Status> {
        let caller = principal(&request)?.clone();
        let command = parse(convert::update_goal_progress(request.into_inner()))?;
        self.may_change_goal(&caller, &command.goal_id).await?;
        respond(self.performance.update_goal(command).await, convert::goal)
    }

    async fn cancel_goal(
        &self,
        request: Request<pb::CancelGoalRequest>,
    ) -> Result<Response<pb::Goal>, Status> {
        let caller = principal(&request)?.clone();
        let command = parse(convert::cancel_goal(request.into_inner()))?;
        self.may_change_goal(&caller, &command.goal_id).await?;
        respond(self.performance.update_goal(command).await, convert::goal)
    }

    async fn open_pip(
        &self,
        request: Request<pb::OpenPipRequest>,
    ) -> Result<Response<pb::Pip>, Status> {
        let caller = principal(&request)?.clone();
        let command = parse(convert::open_pip(request.into_inner()))?;
        caller.check_act(command.employee_id.as_str(), ADMIN, ActingRule::Manager)?;
        respond(self.performance.open_pip(command).await, convert::pip)
    }

    async fn get_pip(
        &self,
        request: Request<pb::GetPipRequest>,
    ) -> Result<Response<pb::Pip>, Status> {
        let id = parse(convert::issued_id("pip_id", &request.get_ref().pip_id))?;
        let pip = self.performance.pip(&id).await.map_err(to_status)?;
        principal(&request)?.check_read(pip.employee_id.as_str(), ADMIN)?;
        Ok(Response::new(convert::pip(pip)))
    }

    async fn list_pips(
        &self,
        request: Request<pb::ListPipsRequest>,
    ) -> Result<Response<pb::ListPipsResponse>, Status> {
        principal(&request)?.check_read(&request.get_ref().employee_id, ADMIN)?;
        let listing = parse(convert::list_pips(request.get_ref()))?;
        let page = self
            .performance
            .pips(&listing.filter, listing.after.as_deref(), listing.page_size)
            .await;
        respond(page, |page| pb::ListPipsResponse {
            pips: page.items.into_iter().map(convert::pip).collect(),
            next_page_token: page.next_after.unwrap_or_default(),
        })
    }

    async fn record_pip_check_in(
        &self,
        request: Request<pb::RecordPipCheckInRequest>,
    ) -> Result<Response<pb::Pip>, Status> {
        let caller = principal(&request)?.clone();
        let command = parse(convert::record_pip_check_in(request.into_inner()))?;
        self.may_change_pip(&caller, &command.pip_id).await?;
        respond(self.performance.update_pip(command).await, |(pip, _)| {
            convert::pip(pip)
        })
    }

    async fn record_pip_outcome(
        &self,
        request: Request<pb::RecordPipOutcomeRequest>,
    ) -> Result<Response<pb::Pip>, Status> {
        let caller = principal(&request)?.clone();
        let command = parse(convert::record_pip_outcome(request.into_inner()))?;
        self.may_change_pip(&caller, &command.pip_id).await?;
        respond(self.performance.update_pip(command).await, |(pip, _)| {
            convert::pip(pip)
        })
    }

    async fn cancel_pip(
        &self,
        request: Request<pb::CancelPipRequest>,
    ) -> Result<Response<pb::CancelPipResponse>, Status> {
        let caller = principal(&request)?.clone();
        let result = match parse(convert::cancel_pip(request.into_inner()))? {
            convert::CancelPip::ById(command) => {
                self.may_change_pip(&caller, &command.pip_id).await?;
                self.performance
                    .update_pip(command)
                    .await
                    .map(|(pip, cancelled)| (Some(pip), cancelled))
            }
            // The undo of a saga's step: services and admins only.
            convert::CancelPip::OpenedBy(command) => {
                caller.check_act(&command.opened_by_request_id, ADMIN, ActingRule::Admin)?;
                self.performance.cancel_pip_opened_by(command).await
            }
        };
        respond(result, |(pip, cancelled)| pb::CancelPipResponse {
            pip: pip.map(convert::pip),
            cancelled,
        })
    }

    async fn request_feedback(
        &self,
        request: Request<pb::RequestFeedbackRequest>,
    ) -> Result<Response<pb::FeedbackRequest>, Status> {
        let caller = principal(&request)?.clone();
        let command = parse(convert::request_feedback(request.into_inner()))?;
        caller.check_act(
            command.employee_id.as_str(),
            ADMIN,
            ActingRule::SelfOrManager,
        )?;
        respond(
            self.performance.request_feedback(command).await,
            convert::feedback_request,
        )
    }

    async fn list_feedback_requests(
        &self,
        request: Request<pb::ListFeedbackRequestsRequest>,
    ) -> Result<Response<pb::ListFeedbackRequestsResponse>, Status> {
        principal(&request)?.check_read(&request.get_ref().giver_id, ADMIN)?;
        let listing = parse(convert::list_feedback_requests(request.get_ref()))?;
        let page = self
            .performance
            .feedback_requests(&listing.filter, listing.after.as_deref(), listing.page_size)
            .await;
        respond(page, |page| pb::ListFeedbackRequestsResponse {
            feedback_requests: page
                .items
                .into_iter()
                .map(convert::feedback_request)
                .collect(),
            next_page_token: page.next_after.unwrap_or_default(),
        })
    }

    async fn give_feedback(
        &self,
        request: Request<pb::GiveFeedbackRequest>,
    ) -> Result<Response<pb::Feedback>, Status> {
        let caller = principal(&request)?.clone();
        let command = parse(convert::give_feedback(request.into_inner()))?;
        // Feedback is given by the giver it names, never in someone else's name.
        caller.check_act(command.giver_id.as_str(), ADMIN, ActingRule::SelfOnly)?;
        respond(
            self.performance.give_feedback(command).await,
            convert::feedback,
        )
    }

    async fn list_feedback(
        &self,
        request: Request<pb::ListFeedbackRequest>,
    ) -> Result<Response<pb::ListFeedbackResponse>, Status> {
        principal(&request)?.check_read(&request.get_ref().employee_id, ADMIN)?;
        let listing = parse(convert::list_feedback(request.get_ref()))?;
        let page = self
            .performance
            .feedback(&listing.filter, listing.after.as_deref(), listing.page_size)
            .await;
        respond(page, |page| pb::ListFeedbackResponse {
            feedback: page.items.into_iter().map(convert::feedback).collect(),
            next_page_token: page.next_after.unwrap_or_default(),
        })
    }

    async fn close_employee_records(
        &self,
        request: Request<pb::CloseEmployeeRecordsRequest>,
    ) -> Result<Response<pb::Closure>, Status> {
        let command = parse(convert::close_employee_records(request.into_inner()))?;
        respond(
            self.performance.close_employee_records(command).await,
            convert::closure,
        )
    }

    async fn erase_personal_data(
        &self,
        request: Request<hrmesh_proto::common::ErasePersonalDataRequest>,
    ) -> Result<Response<hrmesh_proto::common::Erasure>, Status> {
        let command = parse(hrmesh_mesh::crypto::erase_request(request.into_inner()))?;
        respond(
            self.performance.erase_personal_data(command).await,
            hrmesh_mesh::crypto::erasure,
        )
    }

    async fn reopen_employee_records(
        &self,
        request: Request<pb::ReopenEmployeeRecordsRequest>,
    ) -> Result<Response<pb::Closure>, Status> {
        let command = parse(convert::reopen_employee_records(request.into_inner()))?;
        let close_request_id = command.close_request_id.clone();
        respond(
            self.performance.reopen_employee_records(command).await,
            |closure| match closure {
                Some(closure) => convert::closure(closure),
                // The close never happened: nothing was closed, nothing is reopened.
                None => pb::Closure {
                    close_request_id,
                    ..pb::Closure::default()
                },
            },
        )
    }

    async fn list_audit_events(
        &self,
        request: Request<hrmesh_proto::common::ListAuditEventsRequest>,
    ) -> Result<Response<hrmesh_proto::common::ListAuditEventsResponse>, Status> {
        hrmesh_mesh::audit::list_rpc(&self.audit, request).await
    }
}

/// A running performance service: the gRPC server and, when configured, the reminder job.
pub struct PerformanceServer {
    pub server: RunningServer,
    reminders: Option<Arc<dyn RunReminders>>,
    job: Option<JoinHandle<()>>,
    events: Events,
    rewrap: Option<hrmesh_mesh::crypto::Rewrap>,
    /// The job that archives records past their retention (a store of its own only).
    retention: Option<JoinHandle<()>>,
}

impl PerformanceServer {
    /// Opens the configured database (migrating it) and serves on the configured address.
    pub async fn start(config: &PerformanceConfig) -> anyhow::Result<Self> {
        let url = config.database_url();
        let keyring = config.common.keyring()?;
        let store = SeaPerformanceStore::open(&url, events::encode, keyring)
            .await
            .with_context(|| {
                format!(
                    "opening the performance database {}",
                    hrmesh_storage::db::redact(&url)
                )
            })?;
        let rewrap = (config.common.crypto.rewrap_interval_secs > 0).then(|| {
            hrmesh_mesh::crypto::Rewrap::start(
                store.vault().clone(),
                Arc::new(store.connection().clone()),
                Duration::from_secs(config.common.crypto.rewrap_interval_secs),
            )
        });
        let retention = config.common.retention.start(
            "performance",
            &config.common,
            store.record_kinds(),
            Arc::new(store.connection().clone()),
            SystemClock,
        )?;
        let mut server = Self::start_with(store, SystemClock, config).await?;
        server.rewrap = rewrap;
        server.retention = retention;
        Ok(server)
    }

    /// Serves `store` with `clock` (tests pass a manual clock).
    pub async fn start_with<
        S: PerformanceStore + AuditSource + OutboxSource + Clone,
        C: Clock + Clone,
    >(
        store: S,
        clock: C,
        config: &PerformanceConfig,
    ) -> anyhow::Result<Self> {
        let events = Events::start("performance", ADMIN, &store, &config.common.events);
        let (mesh, audit) = hrmesh_mesh::mesh::layer(
            "performance",
            PERMISSIONS,
            &config.common.auth,
            store.audit_store(),
        )
        .await?;
        let performance = Performance::new(store, clock);
        let reminders = match &config.notification_url {
            Some(url) => {
                let token = TokenSource::identity(&config.identity, &["notification.create"])
                    .await
                    .context("the reminders' identity")?;
                Some(Reminders::new(performance.clone(), url, config, token)?)
            }
            None => None,
        };
        let job = match (&reminders, config.reminder_interval_secs) {
            (Some(reminders), secs) if secs > 0 => Some(tokio::spawn(
                reminders.clone().run_every(Duration::from_secs(secs)),
            )),
            _ => None,
        };
        let spec = ServeSpec {
            routes: tonic::service::Routes::new(PerformanceServiceServer::new(
                PerformanceGrpc::new(performance, audit),
            ))
            .add_service(events.service()),
            service_names: vec![
                <PerformanceServiceServer<PerformanceGrpc<S, C>> as tonic::server::NamedService>::NAME,
                hrmesh_mesh::events::SERVICE_NAME,
            ],
            descriptor_sets: vec![hrmesh_proto::FILE_DESCRIPTOR_SET],
            cors_allowed_origins: config.common.cors_allowed_origins.clone(),
            mesh,
            dependencies: Vec::new(),
            tls: config.common.tls.clone(),
            site: None,
        };
        let server = RunningServer::start(config.common.listen, spec).await?;
        tracing::info!(addr = %server.addr, reminders = reminders.is_some(), "performance serving");
        Ok(Self {
            server,
            reminders: reminders.map(|reminders| Arc::new(reminders) as Arc<dyn RunReminders>),
            job,
            events,
            rewrap: None,
            retention: None,
        })
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.server.addr
    }

    /// The reminder job, when a notification service is configured (tests run it by hand).
    pub fn reminders(&self) -> Option<&dyn RunReminders> {
        self.reminders.as_deref()
    }

    /// Stops the reminder job, drains the server, then stops the event relay.
    pub async fn stop(self) -> anyhow::Result<()> {
        for job in self.job.into_iter().chain(self.retention) {
            job.abort();
        }
        let stopped = self.server.stop().await;
        self.events.stop().await;
        if let Some(rewrap) = self.rewrap {
            rewrap.stop().await;
        }
        stopped
    }
}
