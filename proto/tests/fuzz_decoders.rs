//! Fuzz targets (proptest) for every decoder of `proto`: the client protocol (`ClientRequest`,
//! `ClientResponse` and the envelopes a server reads them as), the chunkserver protocol
//! (`CsToMaster`, `MasterToCs`), the data protocol (`DataRequest`, `DataReply`,
//! `Envelope<DataCall>`, `Envelope<DataResponse>`) and the frame reader itself.
//!
//! Inputs are random bytes and valid encodings of every message mutated (bits flipped, bytes
//! set, inserted, removed, cut short, huge length prefixes written in). The property: decoding
//! never panics, and one decode allocates at most 64 bytes per input byte plus 4 MiB
//! (bincode's budget for the payload: 1 MiB for a small one; serde's 1 MiB preallocation per
//! nested sequence). `RAFTMFS_FUZZ_CASES=100000 cargo test --release -p proto --test
//! fuzz_decoders` runs a long campaign; the default takes a few seconds.

#[path = "support/fuzz.rs"]
mod fuzz;

use fuzz::{inputs, peak_alloc, CountingAlloc};
use proptest::prelude::*;
use proto::client::{
    ChunkLocation, ClientRequest, ClientResponse, ReadOp, Reply, RequestBody, ResponseBody, SessionKey, WriteOp,
};
use proto::cs::{
    ChunkReport, CommandReply, CsCommand, CsError, CsToMaster, DamageReport, MasterToCs, RepairSource, SpaceReport,
};
use proto::data::{DataCall, DataOp, DataReply, DataRequest, DataResponse};
use proto::frame::{self, FrameLimits};
use proto::meta::{Attr, Creds, DirEntry, FileType, RenameFlags, SetAttr, SetTime, StatFs, Timestamp, XattrMode};
use proto::rpc::Envelope;
use proto::token::{DataToken, TokenMode};
use proto::Errno;
use serde::de::DeserializeOwned;
use serde::Serialize;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const MIB: usize = 1 << 20;

/// The most one decode of `n` input bytes may allocate.
fn cap(n: usize) -> usize {
    64 * n + 4 * MIB
}

fn enc<T: Serialize>(v: &T) -> Vec<u8> {
    frame::encode(v).expect("encode a seed")
}

/// Decode `input` as `T`, asserting the allocation bound; true when it decoded.
fn check<T: DeserializeOwned>(input: &[u8]) -> Result<bool, TestCaseError> {
    let (r, peak) = peak_alloc(|| frame::decode::<T>(input).map(drop));
    prop_assert!(peak <= cap(input.len()), "{} bytes allocated decoding {} bytes", peak, input.len());
    Ok(r.is_ok())
}

/// Every seed decodes back: the seeds are valid, and the decode budget lets them through.
fn seeds_decode<T: DeserializeOwned>(seeds: &[Vec<u8>]) {
    for s in seeds {
        let (r, peak) = peak_alloc(|| frame::decode::<T>(s).map(drop));
        assert!(r.is_ok(), "a valid encoding of {} bytes failed to decode: {r:?}", s.len());
        assert!(peak <= cap(s.len()), "{peak} bytes allocated decoding a valid {} bytes", s.len());
    }
}

fn attr() -> Attr {
    let t = Timestamp::new(1_700_000_000, 5);
    Attr {
        ino: 77,
        kind: FileType::File,
        perm: 0o644,
        nlink: 1,
        uid: 1000,
        gid: 100,
        size: 123_456_789,
        rdev: 0,
        atime: t,
        mtime: t,
        ctime: t,
        goal: 2,
        trash_time: 86_400,
    }
}

fn key() -> SessionKey {
    SessionKey { id: 42, secret: [7; 16] }
}

