//! The disks and the chunk index.
//!
//! Every disk of `mfshdd.cfg` holds chunk files in 256 subfolders `00`..`FF`. At startup (and
//! for disks added on reload) each disk is scanned: names are parsed strictly, foreign files
//! are left alone with a warning, and replication leftovers (`*.mfs.tmp`) are deleted. The
//! index maps a chunk id to its copy (version and disk). When two versions of one chunk are
//! found, the newest is served and the others are kept as *duplicates*: they are reported to
//! the master, which deletes the stale ones.
//!
//! Each chunk has an async read/write lock ([`Slot`]): reads share it, every other operation
//! holds it alone, so concurrent operations on one chunk serialize. File I/O runs in
//! `spawn_blocking` while the lock is held.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use proto::cs::{ChunkReport, CsError, SpaceReport};
use serde::Serialize;
use tokio::sync::{OwnedRwLockWriteGuard, RwLock};

use crate::chunk_file::{self, chunk_path, io_error, parse_chunk_name, subfolder_name, ChunkFile, TMP_SUFFIX};
use crate::hdd::{HddEntry, SpaceLimit};

/// Space a disk needs to take a new chunk: its header and a first block. Growth beyond that
/// is what `HDD_LEAVE_SPACE_DEFAULT` keeps room for; writes check space as they grow.
pub const NEW_CHUNK_MIN_SPACE: u64 = chunk_file::DATA_OFFSET + chunk_file::BLOCK;
/// Lock file in each disk's root: two chunkservers must never share a disk.
pub const DISK_LOCK_FILE: &str = ".lock";

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Run blocking file work off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, CsError> + Send + 'static) -> Result<T, CsError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(CsError::Io(format!("internal: file task failed: {e}"))))
}

// ---- Disks ----

/// Total and available bytes of the file system holding `path` (statvfs).
pub fn fs_space(path: &Path) -> std::io::Result<(u64, u64)> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "path holds a NUL byte"))?;
    // SAFETY: statvfs writes into the zeroed struct we own; the path is a valid C string.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let frsize = st.f_frsize as u64;
    Ok((st.f_blocks as u64 * frsize, st.f_bavail as u64 * frsize))
}

/// The space of one disk, after its limit or reserve.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskSpace {
    /// Bytes this disk offers for chunks.
    pub total: u64,
    /// Bytes free for new chunks (after the reserve).
    pub avail: u64,
    /// Bytes existing chunks may still grow by (the reserve is theirs).
    pub room: u64,
}

/// One disk of `mfshdd.cfg`.
#[derive(Debug)]
pub struct Disk {
    pub path: PathBuf,
    to_remove: AtomicBool,
    limit: Mutex<Option<SpaceLimit>>,
    /// Bytes of chunk files on this disk (their lengths).
    used: AtomicU64,
    /// The held `flock` on `<disk>/.lock`; `None` once released.
    lock_file: Mutex<Option<File>>,
}

impl Disk {
    /// Open a disk: it must be a folder; lock it and create the 256 subfolders.
    fn open(entry: &HddEntry) -> Result<Arc<Disk>, String> {
        let path = &entry.path;
        if !path.is_dir() {
            return Err(format!("{} is not a folder", path.display()));
        }
        let lock_path = path.join(DISK_LOCK_FILE);
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(|e| format!("{}: {e}", lock_path.display()))?;
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Err(format!("{} is in use by another chunkserver", path.display()));
        }
        for i in 0..=255u64 {
            let sub = path.join(subfolder_name(i));
            if !sub.is_dir() {
                std::fs::create_dir(&sub).map_err(|e| format!("{}: {e}", sub.display()))?;
            }
        }
        Ok(Arc::new(Disk {
            path: path.clone(),
            to_remove: AtomicBool::new(entry.to_remove),
            limit: Mutex::new(entry.limit),
            used: AtomicU64::new(0),
            lock_file: Mutex::new(Some(f)),
        }))
    }

    /// Marked for removal (`*`).
    pub fn to_remove(&self) -> bool {
        self.to_remove.load(Ordering::Relaxed)
    }

    /// Bytes of chunk files on the disk.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    fn add_used(&self, before: u64, after: u64) {
        if after >= before {
            self.used.fetch_add(after - before, Ordering::Relaxed);
        } else {
            let d = before - after;
            let _ = self.used.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| Some(u.saturating_sub(d)));
        }
    }

    /// Space after the disk's limit or reserve (`leave_default` unless it has its own).
    pub fn space(&self, leave_default: u64) -> std::io::Result<DiskSpace> {
        let (fs_total, fs_avail) = fs_space(&self.path)?;
        let used = self.used();
        let limit = *lock(&self.limit);
        Ok(match limit {
            None => DiskSpace { total: fs_total, avail: fs_avail.saturating_sub(leave_default), room: fs_avail },
            Some(SpaceLimit::Max(a)) => {
                let cap = a.bytes(fs_total);
                let left = cap.saturating_sub(used);
                DiskSpace {
                    total: cap,
                    avail: left.min(fs_avail.saturating_sub(leave_default)),
                    room: left.min(fs_avail),
                }
            }
            Some(SpaceLimit::LeaveFree(a)) => {
                let keep = a.bytes(fs_total);
                DiskSpace { total: fs_total.saturating_sub(keep), avail: fs_avail.saturating_sub(keep), room: fs_avail }
            }
        })
    }

    /// Fail with `NoSpace` unless a chunk on this disk may grow by `growth` bytes.
    fn check_room(&self, growth: u64, leave_default: u64) -> Result<(), CsError> {
        let space = self.space(leave_default).map_err(|e| io_error(&e, "statvfs", &self.path))?;
        if growth > space.room {
            return Err(CsError::NoSpace);
        }
        Ok(())
    }

    fn release(&self) {
        lock(&self.lock_file).take();
    }
}

