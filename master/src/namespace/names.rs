//! Validation of entry names, symlink targets and xattr names.

pub use proto::meta::MAX_XATTR_NAME_LEN;
use proto::meta::{MAX_NAME_LEN, MAX_SYMLINK_LEN};
use proto::Errno;

/// A name to look up: non-empty (ENOENT), at most 255 bytes (ENAMETOOLONG), without '/' or
/// NUL (EINVAL).
pub fn check_name(name: &[u8]) -> Result<(), Errno> {
    if name.is_empty() {
        return Err(Errno::ENOENT);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(Errno::ENAMETOOLONG);
    }
    if name.iter().any(|&b| b == b'/' || b == 0) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// A name to create, remove or rename: as [`check_name`], and never "." or ".." (EINVAL).
pub fn check_entry_name(name: &[u8]) -> Result<(), Errno> {
    check_name(name)?;
    if name == b"." || name == b".." {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// A symlink target: non-empty (ENOENT, as Linux), at most `MAX_SYMLINK_LEN` bytes
/// (ENAMETOOLONG).
pub fn check_symlink_target(target: &[u8]) -> Result<(), Errno> {
    if target.is_empty() {
        return Err(Errno::ENOENT);
    }
    if target.len() > MAX_SYMLINK_LEN {
        return Err(Errno::ENAMETOOLONG);
    }
    Ok(())
}

/// An xattr name: 1..=255 bytes (ERANGE otherwise, as Linux), without NUL (EINVAL: names
/// travel NUL-separated in `listxattr`).
pub fn check_xattr_name(name: &[u8]) -> Result<(), Errno> {
    if name.is_empty() || name.len() > MAX_XATTR_NAME_LEN {
        return Err(Errno::ERANGE);
    }
    if name.contains(&0) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}