fn write_ops() -> Vec<WriteOp> {
    let name = b"some-name.txt".to_vec();
    let set = SetAttr {
        mode: Some(0o600),
        size: Some(4096),
        mtime: Some(SetTime::At(Timestamp::new(5, 6))),
        ..Default::default()
    };
    vec![
        WriteOp::SetAttr { ino: 5, set },
        WriteOp::MkNod { parent: 1, name: name.clone(), mode: 0o10644, umask: 0o22, rdev: 0 },
        WriteOp::Create { parent: 1, name: name.clone(), mode: 0o644, umask: 0o22, exclusive: true },
        WriteOp::MkDir { parent: 1, name: name.clone(), mode: 0o755, umask: 0o22 },
        WriteOp::Unlink { parent: 1, name: name.clone() },
        WriteOp::RmDir { parent: 1, name: name.clone() },
        WriteOp::Rename {
            parent: 1,
            name: name.clone(),
            new_parent: 9,
            new_name: b"other".to_vec(),
            flags: RenameFlags { noreplace: true, exchange: false },
        },
        WriteOp::Link { ino: 5, new_parent: 1, new_name: name.clone() },
        WriteOp::Symlink { parent: 1, name: name.clone(), target: b"../target/of/link".to_vec() },
        WriteOp::SetXattr { ino: 5, name: b"user.x".to_vec(), value: vec![3; 300], mode: XattrMode::Create },
        WriteOp::RemoveXattr { ino: 5, name: b"user.x".to_vec() },
        WriteOp::Open { ino: 5, flags: 2 },
        WriteOp::Release { ino: 5 },
        WriteOp::SetGoal { ino: 5, goal: 3, recursive: true },
        WriteOp::SetTrashTime { ino: 5, seconds: 3600, recursive: false },
        WriteOp::ChunkWrite { ino: 5, index: 3, failed: vec!["127.0.0.21:9422".into()] },
        WriteOp::WriteEnd { ino: 5, size: 1 << 40 },
    ]
}

fn read_ops() -> Vec<ReadOp> {
    vec![
        ReadOp::Lookup { parent: 1, name: b"file".to_vec() },
        ReadOp::GetAttr { ino: 5 },
        ReadOp::ReadDir { ino: 1, offset: 2, max_entries: 512, plus: true },
        ReadOp::ReadLink { ino: 5 },
        ReadOp::GetXattr { ino: 5, name: b"user.x".to_vec() },
        ReadOp::ListXattr { ino: 5 },
        ReadOp::StatFs,
        ReadOp::Access { ino: 5, mask: 6 },
        ReadOp::ChunkRead { ino: 5, index: 0 },
        ReadOp::FileChunks { ino: 5, from: 10 },
        ReadOp::Digest,
    ]
}

fn request_bodies() -> Vec<RequestBody> {
    let creds = Creds::new(1000, 100, vec![4, 24, 27, 1000]);
    let mut v = vec![
        RequestBody::Challenge,
        RequestBody::OpenSession {
            info: "host:/mnt/point".into(),
            protocol: 3,
            version: 0x10203,
            subfolder: "/some/folder".into(),
            meta: false,
            password: Some([9; 16]),
        },
        RequestBody::CloseSession { session: key() },
        RequestBody::OpenToolSession {
            info: "mfsgetgoal (tools) /mnt/point".into(),
            protocol: 4,
            version: 0x10203,
            parent: 7,
            ticket: key().tool_ticket(),
        },
    ];
    for (seq, op) in write_ops().into_iter().enumerate() {
        v.push(RequestBody::Write {
            session: key(),
            seq: seq as u64 + 1,
            first_incomplete: 1,
            creds: creds.clone(),
            op,
        });
    }
    for op in read_ops() {
        v.push(RequestBody::Read { session: key(), creds: creds.clone(), op });
    }
    v
}

