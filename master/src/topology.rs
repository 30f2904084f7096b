//! `mfstopology.cfg`: where each address sits in the network, as MooseFS 3.0 reads it
//! (`mfstopology.cfg(5)`), and the distance between two addresses.
//!
//! Each line is `ADDRESSES LOCATION_PATH`: addresses as in `mfsexports.cfg` (`*`, `IP`,
//! `IP/BITS`, `IP/NETMASK`, `FROM-TO`), a path of words separated by `|` (`US|CHICAGO|R1A`, or a
//! plain rack number). The last line that matches an address wins; an address no line matches
//! has the empty path. The distance is 0 for the same address, 1 for two addresses on the same
//! path, else 1 plus the larger number of path elements after the common start.
//!
//! The leader sorts the copies a client reads (nearest first) and the chain it writes through
//! by this distance, and with `CREATIONS_RESPECT_TOPOLOGY = N` places a new chunk's copies on
//! servers nearer than N to the writer first (`chunks/placement.rs`).

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use thiserror::Error;

use crate::exports::parse_addr;

/// A topology file that cannot be used, with its place.
#[derive(Debug, Error)]
pub enum TopologyError {
    #[error("can't read {file}: {err}")]
    Read { file: String, err: std::io::Error },
    #[error("{file}:{line}: {msg}")]
    Line { file: String, line: usize, msg: String },
}

/// Address ranges and their location paths, in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Topology {
    rules: Vec<((u32, u32), Vec<String>)>,
}

impl Topology {
    /// Parse the text of a topology file; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Topology, TopologyError> {
        let mut rules = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let err = |msg: String| TopologyError::Line { file: file.to_string(), line: i + 1, msg };
            let mut words = line.split_whitespace();
            let (Some(addrs), Some(path), None) = (words.next(), words.next(), words.next()) else {
                return Err(err("expected ADDRESSES LOCATION_PATH".into()));
            };
            let range = parse_addr(addrs).map_err(err)?;
            let path: Vec<String> = path.split('|').map(str::to_string).collect();
            if path.iter().any(String::is_empty) {
                return Err(err(format!("empty element in location path {path:?}")));
            }
            rules.push((range, path));
        }
        Ok(Topology { rules })
    }

    /// Read `path`; a missing file is the empty topology (every address on the empty path).
    pub fn load(path: &Path) -> Result<Topology, TopologyError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Topology::parse(&text, &path.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Topology::default()),
            Err(err) => Err(TopologyError::Read { file: path.display().to_string(), err }),
        }
    }

    /// Lines read.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The location path of `ip` (the last matching line's; empty when none matches).
    fn path_of(&self, ip: IpAddr) -> &[String] {
        let Some(v4) = ipv4(ip) else { return &[] };
        let n = u32::from(v4);
        self.rules.iter().rev().find(|((from, to), _)| (*from..=*to).contains(&n)).map_or(&[], |(_, p)| p)
    }

    /// MooseFS's distance between two addresses.
    pub fn distance(&self, a: IpAddr, b: IpAddr) -> u32 {
        if a == b || ipv4(a).is_some_and(|x| ipv4(b) == Some(x)) {
            return 0;
        }
        let (pa, pb) = (self.path_of(a), self.path_of(b));
        if pa == pb {
            return 1;
        }
        let common = pa.iter().zip(pb).take_while(|(x, y)| x == y).count();
        1 + (pa.len() - common).max(pb.len() - common) as u32
    }

    /// The distance from `client` to the chunkserver at data address `server` ("ip:port");
    /// an address that does not parse counts as far away.
    pub fn distance_to(&self, client: IpAddr, server: &str) -> u32 {
        match server_ip(server) {
            Some(ip) => self.distance(client, ip),
            None => u32::MAX,
        }
    }

    /// Sort data addresses nearest to `client` first, keeping the order of equals.
    pub fn sort_nearest(&self, client: Option<IpAddr>, servers: &mut [String]) {
        if let Some(c) = client {
            servers.sort_by_key(|s| self.distance_to(c, s));
        }
    }
}

