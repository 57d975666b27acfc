//! JSON-RPC over WebSocket at `/ws`: every method of the HTTP API, plus subscriptions.
//!
//! - `keel_subscribe("newHeads", {from_height?})`: a notification per committed block header,
//!   in height order. With `from_height` the missed heads are replayed first, so a client that
//!   reconnects resumes where it left off without gaps.
//! - `keel_subscribe("transaction", {hash})`: the transaction's status now and at each change,
//!   ending once it is committed.
//! - `keel_unsubscribe(id)`.
//!
//! Notifications are `{"jsonrpc":"2.0","method":"keel_subscription","params":{"subscription":
//! id,"result":…}}`. Calls on one connection are answered in order; notifications keep flowing
//! while a call waits (for example for a commit).
//!
//! Slow readers: each connection has a bounded outbound queue. A subscription that cannot queue
//! a notification for [`STALL_MAX`] (the client is not reading) ends the connection: the client
//! first gets a `keel_subscription` notification with an `error` (code -32030,
//! `SUBSCRIPTION_LAGGED`) and then a close frame, never a silent drop. A replaying client that
//! does read is never dropped, however far back it started.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use keel_crypto::Hash;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::errors;
use super::jsonrpc::{code, handle_body, parse_params, BatchLimits, Handler, RpcError};
use super::limits::{ClientLimits, Permit};
use super::methods::RpcContext;
use super::server::rate_limited_response;

/// Outbound messages queued per connection.
pub const QUEUE_LEN: usize = 256;
/// How long a notification may wait for queue space before the client counts as too slow.
pub const STALL_MAX: Duration = Duration::from_secs(10);
/// Longest a single frame may take to write.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Most subscriptions on one connection.
pub const SUBSCRIPTIONS_MAX: usize = 32;
/// Largest incoming message.
pub const MESSAGE_BYTES_MAX: usize = 1024 * 1024;

/// The per-connection state the subscription methods need.
struct Connection {
    context: Arc<RpcContext>,
    outbound: mpsc::Sender<String>,
    lagged: mpsc::Sender<String>,
    subscriptions: Mutex<BTreeMap<String, JoinHandle<()>>>,
    next_id: AtomicU64,
}

impl Drop for Connection {
    fn drop(&mut self) {
        for task in self.subscriptions.get_mut().unwrap_or_else(|p| p.into_inner()).values() {
            task.abort();
        }
    }
}

impl Handler for Connection {
    async fn call(&self, method: &str, params: Option<Value>) -> Result<Value, RpcError> {
        match method {
            "keel_subscribe" => self.subscribe(params),
            "keel_unsubscribe" => self.unsubscribe(params),
            other => self.context.call(other, params).await,
        }
    }
}

impl Connection {
    fn subscribe(&self, params: Option<Value>) -> Result<Value, RpcError> {
        #[derive(Deserialize)]
        struct Params {
            kind: String,
            #[serde(default)]
            options: Option<Value>,
        }
        #[derive(Deserialize, Default)]
        #[serde(deny_unknown_fields)]
        struct HeadOptions {
            from_height: Option<u64>,
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct TransactionOptions {
            hash: String,
        }
        let params: Params = parse_params(params, &["kind", "options"])?;
        let options = params.options.unwrap_or(json!({}));
        let mut subscriptions = self.subscriptions.lock().unwrap_or_else(|p| p.into_inner());
        subscriptions.retain(|_, task| !task.is_finished());
        if subscriptions.len() >= SUBSCRIPTIONS_MAX {
            return Err(RpcError::new(
                errors::RATE_LIMITED,
                format!("at most {SUBSCRIPTIONS_MAX} subscriptions per connection"),
            ));
        }
        let id = format!("0x{:x}", self.next_id.fetch_add(1, Ordering::Relaxed) + 1);
        let sink =
            Sink { id: id.clone(), outbound: self.outbound.clone(), lagged: self.lagged.clone(), stall_max: STALL_MAX };
        let context = self.context.clone();
        let task = match params.kind.as_str() {
            "newHeads" => {
                let options: HeadOptions = serde_json::from_value(options)
                    .map_err(|e| RpcError::invalid_params(format!("newHeads options: {e}")))?;
                tokio::spawn(follow_heads(context, sink, options.from_height))
            }
            "transaction" => {
                let options: TransactionOptions = serde_json::from_value(options)
                    .map_err(|e| RpcError::invalid_params(format!("transaction options: {e}")))?;
                let hash: Hash = options.hash.parse().map_err(|e| RpcError::invalid_params(format!("hash: {e}")))?;
                tokio::spawn(follow_transaction(context, sink, hash))
            }
            other => {
                return Err(RpcError::invalid_params(format!(
                    "unknown subscription kind {other:?}: expected \"newHeads\" or \"transaction\""
                )))
            }
        };
        subscriptions.insert(id.clone(), task);
        Ok(json!(id))
    }

    fn unsubscribe(&self, params: Option<Value>) -> Result<Value, RpcError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Params {
            subscription: String,
        }
        let params: Params = parse_params(params, &["subscription"])?;
        let removed = self.subscriptions.lock().unwrap_or_else(|p| p.into_inner()).remove(&params.subscription);
        Ok(json!(removed.map(|task| task.abort()).is_some()))
    }
}

/// Where one subscription's notifications go.
struct Sink {
    id: String,
    outbound: mpsc::Sender<String>,
    lagged: mpsc::Sender<String>,
    stall_max: Duration,
}

