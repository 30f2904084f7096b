//! The meta tree mounted through FUSE (`mfsmount -m`): the trash and the sustained files of a
//! meta session (an export rule for `.`), laid out as [`super::meta_names`] describes.
//!
//! - reading a file of the trash gives the path it will be put back at; writing a path to it
//!   changes that path;
//! - renaming it into an `undel` folder puts it back (missing folders are made; a taken name
//!   is EEXIST); unlinking it removes it from the trash at once.
//!
//! As in [`super::fs`], nothing waits for the masters on fuser's thread: each request that asks
//! them runs in a tokio task that answers the kernel when done. Listings come from one read of
//! the whole trash kept for [`LIST_TTL`], so `ls -R` of 4096 subfolders asks the masters about
//! once a second, not 4096 times.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use fuser::consts::FOPEN_DIRECT_IO;
use fuser::{
    FileAttr, Filesystem, ReplyAttr, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs,
    ReplyWrite, Request, TimeOrNow,
};
use proto::client::{ReadOp, Reply, TrashItem, WriteOp, MAX_TRASH_PAGE};
use proto::meta::{Creds, FileType, Ino};
use proto::Errno;

use super::meta_names::{self, Node, SUBFOLDERS};
use super::shared::{fuse_kind, to_file_attr};
use crate::master_client::MasterClient;

/// How long the kernel keeps what it was told: short, the trash changes under it.
const TTL: Duration = Duration::from_secs(1);
/// How long one listing of the trash serves readdir.
pub const LIST_TTL: Duration = Duration::from_secs(1);
/// Block size reported by `stat` and `statfs`.
const BLOCK_SIZE: u32 = 65536;

type R<T> = Result<T, Errno>;

/// One listing of the trash or of the sustained files.
struct Listing {
    at: Instant,
    items: Arc<Vec<TrashItem>>,
}

struct Shared {
    meta: Arc<MasterClient>,
    /// `mfsflattrash`: every file of the trash straight in `trash/`, no subfolders.
    flat: bool,
    mounted_at: SystemTime,
    trash: Mutex<Option<Listing>>,
    sustained: Mutex<Option<Listing>>,
}

/// The meta tree's FUSE file system.
pub struct MetaFs {
    sh: Arc<Shared>,
    rt: tokio::runtime::Handle,
}

impl MetaFs {
    pub fn new(meta: Arc<MasterClient>, flat: bool, rt: tokio::runtime::Handle) -> MetaFs {
        let sh =
            Shared { meta, flat, mounted_at: SystemTime::now(), trash: Mutex::new(None), sustained: Mutex::new(None) };
        MetaFs { sh: Arc::new(sh), rt }
    }

    fn spawn<F, Fut>(&self, req: &Request<'_>, f: F)
    where
        F: FnOnce(Arc<Shared>, Creds) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let creds = Creds::new(req.uid(), req.gid(), Vec::new());
        self.rt.spawn(f(self.sh.clone(), creds));
    }
}

impl Shared {
    async fn read(&self, creds: &Creds, op: ReadOp) -> R<Reply> {
        self.meta.read(creds, op).await.map_err(|e| e.errno())
    }

    async fn write(&self, creds: &Creds, op: WriteOp) -> R<()> {
        self.meta.write(creds, op).await.map(drop).map_err(|e| e.errno())
    }

    /// One file of the trash or of the sustained set, fresh from the masters.
    async fn item(&self, creds: &Creds, ino: Ino) -> R<TrashItem> {
        match self.read(creds, ReadOp::TrashItem { ino }).await? {
            Reply::Trash(mut items) if items.len() == 1 => Ok(items.remove(0)),
            _ => Err(Errno::EIO),
        }
    }

