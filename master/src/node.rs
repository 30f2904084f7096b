//! A running master: storage, Raft, the four listeners and the leader's housekeeping,
//! started from one place.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use openraft::{Config, SnapshotPolicy};
use proto::http_listener::GatedListener;
use proto::meta::Timestamp;
use raft_store::{FlushMode, RocksLogStore, SnapshotFiles};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::chunks::ChunkService;
use crate::client_server::{self, ClientService};
use crate::config::MasterConfig;
use crate::error::MasterError;
use crate::exports::Exports;
use crate::http::{self, HttpState};
use crate::live_settings::{self, LiveSettings};
use crate::log_format::LogCommand;
use crate::metrics::Metrics;
use crate::net_limits::HTTP_IDLE_TIMEOUT;
use crate::peer_auth::{PeerGate, PeerIdentity};
use crate::proposer::Proposer;
use crate::raft_net::Network;
use crate::raft_types::{Command, Raft, TypeConfig};
use crate::read_lease::ReadLease;
use crate::session_activity::SessionActivity;
use crate::sm_store::{SharedState, StateMachineStore};
use crate::topology::Topology;
use crate::vote_guard::{self, VoteGuard};
use crate::{bootstrap, member_disks, peer_server};

/// How often the leader looks for expired trash and idle sessions.
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(1);

/// A started master. Dropping it does not stop it; call [`Master::shutdown`].
pub struct Master {
    pub raft: Raft,
    pub state: SharedState,
    pub metrics: Arc<Metrics>,
    pub cfg: Arc<MasterConfig>,
    /// The chunk side (chunkserver registry, chunk writes, replication).
    pub chunks: Arc<ChunkService>,
    /// The export rules sessions are opened under (`EXPORTS_FILENAME`).
    pub exports: Arc<RwLock<Exports>>,
    /// The settings `reload` changes.
    pub live: Arc<LiveSettings>,
    tasks: Vec<JoinHandle<()>>,
}

async fn bind(addr: &str, what: &'static str) -> Result<TcpListener, MasterError> {
    TcpListener::bind(addr).await.map_err(|source| MasterError::Listen { addr: addr.to_string(), what, source })
}

/// The openraft configuration derived from `mfsmaster.cfg`.
pub fn raft_config(cfg: &MasterConfig) -> Result<Config, MasterError> {
    let c = Config {
        cluster_name: "raftmfs".into(),
        heartbeat_interval: cfg.heartbeat.as_millis() as u64,
        election_timeout_min: cfg.election_timeout_min.as_millis() as u64,
        election_timeout_max: cfg.election_timeout_max.as_millis() as u64,
        install_snapshot_timeout: 10_000,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(cfg.snapshot_logs),
        max_in_snapshot_log_to_keep: cfg.logs_keep,
        // Large batches amortise the per-append fsync (group commit).
        max_payload_entries: 1000,
        ..Default::default()
    };
    c.validate().map_err(|e| MasterError::Raft(e.to_string()))
}

