//! `mfschunkserver.cfg`: the MooseFS configuration format (`KEY = VALUE`, `#` comments).
//!
//! MooseFS keys keep their names and meaning; unknown keys are warned about, not fatal, so a
//! MooseFS configuration carries over. Our own keys are `HTTP_LISTEN_*`, `LOG_LEVEL` and
//! `HEARTBEAT_MS`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Default port of the masters' chunkserver service (MooseFS numbering).
pub const DEFAULT_MASTER_PORT: u16 = 9420;
/// Default data port (clients and other chunkservers).
pub const DEFAULT_DATA_PORT: u16 = 9422;
/// Default HTTP port (metrics, health, status).
pub const DEFAULT_HTTP_PORT: u16 = 9427;
/// MooseFS's default space left free on every disk: room for existing chunks to grow.
pub const DEFAULT_LEAVE_SPACE: u64 = 256 << 20;

/// Upper bound of the timing keys (in seconds): larger values are typos, and would overflow
/// deadline arithmetic.
pub const MAX_SECONDS: u64 = 7 * 24 * 3600;

/// Keys MooseFS defines that are accepted; the ones not listed in [`ChunkserverConfig`] are
/// taken without effect.
const KNOWN_KEYS: &[&str] = &[
    "DATA_PATH",
    "MASTER_HOST",
    "MASTER_PORT",
    "MASTER_RECONNECTION_DELAY",
    "MASTER_TIMEOUT",
    "BIND_HOST",
    "CSSERV_LISTEN_HOST",
    "CSSERV_LISTEN_PORT",
    "HDD_CONF_FILENAME",
    "HDD_LEAVE_SPACE_DEFAULT",
    "HDD_TEST_FREQ",
    "WORKING_USER",
    "WORKING_GROUP",
    "NICE_LEVEL",
    "LOCK_MEMORY",
    "SYSLOG_IDENT",
    "FILE_UMASK",
    "LIMIT_GLIBC_MALLOC_ARENAS",
    "DISABLE_OOM_KILLER",
    "AUTH_CODE",
    "LABELS",
    "WORKERS_MAX",
    "WORKERS_MAX_IDLE",
    "HDD_FSYNC_BEFORE_CLOSE",
    "HDD_SPARSIFY_ON_WRITE",
    "HDD_CHECK_CRC_WHEN_READING",
    "HDD_CHECK_CRC_WHEN_WRITING",
    "HDD_ADVISE_NO_CACHE",
    "HDD_PUNCH_HOLES",
    "HDD_ERROR_TOLERANCE_COUNT",
    "HDD_ERROR_TOLERANCE_PERIOD",
    "HDD_HIGH_SPEED_REBALANCE_LIMIT",
    "HDD_REBALANCE_UTILIZATION",
    "HDD_MIN_TEST_INTERVAL",
    "HDD_KEEP_DUPLICATES_HOURS",
    "HDD_RR_CHUNK_COUNT",
    "HDD_FADVISE_MIN_TIME",
    "HDD_TEST_SPEED",
    "CHUNKS_PER_REGISTER_PACKET",
    // Our own keys.
    "HTTP_LISTEN_HOST",
    "HTTP_LISTEN_PORT",
    "LOG_LEVEL",
    "HEARTBEAT_MS",
    "CSSERV_MAX_CONNECTIONS",
    "CSSERV_MAX_REQUESTS_IN_FLIGHT",
    "HTTP_MAX_CONNECTIONS",
    "NET_IDLE_TIMEOUT",
    "NET_FRAME_TIMEOUT",
];

/// A config file problem: which file and line, and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{file} line {line}: {msg}")]
    Line { file: String, line: usize, msg: String },
}

