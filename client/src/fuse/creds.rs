//! Credentials of a FUSE request: uid and gid from the request, supplementary groups from
//! `/proc/<pid>/task/<pid>/status`, cached briefly per process.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use proto::meta::Creds;

/// How long the groups of one process are reused.
const GROUPS_TTL: Duration = Duration::from_secs(1);
/// Drop stale entries when the cache grows past this many processes.
const MAX_ENTRIES: usize = 4096;

/// Supplementary groups per process id, read from procfs.
#[derive(Default)]
pub struct GroupCache {
    by_pid: Mutex<HashMap<u32, (Instant, Vec<u32>)>>,
}

impl GroupCache {
    /// The caller's credentials. `pid` 0 (writes from the page cache, kernel-internal
    /// requests) has no process to ask: no supplementary groups.
    pub fn creds(&self, uid: u32, gid: u32, pid: u32) -> Creds {
        let groups = if pid == 0 { Vec::new() } else { self.groups(pid) };
        Creds::new(uid, gid, groups)
    }

    fn groups(&self, pid: u32) -> Vec<u32> {
        let now = Instant::now();
        {
            let map = self.by_pid.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((at, g)) = map.get(&pid) {
                if now.duration_since(*at) < GROUPS_TTL {
                    return g.clone();
                }
            }
        }
        // A short procfs read: it does not touch the network, so it may run on the
        // session loop.
        let g = read_groups(pid).unwrap_or_default();
        let mut map = self.by_pid.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_ENTRIES {
            map.retain(|_, (at, _)| now.duration_since(*at) < GROUPS_TTL);
        }
        map.insert(pid, (now, g.clone()));
        g
    }
}

/// The `Groups:` line of a process's status file.
fn read_groups(pid: u32) -> Option<Vec<u32>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/status"))
        .or_else(|_| std::fs::read_to_string(format!("/proc/{pid}/status")))
        .ok()?;
    parse_groups(&text)
}

/// Parse the `Groups:` line of a `/proc/*/status` text.
pub fn parse_groups(status: &str) -> Option<Vec<u32>> {
    let line = status.lines().find_map(|l| l.strip_prefix("Groups:"))?;
    Some(line.split_whitespace().filter_map(|g| g.parse().ok()).collect())
}

/// Credentials of this process (for the tools): real uid, gid and supplementary groups.
pub fn own_creds() -> Creds {
    // SAFETY: getuid/getgid cannot fail; getgroups writes at most `n` entries into `buf`.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    let mut buf = vec![0 as libc::gid_t; 1024];
    let n = unsafe { libc::getgroups(buf.len() as libc::c_int, buf.as_mut_ptr()) };
    buf.truncate(n.max(0) as usize);
    Creds::new(uid, gid, buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_line_is_parsed() {
        let s = "Name:\tbash\nUid:\t0\t0\t0\t0\nGroups:\t4 24 27 1000 \nNgid:\t0\n";
        assert_eq!(parse_groups(s), Some(vec![4, 24, 27, 1000]));
        assert_eq!(parse_groups("Groups:\n"), Some(vec![]));
        assert_eq!(parse_groups("Name: x\n"), None);
    }

    #[test]
    fn own_process_groups_are_read() {
        let c = GroupCache::default();
        let me = std::process::id();
        let creds = c.creds(0, 0, me);
        let expected = parse_groups(&std::fs::read_to_string("/proc/self/status").unwrap()).unwrap();
        assert_eq!(creds.groups, expected);
        assert!(c.creds(0, 0, 0).groups.is_empty());
    }
}
