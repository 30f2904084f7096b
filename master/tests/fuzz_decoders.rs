//! Fuzz targets (proptest) for the master's decoders: the Raft port's `PeerRequest` and
//! `PeerResponse` frames (append-entries carrying log entries, snapshot chunks, votes), the
//! raft-store codec of a log entry (`Entry<TypeConfig>` and its `LogCommand`), and a snapshot
//! (`sm_store::decode_state`).
//!
//! Inputs are random bytes and mutated valid encodings (see `proto/tests/support/fuzz.rs`).
//! The property: no panic, and one decode allocates at most 128 bytes per input byte plus
//! 4 MiB (frames get a budget of at most 64 bytes per byte; the raft-store codec one of 1 MiB
//! for every input under 32 KiB, as all of these are; serde preallocates at most 1 MiB per
//! nested sequence).
//! `RAFTMFS_FUZZ_CASES=100000 cargo test --release -p master --test fuzz_decoders` runs a long
//! campaign.

#[path = "../../proto/tests/support/fuzz.rs"]
mod fuzz;

use std::collections::{BTreeMap, BTreeSet};

use fuzz::{inputs, peak_alloc, CountingAlloc};
use master::access::SessionAccess;
use master::log_format::{LogCommand, LOG_FORMAT};
use master::peer_proto::{PeerRequest, PeerResponse};
use master::raft_types::{Command, MasterNode, TypeConfig};
use master::sm_store::{decode_state, encode_state};
use master::state::MetaState;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, Membership, SnapshotMeta, StoredMembership, Vote};
use proptest::prelude::*;
use proto::client::WriteOp;
use proto::meta::{Creds, Timestamp, ROOT_INODE};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const MIB: usize = 1 << 20;

fn cap(n: usize) -> usize {
    128 * n + 4 * MIB
}

fn log_id(term: u64, index: u64) -> LogId<u64> {
    LogId::new(CommittedLeaderId::new(term, 1), index)
}

fn node(i: u64) -> MasterNode {
    MasterNode {
        raft_addr: format!("127.0.0.1{i}:9419"),
        client_addr: format!("127.0.0.1{i}:9421"),
        http_addr: format!("127.0.0.1{i}:9425"),
        cs_addr: format!("127.0.0.1{i}:9420"),
    }
}

fn membership() -> Membership<u64, MasterNode> {
    let nodes: BTreeMap<u64, MasterNode> = (1..=3).map(|i| (i, node(i))).collect();
    Membership::new(vec![BTreeSet::from([1, 2, 3])], nodes)
}

fn commands() -> Vec<Command> {
    let now = Timestamp::new(1_700_000_000, 1);
    let creds = Creds::new(1000, 100, vec![4, 27]);
    vec![
        Command::Client {
            session: 1,
            seq: 2,
            first_incomplete: 1,
            now,
            creds: creds.clone(),
            op: WriteOp::MkDir { parent: ROOT_INODE, name: b"dir".to_vec(), mode: 0o755, umask: 0o22 },
        },
        Command::Client {
            session: 1,
            seq: 3,
            first_incomplete: 1,
            now,
            creds: creds.clone(),
            op: WriteOp::SetXattr { ino: 1, name: b"user.a".to_vec(), value: vec![1; 100], mode: Default::default() },
        },
        Command::OpenSession { now, info: "host:/mnt".into(), access: SessionAccess::full(), secret: [3; 16] },
        Command::CloseSession { session: 1, now },
        Command::ExpireSessions { now, older_than: now },
        Command::PurgeTrash { now },
        Command::ChunkWrite {
            session: 1,
            seq: 4,
            first_incomplete: 1,
            now,
            creds,
            ino: 2,
            index: 0,
            new_chunk: Some(77),
            holders: vec!["127.0.0.21:9422".into()],
        },
        Command::ChunkHolders { id: 77, version: 2, holders: vec!["127.0.0.21:9422".into()] },
        Command::ChunkBump { id: 77, version: 2, holders: vec![] },
        Command::ChunkCopyAdded { id: 77, version: 3, addr: "127.0.0.22:9422".into() },
        Command::ChunksDeleted { ids: vec![1, 2, 3] },
        Command::Batch(vec![
            Command::PurgeTrash { now },
            Command::ChunkBump { id: 78, version: 4, holders: vec!["127.0.0.23:9422".into()] },
        ]),
    ]
}

