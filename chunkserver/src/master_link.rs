//! The link to the masters (port 9420, `proto::cs`).
//!
//! The link connects to the masters of `MASTER_HOST` in turn and sends `Register` with every
//! chunk copy held and the space. A follower answers `NotLeader`: the link goes to the named
//! leader next (or to the next master). The leader answers `Welcome { term }`: from then on
//! the link sends a heartbeat every `HEARTBEAT_MS`, forwards queued reports, and carries out
//! commands, each in its own task, answering `CommandDone`. The newest term seen never goes
//! down; a command from an older term is refused with `StaleTerm` without touching anything.
//! When the connection breaks, or the master sends nothing for `MASTER_TIMEOUT`, the link
//! connects again and registers from scratch: this is how it follows a leader change.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proto::auth::{self, Direction};
use proto::cs::{CsError, CsToMaster, MasterToCs};
use proto::token::TOKEN_KEY_LEN;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::commands::Commands;
use crate::leader_probe;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::tokens::KeyRing;

/// First pause after a failed attempt; doubled after each failure up to
/// `MASTER_RECONNECTION_DELAY`, and reset once a leader welcomes us.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Pause between masters while they hold an election (up but no leader known).
const ELECTION_POLL: Duration = Duration::from_millis(50);
/// How long after losing the leader retries stay at most [`ELECTION_BACKOFF`] apart.
const ELECTION_WINDOW: Duration = Duration::from_secs(10);
/// Longest pause between attempts within [`ELECTION_WINDOW`].
const ELECTION_BACKOFF: Duration = Duration::from_millis(100);
/// `NotLeader` redirects followed in a row before pausing, so two confused masters cannot
/// bounce the link between them without end.
const MAX_REDIRECTS: u32 = 4;
/// Frames from the master waiting for the session loop.
const INBOX: usize = 256;
/// Frames to the master waiting for the writer (command answers, reports, heartbeats).
const OUTBOX: usize = 4096;

/// What the rest of the chunkserver sees of the link.
#[derive(Debug, Default)]
pub struct LinkState {
    /// Address of the leader we are registered with.
    leader: Mutex<Option<String>>,
    /// The data address advertised at the last registration.
    advertised: Mutex<Option<String>>,
    /// Highest Raft term seen (never decreases).
    term: AtomicU64,
    /// Masters the leader named (`Masters`) beyond `MASTER_HOST`: members added since.
    learned: Mutex<Vec<String>>,
}

