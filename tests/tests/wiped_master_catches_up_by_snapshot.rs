//! Acceptance (issue 2, item 3): a master whose data folder is wiped rejoins and catches up
//! through a snapshot, because the leader has purged the log it would need.

use std::time::Duration;

use client::{ClientConfig, MasterClient};
use proto::meta::{Creds, ROOT_INODE};
use raftmfs_tests::{wait_for, Cluster};

#[test]
fn wiped_master_rejoins_through_snapshot() {
    // Snapshot every 200 entries, keep 20 behind it: 1,000 ops purge most of the log.
    let mut cluster = Cluster::start(22, 3, "RAFT_SNAPSHOT_LOGS = 200\nRAFT_LOGS_KEEP = 20");
    let leader = cluster.wait_leader(Duration::from_secs(30));
    let rt = raftmfs_tests::runtime();
    let addrs = cluster.client_addrs();
    let c = rt
        .block_on(MasterClient::connect(ClientConfig::new(&addrs.iter().map(String::as_str).collect::<Vec<_>>())))
        .expect("connect");
    let cr = Creds::root();
    let dir = rt.block_on(c.mkdir(&cr, ROOT_INODE, b"data", 0o755)).unwrap();
    for i in 0..1000 {
        rt.block_on(c.create(&cr, dir.ino, format!("file{i}").as_bytes(), 0o644)).unwrap();
    }
    let victim = (leader + 1) % 3;
    cluster.kill(victim);
    cluster.wipe(victim);
    // A few more operations while it is away.
    for i in 0..50 {
        rt.block_on(c.create(&cr, dir.ino, format!("late{i}").as_bytes(), 0o644)).unwrap();
    }
    let purged = cluster.status(leader).and_then(|s| s.purged_index).unwrap_or(0);
    assert!(purged > 0, "the leader should have purged its log behind a snapshot");
    cluster.start_master(victim);
    let ds = cluster.wait_converged(Duration::from_secs(60));
    assert!(ds.iter().all(|d| d.digest == ds[0].digest), "digests differ: {ds:?}");
    let st = wait_for(Duration::from_secs(10), "status of the rejoined master", || cluster.status(victim));
    assert_eq!(st.role, "follower");
    let snap = st.snapshot_index.unwrap_or(0);
    assert!(snap > 0, "the wiped master should hold a snapshot, status {st:?}");
    assert!(
        std::fs::read_to_string(cluster.masters[victim].log())
            .unwrap_or_default()
            .contains("installed metadata snapshot"),
        "the wiped master should have installed a snapshot from the leader"
    );
    // It also serves as part of the group (once its new disk is recorded, it votes): kill the
    // leader, the rejoined one can lead.
    cluster.wait_votes(victim, Duration::from_secs(30));
    cluster.kill(leader);
    cluster.wait_leader(Duration::from_secs(30));
    let n = rt.block_on(c.readdir_all(&cr, dir.ino)).unwrap().len();
    assert_eq!(n, 1050);
}
