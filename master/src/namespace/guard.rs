//! Where the extra attributes undeletable, appendonly and immutable refuse an operation, as
//! MooseFS 3.0 refuses it: always EPERM, checked before the permission bits (root included).
//! Each namespace operation calls the check for its part: the folder a name is added to or
//! removed from, the inode changed, the inode a name is removed from.

use proto::eattr::{APPENDONLY, IMMUTABLE, SNAPSHOT, UNDELETABLE};
use proto::Errno;

use super::inode::Inode;

/// Flags that keep a name from going away: `unlink`, `rmdir`, a rename over it.
pub const PINNED: u8 = UNDELETABLE | APPENDONLY | IMMUTABLE;

/// Nothing about `inode` may change (data, attributes, xattrs, goal, names in it): EPERM
/// when immutable.
pub fn changeable(inode: &Inode) -> Result<(), Errno> {
    if inode.eattr & IMMUTABLE != 0 {
        return Err(Errno::EPERM);
    }
    Ok(())
}

/// A name may be added to folder `dir`: EPERM when immutable (appendonly folders take new
/// names).
pub fn names_addable(dir: &Inode) -> Result<(), Errno> {
    changeable(dir)
}

/// A name may be removed from (or renamed out of) folder `dir`: EPERM when immutable or
/// appendonly.
pub fn names_removable(dir: &Inode) -> Result<(), Errno> {
    if dir.eattr & (IMMUTABLE | APPENDONLY) != 0 {
        return Err(Errno::EPERM);
    }
    Ok(())
}

/// A name of `victim` may go away (removed, or replaced by a rename): EPERM when
/// undeletable, appendonly or immutable.
pub fn removable(victim: &Inode) -> Result<(), Errno> {
    if victim.eattr & PINNED != 0 {
        return Err(Errno::EPERM);
    }
    Ok(())
}

/// File `inode` may change length other than by appending writes: EPERM when immutable or
/// appendonly.
pub fn resizable(inode: &Inode) -> Result<(), Errno> {
    if inode.eattr & (IMMUTABLE | APPENDONLY) != 0 {
        return Err(Errno::EPERM);
    }
    Ok(())
}

/// `inode` changed as MooseFS un-marks a snapshot: a folder whose names changed, a file
/// whose data or length changed, is no longer the snapshot that was taken.
pub fn unmark_snapshot(inode: &mut Inode) {
    inode.eattr &= !SNAPSHOT;
}
