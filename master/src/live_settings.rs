//! The settings of `mfsmaster.cfg` that `reload` (SIGHUP, `mfsmaster reload`) applies to a
//! running master, as MooseFS's master applies them on reload: the chunk loop's pace, delays
//! and limits, how long an idle session is kept, and where new chunks go. The rest (data
//! folder, listen addresses, the Raft group and its timing) needs a restart; a reload that
//! changes them says so in the log and keeps the running values.

use std::sync::RwLock;
use std::time::Duration;

use crate::config::{ChunkLoopConfig, MasterConfig};

/// What a reload can change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reloadable {
    /// `CHUNKS_LOOP_MIN_TIME`, `REPLICATIONS_DELAY_INIT`, `REPLICATIONS_DELAY_DISCONNECT`,
    /// `CHUNKS_WRITE_REP_LIMIT`, `CHUNKS_READ_REP_LIMIT`, `CHUNKS_SOFT_DEL_LIMIT`,
    /// `CHUNKS_HARD_DEL_LIMIT`.
    pub chunk_loop: ChunkLoopConfig,
    /// `SESSION_SUSTAIN_TIME`.
    pub session_sustain: Duration,
    /// `CREATIONS_RESPECT_TOPOLOGY`.
    pub creations_respect_topology: u32,
}

impl Reloadable {
    pub fn of(cfg: &MasterConfig) -> Reloadable {
        Reloadable {
            chunk_loop: cfg.chunk_loop.clone(),
            session_sustain: cfg.session_sustain,
            creations_respect_topology: cfg.creations_respect_topology,
        }
    }

    /// The keys whose values differ between `self` and `new`.
    fn changed(&self, new: &Reloadable) -> Vec<&'static str> {
        let (a, b) = (&self.chunk_loop, &new.chunk_loop);
        [
            ("CHUNKS_LOOP_MIN_TIME", a.loop_interval != b.loop_interval),
            ("REPLICATIONS_DELAY_INIT", a.delay_init != b.delay_init),
            ("REPLICATIONS_DELAY_DISCONNECT", a.delay_disconnect != b.delay_disconnect),
            ("CHUNKS_WRITE_REP_LIMIT", a.write_rep_limit != b.write_rep_limit),
            ("CHUNKS_READ_REP_LIMIT", a.read_rep_limit != b.read_rep_limit),
            ("CHUNKS_SOFT_DEL_LIMIT", a.soft_del_limit != b.soft_del_limit),
            ("CHUNKS_HARD_DEL_LIMIT", a.hard_del_limit != b.hard_del_limit),
            ("SESSION_SUSTAIN_TIME", self.session_sustain != new.session_sustain),
            ("CREATIONS_RESPECT_TOPOLOGY", self.creations_respect_topology != new.creations_respect_topology),
        ]
        .into_iter()
        .filter(|(_, differs)| *differs)
        .map(|(k, _)| k)
        .collect()
    }
}

/// The keys that need a restart and differ between the running `old` and the reread `new`.
pub fn needs_restart(old: &MasterConfig, new: &MasterConfig) -> Vec<&'static str> {
    [
        ("DATA_PATH", old.data_path != new.data_path),
        ("EXPORTS_FILENAME", old.exports_filename != new.exports_filename),
        ("TOPOLOGY_FILENAME", old.topology_filename != new.topology_filename),
        ("RAFT_NODE_ID", old.node_id != new.node_id),
        ("RAFT_PEERS", old.peers != new.peers),
        ("MATOCS_LISTEN_HOST/PORT", old.cs_listen != new.cs_listen),
        ("MATOCL_LISTEN_HOST/PORT", old.client_listen != new.client_listen),
        ("HTTP_LISTEN_HOST/PORT", old.http_listen != new.http_listen),
        ("RAFT_HEARTBEAT_MS", old.heartbeat != new.heartbeat),
        (
            "RAFT_ELECTION_TIMEOUT_MIN_MS/MAX_MS",
            old.election_timeout_min != new.election_timeout_min
                || old.election_timeout_max != new.election_timeout_max,
        ),
        ("RAFT_SNAPSHOT_LOGS", old.snapshot_logs != new.snapshot_logs),
        ("RAFT_LOGS_KEEP", old.logs_keep != new.logs_keep),
        ("AUTH_CODE", old.auth_code != new.auth_code),
    ]
    .into_iter()
    .filter(|(_, differs)| *differs)
    .map(|(k, _)| k)
    .collect()
}

/// The reloadable settings in force.
pub struct LiveSettings(RwLock<Reloadable>);

impl LiveSettings {
    pub fn new(cfg: &MasterConfig) -> LiveSettings {
        LiveSettings(RwLock::new(Reloadable::of(cfg)))
    }

    pub fn get(&self) -> Reloadable {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn chunk_loop(&self) -> ChunkLoopConfig {
        self.0.read().unwrap_or_else(|e| e.into_inner()).chunk_loop.clone()
    }

    pub fn session_sustain(&self) -> Duration {
        self.0.read().unwrap_or_else(|e| e.into_inner()).session_sustain
    }

    pub fn creations_respect_topology(&self) -> u32 {
        self.0.read().unwrap_or_else(|e| e.into_inner()).creations_respect_topology
    }

    /// Take the reloadable settings of `new`; the keys that changed.
    pub fn apply(&self, new: &MasterConfig) -> Vec<&'static str> {
        let new = Reloadable::of(new);
        let mut cur = self.0.write().unwrap_or_else(|e| e.into_inner());
        let changed = cur.changed(&new);
        *cur = new;
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(extra: &str) -> MasterConfig {
        let text = format!("DATA_PATH = /tmp/x\nRAFT_NODE_ID = 1\nRAFT_PEERS = 1@127.0.0.1\n{extra}");
        MasterConfig::parse(&text).unwrap()
    }

    #[test]
    fn a_reload_applies_the_chunk_loop_and_session_keys_and_names_the_rest() {
        let old = cfg("");
        let live = LiveSettings::new(&old);
        let new = cfg("CHUNKS_WRITE_REP_LIMIT = 7,3\nSESSION_SUSTAIN_TIME = 60\nMATOCL_LISTEN_PORT = 19421\n");
        assert_eq!(live.apply(&new), vec!["CHUNKS_WRITE_REP_LIMIT", "SESSION_SUSTAIN_TIME"]);
        assert_eq!(live.chunk_loop().write_rep_limit, crate::config::RepLimit { endangered: 7, undergoal: 3 });
        assert_eq!(live.session_sustain(), Duration::from_secs(60));
        assert_eq!(needs_restart(&old, &new), vec!["MATOCL_LISTEN_HOST/PORT"]);
        assert!(live.apply(&new).is_empty(), "nothing changed the second time");
    }
}
