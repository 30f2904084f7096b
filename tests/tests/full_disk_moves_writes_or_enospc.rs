//! Acceptance (issue 3, item 5): a chunkserver whose disk is full: writes move to other
//! servers, or fail with ENOSPC when none has room; nothing already written is damaged.
//! The disks are real tmpfs mounts that really fill up.

use std::time::Duration;

use client::ClientError;
use proto::client::WriteOp;
use proto::meta::{Creds, ROOT_INODE};
use proto::Errno;
use raftmfs_tests::Cluster;
use rand::RngCore;

#[test]
fn full_disks_move_writes_then_give_enospc_without_damage() {
    let mut cluster = Cluster::start(35, 3, "REPLICATIONS_DELAY_INIT = 0");
    cluster.add_chunkservers_with_disks(35, &[Some(40), Some(160), Some(160)], "");
    cluster.wait_leader(Duration::from_secs(30));
    cluster.wait_chunkservers(3, Duration::from_secs(30));
    let rt = raftmfs_tests::runtime();
    let io = cluster.file_io(&rt);
    let cr = Creds::root();
    rt.block_on(io.meta.write(&cr, WriteOp::SetGoal { ino: ROOT_INODE, goal: 3, recursive: false })).unwrap();
    let rnd = |n: usize| {
        let mut v = vec![0u8; n];
        rand::thread_rng().fill_bytes(&mut v);
        v
    };
    // Fits everywhere.
    let a = rnd(20 << 20);
    let fa = rt.block_on(io.write_file(&cr, ROOT_INODE, b"a", &a, 1 << 20)).unwrap();
    // Fills the small disk part-way through: the write moves on to the other two.
    let b = rnd(40 << 20);
    let fb = rt.block_on(io.write_file(&cr, ROOT_INODE, b"b", &b, 1 << 20)).expect("write moves to servers with room");
    // More than any disk holds: ENOSPC.
    let c = rnd(200 << 20);
    let r = rt.block_on(io.write_file(&cr, ROOT_INODE, b"c", &c, 1 << 20));
    match r {
        Err(ClientError::Errno(e)) if e == Errno::ENOSPC => {}
        other => panic!("expected ENOSPC, got {other:?}"),
    }
    // Nothing already written was damaged.
    assert_eq!(rt.block_on(io.read_file(&cr, fa.ino)).unwrap(), a);
    assert_eq!(rt.block_on(io.read_file(&cr, fb.ino)).unwrap(), b);
}
