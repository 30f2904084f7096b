//! Who may speak Raft with this master (port 9419): only the masters of `RAFT_PEERS` (and of
//! the current membership), from their own addresses, and with an `AUTH_CODE` only those that
//! prove they know it.
//!
//! Every connection starts with a handshake before any Raft message is read:
//! 1. the caller sends `Hello { from, nonce }`: its node id and a nonce;
//! 2. the server checks that the connection comes from an address of node `from` (its host in
//!    `RAFT_PEERS` or in the membership, resolved), and answers `Hello { nonce, proof }` with
//!    its own nonce and, with a code, its proof of it;
//! 3. the caller checks that proof (a stranger at a peer's address cannot lead it astray) and
//!    sends `Prove { proof }`;
//! 4. the server checks that one and answers `Welcome`, or `Refused` and closes.
//!
//! Without this, anyone who reached 9419 could send a vote request with a higher term, and
//! the masters would depose their leader for a stranger.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use proto::auth::{self, Direction};
use proto::frame::FrameLimits;
use tokio::net::{TcpSocket, TcpStream};

use crate::config::MasterConfig;
use crate::peer_proto::{PeerRequest, PeerResponse};
use crate::raft_types::Raft;

/// How long a handshake may take, each way.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// The refusal reason of a handshake that failed on a malformed or unexpected frame.
pub const BAD_FRAME: &str = "bad_frame";
/// Largest handshake message (a node id and a nonce, or a proof, or a refusal's reason).
const HANDSHAKE_FRAME: FrameLimits = FrameLimits { max_frame: 4096, frame_timeout: HANDSHAKE_TIMEOUT };
/// How long a resolved peer host is trusted before it is resolved again.
const RESOLVE_TTL: Duration = Duration::from_secs(60);

/// Why a handshake failed.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Frame(#[from] proto::frame::FrameError),
    #[error("peer refused us: {0}")]
    Refused(String),
    #[error("{0}")]
    Protocol(String),
}

fn timed_out(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::TimedOut, format!("{what} timed out"))
}

/// This master as a caller: who it says it is, what it proves, where it connects from.
#[derive(Clone, Debug, Default)]
pub struct PeerIdentity {
    pub node_id: u64,
    pub code: Option<String>,
    /// The local address of outgoing connections: this master's own Raft address, so the
    /// peers see the address they know it by.
    pub bind_ip: Option<IpAddr>,
}

impl PeerIdentity {
    pub fn from_config(cfg: &MasterConfig) -> Self {
        let bind_ip = cfg.raft_listen.parse::<SocketAddr>().ok().map(|a| a.ip()).filter(|ip| !ip.is_unspecified());
        PeerIdentity { node_id: cfg.node_id, code: cfg.auth_code.clone(), bind_ip }
    }

    /// Connect to `addr` and run the caller's side of the handshake, each within `timeout`
    /// (a peer too slow to shake hands is as good as unreachable: the server answers the
    /// handshake from its accept task, whatever its Raft core is busy with).
    pub async fn connect(&self, addr: &str, timeout: Duration) -> Result<TcpStream, HandshakeError> {
        let target = tokio::time::timeout(timeout, tokio::net::lookup_host(addr))
            .await
            .map_err(|_| timed_out("resolve"))??
            .find(|t| self.bind_ip.is_none_or(|b| b.is_ipv4() == t.is_ipv4()))
            .ok_or_else(|| HandshakeError::Protocol(format!("{addr} resolves to no usable address")))?;
        let socket = if target.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
        if let Some(ip) = self.bind_ip {
            socket.bind(SocketAddr::new(ip, 0))?;
        }
        let mut stream =
            tokio::time::timeout(timeout, socket.connect(target)).await.map_err(|_| timed_out("connect"))??;
        stream.set_nodelay(true)?;
        tokio::time::timeout(timeout, self.handshake(&mut stream)).await.map_err(|_| timed_out("raft handshake"))??;
        Ok(stream)
    }

    async fn handshake(&self, stream: &mut TcpStream) -> Result<(), HandshakeError> {
        let nonce = auth::nonce();
        proto::frame::write_frame(stream, &PeerRequest::Hello { from: self.node_id, nonce }).await?;
        let (server_nonce, server_proof) = match proto::frame::read_frame_limited(stream, &HANDSHAKE_FRAME).await? {
            PeerResponse::Hello { nonce, proof } => (nonce, proof),
            PeerResponse::Refused { reason } => return Err(HandshakeError::Refused(reason)),
            _ => return Err(HandshakeError::Protocol("expected Hello".into())),
        };
        let proof = match &self.code {
            None => None,
            Some(code) => {
                let ok = server_proof
                    .is_some_and(|p| auth::verify(code, Direction::RaftServerToClient, &nonce, &server_nonce, &p));
                if !ok {
                    return Err(HandshakeError::Refused(
                        "the peer did not prove our AUTH_CODE (no code there, or another one)".into(),
                    ));
                }
                Some(auth::prove(code, Direction::RaftClientToServer, &server_nonce, &nonce))
            }
        };
        proto::frame::write_frame(stream, &PeerRequest::Prove { proof }).await?;
        match proto::frame::read_frame_limited(stream, &HANDSHAKE_FRAME).await? {
            PeerResponse::Welcome => Ok(()),
            PeerResponse::Refused { reason } => Err(HandshakeError::Refused(reason)),
            _ => Err(HandshakeError::Protocol("expected Welcome".into())),
        }
    }
}

