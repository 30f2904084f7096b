//! Garbage on the data port closes that connection (with a warning and a metric) and the
//! server keeps serving everyone else.

mod common;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn closed_after_sending(addr: &str, bytes: &[u8]) -> bool {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    let mut buf = [0u8; 64];
    matches!(tokio::time::timeout(WAIT, s.read(&mut buf)).await, Ok(Ok(0)) | Ok(Err(_)))
}

#[tokio::test]
async fn garbage_closes_the_connection_and_the_server_keeps_serving() {
    let cs = TestCs::start_serving().await;
    cs.running().store().create(1, 1).await.unwrap();
    let good = connect(&cs.data_addr()).await;
    write(&good, 1, 1, 0, b"still here", &[]).await.unwrap();

    assert!(closed_after_sending(&cs.data_addr(), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await);
    // Right magic, absurd length.
    let mut huge = proto::frame::MAGIC.to_vec();
    huge.extend_from_slice(&u32::MAX.to_be_bytes());
    assert!(closed_after_sending(&cs.data_addr(), &huge).await);
    // Right magic and length, undecodable payload.
    let mut bad = proto::frame::MAGIC.to_vec();
    bad.extend_from_slice(&4u32.to_be_bytes());
    bad.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
    assert!(closed_after_sending(&cs.data_addr(), &bad).await);

    // The open connection and new ones still work.
    assert_eq!(read(&good, 1, 1, 0, 10).await.unwrap(), b"still here");
    let fresh = connect(&cs.data_addr()).await;
    assert_eq!(read(&fresh, 1, 1, 0, 5).await.unwrap(), b"still");
    let (_, metrics) = http_get(&cs.http_addr(), "/metrics").await;
    assert!(metrics.contains("mfschunkserver_bad_frames_total 3"), "{metrics}");
}
