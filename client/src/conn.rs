//! The connection to a master: the shared pipelined RPC connection of `proto::rpc`.

use proto::client::{RequestBody, ResponseBody};

/// A pipelined connection to a master's client port.
pub type MasterConn = proto::rpc::RpcConn<RequestBody, ResponseBody>;
