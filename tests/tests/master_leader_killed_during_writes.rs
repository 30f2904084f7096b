//! Acceptance (issue 3, item 6): SIGKILL of the master leader during writes: chunkservers
//! re-register with the new leader and the writes finish.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use proto::client::WriteOp;
use proto::meta::{Creds, ROOT_INODE};
use raftmfs_tests::{wait_for, Cluster};
use rand::RngCore;

#[test]
fn writes_finish_across_a_master_leader_kill() {
    let mut cluster = Cluster::with_chunkservers(36, "REPLICATIONS_DELAY_INIT = 0", "");
    let rt = raftmfs_tests::runtime();
    let io = Arc::new(cluster.file_io(&rt));
    let cr = Creds::root();
    rt.block_on(io.meta.write(&cr, WriteOp::SetGoal { ino: ROOT_INODE, goal: 2, recursive: false })).unwrap();
    let files: Vec<Vec<u8>> = (0..16)
        .map(|_| {
            let mut v = vec![0u8; 6 << 20];
            rand::thread_rng().fill_bytes(&mut v);
            v
        })
        .collect();
    let files = Arc::new(files);
    let done = Arc::new(AtomicU64::new(0));
    let writer = {
        let (io, files, done) = (io.clone(), files.clone(), done.clone());
        rt.spawn(async move {
            let mut inos = Vec::new();
            for (i, f) in files.iter().enumerate() {
                let a = io.write_file(&Creds::root(), ROOT_INODE, format!("f{i}").as_bytes(), f, 1 << 20).await;
                inos.push(a.expect("write finishes across the leader kill").ino);
                done.fetch_add(1, Ordering::Relaxed);
            }
            inos
        })
    };
    wait_for(Duration::from_secs(120), "some files written", || (done.load(Ordering::Relaxed) >= 4).then_some(()));
    let leader = cluster.wait_leader(Duration::from_secs(10));
    cluster.kill(leader);
    let inos = rt.block_on(writer).expect("writer");
    cluster.wait_chunkservers(3, Duration::from_secs(30));
    for (ino, f) in inos.iter().zip(files.iter()) {
        assert_eq!(&rt.block_on(io.read_file(&cr, *ino)).unwrap(), f);
    }
}
