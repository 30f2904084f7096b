//! The leader's commands on copies: create, delete, renumber, and replicas (a new copy filled
//! under a temporary name, renamed into place when complete). A copy that is created, deleted
//! or replaced takes its damage with it; a renumbered one keeps it.

use std::path::PathBuf;
use std::sync::Arc;

use proto::cs::CsError;

use super::disk::Disk;
use super::scan::remove_duplicates;
use super::slots::{drop_copy, open_copy, Copy};
use super::{blocking, Store};
use crate::chunk_file::{chunk_path, ChunkFile, TMP_SUFFIX};

/// A chunk file being filled by a replication, under a temporary name.
pub struct ReplicaFile {
    pub(super) file: ChunkFile,
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

impl Store {
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
        self.damage.forget(id);
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
                self.damage.forget(id);
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
            Ok((guard, r))
        })
        .await;
        let result = result.and_then(|(guard, r)| {
            // The damage stays with the copy under its new number; a copy this failed on (a
            // fsync of the folder, the header rewrite) is out of service.
            let version = guard.copy.as_ref().map_or(new_version, |c| c.version);
            self.damage.renumbered(id, version);
            if let Err(CsError::Unusable(why)) = &r {
                let path = self.path_of(id).unwrap_or_default();
                self.damage.mark_unusable(id, version, why, "set version", &path);
            }
            r.map(|_| guard)
        });
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
                // Nothing served was touched: the copy held (and its damage) stays.
                let _ = file.delete();
                return Ok((guard, false, Err(e)));
            }
            if let Err(e) = drop_copy(&mut guard, id) {
                tracing::warn!(id, error = %e, "could not delete the copy being replaced");
            }
            remove_duplicates(dups);
            let final_path = chunk_path(&disk.path, id, file.version());
            if let Err(e) = file.rename_to(&final_path) {
                let _ = file.delete();
                return Ok((guard, true, Err(e)));
            }
            disk.add_used(0, file.file_len());
            guard.copy = Some(Copy { version: file.version(), disk, file: Some(file) });
            Ok((guard, true, Ok(())))
        })
        .await;
        let result = result.and_then(|(guard, replaced, r)| {
            if replaced {
                self.damage.forget(id);
            }
            r.map(|_| guard)
        });
        self.finish(id, &slot, result.map(|g| self.publish_guard(id, &slot, g)))
    }
}
