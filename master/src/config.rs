//! `mfsmaster.cfg`: the MooseFS configuration format (`KEY = VALUE`, `#` comments).
//!
//! MooseFS keys keep their names and meaning; our own keys are the Raft ones. Unknown keys
//! are warned about, not fatal, as in MooseFS, so a MooseFS configuration carries over.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::net_limits::NetLimits;

/// Default ports (MooseFS numbering; 9419 carries Raft between masters instead of metaloggers).
pub const DEFAULT_RAFT_PORT: u16 = 9419;
pub const DEFAULT_CS_PORT: u16 = 9420;
pub const DEFAULT_CLIENT_PORT: u16 = 9421;
pub const DEFAULT_HTTP_PORT: u16 = 9425;

/// Keys MooseFS defines that this master accepts; those it does not act on (yet) are
/// silently taken.
const KNOWN_MOOSEFS_KEYS: &[&str] = &[
    "WORKING_USER",
    "WORKING_GROUP",
    "SYSLOG_IDENT",
    "LOCK_MEMORY",
    "NICE_LEVEL",
    "FILE_UMASK",
    "LIMIT_GLIBC_MALLOC_ARENAS",
    "DISABLE_OOM_KILLER",
    "BACK_LOGS",
    "BACK_META_KEEP_PREVIOUS",
    "METADATA_SAVE_FREQ",
    "CHANGELOG_PRESERVE_SECONDS",
    "MISSING_LOG_CAPACITY",
    "REPLICATIONS_DELAY_INIT",
    "REPLICATIONS_DELAY_DISCONNECT",
    "CHUNKS_LOOP_MAX_CPS",
    "CHUNKS_LOOP_MIN_TIME",
    "CHUNKS_SOFT_DEL_LIMIT",
    "CHUNKS_HARD_DEL_LIMIT",
    "CHUNKS_WRITE_REP_LIMIT",
    "CHUNKS_READ_REP_LIMIT",
    "ACCEPTABLE_PERCENTAGE_DIFFERENCE",
    "ACCEPTABLE_DIFFERENCE",
    "CS_HEAVY_LOAD_THRESHOLD",
    "CS_HEAVY_LOAD_RATIO_THRESHOLD",
    "PRIORITY_QUEUES_LENGTH",
    "MATOML_LISTEN_HOST",
    "MATOML_LISTEN_PORT",
    "MATOCS_LISTEN_HOST",
    "MATOCS_LISTEN_PORT",
    "MATOCL_LISTEN_HOST",
    "MATOCL_LISTEN_PORT",
    "MATOCU_LISTEN_HOST",
    "MATOCU_LISTEN_PORT",
    "DATA_PATH",
    "EXPORTS_FILENAME",
    "TOPOLOGY_FILENAME",
    "CREATIONS_RESPECT_TOPOLOGY",
    "CUSTOM_GOALS_FILENAME",
    "SESSION_SUSTAIN_TIME",
    "ATIME_MODE",
    "NO_ATIME",
    "AUTH_CODE",
];

/// Our own keys (Raft and HTTP).
const RAFTMFS_KEYS: &[&str] = &[
    "RAFT_NODE_ID",
    "RAFT_PEERS",
    "RAFT_HEARTBEAT_MS",
    "RAFT_ELECTION_TIMEOUT_MIN_MS",
    "RAFT_ELECTION_TIMEOUT_MAX_MS",
    "RAFT_SNAPSHOT_LOGS",
    "RAFT_LOGS_KEEP",
    "COMMIT_TIMEOUT_MS",
    "HTTP_LISTEN_HOST",
    "HTTP_LISTEN_PORT",
    "LOG_LEVEL",
];

/// A config file problem: which line, and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("line {line}: {msg}")]
    Line { line: usize, msg: String },
    #[error("{key}: {msg}")]
    Value { key: String, msg: String },
}

/// One master of the Raft group, as `RAFT_PEERS` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    pub id: u64,
    pub host: String,
    pub raft_port: u16,
    pub client_port: u16,
    pub http_port: u16,
    /// Port chunkservers reach this master at (9420).
    pub cs_port: u16,
}

