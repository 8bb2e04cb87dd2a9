//! The integration events' schema check, the equivalent of a Pact message contract for consumers
//! we do not know: `events/catalogue.json` records each event type's message and the shape of
//! every message and enum its data reaches (field numbers, names, types, labels), and
//! EventService's envelope `Event`. The check fails
//! when a change is incompatible for a consumer of v1 — a type removed or given another message,
//! a field removed, renumbered, renamed, retyped or relabelled, an enum value removed or renamed —
//! and asks for the record to be regenerated (`HRMESH_UPDATE_PACTS=1`) when the catalogue only
//! grew. The catalogue table in `hrmesh-proto` is held to the comment of `events.proto`.

use std::collections::BTreeMap;

use prost_reflect::{Cardinality, DescriptorPool, Kind, MessageDescriptor};
use serde_json::{Value, json};

use crate::consumer::UPDATE_VAR;

const RECORD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/events/catalogue.json");
const PROTO: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../proto/hrmesh/events/v1/events.proto"
);

fn pool() -> DescriptorPool {
    DescriptorPool::decode(hrmesh_proto::FILE_DESCRIPTOR_SET).expect("the descriptor set")
}

fn kind_of(kind: &Kind) -> String {
    match kind {
        Kind::Message(message) => format!("message {}", message.full_name()),
        Kind::Enum(enumeration) => format!("enum {}", enumeration.full_name()),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// Every message and enum `message` reaches (well-known types by name only).
fn reach(
    message: &MessageDescriptor,
    messages: &mut BTreeMap<String, Value>,
    enums: &mut BTreeMap<String, Value>,
) {
    if messages.contains_key(message.full_name()) || message.full_name().starts_with("google.") {
        return;
    }
    let mut fields: Vec<Value> = Vec::new();
    messages.insert(message.full_name().to_owned(), Value::Null);
    for field in message.fields() {
        let label = match field.cardinality() {
            Cardinality::Repeated => "repeated",
            Cardinality::Required => "required",
            Cardinality::Optional if field.supports_presence() => "optional",
            Cardinality::Optional => "singular",
        };
        let kind = field.kind();
        fields.push(json!({
            "number": field.number(),
            "name": field.name(),
            "type": kind_of(&kind),
            "label": label,
        }));
        match kind {
            Kind::Message(inner) => reach(&inner, messages, enums),
            Kind::Enum(enumeration) => {
                let values: Vec<Value> = enumeration
                    .values()
                    .map(|value| json!({"number": value.number(), "name": value.name()}))
                    .collect();
                enums.insert(enumeration.full_name().to_owned(), Value::Array(values));
            }
            _ => {}
        }
    }
    fields.sort_by_key(|field| field["number"].as_i64());
    messages.insert(message.full_name().to_owned(), Value::Array(fields));
}

/// The catalogue as it is now.
fn shape() -> Value {
    let pool = pool();
    let mut types = BTreeMap::new();
    let (mut messages, mut enums) = (BTreeMap::new(), BTreeMap::new());
    for (event_type, message) in hrmesh_proto::events::CATALOGUE {
        let descriptor = pool
            .get_message_by_name(message)
            .unwrap_or_else(|| panic!("{event_type}'s message {message} is not in the protos"));
        types.insert((*event_type).to_owned(), Value::from(*message));
        reach(&descriptor, &mut messages, &mut enums);
    }
    // EventService's envelope too: what ListEvents and WatchEvents answer.
    let envelope = pool
        .get_message_by_name("hrmesh.events.v1.Event")
        .expect("the envelope");
    reach(&envelope, &mut messages, &mut enums);
    json!({"types": types, "messages": messages, "enums": enums})
}

fn entries(value: &Value) -> Vec<&Value> {
    value
        .as_array()
        .map(|items| items.iter().collect())
        .unwrap_or_default()
}

/// What in `now` breaks a consumer written against `recorded`.
fn incompatibilities(recorded: &Value, now: &Value) -> Vec<String> {
    let mut faults = Vec::new();
    for (event_type, message) in recorded["types"].as_object().into_iter().flatten() {
        match now["types"].get(event_type) {
            None => faults.push(format!("type {event_type} was removed")),
            Some(current) if current != message => {
                faults.push(format!(
                    "type {event_type} now carries {current}, not {message}"
                ));
            }
            Some(_) => {}
        }
    }
    for (message, fields) in recorded["messages"].as_object().into_iter().flatten() {
        let Some(current) = now["messages"].get(message) else {
            faults.push(format!("message {message} was removed"));
            continue;
        };
        for field in entries(fields) {
            let number = &field["number"];
            let by_number = entries(current)
                .into_iter()
                .find(|candidate| &candidate["number"] == number);
            match by_number {
                None => faults.push(format!(
                    "{message}: field {} = {number} was removed or renumbered",
                    field["name"]
                )),
                Some(candidate) => {
                    for attribute in ["name", "type", "label"] {
                        if candidate[attribute] != field[attribute] {
                            faults.push(format!(
                                "{message}: field {number} changed its {attribute} from {} to {}",
                                field[attribute], candidate[attribute]
                            ));
                        }
                    }
                }
            }
        }
    }
    for (enumeration, values) in recorded["enums"].as_object().into_iter().flatten() {
        let current = now["enums"]
            .get(enumeration)
            .map(entries)
            .unwrap_or_default();
        for value in entries(values) {
            if !current.contains(&value) {
                faults.push(format!(
                    "{enumeration}: value {} = {} was removed, renamed or renumbered",
                    value["name"], value["number"]
                ));
            }
        }
    }
    faults
}

#[test]
fn the_event_catalogue_changes_only_compatibly() {
    let now = shape();
    let text = serde_json::to_string_pretty(&now).expect("json") + "\n";
    let update = std::env::var_os(UPDATE_VAR).is_some();
    let recorded: Value = match std::fs::read_to_string(RECORD) {
        Ok(recorded) => serde_json::from_str(&recorded).expect("the record is JSON"),
        Err(_) if update => {
            std::fs::write(RECORD, &text).expect("write the record");
            return;
        }
        Err(err) => panic!("{RECORD}: {err}; run with {UPDATE_VAR}=1 to write it"),
    };
    let faults = incompatibilities(&recorded, &now);
    assert!(
        faults.is_empty(),
        "incompatible changes to hrmesh.events.v1 (add a .v2 type instead):\n{}",
        faults.join("\n")
    );
    if recorded != now {
        assert!(
            update,
            "the event catalogue grew compatibly; run with {UPDATE_VAR}=1 to record it in {RECORD}"
        );
        std::fs::write(RECORD, &text).expect("write the record");
    }
}

/// An edit of the catalogue's shape.
type Change<'a> = dyn Fn(&mut Value) + 'a;

#[test]
fn the_check_refuses_what_breaks_a_consumer_and_allows_what_adds() {
    let recorded = shape();
    assert!(incompatibilities(&recorded, &recorded).is_empty());
    let changed = |change: &Change<'_>| {
        let mut now = recorded.clone();
        change(&mut now);
        incompatibilities(&recorded, &now)
    };
    let approved = "hrmesh.events.v1.TimeOffApproved";
    let time_off = "hrmesh.events.v1.TimeOff";
    let breaking: [(&str, &Change<'_>); 6] = [
        ("a removed type", &|now| {
            now["types"]
                .as_object_mut()
                .expect("types")
                .remove("hrmesh.ledger.time_off.approved.v1");
        }),
        ("a type with another message", &|now| {
            now["types"]["hrmesh.ledger.time_off.approved.v1"] =
                json!("hrmesh.events.v1.TimeOffRejected");
        }),
        ("a removed field", &|now| {
            now["messages"][time_off]
                .as_array_mut()
                .expect("fields")
                .remove(0);
        }),
        ("a renumbered field", &|now| {
            now["messages"][time_off][0]["number"] = json!(99);
        }),
        ("a retyped field", &|now| {
            now["messages"][time_off][0]["type"] = json!("int64");
        }),
        ("a removed enum value", &|now| {
            now["enums"]["hrmesh.events.v1.Settlement"]
                .as_array_mut()
                .expect("values")
                .pop();
        }),
    ];
    for (what, change) in breaking {
        assert!(!changed(change).is_empty(), "{what} passed the check");
    }
    let added = changed(&|now| {
        now["messages"][approved]
            .as_array_mut()
            .expect("fields")
            .push(
                json!({"number": 2, "name": "approver_id", "type": "string", "label": "singular"}),
            );
        now["types"]["hrmesh.ledger.time_off.amended.v1"] = json!(approved);
    });
    assert!(added.is_empty(), "{added:?}");
}

#[test]
fn the_catalogue_table_is_the_one_events_proto_documents() {
    let proto = std::fs::read_to_string(PROTO).expect("events.proto");
    let documented: Vec<(String, String)> = proto
        .lines()
        .filter_map(|line| line.strip_prefix("//   hrmesh."))
        .map(|row| {
            let mut columns = row.split_whitespace();
            let event_type = format!("hrmesh.{}", columns.next().expect("a type"));
            let message = format!("hrmesh.events.v1.{}", columns.next().expect("a message"));
            (event_type, message)
        })
        .collect();
    let table: Vec<(String, String)> = hrmesh_proto::events::CATALOGUE
        .iter()
        .map(|(event_type, message)| ((*event_type).to_owned(), (*message).to_owned()))
        .collect();
    assert_eq!(documented, table);
}
