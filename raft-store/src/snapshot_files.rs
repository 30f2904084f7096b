//! Durable, checksummed snapshot files: [`SnapshotFiles`].
//!
//! # File name
//!
//! `snapshot-<last log index as 16 hex digits>-<last log term in decimal>.rmfs`. A snapshot
//! without a last log id (nothing applied yet) is named as if it were at index 0, term 0.
//! "Newest" means greatest `(index, term)` parsed from the name.
//!
//! # File format
//!
//! | bytes        | content                                                    |
//! |--------------|------------------------------------------------------------|
//! | 8            | magic `b"RMFSNAP1"`                                        |
//! | 4            | `m` = meta length, `u32` little-endian                     |
//! | m            | [`SnapshotMeta`] in bincode (serde, `config::standard()`)  |
//! | 8            | `d` = data length, `u64` little-endian                     |
//! | d            | data (opaque bytes supplied by the state machine)          |
//! | 4            | CRC32 (IEEE, `crc32fast`) of all preceding bytes, `u32` LE |
//!
//! # Atomicity
//!
//! A snapshot is written to a `*.tmp` file in the same directory, the file is fsync'd, renamed
//! to its final name and then the directory is fsync'd. A crash leaves either the old set of
//! files or the old set plus the complete new file (and maybe a stale `*.tmp`, removed by
//! [`SnapshotFiles::open`]). The checksum additionally catches files damaged after the fact;
//! [`SnapshotFiles::load_latest`] skips those and falls back to the previous snapshot.

use std::fs;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use openraft::{RaftTypeConfig, SnapshotMeta};

use crate::codec::{decode, encode};
use crate::error::StoreError;

/// Magic bytes at the start of every snapshot file.
pub const SNAPSHOT_MAGIC: &[u8; 8] = b"RMFSNAP1";
const PREFIX: &str = "snapshot-";
const SUFFIX: &str = ".rmfs";
const TMP_SUFFIX: &str = ".tmp";
/// Magic + meta length + data length + CRC.
const FIXED_OVERHEAD: usize = 8 + 4 + 8 + 4;

/// A directory of durable snapshot files (see the [module documentation](self) for the format).
///
/// It knows nothing about what the data means: the state machine serializes itself into bytes
/// and gives them to [`SnapshotFiles::save`] together with the openraft [`SnapshotMeta`].
/// The newest [`SnapshotFiles::KEEP`] snapshots are kept, older ones are deleted after each
/// successful save.
///
/// Cloning is cheap; clones share a lock that serializes `save` / `load_latest` / pruning
/// within the process. Only one process may use a directory.
#[derive(Debug, Clone)]
pub struct SnapshotFiles {
    dir: PathBuf,
    lock: Arc<Mutex<()>>,
    tmp_seq: Arc<AtomicU64>,
}

/// `(index, term)` of a snapshot file, parsed from its name.
type FileKey = (u64, u64);

fn file_name(key: FileKey) -> String {
    format!("{PREFIX}{:016x}-{}{SUFFIX}", key.0, key.1)
}

fn parse_file_name(name: &str) -> Option<FileKey> {
    let rest = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    let (index, term) = rest.split_once('-')?;
    if index.len() != 16 || !index.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    if term.is_empty() || !term.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((u64::from_str_radix(index, 16).ok()?, term.parse().ok()?))
}

fn meta_key<C: RaftTypeConfig>(meta: &SnapshotMeta<C::NodeId, C::Node>) -> FileKey {
    meta.last_log_id.as_ref().map_or((0, 0), |l| (l.index, l.leader_id.term))
}

fn fsync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| StoreError::io("fsync directory", dir, e))
}

/// Writer that checksums everything written through it.
struct CrcWriter<W: Write> {
    inner: W,
    crc: crc32fast::Hasher,
}

impl<W: Write> Write for CrcWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl SnapshotFiles {
    /// How many snapshot files are kept.
    pub const KEEP: usize = 2;