impl Sink {
    /// Queues a notification; false when the subscription must end (connection gone, or the
    /// client too slow, in which case the connection is told to drop it).
    async fn notify(&self, result: Value) -> bool {
        let message = json!({
            "jsonrpc": "2.0",
            "method": "keel_subscription",
            "params": { "subscription": self.id, "result": result },
        })
        .to_string();
        match self.outbound.send_timeout(message, self.stall_max).await {
            Ok(()) => true,
            Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
                let _ = self.lagged.try_send(self.id.clone());
                false
            }
            Err(mpsc::error::SendTimeoutError::Closed(_)) => false,
        }
    }
}

async fn follow_heads(context: Arc<RpcContext>, sink: Sink, from_height: Option<u64>) {
    let mut heights = context.status.watch_heights();
    let mut next = from_height.unwrap_or_else(|| *heights.borrow() + 1).max(1);
    loop {
        let latest = *heights.borrow_and_update();
        while next <= latest {
            let header = match context.header_at(next) {
                Ok(header) => header,
                Err(error) => json!({ "height": next, "error": error.message }),
            };
            if !sink.notify(header).await {
                return;
            }
            next += 1;
        }
        if heights.changed().await.is_err() {
            return;
        }
    }
}

async fn follow_transaction(context: Arc<RpcContext>, sink: Sink, hash: Hash) {
    let mut heights = context.status.watch_heights();
    let mut last: Option<Value> = None;
    loop {
        let status = context
            .transaction_status(&hash)
            .unwrap_or_else(|e| json!({ "hash": hash.to_string(), "error": e.message }));
        if last.as_ref() != Some(&status) {
            let committed = status["status"] == "committed";
            if !sink.notify(status.clone()).await || committed {
                return;
            }
            last = Some(status);
        }
        // Re-check at each commit, and now and then for pool changes between commits.
        let _ = tokio::time::timeout(Duration::from_millis(500), heights.changed()).await;
    }
}

/// Serves one WebSocket connection until either side closes it. `permit` holds the client's
/// in-flight slot for the connection's life; each message takes a token from `client_limits`.
pub async fn serve(
    mut socket: WebSocket,
    context: Arc<RpcContext>,
    limits: BatchLimits,
    client_limits: Arc<ClientLimits>,
    client: IpAddr,
    permit: Permit,
) {
    let _permit = permit;
    let (outbound, mut queued) = mpsc::channel::<String>(QUEUE_LEN);
    let (lagged, mut lagging) = mpsc::channel::<String>(SUBSCRIPTIONS_MAX);
    let connection = Connection {
        context,
        outbound,
        lagged,
        subscriptions: Mutex::new(BTreeMap::new()),
        next_id: AtomicU64::new(0),
    };
    loop {
        tokio::select! {
            biased;
            Some(subscription) = lagging.recv() => {
                let notice = json!({
                    "jsonrpc": "2.0",
                    "method": "keel_subscription",
                    "params": { "subscription": subscription, "error": {
                        "code": errors::SUBSCRIPTION_LAGGED,
                        "message": format!("the client read too slowly: no room for a notification for {} s; closing", STALL_MAX.as_secs()),
                    }},
                });
                let _ = send(&mut socket, notice.to_string()).await;
                let close = CloseFrame { code: 1008, reason: Utf8Bytes::from_static("subscriber too slow") };
                let _ = tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Close(Some(close)))).await;
                return;
            }
            Some(message) = queued.recv() => {
                if !send(&mut socket, message).await {
                    return;
                }
            }
            incoming = socket.recv() => {
                let body = match incoming {
                    Some(Ok(Message::Text(text))) => text.as_str().as_bytes().to_vec(),
                    Some(Ok(Message::Binary(bytes))) => bytes.to_vec(),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                };
                if client_limits.take_token(client, std::time::Instant::now()).is_err() {
                    if !send(&mut socket, rate_limited_response().to_string()).await {
                        return;
                    }
                    continue;
                }
                // A long call (a wait for a commit) must not hold back notifications, or the
                // client would be dropped as too slow for the server's own delay.
                let call = handle_body(&connection, &body, limits);
                tokio::pin!(call);
                let answer = loop {
                    tokio::select! {
                        biased;
                        answer = &mut call => break answer,
                        Some(message) = queued.recv() => {
                            if !send(&mut socket, message).await {
                                return;
                            }
                        }
                    }
                };
                if let Some(answer) = answer {
                    if !send(&mut socket, answer.to_string()).await {
                        return;
                    }
                }
            }
        }
    }
}

async fn send(socket: &mut WebSocket, text: String) -> bool {
    matches!(tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Text(text.into()))).await, Ok(Ok(())))
}

/// The answer to a subscription method called over HTTP.
pub fn websocket_only(method: &str) -> RpcError {
    RpcError::new(code::METHOD_NOT_FOUND, format!("{method} is available over WebSocket only (GET /ws)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_subscriber_that_stops_reading_is_reported_as_lagged_not_dropped_silently() {
        let (outbound, mut queued) = mpsc::channel(2);
        let (lagged, mut lagging) = mpsc::channel(4);
        let sink = Sink { id: "0x1".into(), outbound, lagged, stall_max: Duration::from_millis(50) };
        assert!(sink.notify(json!(1)).await);
        assert!(sink.notify(json!(2)).await);
        // The queue is full and nobody drains it: the subscription ends and says why.
        assert!(!sink.notify(json!(3)).await);
        assert_eq!(lagging.try_recv().ok(), Some("0x1".to_owned()));
        let first: Value = serde_json::from_str(&queued.recv().await.unwrap()).unwrap();
        assert_eq!(first["method"], "keel_subscription");
        assert_eq!(first["params"], json!({ "subscription": "0x1", "result": 1 }));
        // A reader that keeps up is never reported.
        assert!(sink.notify(json!(4)).await);
        assert!(lagging.try_recv().is_err());
    }
}
