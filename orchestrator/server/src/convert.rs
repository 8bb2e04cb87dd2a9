//! Hand-written conversion between `hrmesh.orchestrator.v1` messages and the core's typed sagas:
//! a start request parsed and validated once into a [`SagaInput`], and back for display; and the
//! decoding of a saga's start from its log row, whatever version wrote it.

use chrono::NaiveDate;
use hrmesh_domain::{EmployeeId, RequestId, Violations, parse_date};
use hrmesh_proto::orchestrator as pb;
use hrmesh_proto::orchestrator::start_saga_request::Input;
use hrmesh_proto::performance as ppb;
use hrmesh_saga_core::codec::{self, SagaStart};
use hrmesh_saga_core::command::{PipOutcome, Rating, ReviewSection};
use hrmesh_saga_core::ids::{PolicyId, RecordId};
use hrmesh_saga_core::sagas::{
    CompleteReview, ConcludePip, DecideTimeOff, ErasePersonalData, InitiatePip, OffboardEmployee,
    OnboardEmployee, RequestTimeOff, Settlement,
    onboard_employee::{GOALS_MAX, POLICIES_MAX},
};
use hrmesh_saga_core::{SagaInput, SagaType};
use hrmesh_saga_store::SagaRecord;
use prost::Message;

/// Free-text reasons at most, in characters.
const TEXT_MAX: usize = 500;
/// A starter goal's title at most, in characters.
const GOAL_TITLE_MAX: usize = 200;

