//! JSON-RPC 2.0, to the letter of the specification (jsonrpc.org/specification): requests,
//! notifications (no `id`: no response, even on error), batches (an array of requests, answered
//! by an array of the non-notification responses; an empty array is an invalid request), and
//! the standard error codes. This module knows nothing of Keel's methods: it parses, enforces
//! limits, and calls a [`Handler`].

use serde_json::{json, Map, Value};

/// The standard error codes.
pub mod code {
    /// Invalid JSON was received.
    pub const PARSE_ERROR: i64 = -32700;
    /// The JSON sent is not a valid Request object.
    pub const INVALID_REQUEST: i64 = -32600;
    /// The method does not exist.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Invalid method parameters.
    pub const INVALID_PARAMS: i64 = -32602;
    /// Internal JSON-RPC error.
    pub const INTERNAL_ERROR: i64 = -32603;
}

/// An error object as the specification defines it.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    /// The code: a standard one from [`code`] or a documented application code.
    pub code: i64,
    /// One sentence.
    pub message: String,
    /// Structured detail, if any.
    pub data: Option<Value>,
}

impl RpcError {
    /// An error without data.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        RpcError { code, message: message.into(), data: None }
    }

    /// An error with data.
    pub fn with_data(code: i64, message: impl Into<String>, data: Value) -> Self {
        RpcError { code, message: message.into(), data: Some(data) }
    }

    /// -32602 with a message naming what is wrong.
    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(code::INVALID_PARAMS, message)
    }

    fn to_json(&self) -> Value {
        let mut error = json!({ "code": self.code, "message": self.message });
        if let Some(data) = &self.data {
            error["data"] = data.clone();
        }
        error
    }
}

/// Calls one method. Implemented by the node's method table.
pub trait Handler: Send + Sync {
    /// Runs `method` with `params` (absent, an array or an object).
    fn call(
        &self,
        method: &str,
        params: Option<Value>,
    ) -> impl std::future::Future<Output = Result<Value, RpcError>> + Send;
}

/// Limits on one HTTP request body's JSON-RPC content.
#[derive(Debug, Clone, Copy)]
pub struct BatchLimits {
    /// Most calls in one batch.
    pub batch_len_max: usize,
}

/// Handles one request body: a single call or a batch. Returns the response body, or `None`
/// when nothing must be sent back (only notifications).
pub async fn handle_body<H: Handler>(handler: &H, body: &[u8], limits: BatchLimits) -> Option<Value> {
    let parsed: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(error) => {
            return Some(error_response(
                Value::Null,
                &RpcError::new(code::PARSE_ERROR, format!("parse error: {error}")),
            ))
        }
    };
    match parsed {
        Value::Array(calls) if calls.is_empty() => {
            Some(error_response(Value::Null, &RpcError::new(code::INVALID_REQUEST, "empty batch")))
        }
        Value::Array(calls) if calls.len() > limits.batch_len_max => Some(error_response(
            Value::Null,
            &RpcError::with_data(
                code::INVALID_REQUEST,
                format!("batch of {} calls exceeds the limit of {}", calls.len(), limits.batch_len_max),
                json!({ "batch_len_max": limits.batch_len_max }),
            ),
        )),
        Value::Array(calls) => {
            let mut responses = Vec::with_capacity(calls.len());
            for call in calls {
                if let Some(response) = handle_call(handler, call).await {
                    responses.push(response);
                }
            }
            (!responses.is_empty()).then_some(Value::Array(responses))
        }
        single => handle_call(handler, single).await,
    }
}

/// Handles one call object; `None` for a notification.
pub async fn handle_call<H: Handler>(handler: &H, call: Value) -> Option<Value> {
    let request = match parse_request(call) {
        Ok(request) => request,
        Err((id, error)) => return Some(error_response(id, &error)),
    };
    let result = handler.call(&request.method, request.params).await;
    let id = request.id?;
    Some(match result {
        Ok(value) => json!({ "jsonrpc": "2.0", "result": value, "id": id }),
        Err(error) => error_response(id, &error),
    })
}

/// A well-formed request. `id` is `None` for a notification.
struct Request {
    method: String,
    params: Option<Value>,
    id: Option<Value>,
}

