//! Incoming Raft RPCs (port 9419): one task per connection, one request at a time, under the
//! port's connection cap (`MATOML_MAX_CONNECTIONS`), frame deadline and idle timeout.

use std::sync::Arc;

use proto::frame::FrameLimits;
use tokio::net::{TcpListener, TcpStream};

use crate::metrics::Metrics;
use crate::net_limits::NetLimits;
use crate::peer_auth::{PeerGate, BAD_FRAME};
use crate::peer_proto::{PeerRequest, PeerResponse};
use crate::raft_types::Raft;
use crate::sm_store::SharedState;
use crate::vote_guard::VoteGuard;

/// Accept peer connections until the listener fails. Each must pass `auth` (the handshake of
/// `peer_auth.rs`) before any Raft message is read from it.
pub async fn serve(
    listener: TcpListener,
    raft: Raft,
    metrics: Arc<Metrics>,
    limits: NetLimits,
    auth: Arc<PeerGate>,
    votes: Arc<VoteGuard>,
    state: SharedState,
) {
    let gate = metrics.conn_gate("raft", "MATOML_MAX_CONNECTIONS", limits.raft_max_connections);
    let frame = limits.peer_frame_limits();
    loop {
        match listener.accept().await {
            Ok((mut stream, peer)) => {
                let Some(slot) = gate.admit(peer) else { continue };
                let _ = stream.set_nodelay(true);
                let raft = raft.clone();
                let metrics = metrics.clone();
                let idle = limits.idle_timeout;
                let auth = auth.clone();
                let (votes, state) = (votes.clone(), state.clone());
                tokio::spawn(async move {
                    match auth.admit(&mut stream, peer.ip()).await {
                        Ok(_) => {}
                        Err((BAD_FRAME, text)) => {
                            metrics.bad_frames.with_label_values(&["raft"]).inc();
                            tracing::warn!(%peer, error = %text, "closing raft peer connection after a bad frame");
                            return;
                        }
                        Err((reason, text)) => {
                            metrics.auth_refused.with_label_values(&["raft", reason]).inc();
                            tracing::warn!(%peer, reason = %text, "raft peer connection refused");
                            return;
                        }
                    }
                    if let Err(e) = handle_conn(stream, &raft, &metrics, &frame, idle, &votes, &state).await {
                        metrics.bad_frames.with_label_values(&["raft"]).inc();
                        tracing::warn!(%peer, error = %e, "closing raft peer connection after a bad frame");
                    }
                    drop(slot);
                });
            }
            Err(e) => {
                tracing::error!(error = %e, "raft listener accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

async fn handle_conn(
    stream: TcpStream,
    raft: &Raft,
    metrics: &Metrics,
    limits: &FrameLimits,
    idle: Option<std::time::Duration>,
    votes: &VoteGuard,
    state: &SharedState,
) -> Result<(), proto::frame::FrameError> {
    // Buffered reads: a frame's header and body in one read. Writes pass straight through.
    let mut stream = tokio::io::BufReader::with_capacity(proto::rpc::READ_BUFFER, stream);
    loop {
        // Waiting for a frame's first byte is cancel safe: an idle connection just closes.
        let first = match idle {
            None => proto::frame::next_frame_start(&mut stream).await,
            Some(idle) => match tokio::time::timeout(idle, proto::frame::next_frame_start(&mut stream)).await {
                Ok(r) => r,
                Err(_) => {
                    tracing::debug!("closing a raft peer connection idle for {idle:?}");
                    return Ok(());
                }
            },
        };
        let first = match first {
            Ok(b) => b,
            Err(e) if e.is_clean_close() => return Ok(()),
            Err(e) => return Err(e),
        };
        let payload = proto::frame::read_payload_after(&mut stream, first, limits).await?;
        let req: PeerRequest = proto::frame::decode(&payload)?;
        drop(payload);
        let resp = match req {
            PeerRequest::AppendEntries(rpc) => {
                let from_leader = rpc.vote.leader_id().voted_for();
                let r = raft.append_entries(rpc).await;
                if let (Ok(resp), Some(_)) = (&r, from_leader) {
                    if resp.is_success() {
                        metrics.note_leader_contact();
                    }
                }
                PeerResponse::AppendEntries(r)
            }
            PeerRequest::InstallSnapshot(rpc) => {
                metrics.note_leader_contact();
                PeerResponse::InstallSnapshot(raft.install_snapshot(rpc).await)
            }
            // A master that lost its disk does not vote until it is taken back (`vote_guard.rs`).
            PeerRequest::Vote(rpc) if votes.withheld() => {
                votes.note_refused(rpc.vote.leader_id().voted_for().unwrap_or(0));
                PeerResponse::Refused {
                    reason: "this master lost its disk and withholds its vote until the group takes it back".into(),
                }
            }
            PeerRequest::Vote(rpc) => PeerResponse::Vote(raft.vote(rpc).await),
            PeerRequest::Disk { node } => PeerResponse::Disk {
                from: raft.metrics().borrow().id,
                mine: votes.disk,
                recorded: state.read().disks.get(&node).copied(),
            },
            PeerRequest::Hello { .. } | PeerRequest::Prove { .. } => {
                return Err(proto::frame::FrameError::Decode("a handshake message after the handshake".into()));
            }
            PeerRequest::Membership(change) => {
                let m = raft.metrics().borrow().clone();
                if m.state == openraft::ServerState::Leader {
                    PeerResponse::Membership(crate::membership::run(raft, change).await)
                } else {
                    let leader = m
                        .current_leader
                        .and_then(|id| m.membership_config.membership().get_node(&id).map(|n| n.raft_addr.clone()));
                    PeerResponse::NotLeader { leader }
                }
            }
            PeerRequest::Probe => {
                let m = raft.metrics().borrow().clone();
                let initialized =
                    m.last_log_index.is_some() || m.membership_config.membership().voter_ids().next().is_some();
                PeerResponse::Probe { node_id: m.id, initialized }
            }
        };
        proto::frame::write_frame(&mut stream, &resp).await?;
    }
}
