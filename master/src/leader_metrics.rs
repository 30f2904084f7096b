//! The metrics only the leader knows: the chunkservers registered with it, what its chunk loop
//! judged of every chunk, and how far each follower's log is behind. They live in registries
//! of their own that `/metrics` includes only while this master leads (`registry`), the chunk
//! figures only once its chunk loop has judged every chunk in this leadership (`health`): a
//! follower (or a leader that has not looked yet) shows none of them rather than
//! healthy-looking zeros, so a dashboard or an alert over the masters counts the leader's view
//! alone.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use prometheus::{IntGauge, IntGaugeVec, Opts, Registry};

fn must<T>(r: Result<T, prometheus::Error>) -> T {
    match r {
        Ok(v) => v,
        // Only reachable through a programming error in the fixed metric definitions below.
        Err(e) => panic!("metric definition: {e}"),
    }
}

/// Every leader-only metric.
pub struct LeaderMetrics {
    /// Exported while leading: chunkservers and follower lag.
    pub registry: Registry,
    /// Exported while leading once the chunk loop judged every chunk: the chunk figures.
    pub health: Registry,
    /// True once the chunk loop judged every chunk in this leadership.
    ready: AtomicBool,
    /// Chunkservers registered with this master.
    pub chunkservers: IntGauge,
    /// Chunks with fewer valid copies (not on removal disks) than their goal.
    pub chunks_under_goal: IntGauge,
    /// Chunks with more valid copies than their goal.
    pub chunks_over_goal: IntGauge,
    /// Chunks without any valid copy that serves data on a registered chunkserver.
    pub chunks_missing: IntGauge,
    /// Chunks of goal 2 or more with a single valid copy left that serves data.
    pub chunks_endangered: IntGauge,
    /// Chunks with a valid copy that has bad blocks or is out of service.
    pub chunks_damaged: IntGauge,
    /// Blocks bad on every valid copy of their chunk: unreadable until repaired.
    pub blocks_lost: IntGauge,
    /// Per chunkserver (`server` = its data address): 1 while registered, 0 for one that
    /// disconnected within `REPLICATIONS_DELAY_DISCONNECT`.
    pub server_connected: IntGaugeVec,
    pub server_total: IntGaugeVec,
    pub server_avail: IntGaugeVec,
    /// Chunk copies the chunkserver reported holding.
    pub server_copies: IntGaugeVec,
    /// Its valid copies with bad blocks or out of service, as of the last chunk loop pass.
    pub server_damaged: IntGaugeVec,
    /// Data requests in progress on it.
    pub server_load: IntGaugeVec,
    /// Log entries each follower (`node` = its id) lacks: the leader's last log index minus
    /// the index replicated to it (the whole log when nothing is known replicated).
    pub follower_lag: IntGaugeVec,
    /// Under-goal chunks waiting for a replication to start (`replicate::refill`).
    pub replication_queue: IntGauge,
    /// Replications running.
    pub replications_in_flight: IntGauge,
    /// Chunks by goal and whole valid copies, as of the last pass (the status page).
    matrix: Mutex<ChunkMatrix>,
}

/// Copies counted up to this; more count here.
pub const MATRIX_COPIES: usize = 10;

/// Chunks by goal (rows 1-9, row 0 unused) and whole valid copies (columns 0 to
/// [`MATRIX_COPIES`], the last one "that many or more"): MooseFS's chunk matrix.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChunkMatrix(pub [[u64; MATRIX_COPIES + 1]; 10]);

impl ChunkMatrix {
    /// Count one chunk.
    pub fn add(&mut self, goal: u8, copies: usize) {
        let row = usize::from(goal.min(9));
        self.0[row][copies.min(MATRIX_COPIES)] += 1;
    }

    /// Rows 1 to 9 as vectors (for JSON).
    pub fn rows(&self) -> Vec<Vec<u64>> {
        self.0[1..].iter().map(|r| r.to_vec()).collect()
    }
}

