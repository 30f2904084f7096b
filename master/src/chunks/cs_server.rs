//! The chunkserver protocol on port 9420 (`proto::cs`): registration, heartbeats, reports,
//! and the answers to the leader's commands.
//!
//! The first frame must be `Register`. A master that does not lead answers `NotLeader` with
//! the leader's 9420 address and closes; the leader answers `Welcome { term }`, records the
//! server, its copies and their damage, and reconciles them at once (stale copies deleted,
//! copies that missed a version bump renumbered). A damage report never deletes a copy: the
//! registry records it, and the loop has the bad blocks rewritten from good copies. When this master stops leading, every chunkserver
//! connection is closed so the chunkservers go to the new leader.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::RaftMetrics;
use proto::auth::{self, Direction};
use proto::cs::{CsToMaster, MasterToCs};
use proto::frame::{FrameError, FrameLimits};
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use super::link::CsLink;
use super::registry::{Damage, Server};
use super::{replication, ChunkService};
use crate::raft_api::quorum_lost;
use crate::raft_types::{MasterNode, Raft};

/// How long a new connection may take to send its `Register`.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(30);
/// Messages queued for one chunkserver's writer before senders wait.
const SEND_QUEUE: usize = 4096;
/// A registered chunkserver silent this long (it sends a heartbeat every second) is taken
/// for dead: the connection is closed and its copies forgotten.
const SILENCE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the leader re-sends `Welcome { term }` on an idle connection: the
/// chunkserver's sign that the leader is alive (it reconnects after `MASTER_TIMEOUT`, 10 s,
/// without any message).
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(2);
/// Longest address a chunkserver may register with (host names are at most 253 bytes).
const MAX_ADDR_LEN: usize = 300;

