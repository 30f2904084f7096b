//! Scanning a disk: strict chunk file names in the right subfolder, foreign files left alone,
//! replication leftovers deleted; and the second copies a scan may find of one chunk.

use std::path::PathBuf;
use std::sync::Arc;

use super::disk::Disk;
use crate::chunk_file::{chunk_path, parse_chunk_name, subfolder_name, TMP_SUFFIX};

/// A second copy of a chunk found by a scan (another version, or another disk).
#[derive(Debug)]
pub(super) struct Duplicate {
    pub id: u64,
    pub version: u32,
    pub disk: Arc<Disk>,
}

impl Duplicate {
    pub fn path(&self) -> PathBuf {
        chunk_path(&self.disk.path, self.id, self.version)
    }
}

/// A chunk file found by a scan.
pub(super) struct FoundFile {
    pub id: u64,
    pub version: u32,
    pub len: u64,
}

/// List the chunk files of a disk (blocking): strict names, right folder, regular files.
/// Foreign files are left alone with a warning; replication leftovers are deleted.
pub(super) fn scan_files(disk: &Disk) -> Vec<FoundFile> {
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
pub(super) fn remove_duplicates(dups: Vec<Duplicate>) {
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
