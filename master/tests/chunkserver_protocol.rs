//! In-process: a one-master group and fake chunkservers speaking `proto::cs` over 127.0.0.1.
//! Registration, chunk writes (create, version bump), reconciliation of a stale copy,
//! deletion of a removed file's chunks, damage reports (repaired, never deleted), and bad
//! frames on port 9420.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use master::config::MasterConfig;
use master::node::Master;
use proto::client::{ChunkLocation, ReadOp, Reply, RequestBody, ResponseBody, SessionKey, WriteOp, PROTOCOL_VERSION};
use proto::cs::{ChunkReport, CommandReply, CsCommand, CsToMaster, DamageReport, MasterToCs, SpaceReport};
use proto::meta::{Creds, CHUNK_SIZE, ROOT_INODE};
use proto::rpc::RpcConn;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

type Client = RpcConn<RequestBody, ResponseBody>;

const WAIT: Duration = Duration::from_secs(20);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn start_master(dir: &std::path::Path) -> Master {
    let (r, c, h, cs) = (free_port(), free_port(), free_port(), free_port());
    let cfg = MasterConfig::parse(&format!(
        "DATA_PATH = {}\nRAFT_NODE_ID = 1\nRAFT_PEERS = 1@127.0.0.1:{r}:{c}:{h}:{cs}\nCHUNKS_SOFT_DEL_LIMIT = 100\n\
         CHUNKS_HARD_DEL_LIMIT = 100\n",
        dir.display()
    ))
    .unwrap();
    let m = Master::start(cfg).await.unwrap();
    let deadline = Instant::now() + WAIT;
    while m.chunks.leadership().is_none() || !m.chunks.caught_up() {
        assert!(Instant::now() < deadline, "no leader");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    m
}

/// A fake chunkserver: answers every command with success (a repair: every block repaired)
/// and reports it to the test; the test may send it reports of its own.
struct FakeCs {
    commands: mpsc::UnboundedReceiver<CsCommand>,
    reports: mpsc::UnboundedSender<CsToMaster>,
    term: u64,
}

async fn fake_cs(master: &Master, data_addr: &str, chunks: Vec<ChunkReport>) -> FakeCs {
    let mut s = TcpStream::connect(&master.cfg.cs_listen).await.unwrap();
    let space = SpaceReport { total: 100 * CHUNK_SIZE, avail: 50 * CHUNK_SIZE, chunks: chunks.len() as u64, load: 0 };
    proto::frame::write_frame(&mut s, &CsToMaster::Hello { nonce: [5; 32] }).await.unwrap();
    match proto::frame::read_frame(&mut s).await.unwrap() {
        MasterToCs::Hello { proof: None, .. } => {}
        other => panic!("expected Hello without a proof (no AUTH_CODE), got {other:?}"),
    }
    let reg = CsToMaster::Register {
        proof: None,
        data_addr: data_addr.into(),
        http_addr: format!("{data_addr}-http"),
        space,
        chunks,
        damaged: vec![],
    };
    proto::frame::write_frame(&mut s, &reg).await.unwrap();
    let term = match proto::frame::read_frame(&mut s).await.unwrap() {
        MasterToCs::Welcome { term } => term,
        other => panic!("expected Welcome, got {other:?}"),
    };
    let (mut rd, mut wr) = s.into_split();
    let (out, mut out_rx) = mpsc::unbounded_channel::<CsToMaster>();
    tokio::spawn(async move {
        while let Some(m) = out_rx.recv().await {
            if proto::frame::write_frame(&mut wr, &m).await.is_err() {
                return;
            }
        }
    });
    let (tx, rx) = mpsc::unbounded_channel();
    let answers = out.clone();
    tokio::spawn(async move {
        loop {
            let msg: MasterToCs = match proto::frame::read_frame(&mut rd).await {
                Ok(m) => m,
                Err(_) => return,
            };
            if let MasterToCs::Command { req_id, term: t, cmd } = msg {
                assert_eq!(t, term, "every command carries the leader's term");
                let reply = match cmd {
                    CsCommand::RepairBlocks { .. } => CommandReply::Repaired { bad: vec![] },
                    _ => CommandReply::Done,
                };
                let _ = tx.send(cmd);
                if answers.send(CsToMaster::CommandDone { req_id, result: Ok(reply) }).is_err() {
                    return;
                }
            }
        }
    });
    FakeCs { commands: rx, reports: out, term }
}

impl FakeCs {
    async fn next(&mut self) -> CsCommand {
        tokio::time::timeout(WAIT, self.commands.recv()).await.expect("a command in time").expect("connection open")
    }

    fn report(&self, msg: CsToMaster) {
        self.reports.send(msg).unwrap();
    }
}

async fn client(master: &Master) -> (Arc<Client>, SessionKey) {
    let c = Client::connect(&master.cfg.client_listen, WAIT).await.unwrap();
    let body = RequestBody::OpenSession {
        info: "test".into(),
        protocol: PROTOCOL_VERSION,
        version: 0,
        subfolder: "/".into(),
        meta: false,
        password: None,
    };
    match c.call(body, WAIT).await.unwrap() {
        ResponseBody::Result(Ok(Reply::Session(s))) => (c, s),
        other => panic!("{other:?}"),
    }
}

async fn write(c: &Client, session: SessionKey, seq: u64, op: WriteOp) -> ResponseBody {
    let body = RequestBody::Write { session, seq, first_incomplete: seq, creds: Creds::root(), op };
    c.call(body, WAIT).await.unwrap()
}

fn chunk(r: ResponseBody) -> ChunkLocation {
    match r {
        ResponseBody::Result(Ok(Reply::Chunk(l))) => l,
        other => panic!("expected a chunk, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn register_write_reconcile_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let m = start_master(dir.path()).await;
    let mut a = fake_cs(&m, "127.0.0.1:1", vec![]).await;
    assert!(a.term >= 1);
    assert_eq!(m.chunks.status().len(), 1);
    let (c, s) = client(&m).await;
    write(&c, s, 1, WriteOp::SetTrashTime { ino: ROOT_INODE, seconds: 0, recursive: false }).await;
    let ino = match write(
        &c,
        s,
        2,
        WriteOp::Create { parent: ROOT_INODE, name: b"f".to_vec(), mode: 0o644, umask: 0, exclusive: true },
    )
    .await
    {
        ResponseBody::Result(Ok(Reply::Entry(a))) => a.ino,
        other => panic!("{other:?}"),
    };

    // A hole: the leader has the chunkserver create the chunk, then commits it.
    let c2 = c.clone();
    let cw =
        tokio::spawn(
            async move { chunk(write(&c2, s, 3, WriteOp::ChunkWrite { ino, index: 0, failed: vec![] }).await) },
        );
    assert_eq!(a.next().await, CsCommand::Create { id: 1, version: 1 });
    let loc = cw.await.unwrap();
    assert_eq!((loc.chunk_id, loc.version, loc.servers.clone()), (1, 1, vec!["127.0.0.1:1".to_string()]));
    // The same request again (a retry): the same answer, no second chunk.
    let again = chunk(write(&c, s, 3, WriteOp::ChunkWrite { ino, index: 0, failed: vec![] }).await);
    assert_eq!((again.chunk_id, again.version), (1, 1));
    assert!(matches!(a.next().await, CsCommand::SetVersion { id: 1, new_version: 1, .. }), "a replay re-confirms");

    // An existing chunk: the version is bumped, then the chunkserver told.
    let loc = chunk(write(&c, s, 4, WriteOp::ChunkWrite { ino, index: 0, failed: vec![] }).await);
    assert_eq!((loc.chunk_id, loc.version), (1, 2));
    assert_eq!(a.next().await, CsCommand::SetVersion { id: 1, expect: vec![1], new_version: 2 });
    match write(&c, s, 5, WriteOp::WriteEnd { ino, size: 1000 }).await {
        ResponseBody::Result(Ok(Reply::Attr(attr))) => assert_eq!(attr.size, 1000),
        other => panic!("{other:?}"),
    }
    // Reads list the copies at the chunk's version.
    let body = RequestBody::Read { session: s, creds: Creds::root(), op: ReadOp::ChunkRead { ino, index: 0 } };
    let loc = chunk(c.call(body, WAIT).await.unwrap());
    assert_eq!((loc.version, loc.servers.clone(), loc.file_size), (2, vec!["127.0.0.1:1".to_string()], 1000));
    match c.call(RequestBody::Read { session: s, creds: Creds::root(), op: ReadOp::StatFs }, WAIT).await.unwrap() {
        ResponseBody::Result(Ok(Reply::StatFs(st))) => assert_eq!(st.total_bytes, 100 * CHUNK_SIZE),
        other => panic!("{other:?}"),
    }

    // A second chunkserver comes with an old copy of chunk 1: stale, deleted at once.
    let mut b = fake_cs(&m, "127.0.0.1:2", vec![ChunkReport { id: 1, version: 1, to_remove: false }]).await;
    assert_eq!(b.next().await, CsCommand::Delete { id: 1, version: 1 });

    // The file goes away (no trash): its chunk is deleted from every chunkserver, then
    // forgotten.
    match write(&c, s, 6, WriteOp::Unlink { parent: ROOT_INODE, name: b"f".to_vec() }).await {
        ResponseBody::Result(Ok(Reply::Done)) => {}
        other => panic!("{other:?}"),
    }
    // Ino was open (create): release it so it is freed.
    write(&c, s, 7, WriteOp::Release { ino }).await;
    assert_eq!(a.next().await, CsCommand::Delete { id: 1, version: 0 });
    let deadline = Instant::now() + WAIT;
    while !m.state.read().ns.chunks_to_delete().is_empty() {
        assert!(Instant::now() < deadline, "deleted chunk never forgotten");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(m
        .metrics
        .render(&m.raft, &m.state, &m.cfg.data_path.join("snapshots"))
        .contains("mfsmaster_chunk_deletions_total"));
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_first_frame_other_than_register_closes_the_connection() {
    let dir = tempfile::tempdir().unwrap();
    let m = start_master(dir.path()).await;
    let addr = m.cfg.cs_listen.clone();
    let (hb, garbage) = tokio::task::spawn_blocking(move || {
        let closed = |bytes: &[u8]| {
            let mut s = std::net::TcpStream::connect(&addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s.write_all(bytes).unwrap();
            let mut buf = [0u8; 16];
            // EOF or a reset: closed. A timeout would be an error too, so time it.
            let t = Instant::now();
            matches!(s.read(&mut buf), Ok(0) | Err(_)) && t.elapsed() < Duration::from_secs(5)
        };
        let hb = proto::frame::to_frame(&CsToMaster::Heartbeat { space: SpaceReport::default() }).unwrap();
        (closed(&hb), closed(b"GET / HTTP/1.1\r\n\r\n"))
    })
    .await
    .unwrap();
    assert!(hb && garbage);
    let deadline = Instant::now() + WAIT;
    while m.metrics.bad_frames.with_label_values(&["cs"]).get() < 2 {
        assert!(Instant::now() < deadline, "bad frames not counted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(m.chunks.status().len(), 0);
    m.shutdown().await;
}

/// A file of goal `goal` with one chunk written: returns (session, client, inode, chunk id).
async fn file_with_a_chunk(m: &Master, goal: u8, servers: &mut [&mut FakeCs]) -> (Arc<Client>, SessionKey, u64, u64) {
    let (c, s) = client(m).await;
    let ino = match write(
        &c,
        s,
        1,
        WriteOp::Create { parent: ROOT_INODE, name: b"f".to_vec(), mode: 0o644, umask: 0, exclusive: true },
    )
    .await
    {
        ResponseBody::Result(Ok(Reply::Entry(a))) => a.ino,
        other => panic!("{other:?}"),
    };
    write(&c, s, 2, WriteOp::SetGoal { ino, goal, recursive: false }).await;
    let c2 = c.clone();
    let cw =
        tokio::spawn(
            async move { chunk(write(&c2, s, 3, WriteOp::ChunkWrite { ino, index: 0, failed: vec![] }).await) },
        );
    for cs in servers.iter_mut() {
        assert!(matches!(cs.next().await, CsCommand::Create { version: 1, .. }));
    }
    let loc = cw.await.unwrap();
    assert_eq!(loc.servers.len(), usize::from(goal));
    (c, s, ino, loc.chunk_id)
}

async fn chunk_read(c: &Client, s: SessionKey, ino: u64) -> ChunkLocation {
    let body = RequestBody::Read { session: s, creds: Creds::root(), op: ReadOp::ChunkRead { ino, index: 0 } };
    chunk(c.call(body, WAIT).await.unwrap())
}

/// Fails before this change: the leader answered a damage report by deleting the copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_damaged_copy_is_kept_and_repaired_from_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let m = start_master(dir.path()).await;
    let mut a = fake_cs(&m, "127.0.0.1:1", vec![]).await;
    let mut b = fake_cs(&m, "127.0.0.1:2", vec![]).await;
    let (c, s, ino, id) = file_with_a_chunk(&m, 2, &mut [&mut a, &mut b]).await;
    a.report(CsToMaster::ChunkDamaged(DamageReport { id, version: 1, blocks: vec![3], reason: "test".into() }));
    // Readers get both copies, the whole one first, and hear which blocks of the other are bad.
    let deadline = Instant::now() + WAIT;
    let loc = loop {
        let loc = chunk_read(&c, s, ino).await;
        if !loc.damaged.is_empty() {
            break loc;
        }
        assert!(Instant::now() < deadline, "the damage never showed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(loc.servers, vec!["127.0.0.1:2".to_string(), "127.0.0.1:1".to_string()]);
    assert_eq!(loc.damaged, vec![("127.0.0.1:1".to_string(), vec![3])]);
    // The loop has the bad block rewritten from the other copy, and deletes nothing.
    let want = CsCommand::RepairBlocks {
        id,
        version: 1,
        blocks: vec![3],
        sources: vec!["127.0.0.1:2".into()],
        others: vec![],
    };
    assert_eq!(a.next().await, want);
    let deadline = Instant::now() + WAIT;
    while !chunk_read(&c, s, ino).await.damaged.is_empty() {
        assert!(Instant::now() < deadline, "the repair's answer was not taken");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(m
        .metrics
        .render(&m.raft, &m.state, &m.cfg.data_path.join("snapshots"))
        .contains("mfsmaster_block_repairs_total{result=\"ok\"} 1"));
    m.shutdown().await;
}

/// Fails before this change: the only copy of a goal-1 chunk was deleted for one bad block.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_only_copy_is_never_deleted_for_damage() {
    let dir = tempfile::tempdir().unwrap();
    let m = start_master(dir.path()).await;
    let mut a = fake_cs(&m, "127.0.0.1:1", vec![]).await;
    let (c, s, ino, id) = file_with_a_chunk(&m, 1, &mut [&mut a]).await;
    a.report(CsToMaster::ChunkDamaged(DamageReport { id, version: 1, blocks: vec![5], reason: "test".into() }));
    // The leader counts the block as unrecoverable (nothing to repair it from)...
    let deadline = Instant::now() + WAIT;
    while !m
        .metrics
        .render(&m.raft, &m.state, &m.cfg.data_path.join("snapshots"))
        .contains("mfsmaster_blocks_unrecoverable 1")
    {
        assert!(Instant::now() < deadline, "the lost block was never counted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(chunk_read(&c, s, ino).await.damaged, vec![("127.0.0.1:1".to_string(), vec![5])]);
    // ...and a copy out of service as a whole is still kept.
    a.report(CsToMaster::ChunkDamaged(DamageReport { id, version: 1, blocks: vec![], reason: "fsync failed".into() }));
    let deadline = Instant::now() + WAIT;
    while !chunk_read(&c, s, ino).await.servers.is_empty() {
        assert!(Instant::now() < deadline, "a copy out of service is still handed to readers");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The next command the server gets is the deletion of the removed file's chunk: nothing
    // deleted its copy before.
    write(&c, s, 4, WriteOp::SetTrashTime { ino, seconds: 0, recursive: false }).await;
    write(&c, s, 5, WriteOp::Unlink { parent: ROOT_INODE, name: b"f".to_vec() }).await;
    write(&c, s, 6, WriteOp::Release { ino }).await;
    assert_eq!(a.next().await, CsCommand::Delete { id, version: 0 });
    m.shutdown().await;
}