fn entries() -> Vec<Entry<TypeConfig>> {
    let mut v: Vec<Entry<TypeConfig>> = commands()
        .into_iter()
        .enumerate()
        .map(|(i, c)| Entry { log_id: log_id(2, i as u64 + 10), payload: EntryPayload::Normal(LogCommand::from(c)) })
        .collect();
    v.push(Entry { log_id: log_id(2, 9), payload: EntryPayload::Blank });
    v.push(Entry { log_id: log_id(2, 8), payload: EntryPayload::Membership(membership()) });
    v.push(Entry {
        log_id: log_id(2, 30),
        payload: EntryPayload::Normal(LogCommand::Foreign { format: LOG_FORMAT + 1, bytes: vec![9; 20] }),
    });
    v
}

fn frame_enc<T: serde::Serialize>(v: &T) -> Vec<u8> {
    proto::frame::encode(v).expect("encode a seed")
}

fn store_enc<T: serde::Serialize>(v: &T) -> Vec<u8> {
    raft_store::codec::encode("seed", v).expect("encode a seed")
}

fn peer_request_seeds() -> Vec<Vec<u8>> {
    let vote = Vote::new_committed(2, 1);
    let snap_meta = SnapshotMeta {
        last_log_id: Some(log_id(2, 40)),
        last_membership: StoredMembership::new(Some(log_id(1, 1)), membership()),
        snapshot_id: "2-1-40-1".into(),
    };
    vec![
        frame_enc(&PeerRequest::AppendEntries(AppendEntriesRequest {
            vote,
            prev_log_id: Some(log_id(2, 7)),
            entries: entries(),
            leader_commit: Some(log_id(2, 7)),
        })),
        frame_enc(&PeerRequest::AppendEntries(AppendEntriesRequest {
            vote,
            prev_log_id: None,
            entries: vec![],
            leader_commit: None,
        })),
        frame_enc(&PeerRequest::InstallSnapshot(InstallSnapshotRequest {
            vote,
            meta: snap_meta,
            offset: 0,
            data: encode_state(&small_state()).expect("encode state"),
            done: true,
        })),
        frame_enc(&PeerRequest::Vote(VoteRequest::new(Vote::new(3, 2), Some(log_id(2, 40))))),
        frame_enc(&PeerRequest::Probe),
        frame_enc(&PeerRequest::Hello { from: 2, nonce: [4; 32] }),
        frame_enc(&PeerRequest::Prove { proof: Some([5; 32]) }),
        frame_enc(&PeerRequest::Prove { proof: None }),
    ]
}

fn peer_response_seeds() -> Vec<Vec<u8>> {
    let vote = Vote::new_committed(2, 1);
    [
        PeerResponse::AppendEntries(Ok(AppendEntriesResponse::Success)),
        PeerResponse::AppendEntries(Ok(AppendEntriesResponse::PartialSuccess(Some(log_id(2, 5))))),
        PeerResponse::AppendEntries(Ok(AppendEntriesResponse::Conflict)),
        PeerResponse::AppendEntries(Ok(AppendEntriesResponse::HigherVote(Vote::new(5, 3)))),
        PeerResponse::InstallSnapshot(Ok(InstallSnapshotResponse { vote })),
        PeerResponse::Vote(Ok(VoteResponse::new(vote, Some(log_id(2, 40)), true))),
        PeerResponse::Probe { node_id: 2, initialized: true },
        PeerResponse::Hello { nonce: [6; 32], proof: None },
        PeerResponse::Welcome,
        PeerResponse::Refused { reason: "unknown peer".into() },
    ]
    .iter()
    .map(frame_enc)
    .collect()
}

