//! Incoming Raft RPCs (port 9419): one task per connection, one request at a time.

use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};

use crate::metrics::Metrics;
use crate::peer_auth::{PeerGate, BAD_FRAME};
use crate::peer_proto::{PeerRequest, PeerResponse};
use crate::raft_types::Raft;

/// Accept peer connections until the listener fails. Each must pass `gate` (the handshake of
/// `peer_auth.rs`) before any Raft message is read from it.
pub async fn serve(listener: TcpListener, raft: Raft, metrics: Arc<Metrics>, gate: Arc<PeerGate>) {
    loop {
        match listener.accept().await {
            Ok((mut stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let raft = raft.clone();
                let metrics = metrics.clone();
                let gate = gate.clone();
                tokio::spawn(async move {
                    match gate.admit(&mut stream, peer.ip()).await {
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
                    if let Err(e) = handle_conn(stream, &raft, &metrics).await {
                        metrics.bad_frames.with_label_values(&["raft"]).inc();
                        tracing::warn!(%peer, error = %e, "closing raft peer connection after a bad frame");
                    }
                });
            }
            Err(e) => {
                tracing::error!(error = %e, "raft listener accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

async fn handle_conn(mut stream: TcpStream, raft: &Raft, metrics: &Metrics) -> Result<(), proto::frame::FrameError> {
    loop {
        let req: PeerRequest = match proto::frame::read_frame(&mut stream).await {
            Ok(r) => r,
            Err(e) if e.is_clean_close() => return Ok(()),
            Err(e) => return Err(e),
        };
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
            PeerRequest::Vote(rpc) => PeerResponse::Vote(raft.vote(rpc).await),
            PeerRequest::Hello { .. } | PeerRequest::Prove { .. } => {
                return Err(proto::frame::FrameError::Decode("a handshake message after the handshake".into()));
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
