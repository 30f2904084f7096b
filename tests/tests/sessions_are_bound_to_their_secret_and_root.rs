//! Issue 10, items 4 and 5: a session is bound to a secret issued at open, and a session rooted
//! at a subfolder reaches nothing outside it, by number either.
//!
//! Fails before session secrets: session ids were handed out 1, 2, 3... and a request named
//! only the id, so the raw connection below could act inside the other client's session
//! (checked on the old code with the same steps: its mkdir through the borrowed id succeeded);
//! and a session on `/a` could read and change a file under `/b` by its inode number (files kept
//! no parent link to check).

use std::sync::Arc;
use std::time::Duration;

use client::{ClientConfig, MasterClient};
use proto::client::{
    ReadOp, Reply, RequestBody, ResponseBody, SessionKey, WriteOp, PROTOCOL_VERSION, SESSION_SECRET_LEN,
};
use proto::meta::{Creds, Ino, SetAttr, XattrMode, ROOT_INODE};
use proto::rpc::RpcConn;
use proto::Errno;
use raftmfs_tests::Cluster;

type Raw = RpcConn<RequestBody, ResponseBody>;
const WAIT: Duration = Duration::from_secs(10);

/// A raw connection to the leader with a session of its own on `subfolder`.
async fn raw_session(leader_addr: &str, subfolder: &str) -> (Arc<Raw>, SessionKey) {
    let c = Raw::connect(leader_addr, WAIT).await.expect("connect");
    let body = RequestBody::OpenSession {
        info: "intruder".into(),
        protocol: PROTOCOL_VERSION,
        version: 0,
        subfolder: subfolder.into(),
        meta: false,
        password: None,
    };
    match c.call(body, WAIT).await.expect("open session") {
        ResponseBody::Result(Ok(Reply::Session(k))) => (c, k),
        other => panic!("open session on {subfolder}: {other:?}"),
    }
}

async fn read(c: &Raw, session: SessionKey, op: ReadOp) -> ResponseBody {
    c.call(RequestBody::Read { session, creds: Creds::root(), op }, WAIT).await.expect("call")
}

async fn write(c: &Raw, session: SessionKey, seq: u64, op: WriteOp) -> ResponseBody {
    let body = RequestBody::Write { session, seq, first_incomplete: seq, creds: Creds::root(), op };
    c.call(body, WAIT).await.expect("call")
}

fn errno(r: &ResponseBody) -> Option<Errno> {
    match r {
        ResponseBody::Result(Err(e)) => Some(*e),
        _ => None,
    }
}

