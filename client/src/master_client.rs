//! The metadata client: leader discovery, redirects, exactly-once retries, deadlines.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proto::client::{
    OpResult, ReadOp, Reply, RequestBody, ResponseBody, SessionKey, WriteOp, CHALLENGE_LEN, PROTOCOL_VERSION,
    SESSION_SECRET_LEN, TOOL_TICKET_LEN,
};
use proto::meta::{Attr, Creds, DirEntry, Ino};

use crate::conn::MasterConn;
use crate::error::ClientError;
use crate::leader_probe::{LeaderProbe, SUSPECT_AFTER};

/// Default client port of a master.
pub const DEFAULT_MASTER_PORT: u16 = 9421;

/// Longest pause between attempts while looking for a leader, during the first
/// [`SHORT_BACKOFF_FOR`] of an operation: an election takes well under a second, and every
/// millisecond slept after it is pause the application sees.
const MAX_BACKOFF: Duration = Duration::from_millis(100);
/// After this long without a leader it is an outage, not an election: poll less often.
const SHORT_BACKOFF_FOR: Duration = Duration::from_secs(10);
/// Longest pause between attempts during an outage.
const MAX_OUTAGE_BACKOFF: Duration = Duration::from_secs(1);
/// First pause between attempts.
const MIN_BACKOFF: Duration = Duration::from_millis(20);
/// How often a client asks the group for its members (and at once after it connected to
/// another master): a master added or replaced is known to every client within this.
const MASTERS_REFRESH: Duration = Duration::from_secs(5);
/// Most master addresses a client keeps.
const MAX_MASTERS: usize = 64;

/// How a client reaches the masters.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Master client addresses, `host[:port]` (port 9421 when absent).
    pub masters: Vec<String>,
    /// Give up an operation with `NoQuorum` after this long without an answer.
    pub op_timeout: Duration,
    /// Longest wait for one answer from one master before trying again.
    pub call_timeout: Duration,
    pub connect_timeout: Duration,
    /// Free text recorded with the session (host, mount point, tool).
    pub info: String,
    /// The folder to open the session on (`mfsmount -S`): the masters answer it as inode 1.
    pub subfolder: String,
    /// MD5 of the export password (`mfspassword=`, `mfsmd5pass=`), answered to the masters'
    /// challenge; `None` when the export needs none.
    pub password_md5: Option<[u8; 16]>,
    /// Open a session on the meta tree (trash, sustained: `mfsmount -m`), not the file tree.
    pub meta: bool,
    /// Join a mount's session as a tool: its id and tool ticket (from `.masterinfo`). The
    /// session opened gets the mount's permissions without a password; `subfolder`, `meta`
    /// and `password_md5` are not used.
    pub tool_of: Option<(u64, [u8; TOOL_TICKET_LEN])>,
}

impl ClientConfig {
    /// Defaults for a list of masters: a minute per operation, as a mount would want.
    pub fn new(masters: &[&str]) -> Self {
        ClientConfig {
            masters: masters.iter().map(|s| s.to_string()).collect(),
            op_timeout: Duration::from_secs(60),
            call_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(1),
            info: String::from("raftmfs client"),
            subfolder: String::from("/"),
            password_md5: None,
            meta: false,
            tool_of: None,
        }
    }
}

fn with_port(a: &str) -> String {
    if a.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
        a.to_string()
    } else {
        format!("{a}:{DEFAULT_MASTER_PORT}")
    }
}

/// A session with the master group.
pub struct MasterClient {
    cfg: ClientConfig,
    /// The masters tried in turn: the configured ones, then members the group named since
    /// ([`MasterClient::refresh_masters`]).
    masters: Mutex<Vec<String>>,
    /// When the member list was last asked for.
    masters_refreshed: Mutex<Instant>,
    /// Connected to another master since: ask again.
    masters_stale: std::sync::atomic::AtomicBool,
    /// The session's id and secret (the secret never leaves this process but to a master).
    session: SessionKey,
    conn: tokio::sync::Mutex<Option<Arc<MasterConn>>>,
    hint: Mutex<Option<String>>,
    next_addr: AtomicUsize,
    next_seq: AtomicU64,
    inflight: Mutex<BTreeSet<u64>>,
    /// Asks the other masters who leads when the current one goes silent.
    probe: LeaderProbe,
}

