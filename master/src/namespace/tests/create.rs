//! mknod, create, mkdir, symlink, link: results, link counts, times, errors.

use super::*;
use crate::namespace::create::LINK_MAX;
use crate::namespace::{DEFAULT_GOAL, DEFAULT_TRASH_TIME};
use proto::meta::{FileType, MAX_NAME_LEN, MAX_SYMLINK_LEN};

#[test]
fn root_is_a_0755_directory_owned_by_root_with_two_links() {
    let fs = Fs::new();
    let root = fs.getattr(ROOT).unwrap();
    assert_eq!(root.kind, FileType::Dir);
    assert_eq!((root.perm, root.uid, root.gid, root.nlink), (0o755, 0, 0, 2));
    assert_eq!((root.goal, root.trash_time), (DEFAULT_GOAL, DEFAULT_TRASH_TIME));
    assert_eq!(root.ctime, t(1000));
    assert_eq!(fs.lookup(ROOT, "..").unwrap().ino, ROOT, "the root's parent is itself");
    assert_eq!(fs.lookup(ROOT, ".").unwrap().ino, ROOT);
    assert_eq!(fs.ns.inode_count(), 1);
}

#[test]
fn mkdir_makes_a_two_link_directory_and_adds_a_link_to_its_parent() {
    let mut fs = Fs::new();
    let d = fs.mkdir(ROOT, "d").unwrap();
    assert_eq!((d.kind, d.nlink, d.perm), (FileType::Dir, 2, 0o755));
    assert_eq!(fs.getattr(ROOT).unwrap().nlink, 3);
    let sub = fs.mkdir(d.ino, "sub").unwrap();
    assert_eq!(fs.getattr(d.ino).unwrap().nlink, 3);
    assert_eq!(fs.getattr(ROOT).unwrap().nlink, 3, "grandchildren do not count");
    assert_eq!(fs.lookup(sub.ino, "..").unwrap().ino, d.ino);
    fs.file(d.ino, "f").unwrap();
    assert_eq!(fs.getattr(d.ino).unwrap().nlink, 3, "files do not count");
}

#[test]
fn create_sets_all_times_of_the_new_inode_and_mtime_ctime_of_the_parent() {
    let mut fs = Fs::new();
    let f = fs.create(ROOT, "f").unwrap();
    let now = t(fs.now);
    assert_eq!((f.atime, f.mtime, f.ctime), (now, now, now));
    assert_eq!((f.kind, f.nlink, f.size, f.perm), (FileType::File, 1, 0, 0o644));
    let root = fs.getattr(ROOT).unwrap();
    assert_eq!((root.mtime, root.ctime), (now, now));
    assert_eq!(root.atime, t(1000), "atime of the parent is untouched");
    assert_eq!(fs.lookup(ROOT, "f").unwrap(), f);
}

#[test]
fn inode_numbers_increase_and_are_never_reused() {
    let mut fs = Fs::without_trash();
    let a = fs.file(ROOT, "a").unwrap().ino;
    fs.unlink(ROOT, "a").unwrap();
    let b = fs.file(ROOT, "b").unwrap().ino;
    let c = fs.mkdir(ROOT, "c").unwrap().ino;
    assert!(a < b && b < c, "{a} {b} {c}");
    assert_eq!(fs.getattr(a), Err(Errno::ENOENT));
}

#[test]
fn creating_an_existing_name_is_eexist_for_every_kind() {
    let mut fs = Fs::new();
    fs.file(ROOT, "x").unwrap();
    fs.mkdir(ROOT, "d").unwrap();
    assert_eq!(fs.create(ROOT, "x"), Err(Errno::EEXIST));
    assert_eq!(fs.mkdir(ROOT, "x"), Err(Errno::EEXIST));
    assert_eq!(fs.file(ROOT, "d"), Err(Errno::EEXIST));
    assert_eq!(fs.symlink(ROOT, "x", b"t"), Err(Errno::EEXIST));
    let x = fs.ino(ROOT, "x");
    assert_eq!(fs.link(x, ROOT, "d"), Err(Errno::EEXIST));
}

#[test]
fn create_without_exclusive_opens_an_existing_file() {
    let mut fs = Fs::without_trash();
    let f = fs.file(ROOT, "f").unwrap();
    let op = WriteOp::Create { parent: ROOT, name: b("f"), mode: 0o600, umask: 0, exclusive: false };
    let again = attr(fs.write(op)).unwrap();
    assert_eq!(again.ino, f.ino);
    assert_eq!(again.perm, 0o644, "the existing file keeps its mode");
    // The open reference keeps the file alive after unlink.
    fs.unlink(ROOT, "f").unwrap();
    assert_eq!(fs.getattr(f.ino).unwrap().nlink, 0);
    fs.release(f.ino).unwrap();
    assert_eq!(fs.getattr(f.ino), Err(Errno::ENOENT));
}

#[test]
fn create_without_exclusive_on_a_directory_is_eisdir() {
    let mut fs = Fs::new();
    fs.mkdir(ROOT, "d").unwrap();
    let op = WriteOp::Create { parent: ROOT, name: b("d"), mode: 0o644, umask: 0, exclusive: false };
    assert_eq!(fs.write(op), Err(Errno::EISDIR));
}