fn response_bodies() -> Vec<ResponseBody> {
    let loc = ChunkLocation {
        index: 3,
        chunk_id: 0x1234,
        version: 7,
        file_size: 1 << 30,
        servers: vec!["127.0.0.21:9422".into(), "127.0.0.22:9422".into()],
        goal: 2,
        damaged: vec![("127.0.0.22:9422".into(), vec![1, 2])],
        token: None,
    };
    let entry = DirEntry { cookie: 3, name: b"file".to_vec(), ino: 77, kind: FileType::File, attr: Some(attr()) };
    let replies = vec![
        Reply::Done,
        Reply::Entry(attr()),
        Reply::Attr(attr()),
        Reply::Dir(vec![entry.clone(), DirEntry { attr: None, ..entry }]),
        Reply::Data(vec![1; 200]),
        Reply::Names(vec![b"user.a".to_vec(), b"user.b".to_vec()]),
        Reply::StatFs(StatFs { total_bytes: 1 << 40, avail_bytes: 1 << 39, inodes: 5, ..Default::default() }),
        Reply::Count(12),
        Reply::Session(key()),
        Reply::Challenge(vec![5; 32]),
        Reply::Chunk(loc.clone()),
        Reply::Chunks(vec![loc.clone(), loc]),
        Reply::Digest { applied_index: 99, digest: "abcdef0123".into() },
    ];
    let mut v: Vec<ResponseBody> = replies.into_iter().map(|r| ResponseBody::Result(Ok(r))).collect();
    v.extend([
        ResponseBody::Result(Err(Errno::ENOENT)),
        ResponseBody::NotLeader { leader: Some("127.0.0.12:9421".into()) },
        ResponseBody::NotLeader { leader: None },
        ResponseBody::Unavailable { reason: "no quorum".into() },
        ResponseBody::SessionUnknown,
        ResponseBody::Refused { reason: "access denied".into() },
    ]);
    v
}

fn data_ops() -> Vec<DataOp> {
    let chain = vec!["127.0.0.22:9422".to_string(), "127.0.0.23:9422".to_string()];
    vec![
        DataOp::Read { chunk_id: 9, version: 2, offset: 65536, size: 4096 },
        DataOp::Write { chunk_id: 9, version: 2, offset: 0, data: vec![0x5A; 1000], chain: chain.clone() },
        DataOp::Truncate { chunk_id: 9, version: 2, length: 100, chain: chain.clone() },
        DataOp::Sync { chunk_id: 9, version: 2, chain },
        DataOp::Info { chunk_id: 9, version: 2 },
        DataOp::Ping,
    ]
}

fn data_responses() -> Vec<DataResponse> {
    vec![
        DataResponse::Data(vec![1; 700]),
        DataResponse::Done,
        DataResponse::Info { length: 1 << 20, crcs: vec![0xdead_beef; 16] },
        DataResponse::Error(CsError::Crc { block: 3 }),
        DataResponse::Error(CsError::Chain { addr: "127.0.0.22:9422".into(), reason: "refused".into() }),
        DataResponse::Error(CsError::StaleTerm { got: 1, seen: 2 }),
    ]
}

fn client_request_seeds() -> Vec<Vec<u8>> {
    request_bodies().into_iter().enumerate().map(|(i, body)| enc(&ClientRequest { id: i as u64, body })).collect()
}

fn client_response_seeds() -> Vec<Vec<u8>> {
    response_bodies().into_iter().enumerate().map(|(i, body)| enc(&ClientResponse { id: i as u64, body })).collect()
}