/// What one attempt produced: a final answer or a reason to try again.
enum Attempt {
    Done(Result<OpResult, ClientError>),
    Retry(String),
}

impl MasterClient {
    /// Find the leader and open a session.
    pub async fn connect(cfg: ClientConfig) -> Result<MasterClient, ClientError> {
        let masters: Vec<String> = cfg.masters.iter().map(|a| with_port(a.trim())).filter(|a| !a.is_empty()).collect();
        if masters.is_empty() {
            return Err(ClientError::Config("no master address given".into()));
        }
        let mut c = MasterClient {
            cfg,
            session: SessionKey { id: 0, secret: [0; SESSION_SECRET_LEN] },
            conn: tokio::sync::Mutex::new(None),
            hint: Mutex::new(None),
            next_addr: AtomicUsize::new(0),
            next_seq: AtomicU64::new(1),
            inflight: Mutex::new(BTreeSet::new()),
            probe: LeaderProbe::new(masters.clone()),
            masters: Mutex::new(masters),
            masters_refreshed: Mutex::new(Instant::now()),
            masters_stale: std::sync::atomic::AtomicBool::new(false),
        };
        // Opening a session is not idempotent, but a duplicate only leaves an idle session
        // that expires; the id we keep is the one we were answered.
        match c.retry(|remaining| c.open_attempt(remaining)).await? {
            Ok(Reply::Session(key)) => c.session = key,
            Ok(other) => return Err(ClientError::Protocol(format!("open session answered {other:?}"))),
            Err(e) => return Err(ClientError::Errno(e)),
        }
        tracing::debug!(session = c.session.id, "session opened");
        c.refresh_masters().await;
        Ok(c)
    }

    /// This client's session id.
    /// The ticket with which tools join this session (shown in a mount's `.masterinfo`).
    pub fn tool_ticket(&self) -> [u8; TOOL_TICKET_LEN] {
        self.session.tool_ticket()
    }

    pub fn session_id(&self) -> u64 {
        self.session.id
    }

    /// How long one operation may take before it fails.
    pub fn op_timeout(&self) -> Duration {
        self.cfg.op_timeout
    }

    /// Run a mutation exactly once, retrying across leader changes until the deadline.
    pub async fn write(&self, creds: &Creds, op: WriteOp) -> Result<Reply, ClientError> {
        // Taken and recorded as in flight under one lock: a concurrent request computing
        // `first_incomplete` between the two would tell the master that this seq is done, and
        // the master would then refuse it as a late duplicate.
        let seq = {
            let mut inflight = self.inflight.lock().unwrap_or_else(|e| e.into_inner());
            let seq = self.next_seq.fetch_add(1, Ordering::SeqCst);
            inflight.insert(seq);
            seq
        };
        let session = self.session;
        let result = self
            .call(|| {
                let first_incomplete =
                    self.inflight.lock().unwrap_or_else(|e| e.into_inner()).first().copied().unwrap_or(seq);
                RequestBody::Write { session, seq, first_incomplete, creds: creds.clone(), op: op.clone() }
            })
            .await;
        self.inflight.lock().unwrap_or_else(|e| e.into_inner()).remove(&seq);
        if result.is_ok() {
            self.maybe_refresh_masters().await;
        }
        result?.map_err(ClientError::Errno)
    }

    /// A linearizable read from the leader.
    pub async fn read(&self, creds: &Creds, op: ReadOp) -> Result<Reply, ClientError> {
        let session = self.session;
        let r = self.call(|| RequestBody::Read { session, creds: creds.clone(), op: op.clone() }).await;
        if r.is_ok() {
            self.maybe_refresh_masters().await;
        }
        r?.map_err(ClientError::Errno)
    }

    /// Ask the group for its members (`ReadOp::Masters`) and try them too from now on: a
    /// mount outlives the `-H` list it was given when masters are added or replaced. Failures
    /// leave the list as it was.
    pub async fn refresh_masters(&self) {
        *self.masters_refreshed.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        self.masters_stale.store(false, Ordering::Relaxed);
        let session = self.session;
        let op = ReadOp::Masters;
        let answer = tokio::time::timeout(
            self.cfg.call_timeout,
            self.call(|| RequestBody::Read { session, creds: Creds::root(), op: op.clone() }),
        )
        .await;
        let Ok(Ok(Ok(Reply::Masters(members)))) = answer else { return };
        let mut list = self.masters.lock().unwrap_or_else(|e| e.into_inner());
        let mut next: Vec<String> = self.configured_masters();
        for m in members.into_iter().take(MAX_MASTERS) {
            let m = with_port(&m);
            if !next.contains(&m) {
                next.push(m);
            }
        }
        if *list != next {
            tracing::info!(masters = ?next, "the masters name their group");
            self.probe.set_masters(next.clone());
            *list = next;
        }
    }

