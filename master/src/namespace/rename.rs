//! `rename` with `renameat2` flags (`RENAME_NOREPLACE`, `RENAME_EXCHANGE`).

use proto::client::{OpResult, Reply};
use proto::meta::{Ino, RenameFlags};
use proto::Errno;

use super::perm::{self, W, X};
use super::{guard, names, Namespace, OpContext};

impl Namespace {
    /// Move `name` of `parent` to `new_name` of `new_parent`, replacing what is there (a
    /// file, or an empty directory when the source is a directory), or swapping with it
    /// (`exchange`). Checks, in Linux's order:
    /// - both parents live directories the caller may search; valid names ("." and ".." are
    ///   EINVAL); the source exists (ENOENT); `exchange` needs the target (ENOENT);
    ///   `noreplace` forbids it (EEXIST); both flags together are EINVAL;
    /// - a directory may not move into its own subtree (EINVAL);
    /// - the target being the source's inode is a successful no-op;
    /// - write and search permission on both parents (EACCES), the sticky rule on both
    ///   entries (EPERM), kind agreement (ENOTDIR: directory over non-directory; EISDIR:
    ///   the reverse), write permission on a directory that changes parent (its ".."),
    ///   an empty target directory (ENOTEMPTY).
    pub(super) fn rename(
        &mut self,
        ctx: &OpContext,
        parent: Ino,
        name: &[u8],
        new_parent: Ino,
        new_name: &[u8],
        flags: RenameFlags,
    ) -> OpResult {
        let creds = &ctx.creds;
        if flags.exchange && flags.noreplace {
            return Err(Errno::EINVAL);
        }
        let (op, od) = self.live_dir(parent)?;
        let (np, nd) = self.live_dir(new_parent)?;
        perm::check(creds, op, X)?;
        perm::check(creds, np, X)?;
        names::check_entry_name(name)?;
        names::check_entry_name(new_name)?;
        let src = od.get(name).ok_or(Errno::ENOENT)?;
        let dst = nd.get(new_name);
        if flags.exchange && dst.is_none() {
            return Err(Errno::ENOENT);
        }
        if flags.noreplace && dst.is_some() {
            return Err(Errno::EEXIST);
        }
        let src_inode = self.inode(src)?;
        // The extra attributes (MooseFS): the source folder loses a name, the target folder
        // gains one (and loses one too in an exchange), a moved inode changes, a replaced
        // one goes away.
        guard::names_removable(op)?;
        guard::names_addable(np)?;
        guard::changeable(src_inode)?;
        if let Some(d) = dst {
            let d = self.inode(d)?;
            if flags.exchange {
                guard::names_removable(np)?;
                guard::changeable(d)?;
            } else if d.eattr & guard::PINNED != 0 && dst != Some(src) {
                return Err(Errno::EPERM);
            }
        }
        let src_is_dir = src_inode.is_dir();
        let moves_parent = parent != new_parent;
        if src_is_dir && moves_parent && self.is_ancestor_or_self(src, new_parent) {
            return Err(Errno::EINVAL);
        }
        let dst_inode = match dst {
            Some(d) => Some(self.inode(d)?),
            None => None,
        };
        let dst_is_dir = dst_inode.is_some_and(|d| d.is_dir());
        if let Some(d) = dst {
            if flags.exchange && dst_is_dir && moves_parent && self.is_ancestor_or_self(d, parent) {
                return Err(Errno::EINVAL);
            }
            if d == src {
                return Ok(Reply::Done);
            }
        }
        perm::check(creds, op, W | X)?;
        perm::check_sticky(creds, op, src_inode)?;
        self.quota_check_move(src, parent, new_parent, ctx.now)?;
        if let (true, Some(d)) = (flags.exchange, dst) {
            self.quota_check_move(d, new_parent, parent, ctx.now)?;
        }
        perm::check(creds, np, W | X)?;
        if let Some(d) = dst_inode {
            perm::check_sticky(creds, np, d)?;
            if !flags.exchange {
                if src_is_dir && !dst_is_dir {
                    return Err(Errno::ENOTDIR);
                }
                if !src_is_dir && dst_is_dir {
                    return Err(Errno::EISDIR);
                }
            }
        }
        if moves_parent {
            if src_is_dir {
                perm::check(creds, src_inode, W)?;
            }
            if let (Some(d), true) = (dst_inode, flags.exchange && dst_is_dir) {
                perm::check(creds, d, W)?;
            }
        }
        if !flags.exchange && dst_inode.and_then(|d| d.as_dir()).is_some_and(|d| !d.is_empty()) {
            return Err(Errno::ENOTEMPTY);
        }

        // Everything checked: apply.
        let now = ctx.now;
        match dst {
            Some(d) if flags.exchange => {
                self.dir_repoint(parent, name, d, now);
                self.dir_repoint(new_parent, new_name, src, now);
                if moves_parent {
                    let delta = i64::from(dst_is_dir) - i64::from(src_is_dir);
                    self.add_nlink(parent, delta);
                    self.add_nlink(new_parent, -delta);
                }
                if dst_is_dir {
                    self.set_dir_location(d, parent, name);
                }
                self.with_inode(d, |i| i.ctime = now);
            }
            _ => {
                if let Some(d) = dst {
                    self.dir_remove(new_parent, new_name, dst_is_dir, now);
                    self.drop_name(d, new_parent, new_name, now);
                }
                self.dir_remove(parent, name, src_is_dir, now);
                self.dir_insert(new_parent, new_name, src, src_is_dir, now);
            }
        }
        if src_is_dir {
            self.set_dir_location(src, new_parent, new_name);
        }
        self.with_inode(src, |i| i.ctime = now);
        Ok(Reply::Done)
    }

    /// Add `delta` (may be negative) to the link count of directory `ino`.
    fn add_nlink(&mut self, ino: Ino, delta: i64) {
        self.with_inode(ino, |i| {
            let n = i64::from(i.nlink).saturating_add(delta).clamp(0, i64::from(u32::MAX));
            i.nlink = u32::try_from(n).unwrap_or(u32::MAX);
        });
    }
}
