//! The chunk side of the leader: chunkservers register on port 9420 ([`cs_server`]) and are
//! tracked in the [`registry`] (soft state, re-learned after a failover), with the damage
//! they report on their copies; clients open chunks for writing through [`write`]; the
//! [`replication`] loop keeps every chunk at its goal, has bad blocks rewritten from good
//! copies ([`repair`]) and deletes what is no longer needed, never the last good copy of any
//! block. Only the leader commands chunkservers, and every command carries its Raft term.
//!
//! What must survive a failover is in the namespace (each chunk's version and holders);
//! everything here is rebuilt from the chunkservers' registrations.

pub mod copy_on_write;
pub mod cs_server;
pub mod file_repair;
pub mod link;
pub mod placement;
pub mod plan;
pub mod registry;
pub mod repair;
pub mod replicate;
pub mod replication;
pub mod tokens;
pub mod write;

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use proto::client::{ChunkLocation, Reply, ResponseBody};
use proto::cs::{CommandReply, CsCommand, CsError};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::config::MasterConfig;
use crate::error::CsCallError;
use crate::live_settings::LiveSettings;
use crate::metrics::Metrics;
use crate::namespace::ChunkMeta;
use crate::proposer::Proposer;
use crate::raft_types::{Command, Raft};
use crate::sm_store::SharedState;
use crate::topology::Topology;
use registry::{is_valid, Damage, Registry, ServerStatus};

/// How long a `Replicate` (or a `RepairBlocks`) may take: a whole 64 MiB chunk read,
/// CRC-checked and written.
pub const REPLICATE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long any other command may take (create, delete, set version: metadata-sized work).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

/// The timeout of one command.
pub fn command_timeout(cmd: &CsCommand) -> Duration {
    match cmd {
        CsCommand::Replicate { .. } | CsCommand::RepairBlocks { .. } | CsCommand::Duplicate { .. } => REPLICATE_TIMEOUT,
        _ => COMMAND_TIMEOUT,
    }
}

/// This master's current leadership, as the chunk side sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Leadership {
    pub term: u64,
    pub since: Instant,
}

/// Everything the chunk side of a master shares. Cheap to use through an `Arc`.
pub struct ChunkService {
    pub raft: Raft,
    /// The way into the Raft log (batched with the client server's proposals).
    pub proposer: Proposer,
    pub state: SharedState,
    pub cfg: Arc<MasterConfig>,
    pub metrics: Arc<Metrics>,
    /// The settings `reload` changes (chunk loop pace and limits, placement).
    pub live: Arc<LiveSettings>,
    registry: Mutex<Registry>,
    /// Set while this master leads (by the leadership watcher); registrations check it
    /// under this lock so a registration never survives a leadership change.
    leadership: Mutex<Option<Leadership>>,
    pub(crate) writes: write::WriteState,
    pub(crate) loop_state: replication::LoopState,
    next_conn_id: AtomicU64,
    /// The keys data tokens are signed with.
    pub tokens: tokens::TokenKeys,
    /// Where each address sits (`mfstopology.cfg`): copies are read and chains written
    /// nearest first.
    topology: std::sync::RwLock<Topology>,
}

impl ChunkService {
    pub fn new(
        raft: Raft,
        proposer: Proposer,
        state: SharedState,
        cfg: Arc<MasterConfig>,
        metrics: Arc<Metrics>,
        live: Arc<LiveSettings>,
    ) -> Arc<Self> {
        Arc::new(ChunkService {
            raft,
            proposer,
            state,
            cfg,
            metrics,
            live,
            registry: Mutex::new(Registry::default()),
            leadership: Mutex::new(None),
            writes: write::WriteState::default(),
            loop_state: replication::LoopState::default(),
            next_conn_id: AtomicU64::new(1),
            tokens: tokens::TokenKeys::default(),
            topology: std::sync::RwLock::new(Topology::default()),
        })
    }

