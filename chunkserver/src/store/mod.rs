//! The disks, the chunk index and the chunk operations.
//!
//! Every disk of `mfshdd.cfg` holds chunk files in 256 subfolders `00`..`FF` ([`disk`]). At
//! startup (and for disks added on reload) each disk is scanned ([`scan`]): names are parsed
//! strictly, foreign files are left alone with a warning, and replication leftovers
//! (`*.mfs.tmp`) are deleted. The index maps a chunk id to its copy (version and disk). When
//! two versions of one chunk are found, the newest is served and the others are kept as
//! *duplicates*: they are reported to the master, which deletes the stale ones.
//!
//! Each chunk has an async read/write lock ([`slots`]): reads share it, every other operation
//! holds it alone, so concurrent operations on one chunk serialize. File I/O runs in
//! `spawn_blocking` while the lock is held. The data operations ([`data`]) consult and feed the
//! [`damage`] book: bad blocks are never served and a copy out of service serves nothing; the
//! leader's commands ([`lifecycle`]) create, delete, renumber and replace copies; [`upkeep`]
//! closes idle files (a failed fsync there takes the copy out of service) and applies reloads.

pub mod damage;
mod data;
pub mod disk;
mod lifecycle;
mod scan;
mod slots;
mod upkeep;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use proto::cs::{ChunkReport, CsError, SpaceReport};

use crate::chunk_file::{self, chunk_path};
use crate::hdd::HddEntry;
pub use damage::{CopyDamage, DamageBook, DamageStats};
pub use disk::{fs_space, Disk, DiskSpace, DiskStatus, DISK_LOCK_FILE};
pub use lifecycle::ReplicaFile;
use scan::{scan_files, Duplicate, FoundFile};
use slots::{Copy, IndexEntry, Slot};

/// Space a disk needs to take a new chunk: its header and a first block. Growth beyond that
/// is what `HDD_LEAVE_SPACE_DEFAULT` keeps room for; writes check space as they grow.
pub const NEW_CHUNK_MIN_SPACE: u64 = chunk_file::DATA_OFFSET + chunk_file::BLOCK;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Run blocking file work off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, CsError> + Send + 'static) -> Result<T, CsError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(CsError::Io(format!("internal: file task failed: {e}"))))
}

/// What a reload of `mfshdd.cfg` changed, for the master.
#[derive(Debug, Default)]
pub struct ReloadReport {
    pub disks_added: Vec<PathBuf>,
    pub disks_removed: Vec<PathBuf>,
    /// Copies found on added disks.
    pub added: Vec<ChunkReport>,
    /// Copies no longer served (their disk left the list).
    pub removed: Vec<ChunkReport>,
    /// Copies whose `to_remove` mark changed.
    pub changed: Vec<ChunkReport>,
}

/// The chunkserver's disks and chunks.
pub struct Store {
    disks: Mutex<Vec<Arc<Disk>>>,
    index: Mutex<HashMap<u64, IndexEntry>>,
    duplicates: Mutex<Vec<Duplicate>>,
    /// Bad blocks and copies out of service, and the reports waiting for the master.
    damage: Arc<DamageBook>,
    leave_default: AtomicU64,
    epoch: Instant,
    /// Chunks whose file may be open: the idle closer looks only at these.
    open_ids: Mutex<HashSet<u64>>,
    /// Operations refused for lack of resources (descriptors, memory), and when the last one
    /// was logged (ms since `epoch`), so a storm of them logs once a second.
    busy: AtomicU64,
    busy_logged: AtomicU64,
}

impl Store {
    // ---- Opening and scanning ----

    /// Open the disks and scan them (blocking). Disks that cannot be used are logged and
    /// skipped; it is an error when none can.
    pub fn open(entries: &[HddEntry], leave_default: u64) -> Result<Store, String> {
        let store = Store {
            disks: Mutex::new(Vec::new()),
            index: Mutex::new(HashMap::new()),
            duplicates: Mutex::new(Vec::new()),
            damage: Arc::default(),
            leave_default: AtomicU64::new(leave_default),
            epoch: Instant::now(),
            open_ids: Mutex::new(HashSet::new()),
            busy: AtomicU64::new(0),
            busy_logged: AtomicU64::new(0),
        };
        for entry in entries {
            match Disk::open(entry) {
                Ok(disk) => {
                    let found = store.index_found(&disk, scan_files(&disk));
                    tracing::info!(disk = %disk.path.display(), chunks = found.len(), to_remove = entry.to_remove, "disk scanned");
                    if entry.to_remove {
                        tracing::warn!(disk = %disk.path.display(), copies = found.len(), "disk marked for removal: its copies are replicated elsewhere");
                    }
                    lock(&store.disks).push(disk);
                }
                Err(e) => tracing::error!(disk = %entry.path.display(), error = %e, "disk not usable, skipped"),
            }
        }
        if lock(&store.disks).is_empty() {
            return Err("no usable disk in mfshdd.cfg".into());
        }
        Ok(store)
    }

