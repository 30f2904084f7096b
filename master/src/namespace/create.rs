//! Operations that add a name: mknod, create, mkdir, symlink, link.

use std::collections::BTreeMap;

use proto::client::{OpResult, Reply};
use proto::meta::{Attr, Creds, FileType, Ino, Timestamp};
use proto::Errno;

use super::chunk_list::ChunkList;
use super::dir::Dir;
use super::inode::{Body, Inode};
use super::perm::{self, S_ISGID, S_IXGRP, W, X};
use super::quota::Delta;
use super::{guard, names, Namespace, OpContext};

/// Most hard links a file may have (EMLINK beyond), as ext4's `EXT4_LINK_MAX`.
pub const LINK_MAX: u32 = 65000;

impl Namespace {
    /// `mknod`: a regular file (kind bits 0 or `S_IFREG`), fifo, socket or device node.
    pub(super) fn mknod(
        &mut self,
        ctx: &OpContext,
        parent: Ino,
        name: &[u8],
        mode: u32,
        umask: u32,
        rdev: u32,
    ) -> OpResult {
        let kind = FileType::from_mode(mode).ok_or(Errno::EINVAL)?;
        let body = match kind {
            FileType::File => Body::File { chunks: ChunkList::default() },
            // Directories come from mkdir, symlinks from symlink.
            FileType::Dir | FileType::Symlink => return Err(Errno::EINVAL),
            kind => Body::Special { kind },
        };
        self.check_can_add(&ctx.creds, parent, name)?;
        self.quota_check_dir(parent, Delta([1, 0, 0, 0]), ctx.now)?;
        let device = matches!(kind, FileType::BlockDev | FileType::CharDev);
        if device && !ctx.creds.is_root() {
            return Err(Errno::EPERM);
        }
        let mut inode = new_inode(ctx, self.inode(parent)?, mode & !umask & 0o7777, body);
        inode.rdev = if device { rdev } else { 0 };
        Ok(Reply::Entry(self.add_child(ctx.now, parent, name, inode)))
    }

    /// `open(O_CREAT)`: make a regular file and open it for the session. Without
    /// `exclusive`, an existing regular file is opened instead (checked as a write open).
    pub(super) fn create(
        &mut self,
        ctx: &OpContext,
        parent: Ino,
        name: &[u8],
        mode: u32,
        umask: u32,
        exclusive: bool,
    ) -> OpResult {
        let creds = &ctx.creds;
        if let Some(ino) = self.lookup_for_add(creds, parent, name)? {
            if exclusive {
                return Err(Errno::EEXIST);
            }
            let existing = self.inode(ino)?;
            if existing.is_dir() {
                return Err(Errno::EISDIR);
            }
            if !existing.is_file() {
                return Err(Errno::EEXIST);
            }
            perm::check(creds, existing, W)?;
            let attr = self.entry_attr(parent, ino)?;
            self.add_open_ref(ctx.session, ino);
            return Ok(Reply::Entry(attr));
        }
        let p = self.inode(parent)?;
        perm::check(creds, p, W | X)?;
        self.quota_check_dir(parent, Delta([1, 0, 0, 0]), ctx.now)?;
        let inode = new_inode(ctx, p, mode & !umask & 0o7777, Body::File { chunks: ChunkList::default() });
        let attr = self.add_child(ctx.now, parent, name, inode);
        self.add_open_ref(ctx.session, attr.ino);
        Ok(Reply::Entry(attr))
    }

    /// `mkdir`: suid/sgid bits of `mode` are ignored; sgid comes from a setgid parent.
    pub(super) fn mkdir(&mut self, ctx: &OpContext, parent: Ino, name: &[u8], mode: u32, umask: u32) -> OpResult {
        self.check_can_add(&ctx.creds, parent, name)?;
        self.quota_check_dir(parent, Delta([1, 0, 0, 0]), ctx.now)?;
        let body = Body::Dir(Dir::new(parent, name.to_vec()));
        let inode = new_inode(ctx, self.inode(parent)?, mode & !umask & 0o1777, body);
        Ok(Reply::Entry(self.add_child(ctx.now, parent, name, inode)))
    }

    /// `symlink`: mode 0777, size = target length.
    pub(super) fn symlink(&mut self, ctx: &OpContext, parent: Ino, name: &[u8], target: &[u8]) -> OpResult {
        names::check_symlink_target(target)?;
        self.check_can_add(&ctx.creds, parent, name)?;
        self.quota_check_dir(parent, Delta([1, target.len() as i128, 0, 0]), ctx.now)?;
        let body = Body::Symlink { target: target.to_vec() };
        let inode = new_inode(ctx, self.inode(parent)?, 0o777, body);
        Ok(Reply::Entry(self.add_child(ctx.now, parent, name, inode)))
    }