impl LinkState {
    /// The leader we are registered with, if any.
    pub fn leader(&self) -> Option<String> {
        self.leader.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Highest term seen.
    pub fn term(&self) -> u64 {
        self.term.load(Ordering::SeqCst)
    }

    /// The data address we last told a master.
    pub fn advertised(&self) -> Option<String> {
        self.advertised.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Raise the highest term to `term` if it is newer; returns the highest before.
    pub fn raise_term(&self, term: u64) -> u64 {
        self.term.fetch_max(term, Ordering::SeqCst)
    }

    /// `configured` (`MASTER_HOST`) and the members the leader named since, without repeats.
    pub fn masters(&self, configured: &[String]) -> Vec<String> {
        let mut all = configured.to_vec();
        for a in self.learned.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            if !all.contains(a) {
                all.push(a.clone());
            }
        }
        all
    }

    /// The group's members as the leader lists them (at most `MAX_LEARNED_MASTERS`).
    fn learn_masters(&self, mut addrs: Vec<String>) {
        addrs.truncate(proto::cs::MAX_LEARNED_MASTERS);
        let mut learned = self.learned.lock().unwrap_or_else(|e| e.into_inner());
        if *learned != addrs {
            tracing::info!(masters = ?addrs, "the leader lists the master group");
            *learned = addrs;
        }
    }

    fn set_leader(&self, leader: Option<String>) {
        *self.leader.lock().unwrap_or_else(|e| e.into_inner()) = leader;
    }

    fn set_advertised(&self, addr: String) {
        *self.advertised.lock().unwrap_or_else(|e| e.into_inner()) = Some(addr);
    }
}

/// The link's settings (from the config, plus the ports actually bound).
#[derive(Clone, Debug)]
pub struct LinkConfig {
    pub masters: Vec<String>,
    pub reconnection_delay: Duration,
    pub timeout: Duration,
    pub heartbeat: Duration,
    /// `BIND_HOST`: local address of master connections, and the advertised host.
    pub bind_host: Option<String>,
    /// `CSSERV_LISTEN_HOST` when it names one address.
    pub data_host: Option<String>,
    /// `HTTP_LISTEN_HOST` when it names one address.
    pub http_host: Option<String>,
    pub data_port: u16,
    pub http_port: u16,
    /// `AUTH_CODE`, proved to the master and asked of it.
    pub auth_code: Option<String>,
}

/// What the nonce exchange before `Register` gave.
struct Handshake {
    /// Our proof of the code for `Register`, when we have one.
    proof: Option<auth::Proof>,
    cs_nonce: [u8; auth::NONCE_LEN],
    master_nonce: [u8; auth::NONCE_LEN],
}

/// How a session ended.
enum Ending {
    /// A follower (or a deposed leader) pointed elsewhere.
    Redirect(Option<String>),
    /// We were registered, then lost the leader.
    Lost(String),
    /// No registration happened.
    Failed(String),
}

/// The master link task.
pub struct MasterLink {
    pub cfg: LinkConfig,
    pub store: Arc<Store>,
    pub metrics: Arc<Metrics>,
    pub commands: Arc<Commands>,
    pub state: Arc<LinkState>,
    /// Data token keys from the leaders, for the data port's checks.
    pub keys: Arc<KeyRing>,
}

/// Aborts a task when dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl MasterLink {
    /// Run until the task is dropped. `events` are the reports queued for the master.
    pub async fn run(self, mut events: mpsc::Receiver<CsToMaster>) {
        let max_backoff = self.cfg.reconnection_delay.max(FIRST_BACKOFF);
        let mut backoff = FIRST_BACKOFF;
        let mut next = 0usize;
        let mut redirect: Option<String> = None;
        let mut hops = 0u32;
        let mut quiet = false;
        // When the leader was last lost: for a while after, an election is the likely cause
        // and retries stay frequent.
        let mut lost_at: Option<Instant> = None;
        loop {
            let addr = match redirect.take() {
                Some(a) => a,
                None => {
                    let masters = self.state.masters(&self.cfg.masters);
                    let a = masters[next % masters.len().max(1)].clone();
                    next += 1;
                    a
                }
            };
            let ending = self.session(&addr, &mut events).await;
            self.state.set_leader(None);
            self.metrics.master_connected.set(0);
            match ending {
                Ending::Redirect(Some(leader)) if hops < MAX_REDIRECTS => {
                    tracing::debug!(master = %addr, leader = %leader, "not the leader; following");
                    hops += 1;
                    redirect = Some(leader);
                    continue;
                }
                Ending::Redirect(Some(leader)) => {
                    tracing::debug!(master = %addr, leader = %leader, "too many redirects in a row; pausing")
                }
                Ending::Redirect(None) => {
                    // A master that is up but knows no leader: an election is running. Ask the
                    // next one soon (not after a growing backoff) so we register with the new
                    // leader as soon as it exists; clients' writes wait for us.
                    tracing::debug!(master = %addr, "not the leader, leader unknown");
                    hops = 0;
                    tokio::time::sleep(ELECTION_POLL).await;
                    continue;
                }
                Ending::Lost(reason) => {
                    tracing::warn!(master = %addr, reason = %reason, "lost the leader; registering again");
                    backoff = FIRST_BACKOFF;
                    hops = 0;
                    quiet = false;
                    lost_at = Some(Instant::now());
                    // The leader may have moved: try the next master at once.
                    continue;
                }
                Ending::Failed(reason) if !quiet => {
                    tracing::warn!(master = %addr, reason = %reason, "cannot register with the master; retrying");
                    quiet = true;
                }
                Ending::Failed(reason) => tracing::debug!(master = %addr, reason = %reason, "cannot register"),
            }
            hops = 0;
            tokio::time::sleep(backoff).await;
            let electing = lost_at.is_some_and(|t| t.elapsed() < ELECTION_WINDOW);
            backoff = backoff.saturating_mul(2).min(if electing { ELECTION_BACKOFF } else { max_backoff });
        }
    }

