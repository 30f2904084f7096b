//! The openraft state machine: applies committed entries to [`MetaState`] and builds,
//! stores and installs snapshots (our `metadata.mfs`) through `raft_store::SnapshotFiles`.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, RaftSnapshotBuilder, Snapshot, StorageIOError};
use raft_store::SnapshotFiles;

use crate::error::MasterError;
use crate::log_format::{
    foreign_entry_error, LogCommand, FIRST_DISKS_FORMAT, FIRST_EATTR_FORMAT, FIRST_LOCK_FORMAT, FIRST_QUOTA_FORMAT,
    FIRST_SNAPSHOT_FORMAT, PRE_FORMAT_HELP, SNAPSHOT_FORMAT, SNAPSHOT_MAGIC,
};
use crate::namespace::{EattrSection, LockSection, QuotaSection};
use crate::raft_types::{CommandOutcome, LogId, SnapshotMeta, StorageError, StoredMembership, TypeConfig};
use crate::state::MetaState;

/// Encode the whole state for a snapshot: [`SNAPSHOT_MAGIC`], the [`SNAPSHOT_FORMAT`] (two
/// bytes, big-endian), then the state, then the sections added after format 1002 (each a
/// value of its own after the previous one: the extra attributes, the quotas, the locks). No size cap: a namespace of
/// millions of inodes is far larger than one network frame (snapshots travel in chunks).
pub fn encode_state(st: &MetaState) -> Result<Vec<u8>, raft_store::StoreError> {
    let mut out = Vec::with_capacity(SNAPSHOT_MAGIC.len() + 2);
    out.extend_from_slice(&SNAPSHOT_MAGIC);
    out.extend_from_slice(&SNAPSHOT_FORMAT.to_be_bytes());
    let whole = (st, st.ns.eattr_section(), st.ns.quota_section(), st.ns.lock_section(), &st.disks);
    out.extend_from_slice(&raft_store::codec::encode("metadata snapshot", &whole)?);
    Ok(out)
}

/// Decode a snapshot; corrupt bytes are an error, never a panic or an unbounded allocation.
/// A snapshot of another format (or from before formats) is refused with an error naming it.
pub fn decode_state(data: &[u8]) -> Result<MetaState, raft_store::StoreError> {
    let what = "metadata snapshot";
    let Some(body) = data.strip_prefix(&SNAPSHOT_MAGIC) else {
        return Err(raft_store::StoreError::corrupt(what, format!("no format header: {PRE_FORMAT_HELP}")));
    };
    let (format, body) = match body {
        [a, b, rest @ ..] => (u16::from_be_bytes([*a, *b]), rest),
        _ => return Err(raft_store::StoreError::corrupt(what, "cut short in its format header")),
    };
    if !(FIRST_SNAPSHOT_FORMAT..=SNAPSHOT_FORMAT).contains(&format) {
        return Err(raft_store::StoreError::corrupt(
            what,
            format!(
                "format {format}, and this mfsmaster reads formats {FIRST_SNAPSHOT_FORMAT} to {SNAPSHOT_FORMAT}: it \
                 was written by another RaftMFS version; run the version that wrote it"
            ),
        ));
    }
    let mut state: MetaState = if format >= FIRST_DISKS_FORMAT {
        type Sections = (MetaState, EattrSection, QuotaSection, LockSection, BTreeMap<u64, [u8; 16]>);
        let (mut state, eattrs, quotas, locks, disks): Sections = raft_store::codec::decode(what, body)?;
        state.ns.restore_eattr_section(eattrs);
        state.ns.restore_quota_section(quotas);
        state.ns.restore_lock_section(locks);
        state.disks = disks;
        state
    } else if format >= FIRST_LOCK_FORMAT {
        let (mut state, eattrs, quotas, locks): (MetaState, EattrSection, QuotaSection, LockSection) =
            raft_store::codec::decode(what, body)?;
        state.ns.restore_eattr_section(eattrs);
        state.ns.restore_quota_section(quotas);
        state.ns.restore_lock_section(locks);
        state
    } else if format >= FIRST_QUOTA_FORMAT {
        let (mut state, eattrs, quotas): (MetaState, EattrSection, QuotaSection) =
            raft_store::codec::decode(what, body)?;
        state.ns.restore_eattr_section(eattrs);
        state.ns.restore_quota_section(quotas);
        state
    } else if format >= FIRST_EATTR_FORMAT {
        let (mut state, eattrs): (MetaState, EattrSection) = raft_store::codec::decode(what, body)?;
        state.ns.restore_eattr_section(eattrs);
        state
    } else {
        raft_store::codec::decode(what, body)?
    };
    state.ns.rebuild_derived();
    Ok(state)
}

/// The state shared between the Raft state machine (writer) and the client read path.
#[derive(Clone, Default)]
pub struct SharedState(Arc<RwLock<MetaState>>);

impl SharedState {
    pub fn new(state: MetaState) -> Self {
        SharedState(Arc::new(RwLock::new(state)))
    }
    /// Read access; a poisoned lock still yields the state (apply never panics midway by design).
    pub fn read(&self) -> RwLockReadGuard<'_, MetaState> {
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }
    fn write(&self) -> RwLockWriteGuard<'_, MetaState> {
        self.0.write().unwrap_or_else(|e| e.into_inner())
    }
}

