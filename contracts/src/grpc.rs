//! gRPC calls by method name with canonical proto3 JSON on the outside: the descriptors of every
//! hrmesh service, a dynamic tonic codec over them, and the conversions between a call's outcome
//! and the JSON a pact holds.

use std::sync::OnceLock;

use anyhow::{Context, anyhow};
use hrmesh_mesh::client::MeshChannel;
use prost::Message;
use prost_reflect::{
    DescriptorPool, DeserializeOptions, DynamicMessage, MessageDescriptor, MethodDescriptor,
    SerializeOptions,
};
use serde_json::{Map, Value, json};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The request metadata key naming the gRPC method, `package.Service/Method`.
pub const METHOD_KEY: &str = "grpc-method";
/// The response metadata key holding the canonical status code name (`OK`, `FAILED_PRECONDITION`).
pub const STATUS_KEY: &str = "grpc-status";

/// The descriptors of every hrmesh package.
pub fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(hrmesh_proto::FILE_DESCRIPTOR_SET)
            .unwrap_or_else(|err| panic!("the embedded descriptor set is valid: {err}"))
    })
}

/// The method named `package.Service/Method`.
pub fn method(name: &str) -> anyhow::Result<MethodDescriptor> {
    let (service, method) = name
        .split_once('/')
        .ok_or_else(|| anyhow!("{name:?} is not of the form package.Service/Method"))?;
    let service = pool()
        .get_service_by_name(service)
        .ok_or_else(|| anyhow!("no service {service} in the hrmesh protos"))?;
    service
        .methods()
        .find(|m| m.name() == method)
        .ok_or_else(|| anyhow!("{} has no method {method}", service.full_name()))
}

/// A message as canonical proto3 JSON: lowerCamelCase names, default values left out, 64-bit
/// integers as strings.
pub fn to_json(message: &DynamicMessage) -> Value {
    message
        .serialize_with_options(serde_json::value::Serializer, &SerializeOptions::new())
        .unwrap_or_else(|err| panic!("a decoded message serialises to JSON: {err}"))
}

/// Parses proto3 JSON as a message of type `descriptor`; unknown fields are refused.
pub fn from_json(descriptor: MessageDescriptor, json: &Value) -> anyhow::Result<DynamicMessage> {
    let name = descriptor.full_name().to_owned();
    DynamicMessage::deserialize_with_options(
        descriptor,
        json.clone(),
        &DeserializeOptions::new().deny_unknown_fields(true),
    )
    .with_context(|| format!("{json} is not a valid {name}"))
}

pub use hrmesh_mesh::status::code_name;

/// The code with the canonical name `name`.
pub fn code_from_name(name: &str) -> Option<Code> {
    (0..=16)
        .map(Code::from_i32)
        .find(|code| code_name(*code) == name)
}

/// A failed call as the body of a pact response: the status's `google.rpc.ErrorInfo` in proto3
/// JSON (`reason`, `domain`, `metadata`), or `{}` when it has none. The code goes in the
/// response metadata under [`STATUS_KEY`].
pub fn error_json(status: &Status) -> Value {
    let Some(info) = status.get_error_details().error_info().cloned() else {
        return json!({});
    };
    let mut body = Map::new();
    if !info.reason.is_empty() {
        body.insert("reason".into(), Value::String(info.reason));
    }
    if !info.domain.is_empty() {
        body.insert("domain".into(), Value::String(info.domain));
    }
    if !info.metadata.is_empty() {
        let metadata: Map<String, Value> = info
            .metadata
            .into_iter()
            .map(|(key, value)| (key, Value::String(value)))
            .collect();
        body.insert("metadata".into(), Value::Object(metadata));
    }
    Value::Object(body)
}

/// The status a pact's error response describes: `code` with the ErrorInfo in `body`.
pub fn error_status(code: Code, body: &Value) -> Status {
    let text = |key: &str| body.get(key).and_then(Value::as_str).unwrap_or_default();
    let reason = text("reason");
    if reason.is_empty() {
        return Status::new(code, "error from the contract");
    }
    let metadata: std::collections::HashMap<String, String> = body
        .get("metadata")
        .and_then(Value::as_object)
        .map(|map| {
            map.iter()
                .map(|(key, value)| {
                    let value = value
                        .as_str()
                        .map_or_else(|| value.to_string(), str::to_owned);
                    (key.clone(), value)
                })
                .collect()
        })
        .unwrap_or_default();
    Status::with_error_details(
        code,
        format!("{reason} (from the contract)"),
        ErrorDetails::with_error_info(reason, text("domain"), metadata),
    )
}

