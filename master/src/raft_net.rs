//! Outgoing Raft RPCs: openraft's `RaftNetwork` over one TCP connection per peer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use tokio::io::BufReader;
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use crate::peer_auth::{HandshakeError, PeerIdentity};
use crate::peer_proto::{PeerRequest, PeerResponse};
use crate::raft_types::{MasterNode, TypeConfig};

/// How long to wait for a TCP connection to a peer.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// Makes a [`PeerClient`] for each peer openraft replicates to.
#[derive(Clone, Default)]
pub struct Network {
    pub me: Arc<PeerIdentity>,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerClient;

    async fn new_client(&mut self, target: u64, node: &MasterNode) -> PeerClient {
        PeerClient {
            target,
            addr: node.raft_addr.clone(),
            me: self.me.clone(),
            conn: Mutex::new((None, Instant::now())),
        }
    }
}

/// The connection to one peer, re-established on the next call after any error, and after
/// it sat unused for [`proto::rpc::IDLE_RETIRE`] (a follower's connection to its leader only
/// carries votes): the peer closes connections idle for its `NET_IDLE_TIMEOUT`, and a vote sent
/// on a connection the peer just closed would be lost for a whole election round.
pub struct PeerClient {
    target: u64,
    addr: String,
    me: Arc<PeerIdentity>,
    /// The connection and when it was last used.
    conn: Mutex<(Option<PeerStream>, Instant)>,
}

/// Why a call to a peer failed before getting an answer.
#[derive(Debug)]
pub enum CallError {
    /// No connection could be made: openraft backs off (500 ms) before the next try.
    Unreachable(std::io::Error),
    /// Connected, but the exchange failed or took too long: the next call tries again at once
    /// on a new connection. (A busy follower's slow fsync is this, not a dead peer: backing
    /// off from it left followers without appends long enough to start elections.)
    Network(std::io::Error),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Unreachable(e) | CallError::Network(e) => e.fmt(f),
        }
    }
}

/// A connection to a peer, read through a buffer (an answer's header and body in one read).
pub type PeerStream = BufReader<TcpStream>;

/// Send one request to `addr` over `conn` (connecting when needed) and read the answer.
///
/// The stream is taken out of `conn` for the exchange and put back only once the answer is
/// read, so a caller that drops this future half way (openraft gives an append its own
/// deadline and drops the call when it passes) leaves no connection behind with an answer
/// still in flight: the next request on it would read that old answer as its own, and a
/// leader would count a follower's acknowledgement of entries it has not stored yet.
///
/// A new connection is made from `me` and passes the handshake of `peer_auth.rs` first; a
/// peer that refuses it (or fails it) counts as unreachable.
pub async fn call_once(
    conn: &mut Option<PeerStream>,
    me: &PeerIdentity,
    addr: &str,
    req: &PeerRequest,
    ttl: Duration,
) -> Result<PeerResponse, CallError> {
    let mut stream = match conn.take() {
        Some(s) => s,
        None => BufReader::with_capacity(
            proto::rpc::READ_BUFFER,
            me.connect(addr, CONNECT_TIMEOUT).await.map_err(|e| match e {
                HandshakeError::Io(e) => CallError::Unreachable(e),
                other => CallError::Unreachable(std::io::Error::other(format!("{addr}: {other}"))),
            })?,
        ),
    };
    let exchange = async {
        proto::frame::write_frame(&mut stream, req).await?;
        proto::frame::read_frame::<_, PeerResponse>(&mut stream).await
    };
    match tokio::time::timeout(ttl, exchange).await {
        Ok(Ok(resp)) => {
            *conn = Some(stream);
            Ok(resp)
        }
        Ok(Err(e)) => Err(CallError::Network(std::io::Error::other(e.to_string()))),
        Err(_) => Err(CallError::Network(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no answer from {addr} within {ttl:?}"),
        ))),
    }
}

