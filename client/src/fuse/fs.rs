//! The FUSE file system: each kernel request mapped to the client library.
//!
//! fuser calls these methods one at a time on its session thread. Nothing here waits for the
//! network on that thread: every operation that talks to a master or a chunkserver runs in a
//! tokio task that owns the `Reply*` object and answers when done, so many requests are in
//! flight at once and a slow one (a leader change) holds up only itself.
//!
//! Inode numbers are the masters' own, so `st_ino` is the inode the tools name. The kernel's
//! root (node id 1) is the mounted folder: the masters' root, or the `-S` subfolder.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::consts::FOPEN_KEEP_CACHE;
use fuser::{
    FileAttr, Filesystem, KernelConfig, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyDirectoryPlus,
    ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, ReplyXattr, Request, TimeOrNow,
};
use proto::client::{ReadOp, Reply, WriteOp};
use proto::meta::{
    Attr, Creds, DirEntry, FileType, Ino, RenameFlags, SetAttr, SetTime, StatFs, Timestamp, XattrMode, ROOT_INODE,
};
use proto::Errno;

use super::cache::{AbsentXattrs, AttrCache, Ticket};
use super::creds::GroupCache;
use super::handles::{DirBatch, Handles, OpenFile};
use super::masterinfo;
use super::mount_opts::CacheMode;
use super::readahead::ReadAhead;
use super::releases::Releases;
use super::writeback::Writer;
use crate::data_path::FileIo;
use crate::error::ClientError;

/// Largest write the kernel sends at once.
pub const MAX_WRITE: u32 = 1 << 20;
/// Directory entries asked from a master at once.
const DIR_BATCH: u32 = 512;
/// Block size reported by `stat` and `statfs` (as MooseFS).
const BLOCK_SIZE: u32 = 65536;
/// `renameat2` flags.
const RENAME_NOREPLACE: u32 = 1;
const RENAME_EXCHANGE: u32 = 2;
/// `setxattr` flags.
const XATTR_CREATE: i32 = 1;
const XATTR_REPLACE: i32 = 2;
/// The attribute the kernel asks for before writing to a file (to drop file capabilities).
const SECURITY_CAPABILITY: &[u8] = b"security.capability";

/// Tunables of a mount.
#[derive(Clone, Debug)]
pub struct FsConfig {
    pub attr_ttl: Duration,
    pub entry_ttl: Duration,
    /// How long an extended attribute answered absent is taken as absent.
    pub xattr_ttl: Duration,
    /// Write-back buffer per open inode, bytes.
    pub write_cache: usize,
    /// Largest readahead window, bytes.
    pub readahead: usize,
    pub cache_mode: CacheMode,
}

/// State shared by the session thread and the tasks answering requests.
pub struct Shared {
    pub io: Arc<FileIo>,
    /// The masters' inode mounted as the kernel's root.
    pub root: Ino,
    pub cfg: FsConfig,
    attrs: Arc<AttrCache>,
    absent_xattrs: AbsentXattrs,
    pub handles: Handles,
    /// Releases waiting to go to the masters in a batch.
    releases: Arc<Releases>,
    groups: GroupCache,
    info_text: Vec<u8>,
    mounted_at: SystemTime,
    /// (mtime, size) of each file when it was last opened, for `mfscachemode=AUTO`.
    opened: std::sync::Mutex<std::collections::HashMap<Ino, (Timestamp, u64)>>,
}

/// The file system handed to fuser.
pub struct RaftMfs {
    sh: Arc<Shared>,
    rt: tokio::runtime::Handle,
}

/// A result on its way to the kernel.
type R<T> = Result<T, Errno>;

fn errno(e: ClientError) -> Errno {
    match &e {
        ClientError::Errno(_) => {}
        other => tracing::warn!(error = %other, "operation failed"),
    }
    e.errno()
}

fn expect_attr(r: Reply) -> R<Attr> {
    match r {
        Reply::Attr(a) | Reply::Entry(a) => Ok(a),
        other => {
            tracing::warn!(?other, "expected attributes");
            Err(Errno::EIO)
        }
    }
}

fn name_bytes(n: &OsStr) -> Vec<u8> {
    n.as_bytes().to_vec()
}