impl Master {
    /// Open storage, start Raft and every listener, and bootstrap a fresh group.
    pub async fn start(cfg: MasterConfig) -> Result<Master, MasterError> {
        let started = Instant::now();
        let cfg = Arc::new(cfg);
        // A bad exports file stops the start: better no master than one that grants the wrong
        // access. A missing one means MooseFS's sample rule (with a warning).
        let exports = Arc::new(RwLock::new(Exports::load_or_default(&cfg.exports_filename)?));
        // The same for the topology; a missing file means one location for every address.
        let topology = Topology::load(&cfg.topology_filename)?;
        std::fs::create_dir_all(&cfg.data_path)?;
        let raft_listener = bind(&cfg.raft_listen, "raft peers").await?;
        let client_listener = bind(&cfg.client_listen, "clients").await?;
        let http_listener = bind(&cfg.http_listen, "http").await?;
        let cs_listener = bind(&cfg.cs_listen, "chunkservers").await?;

        // Before Raft opens the storage: an empty folder withholds its vote (`vote_guard.rs`).
        let votes = VoteGuard::at_start(&cfg.data_path)?;
        // openraft 0.9 waits for each append's fsync before it goes on: do it in the append.
        let log_store = RocksLogStore::<TypeConfig>::open_with(&cfg.data_path.join("changelog"), FlushMode::Inline)?;
        let files = SnapshotFiles::open(&cfg.data_path.join("snapshots"))?;
        let sm = StateMachineStore::open(files)?;
        let state = sm.shared();
        let metrics = Arc::new(Metrics::new());
        let me = Arc::new(PeerIdentity::from_config(&cfg));
        let network = Network { me: me.clone() };
        let raft = Raft::new(cfg.node_id, Arc::new(raft_config(&cfg)?), network, log_store, sm)
            .await
            .map_err(|e| MasterError::Raft(e.to_string()))?;

        let mut tasks = Vec::new();
        tasks.push(metrics.spawn_leader_watch(raft.clone()));
        let gate = Arc::new(PeerGate::new(&cfg, raft.clone()));
        tasks.push(tokio::spawn(peer_server::serve(
            raft_listener,
            raft.clone(),
            metrics.clone(),
            cfg.net.clone(),
            gate,
            votes.clone(),
            state.clone(),
        )));
        // Withheld until allowed: no standing for election meanwhile (set before Raft's first tick
        // can matter: openraft waits an election timeout first).
        if votes.withheld() {
            raft.runtime_config().elect(false);
        }
        tasks.push(tokio::spawn(vote_guard::run(
            raft.clone(),
            cfg.clone(),
            me.clone(),
            votes.clone(),
            state.clone(),
            metrics.clone(),
        )));
        tasks.push(tokio::spawn(member_disks::run(
            raft.clone(),
            state.clone(),
            me.clone(),
            votes.clone(),
            cfg.node_id,
        )));
        let proposer = Proposer::start(
            raft.clone(),
            cfg.proposals_in_flight,
            cfg.batch_max_commands,
            cfg.commit_timeout,
            metrics.clone(),
        );
        let live = Arc::new(LiveSettings::new(&cfg));
        let chunks = ChunkService::new(
            raft.clone(),
            proposer.clone(),
            state.clone(),
            cfg.clone(),
            metrics.clone(),
            live.clone(),
        );
        chunks.set_topology(topology);
        tasks.extend(chunks.start(cs_listener));
        let activity = Arc::new(SessionActivity::default());
        let svc = Arc::new(ClientService {
            raft: raft.clone(),
            proposer: proposer.clone(),
            state: state.clone(),
            cfg: cfg.clone(),
            metrics: metrics.clone(),
            chunks: chunks.clone(),
            exports: exports.clone(),
            lease: ReadLease::new(cfg.election_timeout_max),
            activity: activity.clone(),
        });
        tasks.push(tokio::spawn(client_server::serve(client_listener, svc)));
        let app = http::router(HttpState {
            raft: raft.clone(),
            state: state.clone(),
            metrics: metrics.clone(),
            cfg: cfg.clone(),
            chunks: chunks.clone(),
            exports: exports.clone(),
            activity,
            started,
        });
        let http_gate = metrics.conn_gate("http", "HTTP_MAX_CONNECTIONS", cfg.net.http_max_connections);
        let http_listener = GatedListener::new(http_listener, http_gate, HTTP_IDLE_TIMEOUT);
        tasks.push(tokio::spawn(async move {
            if let Err(e) = axum::serve(http_listener, app).await {
                tracing::error!(error = %e, "http server stopped");
            }
        }));
        {
            let (raft, cfg) = (raft.clone(), cfg.clone());
            tasks.push(tokio::spawn(async move { bootstrap::run(raft, &cfg, &me).await }));
        }
        tasks.push(tokio::spawn(housekeeping(raft.clone(), state.clone(), cfg.clone(), live.clone(), metrics.clone())));
        tracing::info!(
            id = cfg.node_id,
            raft = %cfg.raft_listen,
            clients = %cfg.client_listen,
            chunkservers = %cfg.cs_listen,
            http = %cfg.http_listen,
            data = %cfg.data_path.display(),
            "mfsmaster started"
        );
        Ok(Master { raft, state, metrics, cfg, chunks, exports, live, tasks })
    }

