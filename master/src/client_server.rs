//! The client protocol (port 9421): each connection carries many requests at once; each
//! request runs in its own task and its answer goes back through the connection's writer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::error::{CheckIsLeaderError, ClientWriteError, RaftError};
use proto::client::{ReadOp, Reply, RequestBody, ResponseBody, WriteOp, PROTOCOL_VERSION};
use proto::meta::{Creds, Timestamp};
use tokio::net::{TcpListener, TcpStream};

use crate::chunks::ChunkService;
use crate::config::MasterConfig;
use crate::metrics::Metrics;
use crate::raft_types::{Command, CommandOutcome, MasterNode, Raft};
use crate::sm_store::SharedState;

/// What serving clients needs.
pub struct ClientService {
    pub raft: Raft,
    pub state: SharedState,
    pub cfg: Arc<MasterConfig>,
    pub metrics: Arc<Metrics>,
    /// The chunk side: chunk writes, chunk locations, space.
    pub chunks: Arc<ChunkService>,
}

/// Accept client connections until the listener fails.
pub async fn serve(listener: TcpListener, svc: Arc<ClientService>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let svc = svc.clone();
                tokio::spawn(async move {
                    svc.metrics.client_connections.inc();
                    if let Err(e) = handle_conn(stream, svc.clone()).await {
                        svc.metrics.bad_frames.with_label_values(&["client"]).inc();
                        tracing::warn!(%peer, error = %e, "closing client connection after a bad frame");
                    }
                    svc.metrics.client_connections.dec();
                });
            }
            Err(e) => {
                tracing::error!(error = %e, "client listener accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

async fn handle_conn(stream: TcpStream, svc: Arc<ClientService>) -> Result<(), proto::frame::FrameError> {
    proto::rpc::serve_conn(stream, move |body: RequestBody| {
        let svc = svc.clone();
        async move { svc.handle(body).await }
    })
    .await
}

fn leader_client_addr(raft: &Raft, leader: Option<u64>) -> Option<String> {
    let m = raft.metrics().borrow().clone();
    let id = leader.or(m.current_leader)?;
    m.membership_config.membership().get_node(&id).map(|n: &MasterNode| n.client_addr.clone())
}

impl ClientService {
    /// Answer one request, recording metrics.
    pub async fn handle(&self, body: RequestBody) -> ResponseBody {
        let op = match &body {
            RequestBody::OpenSession { .. } => "open_session",
            RequestBody::CloseSession { .. } => "close_session",
            RequestBody::Write { op, .. } => op.name(),
            RequestBody::Read { op, .. } => op.name(),
        };
        let start = Instant::now();
        let resp = self.dispatch(body).await;
        let outcome = match &resp {
            ResponseBody::Result(Ok(_)) => "ok",
            ResponseBody::Result(Err(e)) => e.name(),
            ResponseBody::NotLeader { .. } => "not_leader",
            ResponseBody::Unavailable { .. } => "unavailable",
            ResponseBody::SessionUnknown => "session_unknown",
            ResponseBody::Refused { .. } => "refused",
        };
        self.metrics.requests.with_label_values(&[op, outcome]).inc();
        self.metrics.latency.with_label_values(&[op]).observe(start.elapsed().as_secs_f64());
        resp
    }

    /// A redirect when this master is not the leader.
    fn not_leader(&self) -> Option<ResponseBody> {
        let m = self.raft.metrics().borrow().clone();
        if m.state == openraft::ServerState::Leader {
            return None;
        }
        Some(ResponseBody::NotLeader { leader: leader_client_addr(&self.raft, m.current_leader) })
    }

    async fn dispatch(&self, body: RequestBody) -> ResponseBody {
        if let Some(redirect) = self.not_leader() {
            return redirect;
        }
        match body {
            RequestBody::OpenSession { info, protocol } => {
                if protocol != PROTOCOL_VERSION {
                    return ResponseBody::Refused {
                        reason: format!("client protocol {protocol}, master speaks {PROTOCOL_VERSION}"),
                    };
                }
                self.write(Command::OpenSession { now: Timestamp::now(), info }).await
            }
            RequestBody::CloseSession { session } => {
                self.write(Command::CloseSession { session, now: Timestamp::now() }).await
            }
            RequestBody::Write { session, seq, first_incomplete, creds, op } => match op {
                WriteOp::ChunkWrite { ino, index, failed } => {
                    let req = crate::chunks::write::ChunkWriteRequest {
                        session,
                        seq,
                        first_incomplete,
                        creds,
                        ino,
                        index,
                        failed,
                    };
                    self.chunks.chunk_write(req).await
                }
                op => {
                    self.write(Command::Client { session, seq, first_incomplete, now: Timestamp::now(), creds, op })
                        .await
                }
            },
            RequestBody::Read { creds, op } => self.read(creds, op).await,
        }
    }

    async fn write(&self, cmd: Command) -> ResponseBody {
        match propose(&self.raft, self.cfg.commit_timeout, cmd).await {
            Ok(outcome) => outcome_body(outcome),
            Err(answer) => answer,
        }
    }

    async fn read(&self, creds: Creds, op: ReadOp) -> ResponseBody {
        if let Err(answer) = ensure_leader(&self.raft, self.cfg.commit_timeout).await {
            return answer;
        }
        let mut result = {
            let st = self.state.read();
            match op {
                ReadOp::Digest => Ok(Reply::Digest {
                    applied_index: st.last_applied.map(|l| l.index).unwrap_or(0),
                    digest: st.digest(),
                }),
                op => st.ns.read(&creds, &op),
            }
        };
        match &mut result {
            Ok(Reply::StatFs(s)) => (s.total_bytes, s.avail_bytes) = self.chunks.space(),
            Ok(r @ (Reply::Chunk(_) | Reply::Chunks(_))) => self.chunks.locate(r),
            _ => {}
        }
        ResponseBody::Result(result)
    }
}

/// Propose `cmd` and wait (at most `timeout`) until it is committed and applied. Err: the
/// answer for the client (not leader, no quorum).
pub(crate) async fn propose(raft: &Raft, timeout: Duration, cmd: Command) -> Result<CommandOutcome, ResponseBody> {
    match tokio::time::timeout(timeout, raft.client_write(cmd)).await {
        Err(_) => Err(ResponseBody::Unavailable {
            reason: format!("no quorum: the entry was not committed within {timeout:?}"),
        }),
        Ok(Ok(resp)) => Ok(resp.data),
        Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => Err(ResponseBody::NotLeader {
            leader: f.leader_node.map(|n| n.client_addr).or_else(|| leader_client_addr(raft, f.leader_id)),
        }),
        Ok(Err(e)) => Err(ResponseBody::Unavailable { reason: e.to_string() }),
    }
}

/// The answer for an applied command's outcome.
pub(crate) fn outcome_body(outcome: CommandOutcome) -> ResponseBody {
    match outcome {
        CommandOutcome::Result(r) => ResponseBody::Result(r),
        CommandOutcome::SessionUnknown => ResponseBody::SessionUnknown,
        CommandOutcome::Stale => {
            ResponseBody::Refused { reason: "request below the session's acknowledged window (late duplicate)".into() }
        }
    }
}

/// Confirm leadership with a quorum and wait until this master applied everything committed
/// before (at most `timeout`). Err: the answer for the client.
pub(crate) async fn ensure_leader(raft: &Raft, timeout: Duration) -> Result<(), ResponseBody> {
    match tokio::time::timeout(timeout, raft.ensure_linearizable()).await {
        Err(_) => {
            Err(ResponseBody::Unavailable { reason: format!("no quorum: leadership not confirmed within {timeout:?}") })
        }
        Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f)))) => Err(ResponseBody::NotLeader {
            leader: f.leader_node.map(|n| n.client_addr).or_else(|| leader_client_addr(raft, f.leader_id)),
        }),
        Ok(Err(e)) => Err(ResponseBody::Unavailable { reason: e.to_string() }),
        Ok(Ok(_)) => Ok(()),
    }
}
