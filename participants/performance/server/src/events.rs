//! Performance's events as the catalogue's messages (`hrmesh.events.v1`), encoded for the outbox.
//! Free text (sections, comments, notes, reasons, objectives) stays out of every event.

use hrmesh_mesh::events::{pack, timestamp};
use hrmesh_performance_core::{PerformanceEvent, Pip, PipOutcome, Review};
use hrmesh_proto::events as pb;

fn review_ref(review: &Review) -> pb::ReviewRef {
    pb::ReviewRef {
        review_id: review.id.clone(),
        employee_id: review.employee_id.to_string(),
        manager_id: review.manager_id.to_string(),
        cycle: review.cycle.as_str().to_owned(),
        period_start: review.period_start.to_string(),
        period_end: review.period_end.to_string(),
    }
}

fn rating(review: &Review) -> u32 {
    review.rating.map_or(0, |rating| rating as u32)
}

fn outcome(pip: &Pip) -> pb::PipOutcome {
    match pip.outcomes.last().map(|record| record.outcome) {
        Some(PipOutcome::Successful) => pb::PipOutcome::Successful,
        Some(PipOutcome::Extended) => pb::PipOutcome::Extended,
        Some(PipOutcome::Unsuccessful) => pb::PipOutcome::Unsuccessful,
        None => pb::PipOutcome::Unspecified,
    }
}

/// The outbox's encoder for performance
/// ([`hrmesh_performance_store::SeaPerformanceStore::open`]).
pub fn encode(event: &PerformanceEvent) -> Vec<u8> {
    match event {
        PerformanceEvent::ReviewCreated(review) => pack(&pb::ReviewCreated {
            review: Some(review_ref(review)),
            due_date: review.due_date.to_string(),
        }),
        PerformanceEvent::ReviewSubmitted(review) => pack(&pb::ReviewSubmitted {
            review: Some(review_ref(review)),
            rating: rating(review),
        }),
        PerformanceEvent::ReviewCompleted(review) => pack(&pb::ReviewCompleted {
            review: Some(review_ref(review)),
            rating: rating(review),
            completed_at: Some(timestamp(review.updated_at)),
        }),
        PerformanceEvent::ReviewAcknowledged(review) => pack(&pb::ReviewAcknowledged {
            review: Some(review_ref(review)),
        }),
        PerformanceEvent::GoalCompleted(goal) => pack(&pb::GoalCompleted {
            goal_id: goal.id.clone(),
            employee_id: goal.employee_id.to_string(),
            review_id: goal.review_id.clone().unwrap_or_default(),
            weight: u32::from(goal.weight),
            target_date: goal.target_date.to_string(),
        }),
        PerformanceEvent::PipInitiated(pip) => pack(&pb::PipInitiated {
            pip_id: pip.id.clone(),
            employee_id: pip.employee_id.to_string(),
            manager_id: pip.manager_id.to_string(),
            start_date: pip.start_date.to_string(),
            end_date: pip.end_date.to_string(),
            check_in_dates: pip.check_in_dates.iter().map(ToString::to_string).collect(),
        }),
        PerformanceEvent::PipCheckedIn(pip) => {
            let last = pip.check_ins.last();
            pack(&pb::PipCheckedIn {
                pip_id: pip.id.clone(),
                employee_id: pip.employee_id.to_string(),
                check_in_date: last.map(|c| c.date.to_string()).unwrap_or_default(),
                on_track: last.is_some_and(|c| c.on_track),
            })
        }
        PerformanceEvent::PipConcluded(pip) => pack(&pb::PipConcluded {
            pip_id: pip.id.clone(),
            employee_id: pip.employee_id.to_string(),
            manager_id: pip.manager_id.to_string(),
            outcome: outcome(pip).into(),
            end_date: pip.end_date.to_string(),
        }),
        PerformanceEvent::FeedbackGiven(feedback) => pack(&pb::FeedbackGiven {
            feedback_id: feedback.id.clone(),
            employee_id: feedback.employee_id.to_string(),
            // `visible()` already dropped an anonymous giver; check again, it must never leak.
            giver_id: if feedback.anonymous {
                String::new()
            } else {
                feedback
                    .giver_id
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default()
            },
            anonymous: feedback.anonymous,
            relationship: feedback.relationship.as_str().to_owned(),
            review_id: feedback.review_id.clone().unwrap_or_default(),
            rating: feedback.rating.map_or(0, |rating| rating as u32),
        }),
    }
}
