//! Damage is per block: `RepairBlocks` rewrites a copy's bad blocks from other copies (two
//! copies bad in different blocks repair each other), a block bad on every copy stays bad and
//! is said so, a copy of another version lends a block only where its bytes match the CRC the
//! damaged copy stored, and `Replicate` takes each block from a source that has it good.

mod common;

use std::os::unix::fs::FileExt;

use common::*;
use proto::cs::{CommandReply, CsCommand, RepairSource};
use proto::data::{BLOCK_SIZE, MAX_IO};

const B: usize = BLOCK_SIZE as usize;

/// Flip a byte of block `b` of a chunk file.
fn flip(cs: &TestCs, id: u64, version: u32, b: u64) {
    let f = std::fs::OpenOptions::new().read(true).write(true).open(cs.chunk_file(id, version)).unwrap();
    let pos = chunkserver::chunk_file::DATA_OFFSET + b * BLOCK_SIZE as u64 + 1234;
    let mut x = [0u8];
    f.read_exact_at(&mut x, pos).unwrap();
    f.write_all_at(&[x[0] ^ 0x08], pos).unwrap();
}

/// A chunkserver registered with `master` (term 1).
async fn registered(master: &FakeMaster) -> (TestCs, MasterConn) {
    let cs = TestCs::start(&master.addr).await;
    let mut m = master.accept().await;
    m.registration().await;
    m.welcome(1).await;
    cs.wait_keyed().await;
    (cs, m)
}

/// Chunk `id` at `version` with `data` on each of `servers` (written down a chain).
async fn put(servers: &[&TestCs], id: u64, version: u32, data: &[u8]) {
    for s in servers {
        s.running().store().create(id, version).await.unwrap();
    }
    let chain: Vec<String> = servers[1..].iter().map(|s| s.data_addr()).collect();
    let conn = connect(&servers[0].data_addr()).await;
    for (i, piece) in data.chunks(MAX_IO as usize).enumerate() {
        write(&conn, id, version, (i * MAX_IO as usize) as u32, piece, &chain).await.unwrap();
    }
}

