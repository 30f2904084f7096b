//! `setattr`: chmod, chown, truncate and utimens, with Linux's permission rules.

use proto::client::{OpResult, Reply};
use proto::meta::{Ino, SetAttr, SetTime, CHUNK_SIZE, MAX_FILE_SIZE};
use proto::Errno;

use super::inode::Body;
use super::perm::{self, S_ISGID, S_ISUID, W};
use super::{guard, Namespace, OpContext};

impl Namespace {
    /// Change the attributes `set` names. Checks, in Linux's order:
    /// - size: EISDIR for a directory, EINVAL for other non-files, EFBIG past
    ///   [`MAX_FILE_SIZE`], EACCES without write permission (unless root, or the calling
    ///   session has the file open: `ftruncate` on a descriptor needs no permission);
    /// - immutable: EPERM for anything; appendonly: EPERM for a size;
    /// - uid: only root changes it (EPERM; an owner may "change" it to its own uid, which
    ///   takes a `noowner` inode); gid: root, or the owner to one of its groups;
    /// - mode: owner or root (EPERM). A caller outside the (new) group loses sgid silently.
    ///   A mode that only drops suid/sgid, sent with a chown or truncate (the kernel's
    ///   "kill privileges" request), is accepted from anyone allowed the rest;
    /// - times: explicit times need owner or root (EPERM); "now" needs owner, root or write
    ///   permission (EACCES).
    ///
    /// Chown of a non-directory drops suid (and sgid with group-execute) unless `mode` is
    /// given; a size change by a non-root caller does the same. ctime becomes now whenever a
    /// field is given (except a size equal to the current one); a size change sets mtime.
    pub(super) fn setattr(&mut self, ctx: &OpContext, ino: Ino, set: &SetAttr) -> OpResult {
        let creds = &ctx.creds;
        let root = creds.is_root();
        let inode = self.inode(ino)?;
        guard::changeable(inode)?;
        let owner = perm::owner_or_root(creds, inode);

        if let Some(size) = set.size {
            guard::resizable(inode)?;
            if inode.is_dir() {
                return Err(Errno::EISDIR);
            }
            if !inode.is_file() {
                return Err(Errno::EINVAL);
            }
            if size > MAX_FILE_SIZE {
                return Err(Errno::EFBIG);
            }
            if !self.session_has_open(ctx.session, ino) {
                perm::check(creds, inode, W)?;
            }
            if size > inode.size {
                self.quota_check_grow(ino, size, ctx.now)?;
            }
        }
        if let Some(uid) = set.uid {
            // Only root gives a file away; the owner may only "change" it to itself.
            let allowed = root || (perm::is_owner(creds, inode) && uid == creds.uid);
            if !allowed {
                return Err(Errno::EPERM);
            }
        }
        if let Some(gid) = set.gid {
            let allowed = root || (perm::is_owner(creds, inode) && (gid == inode.gid || creds.in_group(gid)));
            if !allowed {
                return Err(Errno::EPERM);
            }
        }
        let chown = set.uid.is_some() || set.gid.is_some();
        let new_gid = set.gid.unwrap_or(inode.gid);
        let mut new_perm = inode.perm;
        if let Some(mode) = set.mode {
            let mode = mode & 0o7777;
            let privs = S_ISUID | S_ISGID;
            let only_drops_privileges = mode & !privs == inode.perm & !privs && mode & !inode.perm == 0;
            let kill_request = (chown || set.size.is_some()) && only_drops_privileges;
            if !owner && !kill_request {
                return Err(Errno::EPERM);
            }
            new_perm = mode;
            if !root && !creds.in_group(new_gid) {
                new_perm &= !S_ISGID;
            }
        } else {
            if chown && !inode.is_dir() {
                new_perm = perm::drop_privileges(new_perm);
                if !root && !creds.in_group(inode.gid) {
                    new_perm &= !S_ISGID;
                }
            }
            if set.size.is_some() && !root {
                new_perm = perm::drop_privileges(new_perm);
            }
        }
        let explicit_time = matches!(set.atime, Some(SetTime::At(_))) || matches!(set.mtime, Some(SetTime::At(_)));
        let any_time = set.atime.is_some() || set.mtime.is_some();
        if explicit_time && !owner {
            return Err(Errno::EPERM);
        }
        if any_time && !owner && !perm::allowed(creds, inode, W) {
            return Err(Errno::EACCES);
        }

        // Everything checked: apply.
        let now = ctx.now;
        let size_changed = set.size.is_some_and(|s| s != inode.size);
        let change_ctime = set.mode.is_some() || chown || any_time || size_changed || new_perm != inode.perm;
        if let (Some(size), true) = (set.size, size_changed) {
            self.set_file_size(ino, size, now);
        }
        let time = |t: SetTime| match t {
            SetTime::Now => now,
            SetTime::At(t) => t,
        };
        self.with_inode(ino, |i| {
            if let Some(uid) = set.uid {
                i.uid = uid;
            }
            i.gid = new_gid;
            i.perm = new_perm;
            if size_changed {
                i.mtime = now;
            }
            if let Some(t) = set.atime {
                i.atime = time(t);
            }
            if let Some(t) = set.mtime {
                i.mtime = time(t);
            }
            if change_ctime {
                i.ctime = now;
            }
        });
        Ok(Reply::Attr(self.attr(ino)?))
    }

    /// Set a regular file's size. Chunks wholly past the new end leave the file and go to
    /// `chunks_to_delete`; a partly cut chunk keeps its id (zeroing its tail needs the
    /// chunkservers). Growing adds a hole.
    pub(super) fn set_file_size(&mut self, ino: Ino, size: u64, now: proto::meta::Timestamp) {
        let before = self.file_usage_now(ino);
        let mut freed = Vec::new();
        self.with_inode(ino, |i| {
            i.size = size;
            guard::unmark_snapshot(i);
            if let Body::File { chunks } = &mut i.body {
                freed = chunks.truncate(size.div_ceil(CHUNK_SIZE));
            }
        });
        self.forget_chunks(freed);
        self.charge_file(ino, before, now);
    }
}