pub fn date_text(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

pub fn rating_pb(rating: Rating) -> ppb::Rating {
    match rating {
        Rating::Unsatisfactory => ppb::Rating::Unsatisfactory,
        Rating::NeedsImprovement => ppb::Rating::NeedsImprovement,
        Rating::MeetsExpectations => ppb::Rating::MeetsExpectations,
        Rating::ExceedsExpectations => ppb::Rating::ExceedsExpectations,
        Rating::Outstanding => ppb::Rating::Outstanding,
    }
}

fn rating(value: i32) -> Option<Rating> {
    Rating::ALL
        .into_iter()
        .find(|rating| rating_pb(*rating) as i32 == value)
}

pub fn section_pb(section: &ReviewSection) -> ppb::ReviewSection {
    ppb::ReviewSection {
        title: section.title.clone(),
        body: section.body.clone(),
    }
}

pub fn saga_type_pb(kind: SagaType) -> pb::SagaType {
    match kind {
        SagaType::CompleteReview => pb::SagaType::CompleteReview,
        SagaType::RequestTimeOff => pb::SagaType::RequestTimeOff,
        SagaType::DecideTimeOff => pb::SagaType::DecideTimeOff,
        SagaType::InitiatePip => pb::SagaType::InitiatePip,
        SagaType::OffboardEmployee => pb::SagaType::OffboardEmployee,
        SagaType::OnboardEmployee => pb::SagaType::OnboardEmployee,
        SagaType::ConcludePip => pb::SagaType::ConcludePip,
        SagaType::ErasePersonalData => pb::SagaType::ErasePersonalData,
    }
}

fn pip_outcome(value: i32) -> Option<PipOutcome> {
    match ppb::PipOutcome::try_from(value) {
        Ok(ppb::PipOutcome::Successful) => Some(PipOutcome::Successful),
        Ok(ppb::PipOutcome::Extended) => Some(PipOutcome::Extended),
        Ok(ppb::PipOutcome::Unsuccessful) => Some(PipOutcome::Unsuccessful),
        _ => None,
    }
}

pub fn pip_outcome_pb(outcome: PipOutcome) -> ppb::PipOutcome {
    match outcome {
        PipOutcome::Successful => ppb::PipOutcome::Successful,
        PipOutcome::Extended => ppb::PipOutcome::Extended,
        PipOutcome::Unsuccessful => ppb::PipOutcome::Unsuccessful,
    }
}

/// Days ahead of today a start or last day may be: the ledger accrues at most that far ahead, and a
/// step after the pivot must not be refused for it.
const DAYS_AHEAD_MAX: i64 = 366;

fn within_a_year(field: &str, day: Option<NaiveDate>, v: &mut Violations) {
    let latest = chrono::Utc::now().date_naive() + chrono::Duration::days(DAYS_AHEAD_MAX);
    if day.is_some_and(|day| day > latest) {
        v.add(
            field,
            format!("must be at most {DAYS_AHEAD_MAX} days after today"),
        );
    }
}

fn optional_policy_id(field: &str, value: &str, v: &mut Violations) -> Option<PolicyId> {
    (!value.is_empty())
        .then(|| PolicyId::parse(field, value, v))
        .flatten()
}

pub fn saga_type(value: i32) -> Option<SagaType> {
    SagaType::ALL
        .into_iter()
        .find(|kind| saga_type_pb(*kind) as i32 == value)
}

fn text(field: &str, value: &str, v: &mut Violations) -> String {
    hrmesh_domain::check_text(field, value, TEXT_MAX, v);
    value.to_owned()
}

fn dates(field: &str, values: &[String], v: &mut Violations) -> Vec<NaiveDate> {
    values
        .iter()
        .enumerate()
        .filter_map(|(n, date)| parse_date(&format!("{field}[{n}]"), date, v))
        .collect()
}

/// Parses a start request: every field a step will need, so that no step after the pivot is
/// refused for bad input. Field violations name the field as the request spells it.
pub fn start_input(request: &pb::StartSagaRequest) -> Result<(RequestId, SagaInput), Violations> {
    let mut v = Violations::default();
    let request_id = RequestId::parse("request_id", &request.request_id, &mut v);
    let Some(input) = &request.input else {
        v.add("input", "is required: one of the saga inputs");
        return Err(v);
    };
    let parsed = parse_input(input, &mut v);
    match (request_id, parsed) {
        (Some(request_id), Some(input)) if v.is_empty() => Ok((request_id, input)),
        _ => Err(v),
    }
}

fn parse_input(input: &Input, v: &mut Violations) -> Option<SagaInput> {
    Some(match input {
        Input::CompleteReview(i) => {
            let review_id = RecordId::parse("complete_review.review_id", &i.review_id, v);
            let rating = rating(i.rating);
            if rating.is_none() {
                v.add(
                    "complete_review.rating",
                    "is required (UNSATISFACTORY to OUTSTANDING)",
                );
            }
            if i.sections.is_empty() {
                v.add("complete_review.sections", "must have at least one section");
            }
            let bonus_policy_id = (!i.bonus_policy_id.is_empty())
                .then(|| PolicyId::parse("complete_review.bonus_policy_id", &i.bonus_policy_id, v))
                .flatten();
            let employee_id = EmployeeId::parse("complete_review.employee_id", &i.employee_id, v);
            SagaInput::CompleteReview(CompleteReview {
                review_id: review_id?,
                employee_id: employee_id?,
                rating: rating?,
                sections: i
                    .sections
                    .iter()
                    .map(|s| ReviewSection {
                        title: s.title.clone(),
                        body: s.body.clone(),
                    })
                    .collect(),
                bonus_policy_id,
            })
        }
        Input::RequestTimeOff(i) => {
            let manager_id = EmployeeId::parse("request_time_off.manager_id", &i.manager_id, v);
            let policy_id = PolicyId::parse("request_time_off.policy_id", &i.policy_id, v);
            let (start, end) = match &i.dates {
                Some(dates) => (
                    parse_date("request_time_off.dates.start_date", &dates.start_date, v),
                    parse_date("request_time_off.dates.end_date", &dates.end_date, v),
                ),
                None => {
                    v.add("request_time_off.dates", "is required");
                    (None, None)
                }
            };
            let half_days = dates("request_time_off.half_days", &i.half_days, v);
            let reason = text("request_time_off.reason", &i.reason, v);
            let employee_id = EmployeeId::parse("request_time_off.employee_id", &i.employee_id, v);
            SagaInput::RequestTimeOff(RequestTimeOff {
                employee_id: employee_id?,
                manager_id: manager_id?,
                policy_id: policy_id?,
                start_date: start?,
                end_date: end?,
                half_days,
                reason,
            })
        }
        Input::DecideTimeOff(i) => {
            let hold_id = RecordId::parse("decide_time_off.hold_id", &i.hold_id, v);
            let reason = text("decide_time_off.reason", &i.reason, v);
            let employee_id = EmployeeId::parse("decide_time_off.employee_id", &i.employee_id, v);
            SagaInput::DecideTimeOff(DecideTimeOff {
                employee_id: employee_id?,
                hold_id: hold_id?,
                approve: i.approve,
                reason,
            })
        }
        Input::InitiatePip(i) => {
            let manager_id = EmployeeId::parse("initiate_pip.manager_id", &i.manager_id, v);
            if i.objectives.is_empty() {
                v.add(
                    "initiate_pip.objectives",
                    "must have at least one objective",
                );
            }
            if i.check_in_dates.is_empty() {
                v.add("initiate_pip.check_in_dates", "must have at least one date");
            }
            let start = parse_date("initiate_pip.start_date", &i.start_date, v);
            let end = parse_date("initiate_pip.end_date", &i.end_date, v);
            let check_in_dates = dates("initiate_pip.check_in_dates", &i.check_in_dates, v);
            if i.reason.trim().is_empty() {
                v.add("initiate_pip.reason", "is required");
            }
            let bonus_policy_id =
                optional_policy_id("initiate_pip.bonus_policy_id", &i.bonus_policy_id, v);
            let employee_id = EmployeeId::parse("initiate_pip.employee_id", &i.employee_id, v);
            SagaInput::InitiatePip(InitiatePip {
                employee_id: employee_id?,
                manager_id: manager_id?,
                reason: i.reason.clone(),
                objectives: i.objectives.clone(),
                start_date: start?,
                end_date: end?,
                check_in_dates,
                bonus_policy_id,
            })
        }
        Input::ErasePersonalData(i) => {
            let employee_id =
                EmployeeId::parse("erase_personal_data.employee_id", &i.employee_id, v);
            SagaInput::ErasePersonalData(ErasePersonalData {
                employee_id: employee_id?,
            })
        }
        Input::ConcludePip(i) => {
            let pip_id = RecordId::parse("conclude_pip.pip_id", &i.pip_id, v);
            let outcome = pip_outcome(i.outcome);
            if outcome.is_none() {
                v.add(
                    "conclude_pip.outcome",
                    "is required: SUCCESSFUL, EXTENDED or UNSUCCESSFUL",
                );
            }
            let notes = text("conclude_pip.notes", &i.notes, v);
            let new_end_date = match (outcome, i.new_end_date.is_empty()) {
                (Some(PipOutcome::Extended), true) => {
                    v.add("conclude_pip.new_end_date", "is required for EXTENDED");
                    None
                }
                (Some(PipOutcome::Extended), false) => {
                    parse_date("conclude_pip.new_end_date", &i.new_end_date, v)
                }
                (_, false) => {
                    v.add("conclude_pip.new_end_date", "is only for EXTENDED");
                    None
                }
                (_, true) => None,
            };
            let additional = dates(
                "conclude_pip.additional_check_in_dates",
                &i.additional_check_in_dates,
                v,
            );
            if !additional.is_empty() && outcome != Some(PipOutcome::Extended) {
                v.add(
                    "conclude_pip.additional_check_in_dates",
                    "are only for EXTENDED",
                );
            }
            let employee_id = EmployeeId::parse("conclude_pip.employee_id", &i.employee_id, v);
            SagaInput::ConcludePip(ConcludePip {
                pip_id: pip_id?,
                employee_id: employee_id?,
                outcome: outcome?,
                notes,
                new_end_date,
                additional_check_in_dates: additional,
            })
        }
        Input::OffboardEmployee(i) => {
            let last_day = parse_date("offboard_employee.last_day", &i.last_day, v);
            within_a_year("offboard_employee.last_day", last_day, v);
            // A caller meaning one policy must not have every policy settled in its stead.
            #[allow(deprecated)]
            if !i.policy_id.is_empty() {
                v.add(
                    "offboard_employee.policy_id",
                    "is no longer taken (must be empty): every policy assigned is settled",
                );
            }
            let settlement = match pb::Settlement::try_from(i.settlement) {
                Ok(pb::Settlement::Payout) => Some(Settlement::Payout),
                Ok(pb::Settlement::Forfeit) => Some(Settlement::Forfeit),
                _ => {
                    v.add("offboard_employee.settlement", "must be PAYOUT or FORFEIT");
                    None
                }
            };
            let hr_recipient_id =
                EmployeeId::parse("offboard_employee.hr_recipient_id", &i.hr_recipient_id, v);
            let reason = text("offboard_employee.reason", &i.reason, v);
            let employee_id = EmployeeId::parse("offboard_employee.employee_id", &i.employee_id, v);
            SagaInput::OffboardEmployee(OffboardEmployee {
                employee_id: employee_id?,
                last_day: last_day?,
                settlement: settlement?,
                hr_recipient_id: hr_recipient_id?,
                reason,
            })
        }
        Input::OnboardEmployee(i) => {
            let manager_id = EmployeeId::parse("onboard_employee.manager_id", &i.manager_id, v);
            let mut policy_ids = Vec::new();
            if !i.policy_id.is_empty() {
                policy_ids.extend(PolicyId::parse(
                    "onboard_employee.policy_id",
                    &i.policy_id,
                    v,
                ));
            }
            for (n, policy_id) in i.policy_ids.iter().enumerate() {
                let field = format!("onboard_employee.policy_ids[{n}]");
                match PolicyId::parse(&field, policy_id, v) {
                    Some(id) if policy_ids.contains(&id) => v.add(field, "is listed twice"),
                    Some(id) => policy_ids.push(id),
                    None => {}
                }
            }
            if i.policy_id.is_empty() && i.policy_ids.is_empty() {
                v.add(
                    "onboard_employee.policy_ids",
                    "is required: at least one policy (policy_id or policy_ids)",
                );
            } else if i.policy_ids.len() + usize::from(!i.policy_id.is_empty()) > POLICIES_MAX {
                v.add(
                    "onboard_employee.policy_ids",
                    format!("must name at most {POLICIES_MAX} policies"),
                );
            }
            let start = parse_date("onboard_employee.start_date", &i.start_date, v);
            within_a_year("onboard_employee.start_date", start, v);
            let due = parse_date(
                "onboard_employee.probation_review_due_date",
                &i.probation_review_due_date,
                v,
            );
            if let (Some(start), Some(due)) = (start, due)
                && due <= start
            {
                v.add(
                    "onboard_employee.probation_review_due_date",
                    "must be after start_date",
                );
            }
            #[allow(deprecated)]
            if !i.first_accrual_days.is_empty() {
                v.add(
                    "onboard_employee.first_accrual_days",
                    "is no longer taken: the first accrual follows each policy's accrual rule",
                );
            }
            if i.starter_goals.len() > GOALS_MAX {
                v.add(
                    "onboard_employee.starter_goals",
                    format!("must have at most {GOALS_MAX} goals"),
                );
            }
            for (n, goal) in i.starter_goals.iter().enumerate() {
                if goal.trim().is_empty() || goal.chars().count() > GOAL_TITLE_MAX {
                    v.add(
                        format!("onboard_employee.starter_goals[{n}]"),
                        format!("must be 1-{GOAL_TITLE_MAX} characters"),
                    );
                }
            }
            let employee_id = EmployeeId::parse("onboard_employee.employee_id", &i.employee_id, v);
            SagaInput::OnboardEmployee(OnboardEmployee {
                employee_id: employee_id?,
                manager_id: manager_id?,
                policy_ids,
                start_date: start?,
                probation_review_due_date: due?,
                starter_goals: i.starter_goals.clone(),
            })
        }
    })
}

/// The input as the API shows it.
pub fn input_pb(input: &SagaInput) -> Input {
    let dates = |dates: &[NaiveDate]| dates.iter().map(|d| date_text(*d)).collect();
    match input {
        SagaInput::CompleteReview(i) => Input::CompleteReview(pb::CompleteReviewInput {
            review_id: i.review_id.to_string(),
            employee_id: i.employee_id.to_string(),
            rating: rating_pb(i.rating) as i32,
            sections: i.sections.iter().map(section_pb).collect(),
            bonus_policy_id: i
                .bonus_policy_id
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
        }),
        SagaInput::RequestTimeOff(i) => Input::RequestTimeOff(pb::RequestTimeOffInput {
            employee_id: i.employee_id.to_string(),
            manager_id: i.manager_id.to_string(),
            policy_id: i.policy_id.to_string(),
            dates: Some(hrmesh_proto::common::DateRange {
                start_date: date_text(i.start_date),
                end_date: date_text(i.end_date),
            }),
            half_days: dates(&i.half_days),
            reason: i.reason.clone(),
        }),
        SagaInput::DecideTimeOff(i) => Input::DecideTimeOff(pb::DecideTimeOffInput {
            employee_id: i.employee_id.to_string(),
            hold_id: i.hold_id.to_string(),
            approve: i.approve,
            reason: i.reason.clone(),
        }),
        SagaInput::InitiatePip(i) => Input::InitiatePip(pb::InitiatePipInput {
            employee_id: i.employee_id.to_string(),
            manager_id: i.manager_id.to_string(),
            reason: i.reason.clone(),
            objectives: i.objectives.clone(),
            start_date: date_text(i.start_date),
            end_date: date_text(i.end_date),
            check_in_dates: dates(&i.check_in_dates),
            bonus_policy_id: i
                .bonus_policy_id
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
        }),
        SagaInput::ErasePersonalData(i) => Input::ErasePersonalData(pb::ErasePersonalDataInput {
            employee_id: i.employee_id.to_string(),
        }),
        SagaInput::ConcludePip(i) => Input::ConcludePip(pb::ConcludePipInput {
            pip_id: i.pip_id.to_string(),
            employee_id: i.employee_id.to_string(),
            outcome: pip_outcome_pb(i.outcome) as i32,
            notes: i.notes.clone(),
            new_end_date: i.new_end_date.map(date_text).unwrap_or_default(),
            additional_check_in_dates: dates(&i.additional_check_in_dates),
        }),
        SagaInput::OffboardEmployee(i) => Input::OffboardEmployee(pb::OffboardEmployeeInput {
            employee_id: i.employee_id.to_string(),
            last_day: date_text(i.last_day),
            #[allow(deprecated)]
            policy_id: String::new(),
            settlement: match i.settlement {
                Settlement::Payout => pb::Settlement::Payout,
                Settlement::Forfeit => pb::Settlement::Forfeit,
            } as i32,
            hr_recipient_id: i.hr_recipient_id.to_string(),
            reason: i.reason.clone(),
        }),
        SagaInput::OnboardEmployee(i) => Input::OnboardEmployee(pb::OnboardEmployeeInput {
            employee_id: i.employee_id.to_string(),
            manager_id: i.manager_id.to_string(),
            #[allow(deprecated)]
            policy_id: String::new(),
            policy_ids: i.policy_ids.iter().map(ToString::to_string).collect(),
            start_date: date_text(i.start_date),
            #[allow(deprecated)]
            first_accrual_days: String::new(),
            probation_review_due_date: date_text(i.probation_review_due_date),
            starter_goals: i.starter_goals.clone(),
        }),
    }
}

/// A saga's start from its log row: version 2 is the core's encoding; version 1 stored the
/// protobuf `StartSagaRequest`, parsed here as a new start would be (it had passed the same
/// rules when it was started) and made on nobody's behalf (the actor was not recorded).
pub fn decode_start(record: &SagaRecord) -> Result<SagaStart, String> {
    match record.log_version {
        1 => {
            let request = pb::StartSagaRequest::decode(record.input.as_slice())
                .map_err(|err| format!("version 1 start: {err}"))?;
            let (_, input) = start_input(&request).map_err(|v| {
                let fields: Vec<String> = v
                    .into_vec()
                    .into_iter()
                    .map(|f| format!("{}: {}", f.field, f.description))
                    .collect();
                format!("version 1 start no longer valid: {}", fields.join("; "))
            })?;
            Ok(SagaStart {
                actor: String::new(),
                input,
            })
        }
        version => codec::decode_start(version, &record.input).map_err(|err| err.to_string()),
    }
}
