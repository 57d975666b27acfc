//! A small blocking JSON-RPC client over HTTP/1.1 (one connection per call), enough for the
//! load generator and the wallet commands without an HTTP client dependency.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use serde_json::{json, Value};
use thiserror::Error;

/// Why a call failed.
#[derive(Debug, Error)]
pub enum ClientError {
    /// The URL is not `http://host:port[/]`.
    #[error("bad RPC URL {0:?}: expected http://host:port")]
    Url(String),
    /// Connecting, sending or receiving failed.
    #[error("RPC {url}: {source}")]
    Io {
        /// The endpoint.
        url: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The answer is not HTTP with a JSON body.
    #[error("RPC {url}: bad response: {detail}")]
    Response {
        /// The endpoint.
        url: String,
        /// What was wrong.
        detail: String,
    },
    /// The call returned a JSON-RPC error.
    #[error("RPC error {code}: {message}")]
    Rpc {
        /// The error code.
        code: i64,
        /// Its message.
        message: String,
    },
}

/// One node's JSON-RPC endpoint.
#[derive(Debug, Clone)]
pub struct RpcClient {
    url: String,
    address: SocketAddr,
}

impl RpcClient {
    /// A client for `url` (`http://host:port`).
    pub fn new(url: &str) -> Result<Self, ClientError> {
        let rest = url.strip_prefix("http://").ok_or_else(|| ClientError::Url(url.to_owned()))?;
        let host_port = rest.trim_end_matches('/');
        let address = host_port
            .to_socket_addrs()
            .ok()
            .and_then(|mut addresses| addresses.next())
            .ok_or_else(|| ClientError::Url(url.to_owned()))?;
        Ok(RpcClient { url: url.to_owned(), address })
    }

    /// The URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Calls `method`; returns its result.
    pub fn call(&self, method: &str, params: Value) -> Result<Value, ClientError> {
        let answer = self.post(&json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params }))?;
        into_result(answer)
    }

    /// Sends a batch of calls; returns one result per call, in order.
    pub fn batch(&self, calls: &[(&str, Value)]) -> Result<Vec<Result<Value, ClientError>>, ClientError> {
        let body: Vec<Value> = calls
            .iter()
            .enumerate()
            .map(|(id, (method, params))| json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }))
            .collect();
        let answer = self.post(&Value::Array(body))?;
        let Value::Array(responses) = answer else {
            return Err(ClientError::Response {
                url: self.url.clone(),
                detail: format!("expected an array: {answer}"),
            });
        };
        let mut results: Vec<Result<Value, ClientError>> = (0..calls.len())
            .map(|_| Err(ClientError::Response { url: self.url.clone(), detail: "no response for this call".into() }))
            .collect();
        for response in responses {
            if let Some(id) = response.get("id").and_then(Value::as_u64).filter(|id| (*id as usize) < calls.len()) {
                results[id as usize] = into_result(response);
            }
        }
        Ok(results)
    }

    fn post(&self, body: &Value) -> Result<Value, ClientError> {
        let io = |source| ClientError::Io { url: self.url.clone(), source };
        let body = body.to_string();
        let mut stream = TcpStream::connect_timeout(&self.address, Duration::from_secs(5)).map_err(io)?;
        stream.set_read_timeout(Some(Duration::from_secs(30))).map_err(io)?;
        let request = format!(
            "POST / HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.address,
            body.len()
        );
        stream.write_all(request.as_bytes()).map_err(io)?;
        stream.write_all(body.as_bytes()).map_err(io)?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).map_err(io)?;
        let bad = |detail: String| ClientError::Response { url: self.url.clone(), detail };
        let split = response.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| bad("no HTTP header".into()))?;
        let head = String::from_utf8_lossy(&response[..split]);
        let status = head.split_whitespace().nth(1).unwrap_or("?");
        if status != "200" {
            return Err(bad(format!("HTTP status {status}")));
        }
        serde_json::from_slice(&response[split + 4..]).map_err(|e| bad(e.to_string()))
    }
}

fn into_result(response: Value) -> Result<Value, ClientError> {
    if let Some(error) = response.get("error") {
        return Err(ClientError::Rpc {
            code: error.get("code").and_then(Value::as_i64).unwrap_or(0),
            message: error.get("message").and_then(Value::as_str).unwrap_or("").to_owned(),
        });
    }
    Ok(response.get("result").cloned().unwrap_or(Value::Null))
}
