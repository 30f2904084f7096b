//! Wire types and framing shared by every RaftMFS role.
//!
//! Every message of a protocol lives in one file: [`client`] holds the client ↔ master
//! protocol (port 9421). [`frame`] holds the framing that every TCP protocol of ours uses.

pub mod auth;
pub mod bytes;
pub mod client;
pub mod conn_gate;
pub mod cs;
pub mod daemon;
pub mod data;
pub mod data_watch;
pub mod eattr;
pub mod errno;
pub mod frame;
#[cfg(feature = "http")]
pub mod http_listener;
pub mod lock;
pub mod meta;
pub mod quota;
pub mod rpc;
pub mod token;

pub use errno::Errno;