    /// Every file of the trash (or the sustained ones), from a listing at most [`LIST_TTL`] old.
    async fn list(&self, creds: &Creds, sustained: bool) -> R<Arc<Vec<TrashItem>>> {
        let slot = if sustained { &self.sustained } else { &self.trash };
        if let Some(l) = slot.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            if l.at.elapsed() < LIST_TTL {
                return Ok(l.items.clone());
            }
        }
        let mut items = Vec::new();
        let mut after = 0;
        loop {
            let op = ReadOp::TrashList { after, max: MAX_TRASH_PAGE as u32, sustained };
            let Reply::Trash(page) = self.read(creds, op).await? else { return Err(Errno::EIO) };
            let full = page.len() == MAX_TRASH_PAGE;
            after = page.last().map_or(after, |i| i.attr.ino);
            items.extend(page.into_iter().filter(|i| i.attr.ino < meta_names::FIRST_FOLDER));
            if !full {
                break;
            }
        }
        let items = Arc::new(items);
        *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(Listing { at: Instant::now(), items: items.clone() });
        Ok(items)
    }

    /// The listings changed (a file left the trash or was renamed): read them again.
    fn forget_listings(&self) {
        *self.trash.lock().unwrap_or_else(|e| e.into_inner()) = None;
        *self.sustained.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    fn dir_attr(&self, node: Node) -> FileAttr {
        let nlink = match node {
            Node::Root => 4,
            Node::Trash if self.flat => 3,
            Node::Trash => 2 + SUBFOLDERS as u32 + 1,
            Node::Sub(_) => 3,
            _ => 2,
        };
        FileAttr {
            ino: node.id(),
            size: 0,
            blocks: 0,
            atime: self.mounted_at,
            mtime: self.mounted_at,
            ctime: self.mounted_at,
            crtime: self.mounted_at,
            kind: fuser::FileType::Directory,
            perm: node.dir_perm().unwrap_or(0o500),
            nlink,
            uid: 0,
            gid: 0,
            rdev: 0,
            blksize: BLOCK_SIZE,
            flags: 0,
        }
    }

    /// A deleted file as the meta tree shows it: its own attributes, no links.
    fn file_attr(item: &TrashItem) -> FileAttr {
        FileAttr { kind: fuse_kind(FileType::File), nlink: 0, rdev: 0, ..to_file_attr(&item.attr) }
    }

    /// What `name` in folder `parent` is.
    async fn lookup(&self, creds: &Creds, parent: Node, name: &[u8]) -> R<FileAttr> {
        let folder = |n: Node| Ok(self.dir_attr(n));
        match (parent, name) {
            (Node::Root, b"trash") => folder(Node::Trash),
            (Node::Root, b"sustained") => folder(Node::Sustained),
            (Node::Root, b"reserved") => folder(Node::Reserved),
            (Node::Root, _) => Err(Errno::ENOENT),
            (Node::Trash, b"undel") => folder(Node::TrashUndel),
            (Node::Sub(i), b"undel") => folder(Node::SubUndel(i)),
            (Node::Trash, n) if !self.flat && meta_names::parse_subfolder(n).is_some() => {
                folder(Node::Sub(meta_names::parse_subfolder(n).unwrap_or(0)))
            }
            (Node::Trash | Node::Sub(_) | Node::Sustained | Node::Reserved, n) => {
                let ino = meta_names::parse_entry_name(n).ok_or(Errno::ENOENT)?;
                let item = self.item(creds, ino).await?;
                let in_trash = !matches!(parent, Node::Sustained | Node::Reserved);
                // A file in the trash has a path (maybe empty); a sustained one is listed there.
                let listed_here =
                    if in_trash { self.in_trash(creds, ino).await? } else { !self.in_trash(creds, ino).await? };
                if !listed_here {
                    return Err(Errno::ENOENT);
                }
                Ok(Self::file_attr(&item))
            }
            _ => Err(Errno::ENOENT),
        }
    }

    async fn in_trash(&self, creds: &Creds, ino: Ino) -> R<bool> {
        let sustained = self.read(creds, ReadOp::TrashList { after: ino - 1, max: 1, sustained: true }).await?;
        Ok(!matches!(sustained, Reply::Trash(items) if items.first().is_some_and(|i| i.attr.ino == ino)))
    }

    /// The entries of folder `node` after `offset` (1-based positions, "." and ".." first).
    async fn entries(&self, creds: &Creds, node: Node) -> R<Vec<(u64, fuser::FileType, Vec<u8>)>> {
        use fuser::FileType::{Directory, RegularFile};
        let parent = match node {
            Node::Root => Node::Root,
            Node::Trash | Node::Sustained | Node::Reserved => Node::Root,
            Node::TrashUndel | Node::Sub(_) => Node::Trash,
            Node::SubUndel(i) => Node::Sub(i),
            Node::File(_) => return Err(Errno::ENOTDIR),
        };
        let mut out = vec![(node.id(), Directory, b".".to_vec()), (parent.id(), Directory, b"..".to_vec())];
        let files = |items: &[TrashItem], sub: Option<u16>| -> Vec<(u64, fuser::FileType, Vec<u8>)> {
            items
                .iter()
                .filter(|i| sub.is_none_or(|s| meta_names::subfolder_of(i.attr.ino) == s))
                .map(|i| (i.attr.ino, RegularFile, meta_names::entry_name(i.attr.ino, &i.path)))
                .collect()
        };
        match node {
            Node::Root => {
                out.push((Node::Trash.id(), Directory, b"trash".to_vec()));
                out.push((Node::Sustained.id(), Directory, b"sustained".to_vec()));
            }
            Node::Trash if self.flat => {
                out.extend(files(&self.list(creds, false).await?, None));
                out.push((Node::TrashUndel.id(), Directory, b"undel".to_vec()));
            }
            Node::Trash => {
                for i in 0..SUBFOLDERS as u16 {
                    out.push((Node::Sub(i).id(), Directory, meta_names::subfolder_name(i).into_bytes()));
                }
                out.push((Node::TrashUndel.id(), Directory, b"undel".to_vec()));
            }
            Node::Sub(i) => {
                out.extend(files(&self.list(creds, false).await?, Some(i)));
                out.push((Node::SubUndel(i).id(), Directory, b"undel".to_vec()));
            }
            Node::Sustained | Node::Reserved => out.extend(files(&self.list(creds, true).await?, None)),
            Node::TrashUndel | Node::SubUndel(_) | Node::File(_) => {}
        }
        Ok(out)
    }
}

