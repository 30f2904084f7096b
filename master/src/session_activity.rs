//! What the leader saw of each client session since it took over: the address the session's
//! requests came from, when it was last heard, and how many of each operation it asked for
//! (the status page's "mounts" and "operations", as MooseFS's CGI shows them). Kept in this
//! master's memory only, not replicated: a new leader (a new term) starts counting again, as
//! MooseFS's counters start again with a master restart.
//!
//! Bounded by the sessions that exist: a session is noted only after the master accepted a
//! request of it, and entries of sessions that are gone are dropped whenever the table has
//! doubled since it was last pruned (and whenever it is read).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Pruning starts once the table is this large.
const PRUNE_FLOOR: usize = 1024;

/// One session as this leader saw it.
#[derive(Clone, Debug)]
pub struct Activity {
    /// The address of its last request.
    pub peer: IpAddr,
    pub last: Instant,
    /// Requests by operation name.
    pub ops: BTreeMap<&'static str, u64>,
}

/// Every session's activity.
#[derive(Default)]
pub struct SessionActivity {
    inner: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    sessions: HashMap<u64, Activity>,
    /// Size at which the next note prunes.
    prune_at: usize,
    /// The term the counts belong to.
    term: u64,
}

impl SessionActivity {
    /// Session `id` (which exists: the master just answered it) asked for `op` from `peer`,
    /// answered by this master as the leader of `term`. `live` says whether a session still
    /// exists, for pruning.
    pub fn note(&self, term: u64, id: u64, peer: IpAddr, op: &'static str, live: impl Fn(u64) -> bool) {
        let mut t = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if t.term != term {
            t.sessions.clear();
            t.prune_at = 0;
            t.term = term;
        }
        let a = t.sessions.entry(id).or_insert_with(|| Activity { peer, last: Instant::now(), ops: BTreeMap::new() });
        a.peer = peer;
        a.last = Instant::now();
        *a.ops.entry(op).or_insert(0) += 1;
        if t.sessions.len() >= t.prune_at.max(PRUNE_FLOOR) {
            t.sessions.retain(|id, _| live(*id));
            t.prune_at = 2 * t.sessions.len();
        }
    }

    /// The sessions of `term` for which `live` holds (the others are dropped), by id.
    pub fn read(&self, term: u64, live: impl Fn(u64) -> bool) -> BTreeMap<u64, Activity> {
        let mut t = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if t.term != term {
            return BTreeMap::new();
        }
        t.sessions.retain(|id, _| live(*id));
        t.sessions.iter().map(|(id, a)| (*id, a.clone())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_session_and_drops_gone_ones() {
        let a = SessionActivity::default();
        let ip: IpAddr = "127.0.0.5".parse().unwrap();
        a.note(3, 1, ip, "lookup", |_| true);
        a.note(3, 1, ip, "lookup", |_| true);
        a.note(3, 2, ip, "mkdir", |_| true);
        let seen = a.read(3, |id| id == 1);
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[&1].ops["lookup"], 2);
        assert!(!a.read(3, |_| true).contains_key(&2), "a gone session stays gone");
        assert!(a.read(4, |_| true).is_empty(), "another term's leader counted nothing");
        a.note(5, 1, ip, "lookup", |_| true);
        assert_eq!(a.read(5, |_| true)[&1].ops["lookup"], 1, "a new term counts again");
    }

    #[test]
    fn stays_bounded_by_the_live_sessions() {
        let a = SessionActivity::default();
        let ip: IpAddr = "127.0.0.5".parse().unwrap();
        // Sessions come and go: only the last 10 exist at any time.
        for id in 0..100_000u64 {
            a.note(1, id, ip, "getattr", |s| s + 10 > id);
        }
        assert!(a.inner.lock().unwrap().sessions.len() <= 2 * PRUNE_FLOOR);
    }
}