impl LeaderMetrics {
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("mfsmaster".into()), None).unwrap_or_default();
        let health = Registry::new_custom(Some("mfsmaster".into()), None).unwrap_or_default();
        let g = |n: &str, h: &str| must(IntGauge::new(n, h));
        let gv = |n: &str, h: &str, l: &[&str]| must(IntGaugeVec::new(Opts::new(n, h), l));
        let m = LeaderMetrics {
            ready: AtomicBool::new(false),
            chunkservers: g("chunkservers_connected", "Chunkservers registered with this master (leader only)"),
            chunks_under_goal: g("chunks_under_goal", "Chunks with fewer valid copies than their goal"),
            chunks_over_goal: g("chunks_over_goal", "Chunks with more valid copies than their goal"),
            chunks_missing: g("chunks_missing", "Chunks without any valid copy"),
            chunks_endangered: g(
                "chunks_endangered",
                "Chunks of goal 2 or more with one valid copy left (the next loss loses data)",
            ),
            chunks_damaged: g("chunks_damaged", "Chunks with a damaged copy (bad blocks, or out of service)"),
            blocks_lost: g("blocks_unrecoverable", "Blocks bad on every copy of their chunk"),
            server_connected: gv(
                "chunkserver_connected",
                "1 while the chunkserver is registered, 0 for one lost within REPLICATIONS_DELAY_DISCONNECT",
                &["server"],
            ),
            server_total: gv(
                "chunkserver_total_bytes",
                "Bytes a chunkserver offers (disks not for removal)",
                &["server"],
            ),
            server_avail: gv("chunkserver_avail_bytes", "Bytes free for new chunks on a chunkserver", &["server"]),
            server_copies: gv("chunkserver_copies", "Chunk copies a chunkserver holds", &["server"]),
            server_damaged: gv(
                "chunkserver_damaged_copies",
                "A chunkserver's valid copies with bad blocks or out of service",
                &["server"],
            ),
            server_load: gv("chunkserver_load", "Data requests in progress on a chunkserver", &["server"]),
            follower_lag: gv("raft_follower_lag_entries", "Log entries a follower lacks (leader only)", &["node"]),
            replication_queue: g("replication_queue_chunks", "Under-goal chunks waiting for a replication to start"),
            replications_in_flight: g("replications_in_flight", "Replications running (leader only)"),
            matrix: Mutex::new(ChunkMatrix::default()),
            registry,
            health,
        };
        let health: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(m.chunks_under_goal.clone()),
            Box::new(m.chunks_over_goal.clone()),
            Box::new(m.chunks_missing.clone()),
            Box::new(m.chunks_endangered.clone()),
            Box::new(m.chunks_damaged.clone()),
            Box::new(m.blocks_lost.clone()),
            Box::new(m.server_damaged.clone()),
        ];
        for c in health {
            must(m.health.register(c));
        }
        let collectors: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(m.chunkservers.clone()),
            Box::new(m.server_connected.clone()),
            Box::new(m.server_total.clone()),
            Box::new(m.server_avail.clone()),
            Box::new(m.server_copies.clone()),
            Box::new(m.server_load.clone()),
            Box::new(m.follower_lag.clone()),
            Box::new(m.replication_queue.clone()),
            Box::new(m.replications_in_flight.clone()),
        ];
        for c in collectors {
            must(m.registry.register(c));
        }
        m
    }

    /// The chunk loop judged every chunk: the chunk gauges mean something now.
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    /// Keep the pass's chunk matrix.
    pub fn set_matrix(&self, m: ChunkMatrix) {
        *self.matrix.lock().unwrap_or_else(|e| e.into_inner()) = m;
    }

    /// The last pass's chunk matrix, once this leadership judged every chunk.
    pub fn matrix(&self) -> Option<ChunkMatrix> {
        self.is_ready().then(|| *self.matrix.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// True while the gauges hold this leadership's view.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Leadership ended (or changed): nothing here holds until the next pass.
    pub fn clear(&self) {
        self.ready.store(false, Ordering::Release);
        self.set_matrix(ChunkMatrix::default());
        for g in [
            &self.chunkservers,
            &self.chunks_under_goal,
            &self.chunks_over_goal,
            &self.chunks_missing,
            &self.chunks_endangered,
            &self.chunks_damaged,
            &self.blocks_lost,
            &self.replication_queue,
            &self.replications_in_flight,
        ] {
            g.set(0);
        }
        for v in [
            &self.server_connected,
            &self.server_total,
            &self.server_avail,
            &self.server_copies,
            &self.server_damaged,
            &self.server_load,
            &self.follower_lag,
        ] {
            v.reset();
        }
    }
}

impl Default for LeaderMetrics {
    fn default() -> Self {
        Self::new()
    }
}
