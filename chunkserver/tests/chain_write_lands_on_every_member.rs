//! A write, truncate or sync sent to the first chunkserver of a chain lands on every
//! member; a dead or refusing member makes the answer a `Chain` error naming it.

mod common;

use common::*;
use proto::cs::CsError;
use proto::data::{DataOp, BLOCK_SIZE};

async fn three_with_chunk(id: u64, version: u32) -> Vec<TestCs> {
    let mut v = Vec::new();
    for _ in 0..3 {
        let cs = TestCs::start_serving().await;
        cs.running().store().create(id, version).await.unwrap();
        v.push(cs);
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_chain_write_lands_on_all_three() {
    let cs = three_with_chunk(77, 4).await;
    let addrs: Vec<String> = cs.iter().map(|c| c.data_addr()).collect();
    assert_eq!(addrs.iter().collect::<std::collections::HashSet<_>>().len(), 3, "three different ports");
    let first = connect(&addrs[0]).await;
    let data = random_bytes(3 * BLOCK_SIZE as usize + 123, 1);
    write(&first, 77, 4, 1000, &data, &addrs[1..]).await.unwrap();
    let trunc = DataOp::Truncate { chunk_id: 77, version: 4, length: 2 * BLOCK_SIZE + 50, chain: addrs[1..].to_vec() };
    done(&first, trunc).await.unwrap();
    done(&first, DataOp::Sync { chunk_id: 77, version: 4, chain: addrs[1..].to_vec() }).await.unwrap();
    let mut expect = vec![0u8; 1000];
    expect.extend_from_slice(&data);
    expect.truncate(2 * BLOCK_SIZE as usize + 50);
    expect.resize(3 * BLOCK_SIZE as usize, 0);
    for a in &addrs {
        let c = connect(a).await;
        assert_eq!(read(&c, 77, 4, 0, 3 * BLOCK_SIZE).await.unwrap(), expect, "on {a}");
    }
    // The chunk files are byte-identical on all three.
    let files: Vec<Vec<u8>> = cs.iter().map(|c| std::fs::read(c.chunk_file(77, 4)).unwrap()).collect();
    assert_eq!(files[0], files[1]);
    assert_eq!(files[1], files[2]);
}

#[tokio::test]
async fn a_dead_chain_member_is_named() {
    let cs = three_with_chunk(78, 1).await;
    let addrs: Vec<String> = cs.iter().map(|c| c.data_addr()).collect();
    let dead = dead_addr().await;
    let first = connect(&addrs[0]).await;
    // The last member is dead.
    let r = write(&first, 78, 1, 0, b"abc", &[addrs[1].clone(), dead.clone()]).await;
    assert!(matches!(&r, Err(CsError::Chain { addr, .. }) if *addr == dead), "{r:?}");
    // The second member is dead: the third is never reached, the dead one is named.
    let r = write(&first, 78, 1, 0, b"abc", &[dead.clone(), addrs[2].clone()]).await;
    assert!(matches!(&r, Err(CsError::Chain { addr, .. }) if *addr == dead), "{r:?}");
    // A member that refuses (wrong version there) is named too, with its reason.
    cs[2].running().store().set_version(78, vec![1], 2).await.unwrap();
    let r = write(&first, 78, 1, 0, b"abc", &addrs[1..]).await;
    match r {
        Err(CsError::Chain { addr, reason }) => {
            assert_eq!(addr, addrs[2]);
            assert!(reason.contains("version 2"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // A member stopped after it served once: its pooled connection breaks, it is named.
    let mut cs = cs;
    cs[2].running().store().set_version(78, vec![2], 1).await.unwrap();
    write(&first, 78, 1, 0, b"abc", &addrs[1..]).await.unwrap();
    cs[1].stop().await;
    let r = write(&first, 78, 1, 0, b"abc", &addrs[1..]).await;
    assert!(matches!(&r, Err(CsError::Chain { addr, .. }) if *addr == addrs[1]), "{r:?}");
}