    /// Apply a reread `mfsmaster.cfg` (`reload`): the keys MooseFS applies on reload take
    /// effect now and are logged; changed keys that need a restart are named and keep their
    /// running values.
    pub fn reload_config(&self, new: &MasterConfig) {
        let changed = self.live.apply(new);
        if !changed.is_empty() {
            tracing::info!(keys = %changed.join(", "), "reload: applied");
        }
        let restart = live_settings::needs_restart(&self.cfg, new);
        if !restart.is_empty() {
            tracing::warn!(keys = %restart.join(", "), "reload: changed keys that need a restart; running values kept");
        }
    }

    /// Read the exports file again (`reload`): new sessions open under the new rules; open
    /// sessions keep what they were granted. A file that does not parse, or is gone, is logged
    /// and the running rules stay.
    pub fn reload_exports(&self) {
        let path = &self.cfg.exports_filename;
        match Exports::load(path) {
            Ok(Some(new)) => {
                let n = new.rules.len();
                *self.exports.write().unwrap_or_else(|e| e.into_inner()) = new;
                tracing::info!(file = %path.display(), rules = n, "exports reloaded");
            }
            Ok(None) => tracing::warn!(file = %path.display(), "reload: exports file not found; exports not changed"),
            Err(e) => tracing::error!(error = %e, "reload: exports file rejected; keeping the running rules"),
        }
    }

    /// Read the topology file again (`reload`); a file that does not parse is logged and the
    /// running topology stays.
    pub fn reload_topology(&self) {
        let path = &self.cfg.topology_filename;
        match Topology::load(path) {
            Ok(t) => {
                tracing::info!(file = %path.display(), lines = t.len(), "topology reloaded");
                self.chunks.set_topology(t);
            }
            Err(e) => tracing::error!(error = %e, "reload: topology rejected; keeping the running one"),
        }
    }

    /// Wait until Raft has stopped on a fatal error (a storage failure, or a log entry this
    /// master must not apply) and return it: the master can no longer take part.
    pub async fn fatal(&self) -> String {
        let mut rx = self.raft.metrics();
        loop {
            if let Err(e) = &rx.borrow_and_update().running_state {
                return e.to_string();
            }
            if rx.changed().await.is_err() {
                return "the Raft core stopped".into();
            }
        }
    }

    /// Stop Raft and every listener.
    pub async fn shutdown(self) {
        for t in &self.tasks {
            t.abort();
        }
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(error = %e, "raft shutdown");
        }
    }
}

/// The leader proposes trash purges and session expiry when something is due. The time is
/// the leader's, carried in the entry, so every replica applies the same change.
async fn housekeeping(
    raft: Raft,
    state: SharedState,
    cfg: Arc<MasterConfig>,
    live: Arc<LiveSettings>,
    metrics: Arc<Metrics>,
) {
    let mut tick = tokio::time::interval(HOUSEKEEPING_INTERVAL);
    loop {
        tick.tick().await;
        if raft.metrics().borrow().state != openraft::ServerState::Leader {
            continue;
        }
        let now = Timestamp::now();
        let older_than = Timestamp::new(now.secs - live.session_sustain().as_secs() as i64, now.nsecs);
        let (purge, expire) = {
            let st = state.read();
            (st.ns.next_trash_expiry().is_some_and(|t| t <= now), st.has_idle_sessions(older_than))
        };
        let mut cmds = Vec::new();
        if purge {
            cmds.push(Command::PurgeTrash { now });
        }
        if expire {
            cmds.push(Command::ExpireSessions { now, older_than });
        }
        for cmd in cmds {
            metrics.housekeeping.inc();
            if let Err(e) = tokio::time::timeout(cfg.commit_timeout, raft.client_write(LogCommand::from(cmd))).await {
                tracing::debug!(error = %e, "housekeeping entry not committed in time");
            }
        }
    }
}