/// A tonic codec for messages known only at run time.
#[derive(Debug, Clone)]
pub struct DynamicCodec {
    decodes: MessageDescriptor,
}

impl DynamicCodec {
    /// A codec that decodes messages of type `decodes` (and encodes any message).
    pub fn new(decodes: MessageDescriptor) -> Self {
        Self { decodes }
    }
}

#[derive(Debug)]
pub struct DynamicEncoder;

#[derive(Debug)]
pub struct DynamicDecoder(MessageDescriptor);

impl Codec for DynamicCodec {
    type Encode = DynamicMessage;
    type Decode = DynamicMessage;
    type Encoder = DynamicEncoder;
    type Decoder = DynamicDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        DynamicEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        DynamicDecoder(self.decodes.clone())
    }
}

impl Encoder for DynamicEncoder {
    type Item = DynamicMessage;
    type Error = Status;

    fn encode(&mut self, item: Self::Item, dst: &mut EncodeBuf<'_>) -> Result<(), Self::Error> {
        item.encode(dst)
            .map_err(|err| Status::internal(format!("encoding a response: {err}")))
    }
}

impl Decoder for DynamicDecoder {
    type Item = DynamicMessage;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Self::Error> {
        DynamicMessage::decode(self.0.clone(), src)
            .map(Some)
            .map_err(|err| Status::internal(format!("decoding {}: {err}", self.0.name())))
    }
}

/// Calls the unary method `name` (`package.Service/Method`) over `channel` with a JSON request;
/// answers the JSON response, or the status the server answered with.
pub async fn call_json(
    channel: MeshChannel,
    name: &str,
    request: &Value,
) -> anyhow::Result<Result<Value, Status>> {
    let method = method(name)?;
    let message = from_json(method.input(), request)?;
    let path = http::uri::PathAndQuery::try_from(format!("/{name}"))
        .with_context(|| format!("{name} as a request path"))?;
    let mut client = tonic::client::Grpc::new(channel);
    client
        .ready()
        .await
        .with_context(|| format!("connecting to call {name}"))?;
    let outcome = client
        .unary(
            tonic::Request::new(message),
            path,
            DynamicCodec::new(method.output()),
        )
        .await;
    Ok(outcome.map(|response| to_json(response.get_ref())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_its_name() {
        for n in 0..=16 {
            let code = Code::from_i32(n);
            assert_eq!(code_from_name(code_name(code)), Some(code));
        }
        assert_eq!(code_from_name("FailedPrecondition"), None);
    }

    #[test]
    fn error_info_round_trips_through_json() {
        let body = json!({
            "reason": "HOLD_ALREADY_RESOLVED",
            "domain": "hrmesh.ledger",
            "metadata": {"state": "voided", "hold_id": "h-1"}
        });
        let status = error_status(Code::FailedPrecondition, &body);
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert_eq!(error_json(&status), body);
        assert_eq!(error_json(&Status::internal("x")), json!({}));
    }

    #[test]
    fn methods_resolve_and_json_is_canonical() {
        let hold = method("hrmesh.ledger.v1.LedgerService/HoldDays").expect("method");
        assert_eq!(hold.input().name(), "HoldDaysRequest");
        assert!(method("hrmesh.ledger.v1.LedgerService/Nope").is_err());
        assert!(method("HoldDays").is_err());
        let message = from_json(
            hold.input(),
            &json!({"requestId": "r-1", "employeeId": "e-1", "policyId": ""}),
        )
        .expect("valid");
        // The empty policy is a default value, so canonical JSON leaves it out.
        assert_eq!(
            to_json(&message),
            json!({"requestId": "r-1", "employeeId": "e-1"})
        );
        let unknown = from_json(hold.input(), &json!({"holdRef": "x"}));
        assert!(unknown.is_err());
    }
}
