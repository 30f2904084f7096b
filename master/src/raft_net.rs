//! Outgoing Raft RPCs: openraft's `RaftNetwork` over one TCP connection per peer.

use std::time::Duration;

use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use crate::peer_proto::{PeerRequest, PeerResponse};
use crate::raft_types::{MasterNode, TypeConfig};

/// How long to wait for a TCP connection to a peer.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// Makes a [`PeerClient`] for each peer openraft replicates to.
#[derive(Clone, Default)]
pub struct Network;

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerClient;

    async fn new_client(&mut self, target: u64, node: &MasterNode) -> PeerClient {
        PeerClient { target, addr: node.raft_addr.clone(), conn: Mutex::new(None) }
    }
}

/// The connection to one peer, re-established on the next call after any error.
pub struct PeerClient {
    target: u64,
    addr: String,
    conn: Mutex<Option<TcpStream>>,
}

/// Why a call to a peer failed before getting an answer.
enum CallError {
    Unreachable(std::io::Error),
    Network(std::io::Error),
}

/// Send one request to `addr` over `conn` (connecting when needed) and read the answer.
pub async fn call_once(
    conn: &mut Option<TcpStream>,
    addr: &str,
    req: &PeerRequest,
    ttl: Duration,
) -> Result<PeerResponse, std::io::Error> {
    if conn.is_none() {
        let s = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, format!("connect to {addr} timed out")))??;
        s.set_nodelay(true)?;
        *conn = Some(s);
    }
    let Some(stream) = conn.as_mut() else {
        return Err(std::io::Error::other("no connection"));
    };
    let exchange = async {
        proto::frame::write_frame(stream, req).await?;
        proto::frame::read_frame::<_, PeerResponse>(stream).await
    };
    match tokio::time::timeout(ttl, exchange).await {
        Ok(Ok(resp)) => Ok(resp),
        Ok(Err(e)) => {
            *conn = None;
            Err(std::io::Error::other(e.to_string()))
        }
        Err(_) => {
            *conn = None;
            Err(std::io::Error::new(std::io::ErrorKind::TimedOut, format!("no answer from {addr} within {ttl:?}")))
        }
    }
}

impl PeerClient {
    async fn call(&self, req: PeerRequest, option: &RPCOption) -> Result<PeerResponse, CallError> {
        let mut conn = self.conn.lock().await;
        let fresh = conn.is_none();
        match call_once(&mut conn, &self.addr, &req, option.hard_ttl()).await {
            Ok(r) => Ok(r),
            Err(e) if fresh => Err(CallError::Unreachable(e)),
            Err(e) => Err(CallError::Network(e)),
        }
    }

    fn rpc_err<E: std::error::Error>(e: CallError) -> RPCError<u64, MasterNode, E> {
        match e {
            CallError::Unreachable(e) => RPCError::Unreachable(Unreachable::new(&e)),
            CallError::Network(e) => RPCError::Network(NetworkError::new(&e)),
        }
    }

    fn unexpected<E: std::error::Error>(&self, what: &str) -> RPCError<u64, MasterNode, E> {
        let e = std::io::Error::other(format!("peer {} answered {what} with the wrong message type", self.target));
        RPCError::Network(NetworkError::new(&e))
    }
}

/// Shortest wait for an append-entries answer. openraft 0.9 gives appends the heartbeat interval
/// (50 ms) as their deadline, but a follower answers only after its fsync, which under a busy disk
/// takes longer; missing that deadline closed the connection and put replication into a 500 ms
/// backoff, stalling every commit. A follower that is waited on longer has already seen the
/// request (and so keeps refusing votes for another leader); a dead one fails fast by reset.
const MIN_APPEND_TTL: Duration = Duration::from_secs(1);

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, MasterNode, RaftError<u64>>> {
        let option = RPCOption::new(option.hard_ttl().max(MIN_APPEND_TTL));
        match self.call(PeerRequest::AppendEntries(rpc), &option).await.map_err(Self::rpc_err)? {
            PeerResponse::AppendEntries(r) => r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e))),
            _ => Err(self.unexpected("append-entries")),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<u64>, RPCError<u64, MasterNode, RaftError<u64, InstallSnapshotError>>> {
        match self.call(PeerRequest::InstallSnapshot(rpc), &option).await.map_err(Self::rpc_err)? {
            PeerResponse::InstallSnapshot(r) => r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e))),
            _ => Err(self.unexpected("install-snapshot")),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, MasterNode, RaftError<u64>>> {
        match self.call(PeerRequest::Vote(rpc), &option).await.map_err(Self::rpc_err)? {
            PeerResponse::Vote(r) => r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e))),
            _ => Err(self.unexpected("vote")),
        }
    }
}