/// This master as a server: which callers it admits.
pub struct PeerGate {
    code: Option<String>,
    /// `RAFT_PEERS`: node id → host.
    configured: HashMap<u64, String>,
    raft: Raft,
    /// Host → its addresses, and when they were resolved.
    resolved: Mutex<HashMap<String, (Vec<IpAddr>, Instant)>>,
}

impl PeerGate {
    pub fn new(cfg: &MasterConfig, raft: Raft) -> Self {
        PeerGate {
            code: cfg.auth_code.clone(),
            configured: cfg.peers.iter().map(|p| (p.id, p.host.clone())).collect(),
            raft,
            resolved: Mutex::new(HashMap::new()),
        }
    }

    /// The hosts node `id` is known by: its `RAFT_PEERS` entry and its membership entry.
    fn hosts_of(&self, id: u64) -> Vec<String> {
        let mut hosts: Vec<String> = self.configured.get(&id).cloned().into_iter().collect();
        let m = self.raft.metrics().borrow().membership_config.clone();
        if let Some(node) = m.membership().get_node(&id) {
            if let Some((host, _)) = node.raft_addr.rsplit_once(':') {
                let host = host.trim_matches(|c| c == '[' || c == ']').to_string();
                if !hosts.contains(&host) {
                    hosts.push(host);
                }
            }
        }
        hosts
    }

    async fn addresses(&self, host: &str) -> Vec<IpAddr> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return vec![ip];
        }
        if let Some((ips, at)) = self.resolved.lock().unwrap_or_else(|e| e.into_inner()).get(host) {
            if at.elapsed() < RESOLVE_TTL {
                return ips.clone();
            }
        }
        let ips: Vec<IpAddr> = match tokio::time::timeout(HANDSHAKE_TIMEOUT, tokio::net::lookup_host((host, 0))).await {
            Ok(Ok(addrs)) => addrs.map(|a| a.ip()).collect(),
            _ => Vec::new(),
        };
        self.resolved.lock().unwrap_or_else(|e| e.into_inner()).insert(host.to_string(), (ips.clone(), Instant::now()));
        ips
    }

    /// Is `ip` an address of node `id`?
    async fn is_address_of(&self, id: u64, ip: IpAddr) -> bool {
        for host in self.hosts_of(id) {
            if self.addresses(&host).await.contains(&ip) {
                return true;
            }
        }
        false
    }

    /// The server's side of the handshake. `Err(reason)`: refuse (after telling the caller
    /// why, when the stream still works); the caller closes the connection.
    pub async fn admit(&self, stream: &mut TcpStream, peer: IpAddr) -> Result<u64, (&'static str, String)> {
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, self.admit_inner(stream, peer)).await {
            Ok(r) => r,
            Err(_) => Err(("timeout", "no handshake in time".into())),
        }
    }

    async fn admit_inner(&self, stream: &mut TcpStream, peer: IpAddr) -> Result<u64, (&'static str, String)> {
        let io = |e: proto::frame::FrameError| (BAD_FRAME, e.to_string());
        let (from, caller_nonce) = match proto::frame::read_frame_limited(stream, &HANDSHAKE_FRAME).await.map_err(io)? {
            PeerRequest::Hello { from, nonce } => (from, nonce),
            _ => return Err((BAD_FRAME, "the first message must be Hello".into())),
        };
        if !self.is_address_of(from, peer).await {
            let reason = format!("{peer} is not an address of master {from} (RAFT_PEERS and the membership)");
            let _ = proto::frame::write_frame(stream, &PeerResponse::Refused { reason: reason.clone() }).await;
            return Err(("unknown_peer", reason));
        }
        let nonce = auth::nonce();
        let proof = self.code.as_deref().map(|c| auth::prove(c, Direction::RaftServerToClient, &caller_nonce, &nonce));
        proto::frame::write_frame(stream, &PeerResponse::Hello { nonce, proof }).await.map_err(io)?;
        let their = match proto::frame::read_frame_limited(stream, &HANDSHAKE_FRAME).await.map_err(io)? {
            PeerRequest::Prove { proof } => proof,
            _ => return Err((BAD_FRAME, "the second message must be Prove".into())),
        };
        if let Some(code) = self.code.as_deref() {
            let ok =
                their.is_some_and(|p| auth::verify(code, Direction::RaftClientToServer, &nonce, &caller_nonce, &p));
            if !ok {
                let reason = format!("master {from} at {peer} did not prove the AUTH_CODE");
                let _ = proto::frame::write_frame(stream, &PeerResponse::Refused { reason: reason.clone() }).await;
                return Err(("auth_code", reason));
            }
        }
        proto::frame::write_frame(stream, &PeerResponse::Welcome).await.map_err(io)?;
        Ok(from)
    }
}