struct Inner {
    state: SharedState,
    files: SnapshotFiles,
    /// The newest snapshot: metadata and its bytes.
    current: Mutex<Option<(SnapshotMeta, Arc<Vec<u8>>)>>,
    snapshot_seq: AtomicU64,
}

/// The `RaftStateMachine` of a master. Cheap to clone.
#[derive(Clone)]
pub struct StateMachineStore {
    inner: Arc<Inner>,
}

fn sm_err(e: impl std::fmt::Display, what: &str) -> StorageError {
    StorageIOError::write_state_machine(&std::io::Error::other(format!("{what}: {e}"))).into()
}

impl StateMachineStore {
    /// Load the newest snapshot from `files` (if any) as the starting state.
    pub fn open(files: SnapshotFiles) -> Result<Self, MasterError> {
        let (state, current) = match files.load_latest::<TypeConfig>()? {
            Some((meta, data)) => {
                let state: MetaState = decode_state(&data)
                    .map_err(|e| MasterError::Snapshot(format!("snapshot {}: {e}", meta.snapshot_id)))?;
                tracing::info!(snapshot = %meta.snapshot_id, inodes = state.ns.inode_count(), "loaded metadata snapshot");
                (state, Some((meta, Arc::new(data))))
            }
            None => (MetaState::new(), None),
        };
        Ok(StateMachineStore {
            inner: Arc::new(Inner {
                state: SharedState::new(state),
                files,
                current: Mutex::new(current),
                snapshot_seq: AtomicU64::new(0),
            }),
        })
    }

    /// The state, for the read path and status pages.
    pub fn shared(&self) -> SharedState {
        self.inner.state.clone()
    }

    fn set_current(&self, meta: SnapshotMeta, data: Arc<Vec<u8>>) {
        *self.inner.current.lock().unwrap_or_else(|e| e.into_inner()) = Some((meta, data));
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachineStore {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let (data, last_log_id, membership) = {
            let st = self.inner.state.read();
            let data = encode_state(&st).map_err(|e| sm_err(e, "encode snapshot"))?;
            (data, st.last_applied, st.membership.clone())
        };
        let seq = self.inner.snapshot_seq.fetch_add(1, Ordering::Relaxed);
        let snapshot_id = match &last_log_id {
            Some(l) => format!("{}-{}-{}", l.leader_id.term, l.index, seq),
            None => format!("0-0-{seq}"),
        };
        let meta = SnapshotMeta { last_log_id, last_membership: membership, snapshot_id };
        let files = self.inner.files.clone();
        let data = Arc::new(data);
        let (m, d) = (meta.clone(), data.clone());
        tokio::task::spawn_blocking(move || files.save::<TypeConfig>(&m, &d))
            .await
            .map_err(|e| sm_err(e, "snapshot writer"))?
            .map_err(|e| sm_err(e, "save snapshot"))?;
        tracing::info!(snapshot = %meta.snapshot_id, bytes = data.len(), "built metadata snapshot");
        self.set_current(meta.clone(), data.clone());
        Ok(Snapshot { meta, snapshot: Box::new(Cursor::new(data.as_ref().clone())) })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let st = self.inner.state.read();
        Ok((st.last_applied, st.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<CommandOutcome>, StorageError>
    where
        I: IntoIterator<Item = openraft::Entry<TypeConfig>> + Send,
    {
        let mut st = self.inner.state.write();
        let mut out = Vec::new();
        for entry in entries {
            let prev_applied = st.last_applied;
            st.last_applied = Some(entry.log_id);
            match entry.payload {
                EntryPayload::Blank => out.push(CommandOutcome::Result(Ok(proto::client::Reply::Done))),
                EntryPayload::Normal(LogCommand::Known(cmd)) => out.push(st.apply(&cmd)),
                EntryPayload::Normal(LogCommand::Foreign { format, .. }) => {
                    // Not applied, and nothing after it: the state stays at the entry before.
                    st.last_applied = prev_applied;
                    let msg = foreign_entry_error(format);
                    tracing::error!(index = entry.log_id.index, "{msg}");
                    return Err(sm_err(msg, "apply"));
                }
                EntryPayload::Membership(m) => {
                    st.membership = StoredMembership::new(Some(entry.log_id), m);
                    out.push(CommandOutcome::Result(Ok(proto::client::Reply::Done)));
                }
            }
        }
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let data = snapshot.into_inner();
        let mut state: MetaState = decode_state(&data).map_err(|e| sm_err(e, "decode received snapshot"))?;
        state.last_applied = meta.last_log_id;
        state.membership = meta.last_membership.clone();
        let files = self.inner.files.clone();
        let data = Arc::new(data);
        let (m, d) = (meta.clone(), data.clone());
        tokio::task::spawn_blocking(move || files.save::<TypeConfig>(&m, &d))
            .await
            .map_err(|e| sm_err(e, "snapshot writer"))?
            .map_err(|e| sm_err(e, "save received snapshot"))?;
        tracing::info!(snapshot = %meta.snapshot_id, inodes = state.ns.inode_count(), "installed metadata snapshot from leader");
        *self.inner.state.write() = state;
        self.set_current(meta.clone(), data);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let cur = self.inner.current.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Ok(cur.map(|(meta, data)| Snapshot { meta, snapshot: Box::new(Cursor::new(data.as_ref().clone())) }))
    }
}
