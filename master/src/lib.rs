//! mfsmaster: the metadata master of RaftMFS, one member of an openraft group.
//!
//! The namespace ([`namespace`]) is the replicated state machine ([`state`], [`sm_store`]);
//! the changelog is the Raft log in RocksDB (`raft-store`). Clients talk to the leader on
//! port 9421 ([`client_server`]), masters to each other on 9419 ([`peer_server`],
//! [`raft_net`]), chunkservers to the leader on 9420 ([`chunks`]), operators and Prometheus
//! on 9425 ([`http`]).

pub mod access;
pub mod admin;
pub mod bootstrap;
pub mod chunks;
pub mod client_server;
pub mod config;
pub mod error;
pub mod exports;
pub mod http;
pub mod leader_metrics;
pub mod live_settings;
pub mod log_format;
pub mod member_disks;
pub mod membership;
pub mod metrics;
pub mod namespace;
pub mod net_limits;
pub mod node;
pub mod peer_auth;
pub mod peer_proto;
pub mod peer_server;
pub mod proposer;
pub mod raft_api;
pub mod raft_net;
pub mod raft_types;
pub mod read_lease;
pub mod restore;
pub mod service;
pub mod session_activity;
pub mod sm_store;
pub mod state;
pub mod status_page;
pub mod topology;
pub mod vote_guard;
