//! `Replicate` copies a chunk from another chunkserver's data port, block by block with
//! CRC checks, into a byte-identical chunk file; a bad source is skipped for the next one,
//! and a source serving damaged data leaves nothing behind.

mod common;

use std::os::unix::fs::FileExt;

use common::*;
use proto::cs::{CsCommand, CsError};
use proto::data::{BLOCK_SIZE, MAX_IO};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replication_between_two_chunkservers_is_byte_identical() {
    let source = TestCs::start_serving().await;
    let master = FakeMaster::bind().await;
    let target = TestCs::start(&master.addr).await;
    let mut m = master.accept().await;
    m.registration().await;
    m.welcome(3).await;

    // More than one MAX_IO read, ending in a partial block.
    let len = MAX_IO as usize + 5 * BLOCK_SIZE as usize + 999;
    let data = random_bytes(len, 11);
    source.running().store().create(0x5EED, 7).await.unwrap();
    let conn = connect(&source.data_addr()).await;
    for (i, piece) in data.chunks(MAX_IO as usize).enumerate() {
        write(&conn, 0x5EED, 7, (i * MAX_IO as usize) as u32, piece, &[]).await.unwrap();
    }

    // The first source is dead: the next one is used.
    let sources = vec![dead_addr().await, source.data_addr()];
    m.command(1, 3, CsCommand::Replicate { id: 0x5EED, version: 7, sources }).await.unwrap();
    let a = std::fs::read(source.chunk_file(0x5EED, 7)).unwrap();
    let b = std::fs::read(target.chunk_file(0x5EED, 7)).unwrap();
    assert_eq!(a.len(), b.len());
    assert!(a == b, "replica differs from the source");
    let tconn = connect(&target.data_addr()).await;
    assert_eq!(read(&tconn, 0x5EED, 7, 0, len as u32 - MAX_IO).await.unwrap(), data[..len - MAX_IO as usize]);
    assert!(target.running().store().chunk_list().iter().any(|c| c.id == 0x5EED && c.version == 7));
    // Only the final file is in the folder: no temporary left.
    let folder = target.chunk_file(0x5EED, 7).parent().unwrap().to_path_buf();
    assert_eq!(std::fs::read_dir(&folder).unwrap().count(), 1);

    let (_, metrics) = http_get(&target.http_addr(), "/metrics").await;
    assert!(metrics.contains("mfschunkserver_replications_total{result=\"ok\"} 1"), "{metrics}");
    assert!(metrics.contains("mfschunkserver_commands_total{cmd=\"replicate\",result=\"ok\"} 1"), "{metrics}");
}

#[tokio::test]
async fn a_damaged_source_fails_the_replication_and_leaves_nothing() {
    let source = TestCs::start_serving().await;
    let master = FakeMaster::bind().await;
    let target = TestCs::start(&master.addr).await;
    let mut m = master.accept().await;
    m.registration().await;
    m.welcome(1).await;
    source.running().store().create(9, 1).await.unwrap();
    let conn = connect(&source.data_addr()).await;
    write(&conn, 9, 1, 0, &vec![0x22u8; 2 * BLOCK_SIZE as usize], &[]).await.unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(source.chunk_file(9, 1)).unwrap();
    f.write_all_at(b"\x00", chunkserver::chunk_file::DATA_OFFSET + BLOCK_SIZE as u64 + 1).unwrap();
    drop(f);

    let r = m.command(1, 1, CsCommand::Replicate { id: 9, version: 1, sources: vec![source.data_addr()] }).await;
    match r {
        Err(CsError::Chain { addr, reason }) => {
            assert_eq!(addr, source.data_addr());
            assert!(reason.contains("CRC"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(target.running().store().chunk_list().is_empty());
    let folder = target.chunk_file(9, 1).parent().unwrap().to_path_buf();
    assert_eq!(std::fs::read_dir(&folder).unwrap().count(), 0, "no temporary file left");
    // Asking for a version the source does not have fails too.
    let r = m.command(2, 1, CsCommand::Replicate { id: 9, version: 2, sources: vec![source.data_addr()] }).await;
    assert!(matches!(r, Err(CsError::Chain { .. })), "{r:?}");
}