#[test]
fn another_sessions_id_is_useless_and_a_subfolder_session_stays_inside() {
    let cluster = Cluster::start(81, 3, "");
    let leader = cluster.wait_leader(Duration::from_secs(30));
    let leader_addr = cluster.masters[leader].client_addr();
    let rt = raftmfs_tests::runtime();
    let addrs = cluster.client_addrs();
    let owner = rt
        .block_on(MasterClient::connect(ClientConfig::new(&addrs.iter().map(String::as_str).collect::<Vec<_>>())))
        .expect("connect");
    let cr = Creds::root();
    let a = rt.block_on(owner.mkdir(&cr, ROOT_INODE, b"a", 0o755)).unwrap();
    let b = rt.block_on(owner.mkdir(&cr, ROOT_INODE, b"b", 0o755)).unwrap();
    let inside = rt.block_on(owner.create(&cr, a.ino, b"inside", 0o644)).unwrap();
    let secret_file = rt.block_on(owner.create(&cr, b.ino, b"secret", 0o600)).unwrap();
    let set = WriteOp::SetXattr {
        ino: secret_file.ino,
        name: b"user.k".to_vec(),
        value: b"private".to_vec(),
        mode: XattrMode::Set,
    };
    rt.block_on(owner.write(&cr, set)).unwrap();

    // ---- Item 4: the owner's session id, with any secret but its own, is refused ----
    let (raw, mine) = rt.block_on(raw_session(&leader_addr, "/"));
    assert_ne!(mine.id, owner.session_id());
    let guesses = [
        SessionKey { id: owner.session_id(), secret: mine.secret },
        SessionKey { id: owner.session_id(), secret: [0; SESSION_SECRET_LEN] },
        SessionKey { id: owner.session_id(), secret: [0xff; SESSION_SECRET_LEN] },
    ];
    for (k, stolen) in guesses.into_iter().enumerate() {
        let mk = WriteOp::MkDir { parent: ROOT_INODE, name: format!("stolen{k}").into_bytes(), mode: 0o755, umask: 0 };
        let r = rt.block_on(write(&raw, stolen, 1, mk));
        assert!(matches!(r, ResponseBody::SessionUnknown), "a write in a borrowed session: {r:?}");
        let r = rt.block_on(read(&raw, stolen, ReadOp::GetAttr { ino: ROOT_INODE }));
        assert!(matches!(r, ResponseBody::SessionUnknown), "a read in a borrowed session: {r:?}");
        let r = rt.block_on(raw.call(RequestBody::CloseSession { session: stolen }, WAIT)).unwrap();
        assert!(matches!(r, ResponseBody::SessionUnknown), "closing a borrowed session: {r:?}");
    }
    // Every id from 1 up, with a zero secret: nothing.
    for id in 1..=mine.id + 5 {
        let r = rt.block_on(read(&raw, SessionKey { id, secret: [0; SESSION_SECRET_LEN] }, ReadOp::StatFs));
        assert!(matches!(r, ResponseBody::SessionUnknown), "guessed session {id}: {r:?}");
    }
    // Nothing was made, and the owner's session still works.
    let names: Vec<Vec<u8>> =
        rt.block_on(owner.readdir_all(&cr, ROOT_INODE)).unwrap().into_iter().map(|e| e.name).collect();
    assert!(!names.iter().any(|n| n.starts_with(b"stolen")), "{names:?}");
    rt.block_on(owner.mkdir(&cr, ROOT_INODE, b"still-mine", 0o755)).expect("the owner's session survives");
    let refused = cluster.metrics(leader).unwrap_or_default();
    assert!(
        refused.lines().any(|l| l.starts_with("mfsmaster_auth_refused_total") && l.contains("session_secret")),
        "the refusals are counted"
    );

    // ---- Item 5: a session on /a cannot reach /b's file by its number ----
    let (raw_a, on_a) = rt.block_on(raw_session(&leader_addr, "/a"));
    let outside: Ino = secret_file.ino;
    let reads = [
        ReadOp::GetAttr { ino: outside },
        ReadOp::GetXattr { ino: outside, name: b"user.k".to_vec() },
        ReadOp::ListXattr { ino: outside },
        ReadOp::ChunkRead { ino: outside, index: 0 },
        ReadOp::FileChunks { ino: outside, from: 0 },
        ReadOp::Access { ino: outside, mask: 4 },
        ReadOp::Lookup { parent: b.ino, name: b"secret".to_vec() },
        ReadOp::ReadDir { ino: b.ino, offset: 0, max_entries: 10, plus: true },
    ];
    for op in reads {
        let r = rt.block_on(read(&raw_a, on_a, op.clone()));
        assert_eq!(errno(&r), Some(Errno::EPERM), "{op:?} from a session on /a: {r:?}");
    }
    let writes = [
        WriteOp::Open { ino: outside, flags: libc::O_RDWR },
        WriteOp::SetAttr { ino: outside, set: SetAttr { mode: Some(0o666), ..Default::default() } },
        WriteOp::SetXattr { ino: outside, name: b"user.k".to_vec(), value: b"x".to_vec(), mode: XattrMode::Set },
        WriteOp::RemoveXattr { ino: outside, name: b"user.k".to_vec() },
        WriteOp::ChunkWrite { ino: outside, index: 0, failed: vec![] },
        WriteOp::WriteEnd { ino: outside, size: 100 },
        WriteOp::Link { ino: outside, new_parent: ROOT_INODE, new_name: b"stolen".to_vec() },
        WriteOp::SetGoal { ino: outside, goal: 2, recursive: false },
    ];
    for (seq, op) in writes.into_iter().enumerate() {
        let r = rt.block_on(write(&raw_a, on_a, seq as u64 + 1, op.clone()));
        assert_eq!(errno(&r), Some(Errno::EPERM), "{op:?} from a session on /a: {r:?}");
    }
    // What is inside works, by number too, and the file outside is unchanged.
    let r = rt.block_on(read(&raw_a, on_a, ReadOp::GetAttr { ino: inside.ino }));
    assert!(matches!(r, ResponseBody::Result(Ok(Reply::Attr(_)))), "{r:?}");
    let attr = rt.block_on(owner.getattr(&cr, outside)).unwrap();
    assert_eq!((attr.perm, attr.size, attr.nlink), (0o600, 0, 1));
    let xattr = rt.block_on(owner.read(&cr, ReadOp::GetXattr { ino: outside, name: b"user.k".to_vec() })).unwrap();
    assert_eq!(xattr, Reply::Data(b"private".to_vec()));
}
