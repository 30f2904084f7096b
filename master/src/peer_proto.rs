//! The master ↔ master protocol (port 9419): openraft RPCs and the bootstrap probe, framed
//! with `proto::frame`. The caller sends one [`PeerRequest`] and waits for one [`PeerResponse`].
//! A connection opens with the handshake of `peer_auth.rs` (`Hello`, `Prove`), before any
//! other message.

use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use proto::auth::{Proof, NONCE_LEN};
use serde::{Deserialize, Serialize};

use crate::raft_types::TypeConfig;

/// A request from one master to another.
#[derive(Debug, Serialize, Deserialize)]
pub enum PeerRequest {
    /// First message of a connection: the caller's node id and nonce. Answer: `Hello` or
    /// `Refused`.
    Hello { from: u64, nonce: [u8; NONCE_LEN] },
    /// Second message: the caller's proof of the `AUTH_CODE` (none without one). Answer:
    /// `Welcome` or `Refused`.
    Prove { proof: Option<Proof> },
    /// Raft log replication and heartbeats, from the leader. Answer: `AppendEntries`.
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    /// One chunk of a snapshot, from the leader. Answer: `InstallSnapshot`.
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// A vote request, from a candidate. Answer: `Vote`.
    Vote(VoteRequest<u64>),
    /// "Are you part of a group already?", from a master starting on empty storage.
    /// Answer: `Probe`.
    Probe,
    /// A change of the group, asked by an operator's command speaking as a master
    /// (`membership.rs`). Answer: `Membership`, or `NotLeader`.
    Membership(crate::membership::Change),
    /// "What disk does the group record for master `node`, and what disk are you on?" Answer:
    /// `Disk` (`vote_guard.rs`, `member_disks.rs`).
    Disk { node: u64 },
}

/// The answer to a [`PeerRequest`].
#[derive(Debug, Serialize, Deserialize)]
pub enum PeerResponse {
    /// The server's nonce, and with an `AUTH_CODE` its proof of it.
    Hello {
        nonce: [u8; NONCE_LEN],
        proof: Option<Proof>,
    },
    /// The handshake passed: Raft messages may follow.
    Welcome,
    /// The handshake failed; the connection closes.
    Refused {
        reason: String,
    },
    AppendEntries(Result<AppendEntriesResponse<u64>, RaftError<u64>>),
    InstallSnapshot(Result<InstallSnapshotResponse<u64>, RaftError<u64, InstallSnapshotError>>),
    Vote(Result<VoteResponse<u64>, RaftError<u64>>),
    Probe {
        node_id: u64,
        /// True when this master has a log or a membership (it belongs to a group).
        initialized: bool,
    },
    /// What a membership change came to: the line for the operator, or why it was refused.
    Membership(Result<String, String>),
    /// This master does not lead; the leader's Raft address when it knows one.
    NotLeader {
        leader: Option<String>,
    },
    /// The answering master's id and disk, and the disk its copy of the state records for the
    /// master asked about.
    Disk {
        from: u64,
        mine: [u8; 16],
        recorded: Option<[u8; 16]>,
    },
}
