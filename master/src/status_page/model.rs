//! What the status page shows, as `/api/v1/cluster` answers it: MooseFS's CGI monitor's tabs
//! (info, servers, disks, exports, mounts, operations) and the Raft group.

use serde::{Deserialize, Serialize};

use crate::namespace::NsSummary;

/// The whole page.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ClusterView {
    /// The master the page was opened on.
    pub served_by: u64,
    /// The master whose view this is: the leader's, unless no leader could be asked.
    pub view_of: u64,
    /// True when `view_of` led when it built the view.
    pub leader_view: bool,
    /// Why this is not the leader's view, or what the reader should know first.
    pub notice: Option<String>,
    /// Unix seconds when the view was built.
    pub generated: u64,
    pub info: Info,
    pub masters: Vec<MasterRow>,
    pub servers: Vec<ServerRow>,
    pub disks: Vec<DiskRow>,
    pub exports: ExportsView,
    pub mounts: Vec<MountRow>,
    pub operations: Operations,
}

/// The "info" tab: the cluster at a glance.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Info {
    pub version: String,
    pub leader_id: Option<u64>,
    pub term: u64,
    /// Seconds the viewing master has run.
    pub uptime_secs: u64,
    /// Resident memory of the viewing master.
    pub rss_bytes: Option<u64>,
    pub namespace: NsSummary,
    /// Chunk copies the chunkservers reported (leader only).
    pub copies: u64,
    /// Space of the registered chunkservers (leader only).
    pub total_bytes: u64,
    pub avail_bytes: u64,
    /// What the leader's chunk loop judged; `None` until it judged every chunk.
    pub health: Option<ChunkHealth>,
}

/// The chunk loop's last judgement.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ChunkHealth {
    pub under_goal: i64,
    pub over_goal: i64,
    pub missing: i64,
    pub endangered: i64,
    pub damaged: i64,
    pub blocks_unrecoverable: i64,
    /// Under-goal chunks waiting for a replication, and replications running.
    pub replication_queue: i64,
    pub replications_in_flight: i64,
    /// Chunks by goal (row `g` is goal `g + 1`) and whole valid copies (column `c`, the last
    /// one "that many or more").
    pub matrix: Vec<Vec<u64>>,
}

/// One master of the group.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct MasterRow {
    pub id: u64,
    pub client_addr: String,
    pub http_addr: String,
    /// Votes in elections (a learner, such as `mfsmetalogger`, does not).
    pub voter: bool,
    /// False when its status could not be read.
    pub reachable: bool,
    /// leader, follower, candidate, learner, shutdown (as it says).
    pub role: Option<String>,
    pub term: Option<u64>,
    pub last_log_index: Option<u64>,
    pub applied_index: Option<u64>,
    pub snapshot_index: Option<u64>,
    /// Log entries it lacks, as the leader counts (only in the leader's view).
    pub lag_entries: Option<u64>,
    pub healthy: Option<bool>,
    /// Why its status could not be read.
    pub error: Option<String>,
}

/// One chunkserver, registered or lately lost.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ServerRow {
    pub data_addr: String,
    pub http_addr: String,
    pub connected: bool,
    pub chunks: u64,
    pub total_bytes: u64,
    pub avail_bytes: u64,
    pub load: u32,
    pub connected_secs: u64,
    /// Its valid copies with damage, as of the last chunk loop pass.
    pub damaged: i64,
}

/// One disk of a chunkserver (read from the chunkserver itself, as MooseFS's CGI does).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct DiskRow {
    pub server: String,
    pub path: String,
    pub chunks: u64,
    pub damaged: u64,
    pub used_bytes: u64,
    pub total_bytes: u64,
    pub avail_bytes: u64,
    pub marked_for_removal: bool,
    /// The disk's error, or why the chunkserver could not be asked.
    pub error: Option<String>,
}

/// The export rules the leader checks sessions against.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ExportsView {
    /// The file they came from, or "built-in default".
    pub source: String,
    pub rules: Vec<ExportRow>,
}

/// One line of `mfsexports.cfg`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ExportRow {
    pub line: usize,
    /// "from - to" (or one address, or "*").
    pub ips: String,
    /// The folder, or "." for the meta tree.
    pub path: String,
    pub alldirs: bool,
    pub readonly: bool,
    pub maproot: String,
    pub mapall: Option<String>,
    pub password: bool,
    pub admin: bool,
    pub ignore_gid: bool,
    pub min_version: String,
    pub goals: String,
    pub trash: String,
}

/// One client session (a mount, or a tool run on one).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct MountRow {
    pub session: u64,
    /// What the client said of itself ("mfsmount host:/mnt/x").
    pub info: String,
    /// The address of its last request to this leader.
    pub ip: Option<String>,
    /// The folder it mounts ("/" for the whole tree, "." for the meta tree).
    pub root: String,
    pub readonly: bool,
    pub maproot: String,
    pub mapall: Option<String>,
    pub goals: String,
    pub trash: String,
    /// Unix seconds.
    pub opened: u64,
    /// Seconds since this leader last heard it (none since it took over: `None`).
    pub idle_secs: Option<u64>,
}

/// The "operations" tab.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Operations {
    /// Requests answered by the viewing master since it started, by operation.
    pub totals: Vec<(String, u64)>,
    /// Requests of each session since this leader took over, by operation.
    pub sessions: Vec<SessionOps>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SessionOps {
    pub session: u64,
    pub info: String,
    pub ops: Vec<(String, u64)>,
}