impl Peer {
    pub fn raft_addr(&self) -> String {
        format!("{}:{}", self.host, self.raft_port)
    }
    pub fn client_addr(&self) -> String {
        format!("{}:{}", self.host, self.client_port)
    }
    pub fn http_addr(&self) -> String {
        format!("{}:{}", self.host, self.http_port)
    }
    pub fn cs_addr(&self) -> String {
        format!("{}:{}", self.host, self.cs_port)
    }
}

/// How the leader's chunk loop paces itself (MooseFS `REPLICATIONS_*` and `CHUNKS_*` keys).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkLoopConfig {
    /// Time between two passes over every chunk (`CHUNKS_LOOP_MIN_TIME`, seconds; default 1:
    /// each pass scans the whole table, where MooseFS spreads one pass over 300 s).
    pub loop_interval: Duration,
    /// No replication or over-goal deletion until this long after becoming leader, so every
    /// chunkserver has time to register (`REPLICATIONS_DELAY_INIT`, seconds; default 60,
    /// MooseFS 300).
    pub delay_init: Duration,
    /// No replication until this long after a chunkserver disconnected (it may come back
    /// with its copies) (`REPLICATIONS_DELAY_DISCONNECT`, seconds; default 3600 as MooseFS).
    pub delay_disconnect: Duration,
    /// Replications into one chunkserver at once (`CHUNKS_WRITE_REP_LIMIT`, MooseFS 3.0's
    /// `2,1,1,4`: endangered chunks, under goal, then two rebalancing limits we do not use).
    pub write_rep_limit: RepLimit,
    /// Replications reading from one chunkserver at once (`CHUNKS_READ_REP_LIMIT`, `10,5,2,5`).
    pub read_rep_limit: RepLimit,
    /// Deletions sent to one chunkserver per pass (`CHUNKS_SOFT_DEL_LIMIT`, default 10).
    pub soft_del_limit: usize,
    /// Deletions sent to one chunkserver per pass when it is short of space
    /// (`CHUNKS_HARD_DEL_LIMIT`, default 25).
    pub hard_del_limit: usize,
}

/// A replication limit per class of chunk, as MooseFS 3.0 has them: a new replication of a
/// class starts only while the server's replications in flight (of every class) are below
/// the class's limit, so endangered chunks get more of a busy server than merely under-goal
/// ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RepLimit {
    /// Chunks with one copy left of a goal of two or more.
    pub endangered: usize,
    /// Other chunks under their goal.
    pub undergoal: usize,
}

impl RepLimit {
    /// MooseFS's forms: one number for every class, or a comma-separated list (endangered,
    /// under goal, rebalance limits: up to five numbers, the rebalancing ones read and unused).
    fn parse(s: &str) -> Result<RepLimit, String> {
        let nums: Vec<usize> = s
            .split(',')
            .map(|p| p.trim().parse::<f64>().map_err(|_| format!("{p:?} is not a number")))
            .map(|r| {
                r.and_then(
                    |v| if v >= 1.0 && v.is_finite() { Ok(v as usize) } else { Err("must be at least 1".into()) },
                )
            })
            .collect::<Result<_, String>>()?;
        match nums.as_slice() {
            [one] => Ok(RepLimit { endangered: *one, undergoal: *one }),
            [e, u, ..] if nums.len() <= 5 => Ok(RepLimit { endangered: *e, undergoal: *u }),
            _ => Err("one number, or up to five separated by commas".into()),
        }
    }
}

impl std::fmt::Display for RepLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{},{}", self.endangered, self.undergoal)
    }
}

impl Default for ChunkLoopConfig {
    fn default() -> Self {
        ChunkLoopConfig {
            loop_interval: Duration::from_secs(1),
            delay_init: Duration::from_secs(60),
            delay_disconnect: Duration::from_secs(3600),
            write_rep_limit: RepLimit { endangered: 2, undergoal: 1 },
            read_rep_limit: RepLimit { endangered: 10, undergoal: 5 },
            soft_del_limit: 10,
            hard_del_limit: 25,
        }
    }
}

