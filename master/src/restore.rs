//! Rebuilding a new master group's state from a backup of one master's data folder
//! (`mfsmetarestore`; MooseFS rebuilds its metadata from `metadata.mfs.back` and the
//! changelogs the same way).
//!
//! A backup is a master's `DATA_PATH` (or a copy of it: `snapshots/` and `changelog/`), or
//! only its `snapshots/` folder. [`read_backup`] loads the newest snapshot and applies the
//! log entries after it up to the newest index that master recorded as committed; entries
//! beyond it were never acknowledged by that master, so they are left out. [`write_new`]
//! writes the result into an empty data folder as a snapshot whose membership is the new
//! group (`RAFT_PEERS`), with a log that starts after it: that master starts as a member of
//! the new group, the other (empty) masters of `RAFT_PEERS` find it initialized and wait for
//! it, and it brings them up to date by snapshot once elected (`bootstrap.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use openraft::{CommittedLeaderId, EntryPayload, Membership};
use proto::meta::Timestamp;
use raft_store::{LogReader, SnapshotFiles};

use crate::log_format::{foreign_entry_error, LogCommand};
use crate::raft_types::{LogId, MasterNode, SnapshotMeta, StoredMembership, TypeConfig};
use crate::sm_store::{decode_state, encode_state};
use crate::state::MetaState;

/// Why a backup cannot be restored.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("{0}: no snapshot and no log: not a master's data folder")]
    Empty(PathBuf),
    #[error(
        "{0}: no changelog folder beside the snapshots; give -s to restore the newest snapshot alone \
         (the state at log index {1})"
    )]
    NoLog(PathBuf, u64),
    #[error("{path}: {err}")]
    Store { path: PathBuf, err: raft_store::StoreError },
    #[error("snapshot {id}: {err}")]
    Snapshot { id: String, err: raft_store::StoreError },
    #[error("log entry {index}: {msg}")]
    Entry { index: u64, msg: String },
    #[error(
        "{0} already holds a master's state (snapshots or a log): a restore writes only into an empty data \
         folder"
    )]
    NotEmpty(PathBuf),
    #[error("{path}: {err}")]
    Io { path: PathBuf, err: std::io::Error },
}

/// What a backup held.
pub struct Restored {
    pub state: MetaState,
    /// The snapshot it started from (`None`: the log from its first entry).
    pub snapshot: Option<String>,
    /// Log entries applied after the snapshot.
    pub entries: u64,
    /// The log index of the state.
    pub index: u64,
}

fn store(path: &Path) -> impl FnOnce(raft_store::StoreError) -> RestoreError + '_ {
    move |err| RestoreError::Store { path: path.to_path_buf(), err }
}

