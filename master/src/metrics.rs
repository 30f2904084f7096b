//! Prometheus metrics of a master, served on `/metrics`.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

use proto::conn_gate::ConnGate;

use crate::leader_metrics::LeaderMetrics;
use crate::raft_types::Raft;
use crate::sm_store::SharedState;

/// Every metric a master exports.
pub struct Metrics {
    pub registry: Registry,
    /// Client requests by operation and outcome (ok, errno name, not_leader, unavailable, ...).
    pub requests: IntCounterVec,
    /// Client request latency by operation, seconds.
    pub latency: HistogramVec,
    /// Frames that could not be read or decoded, by port (client, raft, cs).
    pub bad_frames: IntCounterVec,
    /// Reads whose state was read after the read lease had lapsed (the master was frozen or
    /// starved in between): answered again under a fresh proof, never from that state.
    pub reads_outlived_lease: IntCounter,
    /// Open client connections.
    pub client_connections: IntGauge,
    /// Open connections by port (raft, cs, client, http), against each port's cap.
    pub connections: IntGaugeVec,
    /// Connections closed at once because their port was at its cap, by port.
    pub connections_refused: IntCounterVec,
    /// Requests and peers refused for failing a proof of who they are, by port (client, cs,
    /// raft) and reason (session_secret, auth_code, unknown_peer, ...).
    pub auth_refused: IntCounterVec,
    /// 1 for this master's current Raft role, 0 for the others.
    pub raft_role: IntGaugeVec,
    pub raft_term: IntGauge,
    pub raft_leader_id: IntGauge,
    pub raft_last_log_index: IntGauge,
    pub raft_committed_index: IntGauge,
    pub raft_applied_index: IntGauge,
    pub raft_snapshot_index: IntGauge,
    pub raft_purged_index: IntGauge,
    pub inodes: IntGauge,
    pub sessions: IntGauge,
    /// Snapshot housekeeping proposals made by the leader (trash purge, session expiry).
    pub housekeeping: IntCounter,
    /// Commands proposed through the batching proposer, and the log entries that carried
    /// them: their ratio is the mean batch size.
    pub proposals: IntCounter,
    pub proposal_entries: IntCounter,
    /// From handing an entry of proposals to Raft until it is committed and applied, seconds.
    pub commit_latency: prometheus::Histogram,
    /// Chunks in the chunk table.
    pub chunks: IntGauge,
    /// Leader changes this master saw (a new leader known, in a new term or not).
    pub leader_changes: IntCounter,
    /// Unix time of this master's newest snapshot file.
    pub snapshot_time: IntGauge,
    /// 1 while this master withholds its vote (it came back on an empty disk: `vote_guard.rs`).
    pub vote_withheld: IntGauge,
    /// What only the leader knows, exported only while this master leads.
    pub leader: LeaderMetrics,
    /// Bad blocks rewritten from other copies, by result (ok, failed).
    pub block_repairs: IntCounterVec,
    /// Passes of the leader's chunk loop (each plans every chunk).
    pub chunk_loop_passes: IntCounter,
    /// Replications by result (ok, error).
    pub replications: IntCounterVec,
    /// Copy deletions by reason (deleted, orphan, stale, over_goal) and result.
    pub deletions: IntCounterVec,
    /// Renumberings of copies that missed a version bump, by result.
    pub repairs: IntCounterVec,
    /// Commands sent to chunkservers by command (create, delete, set_version, replicate) and
    /// result (ok, refused, timeout, disconnected).
    pub cs_commands: IntCounterVec,
    last_leader_contact: Mutex<Option<Instant>>,
    /// The ports' connection caps, read for `connections` at each render.
    gates: Mutex<Vec<Arc<ConnGate>>>,
}

/// The `reason` labels of `chunk_deletions_total` (`DeleteReason::name`).
pub const DELETE_REASONS: [&str; 4] = ["deleted", "orphan", "stale", "over_goal"];

