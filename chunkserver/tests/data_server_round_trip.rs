//! Writes at odd offsets and sizes, across block boundaries, read back exactly over the
//! data port; reads past the stored length return zeros; bad requests are refused.

mod common;

use common::*;
use proto::cs::CsError;
use proto::data::{DataOp, DataResponse, BLOCK_SIZE, MAX_IO};
use proto::meta::CHUNK_SIZE;
use rand::{Rng, SeedableRng};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn random_writes_at_odd_offsets_read_back_exactly() {
    let cs = TestCs::start_serving().await;
    cs.running().store().create(0xC0FFEE, 3).await.unwrap();
    let conn = connect(&cs.data_addr()).await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let region = 12 * BLOCK_SIZE as usize + 777;
    let mut model = vec![0u8; region];
    let mut stored = 0usize;
    for i in 0..40u64 {
        let offset = rng.gen_range(0..region - 1);
        let len = rng.gen_range(1..=(region - offset).min(3 * BLOCK_SIZE as usize));
        let data = random_bytes(len, i);
        write(&conn, 0xC0FFEE, 3, offset as u32, &data, &[]).await.unwrap();
        model[offset..offset + len].copy_from_slice(&data);
        stored = stored.max(offset + len);
    }
    for _ in 0..60 {
        let offset = rng.gen_range(0..region);
        let len = rng.gen_range(0..=(region - offset).min(5 * BLOCK_SIZE as usize));
        let got = read(&conn, 0xC0FFEE, 3, offset as u32, len as u32).await.unwrap();
        assert_eq!(got, model[offset..offset + len], "read {offset}+{len}");
    }
    // The stored length is whole blocks; past it, zeros.
    let blocks = stored.div_ceil(BLOCK_SIZE as usize);
    let (length, crcs) = match call(&conn, DataOp::Info { chunk_id: 0xC0FFEE, version: 3 }).await {
        DataResponse::Info { length, crcs } => (length, crcs),
        other => panic!("{other:?}"),
    };
    assert_eq!(length as usize, blocks * BLOCK_SIZE as usize);
    let mut padded = model.clone();
    padded.resize(length as usize, 0);
    let expect: Vec<u32> = padded.chunks(BLOCK_SIZE as usize).map(crc32fast::hash).collect();
    assert_eq!(crcs, expect);
    let past = read(&conn, 0xC0FFEE, 3, length - 10, 1000).await.unwrap();
    assert_eq!(past[..10], padded[length as usize - 10..]);
    assert!(past[10..].iter().all(|&b| b == 0));
    let far = read(&conn, 0xC0FFEE, 3, CHUNK_SIZE as u32 - 100, 100).await.unwrap();
    assert_eq!(far, vec![0u8; 100]);
}

#[tokio::test]
async fn max_io_round_trip_and_many_requests_in_flight() {
    let cs = TestCs::start_serving().await;
    cs.running().store().create(1, 1).await.unwrap();
    let conn = connect(&cs.data_addr()).await;
    let big = random_bytes(MAX_IO as usize, 7);
    write(&conn, 1, 1, 12345, &big, &[]).await.unwrap();
    assert_eq!(read(&conn, 1, 1, 12345, MAX_IO).await.unwrap(), big);
    let reads: Vec<_> = (0..16u32)
        .map(|i| {
            let conn = conn.clone();
            tokio::spawn(async move { read(&conn, 1, 1, 12345 + i * 1000, 5000).await.unwrap() })
        })
        .collect();
    for (i, r) in reads.into_iter().enumerate() {
        assert_eq!(r.await.unwrap(), big[i * 1000..i * 1000 + 5000]);
    }
}

#[tokio::test]
async fn bad_requests_and_wrong_versions_are_refused() {
    let cs = TestCs::start_serving().await;
    cs.running().store().create(5, 2).await.unwrap();
    let conn = connect(&cs.data_addr()).await;
    assert!(matches!(read(&conn, 5, 2, 0, MAX_IO + 1).await, Err(CsError::BadRequest(_))));
    assert!(matches!(read(&conn, 5, 2, CHUNK_SIZE as u32, 1).await, Err(CsError::BadRequest(_))));
    assert!(matches!(read(&conn, 5, 2, u32::MAX, 1).await, Err(CsError::BadRequest(_))));
    let too_big = vec![0u8; MAX_IO as usize + 1];
    assert!(matches!(write(&conn, 5, 2, 0, &too_big, &[]).await, Err(CsError::BadRequest(_))));
    assert!(matches!(write(&conn, 5, 2, CHUNK_SIZE as u32 - 1, b"xy", &[]).await, Err(CsError::BadRequest(_))));
    let trunc = DataOp::Truncate { chunk_id: 5, version: 2, length: CHUNK_SIZE as u32 + 1, chain: vec![] };
    assert!(matches!(done(&conn, trunc).await, Err(CsError::BadRequest(_))));
    assert_eq!(read(&conn, 5, 1, 0, 1).await, Err(CsError::WrongVersion { have: 2 }));
    assert_eq!(write(&conn, 5, 3, 0, b"x", &[]).await, Err(CsError::WrongVersion { have: 2 }));
    assert_eq!(read(&conn, 6, 1, 0, 1).await, Err(CsError::NoChunk));
    // The connection is still good.
    write(&conn, 5, 2, 0, b"fine", &[]).await.unwrap();
    assert_eq!(read(&conn, 5, 2, 0, 4).await.unwrap(), b"fine");
    done(&conn, DataOp::Sync { chunk_id: 5, version: 2, chain: vec![] }).await.unwrap();
}