/// The parsed `mfschunkserver.cfg`.
#[derive(Clone, Debug)]
pub struct ChunkserverConfig {
    /// Lock file, background log (`DATA_PATH`).
    pub data_path: PathBuf,
    /// Masters' chunkserver addresses (`MASTER_HOST` with `MASTER_PORT`), tried in turn.
    pub masters: Vec<String>,
    /// Longest pause between connection attempts (`MASTER_RECONNECTION_DELAY`).
    pub master_reconnection_delay: Duration,
    /// A master connection silent this long is dropped and made again (`MASTER_TIMEOUT`).
    pub master_timeout: Duration,
    /// Local address for master connections and the advertised host (`BIND_HOST`), if any.
    pub bind_host: Option<String>,
    /// Data port listen host (`CSSERV_LISTEN_HOST`); `None` means every address (`*`).
    pub data_listen_host: Option<String>,
    /// Data port (`CSSERV_LISTEN_PORT`); 0 picks a free port (tests).
    pub data_listen_port: u16,
    /// HTTP listen host (`HTTP_LISTEN_HOST`, default the data listen host).
    pub http_listen_host: Option<String>,
    /// HTTP port (`HTTP_LISTEN_PORT`).
    pub http_listen_port: u16,
    /// The disk list (`HDD_CONF_FILENAME`).
    pub hdd_conf: PathBuf,
    /// Bytes kept free on every disk that has no limit of its own (`HDD_LEAVE_SPACE_DEFAULT`).
    pub leave_space_default: u64,
    /// Pause between background CRC checks of one chunk (`HDD_TEST_FREQ`); `None` disables.
    pub hdd_test_freq: Option<Duration>,
    /// Heartbeat interval to the leader (`HEARTBEAT_MS`).
    pub heartbeat: Duration,
    /// Log level of our crate (`LOG_LEVEL`), applied again on reload.
    pub log_level: String,
    /// `AUTH_CODE`: the secret to prove to the masters, and that they must prove back.
    pub auth_code: Option<String>,
    /// Connection caps, timeouts and requests in flight of the data and HTTP ports.
    pub net: NetLimits,
}

/// Resource limits of a chunkserver's ports (our own keys: MooseFS has none). See
/// ARCHITECTURE.md, "Resource limits".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetLimits {
    /// Open connections on the data port 9422 (`CSSERV_MAX_CONNECTIONS`, default 4096): one
    /// per client, four per other chunkserver.
    pub data_max_connections: usize,
    /// Requests in flight on one data connection (`CSSERV_MAX_REQUESTS_IN_FLIGHT`, default 64:
    /// at most 64 · 4 MiB of data held for one connection); at the cap the connection is not
    /// read until an answer is written.
    pub data_max_in_flight: usize,
    /// Open connections on the HTTP port 9427 (`HTTP_MAX_CONNECTIONS`, default 64).
    pub http_max_connections: usize,
    /// Data connections with nothing in flight and nothing received this long are closed
    /// (`NET_IDLE_TIMEOUT`, seconds, default 300; 0 = never; else at least 120).
    pub idle_timeout: Option<Duration>,
    /// A frame must complete this long after its first byte (`NET_FRAME_TIMEOUT`, seconds,
    /// default 60).
    pub frame_timeout: Duration,
}

impl Default for NetLimits {
    fn default() -> Self {
        NetLimits {
            data_max_connections: 4096,
            data_max_in_flight: 64,
            http_max_connections: 64,
            idle_timeout: Some(proto::rpc::DEFAULT_IDLE_TIMEOUT),
            frame_timeout: proto::frame::DEFAULT_FRAME_TIMEOUT,
        }
    }
}

impl NetLimits {
    /// How the data port serves one connection: requests of at most
    /// [`proto::data::MAX_REQUEST_FRAME`] bytes.
    pub fn data_serve_limits(&self) -> proto::rpc::ServeLimits {
        proto::rpc::ServeLimits {
            frame: proto::frame::FrameLimits {
                max_frame: proto::data::MAX_REQUEST_FRAME,
                frame_timeout: self.frame_timeout,
            },
            max_in_flight: self.data_max_in_flight,
            idle_timeout: self.idle_timeout,
        }
    }

    fn parse(map: &Kv) -> Result<NetLimits, ConfigError> {
        let d = NetLimits::default();
        let at_least_one = |key: &str, default: usize| -> Result<usize, ConfigError> {
            let v: usize = map.num(key, default)?;
            if v == 0 {
                return Err(map.err(map.line_of(key), format!("{key} must be at least 1")));
            }
            Ok(v)
        };
        let idle = map.seconds("NET_IDLE_TIMEOUT", d.idle_timeout.map_or(0, |t| t.as_secs()))?;
        let idle_timeout = proto::rpc::idle_timeout_from_secs(idle)
            .map_err(|msg| map.err(map.line_of("NET_IDLE_TIMEOUT"), format!("NET_IDLE_TIMEOUT: {msg}")))?;
        let frame = map.seconds("NET_FRAME_TIMEOUT", d.frame_timeout.as_secs())?;
        if frame == 0 {
            return Err(map.err(map.line_of("NET_FRAME_TIMEOUT"), "NET_FRAME_TIMEOUT must be at least 1 second".into()));
        }
        Ok(NetLimits {
            data_max_connections: at_least_one("CSSERV_MAX_CONNECTIONS", d.data_max_connections)?,
            data_max_in_flight: at_least_one("CSSERV_MAX_REQUESTS_IN_FLIGHT", d.data_max_in_flight)?,
            http_max_connections: at_least_one("HTTP_MAX_CONNECTIONS", d.http_max_connections)?,
            idle_timeout,
            frame_timeout: Duration::from_secs(frame),
        })
    }
}

