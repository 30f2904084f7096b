//! Write-back buffering per open inode.
//!
//! Writes are collected as extents (disjoint ranges; a write that touches or overlaps one
//! merges into it, newest bytes winning) and answered at once. The extents go to the
//! chunkservers together (through [`FileIo::write_extents`]: one chunk opening per chunk
//! touched, one size update) when they reach the limit, when the writer's credentials change,
//! and before anything that must see the data: `flush` (close), `fsync`, `release`, `read`,
//! `getattr`, `setattr`, `fallocate`. So sequential writes become large ones and scattered
//! small writes share the cost of a flush. One flush runs in the background while the next
//! buffer fills; flushes of one inode run one after another, in order. An error of a
//! background flush is kept and returned by the next write, flush or fsync.

use std::collections::BTreeMap;
use std::ops::Bound::{Excluded, Included};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use proto::meta::{Attr, Creds, Ino};
use proto::Errno;
use tokio::task::JoinHandle;

use super::cache::AttrCache;
use crate::data_path::FileIo;
use crate::error::ClientError;

/// Disjoint, non-touching ranges of buffered data by file offset.
type Extents = BTreeMap<u64, Vec<u8>>;

/// Put `data` at `off` into `ext`, over any older bytes there; extents it touches or overlaps
/// merge with it into one. Returns how many more bytes `ext` holds.
fn put(ext: &mut Extents, off: u64, data: &[u8]) -> usize {
    let end = off + data.len() as u64;
    // The extent that starts at or before `off` and reaches it takes the data; else a new one.
    let base = match ext.range(..=off).next_back() {
        Some((&s, b)) if s + b.len() as u64 >= off => s,
        _ => off,
    };
    let mut buf = ext.remove(&base).unwrap_or_default();
    let mut before = buf.len();
    // Extents that start inside the new range (or right at its end) are absorbed.
    let later: Vec<u64> = ext.range((Excluded(base), Included(end))).map(|(&s, _)| s).collect();
    for s in later {
        let Some(b) = ext.remove(&s) else { continue };
        before += b.len();
        place(&mut buf, (s - base) as usize, &b);
    }
    place(&mut buf, (off - base) as usize, data);
    let after = buf.len();
    ext.insert(base, buf);
    after - before
}

/// Copy `data` into `buf` at `at`, growing `buf` as needed.
fn place(buf: &mut Vec<u8>, at: usize, data: &[u8]) {
    if buf.len() < at + data.len() {
        buf.resize(at + data.len(), 0);
    }
    buf[at..at + data.len()].copy_from_slice(data);
}

