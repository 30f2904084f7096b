//! Resource limits of a master's ports, from `mfsmaster.cfg` (our own keys: MooseFS has none).
//!
//! Every port caps its open connections (over the cap a connection is closed at once and
//! counted in `mfsmaster_connections_refused_total{port}`); every frame must complete within
//! `NET_FRAME_TIMEOUT` of its first byte and fit its port's largest frame; the client port
//! caps the requests in flight per connection (backpressure) and closes connections idle for
//! `NET_IDLE_TIMEOUT`, as does the Raft port. See ARCHITECTURE.md, "Resource limits".

use std::collections::BTreeMap;
use std::time::Duration;

use proto::frame::{FrameLimits, DEFAULT_FRAME_TIMEOUT, MAX_FRAME};
use proto::rpc::{idle_timeout_from_secs, ServeLimits, DEFAULT_IDLE_TIMEOUT};

use crate::config::ConfigError;

/// The keys read here.
pub const KEYS: &[&str] = &[
    "MATOML_MAX_CONNECTIONS",
    "MATOCS_MAX_CONNECTIONS",
    "MATOCL_MAX_CONNECTIONS",
    "MATOCL_MAX_REQUESTS_IN_FLIGHT",
    "HTTP_MAX_CONNECTIONS",
    "NET_IDLE_TIMEOUT",
    "NET_FRAME_TIMEOUT",
];

/// A connection to the HTTP port that sends nothing for this long is closed.
pub const HTTP_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Longest frame timeout accepted (seconds): longer values are typos.
const MAX_FRAME_TIMEOUT_SECS: u64 = 3600;

/// The limits of a master's ports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetLimits {
    /// Open connections on the Raft port 9419 (`MATOML_MAX_CONNECTIONS`, default 256): each
    /// peer keeps one, a few more come and go.
    pub raft_max_connections: usize,
    /// Open connections on the chunkserver port 9420 (`MATOCS_MAX_CONNECTIONS`, default 1024).
    pub cs_max_connections: usize,
    /// Open connections on the client port 9421 (`MATOCL_MAX_CONNECTIONS`, default 4096): one
    /// per mount or tool.
    pub client_max_connections: usize,
    /// Requests in flight on one client connection (`MATOCL_MAX_REQUESTS_IN_FLIGHT`, default
    /// 256); at the cap the connection is not read until an answer is written.
    pub client_max_in_flight: usize,
    /// Open connections on the HTTP port 9425 (`HTTP_MAX_CONNECTIONS`, default 64).
    pub http_max_connections: usize,
    /// Client and Raft connections with nothing in flight and nothing received this long are
    /// closed (`NET_IDLE_TIMEOUT`, seconds, default 300; 0 = never; else at least 120).
    pub idle_timeout: Option<Duration>,
    /// A frame must complete this long after its first byte (`NET_FRAME_TIMEOUT`, seconds,
    /// default 60).
    pub frame_timeout: Duration,
}

impl Default for NetLimits {
    fn default() -> Self {
        NetLimits {
            raft_max_connections: 256,
            cs_max_connections: 1024,
            client_max_connections: 4096,
            client_max_in_flight: 256,
            http_max_connections: 64,
            idle_timeout: Some(DEFAULT_IDLE_TIMEOUT),
            frame_timeout: DEFAULT_FRAME_TIMEOUT,
        }
    }
}