#[test]
fn create_without_exclusive_checks_write_permission_on_the_existing_file() {
    let mut fs = Fs::new();
    let d = fs.mkdir_mode(ROOT, "d", 0o777).unwrap().ino;
    fs.file(d, "f").unwrap();
    let op = WriteOp::Create { parent: d, name: b("f"), mode: 0o644, umask: 0, exclusive: false };
    assert_eq!(fs.as_user(1000, 1000, |fs| fs.write(op)), Err(Errno::EACCES));
}

#[test]
fn create_in_a_missing_parent_is_enoent_and_in_a_file_is_enotdir() {
    let mut fs = Fs::new();
    let f = fs.file(ROOT, "f").unwrap().ino;
    assert_eq!(fs.create(999, "x"), Err(Errno::ENOENT));
    assert_eq!(fs.mkdir(999, "x"), Err(Errno::ENOENT));
    assert_eq!(fs.create(f, "x"), Err(Errno::ENOTDIR));
    assert_eq!(fs.mkdir(f, "x"), Err(Errno::ENOTDIR));
    assert_eq!(fs.symlink(f, "x", b"t"), Err(Errno::ENOTDIR));
    assert_eq!(fs.lookup(f, "x"), Err(Errno::ENOTDIR));
    assert_eq!(fs.lookup(999, "x"), Err(Errno::ENOENT));
}

#[test]
fn names_are_validated() {
    let mut fs = Fs::new();
    let longest = "n".repeat(MAX_NAME_LEN);
    let too_long = "n".repeat(MAX_NAME_LEN + 1);
    fs.create(ROOT, &longest).unwrap();
    assert_eq!(fs.create(ROOT, &too_long), Err(Errno::ENAMETOOLONG));
    assert_eq!(fs.mkdir(ROOT, &too_long), Err(Errno::ENAMETOOLONG));
    assert_eq!(fs.lookup(ROOT, &too_long), Err(Errno::ENAMETOOLONG));
    assert_eq!(fs.create(ROOT, ""), Err(Errno::ENOENT));
    assert_eq!(fs.lookup(ROOT, ""), Err(Errno::ENOENT));
    assert_eq!(fs.create(ROOT, "a/b"), Err(Errno::EINVAL));
    assert_eq!(fs.create(ROOT, "a\0b"), Err(Errno::EINVAL));
    assert_eq!(fs.create(ROOT, "."), Err(Errno::EINVAL));
    assert_eq!(fs.mkdir(ROOT, ".."), Err(Errno::EINVAL));
    assert_eq!(fs.symlink(ROOT, ".", b"t"), Err(Errno::EINVAL));
}

#[test]
fn umask_is_applied_and_mkdir_ignores_suid_and_sgid_bits() {
    let mut fs = Fs::new();
    let op = WriteOp::Create { parent: ROOT, name: b("f"), mode: 0o4777, umask: 0o022, exclusive: true };
    assert_eq!(attr(fs.write(op)).unwrap().perm, 0o4755);
    let op = WriteOp::MkDir { parent: ROOT, name: b("d"), mode: 0o7777, umask: 0o027 };
    assert_eq!(attr(fs.write(op)).unwrap().perm, 0o1750);
    let op = WriteOp::MkNod { parent: ROOT, name: b("n"), mode: 0o100666, umask: 0o002, rdev: 0 };
    assert_eq!(attr(fs.write(op)).unwrap().perm, 0o664);
}

#[test]
fn mknod_makes_every_kind_but_directories_and_symlinks() {
    let mut fs = Fs::new();
    let plain = fs.mknod(ROOT, "plain", 0o644, 0).unwrap();
    assert_eq!(plain.kind, FileType::File, "kind bits 0 mean a regular file");
    assert_eq!(fs.mknod(ROOT, "fifo", 0o010644, 7).unwrap().kind, FileType::Fifo);
    assert_eq!(fs.mknod(ROOT, "fifo", 0o010644, 7), Err(Errno::EEXIST));
    assert_eq!(fs.getattr(fs.ino(ROOT, "fifo")).unwrap().rdev, 0, "rdev only for devices");
    assert_eq!(fs.mknod(ROOT, "sock", 0o140644, 0).unwrap().kind, FileType::Socket);
    let chr = fs.mknod(ROOT, "chr", 0o020600, 0x0103).unwrap();
    assert_eq!((chr.kind, chr.rdev), (FileType::CharDev, 0x0103));
    assert_eq!(fs.mknod(ROOT, "blk", 0o060600, 8).unwrap().kind, FileType::BlockDev);
    assert_eq!(fs.mknod(ROOT, "dir", 0o040755, 0), Err(Errno::EINVAL));
    assert_eq!(fs.mknod(ROOT, "lnk", 0o120777, 0), Err(Errno::EINVAL));
    assert_eq!(fs.mknod(ROOT, "bad", 0o170777, 0), Err(Errno::EINVAL));
    fs.chmod(ROOT, 0o777).unwrap();
    fs.as_user(1000, 1000, |fs| {
        assert_eq!(fs.mknod(ROOT, "dev", 0o020600, 1), Err(Errno::EPERM));
        assert_eq!(fs.mknod(ROOT, "fifo2", 0o010600, 0).unwrap().uid, 1000);
    });
}

