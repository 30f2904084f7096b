//! The client protocol (port 9421): each connection carries many requests at once; each
//! request runs in its own task and its answer goes back through the connection's writer.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use proto::client::{
    tool_ticket, ReadOp, Reply, RequestBody, ResponseBody, SessionKey, WriteOp, CHALLENGE_LEN, PROTOCOL_VERSION,
    SESSION_SECRET_LEN,
};
use proto::meta::{Creds, FileType, Ino, Timestamp, ROOT_INODE};
use proto::rpc::ServeLimits;
use proto::Errno;
use tokio::net::{TcpListener, TcpStream};

use crate::access::SessionAccess;
use crate::chunks::ChunkService;
use crate::config::MasterConfig;
use crate::exports::{self, Exports, SessionRequest};
use crate::metrics::Metrics;
use crate::proposer::Proposer;
use crate::raft_api::{leader_client_addr, outcome_body, quorum_lost};
use crate::raft_types::{Command, Raft};
use crate::read_lease::ReadLease;
use crate::session_activity::SessionActivity;
use crate::sm_store::SharedState;

/// What serving clients needs.
pub struct ClientService {
    pub raft: Raft,
    pub proposer: Proposer,
    pub state: SharedState,
    pub cfg: Arc<MasterConfig>,
    pub metrics: Arc<Metrics>,
    /// The chunk side: chunk writes, chunk locations, space.
    pub chunks: Arc<ChunkService>,
    /// The rules of `mfsexports.cfg`, replaced on reload; checked when a session opens.
    pub exports: Arc<RwLock<Exports>>,
    /// Lets reads skip the quorum round trip while a recent proof of leadership holds.
    pub lease: ReadLease,
    /// Each session's address and operations as this leader saw them (the status page).
    pub activity: Arc<SessionActivity>,
}

/// What the master knows about one client connection.
pub struct Conn {
    /// The client's address, as the TCP peer (what export rules match).
    pub peer: IpAddr,
    /// The challenge sent on this connection, used by the next `OpenSession` on it.
    challenge: Mutex<Option<[u8; CHALLENGE_LEN]>>,
}

impl Conn {
    pub fn new(peer: IpAddr) -> Conn {
        Conn { peer, challenge: Mutex::new(None) }
    }
}

