//! A reload of `mfshdd.cfg` scans a new disk in (its chunks reported with `ChunkAdded`),
//! drops a removed disk's chunks (reported with `ChunkLost`), and reports chunks whose
//! disk got the `*` mark again with `to_remove`.

mod common;

use common::*;
use proto::cs::{ChunkReport, CsToMaster};

#[tokio::test]
async fn reload_reports_added_removed_and_marked_chunks() {
    // A disk with a chunk from another chunkserver's life.
    let old = TestCs::start(NO_MASTER).await;
    old.running().store().create(0xD1, 2).await.unwrap();
    let mut old = old;
    old.stop().await;

    let master = FakeMaster::bind().await;
    let cs = TestCs::start(&master.addr).await;
    cs.running().store().create(0xA1, 1).await.unwrap();
    let mut m = master.accept().await;
    m.registration().await;
    m.welcome(1).await;

    let hdd = cs.cfg.hdd_conf.clone();
    std::fs::write(&hdd, format!("{}\n{}\n", cs.disk.display(), old.disk.display())).unwrap();
    cs.running().reload(&cs.cfg).await.unwrap();
    match m.recv_event().await {
        CsToMaster::ChunkAdded { chunk } => assert_eq!(chunk, ChunkReport { id: 0xD1, version: 2, to_remove: false }),
        other => panic!("{other:?}"),
    }
    let conn = connect(&cs.data_addr()).await;
    write(&conn, 0xD1, 2, 0, b"adopted", &[]).await.unwrap();

    // Mark the new disk for removal: its chunk is reported again, to be copied elsewhere.
    std::fs::write(&hdd, format!("{}\n*{}\n", cs.disk.display(), old.disk.display())).unwrap();
    cs.running().reload(&cs.cfg).await.unwrap();
    match m.recv_event().await {
        CsToMaster::ChunkAdded { chunk } => assert_eq!(chunk, ChunkReport { id: 0xD1, version: 2, to_remove: true }),
        other => panic!("{other:?}"),
    }
    // Marked disks count in no space total, but still serve reads.
    assert_eq!(read(&conn, 0xD1, 2, 0, 7).await.unwrap(), b"adopted");

    // Drop it from the list.
    std::fs::write(&hdd, format!("{}\n", cs.disk.display())).unwrap();
    cs.running().reload(&cs.cfg).await.unwrap();
    match m.recv_event().await {
        CsToMaster::ChunkLost { id, version, .. } => assert_eq!((id, version), (0xD1, 2)),
        other => panic!("{other:?}"),
    }
    assert_eq!(cs.running().store().chunk_list(), vec![ChunkReport { id: 0xA1, version: 1, to_remove: false }]);
    assert!(old.chunk_file(0xD1, 2).exists(), "files of a removed disk stay");
}
