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
//!
//! Damage is per 64 KiB block: a chunkserver reports the blocks of a copy it found bad
//! ([`DamageReport`]); the leader keeps the copy (it still serves its good blocks) and has the
//! bad blocks rewritten from other copies ([`CsCommand::RepairBlocks`]). Nothing here deletes a
//! copy because it is damaged.

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

/// What a chunkserver knows to be wrong with one of its copies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DamageReport {
    pub id: u64,
    pub version: u32,
    /// The bad 64 KiB blocks (CRC mismatch or unreadable), sorted; the copy's other blocks
    /// serve. Empty: the whole copy is unusable (its fsync failed, its file is missing or
    /// unreadable) and is not served at all.
    pub blocks: Vec<u32>,
    /// Why, for logs.
    pub reason: String,
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
        /// The damage known on the copies in `chunks` (every damaged copy, so a new leader
        /// learns it together with the copies).
        damaged: Vec<DamageReport>,
    },
    /// Every heartbeat interval (1 s). The leader answers each with `Welcome { term }`, so a
    /// chunkserver that hears nothing for `MASTER_TIMEOUT` knows its master is gone.
    Heartbeat { space: SpaceReport },
    /// The damage of a copy changed (new bad blocks found, or the copy became unusable): the
    /// report says all of it, replacing what the leader knew. The leader keeps the copy and
    /// repairs it; it never deletes a copy for this.
    ChunkDamaged(DamageReport),
    /// A copy is no longer served here (its disk left `mfshdd.cfg`); its file stays.
    ChunkLost { id: u64, version: u32, reason: String },
    /// A copy appeared outside of a command (e.g. a disk came back): report it.
    ChunkAdded { chunk: ChunkReport },
    /// The answer to a [`MasterToCs::Command`].
    CommandDone { req_id: u64, result: Result<CommandReply, CsError> },
    /// Instead of `Hello`, as the only message of a connection: which master leads? Asked of
    /// the other masters by a chunkserver whose leader went silent. Answered with
    /// [`MasterToCs::Leader`], then the connection closes.
    WhoLeads,
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
    /// The answer to `WhoLeads`: this master's term and the chunkserver address (9420) of the
    /// leader it knows in it (itself when it leads), if any.
    Leader { term: u64, leader: Option<String> },
    /// The chunkserver addresses (9420) of every member of the master group, from the leader
    /// after `Welcome` and when the group changes: a chunkserver tries them too when it looks
    /// for a leader, so masters added since its `MASTER_HOST` was written are found.
    Masters { addrs: Vec<String> },
}

/// Most master addresses a chunkserver keeps from a `Masters` message.
pub const MAX_LEARNED_MASTERS: usize = 64;

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
    /// Fetch a copy of the chunk at `version` from `sources` (data addresses), each block from
    /// the first source that has it good, verify every block's CRC, and store it.
    Replicate { id: u64, version: u32, sources: Vec<String> },
    /// Rewrite the bad `blocks` of this server's copy at `version`: read each from the first
    /// of `sources` that serves it good, else from the first of `others` whose bytes hash to
    /// the CRC this copy stored for the block, and write the whole block and its CRC, under the
    /// chunk's lock, only while the block is still bad here. `sources` are valid copies at
    /// `version` (data addresses), trusted for a block that matches their own stored CRC (the
    /// repaired copy's CRC entry may be what went bad); `others` are any other copies (an old
    /// version may predate a write, so only a CRC match proves a block right). Answer:
    /// [`CommandReply::Repaired`].
    RepairBlocks { id: u64, version: u32, blocks: Vec<u32>, sources: Vec<String>, others: Vec<RepairSource> },
    /// Copy-on-write of a chunk a snapshot shares: make chunk `id` at `version` with the
    /// data of chunk `from_id` at `from_version`, read from `sources` (its valid copies, this
    /// server's own first) as a replication reads them: each block from the first source
    /// that serves it good, every CRC checked, the new file renamed into place whole.
    Duplicate { id: u64, version: u32, from_id: u64, from_version: u32, sources: Vec<String> },
}

/// Most sources a `Replicate` or a `RepairBlocks` (`sources` and `others` together) names: more
/// copies than any goal asks for. A chunkserver refuses a command naming more.
pub const MAX_SOURCES: usize = 16;

/// A copy that is not a valid copy at the repaired version, to repair blocks from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepairSource {
    /// Its chunkserver's data address.
    pub addr: String,
    /// The version it holds.
    pub version: u32,
}

/// What a command answers when it succeeds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandReply {
    Done,
    /// The answer to `RepairBlocks`: the blocks of the copy still bad afterwards (sorted; empty
    /// when the copy is whole again).
    Repaired {
        bad: Vec<u32>,
    },
}

impl CsCommand {
    /// A short name for metrics and logs.
    pub fn name(&self) -> &'static str {
        match self {
            CsCommand::Create { .. } => "create",
            CsCommand::Delete { .. } => "delete",
            CsCommand::SetVersion { .. } => "set_version",
            CsCommand::Replicate { .. } => "replicate",
            CsCommand::RepairBlocks { .. } => "repair_blocks",
            CsCommand::Duplicate { .. } => "duplicate",
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
    /// Block `block` of the copy is bad (its CRC does not match, or it cannot be read): its
    /// bytes are never returned. The copy's other blocks still serve.
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
    /// The chunkserver is short of a resource (file descriptors, memory, a retryable
    /// interruption): nothing is wrong with the data. Try again, or another copy.
    #[error("chunkserver busy: {0}")]
    Busy(String),
    /// The copy is not served at all (its fsync failed, its file is missing or unreadable);
    /// read another copy.
    #[error("copy not served: {0}")]
    Unusable(String),
    /// A write or truncate could not be forwarded along the chain: `addr` failed.
    #[error("chain member {addr} failed: {reason}")]
    Chain { addr: String, reason: String },
    /// The request's data token was refused (missing, forged, expired, another chunk or
    /// version, a chain member it does not name, a key this server was not given): ask the
    /// leader again for a fresh one.
    #[error("data token refused: {0}")]
    Token(String),
}
