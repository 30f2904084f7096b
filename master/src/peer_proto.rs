//! The master ↔ master protocol (port 9419): openraft RPCs and the bootstrap probe, framed
//! with `proto::frame`. The caller sends one [`PeerRequest`] and waits for one [`PeerResponse`].

use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use serde::{Deserialize, Serialize};

use crate::raft_types::TypeConfig;

/// A request from one master to another.
#[derive(Debug, Serialize, Deserialize)]
pub enum PeerRequest {
    /// Raft log replication and heartbeats, from the leader. Answer: `AppendEntries`.
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    /// One chunk of a snapshot, from the leader. Answer: `InstallSnapshot`.
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// A vote request, from a candidate. Answer: `Vote`.
    Vote(VoteRequest<u64>),
    /// "Are you part of a group already?", from a master starting on empty storage.
    /// Answer: `Probe`.
    Probe,
}

/// The answer to a [`PeerRequest`].
#[derive(Debug, Serialize, Deserialize)]
pub enum PeerResponse {
    AppendEntries(Result<AppendEntriesResponse<u64>, RaftError<u64>>),
    InstallSnapshot(Result<InstallSnapshotResponse<u64>, RaftError<u64, InstallSnapshotError>>),
    Vote(Result<VoteResponse<u64>, RaftError<u64>>),
    Probe {
        node_id: u64,
        /// True when this master has a log or a membership (it belongs to a group).
        initialized: bool,
    },
}
