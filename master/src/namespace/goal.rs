//! MooseFS per-inode settings: goal (copies per chunk) and trash time, on one inode or a
//! whole tree (`mfssetgoal -r`, `mfssettrashtime -r`).

use proto::client::{OpResult, Reply};
use proto::eattr::IMMUTABLE;
use proto::meta::Ino;
use proto::Errno;

use super::inode::Inode;
use super::{perm, Namespace, OpContext};

/// Smallest goal accepted.
pub const MIN_GOAL: u8 = 1;
/// Largest goal accepted, as MooseFS.
pub const MAX_GOAL: u8 = 9;

impl Namespace {
    /// Set the goal (1..=9, else EINVAL). Reply: how many inodes changed.
    pub(super) fn set_goal(&mut self, ctx: &OpContext, ino: Ino, goal: u8, recursive: bool) -> OpResult {
        self.inode(ino)?;
        if !(MIN_GOAL..=MAX_GOAL).contains(&goal) {
            return Err(Errno::EINVAL);
        }
        self.quota_check_goal(ctx, ino, goal, recursive)?;
        self.set_on_tree(ctx, ino, recursive, |i| std::mem::replace(&mut i.goal, goal) != goal)
    }

    /// A higher goal makes files' realsize grow: EDQUOT when the quotas above `ino` refuse
    /// the growth of every file the caller may change.
    fn quota_check_goal(&self, ctx: &OpContext, ino: Ino, goal: u8, recursive: bool) -> Result<(), Errno> {
        if !self.has_quotas() {
            return Ok(());
        }
        let targets = if recursive { self.subtree(ino) } else { vec![ino] };
        let grows: u64 = targets
            .iter()
            .filter_map(|t| self.inodes.get(t))
            .filter(|i| i.is_file() && goal > i.goal && perm::owner_or_root(&ctx.creds, i) && i.eattr & IMMUTABLE == 0)
            .map(|i| super::quota::own_usage(i).size * u64::from(goal - i.goal))
            .sum();
        if grows == 0 {
            return Ok(());
        }
        self.quota_check_inode(ino, super::quota::Delta([0, 0, 0, i128::from(grows)]), ctx.now)
    }

    /// Set the trash time in seconds (0: deleted files are freed at once).
    pub(super) fn set_trash_time(&mut self, ctx: &OpContext, ino: Ino, seconds: u32, recursive: bool) -> OpResult {
        self.set_on_tree(ctx, ino, recursive, |i| std::mem::replace(&mut i.trash_time, seconds) != seconds)
    }

    /// Apply `change` (true when it changed something) to `ino`, or with `recursive` to every
    /// inode below it too. Only the owner or root may, and not on an immutable inode (EPERM on
    /// `ino`); below it, such inodes are skipped. Changed inodes get ctime = now.
    fn set_on_tree(
        &mut self,
        ctx: &OpContext,
        ino: Ino,
        recursive: bool,
        change: impl Fn(&mut Inode) -> bool,
    ) -> OpResult {
        let top = self.inode(ino)?;
        let permitted = |i: &Inode| perm::owner_or_root(&ctx.creds, i) && i.eattr & IMMUTABLE == 0;
        if !permitted(top) {
            return Err(Errno::EPERM);
        }
        let targets = if recursive { self.subtree(ino) } else { vec![ino] };
        let mut changed = 0;
        for target in targets {
            let before = self.file_usage_now(target);
            if let Some(i) = self.inodes.get_mut(&target) {
                if permitted(i) && change(i) {
                    i.ctime = ctx.now;
                    changed += 1;
                }
            }
            self.charge_file(target, before, ctx.now);
        }
        Ok(Reply::Count(changed))
    }

    /// `ino` and every inode below it, parents before children, each directory's entries in
    /// name order. A file with several names below `ino` appears more than once.
    pub(super) fn subtree(&self, ino: Ino) -> Vec<Ino> {
        let mut out = Vec::new();
        let mut stack = vec![ino];
        while let Some(cur) = stack.pop() {
            out.push(cur);
            if let Some(d) = self.inodes.get(&cur).and_then(|i| i.as_dir()) {
                stack.extend(d.entries.values().rev().map(|s| s.ino));
            }
        }
        out
    }
}