    /// One connection: register, then serve until it ends.
    async fn session(&self, addr: &str, events: &mut mpsc::Receiver<CsToMaster>) -> Ending {
        let stream = match self.connect(addr).await {
            Ok(s) => s,
            Err(e) => return Ending::Failed(e),
        };
        let local_ip = match stream.local_addr() {
            Ok(a) => a.ip(),
            Err(e) => return Ending::Failed(format!("local address: {e}")),
        };
        let (data_addr, http_addr) = self.advertise(local_ip);
        let (rd, wr) = stream.into_split();
        let (out, out_rx) = mpsc::channel::<CsToMaster>(OUTBOX);
        let (in_tx, mut inbox) = mpsc::channel::<MasterToCs>(INBOX);
        let _writer = AbortOnDrop(tokio::spawn(write_loop(wr, out_rx)));
        let _reader = AbortOnDrop(tokio::spawn(read_loop(rd, in_tx, addr.to_string())));

        let store = self.store.clone();
        let listed = tokio::task::spawn_blocking(move || {
            // Every damaged copy goes with the registration; what is found from now on is
            // pending until sent (cleared first, so nothing found meanwhile is missed).
            store.damage().clear_pending();
            (store.space(), store.chunk_list(), store.damage().reports())
        })
        .await;
        let Ok((mut space, chunks, damaged)) = listed else {
            return Ending::Failed("space report task failed".into());
        };
        space.load = self.load();
        let count = chunks.len();
        let hs = match self.hello(&out, &mut inbox).await {
            Ok(hs) => hs,
            Err(ending) => return ending,
        };
        let damaged_count = damaged.len();
        let register =
            CsToMaster::Register { proof: hs.proof, data_addr: data_addr.clone(), http_addr, space, chunks, damaged };
        if out.send(register).await.is_err() {
            return Ending::Failed("connection closed before Register".into());
        }
        match tokio::time::timeout(self.cfg.timeout, inbox.recv()).await {
            Err(_) => return Ending::Failed(format!("no answer to Register within {:?}", self.cfg.timeout)),
            Ok(None) => return Ending::Failed("connection closed after Register".into()),
            Ok(Some(MasterToCs::NotLeader { leader })) => return Ending::Redirect(leader),
            Ok(Some(MasterToCs::Refused { reason })) => {
                self.metrics.master_refusals.inc();
                return Ending::Failed(format!("registration refused by the master: {reason}"));
            }
            Ok(Some(MasterToCs::Hello { .. })) => return Ending::Failed("a second Hello".into()),
            Ok(Some(MasterToCs::TokenKey { .. })) => return Ending::Failed("a token key before Welcome".into()),
            Ok(Some(MasterToCs::Command { .. })) => return Ending::Failed("a command before Welcome".into()),
            Ok(Some(MasterToCs::Leader { .. })) => return Ending::Failed("a leader report unasked".into()),
            Ok(Some(MasterToCs::Masters { .. })) => return Ending::Failed("a member list before Welcome".into()),
            Ok(Some(MasterToCs::Welcome { term })) => {
                let seen = self.state.raise_term(term);
                if term < seen {
                    return Ending::Failed(format!(
                        "welcomed in term {term}, but term {seen} was seen: a stale leader"
                    ));
                }
            }
        }
        self.state.set_leader(Some(addr.to_string()));
        self.state.set_advertised(data_addr.clone());
        self.metrics.master_connected.set(1);
        self.metrics.term.set(self.state.term() as i64);
        tracing::info!(leader = %addr, term = self.state.term(), chunks = count, damaged = damaged_count, data_addr = %data_addr, "registered with the leader");

        let mut heartbeat = tokio::time::interval(self.cfg.heartbeat);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        heartbeat.tick().await;
        let mut deadline = Instant::now() + self.cfg.timeout;
        // A silence longer than a heartbeat's answer takes: ask the other masters who leads
        // (`leader_probe.rs`) instead of waiting for `MASTER_TIMEOUT`.
        let suspect_after = self.cfg.heartbeat + leader_probe::SUSPECT_SLACK;
        let mut next_probe = Instant::now() + suspect_after;
        let mut events_open = true;
        loop {
            tokio::select! {
                msg = inbox.recv() => {
                    let Some(msg) = msg else { return Ending::Lost("connection closed".into()) };
                    deadline = Instant::now() + self.cfg.timeout;
                    next_probe = Instant::now() + suspect_after;
                    match msg {
                        MasterToCs::Welcome { term } => {
                            let seen = self.state.raise_term(term);
                            if term < seen {
                                return Ending::Lost(format!("leader of term {term} is stale (seen {seen})"));
                            }
                            self.metrics.term.set(self.state.term() as i64);
                        }
                        MasterToCs::NotLeader { leader } => return Ending::Redirect(leader),
                        MasterToCs::Refused { reason } => return Ending::Lost(format!("refused: {reason}")),
                        MasterToCs::Hello { .. } => return Ending::Lost("a Hello after registration".into()),
                        MasterToCs::Leader { .. } => return Ending::Lost("a leader report unasked".into()),
                        MasterToCs::TokenKey { key_id, key } => {
                            if let Err(e) = self.take_token_key(&hs, key_id, &key) {
                                return Ending::Lost(format!("bad token key: {e}"));
                            }
                        }
                        MasterToCs::Command { req_id, term, cmd } => self.dispatch(req_id, term, cmd, out.clone()),
                        MasterToCs::Masters { addrs } => self.state.learn_masters(addrs),
                    }
                }
                _ = heartbeat.tick() => {
                    let store = self.store.clone();
                    let Ok(mut space) = tokio::task::spawn_blocking(move || store.space()).await else { continue };
                    space.load = self.load();
                    if out.send(CsToMaster::Heartbeat { space }).await.is_err() {
                        return Ending::Lost("connection closed".into());
                    }
                    // Also here, should a wake-up have been missed.
                    if !self.send_damage(&out).await {
                        return Ending::Lost("connection closed".into());
                    }
                }
                _ = self.store.damage().wait_pending() => {
                    if !self.send_damage(&out).await {
                        return Ending::Lost("connection closed".into());
                    }
                }
                ev = events.recv(), if events_open => match ev {
                    Some(ev) => {
                        if out.send(ev).await.is_err() {
                            return Ending::Lost("connection closed".into());
                        }
                    }
                    None => events_open = false,
                },
                _ = tokio::time::sleep_until(deadline) => {
                    return Ending::Lost(format!("nothing from the master for {:?}", self.cfg.timeout));
                }
                _ = tokio::time::sleep_until(next_probe) => {
                    let term = self.state.term();
                    let masters = self.state.masters(&self.cfg.masters);
                    if let Some(leader) = leader_probe::leader_elsewhere(&masters, addr, term).await {
                        tracing::warn!(silent = %addr, %leader, "the leader went silent and another leads now; moving");
                        self.metrics.master_silent_moves.inc();
                        return Ending::Redirect(Some(leader));
                    }
                    next_probe = Instant::now() + leader_probe::PROBE_EVERY;
                }
            }
        }
    }

