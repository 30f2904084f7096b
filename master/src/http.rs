//! HTTP on port 9425: the status page (`/`, [`crate::status_page`]), `/health`, `/metrics`
//! (Prometheus text), `/api/v1/status`, `/api/v1/cluster` (the status page's data),
//! `/api/v1/digest` and `/api/v1/chunkservers` (JSON).

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::chunks::registry::ServerStatus;
use crate::chunks::ChunkService;
use crate::config::MasterConfig;
use crate::exports::Exports;
use crate::metrics::{role_name, Metrics};
use crate::raft_types::Raft;
use crate::session_activity::SessionActivity;
use crate::sm_store::SharedState;
use crate::status_page;

/// What the HTTP handlers read.
#[derive(Clone)]
pub struct HttpState {
    pub raft: Raft,
    pub state: SharedState,
    pub metrics: Arc<Metrics>,
    pub cfg: Arc<MasterConfig>,
    pub chunks: Arc<ChunkService>,
    /// The export rules in force (replaced on reload).
    pub exports: Arc<RwLock<Exports>>,
    /// What the client server saw of each session.
    pub activity: Arc<SessionActivity>,
    /// When this master started.
    pub started: Instant,
}

/// `/api/v1/status`: one master's view of the group.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Status {
    pub id: u64,
    pub role: String,
    pub term: u64,
    pub leader_id: Option<u64>,
    /// Client address of the leader, for tools.
    pub leader_addr: Option<String>,
    pub last_log_index: Option<u64>,
    pub committed_index: Option<u64>,
    pub applied_index: Option<u64>,
    pub snapshot_index: Option<u64>,
    pub purged_index: Option<u64>,
    pub voters: Vec<u64>,
    /// Non-voting members (`mfsmetalogger`s, masters catching up before they vote).
    #[serde(default)]
    pub learners: Vec<u64>,
    pub inodes: u64,
    pub sessions: u64,
    /// True when this master is part of a working quorum (as `/health`).
    pub healthy: bool,
}

/// `/api/v1/digest`: the state digest at the applied index, to compare replicas.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DigestInfo {
    pub applied_index: Option<u64>,
    pub digest: String,
}

pub fn router(st: HttpState) -> Router {
    Router::new()
        .route("/", get(status_page::page))
        .route("/mfs.html", get(status_page::page))
        .route("/api/v1/cluster", get(status_page::cluster))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/api/v1/status", get(status))
        .route("/api/v1/digest", get(digest))
        .route("/api/v1/chunkservers", get(chunkservers))
        .with_state(st)
}

/// Healthy = part of a quorum: a leader heard from a majority within the time after which
/// its followers may elect another (openraft: the lease, = the maximum election timeout, plus
/// an election timeout), or a follower heard from a leader within twice that.
fn is_healthy(st: &HttpState) -> bool {
    let m = st.raft.metrics().borrow().clone();
    let limit = st.cfg.quorum_loss_after();
    match m.state {
        openraft::ServerState::Leader => m.millis_since_quorum_ack.is_some_and(|ms| Duration::from_millis(ms) <= limit),
        openraft::ServerState::Follower | openraft::ServerState::Learner => {
            m.current_leader.is_some() && st.metrics.since_leader_contact().is_some_and(|d| d <= 2 * limit)
        }
        _ => false,
    }
}

async fn health(State(st): State<HttpState>) -> Response {
    if is_healthy(&st) {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not part of a quorum\n").into_response()
    }
}

async fn metrics(State(st): State<HttpState>) -> Response {
    st.chunks.export_server_metrics();
    let body = st.metrics.render(&st.raft, &st.state, &st.cfg.data_path.join("snapshots"));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

/// Build the status of this master.
pub fn current_status(st: &HttpState) -> Status {
    let m = st.raft.metrics().borrow().clone();
    let membership = m.membership_config.membership();
    let leader_addr = m.current_leader.and_then(|id| membership.get_node(&id)).map(|n| n.client_addr.clone());
    let (inodes, sessions) = {
        let s = st.state.read();
        (s.ns.inode_count(), s.sessions.len() as u64)
    };
    let applied = m.last_applied.map(|l| l.index);
    Status {
        id: m.id,
        role: role_name(m.state).to_string(),
        term: m.current_term,
        leader_id: m.current_leader,
        leader_addr,
        last_log_index: m.last_log_index,
        committed_index: applied,
        applied_index: applied,
        snapshot_index: m.snapshot.map(|l| l.index),
        purged_index: m.purged.map(|l| l.index),
        voters: membership.voter_ids().collect(),
        learners: membership.learner_ids().collect(),
        inodes,
        sessions,
        healthy: is_healthy(st),
    }
}

async fn status(State(st): State<HttpState>) -> Json<Status> {
    Json(current_status(&st))
}

async fn digest(State(st): State<HttpState>) -> Json<DigestInfo> {
    let s = st.state.read();
    Json(DigestInfo { applied_index: s.last_applied.map(|l| l.index), digest: s.digest() })
}

/// `/api/v1/chunkservers`: the chunkservers registered with this master (empty unless it
/// leads), by data address.
async fn chunkservers(State(st): State<HttpState>) -> Json<Vec<ServerStatus>> {
    Json(st.chunks.status())
}
