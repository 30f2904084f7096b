//! Issue 10, item 7: the data port (9422) serves a request only with a token the leader
//! signed for that chunk, version and kind of operation, and forwards a write only to the
//! chain members the token names.
//!
//! Fails before this change (run against the binaries of 6e55e28): a data request carried no
//! token at all, so any host that reached 9422 read or overwrote any chunk by its id (ids are
//! handed out 1, 2, 3 ...), and a write naming any address as the rest of its chain made the
//! chunkserver push the data there.

use std::time::Duration;

use proto::client::{ChunkLocation, ReadOp, Reply, WriteOp};
use proto::cs::CsError;
use proto::data::{DataCall, DataOp, DataResponse};
use proto::meta::Creds;
use proto::token::DataToken;
use raftmfs_tests::{runtime, Cluster};
use rand::RngCore;

const SIZE: usize = 1 << 20;

/// Where chunk 0 of `ino` is, with the leader's read token, as any client that may read the
/// file is told.
fn locate(c: &Cluster, rt: &tokio::runtime::Runtime, ino: u64) -> ChunkLocation {
    let io = c.file_io(rt);
    match rt.block_on(io.meta.read(&Creds::root(), ReadOp::ChunkRead { ino, index: 0 })) {
        Ok(Reply::Chunk(loc)) => loc,
        other => panic!("chunk read of {ino}: {other:?}"),
    }
}

/// One raw request to a chunkserver's data port.
fn call(rt: &tokio::runtime::Runtime, addr: &str, token: Option<DataToken>, op: DataOp) -> DataResponse {
    rt.block_on(async {
        let conn = proto::rpc::RpcConn::<DataCall, DataResponse>::connect(addr, Duration::from_secs(2))
            .await
            .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        conn.call(DataCall { token, op }, Duration::from_secs(10)).await.expect("call")
    })
}

fn refused(r: &DataResponse) -> bool {
    matches!(r, DataResponse::Error(CsError::Token(_)))
}

fn write_op(loc: &ChunkLocation, chain: Vec<String>) -> DataOp {
    DataOp::Write { chunk_id: loc.chunk_id, version: loc.version, offset: 0, data: vec![0xEE; 4096], chain }
}

#[test]
fn the_data_port_needs_the_leaders_token_for_that_chunk() {
    let c = Cluster::with_chunkservers(86, "", "");
    let m = c.mount(&[]);
    let mut a = vec![0u8; SIZE];
    let mut b = vec![0u8; SIZE];
    rand::thread_rng().fill_bytes(&mut a);
    rand::thread_rng().fill_bytes(&mut b);
    std::fs::write(m.path("a"), &a).unwrap();
    std::fs::write(m.path("b"), &b).unwrap();
    let ino = |n: &str| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(m.path(n)).unwrap());
    let rt = runtime();
    let la = locate(&c, &rt, ino("a"));
    let lb = locate(&c, &rt, ino("b"));
    let ta = la.token.clone().expect("a chunk read answer carries a token");
    let tb = lb.token.clone().expect("a chunk read answer carries a token");
    let server = la.servers[0].clone();
    let read = DataOp::Read { chunk_id: la.chunk_id, version: la.version, offset: 0, size: 4096 };

    // With the leader's token the copy reads (so every refusal below is the token's doing).
    match call(&rt, &server, Some(ta.clone()), read.clone()) {
        DataResponse::Data(d) => assert_eq!(&d[..], &a[..4096]),
        other => panic!("a read with the leader's token: {other:?}"),
    }
    // No token, another chunk's token, a token altered to name this chunk, a forged MAC, a
    // token for another version: all refused.
    assert!(refused(&call(&rt, &server, None, read.clone())), "no token");
    assert!(refused(&call(&rt, &server, Some(tb.clone()), read.clone())), "b's token for a's chunk");
    let renamed = DataToken { chunk_id: la.chunk_id, version: la.version, ..tb.clone() };
    assert!(refused(&call(&rt, &server, Some(renamed), read.clone())), "b's token edited to name a's chunk");
    let mut forged = ta.clone();
    forged.mac[0] ^= 1;
    assert!(refused(&call(&rt, &server, Some(forged), read.clone())), "a forged MAC");
    let other_version = DataOp::Read { chunk_id: la.chunk_id, version: la.version + 1, offset: 0, size: 4096 };
    assert!(refused(&call(&rt, &server, Some(ta.clone()), other_version)), "another version");
    // A read token does not write, truncate or sync.
    let chain: Vec<String> = Vec::new();
    assert!(refused(&call(&rt, &server, Some(ta.clone()), write_op(&la, chain.clone()))), "write on a read token");
    let trunc = DataOp::Truncate { chunk_id: la.chunk_id, version: la.version, length: 0, chain: chain.clone() };
    assert!(refused(&call(&rt, &server, Some(ta.clone()), trunc)), "truncate on a read token");

    // A write token names its chain: the chunkserver forwards to no one else, and a server
    // not in the chain refuses it.
    let io = c.file_io(&rt);
    let w = match rt
        .block_on(io.meta.write(&Creds::root(), WriteOp::ChunkWrite { ino: ino("a"), index: 0, failed: vec![] }))
    {
        Ok(Reply::Chunk(loc)) => loc,
        other => panic!("chunk write of a: {other:?}"),
    };
    let tw = w.token.clone().expect("a chunk write answer carries a token");
    let head = w.servers[0].clone();
    let stranger = "127.0.86.99:9422".to_string();
    let mut detour = w.servers[1..].to_vec();
    detour.push(stranger.clone());
    let r = call(&rt, &head, Some(tw.clone()), write_op(&w, detour));
    assert!(
        matches!(&r, DataResponse::Error(CsError::Token(why)) if why.contains(&stranger)),
        "a chain with a stranger in it: {r:?}"
    );
    let outsider =
        c.chunkservers.iter().map(|s| s.data_addr()).find(|a| !w.servers.contains(a)).expect("a third server");
    assert!(refused(&call(&rt, &outsider, Some(tw.clone()), write_op(&w, vec![]))), "a server outside the chain");
    // The chain the leader named takes the write.
    let r = call(&rt, &head, Some(tw), write_op(&w, w.servers[1..].to_vec()));
    assert!(matches!(r, DataResponse::Done), "the leader's chain: {r:?}");

    // Every refusal was counted, and b was never touched.
    let refusals: f64 = (0..c.chunkservers.len())
        .filter_map(|i| c.cs_metrics(i))
        .flat_map(|m| m.lines().map(str::to_string).collect::<Vec<_>>())
        .filter(|l| l.starts_with("mfschunkserver_token_refusals_total"))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .sum();
    assert!(refusals >= 9.0, "token refusals counted: {refusals}");
    assert_eq!(std::fs::read(m.path("b")).unwrap(), b);
}
