//! HTTP on port 9427: `/health`, `/metrics` (Prometheus text) and `/api/v1/status` (JSON).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use proto::cs::SpaceReport;
use serde::Serialize;
use tokio::net::TcpListener;

use crate::master_link::LinkState;
use crate::metrics::Metrics;
use crate::store::{DiskStatus, Store};

/// What the handlers read.
#[derive(Clone)]
pub struct HttpState {
    pub store: Arc<Store>,
    pub metrics: Arc<Metrics>,
    pub link: Arc<LinkState>,
    /// The data port's listen address (shown until a registration advertises one).
    pub data_listen: String,
}

/// `/api/v1/status`: one chunkserver's view of itself.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    /// The data address advertised to the master (or the listen address before that).
    pub data_addr: String,
    /// The leader we are registered with, if any.
    pub master: Option<String>,
    /// Highest Raft term seen.
    pub term: u64,
    pub chunks: u64,
    pub space: SpaceReport,
    pub disks: Vec<DiskStatus>,
    /// Damaged copies waiting for the master to replace them.
    pub damaged: Vec<String>,
}

/// The router.
pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/api/v1/status", get(status))
        .with_state(state)
}

/// A connection to the HTTP port that sends nothing for this long is closed.
pub const HTTP_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Serve until the task is dropped, at most `max_connections` at once
/// (`HTTP_MAX_CONNECTIONS`).
pub async fn serve(listener: TcpListener, state: HttpState, max_connections: usize) {
    let gate = state.metrics.conn_gate("http", "HTTP_MAX_CONNECTIONS", max_connections);
    let listener = proto::http_listener::GatedListener::new(listener, gate, HTTP_IDLE_TIMEOUT);
    if let Err(e) = axum::serve(listener, router(state)).await {
        tracing::error!(error = %e, "HTTP server stopped");
    }
}

async fn health(State(s): State<HttpState>) -> Response {
    match s.link.leader() {
        Some(leader) => (StatusCode::OK, format!("ok: registered with {leader}\n")).into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, "not registered with a leader\n").into_response(),
    }
}

async fn metrics(State(s): State<HttpState>) -> Response {
    let body = tokio::task::spawn_blocking(move || s.metrics.render(&s.store, &s.link)).await.unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

async fn status(State(s): State<HttpState>) -> Response {
    let built = tokio::task::spawn_blocking(move || Status {
        data_addr: s.link.advertised().unwrap_or_else(|| s.data_listen.clone()),
        master: s.link.leader(),
        term: s.link.term(),
        chunks: s.store.chunk_count(),
        space: SpaceReport { load: s.metrics.load.get().max(0) as u32, ..s.store.space() },
        disks: s.store.disk_status(),
        damaged: s
            .store
            .damage()
            .all()
            .into_iter()
            .map(|(id, d)| format!("{id:016X}_{:08X}: {}", d.version, d.reason))
            .collect(),
    })
    .await;
    match built {
        Ok(st) => Json(st).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