impl ChunkserverConfig {
    /// Listen address of the data port.
    pub fn data_listen(&self) -> String {
        format!("{}:{}", self.data_listen_host.as_deref().unwrap_or("0.0.0.0"), self.data_listen_port)
    }

    /// Listen address of the HTTP port.
    pub fn http_listen(&self) -> String {
        let host = self.http_listen_host.as_deref().or(self.data_listen_host.as_deref()).unwrap_or("0.0.0.0");
        format!("{host}:{}", self.http_listen_port)
    }

    /// Read and parse a config file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        Self::parse_named(&text, &path.display().to_string())
    }

    /// Parse config text. Unknown keys are logged with a warning and otherwise ignored.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        Self::parse_named(text, "mfschunkserver.cfg")
    }

    fn parse_named(text: &str, file: &str) -> Result<Self, ConfigError> {
        let map = Kv::parse(text, file)?;
        for (key, (line, _)) in &map.entries {
            if !KNOWN_KEYS.contains(&key.as_str()) {
                tracing::warn!(key = %key, line, file, "unknown option, ignored");
            }
        }
        let master_port: u16 = map.num("MASTER_PORT", DEFAULT_MASTER_PORT)?;
        let masters = match map.get("MASTER_HOST") {
            None => vec![format!("mfsmaster:{master_port}")],
            Some((line, v)) => parse_master_hosts(v, master_port).map_err(|msg| map.err(line, msg))?,
        };
        let reconnect: u64 = map.seconds("MASTER_RECONNECTION_DELAY", 5)?;
        let timeout: u64 = map.seconds("MASTER_TIMEOUT", 10)?;
        if timeout == 0 {
            let line = map.line_of("MASTER_TIMEOUT");
            return Err(map.err(line, "MASTER_TIMEOUT must be at least 1 second".into()));
        }
        let heartbeat: u64 = map.num("HEARTBEAT_MS", 1000)?;
        if heartbeat == 0 || heartbeat >= timeout * 1000 {
            let line = map.line_of("HEARTBEAT_MS");
            return Err(map.err(line, "HEARTBEAT_MS must be above 0 and below MASTER_TIMEOUT".into()));
        }
        let leave_space_default = match map.get("HDD_LEAVE_SPACE_DEFAULT") {
            None => DEFAULT_LEAVE_SPACE,
            Some((line, v)) => parse_size(v).map_err(|msg| map.err(line, format!("HDD_LEAVE_SPACE_DEFAULT: {msg}")))?,
        };
        let test_freq: u64 = map.seconds("HDD_TEST_FREQ", 10)?;
        let data_listen_host = map.host("CSSERV_LISTEN_HOST");
        Ok(ChunkserverConfig {
            data_path: PathBuf::from(map.text("DATA_PATH").unwrap_or("/var/lib/mfs")),
            masters,
            master_reconnection_delay: Duration::from_secs(reconnect),
            master_timeout: Duration::from_secs(timeout),
            bind_host: map.host("BIND_HOST"),
            data_listen_host,
            data_listen_port: map.num("CSSERV_LISTEN_PORT", DEFAULT_DATA_PORT)?,
            http_listen_host: map.host("HTTP_LISTEN_HOST"),
            http_listen_port: map.num("HTTP_LISTEN_PORT", DEFAULT_HTTP_PORT)?,
            hdd_conf: PathBuf::from(map.text("HDD_CONF_FILENAME").unwrap_or("/etc/mfs/mfshdd.cfg")),
            leave_space_default,
            hdd_test_freq: (test_freq > 0).then(|| Duration::from_secs(test_freq)),
            heartbeat: Duration::from_millis(heartbeat),
            log_level: map.text("LOG_LEVEL").unwrap_or("info").to_string(),
            auth_code: map.text("AUTH_CODE").filter(|c| !c.is_empty()).map(str::to_string),
            net: NetLimits::parse(&map)?,
        })
    }
}

