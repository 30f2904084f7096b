//! The operations of a mount, each one request to the masters (and the chunkservers) with
//! the caches kept consistent: what [`super::fs`] runs in a task per kernel request.

use fuser::consts::{FOPEN_DIRECT_IO, FOPEN_KEEP_CACHE};
use fuser::TimeOrNow;
use proto::client::{ReadOp, Reply, WriteOp};
use proto::meta::{Attr, Creds, DirEntry, Ino, SetAttr, StatFs};
use proto::Errno;

use super::cache::Ticket;
use super::handles::{DirBatch, OpenFile};
use super::mount_opts::CacheMode;
use super::readahead::ReadAhead;
use super::shared::{errno, expect_attr, set_time, Shared, DIR_BATCH, R, SECURITY_CAPABILITY};
use super::writeback::Writer;

impl Shared {
    pub(super) async fn write(&self, creds: &Creds, op: WriteOp) -> R<Reply> {
        self.io.meta.write(creds, op).await.map_err(errno)
    }

    pub(super) async fn read_op(&self, creds: &Creds, op: ReadOp) -> R<Reply> {
        self.io.meta.read(creds, op).await.map_err(errno)
    }

    /// A new entry made by this mount (the request sent with `ticket`): cache it, drop the
    /// parent's attributes.
    pub(super) fn new_entry(&self, parent: Ino, ticket: Ticket, r: Reply) -> R<Attr> {
        let a = expect_attr(r)?;
        self.attrs.put(ticket, &a);
        self.attrs.forget(parent);
        Ok(a)
    }

    // ---- Operations (masters' inode numbers) ----

    pub(super) async fn lookup(&self, creds: &Creds, parent: Ino, name: &[u8]) -> R<Attr> {
        let ticket = self.attrs.ticket();
        let a = self.io.meta.lookup(creds, parent, name).await.map_err(errno)?;
        self.attrs.put(ticket, &a);
        Ok(a)
    }