/// Read the state a backup holds: its newest snapshot, then (unless `snapshot_only`) the
/// committed log entries after it. `from` is a data folder or a `snapshots` folder.
pub fn read_backup(from: &Path, snapshot_only: bool) -> Result<Restored, RestoreError> {
    let (snaps, log) = if from.join("snapshots").is_dir() {
        (from.join("snapshots"), from.join("changelog"))
    } else {
        (from.to_path_buf(), from.parent().map(|p| p.join("changelog")).unwrap_or_default())
    };
    let (mut state, snapshot) = if snaps.is_dir() {
        let files = SnapshotFiles::open_read_only(&snaps).map_err(store(&snaps))?;
        match files.load_latest::<TypeConfig>().map_err(store(&snaps))? {
            Some((meta, data)) => {
                let mut st =
                    decode_state(&data).map_err(|err| RestoreError::Snapshot { id: meta.snapshot_id.clone(), err })?;
                st.last_applied = meta.last_log_id;
                (st, Some(meta.snapshot_id))
            }
            None => (MetaState::new(), None),
        }
    } else {
        (MetaState::new(), None)
    };
    let start = state.last_applied.map_or(0, |l| l.index);
    if snapshot_only || !log.is_dir() {
        if snapshot.is_none() {
            return Err(RestoreError::Empty(from.to_path_buf()));
        }
        if !snapshot_only {
            return Err(RestoreError::NoLog(from.to_path_buf(), start));
        }
        return Ok(Restored { state, snapshot, entries: 0, index: start });
    }
    let reader = LogReader::open(&log).map_err(store(&log))?;
    let committed = reader.committed::<TypeConfig>().map_err(store(&log))?.map_or(0, |c| c.index);
    if snapshot.is_none() {
        if committed == 0 {
            return Err(RestoreError::Empty(from.to_path_buf()));
        }
        if let Some(p) = reader.last_purged::<TypeConfig>().map_err(store(&log))? {
            return Err(RestoreError::Entry {
                index: p.index,
                msg: "the log was purged up to here and no snapshot holds what it held".into(),
            });
        }
    }
    let mut entries = 0;
    let mut apply_err = None;
    let result = reader.for_each::<TypeConfig>(start + 1, committed, |entry| {
        let index = entry.log_id.index;
        match entry.payload {
            EntryPayload::Blank => {}
            EntryPayload::Normal(LogCommand::Known(cmd)) => {
                state.apply(&cmd);
            }
            EntryPayload::Normal(LogCommand::Foreign { format, .. }) => {
                apply_err = Some(RestoreError::Entry { index, msg: foreign_entry_error(format) });
                return Err(raft_store::StoreError::corrupt("log entry", "written by a newer version"));
            }
            EntryPayload::Membership(m) => state.membership = StoredMembership::new(Some(entry.log_id), m),
        }
        state.last_applied = Some(entry.log_id);
        entries += 1;
        Ok(())
    });
    if let Some(e) = apply_err {
        return Err(e);
    }
    result.map_err(store(&log))?;
    let index = state.last_applied.map_or(0, |l| l.index);
    Ok(Restored { state, snapshot, entries, index })
}

/// Close every session of the old group (their mounts belong to it): open files are
/// released (files deleted while open go), locks dropped. Returns how many there were.
pub fn close_sessions(state: &mut MetaState, now: Timestamp) -> usize {
    let ids: Vec<u64> = state.sessions.keys().copied().collect();
    for id in &ids {
        state.sessions.remove(id);
        state.ns.release_session(*id, now);
    }
    ids.len()
}

/// True when `data_path` holds no snapshot and no log.
fn is_empty(data_path: &Path) -> Result<bool, RestoreError> {
    for sub in ["snapshots", "changelog"] {
        let dir = data_path.join(sub);
        match std::fs::read_dir(&dir) {
            Ok(mut it) => {
                if it.next().is_some() {
                    return Ok(false);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(RestoreError::Io { path: dir, err }),
        }
    }
    Ok(true)
}

/// Write `state` into the empty `data_path` as the first state of a group of `members`, at
/// log index `index`. Returns the snapshot's id.
pub fn write_new(
    data_path: &Path,
    mut state: MetaState,
    members: BTreeMap<u64, MasterNode>,
    index: u64,
) -> Result<String, RestoreError> {
    if !is_empty(data_path)? {
        return Err(RestoreError::NotEmpty(data_path.to_path_buf()));
    }
    // Term 0, as the entry `initialize` writes: the first election of the new group is term 1.
    let log_id = LogId::new(CommittedLeaderId::new(0, 0), index);
    let voters: BTreeSet<u64> = members.keys().copied().collect();
    let membership = StoredMembership::new(Some(log_id), Membership::new(vec![voters], members));
    state.last_applied = Some(log_id);
    state.membership = membership.clone();
    // The old group's disks are not the new group's: each master's is recorded anew.
    state.disks.clear();
    let data = encode_state(&state).map_err(store(data_path))?;
    let snaps = data_path.join("snapshots");
    let files = SnapshotFiles::open(&snaps).map_err(store(&snaps))?;
    let snapshot_id = format!("0-{index}-restored");
    let meta =
        SnapshotMeta { last_log_id: Some(log_id), last_membership: membership, snapshot_id: snapshot_id.clone() };
    files.save::<TypeConfig>(&meta, &data).map_err(store(&snaps))?;
    Ok(snapshot_id)
}
