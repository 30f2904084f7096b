//! Acceptance (issue 2, item 5): malformed or truncated frames sent to the client port (9421)
//! and the Raft port (9419) get the connection closed and a log line; the master keeps
//! serving other clients.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use client::{ClientConfig, MasterClient};
use proto::meta::{Creds, ROOT_INODE};
use raftmfs_tests::{wait_for, Cluster};

/// Byte strings no master may accept.
fn garbage() -> Vec<Vec<u8>> {
    let mut bad_payload = b"RMF1".to_vec();
    bad_payload.extend_from_slice(&5u32.to_be_bytes());
    bad_payload.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff]);
    let mut huge = b"RMF1".to_vec();
    huge.extend_from_slice(&u32::MAX.to_be_bytes());
    let mut random = vec![0u8; 4096];
    rand::Rng::fill(&mut rand::thread_rng(), &mut random[..]);
    vec![b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), bad_payload, huge, random]
}

/// Send `bytes`, then expect the master to close the connection (EOF or reset) in time.
fn expect_closed(addr: &str, bytes: &[u8]) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(bytes);
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("{addr}: expected the connection closed after garbage, got {other:?}"),
    }
}

#[test]
fn garbage_on_client_and_raft_ports_closes_connection_and_master_keeps_serving() {
    let cluster = Cluster::start(25, 3, "");
    let leader = cluster.wait_leader(Duration::from_secs(30));
    let rt = raftmfs_tests::runtime();
    let addrs = cluster.client_addrs();
    let c = rt
        .block_on(MasterClient::connect(ClientConfig::new(&addrs.iter().map(String::as_str).collect::<Vec<_>>())))
        .expect("connect");
    let cr = Creds::root();
    rt.block_on(c.mkdir(&cr, ROOT_INODE, b"before", 0o755)).unwrap();

    let m = &cluster.masters[leader];
    for g in garbage() {
        expect_closed(&m.client_addr(), &g);
        expect_closed(&m.raft_addr(), &g);
    }
    // A truncated frame: valid header, then the peer goes away mid-payload.
    {
        let mut s = TcpStream::connect(m.client_addr()).unwrap();
        let mut f = b"RMF1".to_vec();
        f.extend_from_slice(&100u32.to_be_bytes());
        f.extend_from_slice(&[0u8; 10]);
        s.write_all(&f).unwrap();
    }

    // The established session and the group still work.
    rt.block_on(c.mkdir(&cr, ROOT_INODE, b"after", 0o755)).unwrap();
    assert_eq!(rt.block_on(c.lookup(&cr, ROOT_INODE, b"before")).unwrap().kind, proto::meta::FileType::Dir);
    let st = cluster.status(leader).unwrap();
    assert_eq!(st.role, "leader");

    // Each bad frame was logged and counted.
    let log = wait_for(Duration::from_secs(10), "log lines about bad frames", || {
        let log = std::fs::read_to_string(m.log()).unwrap_or_default();
        (log.matches("after a bad frame").count() >= 9).then_some(log)
    });
    assert!(log.contains("closing client connection after a bad frame"));
    assert!(log.contains("closing raft peer connection after a bad frame"));
    let metrics = cluster.metrics(leader).unwrap();
    assert!(metrics.contains("mfsmaster_bad_frames_total{port=\"client\"}"), "{metrics}");
    assert!(metrics.contains("mfsmaster_bad_frames_total{port=\"raft\"}"));
    // No master panicked.
    for i in 0..3 {
        let log = std::fs::read_to_string(cluster.masters[i].log()).unwrap_or_default();
        assert!(!log.contains("panicked"), "master {} panicked:\n{}", i + 1, cluster.log_tail(i, 40));
    }
}