    pub(super) async fn getattr(&self, creds: &Creds, ino: Ino) -> R<Attr> {
        // Data buffered here goes out first, so size and mtime come from the masters right.
        // A write error stays for the next write, flush or fsync to report.
        if let Some(w) = self.handles.writer(ino).filter(|w| w.is_dirty()) {
            w.sync_data().await;
        }
        if let Some(a) = self.attrs.get(ino) {
            return Ok(a);
        }
        let ticket = self.attrs.ticket();
        let a = self.io.meta.getattr(creds, ino).await.map_err(errno)?;
        self.attrs.put(ticket, &a);
        Ok(a)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn setattr(
        &self,
        creds: &Creds,
        ino: Ino,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        via_handle: bool,
    ) -> R<Attr> {
        if size.is_some() && !via_handle {
            // truncate(2) by path needs write permission. The masters let a size change
            // through without it while this session has the file open (that is `ftruncate`
            // on a descriptor opened for writing), and one session serves every user of the
            // mount, so the check for a path is made here.
            self.read_op(creds, ReadOp::Access { ino, mask: libc::W_OK as u32 }).await?;
        }
        let writer = self.handles.writer(ino);
        if let Some(w) = &writer {
            w.flush().await?;
        }
        self.attrs.forget(ino);
        let ticket = self.attrs.ticket();
        let mut attr = None;
        if let Some(size) = size {
            let a = self.io.truncate(creds, ino, size).await.map_err(errno)?;
            if let Some(w) = &writer {
                w.set_size(size);
            }
            attr = Some(a);
        }
        let set = SetAttr {
            mode: mode.map(|m| m & 0o7777),
            uid,
            gid,
            size: None,
            atime: atime.map(set_time),
            mtime: mtime.map(set_time),
        };
        if set != SetAttr::default() {
            attr = Some(expect_attr(self.write(creds, WriteOp::SetAttr { ino, set }).await?)?);
        }
        let a = match attr {
            Some(a) => a,
            None => self.io.meta.getattr(creds, ino).await.map_err(errno)?,
        };
        self.attrs.put(ticket, &a);
        Ok(a)
    }

    pub(super) fn new_handle(&self, a: &Attr, flags: i32) -> u64 {
        let (io, attrs, limit) = (self.io.clone(), self.attrs.clone(), self.cfg.write_cache);
        let writer = self.handles.acquire_writer(a.ino, || Writer::new(a.ino, a.size, limit, io, attrs));
        writer.note_size(a.size);
        self.handles.add_file(OpenFile {
            ino: a.ino,
            // An appendonly file is written only at its end, whatever the offset asked.
            append: flags & libc::O_APPEND != 0 || a.eattr() & proto::eattr::APPENDONLY != 0,
            writer,
            readahead: ReadAhead::new(self.cfg.readahead),
        })
    }

    /// `FOPEN_KEEP_CACHE` or not, by the cache mode; `FOPEN_DIRECT_IO` (no page cache) for a
    /// file with nodatacache.
    pub(super) fn open_flags(&self, a: &Attr) -> u32 {
        if a.eattr() & proto::eattr::NODATACACHE != 0 {
            return FOPEN_DIRECT_IO;
        }
        match self.cfg.cache_mode {
            CacheMode::Yes => FOPEN_KEEP_CACHE,
            CacheMode::No => 0,
            CacheMode::Auto => {
                let mut map = self.opened.lock().unwrap_or_else(|e| e.into_inner());
                if map.len() > 100_000 {
                    map.clear();
                }
                let same = map.insert(a.ino, (a.mtime, a.size)) == Some((a.mtime, a.size));
                if same {
                    FOPEN_KEEP_CACHE
                } else {
                    0
                }
            }
        }
    }

    pub(super) async fn open(&self, creds: &Creds, ino: Ino, flags: i32) -> R<(u64, u32)> {
        let trunc = flags & libc::O_TRUNC != 0;
        if trunc {
            if let Some(w) = self.handles.writer(ino) {
                w.flush().await?;
            }
            // The truncate below frees the chunks written so far: nothing of them needs a sync.
            self.io.forget(ino);
        }
        let ticket = self.attrs.ticket();
        // The kernel looked the path up before this open: an inode gone since (another
        // client renamed a file over it, say) is ESTALE, which makes the kernel walk the path
        // again once and open what the name holds now, as a local file system would. Were it
        // ENOENT, the open of a name that never stopped existing would fail.
        let opened = self.write(creds, WriteOp::Open { ino, flags }).await;
        let opened = opened.map_err(|e| if e == Errno::ENOENT { Errno::ESTALE } else { e });
        let a = expect_attr(opened?)?;
        // Close-to-open: what other mounts wrote and closed is read from where it is now.
        self.io.forget_locations(ino);
        self.attrs.put(ticket, &a);
        let fh = self.new_handle(&a, flags);
        if trunc {
            if let Some(w) = self.handles.writer(ino) {
                w.set_size(a.size);
            }
        }
        Ok((fh, self.open_flags(&a)))
    }

    pub(super) async fn create(
        &self,
        creds: &Creds,
        parent: Ino,
        name: &[u8],
        mode: u32,
        umask: u32,
        flags: i32,
    ) -> R<(Attr, u64, u32)> {
        let exclusive = flags & libc::O_EXCL != 0;
        let op = WriteOp::Create { parent, name: name.to_vec(), mode, umask, exclusive };
        let ticket = self.attrs.ticket();
        let xattr_ticket = self.absent_xattrs.ticket();
        let mut a = self.new_entry(parent, ticket, self.write(creds, op).await?)?;
        if exclusive {
            // A file this call made has no extended attributes (there are no default ACLs to
            // inherit): the kernel's `security.capability` check before its first write needs
            // no round trip. Not for a non-exclusive create, which may have opened an old file.
            self.absent_xattrs.note_absent(xattr_ticket, a.ino, SECURITY_CAPABILITY);
        }
        if flags & libc::O_TRUNC != 0 && a.size > 0 {
            if let Some(w) = self.handles.writer(a.ino) {
                w.flush().await?;
            }
            a = self.io.truncate(creds, a.ino, 0).await.map_err(errno)?;
            if let Some(w) = self.handles.writer(a.ino) {
                w.set_size(0);
            }
        }
        let fh = self.new_handle(&a, flags);
        // Only whether to bypass the page cache: a new file has nothing cached to keep.
        let direct = self.open_flags(&a) & FOPEN_DIRECT_IO;
        Ok((a, fh, direct))
    }

    pub(super) async fn read(&self, creds: &Creds, f: &OpenFile, offset: u64, size: u32) -> R<Vec<u8>> {
        if f.writer.is_dirty() {
            f.writer.sync_data().await;
        }
        f.readahead.read(&self.io, creds, f.ino, f.writer.generation(), offset, size).await
    }

    pub(super) async fn release(&self, creds: &Creds, fh: u64) -> R<()> {
        let Some(f) = self.handles.file(fh) else { return Ok(()) };
        if let Err(e) = f.writer.flush().await {
            tracing::warn!(ino = f.ino, error = %e, "data written before close was lost");
        }
        self.handles.remove_file(fh);
        if self.handles.writer(f.ino).is_none() {
            // The last handle of the inode: close promises no durability, so the chunks
            // written since the last fsync need no `Sync` any more.
            self.io.forget(f.ino);
        }
        // Nothing waits for the masters to record it: it goes out with the next batch.
        self.releases.push(creds.clone(), f.ino);
        Ok(())
    }

    pub(super) async fn fsync(&self, creds: &Creds, fh: u64) -> R<()> {
        let Some(f) = self.handles.file(fh) else { return Err(Errno::EBADF) };
        f.writer.flush().await?;
        self.io.fsync(creds, f.ino).await.map_err(errno)
    }

    pub(super) async fn fallocate(&self, creds: &Creds, ino: Ino, offset: u64, length: u64) -> R<()> {
        let writer = self.handles.writer(ino);
        if let Some(w) = &writer {
            w.flush().await?;
        }
        let end = offset.checked_add(length).ok_or(Errno::EFBIG)?;
        if end > proto::meta::MAX_FILE_SIZE {
            return Err(Errno::EFBIG);
        }
        let ticket = self.attrs.ticket();
        let a = expect_attr(self.write(creds, WriteOp::WriteEnd { ino, size: end }).await?)?;
        self.io.forget_locations(ino);
        if let Some(w) = &writer {
            w.grow(a.size);
        }
        self.attrs.put(ticket, &a);
        Ok(())
    }

    /// Directory entries from `offset` on (cookies), from the handle's batch or a master.
    pub(super) async fn dir_entries(
        &self,
        creds: &Creds,
        ino: Ino,
        fh: u64,
        offset: u64,
        plus: bool,
    ) -> R<Vec<DirEntry>> {
        let dir = self.handles.dir(fh);
        if let Some(d) = &dir {
            let batch = d.batch.lock().unwrap_or_else(|e| e.into_inner());
            // A batch with attributes serves a plain readdir too: the kernel asks for the first
            // page with READDIRPLUS and the rest with READDIR, and one handle must list one
            // state of the folder (a page from the master now could list a name renamed since
            // a second time). Offset 0 is a rewinddir (or a new listing): asked anew.
            if let Some(b) = batch.as_ref().filter(|b| (b.plus || !plus) && offset != 0) {
                let pos = if offset == b.from {
                    Some(0)
                } else {
                    b.entries.iter().position(|e| e.cookie == offset).map(|i| i + 1)
                };
                if let Some(pos) = pos {
                    if pos < b.entries.len() {
                        return Ok(b.entries[pos..].to_vec());
                    }
                    if b.last {
                        return Ok(Vec::new());
                    }
                }
            }
        }
        let op = ReadOp::ReadDir { ino, offset, max_entries: DIR_BATCH, plus };
        let ticket = self.attrs.ticket();
        let entries = match self.read_op(creds, op).await? {
            Reply::Dir(d) => d,
            other => {
                tracing::warn!(?other, "readdir answered something else");
                return Err(Errno::EIO);
            }
        };
        if plus {
            for e in &entries {
                if let Some(a) = &e.attr {
                    if e.name != b"." && e.name != b".." {
                        self.attrs.put(ticket, a);
                    }
                }
            }
        }
        if let Some(d) = &dir {
            let last = entries.len() < DIR_BATCH as usize;
            *d.batch.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(DirBatch { from: offset, entries: entries.clone(), last, plus });
        }
        Ok(entries)
    }

    pub(super) async fn statfs(&self, creds: &Creds) -> R<StatFs> {
        match self.read_op(creds, ReadOp::StatFs).await? {
            Reply::StatFs(s) => Ok(s),
            other => {
                tracing::warn!(?other, "statfs answered something else");
                Err(Errno::EIO)
            }
        }
    }

    pub(super) async fn data(&self, creds: &Creds, op: ReadOp) -> R<Vec<u8>> {
        match self.read_op(creds, op).await? {
            Reply::Data(d) => Ok(d),
            other => {
                tracing::warn!(?other, "expected data");
                Err(Errno::EIO)
            }
        }
    }

    pub(super) async fn listxattr(&self, creds: &Creds, ino: Ino) -> R<Vec<u8>> {
        match self.read_op(creds, ReadOp::ListXattr { ino }).await? {
            Reply::Names(names) => {
                let mut out = Vec::new();
                for n in names {
                    out.extend_from_slice(&n);
                    out.push(0);
                }
                Ok(out)
            }
            other => {
                tracing::warn!(?other, "expected names");
                Err(Errno::EIO)
            }
        }
    }

    /// Send every buffered write (at unmount).
    pub async fn flush_all(&self) {
        for w in self.handles.all_writers() {
            if let Err(e) = w.flush().await {
                tracing::error!(error = %e, "data buffered at unmount could not be written");
            }
        }
    }
}
