//! Runs openraft's own storage conformance suite against `RocksLogStore`, paired with a small
//! in-memory state machine whose snapshots are persisted through `SnapshotFiles`.

mod common;

use std::io::Cursor;

use common::TC;
use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::testing::{StoreBuilder, Suite};
use openraft::{
    BasicNode, Entry, EntryPayload, ErrorSubject, ErrorVerb, LogId, OptionalSend, RaftSnapshotBuilder, SnapshotMeta,
    StorageError, StoredMembership,
};
use raft_store::{FlushMode, RocksLogStore, SnapshotFiles, StoreError};
use serde::{Deserialize, Serialize};
use tempfile::TempDir;

/// The whole (tiny) state of the test state machine.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct SmState {
    last_applied: Option<LogId<u64>>,
    last_membership: StoredMembership<u64, BasicNode>,
    commands: Vec<String>,
}

/// In-memory state machine; snapshots go to `SnapshotFiles`.
struct TestSm {
    state: SmState,
    files: SnapshotFiles,
    snapshot_seq: u64,
}

struct TestSnapshotBuilder {
    state: SmState,
    files: SnapshotFiles,
    snapshot_id: String,
}

fn snap_err(e: StoreError, meta: Option<&SnapshotMeta<u64, BasicNode>>, verb: ErrorVerb) -> StorageError<u64> {
    e.into_storage_error(ErrorSubject::Snapshot(meta.map(|m| m.signature())), verb)
}

fn encode_state(state: &SmState) -> Vec<u8> {
    bincode::serde::encode_to_vec(state, bincode::config::standard()).expect("encode state")
}

impl RaftSnapshotBuilder<TC> for TestSnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TC>, StorageError<u64>> {
        let data = encode_state(&self.state);
        let meta = SnapshotMeta {
            last_log_id: self.state.last_applied,
            last_membership: self.state.last_membership.clone(),
            snapshot_id: self.snapshot_id.clone(),
        };
        // Durable before returning: openraft may purge the log up to last_log_id right after.
        self.files.save::<TC>(&meta, &data).map_err(|e| snap_err(e, Some(&meta), ErrorVerb::Write))?;
        Ok(Snapshot { meta, snapshot: Box::new(Cursor::new(data)) })
    }
}

impl RaftStateMachine<TC> for TestSm {
    type SnapshotBuilder = TestSnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<u64>>, StoredMembership<u64, BasicNode>), StorageError<u64>> {
        Ok((self.state.last_applied, self.state.last_membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<()>, StorageError<u64>>
    where
        I: IntoIterator<Item = Entry<TC>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut replies = Vec::new();
        for entry in entries {
            self.state.last_applied = Some(entry.log_id);
            match entry.payload {
                EntryPayload::Blank => {}
                EntryPayload::Normal(cmd) => self.state.commands.push(cmd),
                EntryPayload::Membership(m) => {
                    self.state.last_membership = StoredMembership::new(Some(entry.log_id), m)
                }
            }
            replies.push(());
        }
        Ok(replies)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.snapshot_seq += 1;
        TestSnapshotBuilder {
            state: self.state.clone(),
            files: self.files.clone(),
            snapshot_id: format!("{}-{}", self.state.last_applied.map_or(0, |l| l.index), self.snapshot_seq),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError<u64>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<u64>> {
        let data = snapshot.into_inner();
        let (state, _): (SmState, usize) = bincode::serde::decode_from_slice(&data, bincode::config::standard())
            .map_err(|e| StorageError::IO {
                source: openraft::StorageIOError::read_snapshot(Some(meta.signature()), openraft::AnyError::new(&e)),
            })?;
        self.files.save::<TC>(meta, &data).map_err(|e| snap_err(e, Some(meta), ErrorVerb::Write))?;
        self.state = SmState {
            last_applied: meta.last_log_id,
            last_membership: meta.last_membership.clone(),
            commands: state.commands,
        };
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TC>>, StorageError<u64>> {
        let latest = self.files.load_latest::<TC>().map_err(|e| snap_err(e, None, ErrorVerb::Read))?;
        Ok(latest.map(|(meta, data)| Snapshot { meta, snapshot: Box::new(Cursor::new(data)) }))
    }
}

/// Builds stores whose appends fsync where `.0` says.
struct Builder(FlushMode);

impl StoreBuilder<TC, RocksLogStore<TC>, TestSm, TempDir> for Builder {
    async fn build(&self) -> Result<(TempDir, RocksLogStore<TC>, TestSm), StorageError<u64>> {
        let dir = TempDir::new().expect("tempdir");
        let log = RocksLogStore::<TC>::open_with(&dir.path().join("log"), self.0)
            .map_err(|e| e.into_storage_error(ErrorSubject::Store, ErrorVerb::Read))?;
        let files =
            SnapshotFiles::open(&dir.path().join("snapshots")).map_err(|e| snap_err(e, None, ErrorVerb::Read))?;
        let sm = TestSm { state: SmState::default(), files, snapshot_seq: 0 };
        Ok((dir, log, sm))
    }
}

#[test]
fn openraft_storage_suite() {
    Suite::<TC, RocksLogStore<TC>, TestSm, Builder, TempDir>::test_all(Builder(FlushMode::Background))
        .expect("openraft storage suite, fsync on the flusher thread");
}

#[test]
fn openraft_storage_suite_with_the_fsync_in_append() {
    Suite::<TC, RocksLogStore<TC>, TestSm, Builder, TempDir>::test_all(Builder(FlushMode::Inline))
        .expect("openraft storage suite, fsync in append");
}