    /// Use `t` from now on (start, `reload`).
    pub fn set_topology(&self, t: Topology) {
        *self.topology.write().unwrap_or_else(|e| e.into_inner()) = t;
    }

    /// The topology in use.
    pub fn topology(&self) -> std::sync::RwLockReadGuard<'_, Topology> {
        self.topology.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Start the chunkserver listener, the leadership watcher and the replication loop.
    pub fn start(self: &Arc<Self>, cs_listener: TcpListener) -> Vec<JoinHandle<()>> {
        vec![
            tokio::spawn(cs_server::serve(cs_listener, self.clone())),
            tokio::spawn(watch_leadership(self.clone())),
            tokio::spawn(replication::run(self.clone())),
            tokio::spawn(tokens::rotation(self.clone())),
        ]
    }

    /// The registry (leader soft state).
    pub fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The lowest id a new chunk may take: past the namespace's counter and past every id a
    /// chunkserver reported (see `Registry::highest_id`).
    pub(crate) fn next_chunk_id(&self) -> u64 {
        let reported = self.registry().highest_id();
        self.state.read().ns.next_chunk_id().max(reported.saturating_add(1))
    }

    fn leadership_lock(&self) -> MutexGuard<'_, Option<Leadership>> {
        self.leadership.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// This master's leadership, if it leads.
    pub fn leadership(&self) -> Option<Leadership> {
        *self.leadership_lock()
    }

    /// True when this master leads and its state machine has applied an entry of its own
    /// term: everything earlier leaders committed is applied, so the chunk table is current
    /// (a chunk id another leader allocated, a version another leader bumped). Until then
    /// the chunk side neither allocates nor judges copies.
    pub fn caught_up(&self) -> bool {
        let Some(l) = self.leadership() else {
            return false;
        };
        self.state.read().last_applied.is_some_and(|id| id.leader_id.term == l.term)
    }

    /// Wait (at most the commit timeout) until [`ChunkService::caught_up`], by a leadership
    /// check that waits for the apply. Err: the answer to give the client.
    pub async fn ensure_caught_up(&self) -> Result<(), ResponseBody> {
        if self.caught_up() {
            return Ok(());
        }
        crate::raft_api::ensure_leader(&self.raft, self.cfg.commit_timeout).await?;
        if self.caught_up() {
            Ok(())
        } else {
            Err(ResponseBody::Unavailable { reason: "the new leader is still catching up".into() })
        }
    }

    fn next_conn_id(&self) -> u64 {
        self.next_conn_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Send one command to a registered chunkserver and wait for its answer, counting it.
    pub async fn command(&self, addr: &str, cmd: CsCommand) -> Result<CommandReply, CsCallError> {
        let name = cmd.name();
        let timeout = command_timeout(&cmd);
        let link = self.registry().link(addr);
        let result = match link {
            Some(link) => link.call(cmd, timeout).await,
            None => Err(CsCallError::Disconnected { addr: addr.to_string() }),
        };
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.name(),
        };
        self.metrics.cs_commands.with_label_values(&[name, outcome]).inc();
        result
    }

    /// Tell each of `targets` that its copy of chunk `id` (at one of `expect`) is now at
    /// `version`, in parallel. Returns those that confirmed, in `targets` order; a copy
    /// already at `version` counts as confirmed.
    pub async fn set_versions(&self, id: u64, expect: &[u32], version: u32, targets: &[String]) -> Vec<String> {
        let calls = targets.iter().map(|addr| async move {
            let cmd = CsCommand::SetVersion { id, expect: expect.to_vec(), new_version: version };
            let r = self.command(addr, cmd).await;
            let ok = match &r {
                Ok(_) => true,
                Err(CsCallError::Refused { err: CsError::WrongVersion { have }, .. }) => *have == version,
                Err(_) => false,
            };
            if ok {
                self.registry().set_version(id, addr, version);
            } else if let Err(e) = r {
                tracing::info!(chunk = id, server = %addr, version, error = %e, "set version failed");
            }
            ok.then(|| addr.clone())
        });
        join_all(calls).await.into_iter().flatten().collect()
    }

