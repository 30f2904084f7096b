//! First start of a fresh group: initialize the membership once every listed master is
//! reachable and none of them belongs to a group yet.
//!
//! Every master of a fresh group may initialize with the same membership: openraft makes that
//! one identical entry, so the race is harmless. A master whose storage was wiped finds peers
//! that are already initialized and waits for the leader to replicate to it (by snapshot when
//! the log it needs is purged) instead of starting a group of its own.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::MasterConfig;
use crate::peer_auth::PeerIdentity;
use crate::peer_proto::{PeerRequest, PeerResponse};
use crate::raft_net::call_once;
use crate::raft_types::{MasterNode, Raft};

/// How often to probe the peers while waiting.
const PROBE_INTERVAL: Duration = Duration::from_millis(500);

/// The membership `RAFT_PEERS` describes.
pub fn members(cfg: &MasterConfig) -> BTreeMap<u64, MasterNode> {
    cfg.peers
        .iter()
        .map(|p| {
            let node = MasterNode {
                raft_addr: p.raft_addr(),
                client_addr: p.client_addr(),
                http_addr: p.http_addr(),
                cs_addr: p.cs_addr(),
            };
            (p.id, node)
        })
        .collect()
}

/// Run until this master belongs to a group.
pub async fn run(raft: Raft, cfg: &MasterConfig, me: &PeerIdentity) {
    if cfg.learner {
        if !raft.is_initialized().await.unwrap_or(true) {
            tracing::info!(
                node = cfg.node_id,
                "learner on empty storage: waiting to be added (mfscli -c mfsmaster.cfg add-learner {}@HOST)",
                cfg.node_id
            );
        }
        return;
    }
    let mut logged_wait = false;
    loop {
        match raft.is_initialized().await {
            Ok(true) => return,
            Ok(false) => {}
            Err(e) => {
                tracing::error!(error = %e, "raft stopped during bootstrap");
                return;
            }
        }
        let mut all_fresh = true;
        let mut someone_initialized = false;
        for p in cfg.peers.iter().filter(|p| p.id != cfg.node_id) {
            let mut conn = None;
            match call_once(&mut conn, me, &p.raft_addr(), &PeerRequest::Probe, Duration::from_secs(1)).await {
                Ok(PeerResponse::Probe { initialized: true, .. }) => someone_initialized = true,
                Ok(PeerResponse::Probe { initialized: false, .. }) => {}
                _ => all_fresh = false,
            }
        }
        if someone_initialized {
            tracing::info!("peers already form a group; waiting for the leader to bring this master up to date");
            return;
        }
        if all_fresh {
            tracing::info!(members = cfg.peers.len(), "every master is reachable and fresh: initializing the group");
            match raft.initialize(members(cfg)).await {
                Ok(()) => tracing::info!("group initialized"),
                Err(e) => tracing::info!(error = %e, "initialize not needed"),
            }
            return;
        }
        if !logged_wait {
            tracing::info!("fresh master: waiting for every listed master to be reachable before initializing");
            logged_wait = true;
        }
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
}
