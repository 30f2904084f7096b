//! The chunkserver ↔ master protocol (port 9420).
//!
//! A chunkserver connects to a master from its `MASTER_HOST` list and opens with
//! [`CsToMaster::Hello`] (its nonce); the master answers [`MasterToCs::Hello`] (its nonce, and
//! with an `AUTH_CODE` its proof of the code). The chunkserver then sends
//! [`CsToMaster::Register`] with every chunk it holds (and its own proof when it has a code).
//! A follower answers [`MasterToCs::NotLeader`] (with the leader's 9420 address when known);
//! the leader answers [`MasterToCs::Welcome`] with its Raft term, or [`MasterToCs::Refused`]
//! (a missing or wrong proof, an address another live chunkserver holds, an address that is
//! not the connection's). From then on the chunkserver sends heartbeats
//! and reports, and the leader sends [`MasterToCs::Command`]s, each answered by
//! [`CsToMaster::CommandDone`] with the same `req_id`. Every command carries the leader's
//! term: a chunkserver ignores (answers `StaleTerm`) a command whose term is older than the
//! newest term it has seen, so a deposed leader can never act on data.

use serde::{Deserialize, Serialize};

use crate::auth::{Proof, NONCE_LEN};

/// One chunk copy a chunkserver holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkReport {
    pub id: u64,
    pub version: u32,
    /// True when the copy lives on a disk marked for removal (`*` in mfshdd.cfg): it serves
    /// reads but does not count towards the goal, so the master copies it elsewhere first.
    pub to_remove: bool,
}

/// Space and load of a chunkserver.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpaceReport {
    /// Bytes on all disks (not marked for removal).
    pub total: u64,
    /// Bytes free for new chunks (after each disk's reserve, `HDD_LEAVE_SPACE_DEFAULT`).
    pub avail: u64,
    /// Chunk copies held.
    pub chunks: u64,
    /// Data requests in progress (reads, writes, replications): the load.
    pub load: u32,
}

/// Messages from a chunkserver to a master.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum CsToMaster {
    /// First message on a connection: the chunkserver's nonce for the master's proof.
    Hello { nonce: [u8; NONCE_LEN] },
    /// Second message: join the leader's chunkservers.
    Register {
        /// With an `AUTH_CODE`: `auth::prove(code, ChunkserverToMaster, master_nonce, cs_nonce)`.
        proof: Option<Proof>,
        /// Where clients and other chunkservers reach this server's data port (9422).
        data_addr: String,
        /// Its HTTP address (9427), for status pages.
        http_addr: String,
        space: SpaceReport,
        chunks: Vec<ChunkReport>,
    },
    /// Every heartbeat interval (1 s). The leader answers each with `Welcome { term }`, so a
    /// chunkserver that hears nothing for `MASTER_TIMEOUT` knows its master is gone.
    Heartbeat { space: SpaceReport },
    /// A copy failed a CRC check or an I/O error: the master should drop and replace it.
    ChunkDamaged { id: u64, version: u32, reason: String },
    /// A copy appeared outside of a command (e.g. a disk came back): report it.
    ChunkAdded { chunk: ChunkReport },
    /// The answer to a [`MasterToCs::Command`].
    CommandDone { req_id: u64, result: Result<(), CsError> },
}

/// Messages from a master to a chunkserver.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum MasterToCs {
    /// The answer to `Hello`: the master's nonce, and with an `AUTH_CODE` its proof
    /// (`auth::prove(code, MasterToChunkserver, cs_nonce, master_nonce)`).
    Hello { nonce: [u8; NONCE_LEN], proof: Option<Proof> },
    /// Registration refused; the connection closes. `reason` is for the operator's log.
    Refused { reason: String },
    /// A key data tokens are signed with (`proto::token`): after `Welcome`, and at every
    /// rotation. With an `AUTH_CODE`, `key` is sealed (`auth::seal` with the code and the
    /// connection's nonces: chunkserver's, then master's); without one it is plain.
    TokenKey { key_id: u64, key: Vec<u8> },
    /// Registration accepted by the leader of `term`; repeated as the answer to each heartbeat.
    Welcome { term: u64 },
    /// This master does not lead; `leader` is the leader's chunkserver address (9420) if known.
    NotLeader { leader: Option<String> },
    /// Do something to a chunk; answer with `CommandDone { req_id }`.
    Command { req_id: u64, term: u64, cmd: CsCommand },
}

/// Chunk commands from the leader.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CsCommand {
    /// Create an empty chunk file at this version, replacing any copy of that id the server
    /// holds: the leader is authoritative for chunk ids (a leftover from a creation that never
    /// committed must not block the id).
    Create { id: u64, version: u32 },
    /// Delete the copy if it has this version (`version == 0`: whatever version it has).
    Delete { id: u64, version: u32 },
    /// Renumber the copy to `new_version` if its version is one of `expect`.
    SetVersion { id: u64, expect: Vec<u32>, new_version: u32 },
    /// Fetch a copy of the chunk at `version` from one of `sources` (data addresses), verify
    /// every block's CRC, and store it.
    Replicate { id: u64, version: u32, sources: Vec<String> },
}

impl CsCommand {
    /// A short name for metrics and logs.
    pub fn name(&self) -> &'static str {
        match self {
            CsCommand::Create { .. } => "create",
            CsCommand::Delete { .. } => "delete",
            CsCommand::SetVersion { .. } => "set_version",
            CsCommand::Replicate { .. } => "replicate",
        }
    }
}

/// Errors of chunk commands and data requests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum CsError {
    #[error("no such chunk")]
    NoChunk,
    #[error("chunk has version {have}, not the one asked")]
    WrongVersion { have: u32 },
    #[error("chunk already exists")]
    Exists,
    #[error("CRC mismatch in block {block}")]
    Crc { block: u32 },
    #[error("no space left on the chunkserver's disks")]
    NoSpace,
    #[error("command from an old term {got} (newest seen {seen})")]
    StaleTerm { got: u64, seen: u64 },
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("i/o error: {0}")]
    Io(String),
    /// A write or truncate could not be forwarded along the chain: `addr` failed.
    #[error("chain member {addr} failed: {reason}")]
    Chain { addr: String, reason: String },
}