    /// The nonce exchange before `Register`: the master must prove our `AUTH_CODE` when we
    /// have one (so a stranger at a master's address cannot command our chunks); returns our
    /// own proof for `Register`.
    async fn hello(
        &self,
        out: &mpsc::Sender<CsToMaster>,
        inbox: &mut mpsc::Receiver<MasterToCs>,
    ) -> Result<Handshake, Ending> {
        let nonce = auth::nonce();
        if out.send(CsToMaster::Hello { nonce }).await.is_err() {
            return Err(Ending::Failed("connection closed before Hello".into()));
        }
        let (master_nonce, master_proof) = match tokio::time::timeout(self.cfg.timeout, inbox.recv()).await {
            Err(_) => return Err(Ending::Failed(format!("no answer to Hello within {:?}", self.cfg.timeout))),
            Ok(None) => return Err(Ending::Failed("connection closed after Hello".into())),
            Ok(Some(MasterToCs::Hello { nonce, proof })) => (nonce, proof),
            Ok(Some(other)) => return Err(Ending::Failed(format!("expected Hello, got {other:?}"))),
        };
        let Some(code) = self.cfg.auth_code.as_deref() else {
            return Ok(Handshake { proof: None, cs_nonce: nonce, master_nonce });
        };
        let proven =
            master_proof.is_some_and(|p| auth::verify(code, Direction::MasterToChunkserver, &nonce, &master_nonce, &p));
        if !proven {
            self.metrics.master_refusals.inc();
            return Err(Ending::Failed(
                "the master did not prove our AUTH_CODE (no code there, or another one): not registering".into(),
            ));
        }
        let proof = Some(auth::prove(code, Direction::ChunkserverToMaster, &master_nonce, &nonce));
        Ok(Handshake { proof, cs_nonce: nonce, master_nonce })
    }

