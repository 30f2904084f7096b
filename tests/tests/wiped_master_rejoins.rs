//! A master that comes back on an empty disk under its old node id does not vote until the
//! group has taken it back (`vote_guard.rs`, `member_disks.rs`): with the leader down, the other
//! master cannot be elected with its vote (an empty disk has forgotten the votes and entries it
//! gave); once the leader is back, it records the master's new disk once its log has caught up,
//! and it votes again: with the current leader killed, its vote elects a new one.
//!
//! One group of three masters on 127.0.104.x.

use std::time::Duration;

use raftmfs_tests::{wait_for, Cluster};

const BLOCK: u8 = 104;
const LIMIT: Duration = Duration::from_secs(60);

/// Master `i`'s log, without its terminal colour codes.
fn log_has(c: &Cluster, i: usize, needle: &str) -> bool {
    let raw = std::fs::read_to_string(c.masters[i].log()).unwrap_or_default();
    let mut plain = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(ch) = chars.next() {
        if ch == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            plain.push(ch);
        }
    }
    plain.contains(needle)
}

#[test]
fn a_master_back_on_an_empty_disk_votes_only_after_it_is_taken_back() {
    let mut c = Cluster::start(BLOCK, 3, "");
    let leader = c.wait_leader(LIMIT);
    let (wiped, other) = {
        let f: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
        (f[0], f[1])
    };
    // Some entries every master acknowledged, and each master's disk on record.
    wait_for(LIMIT, "every disk on record", || {
        (0..3).all(|i| log_has(&c, leader, &format!("master={} ", c.masters[i].id)) || i == leader).then_some(())
    });

    // The leader goes down; a follower loses its disk and comes back under its old id.
    c.kill(leader);
    c.kill(wiped);
    c.wipe(wiped);
    c.start_master(wiped);
    wait_for(LIMIT, "the empty master refusing the other's vote request", || {
        log_has(&c, wiped, "refused a vote request").then_some(())
    });
    for i in [wiped, other] {
        let s = c.status(i);
        assert!(s.is_none_or(|s| s.role != "leader"), "no leader from an empty disk's vote: {:?}", c.status(i));
    }
    wait_for(LIMIT, "the empty master saying it withholds its vote", || {
        c.metrics(wiped).filter(|m| m.contains("mfsmaster_raft_vote_withheld 1")).map(|_| ())
    });

    // The leader returns: it takes the empty master back, which then votes.
    c.start_master(leader);
    c.wait_leader(LIMIT);
    wait_for(LIMIT, "the empty master's disk recorded and its vote back", || {
        let m = c.metrics(wiped)?;
        (m.contains("mfsmaster_raft_vote_withheld 0") && log_has(&c, wiped, "this master votes")).then_some(())
    });
    let l = c.wait_leader(LIMIT);
    let s = c.status(l).expect("leader status");
    assert_eq!(s.voters.len(), 3, "all three vote again: {s:?}");
    // Its vote counts now: without the current leader, the two others elect one.
    c.kill(l);
    let new_leader = c.wait_leader(LIMIT);
    assert_ne!(new_leader, l);
    let ds = c.wait_converged(LIMIT);
    assert!(ds.windows(2).all(|w| w[0].digest == w[1].digest), "{ds:?}");
}
