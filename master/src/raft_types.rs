//! The openraft type configuration of the metadata master: what a log entry carries
//! ([`Command`]), what applying it returns ([`CommandOutcome`]) and what a member is
//! ([`MasterNode`]).

use std::fmt;
use std::io::Cursor;

use proto::client::{OpResult, WriteOp};
use proto::meta::{Creds, Timestamp};
use serde::{Deserialize, Serialize};

/// A member of the Raft group and the addresses others reach it at.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MasterNode {
    /// Raft peer address (port 9419).
    pub raft_addr: String,
    /// Client address (port 9421), handed to clients in "not leader, try X" answers.
    pub client_addr: String,
    /// HTTP address (port 9425).
    pub http_addr: String,
}

impl fmt::Display for MasterNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "raft={} client={} http={}", self.raft_addr, self.client_addr, self.http_addr)
    }
}

/// One changelog entry. Time comes from the leader inside the entry: applying is a pure
/// function of the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// A client mutation, applied at most once per (`session`, `seq`).
    Client { session: u64, seq: u64, first_incomplete: u64, now: Timestamp, creds: Creds, op: WriteOp },
    /// Open a client session; the outcome carries its id.
    OpenSession { now: Timestamp, info: String },
    /// Close a session and release its open files.
    CloseSession { session: u64, now: Timestamp },
    /// Drop sessions idle since before `older_than` (releasing their open files).
    ExpireSessions { now: Timestamp, older_than: Timestamp },
    /// Delete trash entries whose time is up.
    PurgeTrash { now: Timestamp },
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Client { session, seq, op, .. } => write!(f, "client {session}#{seq} {}", op.name()),
            Command::OpenSession { .. } => write!(f, "open-session"),
            Command::CloseSession { session, .. } => write!(f, "close-session {session}"),
            Command::ExpireSessions { .. } => write!(f, "expire-sessions"),
            Command::PurgeTrash { .. } => write!(f, "purge-trash"),
        }
    }
}

/// What applying a [`Command`] produced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandOutcome {
    /// The operation's result (possibly replayed from the session's reply cache).
    Result(OpResult),
    /// The session does not exist (expired, closed, or never opened).
    SessionUnknown,
    /// The sequence number is below the session's acknowledged window: a late duplicate of a
    /// request whose answer the client already has.
    Stale,
}

openraft::declare_raft_types!(
    /// Types of the metadata Raft group.
    pub TypeConfig:
        D = Command,
        R = CommandOutcome,
        NodeId = u64,
        Node = MasterNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// The Raft handle of a master.
pub type Raft = openraft::Raft<TypeConfig>;
pub type LogId = openraft::LogId<u64>;
pub type StoredMembership = openraft::StoredMembership<u64, MasterNode>;
pub type SnapshotMeta = openraft::SnapshotMeta<u64, MasterNode>;
pub type StorageError = openraft::StorageError<u64>;