#[test]
fn symlink_is_0777_sized_by_its_target_and_readlink_returns_the_target() {
    let mut fs = Fs::new();
    let l = fs.symlink(ROOT, "l", b"some/where").unwrap();
    assert_eq!((l.kind, l.perm, l.size, l.nlink), (FileType::Symlink, 0o777, 10, 1));
    assert_eq!(fs.readlink(l.ino).unwrap(), b"some/where");
    let f = fs.file(ROOT, "f").unwrap().ino;
    assert_eq!(fs.readlink(f), Err(Errno::EINVAL));
    assert_eq!(fs.readlink(ROOT), Err(Errno::EINVAL));
    assert_eq!(fs.readlink(999), Err(Errno::ENOENT));
}

#[test]
fn symlink_targets_are_validated() {
    let mut fs = Fs::new();
    assert_eq!(fs.symlink(ROOT, "l", b""), Err(Errno::ENOENT));
    let longest = vec![b'a'; MAX_SYMLINK_LEN];
    assert_eq!(fs.symlink(ROOT, "l", &longest).unwrap().size, MAX_SYMLINK_LEN as u64);
    let too_long = vec![b'a'; MAX_SYMLINK_LEN + 1];
    assert_eq!(fs.symlink(ROOT, "m", &too_long), Err(Errno::ENAMETOOLONG));
}

#[test]
fn new_inodes_inherit_goal_and_trash_time_from_their_parent() {
    let mut fs = Fs::new();
    let d = fs.mkdir(ROOT, "d").unwrap().ino;
    fs.set_goal(d, 3, false).unwrap();
    fs.set_trash_time(d, 60, false).unwrap();
    let f = fs.file(d, "f").unwrap();
    let sub = fs.mkdir(d, "sub").unwrap();
    let l = fs.symlink(d, "l", b"x").unwrap();
    for a in [f, sub, l] {
        assert_eq!((a.goal, a.trash_time), (3, 60));
    }
    let top = fs.file(ROOT, "top").unwrap();
    assert_eq!((top.goal, top.trash_time), (DEFAULT_GOAL, DEFAULT_TRASH_TIME));
}

#[test]
fn nothing_can_be_created_in_a_removed_directory_kept_open() {
    let mut fs = Fs::new();
    let d = fs.mkdir(ROOT, "d").unwrap().ino;
    fs.open(d, O_RDONLY).unwrap();
    fs.rmdir(ROOT, "d").unwrap();
    assert_eq!(fs.getattr(d).unwrap().nlink, 0);
    assert_eq!(fs.create(d, "f"), Err(Errno::ENOENT));
    assert_eq!(fs.mkdir(d, "s"), Err(Errno::ENOENT));
    assert_eq!(fs.readdir(d, 0, 10, false).unwrap().len(), 2, "only . and ..");
    fs.release(d).unwrap();
    assert_eq!(fs.getattr(d), Err(Errno::ENOENT));
}

#[test]
fn link_adds_a_name_counts_links_and_updates_ctime() {
    let mut fs = Fs::new();
    let d = fs.mkdir(ROOT, "d").unwrap().ino;
    let f = fs.file(ROOT, "f").unwrap();
    let linked = fs.link(f.ino, d, "g").unwrap();
    let now = t(fs.now);
    assert_eq!((linked.ino, linked.nlink, linked.ctime), (f.ino, 2, now));
    assert_eq!(fs.lookup(d, "g").unwrap().ino, f.ino);
    let dir = fs.getattr(d).unwrap();
    assert_eq!((dir.mtime, dir.ctime, dir.nlink), (now, now, 2));
    fs.link(f.ino, ROOT, "h").unwrap();
    assert_eq!(fs.getattr(f.ino).unwrap().nlink, 3);
}

#[test]
fn link_errors() {
    let mut fs = Fs::new();
    let d = fs.mkdir(ROOT, "d").unwrap().ino;
    let f = fs.file(ROOT, "f").unwrap().ino;
    assert_eq!(fs.link(d, ROOT, "dd"), Err(Errno::EPERM), "no hard links to directories");
    assert_eq!(fs.link(999, ROOT, "x"), Err(Errno::ENOENT));
    assert_eq!(fs.link(f, 999, "x"), Err(Errno::ENOENT));
    assert_eq!(fs.link(f, f, "x"), Err(Errno::ENOTDIR));
    fs.ns.inodes.get_mut(&f).unwrap().nlink = LINK_MAX;
    assert_eq!(fs.link(f, ROOT, "x"), Err(Errno::EMLINK));
}

#[test]
fn a_deleted_but_open_file_cannot_get_a_new_name() {
    let mut fs = Fs::new();
    let f = fs.create(ROOT, "f").unwrap().ino;
    fs.unlink(ROOT, "f").unwrap();
    assert_eq!(fs.link(f, ROOT, "again"), Err(Errno::ENOENT));
}
