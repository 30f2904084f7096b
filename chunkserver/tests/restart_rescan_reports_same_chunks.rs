//! A chunkserver stopped and started again on the same disks finds the same chunks (ids,
//! versions, data) and reports them at registration.

mod common;

use common::*;
use proto::cs::CsCommand;
use proto::data::BLOCK_SIZE;

#[tokio::test]
async fn restart_reports_the_same_chunks_with_their_data() {
    let master = FakeMaster::bind().await;
    let mut cs = TestCs::start(&master.addr).await;
    let mut m = master.accept().await;
    assert!(m.registration().await.chunks.is_empty());
    m.welcome(1).await;
    let mut req = 0;
    for id in [0x1u64, 0xFF, 0x100, 0xABCDEF0123] {
        req += 1;
        m.command(req, 1, CsCommand::Create { id, version: 1 }).await.unwrap();
    }
    req += 1;
    m.command(req, 1, CsCommand::SetVersion { id: 0xFF, expect: vec![1], new_version: 3 }).await.unwrap();
    let conn = connect(&cs.data_addr()).await;
    let data = random_bytes(2 * BLOCK_SIZE as usize + 5, 3);
    write(&conn, 0x100, 1, 17, &data, &[]).await.unwrap();
    let before = cs.running().store().chunk_list();
    assert_eq!(before.len(), 4);

    cs.restart().await;
    let mut m2 = master.accept().await;
    let reg = m2.registration().await;
    assert_eq!(reg.chunks, before);
    // A restarted server holds no token key until a leader welcomes it.
    m2.welcome(1).await;
    cs.wait_keyed().await;
    let conn = connect(&cs.data_addr()).await;
    assert_eq!(read(&conn, 0x100, 1, 17, data.len() as u32).await.unwrap(), data);
    assert_eq!(read(&conn, 0xFF, 3, 0, 1).await.unwrap(), vec![0]);
}

#[tokio::test]
async fn a_second_chunkserver_on_the_same_disks_is_refused() {
    let cs = TestCs::start(NO_MASTER).await;
    let r = chunkserver::run(cs.cfg.clone()).await;
    assert!(r.is_err(), "two chunkservers on one disk");
}