    /// A data token key from the leader: unsealed with our code when we have one.
    fn take_token_key(&self, hs: &Handshake, key_id: u64, key: &[u8]) -> Result<(), String> {
        let plain = match self.cfg.auth_code.as_deref() {
            Some(code) => auth::unseal(code, &hs.cs_nonce, &hs.master_nonce, key),
            None => key.to_vec(),
        };
        let key: [u8; TOKEN_KEY_LEN] =
            plain.try_into().map_err(|k: Vec<u8>| format!("a token key of {} bytes, not {TOKEN_KEY_LEN}", k.len()))?;
        self.keys.add(key_id, key);
        tracing::debug!(key = format_args!("{key_id:x}"), "data token key from the leader");
        Ok(())
    }

    /// Send the current damage of every copy whose damage grew since the last time. False
    /// when the connection closed (what was taken is in the next registration anyway).
    async fn send_damage(&self, out: &mpsc::Sender<CsToMaster>) -> bool {
        for report in self.store.damage().take_pending() {
            if out.send(CsToMaster::ChunkDamaged(report)).await.is_err() {
                return false;
            }
        }
        true
    }

    /// Check a command's term, then run it in its own task and answer `CommandDone`.
    fn dispatch(&self, req_id: u64, term: u64, cmd: proto::cs::CsCommand, out: mpsc::Sender<CsToMaster>) {
        let seen = self.state.raise_term(term);
        if term < seen {
            tracing::warn!(req_id, term, seen, cmd = cmd.name(), "command from an old term refused");
            self.metrics.commands.with_label_values(&[cmd.name(), "stale_term"]).inc();
            let result = Err(CsError::StaleTerm { got: term, seen });
            tokio::spawn(async move {
                let _ = out.send(CsToMaster::CommandDone { req_id, result }).await;
            });
            return;
        }
        self.metrics.term.set(self.state.term() as i64);
        let commands = self.commands.clone();
        tokio::spawn(async move {
            tracing::debug!(req_id, ?cmd, "command");
            let result = commands.execute(cmd).await;
            let _ = out.send(CsToMaster::CommandDone { req_id, result }).await;
        });
    }

    fn load(&self) -> u32 {
        self.metrics.load.get().max(0) as u32
    }