/// Checks the Request object rules. On failure returns the id to answer with (null when the id
/// itself could not be read) and the error.
fn parse_request(call: Value) -> Result<Request, (Value, RpcError)> {
    let invalid = |id: Value, why: &str| (id, RpcError::new(code::INVALID_REQUEST, format!("invalid request: {why}")));
    let Value::Object(mut object) = call else {
        return Err(invalid(Value::Null, "expected an object"));
    };
    let id = match object.remove("id") {
        None => None,
        Some(id @ (Value::String(_) | Value::Number(_) | Value::Null)) => Some(id),
        Some(_) => return Err(invalid(Value::Null, "id must be a string, a number or null")),
    };
    let answer_id = id.clone().unwrap_or(Value::Null);
    if object.remove("jsonrpc") != Some(Value::String("2.0".to_owned())) {
        return Err(invalid(answer_id, "jsonrpc must be \"2.0\""));
    }
    let method = match object.remove("method") {
        Some(Value::String(method)) => method,
        _ => return Err(invalid(answer_id, "method must be a string")),
    };
    let params = match object.remove("params") {
        None => None,
        Some(params @ (Value::Array(_) | Value::Object(_))) => Some(params),
        Some(_) => return Err(invalid(answer_id, "params must be an array or an object")),
    };
    if let Some(unknown) = object.keys().next() {
        return Err(invalid(answer_id, &format!("unknown member {unknown:?}")));
    }
    Ok(Request { method, params, id })
}

fn error_response(id: Value, error: &RpcError) -> Value {
    json!({ "jsonrpc": "2.0", "error": error.to_json(), "id": id })
}