pub(super) fn to_system_time(t: Timestamp) -> SystemTime {
    if t.secs >= 0 {
        UNIX_EPOCH + Duration::new(t.secs as u64, t.nsecs.min(999_999_999))
    } else {
        UNIX_EPOCH - Duration::from_secs(t.secs.unsigned_abs()) + Duration::from_nanos(t.nsecs as u64)
    }
}

fn to_timestamp(t: SystemTime) -> Timestamp {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => Timestamp::new(d.as_secs() as i64, d.subsec_nanos()),
        Err(e) => {
            let d = e.duration();
            if d.subsec_nanos() == 0 {
                Timestamp::new(-(d.as_secs() as i64), 0)
            } else {
                Timestamp::new(-(d.as_secs() as i64) - 1, 1_000_000_000 - d.subsec_nanos())
            }
        }
    }
}

fn set_time(t: TimeOrNow) -> SetTime {
    match t {
        TimeOrNow::Now => SetTime::Now,
        TimeOrNow::SpecificTime(st) => SetTime::At(to_timestamp(st)),
    }
}

pub(super) fn fuse_kind(k: FileType) -> fuser::FileType {
    match k {
        FileType::File => fuser::FileType::RegularFile,
        FileType::Dir => fuser::FileType::Directory,
        FileType::Symlink => fuser::FileType::Symlink,
        FileType::Fifo => fuser::FileType::NamedPipe,
        FileType::Socket => fuser::FileType::Socket,
        FileType::BlockDev => fuser::FileType::BlockDevice,
        FileType::CharDev => fuser::FileType::CharDevice,
    }
}

impl Shared {
    pub fn new(io: Arc<FileIo>, root: Ino, cfg: FsConfig, masters: &[String], subfolder: &str) -> Shared {
        let session = io.meta.session_id();
        let releases = Releases::new(io.meta.clone());
        Shared {
            io,
            root,
            attrs: Arc::new(AttrCache::new(cfg.attr_ttl)),
            absent_xattrs: AbsentXattrs::new(cfg.xattr_ttl),
            cfg,
            handles: Handles::default(),
            releases,
            groups: GroupCache::default(),
            info_text: masterinfo::render(masters, subfolder, root, session).into_bytes(),
            mounted_at: SystemTime::now(),
            opened: Default::default(),
        }
    }

    /// The masters' inode for a kernel node id.
    fn m(&self, nodeid: u64) -> Ino {
        if nodeid == fuser::FUSE_ROOT_ID {
            self.root
        } else {
            nodeid
        }
    }

    /// The kernel node id for a masters' inode.
    fn node(&self, ino: Ino) -> u64 {
        if ino == self.root {
            fuser::FUSE_ROOT_ID
        } else if ino == ROOT_INODE && self.root != ROOT_INODE {
            // The masters' root seen from a subfolder mount (only as ".."): never handed out
            // as node 1, which is the subfolder.
            self.root
        } else {
            ino
        }
    }

    fn is_info(&self, parent: Ino, name: &[u8]) -> bool {
        parent == self.root && masterinfo::is_name(name)
    }

    fn info_attr(&self) -> FileAttr {
        FileAttr {
            ino: masterinfo::INO,
            size: self.info_text.len() as u64,
            blocks: 1,
            atime: self.mounted_at,
            mtime: self.mounted_at,
            ctime: self.mounted_at,
            crtime: self.mounted_at,
            kind: fuser::FileType::RegularFile,
            perm: 0o444,
            nlink: 1,
            uid: 0,
            gid: 0,
            rdev: 0,
            blksize: BLOCK_SIZE,
            flags: 0,
        }
    }

    /// Attributes for the kernel; `ino` is the masters' inode (what `stat` shows).
    fn file_attr(&self, a: &Attr) -> FileAttr {
        let mut a = a.clone();
        if let Some(w) = self.handles.writer(a.ino) {
            w.patch(&mut a);
        }
        FileAttr {
            ino: a.ino,
            size: a.size,
            blocks: a.size.div_ceil(512),
            atime: to_system_time(a.atime),
            mtime: to_system_time(a.mtime),
            ctime: to_system_time(a.ctime),
            crtime: to_system_time(a.ctime),
            kind: fuse_kind(a.kind),
            perm: (a.perm & 0o7777) as u16,
            nlink: a.nlink,
            uid: a.uid,
            gid: a.gid,
            rdev: a.rdev,
            blksize: BLOCK_SIZE,
            flags: 0,
        }
    }

