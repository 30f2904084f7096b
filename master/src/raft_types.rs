//! The openraft type configuration of the metadata master: what a log entry carries
//! ([`Command`]), what applying it returns ([`CommandOutcome`]) and what a member is
//! ([`MasterNode`]).

use std::fmt;
use std::io::Cursor;

use proto::client::{OpResult, WriteOp};
use proto::meta::{Creds, Ino, Timestamp};
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
    /// Chunkserver address (port 9420), handed to chunkservers in "not leader, try X" answers.
    pub cs_addr: String,
}

impl fmt::Display for MasterNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "raft={} client={} http={} cs={}", self.raft_addr, self.client_addr, self.http_addr, self.cs_addr)
    }
}

/// One changelog entry. Time comes from the leader inside the entry: applying is a pure
/// function of the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// A client mutation, applied at most once per (`session`, `seq`).
    Client { session: u64, seq: u64, first_incomplete: u64, now: Timestamp, creds: Creds, op: WriteOp },
    /// Open a client session with the permissions its export rule granted, bound to `secret`
    /// (random, from the leader); the outcome carries its id and the secret.
    OpenSession {
        now: Timestamp,
        info: String,
        access: crate::access::SessionAccess,
        secret: [u8; proto::client::SESSION_SECRET_LEN],
    },
    /// Close a session and release its open files.
    CloseSession { session: u64, now: Timestamp },
    /// Drop sessions idle since before `older_than` (releasing their open files).
    ExpireSessions { now: Timestamp, older_than: Timestamp },
    /// Delete trash entries whose time is up.
    PurgeTrash { now: Timestamp },
    /// A client's `WriteOp::ChunkWrite` as the leader decided it, applied at most once per
    /// (`session`, `seq`) like [`Command::Client`]: with `new_chunk`, allocate that id in the
    /// hole at `index`; without, bump the version of the chunk there. `holders` (data
    /// addresses, in write chain order) become the chunk's holders.
    ChunkWrite {
        session: u64,
        seq: u64,
        first_incomplete: u64,
        now: Timestamp,
        creds: Creds,
        ino: Ino,
        index: u32,
        new_chunk: Option<u64>,
        holders: Vec<String>,
    },
    /// The bump of chunk `id` to `version` reached only `holders`: they become its holders
    /// (the others' copies are stale). Ignored when the chunk has moved to another version.
    ChunkHolders { id: u64, version: u32, holders: Vec<String> },
    /// Before a replication: bump chunk `id` from `version` to `version + 1` for `holders`,
    /// so a client still writing with the old version cannot write past the new copy.
    /// Ignored when the chunk has moved to another version.
    ChunkBump { id: u64, version: u32, holders: Vec<String> },
    /// A replication gave `addr` a valid copy of chunk `id` at `version`: add it to the
    /// holders. Ignored when the chunk has moved to another version.
    ChunkCopyAdded { id: u64, version: u32, addr: String },
    /// No chunkserver holds these deleted chunks any more: forget them.
    ChunksDeleted { ids: Vec<u64> },
    /// A client's `WriteOp::FileRepair` with the leader's plan (`chunks/file_repair.rs`),
    /// applied at most once per (`session`, `seq`) like [`Command::Client`].
    FileRepair {
        session: u64,
        seq: u64,
        first_incomplete: u64,
        now: Timestamp,
        creds: Creds,
        ino: Ino,
        steps: Vec<crate::namespace::RepairStep>,
    },
    /// A client's `WriteOp::ChunkWrite` on a chunk a snapshot shares, as the leader did it:
    /// `holders` (in write chain order) duplicated chunk `old` as `new_chunk` at version 1, and
    /// chunk `index` of `ino` becomes that copy. Applied at most once per (`session`, `seq`).
    ChunkCow {
        session: u64,
        seq: u64,
        first_incomplete: u64,
        now: Timestamp,
        creds: Creds,
        ino: Ino,
        index: u32,
        old: u64,
        new_chunk: u64,
        holders: Vec<String>,
    },
    /// Commands proposed together (`proposer.rs`), applied in order as if they were entries
    /// of their own, each to its own outcome ([`CommandOutcome::Batch`]). Never nested.
    Batch(Vec<Command>),
    /// Master `node` is on the disk `disk` (its `DATA_PATH`'s id, `disk_id.rs`): recorded by
    /// the leader when a member first answers, and again when one that lost its disk has been
    /// taken back through a membership change. Appended last: older variants keep their numbers.
    MemberDisk { node: u64, disk: [u8; 16] },
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Client { session, seq, op, .. } => write!(f, "client {session}#{seq} {}", op.name()),
            Command::OpenSession { .. } => write!(f, "open-session"),
            Command::CloseSession { session, .. } => write!(f, "close-session {session}"),
            Command::ExpireSessions { .. } => write!(f, "expire-sessions"),
            Command::PurgeTrash { .. } => write!(f, "purge-trash"),
            Command::MemberDisk { node, .. } => write!(f, "member-disk {node}"),
            Command::ChunkWrite { session, seq, ino, index, new_chunk, .. } => match new_chunk {
                Some(id) => write!(f, "client {session}#{seq} chunk-write {ino}[{index}] new {id}"),
                None => write!(f, "client {session}#{seq} chunk-write {ino}[{index}] bump"),
            },
            Command::ChunkHolders { id, version, holders } => {
                write!(f, "chunk-holders {id} v{version} {}", holders.join(","))
            }
            Command::ChunkBump { id, version, .. } => write!(f, "chunk-bump {id} v{version}"),
            Command::ChunkCopyAdded { id, version, addr } => write!(f, "chunk-copy-added {id} v{version} {addr}"),
            Command::ChunksDeleted { ids } => write!(f, "chunks-deleted ({})", ids.len()),
            Command::FileRepair { session, seq, ino, steps, .. } => {
                write!(f, "client {session}#{seq} file-repair {ino} ({} chunks)", steps.len())
            }
            Command::ChunkCow { session, seq, ino, index, old, new_chunk, .. } => {
                write!(f, "client {session}#{seq} chunk-cow {ino}[{index}] {old} -> {new_chunk}")
            }
            Command::Batch(cmds) => write!(f, "batch of {}", cmds.len()),
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
    /// The outcomes of a [`Command::Batch`], in its order.
    Batch(Vec<CommandOutcome>),
}

openraft::declare_raft_types!(
    /// Types of the metadata Raft group.
    pub TypeConfig:
        D = crate::log_format::LogCommand,
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
