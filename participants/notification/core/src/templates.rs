//! The message templates, with their placeholders. A template renders only when the payload has a
//! value for every placeholder, so no notification goes out with a hole in it.

use std::collections::BTreeMap;

use hrmesh_domain::Violations;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Template {
    pub id: &'static str,
    pub category: &'static str,
    pub subject: &'static str,
    pub body: &'static str,
}

pub const TEMPLATES: &[Template] = &[
    Template {
        id: "review.completed",
        category: "review",
        subject: "Your {cycle} review is complete",
        body: "Your {cycle} review was completed with the rating {rating}.",
    },
    Template {
        id: "review.completed_for_manager",
        category: "review",
        subject: "The {cycle} review of {employee_name} is complete",
        body: "The {cycle} review of {employee_name} was completed with the rating {rating}.",
    },
    Template {
        id: "time_off.requested",
        category: "time_off",
        subject: "Time-off request from {employee_name}",
        body: "{employee_name} asks for {days} day(s) off from {start_date} to {end_date}.",
    },
    Template {
        id: "time_off.decided",
        category: "time_off",
        subject: "Your time-off request was {decision}",
        body: "Your request for {start_date} to {end_date} was {decision}.",
    },
    Template {
        id: "time_off.expired",
        category: "time_off",
        subject: "Your time-off request expired",
        body: "Your request for {days} day(s) from {start_date} to {end_date} expired before anyone decided it; the days are free again.",
    },
    Template {
        id: "pip.initiated",
        category: "performance",
        subject: "A performance improvement plan was opened",
        body: "A performance improvement plan runs from {start_date} to {end_date}. First check-in: {first_check_in}.",
    },
    Template {
        id: "pip.concluded",
        category: "performance",
        subject: "The performance improvement plan of {employee_name} was concluded",
        body: "The performance improvement plan of {employee_name} was concluded: {outcome}. It ends on {end_date}.",
    },
    Template {
        id: "employee.offboarded",
        category: "hr",
        subject: "Offboarding of {employee_name}",
        body: "{employee_name} leaves on {last_day}. Remaining time off was settled: {settlement}.",
    },
    Template {
        id: "employee.onboarded",
        category: "hr",
        subject: "Welcome, {employee_name}",
        body: "Welcome aboard, {employee_name}! Your probation review is due on {review_date}.",
    },
    Template {
        id: "review.deadline_near",
        category: "review",
        subject: "Review due on {due_date}",
        body: "The {cycle} review of {employee_name} is due on {due_date}.",
    },
    Template {
        id: "pip.check_in_due",
        category: "performance",
        subject: "PIP check-in due on {due_date}",
        body: "A check-in of the performance improvement plan of {employee_name} is due on {due_date}.",
    },
];

/// Renders `template_id` with `payload`: (category, subject, body), or violations naming each
/// missing `payload.<name>`.
pub fn render(
    template_id: &str,
    payload: &BTreeMap<String, String>,
    violations: &mut Violations,
) -> Option<(&'static str, String, String)> {
    let Some(template) = TEMPLATES.iter().find(|t| t.id == template_id) else {
        let known: Vec<_> = TEMPLATES.iter().map(|t| t.id).collect();
        violations.add(
            "template",
            format!("is not a known template (known: {})", known.join(", ")),
        );
        return None;
    };
    let mut missing = Vec::new();
    let subject = fill(template.subject, payload, &mut missing);
    let body = fill(template.body, payload, &mut missing);
    if !missing.is_empty() {
        for name in missing {
            violations.add(format!("payload.{name}"), "is required by the template");
        }
        return None;
    }
    Some((template.category, subject, body))
}

/// Fills the placeholders of `text`; names missing from `payload` are added to `missing` once each.
fn fill<'t>(
    text: &'t str,
    payload: &BTreeMap<String, String>,
    missing: &mut Vec<&'t str>,
) -> String {
    let mut out = String::with_capacity(text.len() + 32);
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        let name = &rest[open + 1..open + close];
        match payload.get(name) {
            Some(value) => out.push_str(value),
            None if !missing.contains(&name) => missing.push(name),
            None => {}
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_complete_payload_renders_and_a_missing_value_is_named() {
        // "cycle" appears in subject and body; "rating" only in the body.
        let mut payload = BTreeMap::new();
        let mut violations = Violations::default();
        assert!(render("review.completed", &payload, &mut violations).is_none());
        let fields: Vec<_> = violations.into_vec().into_iter().map(|v| v.field).collect();
        assert_eq!(
            fields,
            vec!["payload.cycle", "payload.rating"],
            "each missing value named once"
        );
        payload.insert("cycle".to_owned(), "Annual".to_owned());
        let mut violations = Violations::default();
        assert!(render("review.completed", &payload, &mut violations).is_none());
        let fields: Vec<_> = violations.into_vec().into_iter().map(|v| v.field).collect();
        assert_eq!(fields, vec!["payload.rating"]);
        payload.insert("rating".into(), "4".into());
        let mut violations = Violations::default();
        let (category, subject, body) =
            render("review.completed", &payload, &mut violations).expect("renders");
        assert_eq!(
            (category, subject.as_str()),
            ("review", "Your Annual review is complete")
        );
        assert!(body.ends_with("rating 4."));
    }

    #[test]
    fn an_unknown_template_is_a_violation() {
        let mut violations = Violations::default();
        assert!(render("nope", &BTreeMap::new(), &mut violations).is_none());
        assert_eq!(violations.into_vec()[0].field, "template");
    }
}