/// The buffered state of one inode, under its async lock.
#[derive(Default)]
struct Pending {
    extents: Extents,
    /// Bytes held in `extents`.
    bytes: usize,
    /// Credentials of the writes in `extents` (all the same: a change flushes first).
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
        if data.is_empty() {
            return Ok(0);
        }
        // One flush carries one set of credentials (the master checks them and drops setuid
        // bits for a non-root writer): another writer's data waits for the next flush.
        if p.bytes > 0 && p.creds.as_ref() != Some(creds) {
            self.start_flush(&mut p).await;
        }
        let n = self.buffer(&mut p, creds, offset, data, append);
        if p.bytes >= self.limit {
            self.start_flush(&mut p).await;
        }
        if let Some(e) = p.error.take() {
            return Err(e);
        }
        Ok(n)
    }

    /// [`Writer::write`] without waiting, when it needs no wait: the buffer is free this
    /// instant, holds nothing of another writer, and this data does not fill it. `None`: call
    /// `write` (it may have to start a flush first). Lets the FUSE thread answer a buffered
    /// write itself instead of waking a worker for it.
    pub fn try_write_now(&self, creds: &Creds, offset: u64, data: &[u8], append: bool) -> Option<Result<u32, Errno>> {
        let mut p = self.pending.try_lock().ok()?;
        if let Some(e) = p.error.take() {
            return Some(Err(e));
        }
        if data.is_empty() {
            return Some(Ok(0));
        }
        if (p.bytes > 0 && p.creds.as_ref() != Some(creds)) || p.bytes + data.len() >= self.limit {
            return None;
        }
        Some(Ok(self.buffer(&mut p, creds, offset, data, append)))
    }

    /// Put a write into the buffer (no flush); returns the bytes taken.
    fn buffer(&self, p: &mut Pending, creds: &Creds, offset: u64, data: &[u8], append: bool) -> u32 {
        let offset = if append { self.size.load(Ordering::Acquire) } else { offset };
        if p.extents.is_empty() {
            p.extents.insert(offset, Vec::with_capacity(self.limit.min(16 << 20)));
        }
        p.bytes += put(&mut p.extents, offset, data);
        p.creds = Some(creds.clone());
        let end = offset + data.len() as u64;
        self.dirty_end.fetch_max(end, Ordering::AcqRel);
        self.size.fetch_max(end, Ordering::AcqRel);
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.attrs.forget(self.ino);
        data.len() as u32
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

    /// [`Writer::flush`] when there is nothing to send or wait for (the buffer is free this
    /// instant, empty, and no flush is running): the pending error, if any. `None`: call `flush`.
    pub fn try_flush_now(&self) -> Option<Result<(), Errno>> {
        let mut p = self.pending.try_lock().ok()?;
        if p.bytes > 0 || p.inflight.is_some() {
            return None;
        }
        self.dirty_end.store(0, Ordering::Release);
        Some(match p.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        })
    }

    /// As [`Writer::flush`], but an error stays for the next write, flush or fsync to report
    /// (for reads, which must see the data but are not where a write error belongs).
    pub async fn sync_data(&self) {
        let mut p = self.pending.lock().await;
        self.flush_locked(&mut p).await;
    }

    async fn flush_locked(&self, p: &mut Pending) {
        if p.bytes > 0 {
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

    /// Hand the buffered extents to a background flush, after the previous one finished.
    async fn start_flush(&self, p: &mut Pending) {
        self.wait_inflight(p).await;
        let extents: Vec<(u64, Vec<u8>)> = std::mem::take(&mut p.extents).into_iter().collect();
        p.bytes = 0;
        if extents.is_empty() {
            return;
        }
        let creds = p.creds.clone().unwrap_or_else(Creds::root);
        let io = self.io.clone();
        let ino = self.ino;
        p.inflight = Some(tokio::spawn(async move {
            let parts: Vec<(u64, &[u8])> = extents.iter().map(|(o, d)| (*o, d.as_slice())).collect();
            io.write_extents(&creds, ino, &parts).await
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(v: &[(u64, &[u8])]) -> Extents {
        v.iter().map(|(o, d)| (*o, d.to_vec())).collect()
    }

    #[test]
    fn appends_grow_one_extent() {
        let mut e = Extents::new();
        assert_eq!(put(&mut e, 0, b"abc"), 3);
        assert_eq!(put(&mut e, 3, b"de"), 2);
        assert_eq!(e, ext(&[(0, b"abcde")]));
    }

    #[test]
    fn scattered_writes_stay_apart_and_overwrites_cost_nothing() {
        let mut e = Extents::new();
        put(&mut e, 100, b"xx");
        put(&mut e, 10, b"yy");
        assert_eq!(put(&mut e, 100, b"zz"), 0, "an overwrite adds no bytes");
        assert_eq!(e, ext(&[(10, b"yy"), (100, b"zz")]));
    }

    #[test]
    fn a_write_bridging_extents_merges_them_newest_bytes_winning() {
        let mut e = Extents::new();
        put(&mut e, 0, b"aaaa");
        put(&mut e, 8, b"bbbb");
        put(&mut e, 14, b"c");
        // Overlaps the tail of the first, fills the gap, overlaps the head of the second, and
        // ends right where the third starts.
        assert_eq!(put(&mut e, 2, b"XXXXXXXXXXXX"), 4 + 2, "the two gaps");
        assert_eq!(e, ext(&[(0, b"aaXXXXXXXXXXXXc")]));
    }

    #[test]
    fn a_write_inside_an_extent_or_before_it() {
        let mut e = Extents::new();
        put(&mut e, 10, b"0123456789");
        assert_eq!(put(&mut e, 12, b"ab"), 0);
        assert_eq!(put(&mut e, 5, b"....."), 5, "touches the extent's start: merges");
        assert_eq!(e, ext(&[(5, b".....01ab456789")]));
        assert_eq!(put(&mut e, 0, b"!"), 1);
        assert_eq!(e.len(), 2);
    }
}
