//! Permission rules, as Linux applies them (`generic_permission`, the sticky-directory rule,
//! suid/sgid clearing).

use proto::eattr::NOOWNER;
use proto::meta::Creds;
use proto::Errno;

use super::inode::Inode;

/// Read permission bit of an access mask.
pub const R: u32 = 4;
/// Write permission bit of an access mask.
pub const W: u32 = 2;
/// Execute / search permission bit of an access mask.
pub const X: u32 = 1;

/// Set-user-id bit.
pub const S_ISUID: u32 = 0o4000;
/// Set-group-id bit.
pub const S_ISGID: u32 = 0o2000;
/// Sticky bit.
pub const S_ISVTX: u32 = 0o1000;
/// Group execute bit.
pub const S_IXGRP: u32 = 0o010;

/// True when `creds` acts as the owner of `inode`: it is, or the inode has the `noowner`
/// extra attribute (every user is its owner).
pub fn is_owner(creds: &Creds, inode: &Inode) -> bool {
    creds.uid == inode.uid || inode.eattr & NOOWNER != 0
}

/// True when `creds` may access `inode` for every bit of `mask` (R, W, X).
///
/// Root may read and write anything, and execute when the inode is a directory or has some
/// execute bit. Others get the owner bits when they own the inode ([`is_owner`]), else the
/// group bits when they are in its group, else the other bits.
pub fn allowed(creds: &Creds, inode: &Inode, mask: u32) -> bool {
    if creds.is_root() {
        return mask & X == 0 || inode.is_dir() || inode.perm & 0o111 != 0;
    }
    let bits = if is_owner(creds, inode) {
        inode.perm >> 6
    } else if creds.ignore_gid {
        (inode.perm >> 3) | inode.perm
    } else if creds.in_group(inode.gid) {
        inode.perm >> 3
    } else {
        inode.perm
    } & 7;
    mask & !bits == 0
}

/// [`allowed`], or EACCES.
pub fn check(creds: &Creds, inode: &Inode, mask: u32) -> Result<(), Errno> {
    if allowed(creds, inode, mask) {
        Ok(())
    } else {
        Err(Errno::EACCES)
    }
}

/// The owner or root: who may chmod, set times explicitly, set goal and trash time.
pub fn owner_or_root(creds: &Creds, inode: &Inode) -> bool {
    creds.is_root() || is_owner(creds, inode)
}

/// In a sticky directory, only the owner of the entry, the owner of the directory or root
/// may remove or rename the entry: EPERM for everyone else.
pub fn check_sticky(creds: &Creds, dir: &Inode, victim: &Inode) -> Result<(), Errno> {
    if dir.perm & S_ISVTX != 0 && !creds.is_root() && !is_owner(creds, victim) && !is_owner(creds, dir) {
        return Err(Errno::EPERM);
    }
    Ok(())
}

/// Permission bits after a privilege-dropping change (write, truncate, chown of a file):
/// suid goes, and sgid goes when group-execute is set (sgid without group-execute means
/// mandatory locking, not privilege).
pub fn drop_privileges(perm: u32) -> u32 {
    let mut perm = perm & !S_ISUID;
    if perm & (S_ISGID | S_IXGRP) == (S_ISGID | S_IXGRP) {
        perm &= !S_ISGID;
    }
    perm
}
