//! Extended attributes, with Linux's namespace rules (`xattr_permission`).

use proto::client::{OpResult, Reply};
use proto::meta::{Creds, Ino, XattrMode, MAX_XATTR_VALUE};
use proto::Errno;

use super::inode::Inode;
use super::perm::{self, R, S_ISVTX, W};
use super::{guard, names, Namespace, OpContext};

/// `E2BIG` (Linux 7): an xattr value longer than [`MAX_XATTR_VALUE`]. Not among
/// `proto::Errno`'s named constants.
pub const E2BIG: Errno = Errno(7);

impl Namespace {
    /// `setxattr` with `XATTR_CREATE` (EEXIST) / `XATTR_REPLACE` (ENODATA) semantics.
    pub(super) fn setxattr(
        &mut self,
        ctx: &OpContext,
        ino: Ino,
        name: &[u8],
        value: &[u8],
        mode: XattrMode,
    ) -> OpResult {
        let inode = self.inode(ino)?;
        guard::changeable(inode)?;
        names::check_xattr_name(name)?;
        if value.len() > MAX_XATTR_VALUE {
            return Err(E2BIG);
        }
        check_xattr_access(&ctx.creds, inode, name, true)?;
        let exists = inode.xattrs.contains_key(name);
        match mode {
            XattrMode::Create if exists => return Err(Errno::EEXIST),
            XattrMode::Replace if !exists => return Err(Errno::ENODATA),
            _ => {}
        }
        let now = ctx.now;
        self.with_inode(ino, |i| {
            i.xattrs.insert(name.to_vec(), value.to_vec());
            i.ctime = now;
        });
        Ok(Reply::Done)
    }

    /// `removexattr`: ENODATA when absent.
    pub(super) fn removexattr(&mut self, ctx: &OpContext, ino: Ino, name: &[u8]) -> OpResult {
        let inode = self.inode(ino)?;
        guard::changeable(inode)?;
        names::check_xattr_name(name)?;
        check_xattr_access(&ctx.creds, inode, name, true)?;
        if !inode.xattrs.contains_key(name) {
            return Err(Errno::ENODATA);
        }
        let now = ctx.now;
        self.with_inode(ino, |i| {
            i.xattrs.remove(name);
            i.ctime = now;
        });
        Ok(Reply::Done)
    }

    /// `getxattr`: the value, or ENODATA.
    pub(super) fn getxattr(&self, creds: &Creds, ino: Ino, name: &[u8]) -> OpResult {
        let inode = self.inode(ino)?;
        names::check_xattr_name(name)?;
        check_xattr_access(creds, inode, name, false)?;
        inode.xattrs.get(name).map(|v| Reply::Data(v.clone())).ok_or(Errno::ENODATA)
    }

    /// `listxattr`: names in byte order; `trusted.*` only for root.
    pub(super) fn listxattr(&self, creds: &Creds, ino: Ino) -> OpResult {
        let inode = self.inode(ino)?;
        let names = inode.xattrs.keys().filter(|n| creds.is_root() || !n.starts_with(b"trusted.")).cloned().collect();
        Ok(Reply::Names(names))
    }
}

/// May `creds` read (or with `write`, change) xattr `name` of `inode`?
/// - `security.*`, `system.*`: anyone reads; only the owner or root writes (EPERM);
/// - `trusted.*`: root only (EPERM to write, ENODATA to read, as Linux hides them);
/// - `user.*`: only on regular files and directories (EPERM / ENODATA); in a sticky
///   directory only its owner or root writes (EPERM); then file permission (EACCES);
/// - anything else: file permission (EACCES).
fn check_xattr_access(creds: &Creds, inode: &Inode, name: &[u8], write: bool) -> Result<(), Errno> {
    let denied = if write { Errno::EPERM } else { Errno::ENODATA };
    if name.starts_with(b"security.") || name.starts_with(b"system.") {
        if write && !perm::owner_or_root(creds, inode) {
            return Err(Errno::EPERM);
        }
        return Ok(());
    }
    if name.starts_with(b"trusted.") {
        return if creds.is_root() { Ok(()) } else { Err(denied) };
    }
    if name.starts_with(b"user.") {
        if !inode.is_file() && !inode.is_dir() {
            return Err(denied);
        }
        if inode.is_dir() && inode.perm & S_ISVTX != 0 && write && !perm::owner_or_root(creds, inode) {
            return Err(Errno::EPERM);
        }
    }
    perm::check(creds, inode, if write { W } else { R })
}