/// One disk as `/api/v1/status` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct DiskStatus {
    pub path: String,
    pub to_remove: bool,
    pub total: u64,
    pub avail: u64,
    pub used: u64,
    pub chunks: u64,
    /// Why the disk's space could not be read, if it could not.
    pub error: Option<String>,
}

// ---- Chunks ----

/// A copy the index serves.
#[derive(Debug)]
struct Copy {
    version: u32,
    disk: Arc<Disk>,
    /// Open while in use; closed when idle.
    file: Option<ChunkFile>,
}

/// What a chunk's lock protects.
#[derive(Debug, Default)]
struct ChunkState {
    /// `None` while being created, or once deleted.
    copy: Option<Copy>,
    /// Last use, in ms since the store's epoch (for closing idle files).
    last_use: AtomicU64,
}

/// The per-chunk lock.
type Slot = Arc<RwLock<ChunkState>>;

/// An index entry: the lock and a copy of what it holds, for reports without locking.
struct IndexEntry {
    slot: Slot,
    copy: Option<(u32, Arc<Disk>)>,
}

/// A second copy of a chunk found by a scan (another version, or another disk).
#[derive(Debug)]
struct Duplicate {
    id: u64,
    version: u32,
    disk: Arc<Disk>,
}

impl Duplicate {
    fn path(&self) -> PathBuf {
        chunk_path(&self.disk.path, self.id, self.version)
    }
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

/// A chunk file being filled by a replication, under a temporary name.
pub struct ReplicaFile {
    file: ChunkFile,
    disk: Arc<Disk>,
    leave_default: u64,
}

impl ReplicaFile {
    /// Write data (blocking; call from `spawn_blocking`).
    pub fn write(&mut self, offset: u32, data: &[u8]) -> Result<(), CsError> {
        let growth = self.file.growth_to(offset as u64 + data.len() as u64);
        if growth > 0 {
            self.disk.check_room(growth, self.leave_default)?;
        }
        self.file.write(offset, data)
    }

    /// Length and CRCs written so far.
    pub fn info(&self) -> (u32, Vec<u32>) {
        self.file.info()
    }

