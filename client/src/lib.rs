//! RaftMFS client library, used by `mfsmount` and the tools.
//!
//! [`MasterClient`] finds the leader from a list of master addresses, follows redirects,
//! and retries across leader changes with the same session and sequence number, so a
//! mutation is applied exactly once; it gives up with [`ClientError::NoQuorum`] when no
//! leader answers within the operation deadline.

pub mod conn;
pub mod data_path;
pub mod epoch_map;
pub mod error;
pub mod fuse;
pub mod leader_probe;
pub mod master_client;
pub mod tools;

pub use data_path::FileIo;
pub use error::ClientError;
pub use master_client::{ClientConfig, MasterClient};