    /// Put what a scan found in the index; returns the copies it now serves or reports.
    fn index_found(&self, disk: &Arc<Disk>, found: Vec<FoundFile>) -> Vec<ChunkReport> {
        let mut out = Vec::with_capacity(found.len());
        for f in found {
            disk.add_used(0, f.len);
            let served = self.add_found(f.id, f.version, disk);
            if served && f.len < chunk_file::DATA_OFFSET {
                let path = chunk_path(&disk.path, f.id, f.version);
                let why = format!("{len} bytes, shorter than the chunk header", len = f.len);
                self.damage.mark_unusable(f.id, f.version, &why, "scan", &path);
            }
            out.push(ChunkReport { id: f.id, version: f.version, to_remove: disk.to_remove() });
        }
        out
    }

    /// Put a scanned copy in the index: the newest version is served, others are duplicates.
    /// True when it is the served copy now.
    fn add_found(&self, id: u64, version: u32, disk: &Arc<Disk>) -> bool {
        let mut index = lock(&self.index);
        let entry = index.entry(id).or_insert_with(|| IndexEntry { slot: Slot::default(), copy: None });
        // Found by a scan, so no operation can hold this chunk's lock with a copy in it yet,
        // except on reload: then the slot is busy and the copy goes to the duplicates.
        let Ok(mut state) = entry.slot.try_write() else {
            lock(&self.duplicates).push(Duplicate { id, version, disk: disk.clone() });
            return false;
        };
        match &mut state.copy {
            Some(c) if c.version >= version => {
                lock(&self.duplicates).push(Duplicate { id, version, disk: disk.clone() });
                false
            }
            Some(c) => {
                let old = Duplicate { id, version: c.version, disk: c.disk.clone() };
                lock(&self.duplicates).push(old);
                *c = Copy { version, disk: disk.clone(), file: None };
                entry.copy = Some((version, disk.clone()));
                self.damage.forget(id);
                true
            }
            None => {
                state.copy = Some(Copy { version, disk: disk.clone(), file: None });
                entry.copy = Some((version, disk.clone()));
                true
            }
        }
    }

    // ---- Reports ----

    /// Every copy held, for `Register`: the served ones and the duplicates.
    pub fn chunk_list(&self) -> Vec<ChunkReport> {
        let mut out: Vec<ChunkReport> = lock(&self.index)
            .iter()
            .filter_map(|(id, e)| {
                e.copy.as_ref().map(|(v, d)| ChunkReport { id: *id, version: *v, to_remove: d.to_remove() })
            })
            .collect();
        out.extend(lock(&self.duplicates).iter().map(|d| ChunkReport {
            id: d.id,
            version: d.version,
            to_remove: d.disk.to_remove(),
        }));
        out.sort_by_key(|c| (c.id, c.version));
        out.dedup_by_key(|c| (c.id, c.version));
        out
    }