    /// Delete the temporary file (blocking).
    pub fn abort(self) {
        let path = self.file.path().to_path_buf();
        if let Err(e) = self.file.delete() {
            tracing::warn!(path = %path.display(), error = %e, "could not delete a replication leftover");
        }
    }
}

/// The chunkserver's disks and chunks.
pub struct Store {
    disks: Mutex<Vec<Arc<Disk>>>,
    index: Mutex<HashMap<u64, IndexEntry>>,
    duplicates: Mutex<Vec<Duplicate>>,
    /// Copies known to be damaged (CRC or I/O errors), re-reported after every registration.
    damaged: Mutex<BTreeMap<u64, (u32, String)>>,
    leave_default: AtomicU64,
    epoch: Instant,
    /// Chunks whose file may be open: the idle closer looks only at these.
    open_ids: Mutex<HashSet<u64>>,
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
            damaged: Mutex::new(BTreeMap::new()),
            leave_default: AtomicU64::new(leave_default),
            epoch: Instant::now(),
            open_ids: Mutex::new(HashSet::new()),
        };
        for entry in entries {
            match Disk::open(entry) {
                Ok(disk) => {
                    let found = store.index_found(&disk, scan_files(&disk));
                    tracing::info!(disk = %disk.path.display(), chunks = found.len(), to_remove = entry.to_remove, "disk scanned");
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
            if f.len < chunk_file::DATA_OFFSET {
                let path = chunk_path(&disk.path, f.id, f.version);
                tracing::warn!(path = %path.display(), len = f.len, "chunk file shorter than its header: damaged");
                self.mark_damaged(f.id, f.version, format!("{}: shorter than its header", path.display()));
            }
            self.add_found(f.id, f.version, disk);
            out.push(ChunkReport { id: f.id, version: f.version, to_remove: disk.to_remove() });
        }
        out
    }

    /// Put a scanned copy in the index: the newest version is served, others are duplicates.
    fn add_found(&self, id: u64, version: u32, disk: &Arc<Disk>) {
        let mut index = lock(&self.index);
        let entry = index.entry(id).or_insert_with(|| IndexEntry { slot: Slot::default(), copy: None });
        // Found by a scan, so no operation can hold this chunk's lock with a copy in it yet,
        // except on reload: then the slot is busy and the copy goes to the duplicates.
        let Ok(mut state) = entry.slot.try_write() else {
            lock(&self.duplicates).push(Duplicate { id, version, disk: disk.clone() });
            return;
        };
        match &mut state.copy {
            Some(c) if c.version >= version => {
                lock(&self.duplicates).push(Duplicate { id, version, disk: disk.clone() });
            }
            Some(c) => {
                let old = Duplicate { id, version: c.version, disk: c.disk.clone() };
                lock(&self.duplicates).push(old);
                *c = Copy { version, disk: disk.clone(), file: None };
                entry.copy = Some((version, disk.clone()));
            }
            None => {
                state.copy = Some(Copy { version, disk: disk.clone(), file: None });
                entry.copy = Some((version, disk.clone()));
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

    /// The next served chunk after `cursor` in id order (wrapping), skipping copies already
    /// known damaged: the scrubber's round robin, without sorting the index.
    pub fn next_chunk_after(&self, cursor: Option<u64>) -> Option<u64> {
        let damaged = lock(&self.damaged);
        let index = lock(&self.index);
        let ids = index.iter().filter(|(id, e)| e.copy.is_some() && !damaged.contains_key(id)).map(|(id, _)| *id);
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

    fn leave_default(&self) -> u64 {
        self.leave_default.load(Ordering::Relaxed)
    }

    /// Change `HDD_LEAVE_SPACE_DEFAULT` (on reload).
    pub fn set_leave_default(&self, bytes: u64) {
        self.leave_default.store(bytes, Ordering::Relaxed);
    }

    // ---- Damage ----

    /// Remember a damaged copy (re-reported after each registration until it is replaced).
    pub fn mark_damaged(&self, id: u64, version: u32, reason: String) {
        lock(&self.damaged).insert(id, (version, reason));
    }

    /// Damaged copies still held.
    pub fn damaged(&self) -> Vec<(u64, u32, String)> {
        lock(&self.damaged).iter().map(|(id, (v, r))| (*id, *v, r.clone())).collect()
    }

    fn clear_damaged(&self, id: u64) {
        lock(&self.damaged).remove(&id);
    }

    // ---- Data operations ----

    /// Read `size` bytes at `offset` of chunk `id` at `version`.
    pub async fn read(&self, id: u64, version: u32, offset: u32, size: u32) -> Result<Vec<u8>, CsError> {
        self.shared(id, version, move |f| f.read(offset, size)).await
    }

    /// Write `data` at `offset`; `NoSpace` if the disk cannot hold the growth.
    pub async fn write(&self, id: u64, version: u32, offset: u32, data: Vec<u8>) -> Result<(), CsError> {
        let leave = self.leave_default();
        self.exclusive(id, version, move |f, disk| {
            let growth = f.growth_to(offset as u64 + data.len() as u64);
            if growth > 0 {
                disk.check_room(growth, leave)?;
            }
            f.write(offset, &data)
        })
        .await
    }

    /// Cut or extend the chunk to `length` bytes.
    pub async fn truncate(&self, id: u64, version: u32, length: u32) -> Result<(), CsError> {
        let leave = self.leave_default();
        self.exclusive(id, version, move |f, disk| {
            let growth = f.growth_to(length as u64);
            if growth > 0 {
                disk.check_room(growth, leave)?;
            }
            f.truncate(length)
        })
        .await
    }

    /// fsync the chunk.
    pub async fn sync(&self, id: u64, version: u32) -> Result<(), CsError> {
        self.shared(id, version, |f| f.sync()).await
    }

    /// Length and block CRCs.
    pub async fn info(&self, id: u64, version: u32) -> Result<(u32, Vec<u32>), CsError> {
        self.shared(id, version, |f| Ok(f.info())).await
    }

    /// Check every block of the served copy of `id` (any version); returns its version.
    pub async fn verify(&self, id: u64) -> Result<u32, CsError> {
        let version = self.version_of(id).ok_or(CsError::NoChunk)?;
        self.shared(id, version, |f| f.verify_all().map(|_| f.version())).await
    }

    // ---- Commands ----

    /// Create an empty copy at `version`, replacing any copy of `id` (the master is
    /// authoritative for ids).
    pub async fn create(&self, id: u64, version: u32) -> Result<(), CsError> {
        let disk = self.pick_disk().await?;
        let slot = self.slot_or_insert(id);
        let guard = slot.clone().write_owned().await;
        let dups = self.take_duplicates(id, |_| true);
        let result = blocking(move || {
            let mut guard = guard;
            if let Err(e) = drop_copy(&mut guard, id) {
                tracing::warn!(id, error = %e, "could not delete the copy being replaced");
            }
            remove_duplicates(dups);
            let path = chunk_path(&disk.path, id, version);
            if path.exists() {
                // Not in the index (e.g. a scan skipped it): the master says it is gone.
                let _ = std::fs::remove_file(&path);
            }
            let f = ChunkFile::create(&path, id, version)?;
            disk.add_used(0, f.file_len());
            guard.copy = Some(Copy { version, disk, file: Some(f) });
            Ok(guard)
        })
        .await;
        self.clear_damaged(id);
        self.finish(id, &slot, result.map(|g| self.publish_guard(id, &slot, g)))
    }

    /// Delete the copy of `id` at `version` (0: any version), duplicates included.
    pub async fn delete(&self, id: u64, version: u32) -> Result<(), CsError> {
        let dups = self.take_duplicates(id, |d| version == 0 || d.version == version);
        let had_dups = !dups.is_empty();
        blocking(move || {
            remove_duplicates(dups);
            Ok(())
        })
        .await?;
        let Some(slot) = self.existing_slot(id) else {
            return if had_dups { Ok(()) } else { Err(CsError::NoChunk) };
        };
        let mut guard = slot.clone().write_owned().await;
        let result = match &guard.copy {
            None if had_dups => Ok(()),
            None => Err(CsError::NoChunk),
            Some(c) if version != 0 && c.version != version => {
                if had_dups {
                    Ok(())
                } else {
                    Err(CsError::WrongVersion { have: c.version })
                }
            }
            Some(_) => {
                // Serve the newest remaining duplicate, if a scan found one.
                let next = self.take_newest_duplicate(id);
                let r = blocking(move || {
                    let removed = drop_copy(&mut guard, id);
                    if let Some(d) = next {
                        guard.copy = Some(Copy { version: d.version, disk: d.disk, file: None });
                    }
                    removed.map(|_| guard)
                })
                .await;
                self.clear_damaged(id);
                return self.finish(id, &slot, r.map(|g| self.publish_guard(id, &slot, g)));
            }
        };
        drop(guard);
        self.finish(id, &slot, result)
    }

    /// Renumber the copy to `new_version` if its version is one of `expect`.
    pub async fn set_version(&self, id: u64, expect: Vec<u32>, new_version: u32) -> Result<(), CsError> {
        let slot = self.existing_slot(id).ok_or(CsError::NoChunk)?;
        let guard = slot.clone().write_owned().await;
        match &guard.copy {
            None => return self.finish(id, &slot, Err(CsError::NoChunk)),
            Some(c) if !expect.contains(&c.version) => {
                let have = c.version;
                return self.finish(id, &slot, Err(CsError::WrongVersion { have }));
            }
            Some(_) => {}
        }
        // A stale duplicate already at the target version goes first.
        let dups = self.take_duplicates(id, |d| d.version == new_version);
        let result = blocking(move || {
            let mut guard = guard;
            remove_duplicates(dups);
            let r = open_copy(&mut guard, id).and_then(|(f, _)| f.set_version(new_version));
            if let Some(c) = guard.copy.as_mut() {
                if let Some(f) = &c.file {
                    c.version = f.version();
                }
            }
            r.map(|_| guard)
        })
        .await;
        self.finish(id, &slot, result.map(|g| self.publish_guard(id, &slot, g)))
    }

    /// Start a replica of `id` at `version`: an empty file under a temporary name on the
    /// disk with most free space.
    pub async fn begin_replica(&self, id: u64, version: u32) -> Result<ReplicaFile, CsError> {
        let disk = self.pick_disk().await?;
        let leave_default = self.leave_default();
        blocking(move || {
            let mut path = chunk_path(&disk.path, id, version).into_os_string();
            path.push(TMP_SUFFIX);
            let path = PathBuf::from(path);
            if path.exists() {
                let _ = std::fs::remove_file(&path);
            }
            let file = ChunkFile::create(&path, id, version)?;
            Ok(ReplicaFile { file, disk, leave_default })
        })
        .await
    }

    /// Make a complete replica the served copy (fsync, then an atomic rename), replacing any
    /// copy of the chunk.
    pub async fn commit_replica(&self, replica: ReplicaFile) -> Result<(), CsError> {
        let id = replica.file.id();
        let slot = self.slot_or_insert(id);
        let guard = slot.clone().write_owned().await;
        let dups = self.take_duplicates(id, |_| true);
        let result = blocking(move || {
            let mut guard = guard;
            let ReplicaFile { mut file, disk, .. } = replica;
            if let Err(e) = file.sync() {
                let _ = file.delete();
                return Err(e);
            }
            if let Err(e) = drop_copy(&mut guard, id) {
                tracing::warn!(id, error = %e, "could not delete the copy being replaced");
            }
            remove_duplicates(dups);
            let final_path = chunk_path(&disk.path, id, file.version());
            if let Err(e) = file.rename_to(&final_path) {
                let _ = file.delete();
                return Err(e);
            }
            disk.add_used(0, file.file_len());
            guard.copy = Some(Copy { version: file.version(), disk, file: Some(file) });
            Ok(guard)
        })
        .await;
        self.clear_damaged(id);
        self.finish(id, &slot, result.map(|g| self.publish_guard(id, &slot, g)))
    }

    // ---- Housekeeping ----

    /// fsync and close files unused for `idle`; forget deleted chunks' locks.
    pub async fn close_idle(&self, idle: Duration) {
        let now = self.now_ms();
        let idle_ms = idle.as_millis() as u64;
        let ids: Vec<u64> = lock(&self.open_ids).iter().copied().collect();
        for id in ids {
            let Some(slot) = self.existing_slot(id) else {
                lock(&self.open_ids).remove(&id);
                continue;
            };
            let Ok(mut guard) = slot.clone().try_write_owned() else { continue };
            let open = guard.copy.as_ref().is_some_and(|c| c.file.is_some());
            if !open {
                lock(&self.open_ids).remove(&id);
            } else if now.saturating_sub(guard.last_use.load(Ordering::Relaxed)) >= idle_ms {
                lock(&self.open_ids).remove(&id);
                let _ = blocking(move || {
                    if let Some(f) = guard.copy.as_mut().and_then(|c| c.file.take()) {
                        if let Err(e) = f.sync() {
                            tracing::warn!(path = %f.path().display(), error = %e, "fsync on close failed");
                        }
                    }
                    Ok(())
                })
                .await;
            }
            self.gc(id, &slot);
        }
    }

    /// Chunks whose file may be open (for the idle closer).
    pub fn open_files(&self) -> usize {
        lock(&self.open_ids).len()
    }

    /// fsync and close every open chunk file (on shutdown), then release the disks' locks.
    pub async fn close_all(&self) {
        let slots: Vec<Slot> = lock(&self.index).values().map(|e| e.slot.clone()).collect();
        for slot in slots {
            let guard = slot.write_owned().await;
            let _ = blocking(move || {
                let mut guard = guard;
                if let Some(f) = guard.copy.as_mut().and_then(|c| c.file.take()) {
                    if let Err(e) = f.sync() {
                        tracing::warn!(path = %f.path().display(), error = %e, "fsync on shutdown failed");
                    }
                }
                Ok(())
            })
            .await;
        }
        for d in self.disks() {
            d.release();
        }
    }

    /// Apply a new `mfshdd.cfg`: scan added disks in, drop removed disks' chunks, update
    /// marks and limits.
    pub async fn reload(&self, entries: Vec<HddEntry>) -> ReloadReport {
        let mut report = ReloadReport::default();
        let current = self.disks();
        // Disks that left the list.
        for disk in current.iter().filter(|d| !entries.iter().any(|e| e.path == d.path)) {
            report.removed.extend(self.drop_disk(disk).await);
            report.disks_removed.push(disk.path.clone());
        }
        // Disks that stay: new marks and limits.
        for entry in &entries {
            let Some(disk) = current.iter().find(|d| d.path == entry.path) else { continue };
            *lock(&disk.limit) = entry.limit;
            if disk.to_remove.swap(entry.to_remove, Ordering::Relaxed) != entry.to_remove {
                report.changed.extend(self.chunk_list_on(disk));
            }
        }
        // New disks.
        for entry in entries.iter().filter(|e| !current.iter().any(|d| d.path == e.path)) {
            let entry = entry.clone();
            let opened = tokio::task::spawn_blocking(move || {
                Disk::open(&entry).map(|disk| {
                    let files = scan_files(&disk);
                    (disk, files)
                })
            })
            .await;
            match opened {
                Ok(Ok((disk, files))) => {
                    let found = self.index_found(&disk, files);
                    tracing::info!(disk = %disk.path.display(), chunks = found.len(), "disk added");
                    report.disks_added.push(disk.path.clone());
                    report.added.extend(found);
                    lock(&self.disks).push(disk);
                }
                Ok(Err(e)) => tracing::error!(error = %e, "disk not usable, skipped"),
                Err(e) => tracing::error!(error = %e, "disk open task failed"),
            }
        }
        report
    }

    // ---- Internals ----

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn note_open(&self, id: u64) {
        lock(&self.open_ids).insert(id);
    }

    fn existing_slot(&self, id: u64) -> Option<Slot> {
        lock(&self.index).get(&id).map(|e| e.slot.clone())
    }

    fn slot_or_insert(&self, id: u64) -> Slot {
        lock(&self.index).entry(id).or_insert_with(|| IndexEntry { slot: Slot::default(), copy: None }).slot.clone()
    }

    /// Record what a guard now holds in the index, and release it.
    fn publish_guard(&self, id: u64, slot: &Slot, guard: OwnedRwLockWriteGuard<ChunkState>) {
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
    fn finish<T>(&self, id: u64, slot: &Slot, result: Result<T, CsError>) -> Result<T, CsError> {
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
    fn gc(&self, id: u64, slot: &Slot) {
        let mut index = lock(&self.index);
        if let Some(e) = index.get(&id) {
            // Ours and the index's: every other user clones the slot under this mutex.
            if Arc::ptr_eq(&e.slot, slot) && e.copy.is_none() && Arc::strong_count(slot) == 2 {
                index.remove(&id);
            }
        }
    }

    fn take_duplicates(&self, id: u64, pick: impl Fn(&Duplicate) -> bool) -> Vec<Duplicate> {
        let mut dups = lock(&self.duplicates);
        let (taken, kept): (Vec<_>, Vec<_>) = dups.drain(..).partition(|d| d.id == id && pick(d));
        *dups = kept;
        taken
    }

    fn take_newest_duplicate(&self, id: u64) -> Option<Duplicate> {
        let mut dups = lock(&self.duplicates);
        let pos = dups.iter().enumerate().filter(|(_, d)| d.id == id).max_by_key(|(_, d)| d.version).map(|(i, _)| i)?;
        Some(dups.swap_remove(pos))
    }

    fn chunk_list_on(&self, disk: &Arc<Disk>) -> Vec<ChunkReport> {
        let to_remove = disk.to_remove();
        let mut out: Vec<ChunkReport> = lock(&self.index)
            .iter()
            .filter_map(|(id, e)| match &e.copy {
                Some((v, d)) if Arc::ptr_eq(d, disk) => Some(ChunkReport { id: *id, version: *v, to_remove }),
                _ => None,
            })
            .collect();
        out.extend(lock(&self.duplicates).iter().filter(|d| Arc::ptr_eq(&d.disk, disk)).map(|d| ChunkReport {
            id: d.id,
            version: d.version,
            to_remove,
        }));
        out
    }

    /// Stop serving everything on a disk (its files stay) and release it.
    async fn drop_disk(&self, disk: &Arc<Disk>) -> Vec<ChunkReport> {
        let mut removed = Vec::new();
        for d in self.take_all_duplicates_on(disk) {
            removed.push(ChunkReport { id: d.id, version: d.version, to_remove: disk.to_remove() });
        }
        let on_disk: Vec<(u64, Slot)> = lock(&self.index)
            .iter()
            .filter(|(_, e)| e.copy.as_ref().is_some_and(|(_, d)| Arc::ptr_eq(d, disk)))
            .map(|(id, e)| (*id, e.slot.clone()))
            .collect();
        for (id, slot) in on_disk {
            let guard = slot.clone().write_owned().await;
            let still_there = guard.copy.as_ref().is_some_and(|c| Arc::ptr_eq(&c.disk, disk));
            if !still_there {
                continue;
            }
            let next = self.take_newest_duplicate(id);
            let r = blocking(move || {
                let mut guard = guard;
                let c = guard.copy.take();
                if let Some(f) = c.as_ref().and_then(|c| c.file.as_ref()) {
                    let _ = f.sync();
                }
                if let Some(d) = next {
                    guard.copy = Some(Copy { version: d.version, disk: d.disk, file: None });
                }
                Ok((guard, c.map(|c| c.version)))
            })
            .await;
            if let Ok((guard, Some(version))) = r {
                removed.push(ChunkReport { id, version, to_remove: disk.to_remove() });
                self.publish_guard(id, &slot, guard);
            }
            self.gc(id, &slot);
        }
        lock(&self.disks).retain(|d| !Arc::ptr_eq(d, disk));
        disk.release();
        tracing::info!(disk = %disk.path.display(), chunks = removed.len(), "disk removed");
        removed
    }

    fn take_all_duplicates_on(&self, disk: &Arc<Disk>) -> Vec<Duplicate> {
        let mut dups = lock(&self.duplicates);
        let (taken, kept): (Vec<_>, Vec<_>) = dups.drain(..).partition(|d| Arc::ptr_eq(&d.disk, disk));
        *dups = kept;
        taken
    }

    /// The disk with the most space for a new chunk.
    async fn pick_disk(&self) -> Result<Arc<Disk>, CsError> {
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

    /// Run `op` on the open file under the shared lock (opening it first if needed).
    async fn shared<T: Send + 'static>(
        &self,
        id: u64,
        version: u32,
        op: impl FnOnce(&ChunkFile) -> Result<T, CsError> + Send + 'static,
    ) -> Result<T, CsError> {
        let slot = self.existing_slot(id).ok_or(CsError::NoChunk)?;
        let guard = slot.clone().read_owned().await;
        check_version(&guard, version)?;
        if guard.copy.as_ref().is_some_and(|c| c.file.is_some()) {
            guard.last_use.store(self.now_ms(), Ordering::Relaxed);
            return blocking(move || match guard.copy.as_ref().and_then(|c| c.file.as_ref()) {
                Some(f) => op(f),
                None => Err(CsError::NoChunk),
            })
            .await;
        }
        drop(guard);
        drop(slot);
        self.exclusive(id, version, move |f, _| op(f)).await
    }

    /// Run `op` on the open file under the exclusive lock (opening it first if needed),
    /// keeping the disk's used bytes up to date.
    async fn exclusive<T: Send + 'static>(
        &self,
        id: u64,
        version: u32,
        op: impl FnOnce(&mut ChunkFile, &Disk) -> Result<T, CsError> + Send + 'static,
    ) -> Result<T, CsError> {
        let slot = self.existing_slot(id).ok_or(CsError::NoChunk)?;
        let guard = slot.clone().write_owned().await;
        check_version(&guard, version)?;
        guard.last_use.store(self.now_ms(), Ordering::Relaxed);
        self.note_open(id);
        blocking(move || {
            let mut guard = guard;
            let (f, disk) = open_copy(&mut guard, id)?;
            let before = f.file_len();
            let r = op(f, &disk);
            disk.add_used(before, f.file_len());
            r
        })
        .await
    }
}

fn check_version(state: &ChunkState, version: u32) -> Result<(), CsError> {
    match &state.copy {
        None => Err(CsError::NoChunk),
        Some(c) if c.version != version => Err(CsError::WrongVersion { have: c.version }),
        Some(_) => Ok(()),
    }
}

/// The open file of the slot's copy (opened now if closed), and its disk.
fn open_copy(state: &mut ChunkState, id: u64) -> Result<(&mut ChunkFile, Arc<Disk>), CsError> {
    let copy = state.copy.as_mut().ok_or(CsError::NoChunk)?;
    let disk = copy.disk.clone();
    let file = match &mut copy.file {
        Some(f) => f,
        slot @ None => slot.insert(ChunkFile::open(&chunk_path(&disk.path, id, copy.version), id, copy.version)?),
    };
    Ok((file, disk))
}

/// Delete the slot's copy of chunk `id` from its disk (blocking).
fn drop_copy(state: &mut ChunkState, id: u64) -> Result<(), CsError> {
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

/// A chunk file found by a scan.
struct FoundFile {
    id: u64,
    version: u32,
    len: u64,
}

/// List the chunk files of a disk (blocking): strict names, right folder, regular files.
/// Foreign files are left alone with a warning; replication leftovers are deleted.
fn scan_files(disk: &Disk) -> Vec<FoundFile> {
    let mut found = Vec::new();
    for sub in 0..=255u64 {
        let folder = disk.path.join(subfolder_name(sub));
        let entries = match std::fs::read_dir(&folder) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(folder = %folder.display(), error = %e, "cannot list a chunk folder");
                continue;
            }
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("chunk_") && name.ends_with(TMP_SUFFIX) {
                tracing::info!(path = %path.display(), "deleting an unfinished replication");
                let _ = std::fs::remove_file(&path);
                continue;
            }
            let Some((id, version)) = parse_chunk_name(&name) else {
                tracing::warn!(path = %path.display(), "not a chunk file, ignored");
                continue;
            };
            if subfolder_name(id) != subfolder_name(sub) {
                tracing::warn!(path = %path.display(), "chunk file in the wrong folder, ignored");
                continue;
            }
            match entry.metadata() {
                Ok(m) if m.is_file() => found.push(FoundFile { id, version, len: m.len() }),
                _ => tracing::warn!(path = %path.display(), "chunk name on something that is not a file, ignored"),
            }
        }
    }
    found
}

/// Delete duplicate copies' files (blocking).
fn remove_duplicates(dups: Vec<Duplicate>) {
    for d in dups {
        let path = d.path();
        let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        match std::fs::remove_file(&path) {
            Ok(()) => d.disk.add_used(len, 0),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(path = %path.display(), error = %e, "could not delete a duplicate copy"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hdd::Amount;

    const B: usize = chunk_file::BLOCK as usize;

    fn entry(path: &Path) -> HddEntry {
        HddEntry { path: path.to_path_buf(), to_remove: false, limit: None }
    }

    fn with_limit(path: &Path, bytes: u64) -> HddEntry {
        HddEntry { limit: Some(SpaceLimit::Max(Amount::Bytes(bytes))), ..entry(path) }
    }

    fn open(entries: &[HddEntry]) -> Store {
        Store::open(entries, 0).unwrap()
    }

    fn report(id: u64, version: u32, to_remove: bool) -> ChunkReport {
        ChunkReport { id, version, to_remove }
    }

    #[tokio::test]
    async fn scan_creates_folders_ignores_foreign_files_and_keeps_both_versions() {
        let d = tempfile::tempdir().unwrap();
        {
            let s = open(&[entry(d.path())]);
            assert!(d.path().join("00").is_dir() && d.path().join("FF").is_dir());
            s.create(0x101, 1).await.unwrap();
            s.create(0x202, 5).await.unwrap();
            s.write(0x202, 5, 0, b"data".to_vec()).await.unwrap();
            s.close_all().await;
        }
        // A stale older version of 0x202 next to the new one, foreign files, a leftover.
        let sub = d.path().join("02");
        std::fs::copy(sub.join(chunk_file::chunk_file_name(0x202, 5)), sub.join(chunk_file::chunk_file_name(0x202, 4)))
            .unwrap();
        std::fs::write(sub.join("notes.txt"), b"x").unwrap();
        std::fs::write(sub.join("chunk_0000000000000202_00000005.MFS"), b"x").unwrap();
        std::fs::write(d.path().join("03").join(chunk_file::chunk_file_name(0x202, 9)), b"x").unwrap();
        let leftover = sub.join(format!("{}{TMP_SUFFIX}", chunk_file::chunk_file_name(0x202, 6)));
        std::fs::write(&leftover, b"x").unwrap();

        let s = open(&[entry(d.path())]);
        assert_eq!(s.chunk_list(), vec![report(0x101, 1, false), report(0x202, 4, false), report(0x202, 5, false)]);
        assert!(!leftover.exists(), "replication leftovers are deleted");
        assert!(sub.join("notes.txt").exists(), "foreign files are left alone");
        // The newest version is served.
        assert_eq!(s.read(0x202, 5, 0, 4).await.unwrap(), b"data");
        assert_eq!(s.read(0x202, 4, 0, 4).await, Err(CsError::WrongVersion { have: 5 }));
        // Deleting the stale one keeps the served one.
        s.delete(0x202, 4).await.unwrap();
        assert_eq!(s.chunk_list(), vec![report(0x101, 1, false), report(0x202, 5, false)]);
        assert!(!sub.join(chunk_file::chunk_file_name(0x202, 4)).exists());
        assert_eq!(s.read(0x202, 5, 0, 4).await.unwrap(), b"data");
    }

    #[tokio::test]
    async fn deleting_the_served_version_falls_back_to_a_duplicate() {
        let d = tempfile::tempdir().unwrap();
        let sub = d.path().join("07");
        {
            let s = open(&[entry(d.path())]);
            s.create(7, 2).await.unwrap();
            s.close_all().await;
        }
        std::fs::copy(sub.join(chunk_file::chunk_file_name(7, 2)), sub.join(chunk_file::chunk_file_name(7, 3)))
            .unwrap();
        let s = open(&[entry(d.path())]);
        s.delete(7, 3).await.unwrap();
        assert_eq!(s.chunk_list(), vec![report(7, 2, false)]);
        assert_eq!(s.info(7, 2).await.unwrap(), (0, vec![]));
    }

    #[tokio::test]
    async fn chunk_lifecycle_and_version_checks() {
        let d = tempfile::tempdir().unwrap();
        let s = open(&[entry(d.path())]);
        assert_eq!(s.read(1, 1, 0, 1).await, Err(CsError::NoChunk));
        s.create(1, 1).await.unwrap();
        s.write(1, 1, 10, b"hello".to_vec()).await.unwrap();
        assert_eq!(s.write(1, 2, 0, b"x".to_vec()).await, Err(CsError::WrongVersion { have: 1 }));
        assert_eq!(s.set_version(1, vec![5, 6], 7).await, Err(CsError::WrongVersion { have: 1 }));
        s.set_version(1, vec![0, 1], 2).await.unwrap();
        assert_eq!(s.chunk_list(), vec![report(1, 2, false)]);
        assert!(d.path().join("01").join(chunk_file::chunk_file_name(1, 2)).exists());
        assert_eq!(s.read(1, 2, 10, 5).await.unwrap(), b"hello");
        s.sync(1, 2).await.unwrap();
        assert_eq!(s.info(1, 2).await.unwrap().0, B as u32);
        s.truncate(1, 2, 12).await.unwrap();
        assert_eq!(s.read(1, 2, 10, 5).await.unwrap(), b"he\0\0\0");
        assert_eq!(s.delete(1, 9).await, Err(CsError::WrongVersion { have: 2 }));
        s.delete(1, 0).await.unwrap();
        assert_eq!(s.delete(1, 0).await, Err(CsError::NoChunk));
        assert_eq!(s.chunk_list(), vec![]);
        assert_eq!(std::fs::read_dir(d.path().join("01")).unwrap().count(), 0);
        assert_eq!(s.disks()[0].used(), 0);
    }

    #[tokio::test]
    async fn create_replaces_any_existing_copy() {
        let d = tempfile::tempdir().unwrap();
        let s = open(&[entry(d.path())]);
        s.create(3, 1).await.unwrap();
        s.write(3, 1, 0, b"old".to_vec()).await.unwrap();
        s.create(3, 4).await.unwrap();
        assert_eq!(s.chunk_list(), vec![report(3, 4, false)]);
        assert_eq!(s.read(3, 4, 0, 3).await.unwrap(), b"\0\0\0");
        assert!(!d.path().join("03").join(chunk_file::chunk_file_name(3, 1)).exists());
        s.create(3, 4).await.unwrap();
        assert_eq!(s.chunk_list(), vec![report(3, 4, false)]);
    }

    #[tokio::test]
    async fn new_chunks_go_to_the_disk_with_most_space_and_never_to_a_removed_one() {
        let (a, b, c) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let mut removed = with_limit(c.path(), 900 << 20);
        removed.to_remove = true;
        let s = open(&[with_limit(a.path(), 100 << 20), with_limit(b.path(), 200 << 20), removed]);
        for id in 0..4 {
            s.create(id, 1).await.unwrap();
        }
        let on_b = (0..4u64)
            .filter(|id| b.path().join(subfolder_name(*id)).join(chunk_file::chunk_file_name(*id, 1)).exists())
            .count();
        assert_eq!(on_b, 4);
        // Marked disks count in no total.
        let space = s.space();
        assert_eq!(space.total, 300 << 20);
        assert_eq!(space.chunks, 4);
        assert!(space.avail <= 300 << 20 && space.avail > 290 << 20);
        let status = s.disk_status();
        assert_eq!(status[1].chunks, 4);
        assert!(status[2].to_remove);
    }

    #[tokio::test]
    async fn a_full_disk_gives_no_space_and_keeps_existing_data() {
        let d = tempfile::tempdir().unwrap();
        let s = open(&[with_limit(d.path(), chunk_file::DATA_OFFSET + 3 * B as u64)]);
        s.create(1, 1).await.unwrap();
        let data: Vec<u8> = (0..2 * B).map(|i| i as u8).collect();
        s.write(1, 1, 0, data.clone()).await.unwrap();
        // Room for a header and three blocks, two stored: two more do not fit.
        assert_eq!(s.write(1, 1, 2 * B as u32 - 10, vec![9u8; 2 * B]).await, Err(CsError::NoSpace));
        assert_eq!(s.truncate(1, 1, 8 * B as u32).await, Err(CsError::NoSpace));
        assert_eq!(s.read(1, 1, 0, 3 * B as u32).await.unwrap()[..2 * B], data[..]);
        assert_eq!(s.info(1, 1).await.unwrap().0, 2 * B as u32);
        // Overwrites need no new space.
        s.write(1, 1, 5, b"ok".to_vec()).await.unwrap();
        // No disk can take a new chunk.
        assert_eq!(s.create(2, 1).await, Err(CsError::NoSpace));
        assert_eq!(s.chunk_list(), vec![report(1, 1, false)]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_writes_to_one_block_serialize() {
        let d = tempfile::tempdir().unwrap();
        let s = Arc::new(open(&[entry(d.path())]));
        s.create(9, 1).await.unwrap();
        // Each write is a read-modify-write of block 0: without the chunk lock, updates get lost.
        let tasks: Vec<_> = (0..64u32)
            .map(|i| {
                let s = s.clone();
                tokio::spawn(async move { s.write(9, 1, i * 100, vec![i as u8 + 1; 100]).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let got = s.read(9, 1, 0, 6400).await.unwrap();
        for i in 0..64usize {
            assert!(got[i * 100..(i + 1) * 100].iter().all(|&b| b == i as u8 + 1), "write {i} lost");
        }
    }

    #[tokio::test]
    async fn replicas_appear_only_when_committed() {
        let d = tempfile::tempdir().unwrap();
        let s = open(&[entry(d.path())]);
        let mut r = s.begin_replica(5, 3).await.unwrap();
        r.write(0, &[1u8; 100]).unwrap();
        assert_eq!(s.chunk_list(), vec![]);
        s.commit_replica(r).await.unwrap();
        assert_eq!(s.chunk_list(), vec![report(5, 3, false)]);
        assert_eq!(s.read(5, 3, 0, 100).await.unwrap(), vec![1u8; 100]);
        let r = s.begin_replica(6, 1).await.unwrap();
        tokio::task::spawn_blocking(move || r.abort()).await.unwrap();
        assert_eq!(std::fs::read_dir(d.path().join("06")).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn reload_adds_and_drops_disks_and_marks() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        {
            let s = open(&[entry(b.path())]);
            s.create(0xB0, 1).await.unwrap();
            s.close_all().await;
        }
        let s = open(&[entry(a.path())]);
        s.create(0xA0, 1).await.unwrap();
        let r = s.reload(vec![entry(a.path()), entry(b.path())]).await;
        assert_eq!(r.added, vec![report(0xB0, 1, false)]);
        assert_eq!(s.chunk_list(), vec![report(0xA0, 1, false), report(0xB0, 1, false)]);
        let mut marked = entry(a.path());
        marked.to_remove = true;
        let r = s.reload(vec![marked, entry(b.path())]).await;
        assert_eq!(r.changed, vec![report(0xA0, 1, true)]);
        let r = s.reload(vec![entry(b.path())]).await;
        assert_eq!(r.removed, vec![report(0xA0, 1, true)]);
        assert_eq!(r.disks_removed, vec![a.path().to_path_buf()]);
        assert_eq!(s.chunk_list(), vec![report(0xB0, 1, false)]);
        assert_eq!(s.read(0xA0, 1, 0, 1).await, Err(CsError::NoChunk));
        // The removed disk's files stay where they are.
        assert!(a.path().join("A0").join(chunk_file::chunk_file_name(0xA0, 1)).exists());
    }

    #[tokio::test]
    async fn a_disk_is_used_by_one_store_at_a_time() {
        let d = tempfile::tempdir().unwrap();
        let s = open(&[entry(d.path())]);
        assert!(Store::open(&[entry(d.path())], 0).is_err());
        s.close_all().await;
        drop(s);
        open(&[entry(d.path())]);
        let missing = d.path().join("missing");
        assert!(Store::open(&[entry(&missing)], 0).is_err());
    }

    #[tokio::test]
    async fn idle_files_are_closed_and_reopened_on_demand() {
        let d = tempfile::tempdir().unwrap();
        let s = open(&[entry(d.path())]);
        s.create(1, 1).await.unwrap();
        s.write(1, 1, 0, b"abc".to_vec()).await.unwrap();
        assert_eq!(s.open_files(), 1);
        s.close_idle(Duration::ZERO).await;
        assert_eq!(s.open_files(), 0);
        assert!(lock(&s.index)[&1].slot.try_read().unwrap().copy.as_ref().unwrap().file.is_none());
        assert_eq!(s.read(1, 1, 0, 3).await.unwrap(), b"abc");
        assert_eq!(s.open_files(), 1);
        // Deleted chunks' locks are forgotten.
        s.delete(1, 1).await.unwrap();
        s.close_idle(Duration::ZERO).await;
        assert!(lock(&s.index).is_empty());
        assert_eq!(s.open_files(), 0);
    }
}