/// Accept client connections until the listener fails, each under the port's connection cap
/// (`MATOCL_MAX_CONNECTIONS`) and served within the client port's limits.
pub async fn serve(listener: TcpListener, svc: Arc<ClientService>) {
    let gate = svc.metrics.conn_gate("client", "MATOCL_MAX_CONNECTIONS", svc.cfg.net.client_max_connections);
    let limits = svc.cfg.net.client_serve_limits();
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let Some(slot) = gate.admit(peer) else { continue };
                let _ = stream.set_nodelay(true);
                let svc = svc.clone();
                tokio::spawn(async move {
                    svc.metrics.client_connections.inc();
                    if let Err(e) = handle_conn(stream, peer, limits, svc.clone()).await {
                        svc.metrics.bad_frames.with_label_values(&["client"]).inc();
                        tracing::warn!(%peer, error = %e, "closing client connection after a bad frame");
                    }
                    svc.metrics.client_connections.dec();
                    drop(slot);
                });
            }
            Err(e) => {
                tracing::error!(error = %e, "client listener accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

async fn handle_conn(
    stream: TcpStream,
    peer: SocketAddr,
    limits: ServeLimits,
    svc: Arc<ClientService>,
) -> Result<(), proto::frame::FrameError> {
    let conn = Arc::new(Conn::new(peer.ip()));
    proto::rpc::serve_conn(stream, limits, move |body: RequestBody| {
        let (svc, conn) = (svc.clone(), conn.clone());
        async move { svc.handle(&conn, body).await }
    })
    .await
}

impl ClientService {
    /// Answer one request, recording metrics.
    pub async fn handle(&self, conn: &Conn, body: RequestBody) -> ResponseBody {
        let op = match &body {
            RequestBody::Challenge => "challenge",
            RequestBody::OpenSession { .. } => "open_session",
            RequestBody::OpenToolSession { .. } => "open_tool_session",
            RequestBody::CloseSession { .. } => "close_session",
            RequestBody::Write { op, .. } => op.name(),
            RequestBody::Read { op, .. } => op.name(),
            RequestBody::WhoLeads => "who_leads",
        };
        let session = match &body {
            RequestBody::Write { session, .. } | RequestBody::Read { session, .. } => Some(session.id),
            RequestBody::CloseSession { session } => Some(session.id),
            _ => None,
        };
        let start = Instant::now();
        let resp = self.dispatch(conn, body).await;
        let outcome = match &resp {
            ResponseBody::Result(Ok(_)) => "ok",
            ResponseBody::Result(Err(e)) => e.name(),
            ResponseBody::NotLeader { .. } => "not_leader",
            ResponseBody::Unavailable { .. } => "unavailable",
            ResponseBody::SessionUnknown => "session_unknown",
            ResponseBody::Refused { .. } => "refused",
            ResponseBody::Leader { .. } => "ok",
        };
        self.metrics.requests.with_label_values(&[op, outcome]).inc();
        self.metrics.latency.with_label_values(&[op]).observe(start.elapsed().as_secs_f64());
        let opened = match &resp {
            ResponseBody::Result(Ok(Reply::Session(key))) => Some(key.id),
            _ => None,
        };
        if let Some(id) = session.filter(|_| matches!(resp, ResponseBody::Result(_))).or(opened) {
            let term = self.raft.metrics().borrow().current_term;
            self.activity.note(term, id, conn.peer, op, |s| self.state.read().sessions.contains_key(&s));
        }
        resp
    }

    /// This master's term and the leader it knows in it (none when it leads without a
    /// quorum: it cannot vouch for itself).
    fn who_leads(&self) -> ResponseBody {
        let m = self.raft.metrics().borrow().clone();
        let leader = match quorum_lost(&self.raft, self.cfg.quorum_loss_after()) {
            Some(_) => None,
            None => leader_client_addr(&self.raft, m.current_leader),
        };
        ResponseBody::Leader { term: m.current_term, leader }
    }

    /// A redirect when this master is not the leader; "unavailable" at once when it leads
    /// without a quorum (the client asks the other masters who leads).
    fn not_leader(&self) -> Option<ResponseBody> {
        let m = self.raft.metrics().borrow().clone();
        if m.state == openraft::ServerState::Leader {
            let silent = quorum_lost(&self.raft, self.cfg.quorum_loss_after())?;
            return Some(ResponseBody::Unavailable {
                reason: format!("this master leads no quorum: no majority heard from for {silent:?}"),
            });
        }
        Some(ResponseBody::NotLeader { leader: leader_client_addr(&self.raft, m.current_leader) })
    }

    async fn dispatch(&self, conn: &Conn, body: RequestBody) -> ResponseBody {
        // Answered by every master, before the redirect.
        if matches!(body, RequestBody::WhoLeads) {
            return self.who_leads();
        }
        if let Some(redirect) = self.not_leader() {
            return redirect;
        }
        // Every variable-length field bounded before any work (the write op once mapped).
        let body = match body.bounded() {
            Ok(body) => body,
            Err(answer) => return answer,
        };
        match body {
            RequestBody::Challenge => {
                let rnd: [u8; CHALLENGE_LEN] = rand::random();
                *conn.challenge.lock().unwrap_or_else(|e| e.into_inner()) = Some(rnd);
                ResponseBody::Result(Ok(Reply::Challenge(rnd.to_vec())))
            }
            RequestBody::OpenSession { info, protocol, version, subfolder, meta, password } => {
                if protocol != PROTOCOL_VERSION {
                    return ResponseBody::Refused {
                        reason: format!("client protocol {protocol}, master speaks {PROTOCOL_VERSION}"),
                    };
                }
                // A challenge answers one attempt only.
                let rnd = conn.challenge.lock().unwrap_or_else(|e| e.into_inner()).take();
                let access = match self.session_access(conn.peer, version, &subfolder, meta, rnd, password) {
                    Ok(a) => a,
                    Err(reason) => {
                        tracing::info!(peer = %conn.peer, %subfolder, meta, %reason, "session refused");
                        return ResponseBody::Refused { reason };
                    }
                };
                let secret: [u8; SESSION_SECRET_LEN] = rand::random();
                self.write(Command::OpenSession { now: Timestamp::now(), info, access, secret }).await
            }
            RequestBody::OpenToolSession { info, protocol, version: _, parent, ticket } => {
                if protocol != PROTOCOL_VERSION {
                    return ResponseBody::Refused {
                        reason: format!("client protocol {protocol}, master speaks {PROTOCOL_VERSION}"),
                    };
                }
                // The parent's permissions as recorded: the export already admitted the mount
                // (its address, folder and password), and the tool acts within the same grant.
                let access = {
                    let st = self.state.read();
                    match st.sessions.get(&parent) {
                        Some(p) if proto::client::same_ticket(&ticket, &tool_ticket(parent, &p.secret)) => {
                            Some(p.access.clone())
                        }
                        Some(_) => {
                            self.metrics.auth_refused.with_label_values(&["client", "tool_ticket"]).inc();
                            tracing::warn!(peer = %conn.peer, parent, "tool session with a wrong ticket: refused");
                            None
                        }
                        None => None,
                    }
                };
                let Some(access) = access else {
                    // The same answer for a gone session and a wrong ticket.
                    return ResponseBody::Refused {
                        reason: format!(
                            "no mount session {parent} with this ticket (the mount is gone or was remounted)"
                        ),
                    };
                };
                let secret: [u8; SESSION_SECRET_LEN] = rand::random();
                self.write(Command::OpenSession { now: Timestamp::now(), info, access, secret }).await
            }
            RequestBody::CloseSession { session } => {
                if self.state.read().access_of(&session).is_none() {
                    return self.unknown_session(conn, &session);
                }
                self.write(Command::CloseSession { session: session.id, now: Timestamp::now() }).await
            }
            RequestBody::Write { session, seq, first_incomplete, creds, op } => {
                // The session's permissions, from the replicated record: checks, uid/gid
                // mapping and the session root, before any work is done for the request.
                let prepared = {
                    let st = self.state.read();
                    st.access_of(&session).map(|a| (a.clone(), a.creds(&creds), a.write_op(&st.ns, session.id, op)))
                };
                let Some((access, creds, op)) = prepared else {
                    return self.unknown_session(conn, &session);
                };
                let session = session.id;
                let op = match op.and_then(|op| op.check_bounds().map(|()| op)) {
                    Ok(op) => op,
                    Err(e) => return ResponseBody::Result(Err(e)),
                };
                let resp = self.session_write(conn.peer, session, seq, first_incomplete, creds, op).await;
                match resp {
                    ResponseBody::Result(Ok(r)) => ResponseBody::Result(Ok(access.reply(None, r))),
                    other => other,
                }
            }
            RequestBody::Read { session, creds, op } => self.read(conn, session, creds, op).await,
            RequestBody::WhoLeads => self.who_leads(),
        }
    }

    /// The answer to a request naming a session that does not exist or with the wrong secret:
    /// the same either way, so a stranger learns nothing about which ids exist.
    fn unknown_session(&self, conn: &Conn, key: &SessionKey) -> ResponseBody {
        if self.state.read().sessions.contains_key(&key.id) {
            self.metrics.auth_refused.with_label_values(&["client", "session_secret"]).inc();
            tracing::warn!(peer = %conn.peer, session = key.id, "request names an open session with the wrong secret: refused");
        }
        ResponseBody::SessionUnknown
    }

    /// The permissions a new session gets, or why it may not open (the text for the user).
    fn session_access(
        &self,
        peer: IpAddr,
        version: u32,
        subfolder: &str,
        meta: bool,
        rnd: Option<[u8; CHALLENGE_LEN]>,
        password: Option<[u8; 16]>,
    ) -> Result<SessionAccess, String> {
        let path = exports::normalize(subfolder);
        if !meta && path.split('/').any(|c| c == "." || c == "..") {
            return Err(format!("folder {subfolder}: '.' and '..' are not allowed"));
        }
        let rule = {
            let exports = self.exports.read().unwrap_or_else(|e| e.into_inner());
            let password = match (&rnd, &password) {
                (Some(r), Some(p)) => Some((r, p)),
                _ => None,
            };
            let req = SessionRequest { addr: peer, version, subfolder: &path, meta, password };
            match exports.check(&req) {
                Ok(rule) => rule.clone(),
                Err(denied) => return Err(denied.to_string()),
            }
        };
        let root = if meta { crate::access::META_ROOT } else { self.resolve_folder(&path)? };
        tracing::debug!(%peer, folder = %path, line = rule.line, "session allowed");
        Ok(SessionAccess::from_rule(&rule, root))
    }

    /// The inode of a folder given as components joined by '/' ("" for the root).
    fn resolve_folder(&self, path: &str) -> Result<Ino, String> {
        let st = self.state.read();
        let mut ino = ROOT_INODE;
        for part in path.split('/').filter(|p| !p.is_empty()) {
            match st.ns.read(&Creds::root(), &ReadOp::Lookup { parent: ino, name: part.as_bytes().to_vec() }) {
                Ok(Reply::Entry(a)) if a.kind == FileType::Dir => ino = a.ino,
                Ok(_) | Err(Errno::ENOTDIR) => return Err(format!("subfolder /{path}: not a directory")),
                Err(e) => return Err(format!("subfolder /{path}: {e}")),
            }
        }
        Ok(ino)
    }

    /// A session mutation, prepared by the session's access.
    async fn session_write(
        &self,
        peer: IpAddr,
        session: u64,
        seq: u64,
        first_incomplete: u64,
        creds: Creds,
        op: WriteOp,
    ) -> ResponseBody {
        match op {
            WriteOp::ChunkWrite { ino, index, failed } => {
                let req = crate::chunks::write::ChunkWriteRequest {
                    session,
                    seq,
                    first_incomplete,
                    creds,
                    ino,
                    index,
                    failed,
                    client: Some(peer),
                };
                let mut resp = self.chunks.chunk_write(req).await;
                self.chunks.sign_write(&mut resp);
                resp
            }
            WriteOp::FileRepair { ino } => {
                let steps = self.chunks.repair_plan(ino);
                let now = Timestamp::now();
                self.write(Command::FileRepair { session, seq, first_incomplete, now, creds, ino, steps }).await
            }
            op => {
                self.write(Command::Client { session, seq, first_incomplete, now: Timestamp::now(), creds, op }).await
            }
        }
    }

    async fn write(&self, cmd: Command) -> ResponseBody {
        match self.proposer.propose(cmd).await {
            Ok(outcome) => outcome_body(outcome),
            Err(answer) => answer,
        }
    }

    async fn read(&self, conn: &Conn, session: SessionKey, creds: Creds, op: ReadOp) -> ResponseBody {
        // The state must be read while the lease holds: checked after the read (a master
        // frozen in between wakes to a lapsed lease), and then once more with a fresh proof.
        for _ in 0..2 {
            let until = match self.lease.ensure(&self.raft, self.cfg.commit_timeout).await {
                Ok(until) => until,
                Err(answer) => return answer,
            };
            let answer = self.read_state(conn, &session, &creds, op.clone());
            if ReadLease::held_at(until) {
                return answer;
            }
            self.metrics.reads_outlived_lease.inc();
        }
        ResponseBody::Unavailable { reason: "the read lease lapsed while the read ran; try again".into() }
    }

    /// Answer a read from this master's state (the caller holds the read lease).
    fn read_state(&self, conn: &Conn, session: &SessionKey, creds: &Creds, op: ReadOp) -> ResponseBody {
        let session = *session;
        let mut space_limits = Vec::new();
        let mut result = {
            let st = self.state.read();
            let Some(access) = st.access_of(&session) else {
                drop(st);
                return self.unknown_session(conn, &session);
            };
            if matches!(op, ReadOp::StatFs) {
                space_limits = st.ns.quota_space_limits(access.root);
            }
            match access.read_op(&st.ns, session.id, op) {
                Err(e) => Err(e),
                Ok(ReadOp::Digest) => Ok(Reply::Digest {
                    applied_index: st.last_applied.map(|l| l.index).unwrap_or(0),
                    digest: st.digest(),
                }),
                // Paths are relative to the session root, not the tree's.
                Ok(ReadOp::Paths { ino }) if st.ns.exists(ino) => Ok(Reply::Names(st.ns.paths(access.root, ino))),
                Ok(ReadOp::Masters) => {
                    let m = self.raft.metrics().borrow().clone();
                    Ok(Reply::Masters(
                        m.membership_config.membership().nodes().map(|(_, n)| n.client_addr.clone()).collect(),
                    ))
                }
                // Locks are the session's: "another owner" needs it.
                Ok(ReadOp::GetLock { ino, owner, write, start, end }) => {
                    st.ns.get_lock(session.id, ino, owner, write, (start, end))
                }
                Ok(op) => {
                    let listed = match &op {
                        ReadOp::ReadDir { ino, .. } => Some(*ino),
                        _ => None,
                    };
                    st.ns.read(&access.creds(creds), &op).map(|r| access.reply(listed, r))
                }
            }
        };
        match &mut result {
            Ok(Reply::StatFs(s)) => {
                (s.total_bytes, s.avail_bytes) = self.chunks.space();
                // A mount of a quota folder (or below one) sees the quota's room (MooseFS).
                crate::namespace::fix_space(&space_limits, &mut s.total_bytes, &mut s.avail_bytes);
            }
            Ok(r @ (Reply::Chunk(_) | Reply::Chunks(_))) => self.chunks.locate(r, Some(conn.peer)),
            _ => {}
        }
        ResponseBody::Result(result)
    }
}