/// Fails before this change: no `RepairBlocks` existed, and the first damage report made the
/// leader delete the copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn copies_bad_in_different_blocks_repair_each_other() {
    let master = FakeMaster::bind().await;
    let (a, mut ma) = registered(&master).await;
    let (b, mut mb) = registered(&master).await;
    let data = random_bytes(6 * B, 21);
    put(&[&a, &b], 0x77, 3, &data).await;
    flip(&a, 0x77, 3, 1);
    flip(&b, 0x77, 3, 4);
    flip(&b, 0x77, 3, 5);
    // Found by the scrubber's check (a read would do the same).
    a.running().store().verify(0x77).await.unwrap();
    b.running().store().verify(0x77).await.unwrap();
    assert_eq!(ma.damage_report().await.blocks, vec![1]);
    assert_eq!(mb.damage_report().await.blocks, vec![4, 5]);

    let repair = |blocks: Vec<u32>, from: &TestCs| CsCommand::RepairBlocks {
        id: 0x77,
        version: 3,
        blocks,
        sources: vec![from.data_addr()],
        others: vec![],
    };
    assert_eq!(ma.command_reply(1, 1, repair(vec![1], &b)).await, Ok(CommandReply::Repaired { bad: vec![] }));
    assert_eq!(mb.command_reply(1, 1, repair(vec![4, 5], &a)).await, Ok(CommandReply::Repaired { bad: vec![] }));
    for s in [&a, &b] {
        let conn = connect(&s.data_addr()).await;
        assert_eq!(read(&conn, 0x77, 3, 0, 6 * BLOCK_SIZE).await.unwrap(), data);
    }
    let fa = std::fs::read(a.chunk_file(0x77, 3)).unwrap();
    assert!(fa == std::fs::read(b.chunk_file(0x77, 3)).unwrap(), "both copies whole and identical again");
    let (_, metrics) = http_get(&b.http_addr(), "/metrics").await;
    assert!(metrics.contains("mfschunkserver_block_repairs_total{result=\"ok\"} 2"), "{metrics}");
    assert!(metrics.contains("mfschunkserver_bad_blocks 0"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_block_bad_everywhere_stays_bad_and_an_old_copy_lends_only_matching_blocks() {
    let master = FakeMaster::bind().await;
    let (a, mut m) = registered(&master).await;
    let c = TestCs::start_serving().await;
    let old = TestCs::start_serving().await;
    let data = random_bytes(4 * B, 31);
    put(&[&a, &c], 0x88, 3, &data).await;
    // An older version of the chunk: block 2 was rewritten since, the rest is the same.
    let mut before = data.clone();
    before[2 * B..3 * B].copy_from_slice(&random_bytes(B, 32));
    put(&[&old], 0x88, 2, &before).await;
    for s in [&a, &c] {
        flip(s, 0x88, 3, 1);
        flip(s, 0x88, 3, 2);
        s.running().store().verify(0x88).await.unwrap();
    }
    let cmd = CsCommand::RepairBlocks {
        id: 0x88,
        version: 3,
        blocks: vec![1, 2],
        sources: vec![c.data_addr()],
        others: vec![RepairSource { addr: old.data_addr(), version: 2 }],
    };
    // Block 1: bad on c, the old copy's matches what a stored. Block 2: bad on c, and the old
    // copy's predates a write: it stays bad.
    assert_eq!(m.command_reply(1, 1, cmd).await, Ok(CommandReply::Repaired { bad: vec![2] }));
    let conn = connect(&a.data_addr()).await;
    assert_eq!(read(&conn, 0x88, 3, 0, 2 * BLOCK_SIZE).await.unwrap(), data[..2 * B]);
    assert_eq!(read(&conn, 0x88, 3, 2 * BLOCK_SIZE, 1).await, Err(proto::cs::CsError::Crc { block: 2 }));
    assert_eq!(read(&conn, 0x88, 3, 3 * BLOCK_SIZE, BLOCK_SIZE).await.unwrap(), data[3 * B..]);
}

/// Fails before this change: replication read the whole chunk from one source at a time, so
/// two sources damaged in different blocks could not make a copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_takes_each_block_from_a_source_that_has_it_good() {
    let master = FakeMaster::bind().await;
    let (t, mut m) = registered(&master).await;
    let a = TestCs::start_serving().await;
    let b = TestCs::start_serving().await;
    // More than one 4 MiB read, ending in a partial block.
    let data = random_bytes(70 * B + 999, 41);
    put(&[&a, &b], 0x99, 5, &data).await;
    flip(&a, 0x99, 5, 1);
    flip(&a, 0x99, 5, 66);
    flip(&b, 0x99, 5, 3);
    let sources = vec![a.data_addr(), b.data_addr()];
    m.command(1, 1, CsCommand::Replicate { id: 0x99, version: 5, sources }).await.unwrap();
    let conn = connect(&t.data_addr()).await;
    let mut got = read(&conn, 0x99, 5, 0, MAX_IO).await.unwrap();
    got.extend(read(&conn, 0x99, 5, MAX_IO, 71 * BLOCK_SIZE - MAX_IO).await.unwrap());
    assert!(got[..data.len()] == data[..], "the replica holds every byte");
    t.running().store().verify(0x99).await.unwrap();
    assert!(t.running().store().damage().all().is_empty(), "{:?}", t.running().store().damage().all());
    // The sources found their own bad blocks on the way.
    assert_eq!(a.running().store().damage().bad_blocks(0x99).into_iter().collect::<Vec<_>>(), vec![1, 66]);
    assert_eq!(b.running().store().damage().bad_blocks(0x99).into_iter().collect::<Vec<_>>(), vec![3]);
}