/// The parsed `mfsmaster.cfg`.
#[derive(Clone, Debug)]
pub struct MasterConfig {
    pub data_path: PathBuf,
    pub exports_filename: PathBuf,
    /// `mfstopology.cfg` (`TOPOLOGY_FILENAME`): network locations of addresses.
    pub topology_filename: PathBuf,
    /// `CREATIONS_RESPECT_TOPOLOGY`: with N > 0, a new chunk goes to servers nearer than N to
    /// the writer first (0: anywhere).
    pub creations_respect_topology: u32,
    pub node_id: u64,
    pub peers: Vec<Peer>,
    /// Listen address for Raft peers (`MATOML_LISTEN_*`).
    pub raft_listen: String,
    /// Listen address for chunkservers (`MATOCS_LISTEN_*`).
    pub cs_listen: String,
    /// Listen address for clients (`MATOCL_LISTEN_*`, or the older `MATOCU_LISTEN_*`).
    pub client_listen: String,
    /// Listen address for HTTP: health, metrics, status.
    pub http_listen: String,
    pub heartbeat: Duration,
    pub election_timeout_min: Duration,
    pub election_timeout_max: Duration,
    /// Build a snapshot after this many log entries since the last one.
    pub snapshot_logs: u64,
    /// Log entries kept behind a snapshot (lets a slightly lagging peer catch up from the log).
    pub logs_keep: u64,
    /// How long the leader waits for a commit or a leadership check before answering
    /// "unavailable" (no quorum); the client retries.
    pub commit_timeout: Duration,
    /// Log entries of batched proposals on their way at once (`RAFT_PROPOSALS_IN_FLIGHT`,
    /// `proposer.rs`); proposals arriving meanwhile wait and go together in the next.
    pub proposals_in_flight: usize,
    /// Most commands proposed together in one log entry (`RAFT_BATCH_MAX_COMMANDS`; 1 turns
    /// batching off).
    pub batch_max_commands: usize,
    /// Seconds an idle client session is kept (`SESSION_SUSTAIN_TIME`).
    pub session_sustain: Duration,
    /// Pacing of the leader's chunk loop (replication and deletion).
    pub chunk_loop: ChunkLoopConfig,
    /// Connection caps, timeouts and requests in flight of every port.
    pub net: NetLimits,
    pub log_level: String,
    /// `AUTH_CODE`: the secret chunkservers (and the other masters) must prove they know
    /// before they are accepted. `None`: no proof asked (MooseFS's default).
    pub auth_code: Option<String>,
    /// Run as a non-voting learner (`mfsmetalogger`): never initializes a group; it is taken
    /// in by `mfscli add-learner`. Set by the program, not by the file.
    pub learner: bool,
}

fn parse_kv(text: &str) -> Result<BTreeMap<String, (usize, String)>, ConfigError> {
    let mut map = BTreeMap::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(ConfigError::Line { line: i + 1, msg: format!("expected KEY = VALUE, got {raw:?}") });
        };
        let key = k.trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(ConfigError::Line { line: i + 1, msg: format!("bad key {key:?}") });
        }
        map.insert(key.to_string(), (i + 1, v.trim().to_string()));
    }
    Ok(map)
}

fn num<T: std::str::FromStr>(map: &BTreeMap<String, (usize, String)>, key: &str, default: T) -> Result<T, ConfigError> {
    match map.get(key) {
        None => Ok(default),
        Some((line, v)) => {
            v.parse().map_err(|_| ConfigError::Line { line: *line, msg: format!("{key}: {v:?} is not a valid number") })
        }
    }
}

fn listen(
    map: &BTreeMap<String, (usize, String)>,
    prefixes: &[&str],
    default_port: u16,
) -> Result<String, ConfigError> {
    let mut host = "*".to_string();
    let mut port = default_port;
    for p in prefixes.iter().rev() {
        if let Some((_, h)) = map.get(&format!("{p}_LISTEN_HOST")) {
            host = h.clone();
        }
        port = num(map, &format!("{p}_LISTEN_PORT"), port)?;
    }
    let host = if host == "*" { "0.0.0.0".to_string() } else { host };
    Ok(format!("{host}:{port}"))
}

