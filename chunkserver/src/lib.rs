//! mfschunkserver: chunk storage of RaftMFS.
//!
//! A chunkserver keeps chunk copies on its disks ([`store`], [`chunk_file`]), serves them on
//! the data port ([`data_server`]), follows the Raft leader on the master port and carries
//! out its commands ([`master_link`], [`commands`], reading other copies through [`fetch`]),
//! checks its chunks in the background ([`scrub`]) and reports itself over HTTP ([`http`],
//! [`metrics`]). [`run`] starts it all.

pub mod chunk_file;
pub mod commands;
pub mod config;
pub mod conn_pool;
pub mod data_server;
pub mod error;
pub mod events;
pub mod fetch;
pub mod hdd;
pub mod http;
pub mod leader_probe;
pub mod master_link;
pub mod metrics;
pub mod node;
pub mod scrub;
pub mod store;
pub mod tokens;

pub use config::ChunkserverConfig;
pub use error::Error;
pub use node::{run, Running};