fn cs_to_master_seeds() -> Vec<Vec<u8>> {
    let space = SpaceReport { total: 1 << 40, avail: 1 << 39, chunks: 3, load: 1 };
    let chunk = ChunkReport { id: 0x1234, version: 7, to_remove: false };
    [
        CsToMaster::Hello { nonce: [7; 32] },
        CsToMaster::Register {
            proof: Some([3; 32]),
            data_addr: "127.0.0.21:9422".into(),
            http_addr: "127.0.0.21:9427".into(),
            space: space.clone(),
            chunks: vec![chunk.clone(), ChunkReport { id: 9, version: 1, to_remove: true }],
            damaged: vec![DamageReport { id: 9, version: 1, blocks: vec![3, 700], reason: "crc".into() }],
        },
        CsToMaster::Heartbeat { space },
        CsToMaster::ChunkDamaged(DamageReport { id: 9, version: 1, blocks: vec![], reason: "fsync".into() }),
        CsToMaster::ChunkLost { id: 9, version: 1, reason: "disk removed".into() },
        CsToMaster::ChunkAdded { chunk },
        CsToMaster::CommandDone { req_id: 5, result: Ok(CommandReply::Done) },
        CsToMaster::CommandDone { req_id: 7, result: Ok(CommandReply::Repaired { bad: vec![4] }) },
        CsToMaster::CommandDone { req_id: 6, result: Err(CsError::WrongVersion { have: 3 }) },
    ]
    .iter()
    .map(enc)
    .collect()
}

fn master_to_cs_seeds() -> Vec<Vec<u8>> {
    let cmds = [
        CsCommand::Create { id: 1, version: 1 },
        CsCommand::Delete { id: 1, version: 0 },
        CsCommand::SetVersion { id: 1, expect: vec![1, 2], new_version: 3 },
        CsCommand::Replicate { id: 1, version: 3, sources: vec!["127.0.0.21:9422".into()] },
        CsCommand::RepairBlocks {
            id: 1,
            version: 3,
            blocks: vec![0, 5],
            sources: vec!["127.0.0.21:9422".into()],
            others: vec![RepairSource { addr: "127.0.0.23:9422".into(), version: 2 }],
        },
        CsCommand::Duplicate {
            id: 2,
            version: 1,
            from_id: 1,
            from_version: 3,
            sources: vec!["127.0.0.21:9422".into()],
        },
    ];
    let mut v: Vec<MasterToCs> = vec![
        MasterToCs::Welcome { term: 4 },
        MasterToCs::NotLeader { leader: None },
        MasterToCs::Hello { nonce: [1; 32], proof: Some([2; 32]) },
        MasterToCs::Refused { reason: "wrong AUTH_CODE".into() },
        MasterToCs::TokenKey { key_id: 9, key: vec![5; 32] },
    ];
    v.extend(cmds.into_iter().enumerate().map(|(i, cmd)| MasterToCs::Command { req_id: i as u64, term: 4, cmd }));
    v.iter().map(enc).collect()
}

fn data_request_seeds() -> Vec<Vec<u8>> {
    let token = |op: &DataOp| {
        let (chunk_id, version, mode) = DataCall { token: None, op: op.clone() }.needs()?;
        let servers = if mode == TokenMode::Write { vec!["127.0.0.21:9422".to_string()] } else { Vec::new() };
        Some(DataToken::sign(3, &[7; 32], chunk_id, version, mode, 1_900_000_000, servers))
    };
    data_ops()
        .into_iter()
        .enumerate()
        .map(|(i, op)| {
            let token = if i % 2 == 0 { token(&op) } else { None };
            enc(&DataRequest { id: i as u64, body: DataCall { token, op } })
        })
        .collect()
}

fn data_reply_seeds() -> Vec<Vec<u8>> {
    data_responses().into_iter().enumerate().map(|(i, body)| enc(&DataReply { id: i as u64, body })).collect()
}

