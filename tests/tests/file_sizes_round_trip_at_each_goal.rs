//! Acceptance (issue 3, item 1): files of 0, 1, 65535, 65536, 65537 bytes, 64 MiB ± 1 and
//! 200 MiB of random data, written and read back through the client library, equal by
//! SHA-256, with goal 1, 2 and 3 on three chunkservers, and the right number of chunk files
//! on disk for each goal.

use proto::client::{ReadOp, Reply, WriteOp};
use proto::meta::{Creds, CHUNK_SIZE, ROOT_INODE};
use raftmfs_tests::Cluster;
use rand::RngCore;
use sha2::{Digest, Sha256};

const MIB: usize = 1 << 20;

fn sha(d: &[u8]) -> String {
    Sha256::digest(d).iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn files_of_every_size_round_trip_at_goal_1_2_3() {
    let cluster = Cluster::with_chunkservers(31, "REPLICATIONS_DELAY_INIT = 0", "");
    let rt = raftmfs_tests::runtime();
    let io = cluster.file_io(&rt);
    let cr = Creds::root();
    let sizes = [0, 1, 65535, 65536, 65537, 64 * MIB - 1, 64 * MIB, 64 * MIB + 1, 200 * MIB];
    let mut big = vec![0u8; 200 * MIB + 100];
    rand::thread_rng().fill_bytes(&mut big);
    for goal in 1..=3u8 {
        let dir = rt.block_on(io.meta.mkdir(&cr, ROOT_INODE, format!("goal{goal}").as_bytes(), 0o755)).unwrap();
        rt.block_on(io.meta.write(&cr, WriteOp::SetGoal { ino: dir.ino, goal, recursive: false })).unwrap();
        for (k, &size) in sizes.iter().enumerate() {
            // A different slice of the random buffer per file, so files differ.
            let data = &big[k * 7..k * 7 + size.min(big.len() - k * 7)];
            assert_eq!(data.len(), size);
            let name = format!("f{size}");
            let attr = rt.block_on(io.write_file(&cr, dir.ino, name.as_bytes(), data, MIB)).unwrap();
            assert_eq!(attr.size, size as u64, "size after writing {name} at goal {goal}");
            assert_eq!(attr.goal, goal);
            let back = rt.block_on(io.read_file(&cr, attr.ino)).unwrap();
            assert_eq!(sha(&back), sha(data), "{name} at goal {goal} read back differently");
            // Chunk files on disk: `goal` copies of every chunk, on distinct servers.
            let chunks = match rt.block_on(io.meta.read(&cr, ReadOp::FileChunks { ino: attr.ino, from: 0 })).unwrap() {
                Reply::Chunks(c) => c,
                other => panic!("{other:?}"),
            };
            let expected_chunks = (size as u64).div_ceil(CHUNK_SIZE) as usize;
            assert_eq!(chunks.len(), expected_chunks, "{name}: chunk count");
            for c in &chunks {
                let holders: Vec<usize> = (0..3)
                    .filter(|&i| {
                        cluster.chunkservers[i]
                            .chunk_files()
                            .iter()
                            .any(|(id, v, _)| *id == c.chunk_id && *v == c.version)
                    })
                    .collect();
                assert_eq!(
                    holders.len(),
                    goal as usize,
                    "{name} chunk {} at goal {goal}: files on {holders:?}",
                    c.chunk_id
                );
                assert_eq!(c.servers.len(), goal as usize);
            }
        }
    }
}