    /// Connect to a master, from `BIND_HOST` (or the data listen host) when set.
    async fn connect(&self, addr: &str) -> Result<TcpStream, String> {
        let targets: Vec<SocketAddr> = tokio::time::timeout(self.cfg.timeout, tokio::net::lookup_host(addr))
            .await
            .map_err(|_| format!("resolving {addr} timed out"))?
            .map_err(|e| format!("resolving {addr}: {e}"))?
            .collect();
        // From BIND_HOST, else from the data address we advertise when it names one: the
        // master takes a chunkserver's address from its connection.
        let bind = match specific(&self.cfg.bind_host).or(specific(&self.cfg.data_host)) {
            Some(h) => Some(resolve_ip(h).await?),
            None => None,
        };
        let mut last = format!("{addr} resolves to no address");
        for target in targets {
            if bind.is_some_and(|b| b.is_ipv4() != target.is_ipv4()) {
                continue;
            }
            let socket = if target.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() };
            let socket = socket.map_err(|e| format!("socket: {e}"))?;
            if let Some(ip) = bind {
                socket.bind(SocketAddr::new(ip, 0)).map_err(|e| format!("bind to {ip}: {e}"))?;
            }
            match tokio::time::timeout(self.cfg.timeout, socket.connect(target)).await {
                Ok(Ok(s)) => {
                    let _ = s.set_nodelay(true);
                    return Ok(s);
                }
                Ok(Err(e)) => last = format!("connect to {target}: {e}"),
                Err(_) => last = format!("connect to {target}: timed out"),
            }
        }
        Err(last)
    }

    /// The data and HTTP addresses to register: the listen host when it names one address,
    /// else `BIND_HOST`, else the local address of the master connection.
    fn advertise(&self, local_ip: IpAddr) -> (String, String) {
        let local = local_ip.to_string();
        let host = specific(&self.cfg.data_host).or(specific(&self.cfg.bind_host)).unwrap_or(&local);
        let http_host = specific(&self.cfg.http_host).unwrap_or(host);
        (join_host_port(host, self.cfg.data_port), join_host_port(http_host, self.cfg.http_port))
    }
}

/// A host that names one address (not "any").
fn specific(h: &Option<String>) -> Option<&str> {
    h.as_deref().filter(|h| !matches!(*h, "*" | "0.0.0.0" | "::" | "[::]" | ""))
}

/// `host:port`, with brackets around an IPv6 address.
pub fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

async fn resolve_ip(host: &str) -> Result<IpAddr, String> {
    if let Ok(ip) = host.trim_matches(|c| c == '[' || c == ']').parse() {
        return Ok(ip);
    }
    tokio::net::lookup_host((host, 0))
        .await
        .map_err(|e| format!("resolving BIND_HOST {host}: {e}"))?
        .next()
        .map(|a| a.ip())
        .ok_or_else(|| format!("BIND_HOST {host} resolves to no address"))
}

async fn write_loop(wr: OwnedWriteHalf, mut rx: mpsc::Receiver<CsToMaster>) {
    use tokio::io::AsyncWriteExt;
    let mut wr = tokio::io::BufWriter::new(wr);
    while let Some(msg) = rx.recv().await {
        if let Err(e) = proto::frame::write_frame(&mut wr, &msg).await {
            tracing::debug!(error = %e, "master connection write failed");
            return;
        }
        if rx.is_empty() && wr.flush().await.is_err() {
            return;
        }
    }
}

async fn read_loop(mut rd: OwnedReadHalf, tx: mpsc::Sender<MasterToCs>, addr: String) {
    loop {
        match proto::frame::read_frame::<_, MasterToCs>(&mut rd).await {
            Ok(msg) => {
                if tx.send(msg).await.is_err() {
                    return;
                }
            }
            Err(e) if e.is_clean_close() => return,
            Err(e) => {
                tracing::warn!(master = %addr, error = %e, "bad frame from the master, connection closed");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_never_go_down() {
        let s = LinkState::default();
        assert_eq!(s.raise_term(5), 0);
        assert_eq!(s.raise_term(3), 5);
        assert_eq!(s.term(), 5);
        assert_eq!(s.raise_term(7), 5);
        assert_eq!(s.term(), 7);
    }

    #[test]
    fn host_port_joins_brackets_ipv6() {
        assert_eq!(join_host_port("10.0.0.1", 9422), "10.0.0.1:9422");
        assert_eq!(join_host_port("::1", 9422), "[::1]:9422");
        assert_eq!(join_host_port("cs1.example", 1), "cs1.example:1");
        assert_eq!(specific(&Some("0.0.0.0".into())), None);
        assert_eq!(specific(&Some("10.1.1.1".into())), Some("10.1.1.1"));
    }
}
