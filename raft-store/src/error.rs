//! The error type of this crate and its conversion into openraft's [`StorageError`].

use std::path::PathBuf;

use openraft::{AnyError, ErrorSubject, ErrorVerb, NodeId, StorageError, StorageIOError};

/// Everything that can go wrong in `raft-store`.
///
/// The log store converts it into an openraft [`StorageError`] (via
/// [`StoreError::into_storage_error`]) before handing it to openraft, which treats any storage
/// error as fatal and shuts the Raft node down. [`crate::SnapshotFiles`] returns it as is; the
/// state machine that uses it decides which openraft error subject it maps to.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// RocksDB reported an error (I/O error, corruption detected by its checksums, ...).
    #[error("rocksdb: {0}")]
    Rocks(#[from] rocksdb::Error),

    /// A column family that `open` creates is missing from the opened database.
    #[error("rocksdb column family {0:?} is missing")]
    MissingColumnFamily(&'static str),

    /// A file system operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done, e.g. "create", "rename", "fsync".
        op: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A value could not be serialized with bincode.
    #[error("cannot encode {what}: {source}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// The underlying error.
        #[source]
        source: bincode::error::EncodeError,
    },

    /// Bytes read from disk could not be deserialized with bincode.
    #[error("cannot decode {what}: {source}")]
    Decode {
        /// What was being decoded.
        what: &'static str,
        /// The underlying error.
        #[source]
        source: bincode::error::DecodeError,
    },

    /// Bytes read from disk are structurally invalid (bad key length, bad snapshot header,
    /// checksum mismatch, trailing garbage, ...).
    #[error("corrupt {what}: {reason}")]
    Corrupt {
        /// What is corrupt (a file name, a key, ...).
        what: String,
        /// Why it is considered corrupt.
        reason: String,
    },
}

impl StoreError {
    /// Shorthand for [`StoreError::Io`].
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StoreError::Io { op, path: path.into(), source }
    }

    /// Shorthand for [`StoreError::Corrupt`].
    pub fn corrupt(what: impl Into<String>, reason: impl Into<String>) -> Self {
        StoreError::Corrupt { what: what.into(), reason: reason.into() }
    }

    /// Converts this error into an openraft [`StorageError`] about `subject`, raised while
    /// doing `verb`.
    pub fn into_storage_error<NID: NodeId>(self, subject: ErrorSubject<NID>, verb: ErrorVerb) -> StorageError<NID> {
        StorageError::IO { source: StorageIOError::new(subject, verb, AnyError::new(&self)) }
    }
}