/// The `KEY = VALUE` lines of a file, with their line numbers.
struct Kv<'a> {
    file: &'a str,
    entries: BTreeMap<String, (usize, String)>,
}

impl<'a> Kv<'a> {
    fn parse(text: &str, file: &'a str) -> Result<Self, ConfigError> {
        let mut entries = BTreeMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let err = |msg: String| ConfigError::Line { file: file.to_string(), line: i + 1, msg };
            let Some((k, v)) = line.split_once('=') else {
                return Err(err(format!("expected KEY = VALUE, got {raw:?}")));
            };
            let key = k.trim();
            if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(err(format!("bad key {key:?}")));
            }
            entries.insert(key.to_string(), (i + 1, v.trim().to_string()));
        }
        Ok(Kv { file, entries })
    }

    fn get(&self, key: &str) -> Option<(usize, &str)> {
        self.entries.get(key).map(|(l, v)| (*l, v.as_str()))
    }

    fn text(&self, key: &str) -> Option<&str> {
        self.get(key).map(|(_, v)| v).filter(|v| !v.is_empty())
    }

    fn line_of(&self, key: &str) -> usize {
        self.get(key).map(|(l, _)| l).unwrap_or(0)
    }

    /// A host value; `*` (or empty) means "any", which is `None`.
    fn host(&self, key: &str) -> Option<String> {
        self.text(key).filter(|v| *v != "*").map(str::to_string)
    }

    fn err(&self, line: usize, msg: String) -> ConfigError {
        ConfigError::Line { file: self.file.to_string(), line, msg }
    }

    /// A number of seconds, at most [`MAX_SECONDS`].
    fn seconds(&self, key: &str, default: u64) -> Result<u64, ConfigError> {
        let v: u64 = self.num(key, default)?;
        if v > MAX_SECONDS {
            return Err(self.err(self.line_of(key), format!("{key}: {v} s is more than the {MAX_SECONDS} s allowed")));
        }
        Ok(v)
    }

    fn num<T: std::str::FromStr>(&self, key: &str, default: T) -> Result<T, ConfigError> {
        match self.get(key) {
            None => Ok(default),
            Some((line, v)) => v.parse().map_err(|_| self.err(line, format!("{key}: {v:?} is not a valid number"))),
        }
    }
}

/// Parse `MASTER_HOST`: hosts separated by commas or spaces, each `host` or `host:port`.
pub fn parse_master_hosts(s: &str, default_port: u16) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for item in s.split(|c: char| c == ',' || c.is_whitespace()).filter(|x| !x.is_empty()) {
        let addr = match item.rsplit_once(':') {
            // A bare IPv6 address has several colons: it needs brackets to carry a port.
            Some((host, _)) if host.contains(':') && !host.starts_with('[') => format!("[{item}]:{default_port}"),
            Some((host, port)) => {
                if host.is_empty() {
                    return Err(format!("{item:?}: empty host"));
                }
                let port: u16 = port.parse().map_err(|_| format!("{item:?}: bad port {port:?}"))?;
                format!("{host}:{port}")
            }
            None => format!("{item}:{default_port}"),
        };
        if !out.contains(&addr) {
            out.push(addr);
        }
    }
    if out.is_empty() {
        return Err("MASTER_HOST lists no host".into());
    }
    Ok(out)
}

