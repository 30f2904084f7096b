//! MooseFS's extra attributes (`mfsseteattr`): setting them, and the snapshot section that
//! stores them. Where each flag is enforced: `guard.rs`.

use proto::client::{OpResult, Reply};
use proto::eattr::{EattrMode, IMMUTABLE, NOENTRYCACHE, NOOWNER};
use proto::meta::Ino;
use proto::Errno;

use super::inode::Inode;
use super::{perm, Namespace, OpContext};

/// The extra attributes of a namespace as a snapshot stores them: (inode, flags) for every
/// inode with some, in inode order (equal namespaces give equal bytes).
pub type EattrSection = Vec<(Ino, u8)>;

impl Namespace {
    /// Every inode's extra attributes, for a snapshot.
    pub fn eattr_section(&self) -> EattrSection {
        self.inodes.iter().filter(|(_, i)| i.eattr != 0).map(|(ino, i)| (*ino, i.eattr)).collect()
    }

    /// Put back the extra attributes of a loaded snapshot. Inodes that do not exist are
    /// skipped (a section never names them; a corrupt one must not invent inodes).
    pub fn restore_eattr_section(&mut self, section: EattrSection) {
        for (ino, flags) in section {
            if let Some(i) = self.inodes.get_mut(&ino) {
                i.eattr = flags;
            }
        }
    }

    /// `mfsseteattr` / `mfsdeleattr` / `mfscopyeattr`: combine `flags` with each inode's by
    /// `mode`, on `ino` or with `recursive` on its whole tree, as MooseFS 3.0 does: an inode
    /// changes when the caller acts as its owner (owner, root, or `noowner`), and an immutable
    /// one not when `flags` hold noowner; a folder's tree is walked even when the folder itself
    /// is not the caller's. noentrycache means nothing on a non-folder and is never kept there.
    /// Setting or clearing undeletable, appendonly or immutable needs an `admin` export: the
    /// session checks that (`access.rs`). EPERM when `ino` alone was asked and may not change.
    /// Reply: how many inodes changed.
    pub(super) fn set_eattr(
        &mut self,
        ctx: &OpContext,
        ino: Ino,
        flags: u8,
        mode: EattrMode,
        recursive: bool,
    ) -> OpResult {
        let permitted =
            |i: &Inode| perm::owner_or_root(&ctx.creds, i) && !(i.eattr & IMMUTABLE != 0 && flags & NOOWNER != 0);
        let top = self.inode(ino)?;
        if !recursive && !permitted(top) {
            return Err(Errno::EPERM);
        }
        let targets = if recursive { self.subtree(ino) } else { vec![ino] };
        let mut changed = 0;
        for target in targets {
            let Some(i) = self.inodes.get_mut(&target) else { continue };
            if !permitted(i) {
                continue;
            }
            let mut mask = flags;
            if !i.is_dir() {
                i.eattr &= !NOENTRYCACHE;
                mask &= !NOENTRYCACHE;
            }
            let new = mode.apply(i.eattr, mask);
            if new != i.eattr {
                i.eattr = new;
                i.ctime = ctx.now;
                changed += 1;
            }
        }
        Ok(Reply::Count(changed))
    }
}