impl Filesystem for MetaFs {
    fn lookup(&mut self, req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEntry) {
        let (parent, name) = (Node::from_id(parent), name.as_bytes().to_vec());
        self.spawn(req, move |sh, creds| async move {
            match sh.lookup(&creds, parent, &name).await {
                Ok(a) => reply.entry(&TTL, &a, 0),
                Err(e) => reply.error(e.raw()),
            }
        });
    }

    fn getattr(&mut self, req: &Request<'_>, ino: u64, _fh: Option<u64>, reply: ReplyAttr) {
        match Node::from_id(ino) {
            Node::File(ino) => self.spawn(req, move |sh, creds| async move {
                match sh.item(&creds, ino).await {
                    Ok(i) => reply.attr(&TTL, &Shared::file_attr(&i)),
                    Err(e) => reply.error(e.raw()),
                }
            }),
            node => reply.attr(&TTL, &self.sh.dir_attr(node)),
        }
    }

    fn setattr(
        &mut self,
        req: &Request<'_>,
        ino: u64,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<u64>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<u32>,
        reply: ReplyAttr,
    ) {
        // Only the truncation of `echo path > file` (its path is replaced by the write that
        // follows) and time updates are taken; they change nothing in the masters.
        let Node::File(ino) = Node::from_id(ino) else { return reply.error(libc::EPERM) };
        if mode.is_some() || uid.is_some() || gid.is_some() || size.is_some_and(|s| s != 0) {
            return reply.error(libc::EPERM);
        }
        self.spawn(req, move |sh, creds| async move {
            match sh.item(&creds, ino).await {
                Ok(i) => reply.attr(&TTL, &Shared::file_attr(&i)),
                Err(e) => reply.error(e.raw()),
            }
        });
    }

    fn unlink(&mut self, req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        let parent = Node::from_id(parent);
        if !matches!(parent, Node::Trash | Node::Sub(_)) {
            return reply.error(libc::EPERM);
        }
        let Some(ino) = meta_names::parse_entry_name(name.as_bytes()) else { return reply.error(libc::ENOENT) };
        self.spawn(req, move |sh, creds| async move {
            let r = sh.write(&creds, WriteOp::Purge { ino }).await;
            sh.forget_listings();
            match r {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(e.raw()),
            }
        });
    }

