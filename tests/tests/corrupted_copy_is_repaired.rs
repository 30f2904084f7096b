//! Acceptance (issue 3, item 3; issue 10, item 2): one byte flipped inside a chunk file on
//! disk: reads still return correct data, the bad block is rewritten in place from the good
//! copy (the damaged copy is kept, never deleted and replaced), and the event is logged.

use std::io::{Read, Seek, SeekFrom, Write};
use std::time::Duration;

use proto::client::{ReadOp, Reply, WriteOp};
use proto::data::DataResponse;
use proto::meta::{Creds, ROOT_INODE};
use raftmfs_tests::{wait_for, Cluster};
use rand::RngCore;

/// Read the first `size` bytes of one copy of the file's first chunk, with a reader's token.
fn read_copy(
    cluster: &Cluster,
    rt: &tokio::runtime::Runtime,
    ino: u64,
    addr: &str,
    id: u64,
    version: u32,
    size: u32,
) -> DataResponse {
    let token = cluster.read_token(rt, ino, 0);
    raftmfs_tests::read_copy(rt, addr, &token, id, version, 0, size)
}

#[test]
fn flipped_byte_is_detected_served_around_and_repaired() {
    let cluster = Cluster::with_chunkservers(
        33,
        "REPLICATIONS_DELAY_INIT = 0\nREPLICATIONS_DELAY_DISCONNECT = 1",
        "HDD_TEST_FREQ = 0",
    );
    let rt = raftmfs_tests::runtime();
    let io = cluster.file_io(&rt);
    let cr = Creds::root();
    rt.block_on(io.meta.write(&cr, WriteOp::SetGoal { ino: ROOT_INODE, goal: 2, recursive: false })).unwrap();
    let mut data = vec![0u8; 3 << 20];
    rand::thread_rng().fill_bytes(&mut data);
    let attr = rt.block_on(io.write_file(&cr, ROOT_INODE, b"victim", &data, 1 << 20)).unwrap();
    let Reply::Chunks(chunks) = rt.block_on(io.meta.read(&cr, ReadOp::FileChunks { ino: attr.ino, from: 0 })).unwrap()
    else {
        panic!()
    };
    let chunk = chunks[0].clone();
    assert_eq!(chunk.servers.len(), 2);
    // Flip one byte in the data area of the first server's copy.
    let bad = (0..3).find(|&i| chunk.servers.contains(&cluster.chunkservers[i].data_addr())).unwrap();
    let path = cluster.chunkservers[bad]
        .chunk_files()
        .into_iter()
        .find(|(id, _, _)| *id == chunk.chunk_id)
        .map(|(_, _, p)| p)
        .expect("chunk file");
    {
        let mut f = std::fs::OpenOptions::new().read(true).write(true).open(&path).unwrap();
        let at = 8192 + 100_000;
        let mut b = [0u8; 1];
        f.seek(SeekFrom::Start(at)).unwrap();
        f.read_exact(&mut b).unwrap();
        b[0] ^= 0x5a;
        f.seek(SeekFrom::Start(at)).unwrap();
        f.write_all(&b).unwrap();
        f.sync_all().unwrap();
    }
    // The damaged copy refuses to serve the bad block...
    let bad_addr = cluster.chunkservers[bad].data_addr();
    match read_copy(&cluster, &rt, attr.ino, &bad_addr, chunk.chunk_id, chunk.version, 1 << 20) {
        DataResponse::Error(proto::cs::CsError::Crc { .. }) => {}
        other => panic!("expected a CRC error from the damaged copy, got {other:?}"),
    }
    // ...the file still reads back correctly through the client...
    assert_eq!(rt.block_on(io.read_file(&cr, attr.ino)).unwrap(), data);
    // ...the event is logged...
    let log = std::fs::read_to_string(cluster.chunkservers[bad].log()).unwrap_or_default();
    assert!(log.to_lowercase().contains("crc"), "chunkserver log should report the CRC error:\n{log}");
    // ...and the bad block is repaired where it is: the same two copies, each serving correct
    // bytes.
    let holders = chunk.servers.clone();
    wait_for(Duration::from_secs(60), "the damaged copy repaired", || {
        let Ok(Reply::Chunks(c)) = rt.block_on(io.meta.read(&cr, ReadOp::FileChunks { ino: attr.ino, from: 0 })) else {
            return None;
        };
        let c = &c[0];
        if c.servers.len() != 2 || !c.damaged.is_empty() || c.servers.iter().any(|s| !holders.contains(s)) {
            return None;
        }
        c.servers
            .iter()
            .all(|s| {
                matches!(read_copy(&cluster, &rt, attr.ino, s, c.chunk_id, c.version, 3 << 20),
                    DataResponse::Data(d) if d == data)
            })
            .then_some(())
    });
}
