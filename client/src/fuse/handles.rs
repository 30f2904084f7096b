//! Open files and directories: the `fh` numbers handed to the kernel, and the per-inode state
//! (write-back buffer, data generation) their handles share.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use proto::meta::{DirEntry, Ino};

use super::readahead::ReadAhead;
use super::writeback::Writer;

/// One `open`/`create` of a file.
pub struct OpenFile {
    pub ino: Ino,
    /// Opened with `O_APPEND`: every write goes to the end of the file.
    pub append: bool,
    /// The inode's shared state.
    pub writer: Arc<Writer>,
    pub readahead: ReadAhead,
}

/// Entries of an open directory fetched from a master and not yet handed to the kernel.
#[derive(Default)]
pub struct DirBatch {
    /// The cookie the batch was fetched from.
    pub from: u64,
    pub entries: Vec<DirEntry>,
    /// The master sent fewer entries than asked: nothing follows the batch.
    pub last: bool,
    /// Fetched with attributes.
    pub plus: bool,
}

/// One `opendir`.
#[derive(Default)]
pub struct OpenDir {
    pub batch: Mutex<Option<DirBatch>>,
}

/// The open handles of a mount.
pub struct Handles {
    next: AtomicU64,
    files: Mutex<HashMap<u64, Arc<OpenFile>>>,
    dirs: Mutex<HashMap<u64, Arc<OpenDir>>>,
    /// Per-inode state and the number of open handles using it.
    inodes: Mutex<HashMap<Ino, (usize, Arc<Writer>)>>,
}

impl Default for Handles {
    fn default() -> Self {
        Handles {
            next: AtomicU64::new(1),
            files: Mutex::new(HashMap::new()),
            dirs: Mutex::new(HashMap::new()),
            inodes: Mutex::new(HashMap::new()),
        }
    }
}

impl Handles {
    fn next_fh(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    /// The shared state of `ino` for a new handle, made by `make` if none is open.
    pub fn acquire_writer(&self, ino: Ino, make: impl FnOnce() -> Writer) -> Arc<Writer> {
        let mut map = self.inodes.lock().unwrap_or_else(|e| e.into_inner());
        let e = map.entry(ino).or_insert_with(|| (0, Arc::new(make())));
        e.0 += 1;
        e.1.clone()
    }

    /// The shared state of `ino` while some handle has it open.
    pub fn writer(&self, ino: Ino) -> Option<Arc<Writer>> {
        self.inodes.lock().unwrap_or_else(|e| e.into_inner()).get(&ino).map(|(_, w)| w.clone())
    }

    /// Every inode with open handles (for the final flush at unmount).
    pub fn all_writers(&self) -> Vec<Arc<Writer>> {
        self.inodes.lock().unwrap_or_else(|e| e.into_inner()).values().map(|(_, w)| w.clone()).collect()
    }

    /// Register an open file; returns its `fh`.
    pub fn add_file(&self, f: OpenFile) -> u64 {
        let fh = self.next_fh();
        self.files.lock().unwrap_or_else(|e| e.into_inner()).insert(fh, Arc::new(f));
        fh
    }

    pub fn file(&self, fh: u64) -> Option<Arc<OpenFile>> {
        self.files.lock().unwrap_or_else(|e| e.into_inner()).get(&fh).cloned()
    }

    /// Forget an open file; the per-inode state goes when its last handle does.
    pub fn remove_file(&self, fh: u64) -> Option<Arc<OpenFile>> {
        let f = self.files.lock().unwrap_or_else(|e| e.into_inner()).remove(&fh)?;
        let mut map = self.inodes.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = map.get_mut(&f.ino) {
            e.0 = e.0.saturating_sub(1);
            if e.0 == 0 {
                map.remove(&f.ino);
            }
        }
        Some(f)
    }

    pub fn add_dir(&self) -> u64 {
        let fh = self.next_fh();
        self.dirs.lock().unwrap_or_else(|e| e.into_inner()).insert(fh, Arc::new(OpenDir::default()));
        fh
    }

    pub fn dir(&self, fh: u64) -> Option<Arc<OpenDir>> {
        self.dirs.lock().unwrap_or_else(|e| e.into_inner()).get(&fh).cloned()
    }

    pub fn remove_dir(&self, fh: u64) {
        self.dirs.lock().unwrap_or_else(|e| e.into_inner()).remove(&fh);
    }
}