    fn rename(
        &mut self,
        req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        _newname: &OsStr,
        _flags: u32,
        reply: ReplyEmpty,
    ) {
        let (from, to) = (Node::from_id(parent), Node::from_id(newparent));
        if !matches!(from, Node::Trash | Node::Sub(_)) || !to.is_undel() {
            return reply.error(libc::EPERM);
        }
        let Some(ino) = meta_names::parse_entry_name(name.as_bytes()) else { return reply.error(libc::ENOENT) };
        self.spawn(req, move |sh, creds| async move {
            let r = sh.write(&creds, WriteOp::Undelete { ino }).await;
            sh.forget_listings();
            match r {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(e.raw()),
            }
        });
    }

    fn open(&mut self, _req: &Request<'_>, ino: u64, _flags: i32, reply: ReplyOpen) {
        match Node::from_id(ino) {
            // Direct I/O: the text is not the file's size long, and must be read fresh.
            Node::File(_) => reply.opened(0, FOPEN_DIRECT_IO),
            _ => reply.error(libc::EISDIR),
        }
    }

    fn read(
        &mut self,
        req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        size: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyData,
    ) {
        let Node::File(ino) = Node::from_id(ino) else { return reply.error(libc::EISDIR) };
        self.spawn(req, move |sh, creds| async move {
            match sh.item(&creds, ino).await {
                Ok(item) => {
                    let mut text = item.path;
                    text.push(b'\n');
                    let start = (offset.max(0) as usize).min(text.len());
                    let end = start.saturating_add(size as usize).min(text.len());
                    reply.data(&text[start..end]);
                }
                Err(e) => reply.error(e.raw()),
            }
        });
    }

    fn write(
        &mut self,
        req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        data: &[u8],
        _write_flags: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyWrite,
    ) {
        let Node::File(ino) = Node::from_id(ino) else { return reply.error(libc::EISDIR) };
        if offset != 0 {
            // The new path comes whole, in one write from the start.
            return reply.error(libc::EINVAL);
        }
        let (path, len) = (meta_names::path_from_written(data), data.len() as u32);
        self.spawn(req, move |sh, creds| async move {
            let r = sh.write(&creds, WriteOp::SetTrashPath { ino, path }).await;
            sh.forget_listings();
            match r {
                Ok(()) => reply.written(len),
                Err(e) => reply.error(e.raw()),
            }
        });
    }

    fn opendir(&mut self, _req: &Request<'_>, ino: u64, _flags: i32, reply: ReplyOpen) {
        match Node::from_id(ino) {
            Node::File(_) => reply.error(libc::ENOTDIR),
            _ => reply.opened(0, 0),
        }
    }

    fn readdir(&mut self, req: &Request<'_>, ino: u64, _fh: u64, offset: i64, mut reply: ReplyDirectory) {
        let node = Node::from_id(ino);
        self.spawn(req, move |sh, creds| async move {
            match sh.entries(&creds, node).await {
                Ok(entries) => {
                    for (k, (ino, kind, name)) in entries.into_iter().enumerate().skip(offset.max(0) as usize) {
                        if reply.add(ino, k as i64 + 1, kind, OsStr::from_bytes(&name)) {
                            break;
                        }
                    }
                    reply.ok();
                }
                Err(e) => reply.error(e.raw()),
            }
        });
    }

    fn statfs(&mut self, req: &Request<'_>, _ino: u64, reply: ReplyStatfs) {
        self.spawn(req, move |sh, creds| async move {
            match sh.read(&creds, ReadOp::StatFs).await {
                Ok(Reply::StatFs(s)) => {
                    let bs = u64::from(BLOCK_SIZE);
                    // As MooseFS's meta mount: the space the trash and the sustained files hold.
                    let used = (s.trash_bytes + s.sustained_bytes).div_ceil(bs);
                    reply.statfs(used, 0, 0, 0, 0, BLOCK_SIZE, proto::meta::MAX_NAME_LEN as u32, BLOCK_SIZE)
                }
                Ok(_) => reply.error(libc::EIO),
                Err(e) => reply.error(e.raw()),
            }
        });
    }
}
