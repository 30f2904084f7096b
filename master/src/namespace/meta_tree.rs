//! The meta tree's operations (`mfsmount -m`, meta sessions only): list the files in the
//! trash and those deleted while open (sustained), put a file of the trash back, purge one
//! at once, and change where one will be put back. The access layer lets only meta sessions
//! reach these (`access.rs`).

use proto::client::{OpResult, Reply, TrashItem};
use proto::meta::{Creds, Ino, ROOT_INODE};
use proto::Errno;

use super::create::new_inode;
use super::dir::Dir;
use super::inode::Body;
use super::{guard, Namespace, OpContext};

/// Mode of the folders an undelete makes on the way (MooseFS: 0755, owned by root).
const RESTORED_DIR_MODE: u32 = 0o755;

impl Namespace {
    /// Up to `max` files of the trash (or the sustained ones) with inode numbers above `after`.
    pub(super) fn trash_list(&self, after: Ino, max: u32, sustained: bool) -> OpResult {
        let max = max as usize;
        let start = after.saturating_add(1);
        let items: Vec<TrashItem> = if sustained {
            self.sustained.range(start..).take(max).filter_map(|&ino| self.trash_item_of(ino)).collect()
        } else {
            self.trash.range(start..).take(max).filter_map(|(&ino, _)| self.trash_item_of(ino)).collect()
        };
        Ok(Reply::Trash(items))
    }

    /// One file of the trash or of the sustained set.
    pub(super) fn trash_item(&self, ino: Ino) -> OpResult {
        if !self.trash.contains_key(&ino) && !self.sustained.contains(&ino) {
            return Err(Errno::ENOENT);
        }
        self.trash_item_of(ino).map(|i| Reply::Trash(vec![i])).ok_or(Errno::ENOENT)
    }

    fn trash_item_of(&self, ino: Ino) -> Option<TrashItem> {
        let inode = self.inodes.get(&ino)?;
        let path = self.trash.get(&ino).map(|e| e.path.clone()).unwrap_or_default();
        Some(TrashItem { attr: inode.attr(ino), path })
    }

    /// Put `ino` back at its trash path. Folders missing on the way are made (root's,
    /// 0755); a part of the path that is not a folder is ENOTDIR, a name already taken EEXIST.
    /// Checked whole before anything changes.
    pub(super) fn undelete(&mut self, ctx: &OpContext, ino: Ino) -> OpResult {
        let entry = self.trash.get(&ino).ok_or(Errno::ENOENT)?;
        let parts: Vec<Vec<u8>> =
            entry.path.split(|&b| b == b'/').filter(|p| !p.is_empty()).map(<[u8]>::to_vec).collect();
        let Some((name, dirs)) = parts.split_last() else {
            return Err(Errno::EINVAL);
        };
        // Walk what exists; `missing` is where the making starts.
        let mut cur = ROOT_INODE;
        let mut missing = dirs.len();
        for (k, part) in dirs.iter().enumerate() {
            let (folder, d) = self.live_dir(cur)?;
            guard::names_addable(folder)?;
            match d.get(part) {
                Some(next) if self.inode(next)?.is_dir() => cur = next,
                Some(_) => return Err(Errno::ENOTDIR),
                None => {
                    missing = k;
                    break;
                }
            }
        }
        self.quota_check_undelete(cur, ctx.now)?;
        if missing == dirs.len() {
            let (folder, d) = self.live_dir(cur)?;
            guard::names_addable(folder)?;
            if d.get(name).is_some() {
                return Err(Errno::EEXIST);
            }
        }
        let root_ctx = OpContext { now: ctx.now, creds: Creds::root(), session: ctx.session };
        for part in &dirs[missing..] {
            let parent = self.inode(cur)?;
            let inode = new_inode(&root_ctx, parent, RESTORED_DIR_MODE, Body::Dir(Dir::new(cur, part.clone())));
            cur = self.add_child(ctx.now, cur, part, inode).ino;
        }
        if let Some(e) = self.trash.remove(&ino) {
            self.trash_by_expiry.remove(&(e.expires, ino));
        }
        let now = ctx.now;
        self.with_inode(ino, |i| {
            i.nlink = 1;
            i.ctime = now;
        });
        self.dir_insert(cur, name, ino, false, now);
        Ok(Reply::Done)
    }

    /// Take `ino` out of the trash now: freed, or sustained while some session has it open.
    pub(super) fn purge(&mut self, ino: Ino) -> OpResult {
        let entry = self.trash.remove(&ino).ok_or(Errno::ENOENT)?;
        self.trash_by_expiry.remove(&(entry.expires, ino));
        if self.is_open(ino) {
            self.sustained.insert(ino);
        } else {
            self.free_inode(ino);
        }
        Ok(Reply::Done)
    }

    /// Where `ino` will be put back: `path` with empty parts dropped ("/a//b/" is "a/b").
    pub(super) fn set_trash_path(&mut self, ino: Ino, path: &[u8]) -> OpResult {
        proto::client::trash_path_ok(path)?;
        let entry = self.trash.get_mut(&ino).ok_or(Errno::ENOENT)?;
        let parts: Vec<&[u8]> = path.split(|&b| b == b'/').filter(|p| !p.is_empty()).collect();
        entry.path = parts.join(&b'/');
        Ok(Reply::Done)
    }
}