    /// Attributes for an entry reply: fuser takes the node id from `ino`.
    fn entry_attr(&self, a: &Attr) -> FileAttr {
        let mut fa = self.file_attr(a);
        fa.ino = self.node(a.ino);
        fa
    }

    async fn write(&self, creds: &Creds, op: WriteOp) -> R<Reply> {
        self.io.meta.write(creds, op).await.map_err(errno)
    }

    async fn read_op(&self, creds: &Creds, op: ReadOp) -> R<Reply> {
        self.io.meta.read(creds, op).await.map_err(errno)
    }

    /// A new entry made by this mount (the request sent with `ticket`): cache it, drop the
    /// parent's attributes.
    fn new_entry(&self, parent: Ino, ticket: Ticket, r: Reply) -> R<Attr> {
        let a = expect_attr(r)?;
        self.attrs.put(ticket, &a);
        self.attrs.forget(parent);
        Ok(a)
    }

    // ---- Operations (masters' inode numbers) ----

    async fn lookup(&self, creds: &Creds, parent: Ino, name: &[u8]) -> R<Attr> {
        let ticket = self.attrs.ticket();
        let a = self.io.meta.lookup(creds, parent, name).await.map_err(errno)?;
        self.attrs.put(ticket, &a);
        Ok(a)
    }

