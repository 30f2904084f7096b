//! The disks of `mfshdd.cfg`: each is a folder holding chunk files in 256 subfolders
//! `00`..`FF`, locked against a second chunkserver, with its own space limit or reserve.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use proto::cs::CsError;
use serde::Serialize;

use super::lock;
use crate::chunk_file::{io_error, subfolder_name};
use crate::hdd::{HddEntry, SpaceLimit};

/// Lock file in each disk's root: two chunkservers must never share a disk.
pub const DISK_LOCK_FILE: &str = ".lock";

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
    pub(super) to_remove: AtomicBool,
    pub(super) limit: Mutex<Option<SpaceLimit>>,
    /// Bytes of chunk files on this disk (their lengths).
    used: AtomicU64,
    /// The held `flock` on `<disk>/.lock`; `None` once released.
    lock_file: Mutex<Option<File>>,
}

impl Disk {
    /// Open a disk: it must be a folder; lock it and create the 256 subfolders.
    pub(super) fn open(entry: &HddEntry) -> Result<Arc<Disk>, String> {
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

    pub(super) fn add_used(&self, before: u64, after: u64) {
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
    pub(super) fn check_room(&self, growth: u64, leave_default: u64) -> Result<(), CsError> {
        let space = self.space(leave_default).map_err(|e| io_error(&e, "statvfs", &self.path))?;
        if growth > space.room {
            return Err(CsError::NoSpace);
        }
        Ok(())
    }

    pub(super) fn release(&self) {
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
    /// Its copies with bad blocks or out of service.
    pub damaged: u64,
    /// Why the disk's space could not be read, if it could not.
    pub error: Option<String>,
}
