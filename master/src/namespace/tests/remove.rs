//! unlink and rmdir.

use super::*;

#[test]
fn unlink_removes_the_name_and_updates_parent_times() {
    let mut fs = Fs::without_trash();
    let f = fs.file(ROOT, "f").unwrap().ino;
    fs.unlink(ROOT, "f").unwrap();
    let now = t(fs.now);
    assert_eq!(fs.lookup(ROOT, "f"), Err(Errno::ENOENT));
    assert_eq!(fs.getattr(f), Err(Errno::ENOENT), "freed: no trash, not open");
    let root = fs.getattr(ROOT).unwrap();
    assert_eq!((root.mtime, root.ctime, root.nlink), (now, now, 2));
    assert_eq!(fs.ns.inode_count(), 1);
}

#[test]
fn unlink_of_one_hard_link_keeps_the_file_and_updates_its_ctime() {
    let mut fs = Fs::new();
    let f = fs.file(ROOT, "f").unwrap().ino;
    fs.link(f, ROOT, "g").unwrap();
    fs.unlink(ROOT, "f").unwrap();
    let a = fs.getattr(f).unwrap();
    assert_eq!((a.nlink, a.ctime), (1, t(fs.now)));
    assert_eq!(fs.lookup(ROOT, "g").unwrap().ino, f);
    assert!(!fs.in_trash(f));
}

#[test]
fn unlink_errors() {
    let mut fs = Fs::new();
    fs.mkdir(ROOT, "d").unwrap();
    let f = fs.file(ROOT, "f").unwrap().ino;
    assert_eq!(fs.unlink(ROOT, "missing"), Err(Errno::ENOENT));
    assert_eq!(fs.unlink(ROOT, "d"), Err(Errno::EISDIR));
    assert_eq!(fs.unlink(999, "f"), Err(Errno::ENOENT));
    assert_eq!(fs.unlink(f, "x"), Err(Errno::ENOTDIR));
    assert_eq!(fs.unlink(ROOT, "."), Err(Errno::EINVAL));
    assert_eq!(fs.unlink(ROOT, ".."), Err(Errno::EINVAL));
    assert_eq!(fs.unlink(ROOT, ""), Err(Errno::ENOENT));
}

#[test]
fn unlink_of_special_files_and_symlinks_frees_them_without_trash() {
    let mut fs = Fs::new();
    let l = fs.symlink(ROOT, "l", b"x").unwrap().ino;
    let p = fs.mknod(ROOT, "p", 0o010644, 0).unwrap().ino;
    fs.unlink(ROOT, "l").unwrap();
    fs.unlink(ROOT, "p").unwrap();
    assert_eq!(fs.getattr(l), Err(Errno::ENOENT));
    assert_eq!(fs.getattr(p), Err(Errno::ENOENT));
    assert_eq!(fs.ns.next_trash_expiry(), None, "only regular files go to the trash");
}

#[test]
fn rmdir_removes_an_empty_directory_and_drops_the_parent_link() {
    let mut fs = Fs::new();
    let a = fs.mkdir(ROOT, "a").unwrap().ino;
    let b = fs.mkdir(a, "b").unwrap().ino;
    assert_eq!(fs.getattr(a).unwrap().nlink, 3);
    fs.rmdir(a, "b").unwrap();
    let now = t(fs.now);
    let pa = fs.getattr(a).unwrap();
    assert_eq!((pa.nlink, pa.mtime, pa.ctime), (2, now, now));
    assert_eq!(fs.getattr(b), Err(Errno::ENOENT));
    fs.rmdir(ROOT, "a").unwrap();
    assert_eq!(fs.getattr(ROOT).unwrap().nlink, 2);
    assert_eq!(fs.ns.inode_count(), 1);
}

#[test]
fn rmdir_errors() {
    let mut fs = Fs::new();
    let d = fs.mkdir(ROOT, "d").unwrap().ino;
    fs.file(d, "f").unwrap();
    fs.file(ROOT, "g").unwrap();
    assert_eq!(fs.rmdir(ROOT, "d"), Err(Errno::ENOTEMPTY));
    assert_eq!(fs.rmdir(ROOT, "g"), Err(Errno::ENOTDIR));
    assert_eq!(fs.rmdir(ROOT, "missing"), Err(Errno::ENOENT));
    assert_eq!(fs.rmdir(ROOT, "."), Err(Errno::EINVAL));
    assert_eq!(fs.rmdir(d, ".."), Err(Errno::EINVAL));
    fs.unlink(d, "f").unwrap();
    fs.rmdir(ROOT, "d").unwrap();
}
