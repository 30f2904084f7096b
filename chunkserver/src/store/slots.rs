//! The index: each chunk id has a slot (an async read/write lock over the copy it serves),
//! and the index keeps a copy of what each slot holds for reports without locking. Operations
//! run on the open file under the lock ([`Store::shared`], [`Store::exclusive`]); what they find
//! wrong with the copy goes into the damage book while the lock is still held, so a finding can
//! never land on a copy that replaced the one it was made on.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use proto::cs::CsError;
use tokio::sync::{OwnedRwLockWriteGuard, RwLock};

use super::disk::Disk;
use super::scan::Duplicate;
use super::{blocking, lock, DamageBook, Store, NEW_CHUNK_MIN_SPACE};
use crate::chunk_file::{chunk_path, io_error, ChunkFile};

/// A copy the index serves.
#[derive(Debug)]
pub(super) struct Copy {
    pub version: u32,
    pub disk: Arc<Disk>,
    /// Open while in use; closed when idle.
    pub file: Option<ChunkFile>,
}

/// What a chunk's lock protects.
#[derive(Debug, Default)]
pub(super) struct ChunkState {
    /// `None` while being created, or once deleted.
    pub copy: Option<Copy>,
    /// Last use, in ms since the store's epoch (for closing idle files).
    pub last_use: AtomicU64,
}

/// The per-chunk lock.
pub(super) type Slot = Arc<RwLock<ChunkState>>;

/// An index entry: the lock and a copy of what it holds, for reports without locking.
pub(super) struct IndexEntry {
    pub slot: Slot,
    pub copy: Option<(u32, Arc<Disk>)>,
}

impl Store {
    pub(super) fn note_open(&self, id: u64) {
        lock(&self.open_ids).insert(id);
    }

    pub(super) fn existing_slot(&self, id: u64) -> Option<Slot> {
        lock(&self.index).get(&id).map(|e| e.slot.clone())
    }

    pub(super) fn slot_or_insert(&self, id: u64) -> Slot {
        lock(&self.index).entry(id).or_insert_with(|| IndexEntry { slot: Slot::default(), copy: None }).slot.clone()
    }

    /// Record what a guard now holds in the index, and release it.
    pub(super) fn publish_guard(&self, id: u64, slot: &Slot, guard: OwnedRwLockWriteGuard<ChunkState>) {
        let copy = guard.copy.as_ref().map(|c| (c.version, c.disk.clone()));
        if guard.copy.as_ref().is_some_and(|c| c.file.is_some()) {
            self.note_open(id);
        }
        guard.last_use.store(self.now_ms(), Ordering::Relaxed);
        let mut index = lock(&self.index);
        match index.get_mut(&id) {
            Some(e) if Arc::ptr_eq(&e.slot, slot) => e.copy = copy,
            _ => {
                index.insert(id, IndexEntry { slot: slot.clone(), copy });
            }
        }
    }

    /// End an operation: on failure the index may still say what the slot held before, so
    /// refresh it from the slot when it is free; then forget the slot if it holds nothing.
    pub(super) fn finish<T>(&self, id: u64, slot: &Slot, result: Result<T, CsError>) -> Result<T, CsError> {
        if result.is_err() {
            if let Ok(state) = slot.try_read() {
                let copy = state.copy.as_ref().map(|c| (c.version, c.disk.clone()));
                if let Some(e) = lock(&self.index).get_mut(&id) {
                    if Arc::ptr_eq(&e.slot, slot) {
                        e.copy = copy;
                    }
                }
            }
        }
        self.gc(id, slot);
        result
    }

    /// Forget a slot that holds no copy and that no one else holds.
    pub(super) fn gc(&self, id: u64, slot: &Slot) {
        let mut index = lock(&self.index);
        if let Some(e) = index.get(&id) {
            // Ours and the index's: every other user clones the slot under this mutex.
            if Arc::ptr_eq(&e.slot, slot) && e.copy.is_none() && Arc::strong_count(slot) == 2 {
                index.remove(&id);
            }
        }
    }

    pub(super) fn take_duplicates(&self, id: u64, pick: impl Fn(&Duplicate) -> bool) -> Vec<Duplicate> {
        let mut dups = lock(&self.duplicates);
        let (taken, kept): (Vec<_>, Vec<_>) = dups.drain(..).partition(|d| d.id == id && pick(d));
        *dups = kept;
        taken
    }

    pub(super) fn take_newest_duplicate(&self, id: u64) -> Option<Duplicate> {
        let mut dups = lock(&self.duplicates);
        let pos = dups.iter().enumerate().filter(|(_, d)| d.id == id).max_by_key(|(_, d)| d.version).map(|(i, _)| i)?;
        Some(dups.swap_remove(pos))
    }

    /// The disk with the most space for a new chunk.
    pub(super) async fn pick_disk(&self) -> Result<Arc<Disk>, CsError> {
        let disks = self.disks();
        let leave = self.leave_default();
        blocking(move || {
            disks
                .into_iter()
                .filter(|d| !d.to_remove())
                .filter_map(|d| match d.space(leave) {
                    Ok(s) if s.avail >= NEW_CHUNK_MIN_SPACE => Some((s.avail, d)),
                    Ok(_) => None,
                    Err(e) => {
                        tracing::warn!(disk = %d.path.display(), error = %e, "statvfs failed");
                        None
                    }
                })
                .max_by_key(|(avail, _)| *avail)
                .map(|(_, d)| d)
                .ok_or(CsError::NoSpace)
        })
        .await
    }

