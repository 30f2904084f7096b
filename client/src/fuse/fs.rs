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
use std::time::SystemTime;

use fuser::{
    Filesystem, KernelConfig, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty,
    ReplyEntry, ReplyLock, ReplyOpen, ReplyStatfs, ReplyWrite, ReplyXattr, Request, TimeOrNow,
};
use proto::client::{ReadOp, WriteOp};
use proto::meta::{Attr, Creds, RenameFlags, XattrMode};
use proto::Errno;

use super::locks;
use super::masterinfo;
use super::shared::{
    fuse_kind, name_bytes, Shared, BLOCK_SIZE, MAX_WRITE, R, RENAME_EXCHANGE, RENAME_NOREPLACE, XATTR_CREATE,
    XATTR_REPLACE,
};

/// The file system handed to fuser.
pub struct RaftMfs {
    sh: Arc<Shared>,
    rt: tokio::runtime::Handle,
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

fn reply_entry(sh: &Shared, creds: &Creds, reply: ReplyEntry, r: R<Attr>) {
    match r {
        Ok(a) => reply.entry(&sh.entry_ttl(&a), &sh.entry_attr(&a, creds), 0),
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
        let mut caps = vec![FUSE_ATOMIC_O_TRUNC, FUSE_DO_READDIRPLUS, FUSE_READDIRPLUS_AUTO, FUSE_PARALLEL_DIROPS];
        // Locks go to the masters (held across mounts); without these the kernel keeps them.
        if self.sh.cfg.posix_locks {
            caps.push(FUSE_POSIX_LOCKS);
        }
        if self.sh.cfg.bsd_locks {
            caps.push(FUSE_FLOCK_LOCKS);
        }
        for cap in caps {
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
            reply_entry(&sh, &creds, reply, r);
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
                return reply.attr(&self.sh.attr_ttl(&a), &self.sh.file_attr(&a, &self.creds(req)));
            }
        }
        self.spawn(req, move |sh, creds| async move {
            match sh.getattr(&creds, ino).await {
                Ok(a) => reply.attr(&sh.attr_ttl(&a), &sh.file_attr(&a, &creds)),
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
                Ok(a) => reply.attr(&sh.attr_ttl(&a), &sh.file_attr(&a, &creds)),
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
            reply_entry(&sh, &creds, reply, r);
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
            reply_entry(&sh, &creds, reply, r);
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
            reply_entry(&sh, &creds, reply, r);
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
            reply_entry(&sh, &creds, reply, r);
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

    fn flush(&mut self, req: &Request<'_>, ino: u64, fh: u64, lock_owner: u64, reply: ReplyEmpty) {
        // Any close drops the closing process's `fcntl` locks on the file, before the close
        // returns (POSIX: another process may take the range as soon as it does).
        let ino = self.sh.m(ino);
        let unlock = self.sh.lock_owners.take(ino, lock_owner);
        let file = self.sh.handles.file(fh);
        if !unlock {
            let Some(f) = &file else { return reply.ok() };
            // A close with nothing buffered (a create loop's, say) needs no worker either.
            if let Some(r) = f.writer.try_flush_now() {
                return reply_empty(reply, r);
            }
        }
        self.spawn(req, move |sh, creds| async move {
            if unlock {
                if let Err(e) = sh.release_locks(&creds, ino, lock_owner).await {
                    tracing::warn!(ino, error = %e, "dropping the locks of a closed file failed");
                }
            }
            match file {
                Some(f) => reply_empty(reply, f.writer.flush().await),
                None => reply.ok(),
            }
        });
    }

    fn release(
        &mut self,
        req: &Request<'_>,
        ino: u64,
        fh: u64,
        _flags: i32,
        lock_owner: Option<u64>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        if fh == 0 {
            return reply.ok();
        }
        // The last close of a file drops its `flock` lock.
        let ino = self.sh.m(ino);
        let flock_owner = lock_owner.filter(|&o| self.sh.lock_owners.take(ino, o));
        self.spawn(req, move |sh, creds| async move {
            if let Some(owner) = flock_owner {
                if let Err(e) = sh.release_locks(&creds, ino, owner).await {
                    tracing::warn!(ino, error = %e, "dropping the flock of a closed file failed");
                }
            }
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
                    for e in entries {
                        if sh.is_info(ino, &e.name) {
                            continue;
                        }
                        let Some(a) = &e.attr else { continue };
                        let fa = sh.entry_attr(a, &creds);
                        if reply.add(fa.ino, e.cookie as i64, OsStr::from_bytes(&e.name), &sh.entry_ttl(a), &fa, 0) {
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
                Ok((a, fh, flags)) => reply.created(&sh.entry_ttl(&a), &sh.entry_attr(&a, &creds), 0, fh, flags),
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

    fn getlk(
        &mut self,
        req: &Request<'_>,
        ino: u64,
        _fh: u64,
        lock_owner: u64,
        start: u64,
        end: u64,
        typ: i32,
        pid: u32,
        reply: ReplyLock,
    ) {
        let ino = self.sh.m(ino);
        self.spawn(req, move |sh, creds| async move {
            let write = typ == libc::F_WRLCK;
            match sh.get_lock(&creds, ino, lock_owner, write, (start, end)).await {
                Ok(Some(h)) => {
                    let typ = if h.write { libc::F_WRLCK } else { libc::F_RDLCK };
                    reply.locked(h.start, h.end, typ, h.pid)
                }
                Ok(None) => reply.locked(start, end, libc::F_UNLCK, pid),
                Err(e) => reply.error(e.raw()),
            }
        });
    }

    fn setlk(
        &mut self,
        req: &Request<'_>,
        ino: u64,
        _fh: u64,
        lock_owner: u64,
        start: u64,
        end: u64,
        typ: i32,
        pid: u32,
        sleep: bool,
        reply: ReplyEmpty,
    ) {
        let ino = self.sh.m(ino);
        let kind = match locks::kind_of(typ) {
            Ok(k) => k,
            Err(e) => return reply.error(e.raw()),
        };
        self.spawn(req, move |sh, creds| async move {
            let ask = locks::LockAsk { ino, owner: lock_owner, kind, range: (start, end), pid };
            reply_empty(reply, sh.set_lock(&creds, ask, sleep).await)
        });
    }
}
