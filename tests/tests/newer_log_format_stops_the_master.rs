//! Issue 10, item 9: log entries carry a format version, and a master that meets a newer one
//! stops with a clear error instead of misreading it.
//!
//! All three masters are stopped and an entry in format LOG_FORMAT + 1 (as a newer RaftMFS would write
//! it) is appended to each one's log at the same position, as if a newer leader had replicated
//! it before it died. On restart the group elects a leader, whose first entry commits that one:
//! every master that learns it is committed stops with an error naming both formats (a
//! majority at least: the leader and a follower), and none applies it. A master that never
//! learns of the commit (the others stopped first) stays up without a quorum, having applied
//! nothing past the entry before.
//! Before formats existed an entry was the bare command, so the same bytes would have been
//! decoded as whatever command their first byte happened to name.

use std::time::Duration;

use master::log_format::{LogCommand, LOG_FORMAT};
use master::raft_types::TypeConfig;
use openraft::storage::RaftLogStorage;
use openraft::{Entry, EntryPayload, LogId};
use proto::meta::{Creds, ROOT_INODE};
use raft_store::RocksLogStore;
use raftmfs_tests::{wait_for, Cluster};

#[test]
fn a_committed_entry_of_a_newer_format_stops_every_master_with_a_clear_error() {
    let mut cluster = Cluster::start(82, 3, "");
    cluster.wait_leader(Duration::from_secs(30));
    let rt = raftmfs_tests::runtime();
    let io = cluster.file_io(&rt);
    for i in 0..20 {
        rt.block_on(io.meta.mkdir(&Creds::root(), ROOT_INODE, format!("d{i}").as_bytes(), 0o755)).unwrap();
    }
    let before = cluster.wait_converged(Duration::from_secs(30));
    for i in 0..3 {
        cluster.kill(i);
    }

    let newer = LOG_FORMAT + 1;
    let mut last_ids = Vec::new();
    for i in 0..3 {
        let path = cluster.masters[i].data_dir().join("changelog");
        let mut log = RocksLogStore::<TypeConfig>::open(&path).expect("open the stopped master's log");
        let state = rt.block_on(log.get_log_state()).expect("log state");
        let last: LogId<u64> = state.last_log_id.expect("a log with entries");
        last_ids.push(last);
        let entry = Entry::<TypeConfig> {
            log_id: LogId::new(last.leader_id, last.index + 1),
            payload: EntryPayload::Normal(LogCommand::Foreign { format: newer, bytes: vec![0x42; 40] }),
        };
        log.append_offline([entry]).expect("append");
    }
    assert!(last_ids.iter().all(|l| *l == last_ids[0]), "the masters' logs differ: {last_ids:?}");

    for i in 0..3 {
        cluster.start_master(i);
    }
    let mut stopped = [false; 3];
    wait_for(Duration::from_secs(60), "a majority of the masters to stop", || {
        for (i, s) in stopped.iter_mut().enumerate() {
            if let Some(status) = cluster.masters[i].exited() {
                assert!(!status.success(), "master {i} must exit with an error, not {status}");
                *s = true;
            }
        }
        (stopped.iter().filter(|s| **s).count() >= 2).then_some(())
    });
    for (i, &s) in stopped.iter().enumerate() {
        if s {
            let log = std::fs::read_to_string(cluster.masters[i].log()).unwrap_or_default();
            assert!(
                log.contains(&format!("has format {newer}")) && log.contains(&format!("reads format {LOG_FORMAT}")),
                "master {i} should name both formats in its log; tail:\n{}",
                cluster.log_tail(i, 30)
            );
        } else if let Some(st) = cluster.status(i) {
            assert!(st.applied_index.unwrap_or(0) <= last_ids[0].index, "master {i} applied past it: {st:?}");
        }
    }
    assert!(before.iter().all(|d| d.applied_index.unwrap_or(0) <= last_ids[0].index));
}