impl PeerClient {
    async fn call(&self, req: PeerRequest, option: &RPCOption) -> Result<PeerResponse, CallError> {
        let mut guard = self.conn.lock().await;
        let (conn, used) = &mut *guard;
        if used.elapsed() >= proto::rpc::IDLE_RETIRE {
            *conn = None;
        }
        *used = Instant::now();
        call_once(conn, &self.me, &self.addr, &req, option.hard_ttl()).await
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

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, MasterNode, RaftError<u64>>> {
        // openraft 0.9 drops this call itself at the heartbeat interval (its deadline for an
        // append); `call_once` then leaves the connection closed, and the next append opens a
        // new one and resends from the follower's last acknowledged entry.
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// The server's side of a handshake without a code.
    async fn accept_handshake(s: &mut tokio::net::TcpStream) -> bool {
        let Ok(PeerRequest::Hello { .. }) = proto::frame::read_frame::<_, PeerRequest>(s).await else { return false };
        let hello = PeerResponse::Hello { nonce: [0; 32], proof: None };
        if proto::frame::write_frame(s, &hello).await.is_err() {
            return false;
        }
        let Ok(PeerRequest::Prove { .. }) = proto::frame::read_frame::<_, PeerRequest>(s).await else { return false };
        proto::frame::write_frame(s, &PeerResponse::Welcome).await.is_ok()
    }

    /// A peer that answers each probe with `node_id` = the number of the request (over all
    /// connections), the first one after a pause.
    async fn slow_first_peer() -> String {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let count = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let count = count.clone();
                tokio::spawn(async move {
                    if !accept_handshake(&mut s).await {
                        return;
                    }
                    while let Ok(PeerRequest::Probe) = proto::frame::read_frame::<_, PeerRequest>(&mut s).await {
                        let n = count.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                        if n == 1 {
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                        let resp = PeerResponse::Probe { node_id: n, initialized: false };
                        if proto::frame::write_frame(&mut s, &resp).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    fn me() -> PeerIdentity {
        PeerIdentity { node_id: 1, code: None, bind_ip: None }
    }

    #[tokio::test]
    async fn a_call_dropped_half_way_leaves_no_answer_for_the_next_one() {
        let addr = slow_first_peer().await;
        let mut conn = None;
        // openraft's own deadline drops the call while the answer is still on its way.
        let dropped = tokio::time::timeout(
            Duration::from_millis(50),
            call_once(&mut conn, &me(), &addr, &PeerRequest::Probe, Duration::from_secs(5)),
        )
        .await;
        assert!(dropped.is_err(), "the first answer takes 200 ms");
        tokio::time::sleep(Duration::from_millis(300)).await;
        // The next calls must get the answers to their own requests (2 and 3), not the late
        // answer to the dropped one (1).
        let r = call_once(&mut conn, &me(), &addr, &PeerRequest::Probe, Duration::from_secs(5)).await.unwrap();
        assert!(matches!(r, PeerResponse::Probe { node_id: 2, .. }), "got {r:?}");
        let r = call_once(&mut conn, &me(), &addr, &PeerRequest::Probe, Duration::from_secs(5)).await.unwrap();
        assert!(matches!(r, PeerResponse::Probe { node_id: 3, .. }), "got {r:?}");
    }

    #[tokio::test]
    async fn only_a_failed_connect_counts_as_unreachable() {
        // Nobody listens: unreachable (openraft backs off).
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let closed = l.local_addr().unwrap().to_string();
        drop(l);
        let mut conn = None;
        let r = call_once(&mut conn, &me(), &closed, &PeerRequest::Probe, Duration::from_millis(100)).await;
        assert!(matches!(r, Err(CallError::Unreachable(_))), "{r:?}");
        // A peer that takes the connection (and the handshake) but is slow to answer (a busy
        // disk): a network error, retried at once, also on a new connection.
        let slow = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = slow.local_addr().unwrap().to_string();
        let _held = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((mut s, _)) = slow.accept().await {
                if accept_handshake(&mut s).await {
                    held.push(s);
                }
            }
        });
        for _ in 0..2 {
            let r = call_once(&mut conn, &me(), &addr, &PeerRequest::Probe, Duration::from_millis(50)).await;
            assert!(matches!(r, Err(CallError::Network(_))), "{r:?}");
            assert!(conn.is_none(), "a failed exchange leaves no connection behind");
        }
    }
}