/// A state with a session, a directory, files and an xattr.
fn small_state() -> MetaState {
    let mut st = MetaState::new();
    let now = Timestamp::new(1_700_000_100, 0);
    st.apply(&Command::OpenSession { now, info: "seed".into(), access: SessionAccess::full(), secret: [3; 16] });
    let session = *st.sessions.keys().next().expect("a session");
    let ops = [
        WriteOp::MkDir { parent: ROOT_INODE, name: b"dir".to_vec(), mode: 0o755, umask: 0 },
        WriteOp::Create { parent: ROOT_INODE, name: b"a".to_vec(), mode: 0o644, umask: 0, exclusive: true },
        WriteOp::Create { parent: ROOT_INODE, name: b"b".to_vec(), mode: 0o644, umask: 0, exclusive: true },
        WriteOp::SetXattr { ino: ROOT_INODE, name: b"user.a".to_vec(), value: vec![1; 40], mode: Default::default() },
    ];
    for (i, op) in ops.into_iter().enumerate() {
        let seq = i as u64 + 1;
        st.apply(&Command::Client { session, seq, first_incomplete: seq, now, creds: Creds::root(), op });
    }
    st
}

fn snapshot_seeds() -> Vec<Vec<u8>> {
    vec![encode_state(&small_state()).expect("encode"), encode_state(&MetaState::new()).expect("encode")]
}

fn entry_seeds() -> Vec<Vec<u8>> {
    entries().iter().map(store_enc).collect()
}

fn command_seeds() -> Vec<Vec<u8>> {
    commands().into_iter().map(|c| store_enc(&LogCommand::from(c))).collect()
}

fn check_frame<T: serde::de::DeserializeOwned>(input: &[u8]) -> Result<(), TestCaseError> {
    let (_, peak) = peak_alloc(|| proto::frame::decode::<T>(input).map(drop));
    prop_assert!(peak <= cap(input.len()), "{} bytes allocated decoding {} bytes", peak, input.len());
    Ok(())
}

fn check_store<T: serde::de::DeserializeOwned>(input: &[u8]) -> Result<(), TestCaseError> {
    let (_, peak) = peak_alloc(|| raft_store::codec::decode::<T>("fuzz", input).map(drop));
    prop_assert!(peak <= cap(input.len()), "{} bytes allocated decoding {} bytes", peak, input.len());
    Ok(())
}

#[test]
fn every_seed_is_a_valid_encoding() {
    for s in peer_request_seeds() {
        proto::frame::decode::<PeerRequest>(&s).expect("peer request seed");
    }
    for s in peer_response_seeds() {
        proto::frame::decode::<PeerResponse>(&s).expect("peer response seed");
    }
    for s in entry_seeds() {
        raft_store::codec::decode::<Entry<TypeConfig>>("seed", &s).expect("entry seed");
    }
    for s in command_seeds() {
        raft_store::codec::decode::<LogCommand>("seed", &s).expect("command seed");
    }
    let st = small_state();
    assert!(st.ns.inode_count() > 3, "the seed state has files");
    assert_eq!(decode_state(&encode_state(&st).unwrap()).expect("snapshot seed"), st);
}

proptest! {
    #![proptest_config(fuzz::config())]

    #[test]
    fn peer_requests(input in inputs(peer_request_seeds())) {
        check_frame::<PeerRequest>(&input)?;
    }

    #[test]
    fn peer_responses(input in inputs(peer_response_seeds())) {
        check_frame::<PeerResponse>(&input)?;
    }

    #[test]
    fn log_entries(input in inputs(entry_seeds())) {
        check_store::<Entry<TypeConfig>>(&input)?;
    }

    #[test]
    fn log_commands(input in inputs(command_seeds())) {
        check_store::<LogCommand>(&input)?;
    }

    #[test]
    fn snapshots(input in inputs(snapshot_seeds())) {
        let (_, peak) = peak_alloc(|| decode_state(&input).map(drop));
        prop_assert!(peak <= cap(input.len()), "{} bytes allocated decoding a snapshot of {}", peak, input.len());
    }
}