/// Parse a MooseFS size: a number (fractions allowed) with an optional unit, as
/// `[0-9]+(.[0-9]*)?([kMGTPE]|[KMGTPE]i)?B?`. Plain letters are powers of 1000 and the `i`
/// forms powers of 1024, as in MooseFS: `4G` = 4·10⁹, `64MiB` = 64·2²⁰, `512` = 512 bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    if number.is_empty() || number == "." {
        return Err(format!("{s:?} is not a size (expected e.g. 256MiB, 4G, 1048576)"));
    }
    let unit = unit.trim();
    let unit = unit.strip_suffix('B').unwrap_or(unit);
    let (letter, binary) = match unit.strip_suffix('i') {
        Some(l) => (l, true),
        None => (unit, false),
    };
    let power = match letter {
        "" if !binary => 0,
        "k" | "K" => 1,
        "M" | "m" => 2,
        "G" | "g" => 3,
        "T" | "t" => 4,
        "P" | "p" => 5,
        "E" | "e" => 6,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (use k, M, G, T, P, E or Ki, Mi, Gi, ...)")),
    };
    let base: u64 = if binary { 1024 } else { 1000 };
    let mult = (0..power).try_fold(1u64, |m, _| m.checked_mul(base)).ok_or_else(|| format!("{s:?} is too large"))?;
    if number.contains('.') {
        let v: f64 = number.parse().map_err(|_| format!("{s:?}: bad number {number:?}"))?;
        let bytes = (v * mult as f64).round();
        if !(0.0..=u64::MAX as f64).contains(&bytes) {
            return Err(format!("{s:?} is too large"));
        }
        Ok(bytes as u64)
    } else {
        let v: u64 = number.parse().map_err(|_| format!("{s:?}: bad number {number:?}"))?;
        v.checked_mul(mult).ok_or_else(|| format!("{s:?} is too large"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_moosefs() {
        let cfg = ChunkserverConfig::parse("").unwrap();
        assert_eq!(cfg.data_path, PathBuf::from("/var/lib/mfs"));
        assert_eq!(cfg.masters, vec!["mfsmaster:9420".to_string()]);
        assert_eq!(cfg.master_reconnection_delay, Duration::from_secs(5));
        assert_eq!(cfg.master_timeout, Duration::from_secs(10));
        assert_eq!(cfg.data_listen(), "0.0.0.0:9422");
        assert_eq!(cfg.http_listen(), "0.0.0.0:9427");
        assert_eq!(cfg.hdd_conf, PathBuf::from("/etc/mfs/mfshdd.cfg"));
        assert_eq!(cfg.leave_space_default, 256 << 20);
        assert_eq!(cfg.hdd_test_freq, Some(Duration::from_secs(10)));
        assert_eq!(cfg.heartbeat, Duration::from_secs(1));
        assert_eq!(cfg.bind_host, None);
        assert_eq!(cfg.log_level, "info");
        assert_eq!(cfg.net, NetLimits::default());
    }

    #[test]
    fn limit_keys_are_read_and_checked() {
        let cfg = ChunkserverConfig::parse(
            "CSSERV_MAX_CONNECTIONS = 10\nCSSERV_MAX_REQUESTS_IN_FLIGHT = 3\nHTTP_MAX_CONNECTIONS = 2\n\
             NET_IDLE_TIMEOUT = 600\nNET_FRAME_TIMEOUT = 9\n",
        )
        .unwrap();
        let n = cfg.net;
        assert_eq!((n.data_max_connections, n.data_max_in_flight, n.http_max_connections), (10, 3, 2));
        assert_eq!(n.idle_timeout, Some(Duration::from_secs(600)));
        assert_eq!(n.data_serve_limits().frame.frame_timeout, Duration::from_secs(9));
        assert_eq!(ChunkserverConfig::parse("NET_IDLE_TIMEOUT = 0\n").unwrap().net.idle_timeout, None);
        let e = ChunkserverConfig::parse("\nNET_IDLE_TIMEOUT = 5\n").unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("too short"), "{e}");
        let e = ChunkserverConfig::parse("CSSERV_MAX_CONNECTIONS = 0\n").unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("at least 1"), "{e}");
    }

    #[test]
    fn parses_a_moosefs_file_with_our_keys() {
        let cfg = ChunkserverConfig::parse(
            "# chunkserver 1\nDATA_PATH = /tmp/cs1 # trailing comment\nWORKING_USER = mfs\nNICE_LEVEL = -19\n\
             MASTER_HOST = 127.0.0.11, 127.0.0.12:9520 127.0.0.13\nMASTER_PORT = 9430\n\
             CSSERV_LISTEN_HOST = 127.0.0.21\nCSSERV_LISTEN_PORT = 9522\nHTTP_LISTEN_PORT = 9527\n\
             HDD_CONF_FILENAME = /tmp/cs1/hdd.cfg\nHDD_LEAVE_SPACE_DEFAULT = 1GiB\nHDD_TEST_FREQ = 0\n\
             MASTER_RECONNECTION_DELAY = 2\nMASTER_TIMEOUT = 3\nHEARTBEAT_MS = 500\nLOG_LEVEL = debug\n\
             BIND_HOST = 127.0.0.21\nSOMETHING_NEW = 1\n",
        )
        .unwrap();
        assert_eq!(cfg.data_path, PathBuf::from("/tmp/cs1"));
        assert_eq!(cfg.masters, vec!["127.0.0.11:9430", "127.0.0.12:9520", "127.0.0.13:9430"]);
        assert_eq!(cfg.data_listen(), "127.0.0.21:9522");
        // HTTP follows the data listen host unless told otherwise.
        assert_eq!(cfg.http_listen(), "127.0.0.21:9527");
        assert_eq!(cfg.leave_space_default, 1 << 30);
        assert_eq!(cfg.hdd_test_freq, None);
        assert_eq!(cfg.master_reconnection_delay, Duration::from_secs(2));
        assert_eq!(cfg.master_timeout, Duration::from_secs(3));
        assert_eq!(cfg.heartbeat, Duration::from_millis(500));
        assert_eq!(cfg.bind_host.as_deref(), Some("127.0.0.21"));
        assert_eq!(cfg.log_level, "debug");
    }

    #[test]
    fn star_means_every_address() {
        let cfg =
            ChunkserverConfig::parse("CSSERV_LISTEN_HOST = *\nBIND_HOST = *\nHTTP_LISTEN_HOST = 10.0.0.1\n").unwrap();
        assert_eq!(cfg.data_listen_host, None);
        assert_eq!(cfg.bind_host, None);
        assert_eq!(cfg.http_listen(), "10.0.0.1:9427");
    }

    #[test]
    fn errors_name_the_line() {
        let e = ChunkserverConfig::parse("DATA_PATH = /x\nMASTER_PORT = many\n").unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("not a valid number"), "{e}");
        let e = ChunkserverConfig::parse("\n\nDATA_PATH /x\n").unwrap_err().to_string();
        assert!(e.contains("line 3"), "{e}");
        let e = ChunkserverConfig::parse("HDD_LEAVE_SPACE_DEFAULT = lots\n").unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("HDD_LEAVE_SPACE_DEFAULT"), "{e}");
        let e = ChunkserverConfig::parse("MASTER_HOST = a:b\n").unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("bad port"), "{e}");
        let e = ChunkserverConfig::parse("MASTER_HOST = ,\n").unwrap_err().to_string();
        assert!(e.contains("no host"), "{e}");
        let e = ChunkserverConfig::parse("MASTER_TIMEOUT = 0\n").unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
        let e = ChunkserverConfig::parse("MASTER_TIMEOUT = 1\nHEARTBEAT_MS = 1000\n").unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
        let e = ChunkserverConfig::parse("BAD KEY = 1\n").unwrap_err().to_string();
        assert!(e.contains("bad key"), "{e}");
        let e = ChunkserverConfig::parse("MASTER_TIMEOUT = 99999999999999\n").unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("allowed"), "{e}");
        let e = ChunkserverConfig::parse("CSSERV_LISTEN_PORT = 70000\n").unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
    }

    #[test]
    fn sizes_parse_as_moosefs_does() {
        assert_eq!(parse_size("512").unwrap(), 512);
        assert_eq!(parse_size("64MiB").unwrap(), 64 << 20);
        assert_eq!(parse_size("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_size("1 GiB").unwrap(), 1 << 30);
        assert_eq!(parse_size("4G").unwrap(), 4_000_000_000);
        assert_eq!(parse_size("512M").unwrap(), 512_000_000);
        assert_eq!(parse_size("512MB").unwrap(), 512_000_000);
        assert_eq!(parse_size("10k").unwrap(), 10_000);
        assert_eq!(parse_size("2Ki").unwrap(), 2048);
        assert_eq!(parse_size("1.5GiB").unwrap(), 3 << 29);
        assert_eq!(parse_size("0").unwrap(), 0);
        assert!(parse_size("").is_err());
        assert!(parse_size("GiB").is_err());
        assert!(parse_size("12XB").is_err());
        assert!(parse_size("-1").is_err());
        assert!(parse_size("99999999EiB").is_err());
        assert!(parse_size("1.2.3").is_err());
    }

    #[test]
    fn master_hosts_accept_commas_spaces_ports_and_ipv6() {
        assert_eq!(parse_master_hosts("a,b:1  c", 9420).unwrap(), vec!["a:9420", "b:1", "c:9420"]);
        assert_eq!(parse_master_hosts("[::1]:5, ::1", 9420).unwrap(), vec!["[::1]:5", "[::1]:9420"]);
        // The same master twice is one master.
        assert_eq!(parse_master_hosts("a a:9420", 9420).unwrap(), vec!["a:9420"]);
    }
}
