//! Keeping the store in shape: closing idle files (an fsync failing there takes the copy out
//! of service), closing everything on shutdown, and applying a new `mfshdd.cfg`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use proto::cs::{ChunkReport, CsError};

use super::disk::Disk;
use super::scan::{scan_files, Duplicate};
use super::slots::{Copy, Slot};
use super::{blocking, lock, ReloadReport, Store};
use crate::hdd::HddEntry;

impl Store {
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
                let book = self.damage.clone();
                let closed = blocking(move || {
                    let Some(c) = guard.copy.as_mut() else { return Ok(true) };
                    let Some(f) = c.file.as_ref() else { return Ok(true) };
                    match f.sync() {
                        Ok(()) => {}
                        // Out of descriptors for the folder's fsync: keep it open, try later.
                        Err(CsError::Busy(_)) => return Ok(false),
                        // What was written may never reach the disk: the copy is out of
                        // service from now on (still held, and reported to the leader), not
                        // served as if nothing had happened.
                        Err(e) => {
                            let why = match e {
                                CsError::Unusable(why) => why,
                                other => other.to_string(),
                            };
                            book.mark_unusable(id, c.version, &why, "fsync on close", f.path());
                        }
                    }
                    c.file = None;
                    Ok(true)
                })
                .await;
                if !matches!(closed, Ok(false)) {
                    lock(&self.open_ids).remove(&id);
                }
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
                    // Nothing to take out of service any more: say it loudly instead.
                    if let Err(e) = f.sync() {
                        tracing::error!(path = %f.path().display(), error = %e, "fsync on shutdown failed: this copy may have lost writes");
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
                let copies = self.chunk_list_on(disk);
                if entry.to_remove {
                    tracing::warn!(disk = %disk.path.display(), copies = copies.len(), "disk marked for removal: its copies are replicated elsewhere");
                } else {
                    tracing::info!(disk = %disk.path.display(), copies = copies.len(), "disk no longer marked for removal");
                }
                report.changed.extend(copies);
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
                self.damage.forget(id);
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
}