    /// [`MasterClient::refresh_masters`] when the list is older than [`MASTERS_REFRESH`] or
    /// this client moved to another master since.
    async fn maybe_refresh_masters(&self) {
        let due = self.masters_stale.load(Ordering::Relaxed)
            || self.masters_refreshed.lock().unwrap_or_else(|e| e.into_inner()).elapsed() >= MASTERS_REFRESH;
        if due {
            self.refresh_masters().await;
        }
    }

    /// The masters of the configuration, with their ports.
    fn configured_masters(&self) -> Vec<String> {
        self.cfg.masters.iter().map(|a| with_port(a.trim())).filter(|a| !a.is_empty()).collect()
    }

    /// Close the session (its open files are released).
    pub async fn close(&self) -> Result<(), ClientError> {
        let session = self.session;
        self.call(|| RequestBody::CloseSession { session }).await?.map_err(ClientError::Errno)?;
        Ok(())
    }

    async fn current_conn(&self) -> Result<Arc<MasterConn>, String> {
        let mut guard = self.conn.lock().await;
        if let Some(c) = guard.as_ref() {
            if !c.is_broken() {
                return Ok(c.clone());
            }
        }
        // A connection that ended for idleness only (retired here, or closed by the master's
        // idle timeout) says nothing against its master: connect to the same one again.
        let same = guard.take().filter(|c| c.ended_idle()).map(|c| c.addr.clone());
        let hinted = self.hint.lock().unwrap_or_else(|e| e.into_inner()).take();
        let addr = hinted.or(same).unwrap_or_else(|| {
            let masters = self.masters.lock().unwrap_or_else(|e| e.into_inner());
            let i = self.next_addr.load(Ordering::Relaxed) % masters.len().max(1);
            masters.get(i).cloned().unwrap_or_default()
        });
        match MasterConn::connect(&addr, self.cfg.connect_timeout).await {
            Ok(c) => {
                *guard = Some(c.clone());
                self.masters_stale.store(true, Ordering::Relaxed);
                Ok(c)
            }
            Err(e) => {
                self.next_addr.fetch_add(1, Ordering::Relaxed);
                Err(e.to_string())
            }
        }
    }

    async fn drop_conn(&self, conn: &Arc<MasterConn>, rotate: bool) {
        let mut guard = self.conn.lock().await;
        if guard.as_ref().is_some_and(|c| Arc::ptr_eq(c, conn)) {
            *guard = None;
        }
        if rotate {
            self.next_addr.fetch_add(1, Ordering::Relaxed);
        }
    }

    async fn attempt(&self, body: RequestBody, remaining: Duration) -> Attempt {
        let conn = match self.current_conn().await {
            Ok(c) => c,
            Err(e) => return Attempt::Retry(e),
        };
        self.exchange(&conn, body, remaining).await
    }

    /// One attempt at opening the session: with a password, the challenge and the answer go
    /// over the same connection (the master keeps the challenge per connection).
    async fn open_attempt(&self, remaining: Duration) -> Attempt {
        let conn = match self.current_conn().await {
            Ok(c) => c,
            Err(e) => return Attempt::Retry(e),
        };
        if let Some((parent, ticket)) = self.cfg.tool_of {
            let body = RequestBody::OpenToolSession {
                info: self.cfg.info.clone(),
                protocol: PROTOCOL_VERSION,
                version: client_version(),
                parent,
                ticket,
            };
            return self.exchange(&conn, body, remaining).await;
        }
        let password = match &self.cfg.password_md5 {
            None => None,
            Some(md5) => match self.exchange(&conn, RequestBody::Challenge, remaining).await {
                Attempt::Done(Ok(Ok(Reply::Challenge(rnd)))) => match <[u8; CHALLENGE_LEN]>::try_from(rnd.as_slice()) {
                    Ok(rnd) => Some(proto::client::challenge_answer(&rnd, md5)),
                    Err(_) => {
                        let msg = format!("a challenge of {} bytes, expected {CHALLENGE_LEN}", rnd.len());
                        return Attempt::Done(Err(ClientError::Protocol(msg)));
                    }
                },
                Attempt::Done(Ok(other)) => {
                    return Attempt::Done(Err(ClientError::Protocol(format!("challenge answered {other:?}"))));
                }
                other => return other,
            },
        };
        let body = RequestBody::OpenSession {
            info: self.cfg.info.clone(),
            protocol: PROTOCOL_VERSION,
            version: client_version(),
            subfolder: self.cfg.subfolder.clone(),
            meta: self.cfg.meta,
            password,
        };
        self.exchange(&conn, body, remaining).await
    }

