use std::collections::HashSet;
use std::future::Future;

use chrono::{DateTime, NaiveDate, Utc};
use hrmesh_domain::{Clock, EmployeeId};

use crate::{
    CancelPipOpenedBy, CloseEmployeeRecords, Closure, CreateGoal, CreateReview, ErasePersonalData,
    Erasure, Feedback, FeedbackFilter, FeedbackRequest, FeedbackRequestFilter,
    FeedbackRequestStatus, GOAL_WEIGHT_TOTAL_MAX, GiveFeedback, Goal, GoalFilter, GoalStatus,
    OpenPip, Page, PerformanceError, Pip, PipFilter, PipStatus, Rejection, ReopenEmployeeRecords,
    RequestFeedback, Resource, Result, Review, ReviewFilter, ReviewState, UpdateGoal, UpdatePip,
    UpdateReview,
};

/// The storage port. Every mutating method runs in one database transaction together with the
/// idempotency inbox entry of the command's request id, and enforces the rules that span records
/// (limits, one active PIP, goal weights) atomically, serialised per employee.
pub trait PerformanceStore: Send + Sync + 'static {
    /// Stores `review` unless the employee reached the review limit or a review of the same
    /// cycle and period exists.
    fn create_review(
        &self,
        command: &CreateReview,
        review: Review,
    ) -> impl Future<Output = Result<Review>> + Send;

    /// Applies the command to the review as loaded in the transaction ([`UpdateReview::apply_to`]:
    /// the expected employee, then the state machine).
    fn update_review(
        &self,
        command: &UpdateReview,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Review>> + Send;

    fn review(&self, id: &str) -> impl Future<Output = Result<Option<Review>>> + Send;

    /// Reviews matching `filter`, newest first, after the review `after`.
    fn reviews(
        &self,
        filter: &ReviewFilter,
        after: Option<&str>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Review>>> + Send;

    /// Stores `goal` within the goal limit and its review's weight total ([`check_goal_weights`]).
    fn create_goal(
        &self,
        command: &CreateGoal,
        goal: Goal,
    ) -> impl Future<Output = Result<Goal>> + Send;

    fn update_goal(
        &self,
        command: &UpdateGoal,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Goal>> + Send;

    fn goal(&self, id: &str) -> impl Future<Output = Result<Option<Goal>>> + Send;

    fn goals(
        &self,
        filter: &GoalFilter,
        after: Option<&str>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Goal>>> + Send;

    /// Stores `pip` unless the employee has an active PIP.
    fn open_pip(&self, command: &OpenPip, pip: Pip) -> impl Future<Output = Result<Pip>> + Send;

    /// Applies the command to the PIP as loaded in the transaction ([`UpdatePip::apply_to`]); the
    /// flag says whether anything changed.
    fn update_pip(
        &self,
        command: &UpdatePip,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(Pip, bool)>> + Send;

    /// Cancels the PIP `opened_by_request_id` opened ([`CancelPipOpenedBy::apply_to`]);
    /// `(None, false)` when it opened none.
    fn cancel_pip_opened_by(
        &self,
        command: &CancelPipOpenedBy,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(Option<Pip>, bool)>> + Send;

    fn pip(&self, id: &str) -> impl Future<Output = Result<Option<Pip>>> + Send;

    fn pips(
        &self,
        filter: &PipFilter,
        after: Option<&str>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Pip>>> + Send;

    fn request_feedback(
        &self,
        command: &RequestFeedback,
        request: FeedbackRequest,
    ) -> impl Future<Output = Result<FeedbackRequest>> + Send;

    fn feedback_requests(
        &self,
        filter: &FeedbackRequestFilter,
        after: Option<&str>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<FeedbackRequest>>> + Send;

    /// Stores `feedback` within the feedback limit, marking the request it answers as given
    /// ([`answer_feedback_request`]).
    fn give_feedback(
        &self,
        command: &GiveFeedback,
        feedback: Feedback,
    ) -> impl Future<Output = Result<Feedback>> + Send;

    /// Feedback about an employee as stored (callers see [`Feedback::visible`]).
    fn feedback(
        &self,
        filter: &FeedbackFilter,
        after: Option<&str>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Feedback>>> + Send;

    fn close_employee_records(
        &self,
        command: &CloseEmployeeRecords,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Closure>> + Send;

    /// Destroys the employee's data keys: their free text reads as erased from then on.
    fn erase_personal_data(
        &self,
        command: &ErasePersonalData,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Erasure>> + Send;

    /// Reopens what the close request closed; `None` when there was no such close.
    fn reopen_employee_records(
        &self,
        command: &ReopenEmployeeRecords,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<Closure>>> + Send;

    /// Open reviews due within `[from, to]`, by id, after `after`.
    fn open_reviews_due(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        after: Option<&str>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Review>>> + Send;

    /// Active PIPs whose period overlaps `[from, to]`, by id, after `after`.
    fn active_pips_between(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        after: Option<&str>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Pip>>> + Send;

    /// Which of `keys` are recorded as sent reminders.
    fn reminders_sent(
        &self,
        keys: &[String],
    ) -> impl Future<Output = Result<HashSet<String>>> + Send;

    /// Records a reminder as sent (a second record of the same key is a no-op).
    fn record_reminder_sent(
        &self,
        key: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<()>> + Send;
}

/// Checks that a goal of `weight` fits its review next to goals already weighing `existing`.
pub fn check_goal_weights(review_id: &str, existing: u32, weight: u8) -> Result<()> {
    let weight_total = existing + u32::from(weight);
    if weight_total > GOAL_WEIGHT_TOTAL_MAX {
        return Err(Rejection::GoalWeightsExceeded {
            review_id: review_id.to_owned(),
            weight_total,
        }
        .into());
    }
    Ok(())
}

/// Checks that `review` can carry goals or feedback of `employee_id`.
pub fn check_review_of(review: &Review, employee_id: &EmployeeId) -> Result<()> {
    if &review.employee_id != employee_id {
        return Err(PerformanceError::invalid(
            "review_id",
            format!("is a review of another employee than {employee_id}"),
        ));
    }
    Ok(())
}

/// Answers `request` with `feedback`: the request must be open and addressed to the giver about
/// the employee; its review and anonymity then apply to the feedback.
pub fn answer_feedback_request(
    request: &mut FeedbackRequest,
    feedback: &mut Feedback,
) -> Result<()> {
    let giver = feedback
        .giver_id
        .clone()
        .ok_or_else(|| PerformanceError::Internal("feedback without its giver".into()))?;
    request.check_answer(&feedback.employee_id, &giver)?;
    match (&feedback.review_id, &request.review_id) {
        (Some(given), Some(requested)) if given != requested => {
            return Err(Rejection::FeedbackRequestMismatch {
                feedback_request_id: request.id.clone(),
                problem: format!("belongs to review {requested}, not {given}"),
            }
            .into());
        }
        (None, Some(requested)) => feedback.review_id = Some(requested.clone()),
        _ => {}
    }
    if request.anonymous && !feedback.anonymous {
        feedback.make_anonymous();
    }
    feedback.relationship = request.relationship;
    request.mark_given()
}

/// The performance service: what the gRPC handlers call.
#[derive(Debug, Clone)]
pub struct Performance<S, C> {
    store: S,
    clock: C,
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn page<T>(mut items: Vec<T>, limit: u32, id: impl Fn(&T) -> &str) -> Page<T> {
    let next_after = (items.len() > limit as usize).then(|| {
        items.truncate(limit as usize);
        items.last().map(|item| id(item).to_owned())
    });
    Page {
        items,
        next_after: next_after.flatten(),
    }
}

impl<S: PerformanceStore, C: Clock> Performance<S, C> {
    pub fn new(store: S, clock: C) -> Self {
        Self { store, clock }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn clock(&self) -> &C {
        &self.clock
    }

    pub async fn create_review(&self, command: CreateReview) -> Result<Review> {
        let now = self.clock.now();
        let review = Review {
            id: new_id(),
            employee_id: command.employee_id.clone(),
            manager_id: command.manager_id.clone(),
            cycle: command.cycle,
            period_start: command.period_start,
            period_end: command.period_end,
            due_date: command.due_date,
            state: ReviewState::Draft,
            rating: None,
            self_assessment: Vec::new(),
            manager_assessment: Vec::new(),
            employee_comment: String::new(),
            finalize_request_id: None,
            history: Vec::new(),
            created_at: now,
            updated_at: now,
        };
        self.store.create_review(&command, review).await
    }

    pub async fn update_review(&self, command: UpdateReview) -> Result<Review> {
        self.store.update_review(&command, self.clock.now()).await
    }

    pub async fn review(&self, id: &str) -> Result<Review> {
        self.store
            .review(id)
            .await?
            .ok_or_else(|| PerformanceError::not_found(Resource::Review, id))
    }

    pub async fn reviews(
        &self,
        filter: &ReviewFilter,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<Review>> {
        let items = self.store.reviews(filter, after, limit + 1).await?;
        Ok(page(items, limit, |review| &review.id))
    }

    pub async fn create_goal(&self, command: CreateGoal) -> Result<Goal> {
        let now = self.clock.now();
        let goal = Goal {
            id: new_id(),
            employee_id: command.employee_id.clone(),
            title: command.title.clone(),
            description: command.description.clone(),
            target_date: command.target_date,
            weight: command.weight,
            review_id: command.review_id.clone(),
            status: GoalStatus::NotStarted,
            progress: Vec::new(),
            cancel_reason: String::new(),
            created_at: now,
            updated_at: now,
        };
        self.store.create_goal(&command, goal).await
    }

    pub async fn update_goal(&self, command: UpdateGoal) -> Result<Goal> {
        self.store.update_goal(&command, self.clock.now()).await
    }

    pub async fn goal(&self, id: &str) -> Result<Goal> {
        self.store
            .goal(id)
            .await?
            .ok_or_else(|| PerformanceError::not_found(Resource::Goal, id))
    }

    pub async fn goals(
        &self,
        filter: &GoalFilter,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<Goal>> {
        let items = self.store.goals(filter, after, limit + 1).await?;
        Ok(page(items, limit, |goal| &goal.id))
    }

    pub async fn open_pip(&self, command: OpenPip) -> Result<Pip> {
        let now = self.clock.now();
        let pip = Pip {
            id: new_id(),
            employee_id: command.employee_id.clone(),
            manager_id: command.manager_id.clone(),
            reason: command.reason.clone(),
            objectives: command.objectives.clone(),
            start_date: command.start_date,
            end_date: command.end_date,
            check_in_dates: command.check_in_dates.clone(),
            check_ins: Vec::new(),
            status: PipStatus::Active,
            outcomes: Vec::new(),
            opened_by_request_id: command.request_id.as_str().to_owned(),
            cancel_reason: String::new(),
            created_at: now,
            updated_at: now,
        };
        self.store.open_pip(&command, pip).await
    }

    pub async fn update_pip(&self, command: UpdatePip) -> Result<(Pip, bool)> {
        self.store.update_pip(&command, self.clock.now()).await
    }

    pub async fn cancel_pip_opened_by(
        &self,
        command: CancelPipOpenedBy,
    ) -> Result<(Option<Pip>, bool)> {
        self.store
            .cancel_pip_opened_by(&command, self.clock.now())
            .await
    }

    pub async fn pip(&self, id: &str) -> Result<Pip> {
        self.store
            .pip(id)
            .await?
            .ok_or_else(|| PerformanceError::not_found(Resource::Pip, id))
    }

    pub async fn pips(
        &self,
        filter: &PipFilter,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<Pip>> {
        let items = self.store.pips(filter, after, limit + 1).await?;
        Ok(page(items, limit, |pip| &pip.id))
    }

    pub async fn request_feedback(&self, command: RequestFeedback) -> Result<FeedbackRequest> {
        let request = FeedbackRequest {
            id: new_id(),
            employee_id: command.employee_id.clone(),
            giver_id: command.giver_id.clone(),
            relationship: command.relationship,
            review_id: command.review_id.clone(),
            anonymous: command.anonymous,
            due_date: command.due_date,
            status: FeedbackRequestStatus::Open,
            created_at: self.clock.now(),
        };
        self.store.request_feedback(&command, request).await
    }

    pub async fn feedback_requests(
        &self,
        filter: &FeedbackRequestFilter,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<FeedbackRequest>> {
        let items = self
            .store
            .feedback_requests(filter, after, limit + 1)
            .await?;
        Ok(page(items, limit, |request| &request.id))
    }

    /// Gives feedback; the answer never names an anonymous giver.
    pub async fn give_feedback(&self, command: GiveFeedback) -> Result<Feedback> {
        let mut feedback = Feedback {
            id: new_id(),
            employee_id: command.employee_id.clone(),
            giver_id: Some(command.giver_id.clone()),
            relationship: command.relationship,
            anonymous: command.anonymous,
            review_id: command.review_id.clone(),
            feedback_request_id: command.feedback_request_id.clone(),
            rating: command.rating,
            strengths: command.strengths.clone(),
            improvements: command.improvements.clone(),
            created_at: self.clock.now(),
        };
        if feedback.anonymous {
            feedback.make_anonymous();
        }
        Ok(self
            .store
            .give_feedback(&command, feedback)
            .await?
            .visible())
    }

    /// Feedback about an employee, newest first; anonymous entries without their giver.
    pub async fn feedback(
        &self,
        filter: &FeedbackFilter,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<Feedback>> {
        let items = self.store.feedback(filter, after, limit + 1).await?;
        let mut page = page(items, limit, |feedback| &feedback.id);
        page.items = page.items.into_iter().map(Feedback::visible).collect();
        Ok(page)
    }

    pub async fn close_employee_records(&self, command: CloseEmployeeRecords) -> Result<Closure> {
        self.store
            .close_employee_records(&command, self.clock.now())
            .await
    }

    pub async fn erase_personal_data(&self, command: ErasePersonalData) -> Result<Erasure> {
        self.store
            .erase_personal_data(&command, self.clock.now())
            .await
    }

    pub async fn reopen_employee_records(
        &self,
        command: ReopenEmployeeRecords,
    ) -> Result<Option<Closure>> {
        self.store
            .reopen_employee_records(&command, self.clock.now())
            .await
    }
}