fn ipv4(ip: IpAddr) -> Option<Ipv4Addr> {
    match ip {
        IpAddr::V4(v4) => Some(v4),
        IpAddr::V6(v6) => v6.to_ipv4_mapped(),
    }
}

/// The IP of a data address "ip:port".
fn server_ip(addr: &str) -> Option<IpAddr> {
    addr.parse::<std::net::SocketAddr>().map(|s| s.ip()).ok().or_else(|| addr.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn distances_are_those_of_the_moosefs_manual() {
        let t = Topology::parse(
            "# the man page's paths\n\
             10.0.0.1 US\n10.0.0.2 DE\n10.0.0.4 US|PHOENIX|AT&T|RACK1\n10.0.0.5 US|PHOENIX|AT&T|RACK2\n\
             10.0.0.6 US|PHOENIX|ATM|RACK7\n10.0.0.7 US|CHICAGO|AT&T|RACK2\n10.0.0.8 US|ATM\n\
             10.0.0.9 DE|BERLIN|ATM|RACK175\n10.0.0.10 US\n",
            "t",
        )
        .unwrap();
        let d = |a: &str, b: &str| t.distance(ip(a), ip(b));
        assert_eq!(d("10.0.0.1", "10.0.0.1"), 0);
        assert_eq!(d("10.0.0.1", "10.0.0.10"), 1, "same path");
        assert_eq!(d("10.0.0.1", "10.0.0.2"), 2);
        assert_eq!(d("10.0.0.1", "10.0.0.3"), 2, "US and the empty path");
        assert_eq!(d("10.0.0.4", "10.0.0.5"), 2);
        assert_eq!(d("10.0.0.4", "10.0.0.6"), 3);
        assert_eq!(d("10.0.0.4", "10.0.0.7"), 4);
        assert_eq!(d("10.0.0.4", "10.0.0.8"), 4);
        assert_eq!(d("10.0.0.4", "10.0.0.9"), 5);
        assert_eq!(d("10.0.0.3", "10.0.0.11"), 1, "both unlisted: the same (empty) path");
    }

    #[test]
    fn the_last_matching_line_wins_and_forms_are_moosefs_ones() {
        let t = Topology::parse(
            "192.168.1.0/24 A\n192.168.2.0-192.168.2.255 B\n192.168.3.0/255.255.255.0 123\n192.168.1.1 A|B|C\n",
            "t",
        )
        .unwrap();
        assert_eq!(t.path_of(ip("192.168.1.1")), ["A", "B", "C"]);
        assert_eq!(t.path_of(ip("192.168.1.2")), ["A"]);
        assert_eq!(t.path_of(ip("192.168.2.200")), ["B"]);
        assert_eq!(t.path_of(ip("192.168.3.9")), ["123"]);
        assert!(t.path_of(ip("10.1.1.1")).is_empty());
        let mut servers = vec!["192.168.2.5:9422".to_string(), "192.168.1.7:9422".into(), "junk".into()];
        t.sort_nearest(Some(ip("192.168.1.9")), &mut servers);
        assert_eq!(servers, ["192.168.1.7:9422", "192.168.2.5:9422", "junk"]);
    }

    #[test]
    fn bad_lines_are_named() {
        let e = Topology::parse("10.0.0.1 A\n10.0.0.300 B\n", "topo.cfg").unwrap_err().to_string();
        assert!(e.starts_with("topo.cfg:2:"), "{e}");
        assert!(Topology::parse("10.0.0.1\n", "t").is_err());
        assert!(Topology::parse("10.0.0.1 A||B\n", "t").is_err());
        assert!(Topology::parse("10.0.0.1 A B\n", "t").is_err());
        assert!(Topology::load(Path::new("/nonexistent/mfstopology.cfg")).unwrap().is_empty());
    }
}
