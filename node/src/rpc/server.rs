//! The HTTP server (axum): JSON-RPC 2.0 over POST `/` and over WebSocket at `/ws`, GET
//! `/health` and GET `/metrics`. Every request passes the per-client limits first
//! ([`super::limits`]); a refused one gets HTTP 429 and JSON-RPC error -32029.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use super::errors;
use super::jsonrpc::{handle_body, BatchLimits};
use super::limits::{ClientLimits, LimitSettings, Refusal};
use super::methods::{RequestHandler, RpcContext};
use crate::metrics::NodeMetrics;

/// Largest request body, in bytes (larger ones get 413).
pub const BODY_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Most calls in one batch.
pub const BATCH_LEN_MAX: usize = 100;
/// `/health` answers 503 when no block committed for this long.
pub const HEALTHY_PROGRESS_MS_MAX: u64 = 30_000;

#[derive(Clone)]
struct AppState {
    context: Arc<RpcContext>,
    metrics: Arc<NodeMetrics>,
    limits: Arc<ClientLimits>,
}

/// Serves on `listener` until the task is dropped.
pub async fn serve(
    listener: TcpListener,
    context: Arc<RpcContext>,
    metrics: Arc<NodeMetrics>,
    limits: LimitSettings,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/", post(json_rpc))
        .route("/ws", get(websocket))
        .route("/health", get(health))
        .route("/metrics", get(metrics_text))
        .layer(DefaultBodyLimit::max(BODY_BYTES_MAX))
        .with_state(AppState { context, metrics, limits: ClientLimits::new(limits) });
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await
}

/// The JSON-RPC error a refused request gets.
pub fn rate_limited_response() -> Value {
    json!({
        "jsonrpc": "2.0",
        "error": { "code": errors::RATE_LIMITED, "message": "too many requests from this client: slow down" },
        "id": null,
    })
}

fn refused(refusal: Refusal) -> Response {
    let mut body = rate_limited_response();
    if refusal == Refusal::Concurrency {
        body["error"]["message"] = json!("too many requests in flight from this client");
    }
    (StatusCode::TOO_MANY_REQUESTS, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

async fn json_rpc(State(state): State<AppState>, ConnectInfo(peer): ConnectInfo<SocketAddr>, body: Bytes) -> Response {
    let client: IpAddr = peer.ip();
    let now = Instant::now();
    if let Err(refusal) = state.limits.take_token(client, now) {
        return refused(refusal);
    }
    let _permit = match state.limits.enter(client, now) {
        Ok(permit) => permit,
        Err(refusal) => return refused(refusal),
    };
    let handler = RequestHandler { context: state.context.as_ref(), preadmitted: state.context.preadmit(&body) };
    let answer = handle_body(&handler, &body, BatchLimits { batch_len_max: BATCH_LEN_MAX }).await;
    match answer {
        Some(value) => ([(header::CONTENT_TYPE, "application/json")], value.to_string()).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

async fn websocket(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let client = peer.ip();
    let permit = match state.limits.enter(client, Instant::now()) {
        Ok(permit) => permit,
        Err(refusal) => return refused(refusal),
    };
    let limits = BatchLimits { batch_len_max: BATCH_LEN_MAX };
    upgrade
        .max_message_size(super::ws::MESSAGE_BYTES_MAX)
        .on_upgrade(move |socket| super::ws::serve(socket, state.context, limits, state.limits, client, permit))
}

async fn health(State(state): State<AppState>) -> Response {
    let since = state.context.status.ms_since_progress();
    let syncing = state.context.status.get().syncing;
    if since > HEALTHY_PROGRESS_MS_MAX {
        (StatusCode::SERVICE_UNAVAILABLE, format!("no commit for {since} ms\n")).into_response()
    } else if syncing {
        (StatusCode::SERVICE_UNAVAILABLE, "catching up with the network\n").into_response()
    } else {
        (StatusCode::OK, format!("ok: last commit {since} ms ago\n")).into_response()
    }
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], state.metrics.encode())
        .into_response()
}