    async fn getattr(&self, creds: &Creds, ino: Ino) -> R<Attr> {
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
    async fn setattr(
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

    fn new_handle(&self, a: &Attr, flags: i32) -> u64 {
        let (io, attrs, limit) = (self.io.clone(), self.attrs.clone(), self.cfg.write_cache);
        let writer = self.handles.acquire_writer(a.ino, || Writer::new(a.ino, a.size, limit, io, attrs));
        writer.note_size(a.size);
        self.handles.add_file(OpenFile {
            ino: a.ino,
            append: flags & libc::O_APPEND != 0,
            writer,
            readahead: ReadAhead::new(self.cfg.readahead),
        })
    }

    /// `FOPEN_KEEP_CACHE` or not, by the cache mode.
    fn open_flags(&self, a: &Attr) -> u32 {
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

    async fn open(&self, creds: &Creds, ino: Ino, flags: i32) -> R<(u64, u32)> {
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

    async fn create(
        &self,
        creds: &Creds,
        parent: Ino,
        name: &[u8],
        mode: u32,
        umask: u32,
        flags: i32,
    ) -> R<(Attr, u64)> {
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
        self.open_flags(&a);
        Ok((a, fh))
    }

    async fn read(&self, creds: &Creds, f: &OpenFile, offset: u64, size: u32) -> R<Vec<u8>> {
        if f.writer.is_dirty() {
            f.writer.sync_data().await;
        }
        f.readahead.read(&self.io, creds, f.ino, f.writer.generation(), offset, size).await
    }

    async fn release(&self, creds: &Creds, fh: u64) -> R<()> {
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

    async fn fsync(&self, creds: &Creds, fh: u64) -> R<()> {
        let Some(f) = self.handles.file(fh) else { return Err(Errno::EBADF) };
        f.writer.flush().await?;
        self.io.fsync(creds, f.ino).await.map_err(errno)
    }

    async fn fallocate(&self, creds: &Creds, ino: Ino, offset: u64, length: u64) -> R<()> {
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
    async fn dir_entries(&self, creds: &Creds, ino: Ino, fh: u64, offset: u64, plus: bool) -> R<Vec<DirEntry>> {
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

    async fn statfs(&self, creds: &Creds) -> R<StatFs> {
        match self.read_op(creds, ReadOp::StatFs).await? {
            Reply::StatFs(s) => Ok(s),
            other => {
                tracing::warn!(?other, "statfs answered something else");
                Err(Errno::EIO)
            }
        }
    }

    async fn data(&self, creds: &Creds, op: ReadOp) -> R<Vec<u8>> {
        match self.read_op(creds, op).await? {
            Reply::Data(d) => Ok(d),
            other => {
                tracing::warn!(?other, "expected data");
                Err(Errno::EIO)
            }
        }
    }

    async fn listxattr(&self, creds: &Creds, ino: Ino) -> R<Vec<u8>> {
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

/// POSIX ACLs travel as these xattrs; we do not keep ACLs, so they are refused (and `cp -a`,
/// `tar --acls` and the like fall back to `chmod`).
fn is_acl_xattr(name: &[u8]) -> bool {
    name.starts_with(b"system.posix_acl_")
}

/// Answer an xattr-style request: the size when `size` is 0, ERANGE when it does not fit.
fn reply_sized(reply: ReplyXattr, size: u32, data: R<Vec<u8>>) {
    match data {
        Ok(d) if size == 0 => reply.size(d.len() as u32),
        Ok(d) if d.len() > size as usize => reply.error(libc::ERANGE),
        Ok(d) => reply.data(&d),
        Err(e) => reply.error(e.raw()),
    }
}

impl RaftMfs {
    pub fn new(sh: Arc<Shared>, rt: tokio::runtime::Handle) -> Self {
        RaftMfs { sh, rt }
    }

    fn creds(&self, req: &Request<'_>) -> Creds {
        self.sh.groups.creds(req.uid(), req.gid(), req.pid())
    }

    /// Run `f` in a task with the shared state and the caller's credentials.
    fn spawn<F, Fut>(&self, req: &Request<'_>, f: F)
    where
        F: FnOnce(Arc<Shared>, Creds) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let fut = f(self.sh.clone(), self.creds(req));
        self.rt.spawn(fut);
    }
}

fn reply_entry(sh: &Shared, reply: ReplyEntry, r: R<Attr>) {
    match r {
        Ok(a) => reply.entry(&sh.cfg.entry_ttl, &sh.entry_attr(&a), 0),
        Err(e) => reply.error(e.raw()),
    }
}

fn reply_empty(reply: ReplyEmpty, r: R<()>) {
    match r {
        Ok(()) => reply.ok(),
        Err(e) => reply.error(e.raw()),
    }
}

impl Filesystem for RaftMfs {
    fn init(&mut self, _req: &Request<'_>, config: &mut KernelConfig) -> Result<(), libc::c_int> {
        use fuser::consts::*;
        for cap in [FUSE_ATOMIC_O_TRUNC, FUSE_DO_READDIRPLUS, FUSE_READDIRPLUS_AUTO, FUSE_PARALLEL_DIROPS] {
            if let Err(missing) = config.add_capabilities(cap) {
                tracing::debug!(cap = missing, "kernel lacks a FUSE capability");
            }
        }
        if let Err(nearest) = config.set_max_write(MAX_WRITE) {
            let _ = config.set_max_write(nearest);
        }
        if let Err(nearest) = config.set_max_readahead(MAX_WRITE) {
            let _ = config.set_max_readahead(nearest);
        }
        let _ = config.set_max_background(64);
        let _ = config.set_congestion_threshold(48);
        tracing::info!("FUSE session initialised");
        Ok(())
    }

    fn destroy(&mut self) {
        let sh = self.sh.clone();
        self.rt.block_on(async move { sh.flush_all().await });
    }

    fn lookup(&mut self, req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEntry) {
        let parent = self.sh.m(parent);
        let name = name_bytes(name);
        if self.sh.is_info(parent, &name) {
            return reply.entry(&self.sh.cfg.entry_ttl, &self.sh.info_attr(), 0);
        }
        self.spawn(req, move |sh, creds| async move {
            let r = sh.lookup(&creds, parent, &name).await;
            reply_entry(&sh, reply, r);
        });
    }

    fn getattr(&mut self, req: &Request<'_>, ino: u64, _fh: Option<u64>, reply: ReplyAttr) {
        if ino == masterinfo::INO {
            return reply.attr(&self.sh.cfg.attr_ttl, &self.sh.info_attr());
        }
        let ino = self.sh.m(ino);
        // Answered from the cache here when nothing buffered has to go out first.
        if self.sh.handles.writer(ino).is_none_or(|w| !w.is_dirty()) {
            if let Some(a) = self.sh.attrs.get(ino) {
                return reply.attr(&self.sh.cfg.attr_ttl, &self.sh.file_attr(&a));
            }
        }
        self.spawn(req, move |sh, creds| async move {
            match sh.getattr(&creds, ino).await {
                Ok(a) => reply.attr(&sh.cfg.attr_ttl, &sh.file_attr(&a)),
                Err(e) => reply.error(e.raw()),
            }
        });
    }

    fn setattr(
        &mut self,
        req: &Request<'_>,
        ino: u64,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<u64>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<u32>,
        reply: ReplyAttr,
    ) {
        if ino == masterinfo::INO {
            return reply.error(libc::EPERM);
        }
        let ino = self.sh.m(ino);
        self.spawn(req, move |sh, creds| async move {
            match sh.setattr(&creds, ino, mode, uid, gid, size, atime, mtime, fh.is_some()).await {
                Ok(a) => reply.attr(&sh.cfg.attr_ttl, &sh.file_attr(&a)),
                Err(e) => reply.error(e.raw()),
            }
        });
    }

    fn readlink(&mut self, req: &Request<'_>, ino: u64, reply: ReplyData) {
        let ino = self.sh.m(ino);
        self.spawn(req, move |sh, creds| async move {
            match sh.data(&creds, ReadOp::ReadLink { ino }).await {
                Ok(d) => reply.data(&d),
                Err(e) => reply.error(e.raw()),
            }
        });
    }

    fn mknod(
        &mut self,
        req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        let parent = self.sh.m(parent);
        let name = name_bytes(name);
        if self.sh.is_info(parent, &name) {
            return reply.error(libc::EEXIST);
        }
        self.spawn(req, move |sh, creds| async move {
            let op = WriteOp::MkNod { parent, name, mode, umask, rdev };
            let ticket = sh.attrs.ticket();
            let r = match sh.write(&creds, op).await {
                Ok(r) => sh.new_entry(parent, ticket, r),
                Err(e) => Err(e),
            };
            reply_entry(&sh, reply, r);
        });
    }

    fn mkdir(&mut self, req: &Request<'_>, parent: u64, name: &OsStr, mode: u32, umask: u32, reply: ReplyEntry) {
        let parent = self.sh.m(parent);
        let name = name_bytes(name);
        if self.sh.is_info(parent, &name) {
            return reply.error(libc::EEXIST);
        }
        self.spawn(req, move |sh, creds| async move {
            let op = WriteOp::MkDir { parent, name, mode, umask };
            let ticket = sh.attrs.ticket();
            let r = match sh.write(&creds, op).await {
                Ok(r) => sh.new_entry(parent, ticket, r),
                Err(e) => Err(e),
            };
            reply_entry(&sh, reply, r);
        });
    }

    fn unlink(&mut self, req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        let parent = self.sh.m(parent);
        let name = name_bytes(name);
        if self.sh.is_info(parent, &name) {
            return reply.error(libc::EPERM);
        }
        self.spawn(req, move |sh, creds| async move {
            let r = sh.write(&creds, WriteOp::Unlink { parent, name }).await.map(|_| ());
            // The link count of the unlinked inode changed, and we do not know its number.
            sh.attrs.clear();
            reply_empty(reply, r);
        });
    }

    fn rmdir(&mut self, req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        let parent = self.sh.m(parent);
        let name = name_bytes(name);
        if self.sh.is_info(parent, &name) {
            return reply.error(libc::ENOTDIR);
        }
        self.spawn(req, move |sh, creds| async move {
            let r = sh.write(&creds, WriteOp::RmDir { parent, name }).await.map(|_| ());
            sh.attrs.clear();
            reply_empty(reply, r);
        });
    }

    fn symlink(
        &mut self,
        req: &Request<'_>,
        parent: u64,
        link_name: &OsStr,
        target: &std::path::Path,
        reply: ReplyEntry,
    ) {
        let parent = self.sh.m(parent);
        let name = name_bytes(link_name);
        let target = target.as_os_str().as_bytes().to_vec();
        if self.sh.is_info(parent, &name) {
            return reply.error(libc::EEXIST);
        }
        self.spawn(req, move |sh, creds| async move {
            let ticket = sh.attrs.ticket();
            let r = match sh.write(&creds, WriteOp::Symlink { parent, name, target }).await {
                Ok(r) => sh.new_entry(parent, ticket, r),
                Err(e) => Err(e),
            };
            reply_entry(&sh, reply, r);
        });
    }

    fn rename(
        &mut self,
        req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        flags: u32,
        reply: ReplyEmpty,
    ) {
        let (parent, new_parent) = (self.sh.m(parent), self.sh.m(newparent));
        let (name, new_name) = (name_bytes(name), name_bytes(newname));
        if self.sh.is_info(parent, &name) || self.sh.is_info(new_parent, &new_name) {
            return reply.error(libc::EPERM);
        }
        if flags & !(RENAME_NOREPLACE | RENAME_EXCHANGE) != 0 {
            return reply.error(libc::EINVAL);
        }
        let flags = RenameFlags { noreplace: flags & RENAME_NOREPLACE != 0, exchange: flags & RENAME_EXCHANGE != 0 };
        self.spawn(req, move |sh, creds| async move {
            let op = WriteOp::Rename { parent, name, new_parent, new_name, flags };
            let r = sh.write(&creds, op).await.map(|_| ());
            sh.attrs.clear();
            reply_empty(reply, r);
        });
    }

    fn link(&mut self, req: &Request<'_>, ino: u64, newparent: u64, newname: &OsStr, reply: ReplyEntry) {
        let (ino, new_parent) = (self.sh.m(ino), self.sh.m(newparent));
        let new_name = name_bytes(newname);
        if self.sh.is_info(new_parent, &new_name) || ino == masterinfo::INO {
            return reply.error(libc::EPERM);
        }
        self.spawn(req, move |sh, creds| async move {
            let ticket = sh.attrs.ticket();
            let r = match sh.write(&creds, WriteOp::Link { ino, new_parent, new_name }).await {
                Ok(r) => sh.new_entry(new_parent, ticket, r),
                Err(e) => Err(e),
            };
            reply_entry(&sh, reply, r);
        });
    }

    fn open(&mut self, req: &Request<'_>, ino: u64, flags: i32, reply: ReplyOpen) {
        if ino == masterinfo::INO {
            if flags & libc::O_ACCMODE != libc::O_RDONLY {
                return reply.error(libc::EACCES);
            }
            return reply.opened(0, 0);
        }
        let ino = self.sh.m(ino);
        self.spawn(req, move |sh, creds| async move {
            match sh.open(&creds, ino, flags).await {
                Ok((fh, open_flags)) => reply.opened(fh, open_flags),
                Err(e) => reply.error(e.raw()),
            }
        });
    }

    fn read(
        &mut self,
        req: &Request<'_>,
        ino: u64,
        fh: u64,
        offset: i64,
        size: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyData,
    ) {
        let offset = offset.max(0) as u64;
        if ino == masterinfo::INO {
            let text = &self.sh.info_text;
            let start = (offset as usize).min(text.len());
            let end = start.saturating_add(size as usize).min(text.len());
            return reply.data(&text[start..end]);
        }
        let Some(f) = self.sh.handles.file(fh) else { return reply.error(libc::EBADF) };
        self.spawn(req, move |sh, creds| async move {
            match sh.read(&creds, &f, offset, size).await {
                Ok(d) => reply.data(&d),
                Err(e) => reply.error(e.raw()),
            }
        });
    }

    fn write(
        &mut self,
        req: &Request<'_>,
        _ino: u64,
        fh: u64,
        offset: i64,
        data: &[u8],
        _write_flags: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyWrite,
    ) {
        let Some(f) = self.sh.handles.file(fh) else { return reply.error(libc::EBADF) };
        let offset = offset.max(0) as u64;
        if offset.saturating_add(data.len() as u64) > proto::meta::MAX_FILE_SIZE {
            return reply.error(libc::EFBIG);
        }
        let creds = self.creds(req);
        // Most writes only go into the buffer: answered here, without a worker's wake-up.
        if let Some(r) = f.writer.try_write_now(&creds, offset, data, f.append) {
            return match r {
                Ok(n) => reply.written(n),
                Err(e) => reply.error(e.raw()),
            };
        }
        let data = data.to_vec();
        self.rt.spawn(async move {
            match f.writer.write(&creds, offset, &data, f.append).await {
                Ok(n) => reply.written(n),
                Err(e) => reply.error(e.raw()),
            }
        });
    }

    fn flush(&mut self, req: &Request<'_>, _ino: u64, fh: u64, _lock_owner: u64, reply: ReplyEmpty) {
        let Some(f) = self.sh.handles.file(fh) else { return reply.ok() };
        // A close with nothing buffered (a create loop's, say) needs no worker either.
        if let Some(r) = f.writer.try_flush_now() {
            return reply_empty(reply, r);
        }
        self.spawn(req, move |_sh, _creds| async move { reply_empty(reply, f.writer.flush().await) });
    }

    fn release(
        &mut self,
        req: &Request<'_>,
        _ino: u64,
        fh: u64,
        _flags: i32,
        _lock_owner: Option<u64>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        if fh == 0 {
            return reply.ok();
        }
        self.spawn(req, move |sh, creds| async move {
            if let Err(e) = sh.release(&creds, fh).await {
                tracing::warn!(fh, error = %e, "release failed");
            }
            reply.ok();
        });
    }

    fn fsync(&mut self, req: &Request<'_>, _ino: u64, fh: u64, _datasync: bool, reply: ReplyEmpty) {
        if fh == 0 {
            return reply.ok();
        }
        self.spawn(req, move |sh, creds| async move { reply_empty(reply, sh.fsync(&creds, fh).await) });
    }

    fn opendir(&mut self, _req: &Request<'_>, _ino: u64, _flags: i32, reply: ReplyOpen) {
        reply.opened(self.sh.handles.add_dir(), 0);
    }

    fn readdir(&mut self, req: &Request<'_>, ino: u64, fh: u64, offset: i64, mut reply: ReplyDirectory) {
        let ino = self.sh.m(ino);
        self.spawn(req, move |sh, creds| async move {
            match sh.dir_entries(&creds, ino, fh, offset.max(0) as u64, false).await {
                Ok(entries) => {
                    for e in entries {
                        if sh.is_info(ino, &e.name) {
                            continue;
                        }
                        if reply.add(e.ino, e.cookie as i64, fuse_kind(e.kind), OsStr::from_bytes(&e.name)) {
                            break;
                        }
                    }
                    reply.ok();
                }
                Err(e) => reply.error(e.raw()),
            }
        });
    }

    fn readdirplus(&mut self, req: &Request<'_>, ino: u64, fh: u64, offset: i64, mut reply: ReplyDirectoryPlus) {
        let ino = self.sh.m(ino);
        self.spawn(req, move |sh, creds| async move {
            match sh.dir_entries(&creds, ino, fh, offset.max(0) as u64, true).await {
                Ok(entries) => {
                    let ttl = sh.cfg.entry_ttl;
                    for e in entries {
                        if sh.is_info(ino, &e.name) {
                            continue;
                        }
                        let Some(a) = &e.attr else { continue };
                        let fa = sh.entry_attr(a);
                        if reply.add(fa.ino, e.cookie as i64, OsStr::from_bytes(&e.name), &ttl, &fa, 0) {
                            break;
                        }
                    }
                    reply.ok();
                }
                Err(e) => reply.error(e.raw()),
            }
        });
    }

    fn releasedir(&mut self, _req: &Request<'_>, _ino: u64, fh: u64, _flags: i32, reply: ReplyEmpty) {
        self.sh.handles.remove_dir(fh);
        reply.ok();
    }

    fn fsyncdir(&mut self, _req: &Request<'_>, _ino: u64, _fh: u64, _datasync: bool, reply: ReplyEmpty) {
        // Every namespace change is committed on a majority of masters before it is answered.
        reply.ok();
    }

    fn statfs(&mut self, req: &Request<'_>, _ino: u64, reply: ReplyStatfs) {
        self.spawn(req, move |sh, creds| async move {
            match sh.statfs(&creds).await {
                Ok(s) => {
                    let bs = BLOCK_SIZE as u64;
                    let free_inodes = 1u64 << 31;
                    reply.statfs(
                        s.total_bytes / bs,
                        s.avail_bytes / bs,
                        s.avail_bytes / bs,
                        s.inodes + free_inodes,
                        free_inodes,
                        BLOCK_SIZE,
                        proto::meta::MAX_NAME_LEN as u32,
                        BLOCK_SIZE,
                    )
                }
                Err(e) => reply.error(e.raw()),
            }
        });
    }

    fn setxattr(
        &mut self,
        req: &Request<'_>,
        ino: u64,
        name: &OsStr,
        value: &[u8],
        flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        if ino == masterinfo::INO {
            return reply.error(libc::EPERM);
        }
        let ino = self.sh.m(ino);
        let mode = if flags & XATTR_CREATE != 0 {
            XattrMode::Create
        } else if flags & XATTR_REPLACE != 0 {
            XattrMode::Replace
        } else {
            XattrMode::Set
        };
        let (name, value) = (name_bytes(name), value.to_vec());
        if is_acl_xattr(&name) {
            return reply.error(libc::EOPNOTSUPP);
        }
        self.spawn(req, move |sh, creds| async move {
            sh.absent_xattrs.forget(ino);
            let r = sh.write(&creds, WriteOp::SetXattr { ino, name, value, mode }).await.map(|_| ());
            sh.absent_xattrs.forget(ino);
            sh.attrs.forget(ino);
            reply_empty(reply, r);
        });
    }

    fn getxattr(&mut self, req: &Request<'_>, ino: u64, name: &OsStr, size: u32, reply: ReplyXattr) {
        if ino == masterinfo::INO {
            return reply.error(libc::ENODATA);
        }
        let ino = self.sh.m(ino);
        let name = name_bytes(name);
        if is_acl_xattr(&name) {
            return reply.error(libc::EOPNOTSUPP);
        }
        if self.sh.absent_xattrs.is_absent(ino, &name) {
            return reply.error(libc::ENODATA);
        }
        self.spawn(req, move |sh, creds| async move {
            let ticket = sh.absent_xattrs.ticket();
            let r = sh.data(&creds, ReadOp::GetXattr { ino, name: name.clone() }).await;
            if r == Err(Errno::ENODATA) {
                sh.absent_xattrs.note_absent(ticket, ino, &name);
            }
            reply_sized(reply, size, r);
        });
    }

    fn listxattr(&mut self, req: &Request<'_>, ino: u64, size: u32, reply: ReplyXattr) {
        if ino == masterinfo::INO {
            return reply_sized(reply, size, Ok(Vec::new()));
        }
        let ino = self.sh.m(ino);
        self.spawn(req, move |sh, creds| async move { reply_sized(reply, size, sh.listxattr(&creds, ino).await) });
    }

    fn removexattr(&mut self, req: &Request<'_>, ino: u64, name: &OsStr, reply: ReplyEmpty) {
        if ino == masterinfo::INO {
            return reply.error(libc::EPERM);
        }
        let ino = self.sh.m(ino);
        let name = name_bytes(name);
        if is_acl_xattr(&name) {
            return reply.error(libc::EOPNOTSUPP);
        }
        self.spawn(req, move |sh, creds| async move {
            sh.absent_xattrs.forget(ino);
            let r = sh.write(&creds, WriteOp::RemoveXattr { ino, name }).await.map(|_| ());
            sh.absent_xattrs.forget(ino);
            sh.attrs.forget(ino);
            reply_empty(reply, r);
        });
    }

    fn access(&mut self, req: &Request<'_>, ino: u64, mask: i32, reply: ReplyEmpty) {
        if ino == masterinfo::INO {
            return if mask & (libc::W_OK | libc::X_OK) != 0 { reply.error(libc::EACCES) } else { reply.ok() };
        }
        let ino = self.sh.m(ino);
        self.spawn(req, move |sh, creds| async move {
            let r = sh.read_op(&creds, ReadOp::Access { ino, mask: mask as u32 }).await.map(|_| ());
            reply_empty(reply, r);
        });
    }

    fn create(
        &mut self,
        req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let parent = self.sh.m(parent);
        let name = name_bytes(name);
        if self.sh.is_info(parent, &name) {
            return reply.error(libc::EEXIST);
        }
        self.spawn(req, move |sh, creds| async move {
            match sh.create(&creds, parent, &name, mode, umask, flags).await {
                Ok((a, fh)) => reply.created(&sh.cfg.entry_ttl, &sh.entry_attr(&a), 0, fh, 0),
                Err(e) => reply.error(e.raw()),
            }
        });
    }

    fn fallocate(
        &mut self,
        req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        length: i64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        if mode != 0 {
            return reply.error(libc::EOPNOTSUPP);
        }
        if offset < 0 || length <= 0 {
            return reply.error(libc::EINVAL);
        }
        let ino = self.sh.m(ino);
        self.spawn(req, move |sh, creds| async move {
            reply_empty(reply, sh.fallocate(&creds, ino, offset as u64, length as u64).await)
        });
    }
}