    /// Run `op` on the open file under the shared lock (opening it first if needed). What it
    /// finds wrong (a bad block, the copy unusable) goes into the damage book before the lock
    /// is released; a shortage of resources is counted.
    pub(super) async fn shared<T: Send + 'static>(
        &self,
        id: u64,
        version: u32,
        during: &'static str,
        op: impl FnOnce(&ChunkFile, &DamageBook) -> Result<T, CsError> + Send + 'static,
    ) -> Result<T, CsError> {
        let slot = self.existing_slot(id).ok_or(CsError::NoChunk)?;
        let guard = slot.clone().read_owned().await;
        check_version(&guard, version)?;
        if guard.copy.as_ref().is_some_and(|c| c.file.is_some()) {
            guard.last_use.store(self.now_ms(), Ordering::Relaxed);
            let book = self.damage.clone();
            let (guard, r) = blocking(move || {
                let r = match guard.copy.as_ref().and_then(|c| c.file.as_ref()) {
                    Some(f) => op(f, &book),
                    None => Err(CsError::NoChunk),
                };
                Ok((guard, r))
            })
            .await?;
            let path = guard.copy.as_ref().and_then(|c| c.file.as_ref()).map(|f| f.path().to_path_buf());
            self.note(id, version, during, path, &r);
            drop(guard);
            return r;
        }
        drop(guard);
        drop(slot);
        self.exclusive(id, version, during, move |f, _, book| op(f, book)).await
    }

    /// Run `op` on the open file under the exclusive lock (opening it first if needed),
    /// keeping the disk's used bytes up to date. Findings go into the damage book as in
    /// [`Store::shared`].
    pub(super) async fn exclusive<T: Send + 'static>(
        &self,
        id: u64,
        version: u32,
        during: &'static str,
        op: impl FnOnce(&mut ChunkFile, &Disk, &DamageBook) -> Result<T, CsError> + Send + 'static,
    ) -> Result<T, CsError> {
        let slot = self.existing_slot(id).ok_or(CsError::NoChunk)?;
        let guard = slot.clone().write_owned().await;
        check_version(&guard, version)?;
        guard.last_use.store(self.now_ms(), Ordering::Relaxed);
        self.note_open(id);
        let book = self.damage.clone();
        let (guard, r) = blocking(move || {
            let mut guard = guard;
            let r = open_copy(&mut guard, id).and_then(|(f, disk)| {
                let before = f.file_len();
                let r = op(f, &disk, &book);
                disk.add_used(before, f.file_len());
                r
            });
            Ok((guard, r))
        })
        .await?;
        let path = guard.copy.as_ref().map(|c| chunk_path(&c.disk.path, id, c.version));
        self.note(id, version, during, path, &r);
        drop(guard);
        r
    }

    /// Put what an operation on copy (`id`, `version`) found into the damage book: a bad
    /// block, or the copy out of service. Count a shortage of resources. Called with the
    /// chunk's lock held.
    fn note<T>(&self, id: u64, version: u32, during: &str, path: Option<PathBuf>, r: &Result<T, CsError>) {
        let path = path.unwrap_or_default();
        match r {
            Err(CsError::Crc { block }) => {
                self.damage.mark_blocks(id, version, &[*block], during, &path);
            }
            Err(CsError::Unusable(why)) => {
                self.damage.mark_unusable(id, version, why, during, &path);
            }
            Err(CsError::Busy(why)) => self.note_busy(id, during, why),
            _ => {}
        }
    }
}

pub(super) fn check_version(state: &ChunkState, version: u32) -> Result<(), CsError> {
    match &state.copy {
        None => Err(CsError::NoChunk),
        Some(c) if c.version != version => Err(CsError::WrongVersion { have: c.version }),
        Some(_) => Ok(()),
    }
}

/// The open file of the slot's copy (opened now if closed), and its disk.
pub(super) fn open_copy(state: &mut ChunkState, id: u64) -> Result<(&mut ChunkFile, Arc<Disk>), CsError> {
    let copy = state.copy.as_mut().ok_or(CsError::NoChunk)?;
    let disk = copy.disk.clone();
    let file = match &mut copy.file {
        Some(f) => f,
        slot @ None => slot.insert(ChunkFile::open(&chunk_path(&disk.path, id, copy.version), id, copy.version)?),
    };
    Ok((file, disk))
}

/// Delete the slot's copy of chunk `id` from its disk (blocking).
pub(super) fn drop_copy(state: &mut ChunkState, id: u64) -> Result<(), CsError> {
    let Some(copy) = state.copy.take() else { return Ok(()) };
    let path = match &copy.file {
        Some(f) => f.path().to_path_buf(),
        None => chunk_path(&copy.disk.path, id, copy.version),
    };
    let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    drop(copy.file);
    match std::fs::remove_file(&path) {
        Ok(()) => {
            copy.disk.add_used(len, 0);
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error(&e, "delete", &path)),
    }
}
