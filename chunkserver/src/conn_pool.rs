//! Connections to other chunkservers' data ports, for chain forwarding and replication:
//! a few pipelined [`RpcConn`]s per address, replaced when they break.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proto::data::{DataCall, DataOp, DataResponse};
use proto::data_watch::call_watched;
use proto::rpc::{RpcConn, RpcError};

/// A connection to a data port.
pub type DataConn = RpcConn<DataCall, DataResponse>;

/// Connections kept per peer: each carries many requests at once, a few spread the work of
/// framing large writes over more than one socket.
const CONNS_PER_PEER: usize = 4;

/// A small pool of data connections per address.
pub struct ConnPool {
    conns: Mutex<HashMap<String, Vec<Arc<DataConn>>>>,
    next: AtomicUsize,
    connect_timeout: Duration,
}

impl ConnPool {
    pub fn new(connect_timeout: Duration) -> Self {
        ConnPool { conns: Mutex::new(HashMap::new()), next: AtomicUsize::new(0), connect_timeout }
    }

    /// A live connection to `addr`: a pooled one, or a new one while the pool is not full.
    /// Only a connection that opened is kept, and keeping one first drops every spent
    /// connection (broken, or idle past `proto::rpc::IDLE_RETIRE`) and every address left
    /// without one: chain addresses come from requests, and the pool must not grow with them.
    pub async fn get(&self, addr: &str) -> Result<Arc<DataConn>, RpcError> {
        {
            let mut conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(list) = conns.get_mut(addr) {
                list.retain(|c| !c.is_broken());
                if list.len() >= CONNS_PER_PEER {
                    let i = self.next.fetch_add(1, Ordering::Relaxed) % list.len();
                    return Ok(list[i].clone());
                }
            }
        }
        let conn = RpcConn::connect(addr, self.connect_timeout).await?;
        let mut conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        conns.retain(|_, list| {
            list.retain(|c| !c.is_broken());
            !list.is_empty()
        });
        let list = conns.entry(addr.to_string()).or_default();
        if list.len() < CONNS_PER_PEER {
            list.push(conn.clone());
        }
        Ok(conn)
    }

    /// Send one request to `addr` and wait for the answer, watching the peer
    /// ([`proto::data_watch`]): one that answers neither the request nor a ping is given up
    /// as silent within about a second, however long `timeout` is. When a pooled connection
    /// turns out broken on use, a request without a data payload is sent again on a new one
    /// (every data request is idempotent; writes are not copied just in case: the reader task
    /// sees a peer's close at once, so a dead connection is rarely handed out).
    pub async fn call(&self, addr: &str, call: DataCall, timeout: Duration) -> Result<DataResponse, RpcError> {
        let conn = self.get(addr).await?;
        if matches!(call.op, DataOp::Write { .. }) {
            return call_watched(&conn, call, timeout).await;
        }
        match call_watched(&conn, call.clone(), timeout).await {
            Err(RpcError::Broken(_)) => call_watched(&*self.get(addr).await?, call, timeout).await,
            r => r,
        }
    }
}
