//! The HTTP server: JSON-RPC 2.0 over POST `/`, GET `/health` and GET `/metrics` (axum).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;

use super::jsonrpc::{handle_body, BatchLimits};
use super::methods::RpcContext;
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
}

/// Serves on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, context: Arc<RpcContext>, metrics: Arc<NodeMetrics>) -> std::io::Result<()> {
    let app = Router::new()
        .route("/", post(json_rpc))
        .route("/health", get(health))
        .route("/metrics", get(metrics_text))
        .layer(DefaultBodyLimit::max(BODY_BYTES_MAX))
        .with_state(AppState { context, metrics });
    axum::serve(listener, app).await
}

async fn json_rpc(State(state): State<AppState>, body: Bytes) -> Response {
    let answer = handle_body(state.context.as_ref(), &body, BatchLimits { batch_len_max: BATCH_LEN_MAX }).await;
    match answer {
        Some(value) => ([(header::CONTENT_TYPE, "application/json")], value.to_string()).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

async fn health(State(state): State<AppState>) -> Response {
    let since = state.context.status.ms_since_progress();
    if since <= HEALTHY_PROGRESS_MS_MAX {
        (StatusCode::OK, format!("ok: last commit {since} ms ago\n")).into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, format!("no commit for {since} ms\n")).into_response()
    }
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], state.metrics.encode())
        .into_response()
}
