//! The status page on the HTTP port (`/`): what MooseFS's CGI monitor shows (info, servers,
//! disks, exports, mounts, operations) and the Raft group (who leads, each master's term and
//! lag). The page itself is static (`page.html`: no outside resources, its script builds every
//! cell as text, so nothing a client names can run in the reader's browser); it reads
//! `/api/v1/cluster`, which every master answers with the leader's view when it can reach the
//! leader, else with its own and a notice ([`build`]).

pub mod build;
pub mod model;

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use crate::http::HttpState;

/// The page.
pub const PAGE: &str = include_str!("page.html");

/// `/` and `/mfs.html`.
pub async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'",
            ),
        ],
        PAGE,
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct ClusterQuery {
    /// Set by a master forwarding a browser's request to the leader: answer with this
    /// master's own view, never forward again.
    #[serde(default)]
    forwarded: Option<u8>,
}

/// `/api/v1/cluster`.
pub async fn cluster(State(st): State<HttpState>, Query(q): Query<ClusterQuery>) -> Response {
    let view = build::cluster_view(&st, q.forwarded.is_none()).await;
    ([(header::CACHE_CONTROL, "no-cache")], Json(view)).into_response()
}