    /// After chunk `id` was bumped to `version` for `holders`: tell them, and if only some
    /// confirmed, make those the holders through Raft (the others' copies become stale).
    /// Returns the confirmed holders (chain order); Err: the answer to give a client.
    pub async fn confirm_bump(&self, id: u64, version: u32, holders: &[String]) -> Result<Vec<String>, ResponseBody> {
        // Copies one behind (the normal case) or two (a holder that missed the previous bump).
        let expect: Vec<u32> = (1..=2).filter_map(|k| version.checked_sub(k)).filter(|&v| v != 0).collect();
        let confirmed = self.set_versions(id, &expect, version, holders).await;
        if confirmed.is_empty() {
            // A new leader's chunkservers may not have registered yet (a write committed by the
            // previous leader, retried here moments after the election): retry, not EIO.
            let young = self.leadership().is_none_or(|l| l.since.elapsed() < write::REGISTRATION_GRACE);
            if young {
                tracing::info!(chunk = id, version, "no chunkserver took the new version yet; the client retries");
                return Err(ResponseBody::Unavailable { reason: format!("chunk {id}: waiting for its chunkservers") });
            }
            tracing::warn!(chunk = id, version, "no chunkserver took the new version");
            return Err(ResponseBody::Result(Err(proto::Errno::EIO)));
        }
        if confirmed.len() != holders.len() {
            let cmd = Command::ChunkHolders { id, version, holders: confirmed.clone() };
            self.proposer.propose(cmd).await?;
        }
        Ok(confirmed)
    }

    /// The chunk table entry of `id`.
    pub fn chunk_meta(&self, id: u64) -> Option<ChunkMeta> {
        self.state.read().ns.chunk_meta(id).cloned()
    }

    /// Replace the holders the namespace answered in a `ChunkRead`/`FileChunks` reply with
    /// the chunkservers that really have a copy at the chunk's version: whole copies first
    /// (least loaded first), then copies with bad blocks (readers take those blocks from
    /// another copy). Damaged copies are also listed with their bad blocks, and copies out of
    /// service only there.
    /// Copies are listed nearest to `client` first (`mfstopology.cfg`), whole ones before damaged
    /// ones at the same distance.
    pub fn locate(&self, reply: &mut Reply, client: Option<IpAddr>) {
        let topology = self.topology();
        let reg = self.registry();
        let fill = |loc: &mut ChunkLocation| {
            loc.damaged.clear();
            if loc.chunk_id == 0 {
                loc.servers.clear();
                return;
            }
            let meta = ChunkMeta { version: loc.version, holders: std::mem::take(&mut loc.servers) };
            for c in reg.valid_copies(loc.chunk_id, &meta).into_iter().filter(|c| c.version == meta.version) {
                match &c.damage {
                    Damage::None => loc.servers.push(c.addr),
                    Damage::Blocks(bad) => {
                        loc.damaged.push((c.addr.clone(), bad.clone()));
                        loc.servers.push(c.addr);
                    }
                    Damage::Whole => loc.damaged.push((c.addr, Vec::new())),
                }
            }
            if let Some(client) = client {
                let damaged: Vec<&String> = loc.damaged.iter().map(|(a, _)| a).collect();
                let key = |s: &String| (damaged.contains(&s), topology.distance_to(client, s));
                let mut servers = std::mem::take(&mut loc.servers);
                servers.sort_by_key(|s| key(s));
                loc.servers = servers;
            }
        };
        match reply {
            Reply::Chunk(loc) => {
                fill(loc);
                // A reader's permission for the chunkservers (a file list for `mfsfileinfo`
                // reads no data and gets none).
                if loc.chunk_id != 0 {
                    loc.token = Some(self.tokens.read(loc.chunk_id, loc.version));
                }
            }
            Reply::Chunks(locs) => locs.iter_mut().for_each(fill),
            _ => {}
        }
    }