    /// Opens (creating it if missing) the snapshot directory `dir` and removes stale `*.tmp`
    /// files left by an interrupted [`SnapshotFiles::save`].
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        if !dir.is_dir() {
            fs::create_dir_all(dir).map_err(|e| StoreError::io("create directory", dir, e))?;
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                fsync_dir(parent)?;
            }
        }
        let entries = fs::read_dir(dir).map_err(|e| StoreError::io("read directory", dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| StoreError::io("read directory", dir, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with(PREFIX) && name.ends_with(TMP_SUFFIX) {
                let path = entry.path();
                tracing::info!(path = %path.display(), "removing stale temporary snapshot file");
                fs::remove_file(&path).map_err(|e| StoreError::io("remove", &path, e))?;
            }
        }
        Ok(Self { dir: dir.to_path_buf(), lock: Arc::new(Mutex::new(())), tmp_seq: Arc::new(AtomicU64::new(0)) })
    }

    /// The snapshot directory `dir` for reading only (a tool beside a running master): nothing
    /// is created or removed, not even a temporary file the master may be writing.
    pub fn open_read_only(dir: &Path) -> Result<Self, StoreError> {
        if !dir.is_dir() {
            return Err(StoreError::io(
                "open snapshot directory",
                dir,
                std::io::Error::from(std::io::ErrorKind::NotFound),
            ));
        }
        Ok(Self { dir: dir.to_path_buf(), lock: Arc::new(Mutex::new(())), tmp_seq: Arc::new(AtomicU64::new(0)) })
    }

    /// The snapshot directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn lock(&self) -> MutexGuard<'_, ()> {
        // The guarded state is on disk; a panic while holding the lock leaves nothing
        // inconsistent in memory.
        self.lock.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Durably stores a snapshot and returns once it is on disk (file and directory fsync'd).
    ///
    /// Saving a snapshot with the same last log id as an existing file replaces that file
    /// atomically. After the save, all but the newest [`SnapshotFiles::KEEP`] snapshot files
    /// are deleted (failures to delete are only logged).
    ///
    /// This is blocking file I/O (including two fsyncs); from async code run it via
    /// `tokio::task::spawn_blocking` or `block_in_place` if the snapshot is large.
    pub fn save<C: RaftTypeConfig>(
        &self,
        meta: &SnapshotMeta<C::NodeId, C::Node>,
        data: &[u8],
    ) -> Result<(), StoreError> {
        let meta_bytes = encode("snapshot meta", meta)?;
        let meta_len =
            u32::try_from(meta_bytes.len()).map_err(|_| StoreError::corrupt("snapshot meta", "longer than 4 GiB"))?;
        let key = meta_key::<C>(meta);
        let final_path = self.dir.join(file_name(key));

        let _guard = self.lock();
        let seq = self.tmp_seq.fetch_add(1, Ordering::Relaxed);
        let tmp_path = self.dir.join(format!("{}.{}.{seq}{TMP_SUFFIX}", file_name(key), std::process::id()));

        let written = Self::write_file(&tmp_path, meta_len, &meta_bytes, data);
        if let Err(e) = written {
            if let Err(rm) = fs::remove_file(&tmp_path) {
                tracing::warn!(path = %tmp_path.display(), error = %rm, "cannot remove temporary snapshot file");
            }
            return Err(e);
        }
        fs::rename(&tmp_path, &final_path).map_err(|e| StoreError::io("rename", &tmp_path, e))?;
        fsync_dir(&self.dir)?;
        tracing::info!(path = %final_path.display(), bytes = data.len(), "saved snapshot");

        self.prune();
        Ok(())
    }

    fn write_file(path: &Path, meta_len: u32, meta: &[u8], data: &[u8]) -> Result<(), StoreError> {
        let file = File::create(path).map_err(|e| StoreError::io("create", path, e))?;
        let mut w = CrcWriter { inner: BufWriter::with_capacity(1 << 20, file), crc: crc32fast::Hasher::new() };
        let data_len = data.len() as u64;
        let body = [&SNAPSHOT_MAGIC[..], &meta_len.to_le_bytes(), meta, &data_len.to_le_bytes(), data];
        for part in body {
            w.write_all(part).map_err(|e| StoreError::io("write", path, e))?;
        }
        let crc = w.crc.finalize();
        let mut buffered = w.inner;
        buffered
            .write_all(&crc.to_le_bytes())
            .and_then(|()| buffered.flush())
            .map_err(|e| StoreError::io("write", path, e))?;
        let file = buffered.into_inner().map_err(|e| StoreError::io("write", path, e.into_error()))?;
        file.sync_all().map_err(|e| StoreError::io("fsync", path, e))
    }

    /// Snapshot files in the directory, newest first.
    pub fn list(&self) -> Result<Vec<PathBuf>, StoreError> {
        Ok(self.list_keys()?.into_iter().map(|(_, p)| p).collect())
    }

    fn list_keys(&self) -> Result<Vec<(FileKey, PathBuf)>, StoreError> {
        let dir = &self.dir;
        let mut out = Vec::new();
        for entry in fs::read_dir(dir).map_err(|e| StoreError::io("read directory", dir, e))? {
            let entry = entry.map_err(|e| StoreError::io("read directory", dir, e))?;
            let name = entry.file_name();
            if let Some(key) = name.to_str().and_then(parse_file_name) {
                out.push((key, entry.path()));
            }
        }
        out.sort_by_key(|(key, _)| std::cmp::Reverse(*key));
        Ok(out)
    }

    /// Deletes all but the newest `KEEP` snapshot files. Errors are logged, not returned: the
    /// new snapshot is already safe and a leftover old file is harmless.
    fn prune(&self) {
        let files = match self.list_keys() {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list snapshot files for pruning");
                return;
            }
        };
        for (_, path) in files.into_iter().skip(Self::KEEP) {
            match fs::remove_file(&path) {
                Ok(()) => tracing::info!(path = %path.display(), "removed old snapshot"),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cannot remove old snapshot")
                }
            }
        }
    }

    /// Loads the newest valid snapshot, or `None` if there is none.
    ///
    /// A file that cannot be read or fails validation (bad magic, truncated, length fields
    /// inconsistent with the file size, checksum mismatch, undecodable meta, meta not matching
    /// the file name) is skipped with a `tracing::warn!` naming the file and the reason, and the
    /// next older one is tried. Only a failure to list the directory is an error.
    ///
    /// This reads the whole file into memory (blocking I/O).
    #[allow(clippy::type_complexity)]
    pub fn load_latest<C: RaftTypeConfig>(
        &self,
    ) -> Result<Option<(SnapshotMeta<C::NodeId, C::Node>, Vec<u8>)>, StoreError> {
        let _guard = self.lock();
        for (key, path) in self.list_keys()? {
            match Self::read_file::<C>(&path, key) {
                Ok(found) => return Ok(Some(found)),
                Err(e) => tracing::warn!(
                    path = %path.display(),
                    reason = %e,
                    "skipping invalid snapshot file {}: {e}",
                    path.display()
                ),
            }
        }
        Ok(None)
    }

    #[allow(clippy::type_complexity)]
    fn read_file<C: RaftTypeConfig>(
        path: &Path,
        key: FileKey,
    ) -> Result<(SnapshotMeta<C::NodeId, C::Node>, Vec<u8>), StoreError> {
        let what = || path.display().to_string();
        let mut buf = fs::read(path).map_err(|e| StoreError::io("read", path, e))?;
        if buf.len() < FIXED_OVERHEAD {
            return Err(StoreError::corrupt(
                what(),
                format!("file is {} bytes, shorter than the fixed header", buf.len()),
            ));
        }
        if &buf[..8] != SNAPSHOT_MAGIC {
            return Err(StoreError::corrupt(what(), "bad magic"));
        }
        let crc_at = buf.len() - 4;
        let stored_crc = u32::from_le_bytes(le_array(&buf[crc_at..]));
        let actual_crc = crc32fast::hash(&buf[..crc_at]);

        let meta_len = u32::from_le_bytes(le_array(&buf[8..12])) as usize;
        let meta_end = 12usize.saturating_add(meta_len);
        let data_start = meta_end.saturating_add(8);
        if data_start > crc_at {
            return Err(StoreError::corrupt(
                what(),
                format!("meta length {meta_len} exceeds the file size {} (truncated?)", buf.len()),
            ));
        }
        let data_len = u64::from_le_bytes(le_array(&buf[meta_end..data_start]));
        let expected_len = (data_start as u64).checked_add(data_len).and_then(|l| l.checked_add(4));
        if expected_len != Some(buf.len() as u64) {
            return Err(StoreError::corrupt(
                what(),
                format!("data length {data_len} does not match the file size {} (truncated?)", buf.len()),
            ));
        }
        if stored_crc != actual_crc {
            return Err(StoreError::corrupt(
                what(),
                format!("checksum mismatch: stored {stored_crc:08x}, computed {actual_crc:08x}"),
            ));
        }
        let meta: SnapshotMeta<C::NodeId, C::Node> = decode("snapshot meta", &buf[12..meta_end])?;
        let in_meta = meta_key::<C>(&meta);
        if in_meta != key {
            return Err(StoreError::corrupt(
                what(),
                format!(
                    "meta says index {} term {}, file name says index {} term {}",
                    in_meta.0, in_meta.1, key.0, key.1
                ),
            ));
        }
        // Reuse the buffer for the data instead of copying it.
        buf.truncate(crc_at);
        buf.drain(..data_start);
        Ok((meta, buf))
    }
}

/// Copies a slice whose length the caller has already checked into a fixed-size array.
fn le_array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&bytes[..N]);
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_round_trip() {
        let name = file_name((0x1234, 7));
        assert_eq!(name, "snapshot-0000000000001234-7.rmfs");
        assert_eq!(parse_file_name(&name), Some((0x1234, 7)));
        assert_eq!(parse_file_name("snapshot-0000000000001234-7.rmfs.1.2.tmp"), None);
        assert_eq!(parse_file_name("snapshot-1234-7.rmfs"), None);
        assert_eq!(parse_file_name("snapshot-0000000000001234-.rmfs"), None);
        assert_eq!(parse_file_name("other"), None);
    }
}
