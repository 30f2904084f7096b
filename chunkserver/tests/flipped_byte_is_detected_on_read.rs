//! A byte flipped in a chunk file on disk is caught by the CRC check on read: the reader
//! gets `Crc { block }` (never the bad bytes) for that block only, every other block still
//! reads, the master gets `ChunkDamaged` naming the block (not the copy), and the metrics
//! count it.

mod common;

use std::os::unix::fs::FileExt;

use common::*;
use proto::cs::{CsError, CsToMaster};
use proto::data::BLOCK_SIZE;

#[tokio::test]
async fn a_flipped_byte_fails_the_read_and_is_reported() {
    let master = FakeMaster::bind().await;
    let cs = TestCs::start(&master.addr).await;
    let mut m = master.accept().await;
    m.registration().await;
    m.welcome(1).await;
    cs.wait_keyed().await;

    cs.running().store().create(0x42, 1).await.unwrap();
    let conn = connect(&cs.data_addr()).await;
    let data = random_bytes(3 * BLOCK_SIZE as usize, 9);
    write(&conn, 0x42, 1, 0, &data, &[]).await.unwrap();

    // Flip one byte of block 2 on disk.
    let path = cs.chunk_file(0x42, 1);
    let f = std::fs::OpenOptions::new().read(true).write(true).open(&path).unwrap();
    let pos = chunkserver::chunk_file::DATA_OFFSET + 2 * BLOCK_SIZE as u64 + 4321;
    let mut b = [0u8];
    f.read_exact_at(&mut b, pos).unwrap();
    f.write_all_at(&[b[0] ^ 0x01], pos).unwrap();
    drop(f);

    assert_eq!(read(&conn, 0x42, 1, 2 * BLOCK_SIZE + 4000, 1000).await, Err(CsError::Crc { block: 2 }));
    // Blocks before it still read, and so do blocks after it once it is known bad.
    assert_eq!(read(&conn, 0x42, 1, 0, 2 * BLOCK_SIZE).await.unwrap(), data[..2 * BLOCK_SIZE as usize]);
    assert_eq!(read(&conn, 0x42, 1, 0, 3 * BLOCK_SIZE).await, Err(CsError::Crc { block: 2 }));
    match m.recv_event().await {
        CsToMaster::ChunkDamaged(r) => {
            assert_eq!((r.id, r.version, r.blocks.clone()), (0x42, 1, vec![2]));
            assert!(r.reason.contains("bad blocks 2"), "{}", r.reason);
        }
        other => panic!("expected ChunkDamaged, got {other:?}"),
    }
    let (status, body) = http_get(&cs.http_addr(), "/metrics").await;
    assert_eq!(status, 200);
    assert!(body.contains("mfschunkserver_crc_errors_total 1"), "{body}");
    assert!(body.contains("mfschunkserver_bad_blocks 1"), "{body}");
    assert!(body.contains("mfschunkserver_damaged_copies 1"), "{body}");
    let (_, status_json) = http_get(&cs.http_addr(), "/api/v1/status").await;
    let v: serde_json::Value = serde_json::from_str(&status_json).unwrap();
    assert_eq!(v["damaged"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn the_scrubber_finds_a_flipped_byte_without_any_read() {
    let master = FakeMaster::bind().await;
    let cs = TestCs::start_with(&master.addr, "HDD_TEST_FREQ = 1").await;
    let mut m = master.accept().await;
    m.registration().await;
    m.welcome(1).await;
    cs.wait_keyed().await;
    cs.running().store().create(0x43, 2).await.unwrap();
    let conn = connect(&cs.data_addr()).await;
    write(&conn, 0x43, 2, 0, &vec![0x11u8; BLOCK_SIZE as usize], &[]).await.unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(cs.chunk_file(0x43, 2)).unwrap();
    f.write_all_at(b"\xFF\xFF", chunkserver::chunk_file::DATA_OFFSET + 10).unwrap();
    drop(f);
    match m.recv_event().await {
        CsToMaster::ChunkDamaged(r) => {
            assert_eq!((r.id, r.version, r.blocks.clone()), (0x43, 2, vec![0]));
            assert!(r.reason.contains("scrub"), "{}", r.reason);
        }
        other => panic!("expected ChunkDamaged, got {other:?}"),
    }
}

#[tokio::test]
async fn known_damage_goes_with_every_registration() {
    let master = FakeMaster::bind().await;
    let cs = TestCs::start(&master.addr).await;
    let mut m = master.accept().await;
    m.registration().await;
    m.welcome(1).await;
    cs.wait_keyed().await;
    cs.running().store().create(0x44, 1).await.unwrap();
    let conn = connect(&cs.data_addr()).await;
    write(&conn, 0x44, 1, 0, &random_bytes(2 * BLOCK_SIZE as usize, 3), &[]).await.unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(cs.chunk_file(0x44, 1)).unwrap();
    f.write_all_at(b"\xAA", chunkserver::chunk_file::DATA_OFFSET + BLOCK_SIZE as u64 + 9).unwrap();
    drop(f);
    assert_eq!(read(&conn, 0x44, 1, BLOCK_SIZE, 10).await, Err(CsError::Crc { block: 1 }));
    assert_eq!(m.damage_report().await.blocks, vec![1]);
    // The leader goes away; the next one hears of the damage with the copies themselves.
    drop(m);
    let mut m = master.accept().await;
    let reg = m.registration().await;
    assert_eq!(reg.damaged.len(), 1);
    assert_eq!((reg.damaged[0].id, reg.damaged[0].version, reg.damaged[0].blocks.clone()), (0x44, 1, vec![1]));
}
