//! Write-back buffering per open inode.
//!
//! Writes are collected in one contiguous buffer and answered at once; the buffer goes to the
//! chunkservers (through [`FileIo::write`]) when it reaches the limit, when a write does not
//! continue it, and before anything that must see the data: `flush` (close), `fsync`,
//! `release`, `read`, `getattr`, `setattr`, `fallocate`. One flush runs in the background
//! while the next buffer fills; flushes of one inode run one after another, in order. An error
//! of a background flush is kept and returned by the next write, flush or fsync.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use proto::meta::{Attr, Creds, Ino};
use proto::Errno;
use tokio::task::JoinHandle;

use super::cache::AttrCache;
use crate::data_path::FileIo;
use crate::error::ClientError;

/// The buffered state of one inode, under its async lock.
#[derive(Default)]
struct Pending {
    /// File offset of `buf[0]`.
    start: u64,
    buf: Vec<u8>,
    /// Credentials of the last write into `buf`.
    creds: Option<Creds>,
    /// The flush running in the background, if any.
    inflight: Option<JoinHandle<Result<Attr, ClientError>>>,
    /// Error of a background flush not yet reported.
    error: Option<Errno>,
}

/// Write-back state of one open inode, shared by all its open handles.
pub struct Writer {
    ino: Ino,
    /// Flush once this many bytes are buffered.
    limit: usize,
    io: Arc<FileIo>,
    attrs: Arc<AttrCache>,
    pending: tokio::sync::Mutex<Pending>,
    /// End of data written but not yet flushed (0: nothing pending), so attributes answered
    /// meanwhile report a size that includes it.
    dirty_end: AtomicU64,
    /// The file size as far as this mount knows (for `O_APPEND`).
    size: AtomicU64,
    /// Bumped whenever this mount changes the file's data, so readahead drops older data.
    generation: AtomicU64,
}

impl Writer {
    pub fn new(ino: Ino, size: u64, limit: usize, io: Arc<FileIo>, attrs: Arc<AttrCache>) -> Self {
        Writer {
            ino,
            limit: limit.max(1),
            io,
            attrs,
            pending: tokio::sync::Mutex::new(Pending::default()),
            dirty_end: AtomicU64::new(0),
            size: AtomicU64::new(size),
            generation: AtomicU64::new(0),
        }
    }

    /// Current data generation (see [`Writer::generation`]).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// True while written data may not have reached the chunkservers yet.
    pub fn is_dirty(&self) -> bool {
        self.dirty_end.load(Ordering::Acquire) > 0
    }

    /// `attr` with its size raised to include data still buffered here.
    pub fn patch(&self, attr: &mut Attr) {
        let end = self.dirty_end.load(Ordering::Acquire);
        if end > attr.size {
            attr.size = end;
        }
    }

    /// The master's size as answered by an open: taken as ours when nothing is pending.
    pub fn note_size(&self, size: u64) {
        if !self.is_dirty() {
            self.size.store(size, Ordering::Release);
        }
    }

    /// The size known after a truncate/extend by this mount.
    pub fn set_size(&self, size: u64) {
        self.size.store(size, Ordering::Release);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Buffer `data` at `offset` (at the end of the file when `append`). Returns the number of
    /// bytes taken. Waits only when a previous flush must finish first.
    pub async fn write(&self, creds: &Creds, offset: u64, data: &[u8], append: bool) -> Result<u32, Errno> {
        let mut p = self.pending.lock().await;
        if let Some(e) = p.error.take() {
            return Err(e);
        }
        let offset = if append { self.size.load(Ordering::Acquire) } else { offset };
        if !p.buf.is_empty() && offset != p.start + p.buf.len() as u64 {
            self.start_flush(&mut p).await;
        }
        if p.buf.is_empty() {
            p.start = offset;
            p.buf.reserve(self.limit.min(16 << 20));
        }
        p.buf.extend_from_slice(data);
        p.creds = Some(creds.clone());
        let end = offset + data.len() as u64;
        self.dirty_end.fetch_max(end, Ordering::AcqRel);
        self.size.fetch_max(end, Ordering::AcqRel);
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.attrs.forget(self.ino);
        if p.buf.len() >= self.limit {
            self.start_flush(&mut p).await;
        }
        if let Some(e) = p.error.take() {
            return Err(e);
        }
        Ok(data.len() as u32)
    }

    /// Send everything buffered and wait until it is on the chunkservers; report any error
    /// since the last report.
    pub async fn flush(&self) -> Result<(), Errno> {
        let mut p = self.pending.lock().await;
        self.flush_locked(&mut p).await;
        match p.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// As [`Writer::flush`], but an error stays for the next write, flush or fsync to report
    /// (for reads, which must see the data but are not where a write error belongs).
    pub async fn sync_data(&self) {
        let mut p = self.pending.lock().await;
        self.flush_locked(&mut p).await;
    }

    async fn flush_locked(&self, p: &mut Pending) {
        if !p.buf.is_empty() {
            self.start_flush(p).await;
        }
        self.wait_inflight(p).await;
        self.dirty_end.store(0, Ordering::Release);
    }

    /// The file grew to `size` through this mount (fallocate).
    pub fn grow(&self, size: u64) {
        self.size.fetch_max(size, Ordering::AcqRel);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Wait for the running flush, keeping its error.
    async fn wait_inflight(&self, p: &mut Pending) {
        if let Some(h) = p.inflight.take() {
            let r = match h.await {
                Ok(r) => r.map_err(|e| e.errno()),
                Err(e) => {
                    tracing::error!(ino = self.ino, error = %e, "write-back task failed");
                    Err(Errno::EIO)
                }
            };
            match r {
                Ok(attr) => {
                    // The answer of the last WriteEnd; not cached, as more may be pending.
                    let _ = attr;
                }
                Err(e) => {
                    tracing::warn!(ino = self.ino, error = %e, "write-back flush failed");
                    p.error.get_or_insert(e);
                }
            }
            self.attrs.forget(self.ino);
        }
    }

    /// Hand the buffer to a background flush, after the previous one finished.
    async fn start_flush(&self, p: &mut Pending) {
        self.wait_inflight(p).await;
        let buf = std::mem::take(&mut p.buf);
        if buf.is_empty() {
            return;
        }
        let start = p.start;
        let creds = p.creds.clone().unwrap_or_else(Creds::root);
        let io = self.io.clone();
        let ino = self.ino;
        p.inflight = Some(tokio::spawn(async move { io.write(&creds, ino, start, &buf).await }));
    }
}