/// Reads named or positional parameters into a typed struct: `params` may be an object with the
/// struct's fields or an array in `names` order; absent params mean an empty object.
pub fn parse_params<T: serde::de::DeserializeOwned>(params: Option<Value>, names: &[&str]) -> Result<T, RpcError> {
    let object = match params {
        None => Value::Object(Map::new()),
        Some(Value::Object(object)) => Value::Object(object),
        Some(Value::Array(items)) => {
            if items.len() > names.len() {
                return Err(RpcError::invalid_params(format!(
                    "expected at most {} positional parameters ({}), got {}",
                    names.len(),
                    names.join(", "),
                    items.len()
                )));
            }
            Value::Object(names.iter().map(|n| n.to_string()).zip(items).collect())
        }
        Some(_) => return Err(RpcError::invalid_params("params must be an array or an object")),
    };
    serde_json::from_value(object).map_err(|e| RpcError::invalid_params(format!("invalid params: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `echo` returns its params, `fail` returns an application error, anything else is unknown.
    struct Echo;

    impl Handler for Echo {
        async fn call(&self, method: &str, params: Option<Value>) -> Result<Value, RpcError> {
            match method {
                "echo" => Ok(params.unwrap_or(Value::Null)),
                "fail" => Err(RpcError::with_data(-32010, "it failed", json!({"why": "asked to"}))),
                _ => Err(RpcError::new(code::METHOD_NOT_FOUND, format!("method {method:?} not found"))),
            }
        }
    }

    const LIMITS: BatchLimits = BatchLimits { batch_len_max: 3 };

    async fn call(body: &str) -> Option<Value> {
        handle_body(&Echo, body.as_bytes(), LIMITS).await
    }

    fn error_code(response: &Value) -> i64 {
        response["error"]["code"].as_i64().unwrap_or_else(|| panic!("no error in {response}"))
    }

    #[tokio::test]
    async fn a_call_gets_its_result_with_its_id() {
        let response = call(r#"{"jsonrpc":"2.0","method":"echo","params":[1,2],"id":"a"}"#).await.unwrap();
        assert_eq!(response, json!({"jsonrpc":"2.0","result":[1,2],"id":"a"}));
        let response = call(r#"{"jsonrpc":"2.0","method":"echo","id":null}"#).await.unwrap();
        assert_eq!(response, json!({"jsonrpc":"2.0","result":null,"id":null}), "a null id is still a call");
    }

    #[tokio::test]
    async fn standard_errors() {
        assert_eq!(error_code(&call("{not json").await.unwrap()), code::PARSE_ERROR);
        assert_eq!(call("{not json").await.unwrap()["id"], Value::Null);
        assert_eq!(error_code(&call("42").await.unwrap()), code::INVALID_REQUEST);
        for bad in [
            r#"{"method":"echo","id":1}"#,
            r#"{"jsonrpc":"1.0","method":"echo","id":1}"#,
            r#"{"jsonrpc":"2.0","method":5,"id":1}"#,
            r#"{"jsonrpc":"2.0","method":"echo","params":"x","id":1}"#,
            r#"{"jsonrpc":"2.0","method":"echo","id":1,"extra":true}"#,
        ] {
            let response = call(bad).await.unwrap();
            assert_eq!(error_code(&response), code::INVALID_REQUEST, "{bad}");
            assert_eq!(response["id"], json!(1), "the id is echoed when readable: {bad}");
        }
        let response = call(r#"{"jsonrpc":"2.0","method":"echo","id":[1]}"#).await.unwrap();
        assert_eq!((error_code(&response), &response["id"]), (code::INVALID_REQUEST, &Value::Null));
        let response = call(r#"{"jsonrpc":"2.0","method":"nope","id":2}"#).await.unwrap();
        assert_eq!(error_code(&response), code::METHOD_NOT_FOUND);
        let response = call(r#"{"jsonrpc":"2.0","method":"fail","id":3}"#).await.unwrap();
        assert_eq!(response["error"], json!({"code": -32010, "message": "it failed", "data": {"why": "asked to"}}));
    }

    #[tokio::test]
    async fn notifications_get_no_response_even_on_error() {
        assert_eq!(call(r#"{"jsonrpc":"2.0","method":"echo","params":[1]}"#).await, None);
        assert_eq!(call(r#"{"jsonrpc":"2.0","method":"nope"}"#).await, None);
        assert_eq!(call(r#"[{"jsonrpc":"2.0","method":"echo"},{"jsonrpc":"2.0","method":"fail"}]"#).await, None);
    }

    #[tokio::test]
    async fn batches_answer_each_call_in_order_and_skip_notifications() {
        let body = r#"[
            {"jsonrpc":"2.0","method":"echo","params":{"a":1},"id":1},
            {"jsonrpc":"2.0","method":"echo","params":[7]},
            {"foo":"boo"}
        ]"#;
        let responses = call(body).await.unwrap();
        let responses = responses.as_array().unwrap();
        assert_eq!(responses.len(), 2);
        assert_eq!(responses[0], json!({"jsonrpc":"2.0","result":{"a":1},"id":1}));
        assert_eq!(error_code(&responses[1]), code::INVALID_REQUEST);
        let response = call("[]").await.unwrap();
        assert!(response.is_object() && error_code(&response) == code::INVALID_REQUEST, "empty batch: one error");
        let response = call("[1,2]").await.unwrap();
        assert_eq!(response.as_array().unwrap().len(), 2, "each invalid element gets its own error");
    }

    #[tokio::test]
    async fn a_batch_over_the_limit_is_refused_whole() {
        let call_json = r#"{"jsonrpc":"2.0","method":"echo","id":1}"#;
        let body = format!("[{}]", [call_json; 4].join(","));
        let response = call(&body).await.unwrap();
        assert_eq!(error_code(&response), code::INVALID_REQUEST);
        assert_eq!(response["error"]["data"]["batch_len_max"], json!(3));
    }

    #[test]
    fn params_by_name_or_position() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        #[serde(deny_unknown_fields)]
        struct P {
            address: String,
            #[serde(default)]
            proof: bool,
        }
        let names = ["address", "proof"];
        let by_name: P = parse_params(Some(json!({"address": "a", "proof": true})), &names).unwrap();
        let by_position: P = parse_params(Some(json!(["a", true])), &names).unwrap();
        assert_eq!(by_name, by_position);
        let short: P = parse_params(Some(json!(["a"])), &names).unwrap();
        assert!(!short.proof);
        assert_eq!(parse_params::<P>(Some(json!(["a", true, 3])), &names).unwrap_err().code, code::INVALID_PARAMS);
        assert_eq!(parse_params::<P>(None, &names).unwrap_err().code, code::INVALID_PARAMS, "address is required");
        assert_eq!(parse_params::<P>(Some(json!({"address": 1})), &names).unwrap_err().code, code::INVALID_PARAMS);
    }
}