    /// Send one request on `conn` and classify the answer. While no answer comes, the other
    /// masters are asked every [`SUSPECT_AFTER`] who leads (`leader_probe.rs`): when another
    /// leads now, the request is given up here and sent there.
    async fn exchange(&self, conn: &Arc<MasterConn>, body: RequestBody, remaining: Duration) -> Attempt {
        let call = conn.call(body, self.cfg.call_timeout.min(remaining));
        tokio::pin!(call);
        let answer = loop {
            tokio::select! {
                answer = &mut call => break answer,
                _ = tokio::time::sleep(SUSPECT_AFTER) => {
                    if let Some(leader) = self.probe.leader_elsewhere(&conn.addr).await {
                        return self.moved_to(conn, leader, "went silent").await;
                    }
                }
            }
        };
        match answer {
            Err(e) => {
                self.drop_conn(conn, true).await;
                Attempt::Retry(e.to_string())
            }
            Ok(ResponseBody::Result(r)) => Attempt::Done(Ok(r)),
            Ok(ResponseBody::NotLeader { leader: Some(addr) }) if addr != conn.addr => {
                *self.hint.lock().unwrap_or_else(|e| e.into_inner()) = Some(addr.clone());
                self.drop_conn(conn, false).await;
                Attempt::Retry(format!("{} is not the leader; redirected to {addr}", conn.addr))
            }
            Ok(ResponseBody::NotLeader { .. }) => {
                self.drop_conn(conn, true).await;
                Attempt::Retry(format!("{} knows no leader (election in progress or no quorum)", conn.addr))
            }
            Ok(ResponseBody::Unavailable { reason }) => {
                // A leader cut off from its followers answers this while they elect another.
                if let Some(leader) = self.probe.leader_elsewhere(&conn.addr).await {
                    return self.moved_to(conn, leader, "has no quorum").await;
                }
                Attempt::Retry(format!("{}: {reason}", conn.addr))
            }
            Ok(ResponseBody::Leader { .. }) => {
                Attempt::Done(Err(ClientError::Protocol("a leader report answered a request".into())))
            }
            Ok(ResponseBody::SessionUnknown) => Attempt::Done(Err(ClientError::SessionLost(self.session.id))),
            Ok(ResponseBody::Refused { reason }) => Attempt::Done(Err(ClientError::Refused(reason))),
        }
    }

    /// Leave `conn`'s master for `leader`, which the other masters name as the leader now.
    async fn moved_to(&self, conn: &Arc<MasterConn>, leader: String, why: &str) -> Attempt {
        let reason = format!("{} {why}; {leader} leads now (redirected)", conn.addr);
        *self.hint.lock().unwrap_or_else(|e| e.into_inner()) = Some(leader);
        self.drop_conn(conn, false).await;
        Attempt::Retry(reason)
    }

    /// Send a request until a master answers it for good, or the deadline passes.
    async fn call(&self, body: impl Fn() -> RequestBody) -> Result<OpResult, ClientError> {
        self.retry(|remaining| self.attempt(body(), remaining)).await
    }

