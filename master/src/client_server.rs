//! The client protocol (port 9421): each connection carries many requests at once; each
//! request runs in its own task and its answer goes back through the connection's writer.

use std::sync::Arc;
use std::time::Instant;

use openraft::error::{CheckIsLeaderError, ClientWriteError, RaftError};
use proto::client::{ClientRequest, ClientResponse, Reply, RequestBody, ResponseBody, PROTOCOL_VERSION};
use proto::meta::Timestamp;
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::config::MasterConfig;
use crate::metrics::Metrics;
use crate::raft_types::{Command, CommandOutcome, MasterNode, Raft};
use crate::sm_store::SharedState;

/// Answers queued per connection before the reader stops taking new requests.
const RESPONSE_QUEUE: usize = 4096;

/// What serving clients needs.
pub struct ClientService {
    pub raft: Raft,
    pub state: SharedState,
    pub cfg: Arc<MasterConfig>,
    pub metrics: Arc<Metrics>,
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
    let (mut rd, wr) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<ClientResponse>(RESPONSE_QUEUE);
    let writer = tokio::spawn(async move {
        let mut wr = BufWriter::new(wr);
        while let Some(resp) = rx.recv().await {
            if proto::frame::write_frame(&mut wr, &resp).await.is_err() {
                return;
            }
            // Flush when no other answer is ready, so answers batch under load.
            if rx.is_empty() && wr.flush().await.is_err() {
                return;
            }
        }
    });
    let result = loop {
        let req: ClientRequest = match proto::frame::read_frame(&mut rd).await {
            Ok(r) => r,
            Err(e) if e.is_clean_close() => break Ok(()),
            Err(e) => break Err(e),
        };
        let svc = svc.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            let id = req.id;
            let body = svc.handle(req.body).await;
            let _ = tx.send(ClientResponse { id, body }).await;
        });
    };
    drop(tx);
    let _ = writer.await;
    result
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
            RequestBody::Write { session, seq, first_incomplete, creds, op } => {
                self.write(Command::Client { session, seq, first_incomplete, now: Timestamp::now(), creds, op }).await
            }
            RequestBody::Read { creds, op } => self.read(creds, op).await,
        }
    }

    async fn write(&self, cmd: Command) -> ResponseBody {
        match tokio::time::timeout(self.cfg.commit_timeout, self.raft.client_write(cmd)).await {
            Err(_) => ResponseBody::Unavailable {
                reason: format!("no quorum: the entry was not committed within {:?}", self.cfg.commit_timeout),
            },
            Ok(Ok(resp)) => match resp.data {
                CommandOutcome::Result(r) => ResponseBody::Result(r),
                CommandOutcome::SessionUnknown => ResponseBody::SessionUnknown,
                CommandOutcome::Stale => ResponseBody::Refused {
                    reason: "request below the session's acknowledged window (late duplicate)".into(),
                },
            },
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => ResponseBody::NotLeader {
                leader: f.leader_node.map(|n| n.client_addr).or_else(|| leader_client_addr(&self.raft, f.leader_id)),
            },
            Ok(Err(e)) => ResponseBody::Unavailable { reason: e.to_string() },
        }
    }

    async fn read(&self, creds: proto::meta::Creds, op: proto::client::ReadOp) -> ResponseBody {
        match tokio::time::timeout(self.cfg.commit_timeout, self.raft.ensure_linearizable()).await {
            Err(_) => ResponseBody::Unavailable {
                reason: format!("no quorum: leadership not confirmed within {:?}", self.cfg.commit_timeout),
            },
            Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f)))) => ResponseBody::NotLeader {
                leader: f.leader_node.map(|n| n.client_addr).or_else(|| leader_client_addr(&self.raft, f.leader_id)),
            },
            Ok(Err(e)) => ResponseBody::Unavailable { reason: e.to_string() },
            Ok(Ok(_)) => {
                let st = self.state.read();
                ResponseBody::Result(match op {
                    proto::client::ReadOp::Digest => Ok(Reply::Digest {
                        applied_index: st.last_applied.map(|l| l.index).unwrap_or(0),
                        digest: st.digest(),
                    }),
                    op => st.ns.read(&creds, &op),
                })
            }
        }
    }
}
