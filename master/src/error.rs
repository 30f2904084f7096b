//! Errors of starting and running a master.

/// Why a master could not start or keep running.
#[derive(Debug, thiserror::Error)]
pub enum MasterError {
    #[error("config: {0}")]
    Config(#[from] crate::config::ConfigError),
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