    /// Give a `ChunkWrite` answer the writer's permission: this chunk version, down this
    /// chain only. Added to the answer, never to the replicated state: a replayed answer gets
    /// a fresh token from whichever leader answers it.
    pub fn sign_write(&self, resp: &mut ResponseBody) {
        if let ResponseBody::Result(Ok(Reply::Chunk(loc))) = resp {
            if loc.chunk_id != 0 {
                loc.token = Some(self.tokens.write(loc.chunk_id, loc.version, &loc.servers));
            }
        }
    }

    /// Total and available bytes over the connected chunkservers.
    pub fn space(&self) -> (u64, u64) {
        self.registry().space()
    }

    /// The connected chunkservers, for the status page.
    pub fn status(&self) -> Vec<ServerStatus> {
        self.registry().status()
    }

    /// Chunkservers lost within `REPLICATIONS_DELAY_DISCONNECT`, by data address.
    pub fn recently_lost(&self) -> Vec<String> {
        self.registry().recently_lost()
    }

    /// Fill the per-chunkserver gauges from the registry (leader only; `/metrics` shows them
    /// only while this master leads).
    pub fn export_server_metrics(&self) {
        let lm = &self.metrics.leader;
        let reg = self.registry();
        for v in [&lm.server_connected, &lm.server_total, &lm.server_avail, &lm.server_copies, &lm.server_load] {
            v.reset();
        }
        for s in reg.status() {
            let l = [s.data_addr.as_str()];
            lm.server_connected.with_label_values(&l).set(1);
            lm.server_total.with_label_values(&l).set(s.total as i64);
            lm.server_avail.with_label_values(&l).set(s.avail as i64);
            lm.server_copies.with_label_values(&l).set(s.chunks as i64);
            lm.server_load.with_label_values(&l).set(i64::from(s.load));
            // Kept by the chunk loop; a server it found nothing damaged on shows 0.
            lm.server_damaged.with_label_values(&l);
        }
        for addr in reg.recently_lost() {
            lm.server_connected.with_label_values(&[addr.as_str()]).set(0);
        }
    }

    /// Is `addr`'s copy of `id` at `version` valid now?
    pub fn copy_is_valid(&self, id: u64, addr: &str, version: u32) -> bool {
        self.chunk_meta(id).is_some_and(|m| is_valid(&m, addr, version))
    }

    /// Forget every chunkserver and close their connections (leadership lost or changed).
    fn drop_all(&self) {
        let links = self.registry().clear();
        for l in &links {
            l.close();
        }
        self.writes.clear();
        self.loop_state.clear();
        // Only the leader judges copies: nothing of this view is exported until it leads again.
        self.metrics.leader.clear();
        if !links.is_empty() {
            tracing::info!(chunkservers = links.len(), "closed every chunkserver connection");
        }
    }
}

/// Keep [`ChunkService::leadership`] in step with Raft: on any change of role or term the
/// registry is cleared and every chunkserver connection closed, so chunkservers re-find the
/// leader and a new leadership starts from fresh registrations.
async fn watch_leadership(svc: Arc<ChunkService>) {
    let mut rx = svc.raft.metrics();
    loop {
        let (leader, term) = {
            let m = rx.borrow_and_update();
            (m.state == openraft::ServerState::Leader, m.current_term)
        };
        {
            let mut l = svc.leadership_lock();
            let now_term = leader.then_some(term);
            if l.map(|x| x.term) != now_term {
                svc.drop_all();
                *l = now_term.map(|term| Leadership { term, since: Instant::now() });
                match now_term {
                    Some(term) => tracing::info!(term, "leading: accepting chunkserver registrations"),
                    None => tracing::info!(term, "not leading: chunkservers go to the leader"),
                }
            }
        }
        if rx.changed().await.is_err() {
            svc.drop_all();
            *svc.leadership_lock() = None;
            return;
        }
    }
}

/// Await every future concurrently; outputs in input order.
pub async fn join_all<F: std::future::Future>(futs: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut futs: Vec<std::pin::Pin<Box<F>>> = futs.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = futs.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in futs.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}