/// Parse `RAFT_PEERS`: comma-separated `ID@HOST[:RAFTPORT[:CLIENTPORT[:HTTPPORT[:CSPORT]]]]`.
pub fn parse_peers(s: &str) -> Result<Vec<Peer>, String> {
    let mut peers: Vec<Peer> = Vec::new();
    for item in s.split(',').map(str::trim).filter(|x| !x.is_empty()) {
        let (id, rest) = item.split_once('@').ok_or_else(|| format!("{item:?}: expected ID@HOST[:PORTS]"))?;
        let id: u64 = id.trim().parse().map_err(|_| format!("{item:?}: bad node id"))?;
        if id == 0 {
            return Err(format!("{item:?}: node ids start at 1"));
        }
        let mut parts = rest.split(':');
        let host = parts.next().unwrap_or("").trim().to_string();
        if host.is_empty() {
            return Err(format!("{item:?}: empty host"));
        }
        let mut ports = [DEFAULT_RAFT_PORT, DEFAULT_CLIENT_PORT, DEFAULT_HTTP_PORT, DEFAULT_CS_PORT];
        for (i, p) in parts.enumerate() {
            if i >= ports.len() {
                return Err(format!("{item:?}: at most four ports (raft:client:http:cs)"));
            }
            ports[i] = p.trim().parse().map_err(|_| format!("{item:?}: bad port {p:?}"))?;
        }
        if peers.iter().any(|p| p.id == id) {
            return Err(format!("node id {id} listed twice"));
        }
        peers.push(Peer {
            id,
            host,
            raft_port: ports[0],
            client_port: ports[1],
            http_port: ports[2],
            cs_port: ports[3],
        });
    }
    if peers.is_empty() {
        return Err("no peers listed".into());
    }
    Ok(peers)
}

fn rep_limit(map: &BTreeMap<String, (usize, String)>, key: &str, default: RepLimit) -> Result<RepLimit, ConfigError> {
    match map.get(key) {
        None => Ok(default),
        Some((_, v)) => RepLimit::parse(v).map_err(|msg| ConfigError::Value { key: key.into(), msg }),
    }
}

fn chunk_loop_config(map: &BTreeMap<String, (usize, String)>) -> Result<ChunkLoopConfig, ConfigError> {
    let d = ChunkLoopConfig::default();
    let secs = |key: &str, default: Duration| -> Result<Duration, ConfigError> {
        Ok(Duration::from_secs(num(map, key, default.as_secs())?))
    };
    let c = ChunkLoopConfig {
        loop_interval: secs("CHUNKS_LOOP_MIN_TIME", d.loop_interval)?,
        delay_init: secs("REPLICATIONS_DELAY_INIT", d.delay_init)?,
        delay_disconnect: secs("REPLICATIONS_DELAY_DISCONNECT", d.delay_disconnect)?,
        write_rep_limit: rep_limit(map, "CHUNKS_WRITE_REP_LIMIT", d.write_rep_limit)?,
        read_rep_limit: rep_limit(map, "CHUNKS_READ_REP_LIMIT", d.read_rep_limit)?,
        soft_del_limit: num(map, "CHUNKS_SOFT_DEL_LIMIT", d.soft_del_limit)?,
        hard_del_limit: num(map, "CHUNKS_HARD_DEL_LIMIT", d.hard_del_limit)?,
    };
    if c.loop_interval.is_zero() {
        return Err(ConfigError::Value { key: "CHUNKS_LOOP_MIN_TIME".into(), msg: "must be at least 1".into() });
    }
    if c.soft_del_limit == 0 {
        return Err(ConfigError::Value { key: "CHUNKS_SOFT_DEL_LIMIT".into(), msg: "must be at least 1".into() });
    }
    if c.hard_del_limit < c.soft_del_limit {
        return Err(ConfigError::Value {
            key: "CHUNKS_HARD_DEL_LIMIT".into(),
            msg: "must be at least CHUNKS_SOFT_DEL_LIMIT".into(),
        });
    }
    Ok(c)
}

impl MasterConfig {
    /// How long a leader may go without hearing from a majority before it stops acting as
    /// one (`raft_api::quorum_lost`): twice the longest election timeout, after which its
    /// followers have had time to elect another.
    pub fn quorum_loss_after(&self) -> Duration {
        2 * self.election_timeout_max
    }