fn must<T>(r: Result<T, prometheus::Error>) -> T {
    match r {
        Ok(v) => v,
        // Only reachable through a programming error in the fixed metric definitions below.
        Err(e) => panic!("metric definition: {e}"),
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("mfsmaster".into()), None).unwrap_or_default();
        let requests = must(IntCounterVec::new(Opts::new("requests_total", "Client requests"), &["op", "outcome"]));
        let latency = must(HistogramVec::new(
            HistogramOpts::new("request_duration_seconds", "Client request latency")
                .buckets(vec![0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]),
            &["op"],
        ));
        let bad_frames =
            must(IntCounterVec::new(Opts::new("bad_frames_total", "Malformed frames received"), &["port"]));
        let g = |n: &str, h: &str| must(IntGauge::new(n, h));
        let m = Metrics {
            requests,
            latency,
            bad_frames,
            reads_outlived_lease: must(IntCounter::new(
                "reads_outlived_lease_total",
                "Reads discarded because the read lease lapsed while they ran",
            )),
            client_connections: g("client_connections", "Open client connections"),
            connections: must(IntGaugeVec::new(Opts::new("connections", "Open connections by port"), &["port"])),
            connections_refused: must(IntCounterVec::new(
                Opts::new("connections_refused_total", "Connections closed at once: their port was at its cap"),
                &["port"],
            )),
            auth_refused: must(IntCounterVec::new(
                Opts::new("auth_refused_total", "Requests and peers refused for a failed proof of identity"),
                &["port", "reason"],
            )),
            raft_role: must(IntGaugeVec::new(Opts::new("raft_role", "Current Raft role (1 = this one)"), &["role"])),
            raft_term: g("raft_term", "Current Raft term"),
            raft_leader_id: g("raft_leader_id", "Node id of the known leader, 0 if none"),
            raft_last_log_index: g("raft_last_log_index", "Index of the last log entry"),
            raft_committed_index: g("raft_committed_index", "Highest log index known committed"),
            raft_applied_index: g("raft_applied_index", "Highest log index applied to the namespace"),
            raft_snapshot_index: g("raft_snapshot_index", "Last log index in the newest snapshot"),
            raft_purged_index: g("raft_purged_index", "Highest purged log index"),
            inodes: g("inodes", "Inodes in the namespace"),
            sessions: g("client_sessions", "Client sessions in the replicated session table"),
            housekeeping: must(IntCounter::new(
                "housekeeping_proposals_total",
                "Trash purge and session expiry entries proposed",
            )),
            proposals: must(IntCounter::new("raft_proposals_total", "Commands proposed (batched into log entries)")),
            proposal_entries: must(IntCounter::new(
                "raft_proposal_entries_total",
                "Log entries of proposed commands (one per batch)",
            )),
            commit_latency: must(prometheus::Histogram::with_opts(
                HistogramOpts::new(
                    "raft_commit_duration_seconds",
                    "From proposing a log entry until it is committed and applied",
                )
                .buckets(vec![0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]),
            )),
            chunks: g("chunks", "Chunks in the chunk table"),
            leader_changes: must(IntCounter::new("raft_leader_changes_total", "Leader changes this master saw")),
            snapshot_time: g("raft_snapshot_timestamp_seconds", "Unix time of this master's newest metadata snapshot"),
            vote_withheld: g(
                "raft_vote_withheld",
                "1 while this master, back on an empty disk, does not vote until the group takes it back",
            ),
            leader: LeaderMetrics::new(),
            block_repairs: must(IntCounterVec::new(
                Opts::new("block_repairs_total", "Bad blocks rewritten from other copies"),
                &["result"],
            )),
            chunk_loop_passes: must(IntCounter::new("chunk_loop_passes_total", "Passes of the chunk loop")),
            replications: must(IntCounterVec::new(
                Opts::new("chunk_replications_total", "Chunk replications"),
                &["result"],
            )),
            deletions: must(IntCounterVec::new(
                Opts::new("chunk_deletions_total", "Chunk copy deletions"),
                &["reason", "result"],
            )),
            repairs: must(IntCounterVec::new(
                Opts::new("chunk_version_repairs_total", "Copies renumbered after a missed version bump"),
                &["result"],
            )),
            cs_commands: must(IntCounterVec::new(
                Opts::new("cs_commands_total", "Commands sent to chunkservers"),
                &["command", "result"],
            )),
            last_leader_contact: Mutex::new(None),
            gates: Mutex::new(Vec::new()),
            registry,
        };
        let collectors: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(m.requests.clone()),
            Box::new(m.latency.clone()),
            Box::new(m.bad_frames.clone()),
            Box::new(m.reads_outlived_lease.clone()),
            Box::new(m.client_connections.clone()),
            Box::new(m.connections.clone()),
            Box::new(m.connections_refused.clone()),
            Box::new(m.auth_refused.clone()),
            Box::new(m.raft_role.clone()),
            Box::new(m.raft_term.clone()),
            Box::new(m.raft_leader_id.clone()),
            Box::new(m.raft_last_log_index.clone()),
            Box::new(m.raft_committed_index.clone()),
            Box::new(m.raft_applied_index.clone()),
            Box::new(m.raft_snapshot_index.clone()),
            Box::new(m.raft_purged_index.clone()),
            Box::new(m.inodes.clone()),
            Box::new(m.sessions.clone()),
            Box::new(m.housekeeping.clone()),
            Box::new(m.proposals.clone()),
            Box::new(m.proposal_entries.clone()),
            Box::new(m.commit_latency.clone()),
            Box::new(m.chunks.clone()),
            Box::new(m.leader_changes.clone()),
            Box::new(m.snapshot_time.clone()),
            Box::new(m.vote_withheld.clone()),
            Box::new(m.block_repairs.clone()),
            Box::new(m.chunk_loop_passes.clone()),
            Box::new(m.replications.clone()),
            Box::new(m.deletions.clone()),
            Box::new(m.repairs.clone()),
            Box::new(m.cs_commands.clone()),
        ];
        for c in collectors {
            must(m.registry.register(c));
        }
        // Series a dashboard or an alert takes a rate of exist from the start, at 0.
        for result in ["ok", "failed"] {
            m.block_repairs.with_label_values(&[result]);
        }
        for result in ["ok", "error"] {
            m.replications.with_label_values(&[result]);
            for reason in DELETE_REASONS {
                m.deletions.with_label_values(&[reason, result]);
            }
        }
        m
    }

    /// The connection cap of `port` (named `key` in the config file): refusals are counted in
    /// `connections_refused_total`, open connections shown in `connections`.
    pub fn conn_gate(&self, port: &'static str, key: &'static str, max: usize) -> Arc<ConnGate> {
        let refused = self.connections_refused.with_label_values(&[port]);
        let gate = ConnGate::new(port, key, max, move || refused.inc());
        self.gates.lock().unwrap_or_else(|e| e.into_inner()).push(gate.clone());
        gate
    }

    /// Record that the leader reached us (an accepted append-entries or snapshot chunk).
    pub fn note_leader_contact(&self) {
        *self.last_leader_contact.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
    }

    /// Time since the leader last reached this follower.
    pub fn since_leader_contact(&self) -> Option<Duration> {
        self.last_leader_contact.lock().unwrap_or_else(|e| e.into_inner()).map(|t| t.elapsed())
    }

    /// Count and log leader changes as Raft reports them (between scrapes too), for as long
    /// as Raft runs.
    pub fn spawn_leader_watch(self: &Arc<Self>, raft: Raft) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut rx = raft.metrics();
            let mut seen: Option<(u64, u64)> = None;
            loop {
                let now = {
                    let m = rx.borrow_and_update();
                    m.current_leader.map(|l| (m.current_term, l))
                };
                if let Some((term, leader)) = now {
                    if seen != now {
                        if seen.is_some() {
                            me.leader_changes.inc();
                        }
                        let me_id = raft.metrics().borrow().id;
                        if leader == me_id {
                            tracing::info!(term, "leader change: this master leads now");
                        } else {
                            tracing::info!(term, leader, "leader change: master {leader} leads");
                        }
                    }
                    seen = now;
                }
                if rx.changed().await.is_err() {
                    return;
                }
            }
        })
    }

    /// Refresh the gauges from Raft and the state, then render the text format; `snapshots`
    /// is the folder of this master's snapshot files.
    pub fn render(&self, raft: &Raft, state: &SharedState, snapshots: &Path) -> String {
        let m = raft.metrics().borrow().clone();
        for role in ["leader", "follower", "candidate", "learner", "shutdown"] {
            self.raft_role.with_label_values(&[role]).set(0);
        }
        self.raft_role.with_label_values(&[role_name(m.state)]).set(1);
        self.raft_term.set(m.current_term as i64);
        self.raft_leader_id.set(m.current_leader.unwrap_or(0) as i64);
        self.raft_last_log_index.set(m.last_log_index.map(|i| i as i64).unwrap_or(-1));
        let applied = m.last_applied.map(|l| l.index as i64).unwrap_or(-1);
        self.raft_applied_index.set(applied);
        // openraft 0.9 does not publish the commit index; it applies as soon as it commits,
        // so the applied index is the committed index this node knows.
        self.raft_committed_index.set(applied);
        self.raft_snapshot_index.set(m.snapshot.map(|l| l.index as i64).unwrap_or(-1));
        self.raft_purged_index.set(m.purged.map(|l| l.index as i64).unwrap_or(-1));
        {
            let st = state.read();
            self.inodes.set(st.ns.inode_count() as i64);
            self.sessions.set(st.sessions.len() as i64);
            self.chunks.set(st.ns.chunk_table().len() as i64);
        }
        for gate in self.gates.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            self.connections.with_label_values(&[gate.port()]).set(gate.open() as i64);
        }
        match newest_file_time(snapshots) {
            Some(t) => self.snapshot_time.set(t),
            None => self.snapshot_time.set(0),
        }
        let mut families = self.registry.gather();
        if m.state == openraft::ServerState::Leader {
            self.leader.follower_lag.reset();
            let last = m.last_log_index.unwrap_or(0);
            for (node, matched) in m.replication.iter().flatten() {
                if *node == m.id {
                    continue;
                }
                let behind = last.saturating_sub(matched.map_or(0, |l| l.index));
                self.leader.follower_lag.with_label_values(&[&node.to_string()]).set(behind as i64);
            }
            families.extend(self.leader.registry.gather());
            if self.leader.is_ready() {
                families.extend(self.leader.health.gather());
            }
            families.sort_by(|a, b| a.name().cmp(b.name()));
        }
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&families, &mut buf) {
            tracing::warn!(error = %e, "encoding metrics failed");
        }
        String::from_utf8_lossy(&buf).into_owned()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Modification time (Unix seconds) of the newest file in `dir`, if any.
fn newest_file_time(dir: &Path) -> Option<i64> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter_map(|e| e.metadata().ok()?.modified().ok())
        .max()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64)
}

/// Lower-case name of a Raft role.
pub fn role_name(s: openraft::ServerState) -> &'static str {
    match s {
        openraft::ServerState::Leader => "leader",
        openraft::ServerState::Follower => "follower",
        openraft::ServerState::Candidate => "candidate",
        openraft::ServerState::Learner => "learner",
        openraft::ServerState::Shutdown => "shutdown",
    }
}