    /// `link`: a new name for a file (EPERM for a directory, ENOENT for a deleted inode).
    pub(super) fn link(&mut self, ctx: &OpContext, ino: Ino, new_parent: Ino, new_name: &[u8]) -> OpResult {
        guard::changeable(self.inode(ino)?)?;
        self.check_can_add(&ctx.creds, new_parent, new_name)?;
        let target = self.inode(ino)?;
        if target.is_dir() {
            return Err(Errno::EPERM);
        }
        if target.nlink == 0 {
            return Err(Errno::ENOENT);
        }
        if target.nlink >= LINK_MAX {
            return Err(Errno::EMLINK);
        }
        if self.has_quotas() {
            self.quota_check_dir(new_parent, Delta::of(self.usage_of(ino)), ctx.now)?;
        }
        let now = ctx.now;
        self.with_inode(ino, |i| {
            i.nlink += 1;
            i.ctime = now;
        });
        self.dir_insert(new_parent, new_name, ino, false, now);
        Ok(Reply::Entry(self.entry_attr(new_parent, ino)?))
    }

    // ---- Shared checks ----

    /// Checks of every operation that adds `name` to `parent`: `parent` is a live directory
    /// the caller may search, and `name` is a valid new name. Returns what `name` names now.
    pub(super) fn lookup_for_add(&self, creds: &Creds, parent: Ino, name: &[u8]) -> Result<Option<Ino>, Errno> {
        let (p, d) = self.live_dir(parent)?;
        guard::names_addable(p)?;
        perm::check(creds, p, X)?;
        names::check_entry_name(name)?;
        Ok(d.get(name))
    }

    /// [`Namespace::lookup_for_add`], then: the name is free (EEXIST) and the caller may
    /// write the parent (EACCES).
    fn check_can_add(&self, creds: &Creds, parent: Ino, name: &[u8]) -> Result<(), Errno> {
        if self.lookup_for_add(creds, parent, name)?.is_some() {
            return Err(Errno::EEXIST);
        }
        perm::check(creds, self.inode(parent)?, W | X)
    }

    /// Give `inode` the next inode number and name it `name` in `parent`.
    pub(super) fn add_child(&mut self, now: Timestamp, parent: Ino, name: &[u8], inode: Inode) -> Attr {
        let ino = self.next_ino;
        self.next_ino += 1;
        let is_dir = inode.is_dir();
        let attr = inode.attr(ino);
        self.dirs += u64::from(is_dir);
        self.inodes.insert(ino, inode);
        self.dir_insert(parent, name, ino, is_dir, now);
        self.mark_entry(parent, attr)
    }
}

/// A new inode made by `ctx.creds` inside `parent`, with permission bits `perm` (umask
/// already applied). The group is the parent's when the parent is setgid (and a new directory
/// inherits the setgid bit), else the caller's. A non-directory keeps sgid only when its
/// creator is in its group or root (as Linux `mode_strip_sgid`). Goal and trash time come
/// from the parent (MooseFS).
pub(super) fn new_inode(ctx: &OpContext, parent: &Inode, perm: u32, body: Body) -> Inode {
    let creds = &ctx.creds;
    let is_dir = matches!(body, Body::Dir(_));
    let mut perm = perm;
    let gid = if parent.perm & S_ISGID != 0 {
        if is_dir {
            perm |= S_ISGID;
        }
        parent.gid
    } else {
        creds.gid
    };
    if !is_dir && perm & (S_ISGID | S_IXGRP) == (S_ISGID | S_IXGRP) && !creds.is_root() && !creds.in_group(gid) {
        perm &= !S_ISGID;
    }
    let size = match &body {
        Body::Symlink { target } => target.len() as u64,
        _ => 0,
    };
    Inode {
        perm,
        uid: creds.uid,
        gid,
        atime: ctx.now,
        mtime: ctx.now,
        ctime: ctx.now,
        nlink: if is_dir { 2 } else { 1 },
        size,
        rdev: 0,
        goal: parent.goal,
        trash_time: parent.trash_time,
        xattrs: BTreeMap::new(),
        // Set when the first name is added (`dir_insert`).
        parent: 0,
        body,
        eattr: inherited_eattr(parent, is_dir),
    }
}

/// The extra attributes a new inode takes from its folder, as MooseFS: the cache and owner
/// flags, noentrycache only for a folder; never snapshot, undeletable, appendonly, immutable.
pub(super) fn inherited_eattr(parent: &Inode, is_dir: bool) -> u8 {
    use proto::eattr::{NOATTRCACHE, NODATACACHE, NOENTRYCACHE, NOOWNER};
    let passed = NOOWNER | NOATTRCACHE | NODATACACHE | if is_dir { NOENTRYCACHE } else { 0 };
    parent.eattr & passed
}
