//! A fake master (a listener speaking `proto::cs` frames) sees the chunkserver register
//! with its scanned chunks, sends it commands and gets `CommandDone`; a command from an
//! older term gets `StaleTerm` and changes nothing.

mod common;

use common::*;
use proto::cs::{ChunkReport, CommandReply, CsCommand, CsError, CsToMaster, MasterToCs};

#[tokio::test]
async fn register_then_create_set_version_delete_and_stale_terms() {
    // Chunks already on disk from an earlier run.
    let master = FakeMaster::bind().await;
    let mut cs = TestCs::start(NO_MASTER).await;
    cs.running().store().create(0x11, 1).await.unwrap();
    cs.running().store().create(0x22, 4).await.unwrap();
    cs.stop().await;
    cs.cfg.masters = vec![master.addr.clone()];
    cs.restart().await;

    let mut m = master.accept().await;
    let reg = m.registration().await;
    assert_eq!(
        reg.chunks,
        vec![
            ChunkReport { id: 0x11, version: 1, to_remove: false },
            ChunkReport { id: 0x22, version: 4, to_remove: false }
        ]
    );
    assert_eq!(reg.data_addr, cs.data_addr());
    assert_eq!(reg.http_addr, cs.http_addr());
    let (status, _) = http_get(&cs.http_addr(), "/health").await;
    assert_eq!(status, 503, "not healthy before Welcome");

    m.welcome(5).await;
    m.command(1, 5, CsCommand::Create { id: 0x33, version: 1 }).await.unwrap();
    assert!(cs.chunk_file(0x33, 1).exists());
    m.command(2, 5, CsCommand::SetVersion { id: 0x33, expect: vec![1], new_version: 2 }).await.unwrap();
    assert!(cs.chunk_file(0x33, 2).exists() && !cs.chunk_file(0x33, 1).exists());
    let r = m.command(3, 5, CsCommand::SetVersion { id: 0x33, expect: vec![1], new_version: 3 }).await;
    assert_eq!(r, Err(CsError::WrongVersion { have: 2 }));
    m.command(4, 5, CsCommand::Delete { id: 0x33, version: 2 }).await.unwrap();
    assert!(!cs.chunk_file(0x33, 2).exists());
    assert_eq!(m.command(5, 5, CsCommand::Delete { id: 0x33, version: 0 }).await, Err(CsError::NoChunk));
    // Create replaces any existing copy: the master is authoritative for ids.
    m.command(6, 5, CsCommand::Create { id: 0x22, version: 9 }).await.unwrap();
    assert!(cs.chunk_file(0x22, 9).exists() && !cs.chunk_file(0x22, 4).exists());

    // An older term is refused without touching anything.
    let r = m.command(7, 3, CsCommand::Delete { id: 0x11, version: 0 }).await;
    assert_eq!(r, Err(CsError::StaleTerm { got: 3, seen: 5 }));
    assert!(cs.chunk_file(0x11, 1).exists());
    // A newer term raises the highest seen; the one between is then stale.
    m.command(8, 7, CsCommand::Create { id: 0x44, version: 1 }).await.unwrap();
    let r = m.command(9, 6, CsCommand::Delete { id: 0x44, version: 0 }).await;
    assert_eq!(r, Err(CsError::StaleTerm { got: 6, seen: 7 }));
    assert!(cs.chunk_file(0x44, 1).exists());
    assert_eq!(cs.running().link().term(), 7);

    let (status, _) = http_get(&cs.http_addr(), "/health").await;
    assert_eq!(status, 200);
    let (_, body) = http_get(&cs.http_addr(), "/api/v1/status").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["master"], serde_json::json!(master.addr));
    assert_eq!(v["term"], 7);
    assert_eq!(v["chunks"], 3);
    assert_eq!(v["data_addr"], serde_json::json!(cs.data_addr()));
    let (_, metrics) = http_get(&cs.http_addr(), "/metrics").await;
    assert!(metrics.contains("mfschunkserver_master_connected 1"), "{metrics}");
    assert!(metrics.contains("mfschunkserver_term 7"), "{metrics}");
    assert!(metrics.contains("mfschunkserver_commands_total{cmd=\"delete\",result=\"stale_term\"} 2"), "{metrics}");
    // Heartbeats flow with the space report.
    loop {
        if let CsToMaster::Heartbeat { space } = m.recv().await {
            assert_eq!(space.chunks, 3);
            break;
        }
    }
}

#[tokio::test]
async fn commands_run_concurrently() {
    let master = FakeMaster::bind().await;
    let _cs = TestCs::start(&master.addr).await;
    let mut m = master.accept().await;
    m.registration().await;
    m.welcome(1).await;
    for i in 0..50u64 {
        m.send(MasterToCs::Command { req_id: i, term: 1, cmd: CsCommand::Create { id: 1000 + i, version: 1 } }).await;
    }
    let mut done = std::collections::HashSet::new();
    while done.len() < 50 {
        if let CsToMaster::CommandDone { req_id, result } = m.recv().await {
            assert_eq!(result, Ok(CommandReply::Done));
            done.insert(req_id);
        }
    }
}