/// Accept chunkserver connections until the listener fails, each under the port's connection
/// cap (`MATOCS_MAX_CONNECTIONS`).
pub async fn serve(listener: TcpListener, svc: Arc<ChunkService>) {
    let gate = svc.metrics.conn_gate("cs", "MATOCS_MAX_CONNECTIONS", svc.cfg.net.cs_max_connections);
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let Some(slot) = gate.admit(peer) else { continue };
                let _ = stream.set_nodelay(true);
                let svc = svc.clone();
                tokio::spawn(async move {
                    match handle_conn(stream, peer, &svc).await {
                        Ok(()) => {}
                        // A frame cut short counts as bad; a reset or a write error is a lost
                        // connection.
                        Err(FrameError::Io(e)) if e.kind() != std::io::ErrorKind::UnexpectedEof => {
                            tracing::info!(%peer, error = %e, "chunkserver connection lost")
                        }
                        Err(e) => {
                            svc.metrics.bad_frames.with_label_values(&["cs"]).inc();
                            tracing::warn!(%peer, error = %e, "closing chunkserver connection after a bad frame");
                        }
                    }
                    drop(slot);
                });
            }
            Err(e) => {
                tracing::error!(error = %e, "chunkserver listener accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// The chunkserver address (9420) of the leader this master knows, if any.
/// The leader's chunkserver address as this master can vouch for it: none while it leads
/// without a quorum (`raft_api::quorum_lost`).
fn vouched_leader(svc: &ChunkService) -> Option<String> {
    match quorum_lost(&svc.raft, svc.cfg.quorum_loss_after()) {
        Some(_) => None,
        None => leader_cs_addr(&svc.raft),
    }
}

fn leader_cs_addr(raft: &Raft) -> Option<String> {
    let m = raft.metrics().borrow().clone();
    let id = m.current_leader?;
    m.membership_config.membership().get_node(&id).map(|n: &MasterNode| n.cs_addr.clone()).filter(|a| !a.is_empty())
}

fn check_addr(what: &str, addr: &str) -> Result<(), FrameError> {
    if addr.is_empty() || addr.len() > MAX_ADDR_LEN || addr.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(FrameError::Decode(format!("register: bad {what} {addr:?}")));
    }
    Ok(())
}

/// The next frame of a connection still registering, within [`REGISTER_TIMEOUT`]; `None` when
/// the peer went away or took too long.
async fn handshake_frame(
    rd: &mut OwnedReadHalf,
    limits: &FrameLimits,
    what: &str,
) -> Result<Option<CsToMaster>, FrameError> {
    match tokio::time::timeout(REGISTER_TIMEOUT, proto::frame::read_frame_limited(rd, limits)).await {
        Err(_) => {
            tracing::info!("chunkserver connection sent no {what} in time; closing");
            Ok(None)
        }
        Ok(Err(e)) if e.is_clean_close() => Ok(None),
        Ok(r) => r.map(Some),
    }
}

/// Refuse a registration: tell the chunkserver why, log it, count it.
async fn refuse(
    svc: &ChunkService,
    wr: &mut OwnedWriteHalf,
    peer: SocketAddr,
    reason: &'static str,
    text: String,
) -> Result<(), FrameError> {
    svc.metrics.auth_refused.with_label_values(&["cs", reason]).inc();
    tracing::warn!(%peer, reason = %text, "chunkserver registration refused");
    proto::frame::write_frame(wr, &MasterToCs::Refused { reason: text }).await?;
    let _ = wr.shutdown().await;
    Ok(())
}

/// The data address a chunkserver may register, or why not. Without an `AUTH_CODE` the
/// address must be the connection's own (as MooseFS takes the chunkserver's IP from its
/// connection), so a stranger cannot claim another server's address; "any" (0.0.0.0) means
/// the connection's address. A chunkserver that proved the code may name any address (NAT,
/// several interfaces).
fn registered_addr(data_addr: &str, peer: IpAddr, proven: bool) -> Result<String, String> {
    let Ok(sa) = data_addr.parse::<SocketAddr>() else {
        return if proven {
            Ok(data_addr.to_string())
        } else {
            Err(format!("data address {data_addr:?} is not IP:PORT"))
        };
    };
    if sa.ip().is_unspecified() {
        return Ok(SocketAddr::new(peer, sa.port()).to_string());
    }
    if proven || sa.ip() == peer {
        return Ok(data_addr.to_string());
    }
    Err(format!("data address {data_addr} is not the address of the connection ({peer})"))
}

async fn handle_conn(stream: TcpStream, peer: SocketAddr, svc: &Arc<ChunkService>) -> Result<(), FrameError> {
    let (mut rd, mut wr) = stream.into_split();
    let limits = svc.cfg.net.peer_frame_limits();
    let Some(first) = handshake_frame(&mut rd, &limits, "hello").await? else { return Ok(()) };
    if let CsToMaster::WhoLeads = first {
        let m = svc.raft.metrics().borrow().clone();
        let answer = MasterToCs::Leader { term: m.current_term, leader: vouched_leader(svc) };
        proto::frame::write_frame(&mut wr, &answer).await?;
        let _ = wr.shutdown().await;
        return Ok(());
    }
    let CsToMaster::Hello { nonce: cs_nonce } = first else {
        return Err(FrameError::Decode("the first message must be Hello".into()));
    };
    let nonce = auth::nonce();
    let code = svc.cfg.auth_code.as_deref();
    let proof = code.map(|c| auth::prove(c, Direction::MasterToChunkserver, &cs_nonce, &nonce));
    proto::frame::write_frame(&mut wr, &MasterToCs::Hello { nonce, proof }).await?;
    let Some(second) = handshake_frame(&mut rd, &limits, "registration").await? else { return Ok(()) };
    let CsToMaster::Register { proof, data_addr, http_addr, space, chunks, damaged } = second else {
        return Err(FrameError::Decode("the second message must be Register".into()));
    };
    check_addr("data address", &data_addr)?;
    check_addr("http address", &http_addr)?;
    let proven = match (code, proof) {
        (None, _) => false,
        (Some(c), Some(p)) if auth::verify(c, Direction::ChunkserverToMaster, &nonce, &cs_nonce, &p) => true,
        (Some(_), Some(_)) => {
            let text = format!("{data_addr}: wrong AUTH_CODE (its proof does not match this master's code)");
            return refuse(svc, &mut wr, peer, "auth_code", text).await;
        }
        (Some(_), None) => {
            let text = format!("{data_addr}: this master needs an AUTH_CODE, and the chunkserver has none");
            return refuse(svc, &mut wr, peer, "auth_code", text).await;
        }
    };
    let data_addr = match registered_addr(&data_addr, peer.ip(), proven) {
        Ok(a) => a,
        Err(text) => return refuse(svc, &mut wr, peer, "address", text).await,
    };

    let (tx, rx) = mpsc::channel(SEND_QUEUE);
    let conn_id = svc.next_conn_id();
    // Under the leadership lock: a leadership change clears the registry after us, never
    // before us.
    let registered = {
        let leadership = svc.leadership_lock();
        leadership.map(|l| {
            let mut link = CsLink::new(data_addr.clone(), l.term, conn_id, tx);
            if let Some(code) = code {
                link = link.sealed_with(code, cs_nonce, nonce);
            }
            let link = Arc::new(link);
            let server = Server {
                data_addr: data_addr.clone(),
                http_addr: http_addr.clone(),
                space,
                since: Instant::now(),
                link: link.clone(),
            };
            let taken = svc.registry().register(server, &chunks, &damaged);
            (l.term, link, taken)
        })
    };
    let registered = match quorum_lost(&svc.raft, svc.cfg.quorum_loss_after()) {
        // Leading without a quorum: no new chunkservers (they look for the real leader).
        Some(_) => None,
        None => registered,
    };
    let Some((term, link, taken)) = registered else {
        let leader = vouched_leader(svc);
        tracing::info!(server = %data_addr, leader = ?leader, "chunkserver registering with a follower: redirected");
        proto::frame::write_frame(&mut wr, &MasterToCs::NotLeader { leader }).await?;
        let _ = wr.shutdown().await;
        return Ok(());
    };
    if let Err(since) = taken {
        let text = format!(
            "data address {data_addr} belongs to a chunkserver connected for {}s; a restarted one is accepted once \
             its old connection closes",
            since.as_secs()
        );
        return refuse(svc, &mut wr, peer, "address_in_use", text).await;
    }
    svc.metrics.leader.chunkservers.set(svc.registry().server_count() as i64);
    tracing::info!(server = %data_addr, http = %http_addr, chunks = chunks.len(), damaged = damaged.len(), term, "chunkserver registered");

    let result = async {
        proto::frame::write_frame(&mut wr, &MasterToCs::Welcome { term }).await?;
        // The key tokens are signed with, before the first command and the first client.
        let key = svc.tokens.current();
        link.send_token_key(key.id, &key.key);
        let writer = tokio::spawn(write_loop(wr, rx));
        let keepalive = tokio::spawn(keepalive(link.clone(), term, svc.raft.clone()));
        tokio::spawn(replication::reconcile_server(svc.clone(), data_addr.clone(), conn_id));
        let r = read_loop(&mut rd, svc, &link, term).await;
        writer.abort();
        keepalive.abort();
        r
    }
    .await;
    link.close();
    if svc.registry().disconnect(&data_addr, conn_id) {
        tracing::info!(server = %data_addr, "chunkserver disconnected; its copies are forgotten");
    }
    svc.metrics.leader.chunkservers.set(svc.registry().server_count() as i64);
    result
}

/// Re-send `Welcome { term }` every [`KEEPALIVE_INTERVAL`] until the link closes.
async fn keepalive(link: Arc<CsLink>, term: u64, raft: crate::raft_types::Raft) {
    let mut sent: Option<Vec<String>> = None;
    loop {
        // The group's members, whenever they change (and first thing after `Welcome`).
        let addrs = member_cs_addrs(&raft);
        if sent.as_ref() != Some(&addrs) {
            link.try_send(MasterToCs::Masters { addrs: addrs.clone() });
            sent = Some(addrs);
        }
        tokio::time::sleep(KEEPALIVE_INTERVAL).await;
        if link.is_closed() {
            return;
        }
        link.try_send(MasterToCs::Welcome { term });
    }
}

/// The chunkserver addresses of every member of the group (voters and learners).
fn member_cs_addrs(raft: &crate::raft_types::Raft) -> Vec<String> {
    let m = raft.metrics().borrow().clone();
    m.membership_config.membership().nodes().map(|(_, n)| n.cs_addr.clone()).collect()
}

async fn write_loop(wr: OwnedWriteHalf, mut rx: mpsc::Receiver<MasterToCs>) {
    let mut wr = BufWriter::new(wr);
    while let Some(msg) = rx.recv().await {
        if proto::frame::write_frame(&mut wr, &msg).await.is_err() {
            return;
        }
        if rx.is_empty() && wr.flush().await.is_err() {
            return;
        }
    }
}

/// Wait until this master no longer leads in `term`.
/// Wait until this master no longer leads in `term`, or leads without having heard from a
/// majority for `quorum_limit` (cut off from its followers: the chunkserver must go and find
/// the new leader). openraft refreshes its metrics at every tick, so the silence is seen.
async fn leadership_lost(rx: &mut watch::Receiver<RaftMetrics<u64, MasterNode>>, term: u64, quorum_limit: Duration) {
    loop {
        {
            let m = rx.borrow_and_update();
            if m.state != openraft::ServerState::Leader || m.current_term != term {
                return;
            }
            if m.millis_since_quorum_ack.is_some_and(|ms| Duration::from_millis(ms) > quorum_limit) {
                return;
            }
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}

async fn read_loop(
    rd: &mut OwnedReadHalf,
    svc: &Arc<ChunkService>,
    link: &Arc<CsLink>,
    term: u64,
) -> Result<(), FrameError> {
    let mut metrics = svc.raft.metrics();
    // Only branches that end the loop may interrupt a frame being read (reading a frame is
    // not cancel-safe): the keepalive runs in its own task.
    loop {
        let msg = tokio::select! {
            _ = link.closed() => return Ok(()),
            _ = leadership_lost(&mut metrics, term, svc.cfg.quorum_loss_after()) => {
                tracing::info!(server = %link.addr, "no longer leading: closing the chunkserver connection");
                return Ok(());
            }
            frame = tokio::time::timeout(SILENCE_TIMEOUT, proto::frame::read_frame::<_, CsToMaster>(rd)) => match frame {
                Ok(Ok(m)) => m,
                Ok(Err(e)) if e.is_clean_close() => return Ok(()),
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    tracing::warn!(server = %link.addr, "chunkserver silent for {SILENCE_TIMEOUT:?}: closing its connection");
                    return Ok(());
                }
            },
        };
        handle_message(svc, link, msg)?;
    }
}

fn handle_message(svc: &Arc<ChunkService>, link: &Arc<CsLink>, msg: CsToMaster) -> Result<(), FrameError> {
    let addr = &link.addr;
    link.heard(matches!(msg, CsToMaster::Heartbeat { .. }));
    match msg {
        CsToMaster::Register { .. } | CsToMaster::Hello { .. } | CsToMaster::WhoLeads => {
            return Err(FrameError::Decode("Hello, Register or WhoLeads after registration".into()))
        }
        CsToMaster::Heartbeat { space } => svc.registry().heartbeat(addr, space),
        CsToMaster::ChunkAdded { chunk } => {
            tracing::info!(server = %addr, chunk = chunk.id, version = chunk.version, "chunkserver reports a new copy");
            svc.registry().add_copy(chunk.id, addr, chunk.version, chunk.to_remove);
        }
        CsToMaster::ChunkDamaged(report) => match Damage::from_report(&report.blocks) {
            // Kept: it still serves its good blocks (or, out of service, stays until the goal
            // is met elsewhere); the loop has its bad blocks repaired from other copies.
            Some(damage) => {
                tracing::warn!(server = %addr, chunk = report.id, version = report.version, damage = ?damage,
                    reason = %report.reason, "damaged copy reported: kept, to be repaired");
                svc.registry().set_damage(report.id, addr, damage);
            }
            None => tracing::warn!(server = %addr, chunk = report.id, blocks = ?report.blocks,
                "damage report naming no block of a chunk: ignored"),
        },
        CsToMaster::ChunkLost { id, version, reason } => {
            tracing::info!(server = %addr, chunk = id, version, %reason, "chunkserver no longer serves a copy");
            svc.registry().remove_copy(id, addr, Some(version));
        }
        CsToMaster::CommandDone { req_id, result } => {
            if !link.complete(req_id, result) {
                tracing::debug!(server = %addr, req_id, "answer to a command no one waits for (timed out)");
            }
        }
    }
    Ok(())
}