    /// Read and parse a config file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        Self::parse(&text)
    }

    /// Parse config text. Unknown keys are logged with a warning and otherwise ignored.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let map = parse_kv(text)?;
        for (key, (line, _)) in &map {
            if !KNOWN_MOOSEFS_KEYS.contains(&key.as_str()) && !RAFTMFS_KEYS.contains(&key.as_str()) {
                tracing::warn!(key = %key, line, "unknown option in mfsmaster.cfg, ignored");
            }
        }
        let get = |k: &str| map.get(k).map(|(_, v)| v.clone());
        let net = NetLimits::parse(&map)?;
        let data_path = PathBuf::from(get("DATA_PATH").unwrap_or_else(|| "/var/lib/mfs".into()));
        let exports_filename =
            get("EXPORTS_FILENAME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/etc/mfs/mfsexports.cfg"));
        let topology_filename =
            get("TOPOLOGY_FILENAME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/etc/mfs/mfstopology.cfg"));
        let node_id: u64 = num(&map, "RAFT_NODE_ID", 1)?;
        let peers = match get("RAFT_PEERS") {
            Some(s) => parse_peers(&s).map_err(|msg| ConfigError::Value { key: "RAFT_PEERS".into(), msg })?,
            None => vec![Peer {
                id: node_id,
                host: "127.0.0.1".into(),
                raft_port: DEFAULT_RAFT_PORT,
                client_port: DEFAULT_CLIENT_PORT,
                http_port: DEFAULT_HTTP_PORT,
                cs_port: DEFAULT_CS_PORT,
            }],
        };
        let Some(me) = peers.iter().find(|p| p.id == node_id) else {
            return Err(ConfigError::Value {
                key: "RAFT_NODE_ID".into(),
                msg: format!("node id {node_id} is not listed in RAFT_PEERS"),
            });
        };
        // Listen on this node's own peer entry unless the MooseFS keys say otherwise.
        let raft_listen = if map.contains_key("MATOML_LISTEN_HOST") || map.contains_key("MATOML_LISTEN_PORT") {
            listen(&map, &["MATOML"], me.raft_port)?
        } else {
            me.raft_addr()
        };
        let client_listen = if ["MATOCL_LISTEN_HOST", "MATOCL_LISTEN_PORT", "MATOCU_LISTEN_HOST", "MATOCU_LISTEN_PORT"]
            .iter()
            .any(|k| map.contains_key(*k))
        {
            listen(&map, &["MATOCL", "MATOCU"], me.client_port)?
        } else {
            me.client_addr()
        };
        let http_listen = if map.contains_key("HTTP_LISTEN_HOST") || map.contains_key("HTTP_LISTEN_PORT") {
            listen(&map, &["HTTP"], me.http_port)?
        } else {
            me.http_addr()
        };
        let cs_listen = if map.contains_key("MATOCS_LISTEN_HOST") || map.contains_key("MATOCS_LISTEN_PORT") {
            listen(&map, &["MATOCS"], me.cs_port)?
        } else {
            me.cs_addr()
        };
        // openraft 0.9 lets a follower that heard from a leader start an election only after
        // the leader's lease (= the maximum timeout) plus its own timeout: with 250-400 ms,
        // 650-800 ms after the last heartbeat. That is most of the pause clients see on a
        // leader's death. openraft also gives every append the heartbeat interval as its
        // deadline, and a follower answers after its fsync: 100 ms leaves room for a disk busy
        // with other writes, and a margin of 6 lost heartbeats.
        let heartbeat = Duration::from_millis(num(&map, "RAFT_HEARTBEAT_MS", 100)?);
        let election_timeout_min = Duration::from_millis(num(&map, "RAFT_ELECTION_TIMEOUT_MIN_MS", 250)?);
        let election_timeout_max = Duration::from_millis(num(&map, "RAFT_ELECTION_TIMEOUT_MAX_MS", 400)?);
        if heartbeat.is_zero() || election_timeout_min <= heartbeat || election_timeout_max <= election_timeout_min {
            return Err(ConfigError::Value {
                key: "RAFT_ELECTION_TIMEOUT_*".into(),
                msg: "need 0 < RAFT_HEARTBEAT_MS < RAFT_ELECTION_TIMEOUT_MIN_MS < RAFT_ELECTION_TIMEOUT_MAX_MS".into(),
            });
        }
        let snapshot_logs: u64 = num(&map, "RAFT_SNAPSHOT_LOGS", 20_000)?;
        let logs_keep: u64 = num(&map, "RAFT_LOGS_KEEP", 1_000)?;
        if snapshot_logs == 0 {
            return Err(ConfigError::Value { key: "RAFT_SNAPSHOT_LOGS".into(), msg: "must be at least 1".into() });
        }
        let proposals_in_flight: usize = num(&map, "RAFT_PROPOSALS_IN_FLIGHT", 1)?;
        if !(1..=64).contains(&proposals_in_flight) {
            return Err(ConfigError::Value { key: "RAFT_PROPOSALS_IN_FLIGHT".into(), msg: "must be 1 to 64".into() });
        }
        let batch_max_commands: usize = num(&map, "RAFT_BATCH_MAX_COMMANDS", 128)?;
        if !(1..=1024).contains(&batch_max_commands) {
            return Err(ConfigError::Value { key: "RAFT_BATCH_MAX_COMMANDS".into(), msg: "must be 1 to 1024".into() });
        }
        let auth_code = get("AUTH_CODE").filter(|c| !c.is_empty());
        Ok(MasterConfig {
            auth_code,
            learner: false,
            data_path,
            exports_filename,
            topology_filename,
            creations_respect_topology: num(&map, "CREATIONS_RESPECT_TOPOLOGY", 0)?,
            node_id,
            peers,
            raft_listen,
            cs_listen,
            client_listen,
            http_listen,
            heartbeat,
            election_timeout_min,
            election_timeout_max,
            snapshot_logs,
            logs_keep,
            commit_timeout: Duration::from_millis(num(&map, "COMMIT_TIMEOUT_MS", 5_000)?),
            proposals_in_flight,
            batch_max_commands,
            session_sustain: Duration::from_secs(num(&map, "SESSION_SUSTAIN_TIME", 86_400)?),
            chunk_loop: chunk_loop_config(&map)?,
            net,
            log_level: get("LOG_LEVEL").unwrap_or_else(|| "info".into()),
        })
    }

    /// This node's own entry in `RAFT_PEERS`.
    pub fn me(&self) -> Option<&Peer> {
        self.peers.iter().find(|p| p.id == self.node_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_moosefs_style_file_with_raft_keys() {
        let cfg = MasterConfig::parse(
            "# a comment\nDATA_PATH = /tmp/m1 # trailing\nWORKING_USER = mfs\n\
             RAFT_NODE_ID = 2\nRAFT_PEERS = 1@127.0.0.11, 2@127.0.0.12:19419:19421:19425, 3@127.0.0.13\n\
             MATOCU_LISTEN_PORT = 9500\nSOMETHING_NEW = 1\n",
        )
        .unwrap();
        assert_eq!(cfg.data_path, PathBuf::from("/tmp/m1"));
        assert_eq!(cfg.node_id, 2);
        assert_eq!(cfg.peers.len(), 3);
        assert_eq!(cfg.raft_listen, "127.0.0.12:19419");
        assert_eq!(cfg.http_listen, "127.0.0.12:19425");
        // The older MATOCU name is honoured; host defaults to all addresses as in MooseFS.
        assert_eq!(cfg.client_listen, "0.0.0.0:9500");
        assert_eq!(cfg.peers[0].client_addr(), "127.0.0.11:9421");
        // The chunkserver port follows this node's entry, default 9420.
        assert_eq!(cfg.cs_listen, "127.0.0.12:9420");
        assert_eq!(cfg.peers[0].cs_addr(), "127.0.0.11:9420");
        assert_eq!(cfg.chunk_loop, ChunkLoopConfig::default());
    }

    #[test]
    fn a_fourth_peer_port_is_the_chunkserver_port() {
        let peers = parse_peers("1@h:1:2:3:4, 2@g").unwrap();
        assert_eq!(peers[0].cs_addr(), "h:4");
        assert_eq!((peers[0].raft_port, peers[0].client_port, peers[0].http_port), (1, 2, 3));
        assert_eq!(peers[1].cs_addr(), "g:9420");
        assert!(parse_peers("1@h:1:2:3:4:5").is_err(), "five ports");
        let cfg = MasterConfig::parse("RAFT_PEERS = 1@127.0.0.3:1:2:3:4\n").unwrap();
        assert_eq!(cfg.cs_listen, "127.0.0.3:4");
        let cfg = MasterConfig::parse("RAFT_PEERS = 1@127.0.0.3:1:2:3:4\nMATOCS_LISTEN_PORT = 9999\n").unwrap();
        assert_eq!(cfg.cs_listen, "0.0.0.0:9999");
    }

    #[test]
    fn chunk_loop_keys_are_read_and_checked() {
        let cfg = MasterConfig::parse(
            "REPLICATIONS_DELAY_INIT = 0\nREPLICATIONS_DELAY_DISCONNECT = 2\nCHUNKS_WRITE_REP_LIMIT = 3\n\
             CHUNKS_READ_REP_LIMIT = 4\nCHUNKS_SOFT_DEL_LIMIT = 5\nCHUNKS_HARD_DEL_LIMIT = 6\nCHUNKS_LOOP_MIN_TIME = 7\n",
        )
        .unwrap();
        let c = cfg.chunk_loop;
        assert_eq!(c.delay_init, Duration::ZERO);
        assert_eq!(c.delay_disconnect, Duration::from_secs(2));
        let one = |n| RepLimit { endangered: n, undergoal: n };
        assert_eq!((c.write_rep_limit, c.read_rep_limit, c.soft_del_limit, c.hard_del_limit), (one(3), one(4), 5, 6));
        assert_eq!(c.loop_interval, Duration::from_secs(7));
        // MooseFS 3.0's lists (and 4.x's five numbers): endangered, under goal, rebalancing.
        let cfg = MasterConfig::parse(
            "CHUNKS_WRITE_REP_LIMIT = 2,1,1,4
CHUNKS_READ_REP_LIMIT = 10,5,2,5,5
",
        )
        .unwrap();
        assert_eq!(cfg.chunk_loop.write_rep_limit, RepLimit { endangered: 2, undergoal: 1 });
        assert_eq!(cfg.chunk_loop.read_rep_limit, RepLimit { endangered: 10, undergoal: 5 });
        assert_eq!(ChunkLoopConfig::default().write_rep_limit, cfg.chunk_loop.write_rep_limit, "MooseFS's default");
        for bad in ["1,2,3,4,5,6", "2,,1", "2,x", "0,1"] {
            let e = MasterConfig::parse(&format!(
                "CHUNKS_WRITE_REP_LIMIT = {bad}
"
            ))
            .unwrap_err()
            .to_string();
            assert!(e.contains("CHUNKS_WRITE_REP_LIMIT"), "{bad}: {e}");
        }
        let e = MasterConfig::parse("CHUNKS_SOFT_DEL_LIMIT = 30\n").unwrap_err().to_string();
        assert!(e.contains("CHUNKS_HARD_DEL_LIMIT"), "{e}");
        let e = MasterConfig::parse("CHUNKS_WRITE_REP_LIMIT = 0\n").unwrap_err().to_string();
        assert!(e.contains("at least 1"), "{e}");
        let e = MasterConfig::parse("REPLICATIONS_DELAY_INIT = soon\n").unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
    }

    #[test]
    fn matocl_overrides_matocu() {
        let cfg =
            MasterConfig::parse("MATOCU_LISTEN_PORT = 1\nMATOCL_LISTEN_PORT = 2\nMATOCL_LISTEN_HOST = 127.0.0.5\n")
                .unwrap();
        assert_eq!(cfg.client_listen, "127.0.0.5:2");
    }

    #[test]
    fn bad_lines_are_clear_errors() {
        let e = MasterConfig::parse("DATA_PATH /x\n").unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
        let e = MasterConfig::parse("RAFT_HEARTBEAT_MS = fast\n").unwrap_err().to_string();
        assert!(e.contains("not a valid number"), "{e}");
        let e = MasterConfig::parse("RAFT_NODE_ID = 4\nRAFT_PEERS = 1@a,2@b\n").unwrap_err().to_string();
        assert!(e.contains("not listed"), "{e}");
        assert!(parse_peers("1@a,1@b").is_err());
        assert!(parse_peers("x@a").is_err());
        assert!(parse_peers("1@a:notaport").is_err());
        assert!(parse_peers("0@a").is_err());
    }
}