    /// Ids of the served copies, sorted (for the scrubber's round robin).
    pub fn chunk_ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = lock(&self.index).iter().filter(|(_, e)| e.copy.is_some()).map(|(id, _)| *id).collect();
        ids.sort_unstable();
        ids
    }

    /// The next served chunk after `cursor` in id order (wrapping), skipping copies out of
    /// service (nothing of them is read): the scrubber's round robin, without sorting the
    /// index. Copies with bad blocks are still checked (their other blocks may go bad too).
    pub fn next_chunk_after(&self, cursor: Option<u64>) -> Option<u64> {
        let index = lock(&self.index);
        let ids = index.iter().filter(|(id, e)| e.copy.is_some() && !self.damage.is_unusable(**id)).map(|(id, _)| *id);
        let (mut after, mut first) = (None::<u64>, None::<u64>);
        for id in ids {
            first = Some(first.map_or(id, |f| f.min(id)));
            if cursor.is_none_or(|c| id > c) {
                after = Some(after.map_or(id, |a| a.min(id)));
            }
        }
        after.or(first)
    }

    /// Number of copies held.
    pub fn chunk_count(&self) -> u64 {
        let served = lock(&self.index).values().filter(|e| e.copy.is_some()).count();
        (served + lock(&self.duplicates).len()) as u64
    }

    /// Space for `SpaceReport` (disks marked for removal excluded; `load` left at 0).
    pub fn space(&self) -> SpaceReport {
        let leave = self.leave_default();
        let mut r = SpaceReport { chunks: self.chunk_count(), ..Default::default() };
        for d in self.disks().iter().filter(|d| !d.to_remove()) {
            match d.space(leave) {
                Ok(s) => {
                    r.total += s.total;
                    r.avail += s.avail;
                }
                Err(e) => tracing::warn!(disk = %d.path.display(), error = %e, "statvfs failed"),
            }
        }
        r
    }

    /// Every disk with its space and chunk count.
    pub fn disk_status(&self) -> Vec<DiskStatus> {
        let leave = self.leave_default();
        let mut counts: HashMap<PathBuf, u64> = HashMap::new();
        for (_, d) in lock(&self.index).values().filter_map(|e| e.copy.as_ref()) {
            *counts.entry(d.path.clone()).or_default() += 1;
        }
        for d in lock(&self.duplicates).iter() {
            *counts.entry(d.disk.path.clone()).or_default() += 1;
        }
        let mut damaged: HashMap<PathBuf, u64> = HashMap::new();
        {
            let index = lock(&self.index);
            for id in self.damage().damaged_ids() {
                if let Some((_, d)) = index.get(&id).and_then(|e| e.copy.as_ref()) {
                    *damaged.entry(d.path.clone()).or_default() += 1;
                }
            }
        }
        self.disks()
            .iter()
            .map(|d| {
                let (space, error) = match d.space(leave) {
                    Ok(s) => (s, None),
                    Err(e) => (DiskSpace::default(), Some(e.to_string())),
                };
                DiskStatus {
                    path: d.path.display().to_string(),
                    to_remove: d.to_remove(),
                    total: space.total,
                    avail: space.avail,
                    used: d.used(),
                    chunks: counts.get(&d.path).copied().unwrap_or(0),
                    damaged: damaged.get(&d.path).copied().unwrap_or(0),
                    error,
                }
            })
            .collect()
    }

    /// The disks in use.
    pub fn disks(&self) -> Vec<Arc<Disk>> {
        lock(&self.disks).clone()
    }

    /// Where a served copy lives (for logs).
    pub fn path_of(&self, id: u64) -> Option<PathBuf> {
        lock(&self.index).get(&id).and_then(|e| e.copy.as_ref().map(|(v, d)| chunk_path(&d.path, id, *v)))
    }

    /// The version of the served copy of `id`.
    pub fn version_of(&self, id: u64) -> Option<u32> {
        lock(&self.index).get(&id).and_then(|e| e.copy.as_ref().map(|(v, _)| *v))
    }

    /// What is known to be wrong with the copies, and the reports waiting for the master.
    pub fn damage(&self) -> &DamageBook {
        &self.damage
    }

    /// Operations refused for lack of resources since the start.
    pub fn busy_count(&self) -> u64 {
        self.busy.load(Ordering::Relaxed)
    }

    fn leave_default(&self) -> u64 {
        self.leave_default.load(Ordering::Relaxed)
    }

    /// Change `HDD_LEAVE_SPACE_DEFAULT` (on reload).
    pub fn set_leave_default(&self, bytes: u64) {
        self.leave_default.store(bytes, Ordering::Relaxed);
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Count (and log, at most once a second) an operation refused for lack of resources. It
    /// says nothing about the data: the copy stays as it is and the caller tries again later.
    fn note_busy(&self, id: u64, during: &str, why: &str) {
        self.busy.fetch_add(1, Ordering::Relaxed);
        let now = self.now_ms();
        let last = self.busy_logged.load(Ordering::Relaxed);
        if (last == 0 || now.saturating_sub(last) >= 1000)
            && self.busy_logged.compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed).is_ok()
        {
            tracing::warn!(
                chunk = format_args!("{id:016X}"),
                during,
                reason = why,
                refused_so_far = self.busy_count(),
                "short of resources (not damage): request refused as busy"
            );
        }
    }
}
