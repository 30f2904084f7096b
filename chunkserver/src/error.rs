//! Errors of starting and running a chunkserver. Chunk operations answer with the protocol's
//! [`proto::cs::CsError`]; [`error_kind`] names those for metrics and logs. Which of them mean
//! damage is decided where they are made (`chunk_file`): `Crc { block }` is a bad block,
//! `Unusable` a copy out of service, `Busy` a shortage of resources that says nothing about
//! the data.

use proto::cs::CsError;

/// Why a chunkserver could not start (or reload).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("config: {0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("disks: {0}")]
    Disks(String),
    #[error("cannot listen on {addr} ({what}): {source}")]
    Listen { addr: String, what: &'static str, source: std::io::Error },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A short, stable name for a chunk error (a metric label).
pub fn error_kind(e: &CsError) -> &'static str {
    match e {
        CsError::NoChunk => "no_chunk",
        CsError::WrongVersion { .. } => "wrong_version",
        CsError::Exists => "exists",
        CsError::Crc { .. } => "crc",
        CsError::NoSpace => "no_space",
        CsError::StaleTerm { .. } => "stale_term",
        CsError::BadRequest(_) => "bad_request",
        CsError::Io(_) => "io",
        CsError::Busy(_) => "busy",
        CsError::Unusable(_) => "unusable",
        CsError::Chain { .. } => "chain",
        CsError::Token(_) => "token",
    }
}

/// The label of an outcome: `ok` or the error's kind.
pub fn outcome<T>(r: &Result<T, CsError>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(e) => error_kind(e),
    }
}