#[test]
fn every_seed_is_a_valid_encoding() {
    seeds_decode::<ClientRequest>(&client_request_seeds());
    seeds_decode::<Envelope<RequestBody>>(&client_request_seeds());
    seeds_decode::<ClientResponse>(&client_response_seeds());
    seeds_decode::<Envelope<ResponseBody>>(&client_response_seeds());
    seeds_decode::<CsToMaster>(&cs_to_master_seeds());
    seeds_decode::<MasterToCs>(&master_to_cs_seeds());
    seeds_decode::<DataRequest>(&data_request_seeds());
    seeds_decode::<Envelope<DataCall>>(&data_request_seeds());
    seeds_decode::<DataReply>(&data_reply_seeds());
    seeds_decode::<Envelope<DataResponse>>(&data_reply_seeds());
    // The largest real messages of the data port still decode within the budget.
    let big = enc(&DataRequest {
        id: 1,
        body: DataCall {
            token: None,
            op: DataOp::Write { chunk_id: 1, version: 1, offset: 0, data: vec![1; 4 << 20], chain: vec![] },
        },
    });
    seeds_decode::<DataRequest>(&[big]);
}

proptest! {
    #![proptest_config(fuzz::config())]

    #[test]
    fn client_requests(input in inputs(client_request_seeds())) {
        check::<ClientRequest>(&input)?;
        check::<Envelope<RequestBody>>(&input)?;
    }

    #[test]
    fn client_responses(input in inputs(client_response_seeds())) {
        check::<ClientResponse>(&input)?;
        check::<Envelope<ResponseBody>>(&input)?;
    }

    #[test]
    fn chunkserver_to_master(input in inputs(cs_to_master_seeds())) {
        check::<CsToMaster>(&input)?;
    }

    #[test]
    fn master_to_chunkserver(input in inputs(master_to_cs_seeds())) {
        check::<MasterToCs>(&input)?;
    }

    #[test]
    fn data_requests(input in inputs(data_request_seeds())) {
        check::<DataRequest>(&input)?;
        check::<Envelope<DataCall>>(&input)?;
    }

    #[test]
    fn data_replies(input in inputs(data_reply_seeds())) {
        check::<DataReply>(&input)?;
        check::<Envelope<DataResponse>>(&input)?;
    }

    /// Byte streams of framed messages, mutated (headers included): the reader takes frames
    /// until the first error, never panics, and holds at most what arrived.
    #[test]
    fn frame_streams(frames in prop::collection::vec(inputs(client_request_seeds()), 1..4),
                     muts in prop::collection::vec(fuzz::mutation(), 0..4)) {
        let mut stream = Vec::new();
        for f in &frames {
            stream.extend_from_slice(&frame::MAGIC);
            stream.extend_from_slice(&(f.len() as u32).to_be_bytes());
            stream.extend_from_slice(f);
        }
        let stream = fuzz::mutate(&stream, &muts);
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
        let limits = FrameLimits::new(proto::client::MAX_REQUEST_FRAME);
        let (_frames_read, peak) = peak_alloc(|| {
            rt.block_on(async {
                let mut r = &stream[..];
                let mut n = 0;
                while frame::read_frame_limited::<_, ClientRequest>(&mut r, &limits).await.is_ok() {
                    n += 1;
                }
                n
            })
        });
        prop_assert!(peak <= cap(stream.len()), "{} bytes allocated reading a stream of {}", peak, stream.len());
    }
}

/// A frame that announces 64 MiB and sends 100 bytes holds about 100 bytes, not 64 MiB.
#[test]
fn a_stalled_announcement_holds_only_what_arrived() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
    let (mut tx, mut rx) = tokio::io::duplex(1 << 16);
    let (_, peak) = peak_alloc(|| {
        rt.block_on(async {
            use tokio::io::AsyncWriteExt;
            let mut head = frame::MAGIC.to_vec();
            head.extend_from_slice(&(64u32 << 20).to_be_bytes());
            head.extend_from_slice(&[0; 100]);
            tx.write_all(&head).await.expect("write");
            let limits = FrameLimits::default();
            let read = frame::read_frame_limited::<_, ClientRequest>(&mut rx, &limits);
            // The reader waits for the rest, which never comes.
            let r = tokio::time::timeout(std::time::Duration::from_millis(100), read).await;
            assert!(r.is_err(), "still waiting");
        })
    });
    assert!(peak < MIB, "{peak} bytes allocated for a stalled 64 MiB announcement");
}
