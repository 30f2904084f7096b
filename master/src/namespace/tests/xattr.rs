//! Extended attributes: modes, limits, namespaces, permissions.

use super::*;
use crate::namespace::xattr::E2BIG;
use proto::meta::MAX_XATTR_VALUE;

#[test]
fn set_get_list_and_remove() {
    let mut fs = Fs::new();
    let f = fs.file(ROOT, "f").unwrap().ino;
    fs.setxattr(f, "user.b", b"2", XattrMode::Set).unwrap();
    assert_eq!(fs.getattr(f).unwrap().ctime, t(fs.now));
    fs.setxattr(f, "user.a", b"1", XattrMode::Set).unwrap();
    fs.setxattr(f, "user.a", b"one", XattrMode::Set).unwrap();
    assert_eq!(fs.getxattr(f, "user.a").unwrap(), b"one");
    assert_eq!(fs.listxattr(f).unwrap(), ["user.a", "user.b"], "sorted");
    fs.removexattr(f, "user.a").unwrap();
    assert_eq!(fs.getattr(f).unwrap().ctime, t(fs.now));
    assert_eq!(fs.getxattr(f, "user.a"), Err(Errno::ENODATA));
    assert_eq!(fs.listxattr(f).unwrap(), ["user.b"]);
    fs.setxattr(f, "user.empty", b"", XattrMode::Set).unwrap();
    assert_eq!(fs.getxattr(f, "user.empty").unwrap(), b"");
}

#[test]
fn create_and_replace_modes() {
    let mut fs = Fs::new();
    let f = fs.file(ROOT, "f").unwrap().ino;
    assert_eq!(fs.setxattr(f, "user.k", b"v", XattrMode::Replace), Err(Errno::ENODATA));
    fs.setxattr(f, "user.k", b"v", XattrMode::Create).unwrap();
    assert_eq!(fs.setxattr(f, "user.k", b"w", XattrMode::Create), Err(Errno::EEXIST));
    fs.setxattr(f, "user.k", b"w", XattrMode::Replace).unwrap();
    assert_eq!(fs.getxattr(f, "user.k").unwrap(), b"w");
}

#[test]
fn names_and_values_are_limited() {
    let mut fs = Fs::new();
    let f = fs.file(ROOT, "f").unwrap().ino;
    assert_eq!(fs.setxattr(f, "", b"v", XattrMode::Set), Err(Errno::ERANGE));
    let long = format!("user.{}", "x".repeat(251));
    assert_eq!(fs.setxattr(f, &long, b"v", XattrMode::Set), Err(Errno::ERANGE));
    fs.setxattr(f, &long[..255], b"v", XattrMode::Set).unwrap();
    let big = vec![0u8; MAX_XATTR_VALUE + 1];
    assert_eq!(fs.setxattr(f, "user.big", &big, XattrMode::Set), Err(E2BIG));
    fs.setxattr(f, "user.big", &big[1..], XattrMode::Set).unwrap();
    assert_eq!(fs.getxattr(f, ""), Err(Errno::ERANGE));
    assert_eq!(fs.removexattr(f, "user.none"), Err(Errno::ENODATA));
    assert_eq!(fs.setxattr(999, "user.k", b"v", XattrMode::Set), Err(Errno::ENOENT));
    assert_eq!(fs.listxattr(999), Err(Errno::ENOENT));
}

#[test]
fn user_xattrs_are_only_for_files_and_directories() {
    let mut fs = Fs::new();
    let l = fs.symlink(ROOT, "l", b"x").unwrap().ino;
    let d = fs.mkdir(ROOT, "d").unwrap().ino;
    assert_eq!(fs.setxattr(l, "user.k", b"v", XattrMode::Set), Err(Errno::EPERM));
    assert_eq!(fs.getxattr(l, "user.k"), Err(Errno::ENODATA));
    fs.setxattr(d, "user.k", b"v", XattrMode::Set).unwrap();
    fs.setxattr(l, "security.k", b"v", XattrMode::Set).unwrap();
}

#[test]
fn xattr_permissions_for_unprivileged_callers() {
    let mut fs = Fs::new();
    let tmp = fs.mkdir_mode(ROOT, "tmp", 0o1777).unwrap().ino;
    let f = fs.file(ROOT, "f").unwrap().ino;
    fs.setxattr(f, "user.k", b"v", XattrMode::Set).unwrap();
    fs.setxattr(f, "trusted.t", b"v", XattrMode::Set).unwrap();
    fs.setxattr(f, "security.s", b"v", XattrMode::Set).unwrap();
    fs.as_user(1000, 1000, |fs| {
        assert_eq!(fs.getxattr(f, "user.k").unwrap(), b"v", "0644: readable");
        assert_eq!(fs.setxattr(f, "user.k", b"w", XattrMode::Set), Err(Errno::EACCES));
        assert_eq!(fs.removexattr(f, "user.k"), Err(Errno::EACCES));
        assert_eq!(fs.getxattr(f, "trusted.t"), Err(Errno::ENODATA), "hidden");
        assert_eq!(fs.setxattr(f, "trusted.x", b"v", XattrMode::Set), Err(Errno::EPERM));
        assert_eq!(fs.listxattr(f).unwrap(), ["security.s", "user.k"]);
        assert_eq!(fs.getxattr(f, "security.s").unwrap(), b"v");
        assert_eq!(fs.setxattr(f, "security.s", b"w", XattrMode::Set), Err(Errno::EPERM));
        assert_eq!(fs.setxattr(tmp, "user.k", b"v", XattrMode::Set), Err(Errno::EPERM));
    });
    assert_eq!(fs.listxattr(f).unwrap(), ["security.s", "trusted.t", "user.k"]);
    fs.chmod(f, 0o600).unwrap();
    assert_eq!(fs.as_user(1000, 1000, |fs| fs.getxattr(f, "user.k")), Err(Errno::EACCES));
}
