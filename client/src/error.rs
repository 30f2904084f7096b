//! Errors of the client library.

use std::time::Duration;

use proto::Errno;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The file system answered with a POSIX error.
    #[error("{0}")]
    Errno(Errno),
    /// No master could commit the operation within the deadline: no leader, or a leader
    /// without a quorum. A mutation may still have been applied; it was not acknowledged.
    #[error("no quorum: no master could complete the operation within {waited:?} (last: {last})")]
    NoQuorum { waited: Duration, last: String },
    /// The session is gone (expired or closed); open a new client.
    #[error("session {0} is unknown to the masters (expired or closed)")]
    SessionLost(u64),
    /// A master refused the request.
    #[error("refused by the master: {0}")]
    Refused(String),
    /// The master answered with something this operation does not expect.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// Bad client configuration (e.g. an empty master list).
    #[error("configuration: {0}")]
    Config(String),
}

impl ClientError {
    /// The POSIX error to hand to an application (EIO for anything that is not an errno).
    pub fn errno(&self) -> Errno {
        match self {
            ClientError::Errno(e) => *e,
            ClientError::NoQuorum { .. } => Errno::ETIMEDOUT,
            _ => Errno::EIO,
        }
    }
}