impl NetLimits {
    /// Read the keys of [`KEYS`] from a parsed config (key → (line, value)).
    pub(crate) fn parse(map: &BTreeMap<String, (usize, String)>) -> Result<NetLimits, ConfigError> {
        let d = NetLimits::default();
        let num = |key: &str, default: u64| -> Result<u64, ConfigError> {
            match map.get(key) {
                None => Ok(default),
                Some((line, v)) => v
                    .parse()
                    .map_err(|_| ConfigError::Line { line: *line, msg: format!("{key}: {v:?} is not a valid number") }),
            }
        };
        let at_least_one = |key: &str, default: usize| -> Result<usize, ConfigError> {
            let v = num(key, default as u64)?;
            if v == 0 {
                return Err(ConfigError::Value { key: key.into(), msg: "must be at least 1".into() });
            }
            usize::try_from(v).map_err(|_| ConfigError::Value { key: key.into(), msg: "too large".into() })
        };
        let idle = num("NET_IDLE_TIMEOUT", d.idle_timeout.map_or(0, |t| t.as_secs()))?;
        let idle_timeout =
            idle_timeout_from_secs(idle).map_err(|msg| ConfigError::Value { key: "NET_IDLE_TIMEOUT".into(), msg })?;
        let frame = num("NET_FRAME_TIMEOUT", d.frame_timeout.as_secs())?;
        if frame == 0 || frame > MAX_FRAME_TIMEOUT_SECS {
            return Err(ConfigError::Value {
                key: "NET_FRAME_TIMEOUT".into(),
                msg: format!("{frame}: must be 1 to {MAX_FRAME_TIMEOUT_SECS} seconds"),
            });
        }
        Ok(NetLimits {
            raft_max_connections: at_least_one("MATOML_MAX_CONNECTIONS", d.raft_max_connections)?,
            cs_max_connections: at_least_one("MATOCS_MAX_CONNECTIONS", d.cs_max_connections)?,
            client_max_connections: at_least_one("MATOCL_MAX_CONNECTIONS", d.client_max_connections)?,
            client_max_in_flight: at_least_one("MATOCL_MAX_REQUESTS_IN_FLIGHT", d.client_max_in_flight)?,
            http_max_connections: at_least_one("HTTP_MAX_CONNECTIONS", d.http_max_connections)?,
            idle_timeout,
            frame_timeout: Duration::from_secs(frame),
        })
    }

    /// How the client port serves one connection: requests of at most
    /// [`proto::client::MAX_REQUEST_FRAME`] bytes.
    pub fn client_serve_limits(&self) -> ServeLimits {
        ServeLimits {
            frame: FrameLimits { max_frame: proto::client::MAX_REQUEST_FRAME, frame_timeout: self.frame_timeout },
            max_in_flight: self.client_max_in_flight,
            idle_timeout: self.idle_timeout,
        }
    }

    /// How the Raft and chunkserver ports read a frame: up to [`MAX_FRAME`] (a snapshot chunk,
    /// a batch of entries, a registration listing every chunk).
    pub fn peer_frame_limits(&self) -> FrameLimits {
        FrameLimits { max_frame: MAX_FRAME, frame_timeout: self.frame_timeout }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MasterConfig;

    #[test]
    fn defaults_and_keys() {
        let cfg = MasterConfig::parse("").unwrap();
        assert_eq!(cfg.net, NetLimits::default());
        let cfg = MasterConfig::parse(
            "MATOML_MAX_CONNECTIONS = 8\nMATOCS_MAX_CONNECTIONS = 9\nMATOCL_MAX_CONNECTIONS = 10\n\
             MATOCL_MAX_REQUESTS_IN_FLIGHT = 11\nHTTP_MAX_CONNECTIONS = 12\nNET_IDLE_TIMEOUT = 0\nNET_FRAME_TIMEOUT = 5\n",
        )
        .unwrap();
        let n = cfg.net;
        assert_eq!((n.raft_max_connections, n.cs_max_connections, n.client_max_connections), (8, 9, 10));
        assert_eq!((n.client_max_in_flight, n.http_max_connections), (11, 12));
        assert_eq!(n.idle_timeout, None);
        assert_eq!(n.frame_timeout, Duration::from_secs(5));
        assert_eq!(n.client_serve_limits().frame.max_frame, proto::client::MAX_REQUEST_FRAME);
    }

    #[test]
    fn bad_values_are_clear_errors() {
        for (text, want) in [
            ("NET_IDLE_TIMEOUT = 30\n", "NET_IDLE_TIMEOUT"),
            ("NET_FRAME_TIMEOUT = 0\n", "NET_FRAME_TIMEOUT"),
            ("MATOCL_MAX_CONNECTIONS = 0\n", "at least 1"),
            ("MATOML_MAX_CONNECTIONS = many\n", "line 1"),
        ] {
            let e = MasterConfig::parse(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
    }
}
