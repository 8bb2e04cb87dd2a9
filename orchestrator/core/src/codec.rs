//! The saga log's encoding, versioned; every version ever written stays readable. A saga's row
//! records the version its start was written in. From version 2 on each event says its own
//! version (`{"v":2,"event":…}`), so a saga started before an upgrade and resumed after it has
//! events of both.
//!
//! - **Version 2** (now): the start is [`SagaStart`] and each event an [`Event`], as JSON.
//! - **Version 1**: the start was the protobuf `StartSagaRequest` (decoded by the server, which
//!   owns the wire types, into a [`SagaInput`]), and events were JSON with string-map outputs
//!   and untimed failures. They read as version 2 events: outputs by the keys each step wrote,
//!   and a failed round of a compensatable step as [`Event::StepAbandoned`] — the version 1
//!   engine compensated after one failed round, and a resumed saga must never go forward after
//!   its undos ran.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::decide::{Event, Failure};
use crate::output::StepOutput;
use crate::sagas::SagaInput;
use crate::{Definition, Direction, StepKind};

/// The version this build writes. Version 3 has version 2's encoding; it marks sagas started
/// with the step lists of initiate-pip, offboard-employee and onboard-employee that freeze accruals,
/// end assignments and settle every policy (see [`steps_changed_since`]).
pub const LOG_VERSION: u32 = 3;
/// The first version whose starts and events are JSON.
const JSON_VERSION: u32 = 2;

/// Whether a saga of `saga_type` logged at `version` was started with other steps than this build
/// runs: it cannot be resumed step by step (its logged step numbers mean other steps).
pub fn steps_changed_since(saga_type: crate::SagaType, version: u32) -> bool {
    use crate::SagaType::*;
    version < 3 && matches!(saga_type, InitiatePip | OffboardEmployee | OnboardEmployee)
}

/// What a saga was started with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SagaStart {
    /// The subject of the token that started it: the end user its calls act on behalf of. Empty
    /// for sagas started before the log recorded it.
    pub actor: String,
    pub input: SagaInput,
}

#[derive(Debug, thiserror::Error)]
#[error("saga log version {version}: {message}")]
pub struct CodecError {
    pub version: u32,
    pub message: String,
}

fn error(version: u32, message: impl std::fmt::Display) -> CodecError {
    CodecError {
        version,
        message: message.to_string(),
    }
}

pub fn encode_start(start: &SagaStart) -> Vec<u8> {
    // A derived Serialize of plain data cannot fail.
    serde_json::to_vec(start).unwrap_or_default()
}

/// Decodes a version 2 start; version 1 starts are protobuf (see the module documentation).
pub fn decode_start(version: u32, bytes: &[u8]) -> Result<SagaStart, CodecError> {
    if !(JSON_VERSION..=LOG_VERSION).contains(&version) {
        return Err(error(version, "not a JSON start"));
    }
    serde_json::from_slice(bytes).map_err(|err| error(version, err))
}

#[derive(Serialize)]
struct Versioned<'a> {
    v: u32,
    event: &'a Event,
}

pub fn encode_event(event: &Event) -> String {
    // A derived Serialize of plain data cannot fail.
    serde_json::to_string(&Versioned {
        v: LOG_VERSION,
        event,
    })
    .unwrap_or_default()
}

/// Decodes one event of a saga of `definition`: version 2 and later say their version; an event
/// without one is version 1.
pub fn decode_event(definition: &Definition, text: &str) -> Result<Event, CodecError> {
    let mut value: serde_json::Value = serde_json::from_str(text).map_err(|err| error(0, err))?;
    match value.get("v").map(serde_json::Value::as_u64) {
        Some(Some(version))
            if (u64::from(JSON_VERSION)..=u64::from(LOG_VERSION)).contains(&version) =>
        {
            serde_json::from_value(value["event"].take()).map_err(|err| error(LOG_VERSION, err))
        }
        Some(other) => Err(error(0, format!("unknown event version {other:?}"))),
        None => {
            let legacy: V1Event = serde_json::from_value(value).map_err(|err| error(1, err))?;
            Ok(legacy.upgrade(definition))
        }
    }
}

/// An event as version 1 wrote it.
#[derive(Debug, Deserialize)]
enum V1Event {
    StepSucceeded {
        step: usize,
        output: BTreeMap<String, String>,
    },
    StepRejected {
        step: usize,
        reason: String,
    },
    StepFailed {
        step: usize,
        error: String,
    },
    CompensationSucceeded {
        step: usize,
    },
    CompensationFailed {
        step: usize,
        error: String,
    },
    OperatorRetried {
        actor: String,
    },
    OperatorSkipped {
        step: usize,
        direction: Direction,
        actor: String,
        justification: String,
    },
    OperatorMarkedCompensated {
        actor: String,
        justification: String,
    },
}

impl V1Event {
    fn upgrade(self, definition: &Definition) -> Event {
        match self {
            V1Event::StepSucceeded { step, output } => Event::StepSucceeded {
                step,
                output: StepOutput::from_legacy(&output),
            },
            V1Event::StepRejected { step, reason } => Event::StepRejected { step, reason },
            V1Event::StepFailed { step, error } => {
                if definition.step(step).map(|s| s.kind) == Some(StepKind::Compensatable) {
                    Event::StepAbandoned {
                        step,
                        reason: error,
                    }
                } else {
                    Event::StepFailed {
                        step,
                        failure: Failure::unavailable(error, 0),
                    }
                }
            }
            V1Event::CompensationSucceeded { step } => Event::CompensationSucceeded { step },
            V1Event::CompensationFailed { step, error } => Event::CompensationFailed {
                step,
                failure: Failure::unavailable(error, 0),
            },
            V1Event::OperatorRetried { actor } => Event::OperatorRetried {
                actor,
                request_id: String::new(),
            },
            V1Event::OperatorSkipped {
                step,
                direction,
                actor,
                justification,
            } => Event::OperatorSkipped {
                step,
                direction,
                actor,
                justification,
                request_id: String::new(),
            },
            V1Event::OperatorMarkedCompensated {
                actor,
                justification,
            } => Event::OperatorMarkedCompensated {
                actor,
                justification,
                request_id: String::new(),
            },
        }
    }
}