    /// Run attempts until one gives a final answer, or the deadline passes.
    async fn retry<F, Fut>(&self, mut one: F) -> Result<OpResult, ClientError>
    where
        F: FnMut(Duration) -> Fut,
        Fut: std::future::Future<Output = Attempt>,
    {
        let start = Instant::now();
        let deadline = start + self.cfg.op_timeout;
        let mut backoff = MIN_BACKOFF;
        let mut redirects_in_a_row = 0;
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Err(ClientError::NoQuorum { waited: now - start, last: "deadline passed".into() });
            }
            match one(deadline - now).await {
                Attempt::Done(r) => return r,
                Attempt::Retry(reason) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(ClientError::NoQuorum { waited: now - start, last: reason });
                    }
                    tracing::debug!(%reason, "retrying");
                    // Follow one fresh redirect at once; otherwise back off.
                    if reason.contains("redirected") && redirects_in_a_row == 0 {
                        redirects_in_a_row += 1;
                        continue;
                    }
                    redirects_in_a_row = 0;
                    tokio::time::sleep(backoff.min(deadline - now)).await;
                    let cap = if now - start < SHORT_BACKOFF_FOR { MAX_BACKOFF } else { MAX_OUTAGE_BACKOFF };
                    backoff = (backoff * 2).min(cap);
                }
            }
        }
    }

    // ---- Conveniences over `write` and `read` ----

    /// Look a name up in a directory.
    pub async fn lookup(&self, creds: &Creds, parent: Ino, name: &[u8]) -> Result<Attr, ClientError> {
        expect_attr(self.read(creds, ReadOp::Lookup { parent, name: name.to_vec() }).await?)
    }

    pub async fn getattr(&self, creds: &Creds, ino: Ino) -> Result<Attr, ClientError> {
        expect_attr(self.read(creds, ReadOp::GetAttr { ino }).await?)
    }

    pub async fn mkdir(&self, creds: &Creds, parent: Ino, name: &[u8], mode: u32) -> Result<Attr, ClientError> {
        expect_attr(self.write(creds, WriteOp::MkDir { parent, name: name.to_vec(), mode, umask: 0o022 }).await?)
    }

    /// Create a regular file exclusively (O_CREAT|O_EXCL), then release it.
    pub async fn create(&self, creds: &Creds, parent: Ino, name: &[u8], mode: u32) -> Result<Attr, ClientError> {
        let attr = expect_attr(
            self.write(creds, WriteOp::Create { parent, name: name.to_vec(), mode, umask: 0o022, exclusive: true })
                .await?,
        )?;
        self.write(creds, WriteOp::Release { ino: attr.ino }).await?;
        Ok(attr)
    }

    pub async fn unlink(&self, creds: &Creds, parent: Ino, name: &[u8]) -> Result<(), ClientError> {
        self.write(creds, WriteOp::Unlink { parent, name: name.to_vec() }).await.map(|_| ())
    }

    pub async fn rmdir(&self, creds: &Creds, parent: Ino, name: &[u8]) -> Result<(), ClientError> {
        self.write(creds, WriteOp::RmDir { parent, name: name.to_vec() }).await.map(|_| ())
    }

    pub async fn rename(
        &self,
        creds: &Creds,
        parent: Ino,
        name: &[u8],
        new_parent: Ino,
        new_name: &[u8],
    ) -> Result<(), ClientError> {
        let op = WriteOp::Rename {
            parent,
            name: name.to_vec(),
            new_parent,
            new_name: new_name.to_vec(),
            flags: Default::default(),
        };
        self.write(creds, op).await.map(|_| ())
    }

    /// Every entry of a directory (without "." and ".."), following cookies.
    pub async fn readdir_all(&self, creds: &Creds, ino: Ino) -> Result<Vec<DirEntry>, ClientError> {
        let mut out = Vec::new();
        let mut offset = 0;
        loop {
            let batch = match self.read(creds, ReadOp::ReadDir { ino, offset, max_entries: 1000, plus: false }).await? {
                Reply::Dir(d) => d,
                other => return Err(ClientError::Protocol(format!("readdir answered {other:?}"))),
            };
            let Some(last) = batch.last() else { break };
            offset = last.cookie;
            out.extend(batch.into_iter().filter(|e| e.name != b"." && e.name != b".."));
        }
        Ok(out)
    }
}

/// This client's version as the masters compare it with `minversion=` of an export rule.
fn client_version() -> u32 {
    let mut v = env!("CARGO_PKG_VERSION").split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor, patch) = (v.next().unwrap_or(0), v.next().unwrap_or(0), v.next().unwrap_or(0));
    proto::client::version_code(major, minor, patch)
}

fn expect_attr(r: Reply) -> Result<Attr, ClientError> {
    match r {
        Reply::Entry(a) | Reply::Attr(a) => Ok(a),
        other => Err(ClientError::Protocol(format!("expected attributes, got {other:?}"))),
    }
}
