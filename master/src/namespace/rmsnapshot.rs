//! `mfsrmsnapshot`: remove a snapshot (a tree every object of which still has the snapshot
//! attribute) at once and past the trash, as MooseFS 3.0 does (`fsnodes_remove_snapshot_test`,
//! `fsnodes_remove_snapshot`). Ownership is not needed: write and search permission on every
//! folder, and the snapshot mark on every object, are.

use proto::client::{OpResult, Reply};
use proto::eattr::{APPENDONLY, IMMUTABLE, SNAPSHOT};
use proto::meta::{Creds, Ino};
use proto::Errno;

use super::guard::PINNED;
use super::inode::Inode;
use super::perm::{self, W, X};
use super::{names, Namespace, OpContext};

/// One step of the walks, which keep a stack of their own (a tree of any depth cannot exhaust
/// the stack of the thread applying the log).
enum Step {
    /// Look at `ino`, named `name` in `parent`; `allowed` says whether it may go.
    Enter { ino: Ino, parent: Ino, name: Vec<u8>, allowed: bool },
    /// Everything below folder `ino` has been seen; `saved` are its extra attributes before.
    Leave { ino: Ino, parent: Ino, name: Vec<u8>, allowed: bool, saved: u8 },
}

/// A folder whose names cannot be removed.
fn keeps_names(dir: &Inode) -> bool {
    dir.eattr & (APPENDONLY | IMMUTABLE) != 0
}

/// Marked as a snapshot, and nothing keeps it.
fn removable_snapshot(i: &Inode) -> bool {
    i.eattr & SNAPSHOT != 0 && i.eattr & PINNED == 0
}

impl Namespace {
    /// Remove `name` of `parent` and everything below it. Checks: the usual ones of a
    /// removal (ENOENT, EPERM when `parent` is not a folder, EACCES, EINVAL for a bad name, the
    /// sticky rule on the top name). Without `force`, all or nothing: EPERM when `parent`
    /// keeps its names (appendonly, immutable), when some object lacks the snapshot mark or
    /// has undeletable/appendonly/immutable, or a folder is appendonly; EACCES for a folder
    /// the caller may not write. With `force`, what qualifies goes and the rest stays, with
    /// the folders that still hold something. Nothing goes to the trash. Reply: how many
    /// objects were removed.
    pub(super) fn rm_snapshot(&mut self, ctx: &OpContext, parent: Ino, name: &[u8], force: bool) -> OpResult {
        let creds = &ctx.creds;
        let p = self.inode(parent)?;
        let d = p.as_dir().ok_or(Errno::EPERM)?;
        perm::check(creds, p, W | X)?;
        names::check_entry_name(name)?;
        let top = d.get(name).ok_or(Errno::ENOENT)?;
        perm::check_sticky(creds, p, self.inode(top)?)?;
        let allowed = !keeps_names(p);
        if !force {
            if !allowed {
                return Err(Errno::EPERM);
            }
            self.rm_snapshot_test(creds, top)?;
        }
        Ok(Reply::Count(self.rm_snapshot_remove(ctx, top, parent, name, allowed)))
    }

    /// Every object of the tree at `top` may go: depth-first, a folder's own checks before
    /// and its mark after its entries', as MooseFS reports the first failure.
    fn rm_snapshot_test(&self, creds: &Creds, top: Ino) -> Result<(), Errno> {
        let mut stack = vec![Step::Enter { ino: top, parent: 0, name: Vec::new(), allowed: true }];
        while let Some(step) = stack.pop() {
            match step {
                Step::Enter { ino, .. } => {
                    let i = self.inode(ino)?;
                    let Some(d) = i.as_dir() else {
                        if !removable_snapshot(i) {
                            return Err(Errno::EPERM);
                        }
                        continue;
                    };
                    if i.eattr & APPENDONLY != 0 {
                        return Err(Errno::EPERM);
                    }
                    perm::check(creds, i, W | X)?;
                    stack.push(Step::Leave { ino, parent: 0, name: Vec::new(), allowed: true, saved: 0 });
                    stack.extend(d.entries.iter().rev().map(|(n, slot)| Step::Enter {
                        ino: slot.ino,
                        parent: ino,
                        name: n.clone(),
                        allowed: true,
                    }));
                }
                Step::Leave { ino, .. } => {
                    if !removable_snapshot(self.inode(ino)?) {
                        return Err(Errno::EPERM);
                    }
                }
            }
        }
        Ok(())
    }

    /// Remove what may go of the tree at `top` (`name` in `parent`), entries before their
    /// folder; a folder left holding something stays. Returns how many objects went.
    fn rm_snapshot_remove(&mut self, ctx: &OpContext, top: Ino, parent: Ino, name: &[u8], allowed: bool) -> u64 {
        let mut removed = 0;
        let mut stack = vec![Step::Enter { ino: top, parent, name: name.to_vec(), allowed }];
        while let Some(step) = stack.pop() {
            match step {
                Step::Enter { ino, parent, name, allowed } => {
                    let Some(i) = self.inodes.get(&ino) else { continue };
                    let Some(d) = i.as_dir() else {
                        removed += u64::from(self.rm_snapshot_one(ctx, ino, parent, &name, allowed));
                        continue;
                    };
                    let saved = i.eattr;
                    let children_allowed = !keeps_names(i);
                    let children: Vec<Step> = if perm::allowed(&ctx.creds, i, W | X) {
                        d.entries
                            .iter()
                            .rev()
                            .map(|(n, slot)| Step::Enter {
                                ino: slot.ino,
                                parent: ino,
                                name: n.clone(),
                                allowed: children_allowed,
                            })
                            .collect()
                    } else {
                        Vec::new()
                    };
                    stack.push(Step::Leave { ino, parent, name, allowed, saved });
                    stack.extend(children);
                }
                Step::Leave { ino, parent, name, allowed, saved } => {
                    if self.inodes.get(&ino).and_then(|i| i.as_dir()).is_none_or(|d| !d.is_empty()) {
                        continue;
                    }
                    // Emptying it un-marked it; it is still the snapshot it was.
                    self.with_inode(ino, |i| i.eattr = saved);
                    removed += u64::from(self.rm_snapshot_one(ctx, ino, parent, &name, allowed));
                }
            }
        }
        removed
    }

    /// Remove `name` (inode `ino`) from `parent` past the trash when it may go.
    fn rm_snapshot_one(&mut self, ctx: &OpContext, ino: Ino, parent: Ino, name: &[u8], allowed: bool) -> bool {
        let Some(i) = self.inodes.get(&ino) else { return false };
        if !allowed || !removable_snapshot(i) {
            return false;
        }
        let is_dir = i.is_dir();
        self.with_inode(ino, |i| i.trash_time = 0);
        self.dir_remove(parent, name, is_dir, ctx.now);
        self.drop_name(ino, parent, name, ctx.now);
        true
    }
}
