//! Acceptance (issue 3, item 4): a chunkserver restarted with an older version of a chunk:
//! the stale copy is deleted.

use std::time::Duration;

use proto::client::{ReadOp, Reply, WriteOp};
use proto::meta::{Creds, ROOT_INODE};
use raftmfs_tests::{wait_for, Cluster};

#[test]
fn restarted_chunkserver_with_old_version_loses_its_stale_copy() {
    let mut cluster =
        Cluster::with_chunkservers(34, "REPLICATIONS_DELAY_INIT = 0\nREPLICATIONS_DELAY_DISCONNECT = 1", "");
    let rt = raftmfs_tests::runtime();
    let io = cluster.file_io(&rt);
    let cr = Creds::root();
    rt.block_on(io.meta.write(&cr, WriteOp::SetGoal { ino: ROOT_INODE, goal: 2, recursive: false })).unwrap();
    let attr = rt.block_on(io.write_file(&cr, ROOT_INODE, b"f", &vec![7u8; 1 << 20], 1 << 20)).unwrap();
    let Reply::Chunks(c) = rt.block_on(io.meta.read(&cr, ReadOp::FileChunks { ino: attr.ino, from: 0 })).unwrap()
    else {
        panic!()
    };
    let (id, old_version) = (c[0].chunk_id, c[0].version);
    let victim = (0..3).find(|&i| c[0].servers.contains(&cluster.chunkservers[i].data_addr())).unwrap();
    cluster.kill_chunkserver(victim);
    // Overwrite while it is down: the version moves on without it.
    rt.block_on(io.write(&cr, attr.ino, 0, &[9u8; 4096])).unwrap();
    rt.block_on(io.fsync(&cr, attr.ino)).unwrap();
    let Reply::Chunks(c) = rt.block_on(io.meta.read(&cr, ReadOp::FileChunks { ino: attr.ino, from: 0 })).unwrap()
    else {
        panic!()
    };
    assert!(c[0].version > old_version);
    assert!(cluster.chunkservers[victim].chunk_files().iter().any(|(i, v, _)| *i == id && *v == old_version));
    cluster.start_chunkserver(victim);
    wait_for(Duration::from_secs(60), "the stale copy deleted", || {
        (!cluster.chunkservers[victim].chunk_files().iter().any(|(i, v, _)| *i == id && *v == old_version))
            .then_some(())
    });
    let back = rt.block_on(io.read_file(&cr, attr.ino)).unwrap();
    assert_eq!(&back[..4096], &[9u8; 4096][..]);
    assert!(back[4096..].iter().all(|&b| b == 7));
}
