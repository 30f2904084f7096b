//! Errors of starting and running a master.

/// Why a master could not start or keep running.
#[derive(Debug, thiserror::Error)]
pub enum MasterError {
    #[error("config: {0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("exports: {0}")]
    Exports(#[from] crate::exports::ExportsError),
    #[error("topology: {0}")]
    Topology(#[from] crate::topology::TopologyError),
    #[error("storage: {0}")]
    Store(#[from] raft_store::StoreError),
    #[error("metadata snapshot: {0}")]
    Snapshot(String),
    #[error("raft: {0}")]
    Raft(String),
    #[error("cannot listen on {addr} ({what}): {source}")]
    Listen { addr: String, what: &'static str, source: std::io::Error },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Why a command to a chunkserver did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsCallError {
    /// The chunkserver answered with an error.
    #[error("chunkserver {addr}: {err}")]
    Refused { addr: String, err: proto::cs::CsError },
    /// No answer in time; the command may still happen later.
    #[error("chunkserver {addr} did not answer within {secs} s")]
    Timeout { addr: String, secs: u64 },
    /// Not connected (or the connection closed before the answer).
    #[error("chunkserver {addr} is not connected")]
    Disconnected { addr: String },
    /// The chunkserver went silent while the command waited (`millis` ms): no heartbeat for
    /// its limit, or no answer to a ping on its data port. Frozen or off the network; the
    /// command may still happen later.
    #[error("chunkserver {addr} went silent (no answer for {millis} ms)")]
    Silent { addr: String, millis: u64 },
}

impl CsCallError {
    /// A short name for metrics.
    pub fn name(&self) -> &'static str {
        match self {
            CsCallError::Refused { .. } => "refused",
            CsCallError::Timeout { .. } => "timeout",
            CsCallError::Disconnected { .. } => "disconnected",
            CsCallError::Silent { .. } => "silent",
        }
    }
}
