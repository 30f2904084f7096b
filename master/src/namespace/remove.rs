//! Operations that remove a name: unlink and rmdir.

use proto::client::{OpResult, Reply};
use proto::meta::{Creds, Ino};
use proto::Errno;

use super::perm::{self, W, X};
use super::{guard, names, Namespace, OpContext};

impl Namespace {
    /// `unlink`: remove a non-directory name (EISDIR for a directory, as Linux).
    pub(super) fn unlink(&mut self, ctx: &OpContext, parent: Ino, name: &[u8]) -> OpResult {
        let ino = self.check_can_remove(&ctx.creds, parent, name)?;
        if self.inode(ino)?.is_dir() {
            return Err(Errno::EISDIR);
        }
        self.dir_remove(parent, name, false, ctx.now);
        self.drop_name(ino, parent, name, ctx.now);
        Ok(Reply::Done)
    }

    /// `rmdir`: remove an empty directory (ENOTDIR, ENOTEMPTY).
    pub(super) fn rmdir(&mut self, ctx: &OpContext, parent: Ino, name: &[u8]) -> OpResult {
        let ino = self.check_can_remove(&ctx.creds, parent, name)?;
        let dir = self.inode(ino)?.as_dir().ok_or(Errno::ENOTDIR)?;
        if !dir.is_empty() {
            return Err(Errno::ENOTEMPTY);
        }
        self.dir_remove(parent, name, true, ctx.now);
        self.drop_name(ino, parent, name, ctx.now);
        Ok(Reply::Done)
    }

    /// Checks of every operation that removes `name` from `parent` (Linux `may_delete`,
    /// without the kind checks): a live directory the caller may search, the name exists
    /// (ENOENT), the caller may write the directory (EACCES), and the sticky rule (EPERM);
    /// an immutable or appendonly directory keeps its names, an undeletable, appendonly or
    /// immutable inode its name (EPERM).
    /// Returns the inode `name` names.
    pub(super) fn check_can_remove(&self, creds: &Creds, parent: Ino, name: &[u8]) -> Result<Ino, Errno> {
        let (p, d) = self.live_dir(parent)?;
        perm::check(creds, p, X)?;
        guard::names_removable(p)?;
        names::check_entry_name(name)?;
        let ino = d.get(name).ok_or(Errno::ENOENT)?;
        perm::check(creds, p, W | X)?;
        let victim = self.inode(ino)?;
        perm::check_sticky(creds, p, victim)?;
        guard::removable(victim)?;
        Ok(ino)
    }
}
