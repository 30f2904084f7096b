//! Acceptance (issue 3, item 2): SIGKILL of one chunkserver in the middle of a 200 MiB write
//! at goal 2: the write completes and the file reads back correctly; once the server is
//! declared lost, the leader restores goal 2 on the others.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use proto::client::{ReadOp, Reply, WriteOp};
use proto::meta::{Creds, ROOT_INODE};
use raftmfs_tests::{wait_for, Cluster};
use rand::RngCore;
use sha2::{Digest, Sha256};

#[test]
fn chunkserver_killed_mid_write_then_goal_restored() {
    let mut cluster =
        Cluster::with_chunkservers(32, "REPLICATIONS_DELAY_INIT = 0\nREPLICATIONS_DELAY_DISCONNECT = 1", "");
    let rt = raftmfs_tests::runtime();
    let io = Arc::new(cluster.file_io(&rt));
    let cr = Creds::root();
    rt.block_on(io.meta.write(&cr, WriteOp::SetGoal { ino: ROOT_INODE, goal: 2, recursive: false })).unwrap();
    let mut data = vec![0u8; 200 << 20];
    rand::thread_rng().fill_bytes(&mut data);
    let data = Arc::new(data);
    let written = Arc::new(AtomicU64::new(0));
    let writer = {
        let (io, data, written) = (io.clone(), data.clone(), written.clone());
        rt.spawn(async move {
            let cr = Creds::root();
            let a = io
                .meta
                .write(
                    &cr,
                    WriteOp::Create {
                        parent: ROOT_INODE,
                        name: b"big".to_vec(),
                        mode: 0o644,
                        umask: 0,
                        exclusive: true,
                    },
                )
                .await
                .unwrap();
            let Reply::Entry(a) = a else { panic!("{a:?}") };
            for (i, piece) in data.chunks(1 << 20).enumerate() {
                io.write(&cr, a.ino, (i << 20) as u64, piece).await.expect("write must complete despite the kill");
                written.fetch_add(piece.len() as u64, Ordering::Relaxed);
            }
            io.fsync(&cr, a.ino).await.expect("fsync");
            a.ino
        })
    };
    wait_for(Duration::from_secs(120), "40 MiB written", || {
        (written.load(Ordering::Relaxed) >= 40 << 20).then_some(())
    });
    // Kill a server that holds a copy of the chunk being written.
    let victim = (0..3).find(|&i| !cluster.chunkservers[i].chunk_files().is_empty()).expect("a server with chunks");
    eprintln!("SIGKILL chunkserver {} after {} MiB", victim + 1, written.load(Ordering::Relaxed) >> 20);
    cluster.kill_chunkserver(victim);
    let ino = rt.block_on(writer).expect("writer task");
    let back = rt.block_on(io.read_file(&cr, ino)).unwrap();
    assert_eq!(Sha256::digest(&back), Sha256::digest(&data[..]), "file read back differently");
    let dead = cluster.chunkservers[victim].data_addr();
    wait_for(Duration::from_secs(120), "goal 2 restored on the surviving chunkservers", || {
        let Ok(Reply::Chunks(chunks)) = rt.block_on(io.meta.read(&cr, ReadOp::FileChunks { ino, from: 0 })) else {
            return None;
        };
        chunks.iter().all(|c| c.servers.len() == 2 && !c.servers.contains(&dead)).then_some(())
    });
    let back = rt.block_on(io.read_file(&cr, ino)).unwrap();
    assert_eq!(Sha256::digest(&back), Sha256::digest(&data[..]));
}
