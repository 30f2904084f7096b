//! Permissions of unprivileged callers: EACCES, EPERM, the sticky bit, setgid, chmod,
//! chown, utimens, truncate, open, access, goal and trash time.

use super::*;

const ALICE: u32 = 1000;
const BOB: u32 = 2000;
const STAFF: u32 = 50;

/// A 0777 directory "shared" and a 0755 directory "alice" owned by alice.
fn setup() -> (Fs, Ino, Ino) {
    let mut fs = Fs::new();
    let shared = fs.mkdir_mode(ROOT, "shared", 0o777).unwrap().ino;
    let home = fs.mkdir(ROOT, "alice").unwrap().ino;
    fs.chown(home, Some(ALICE), Some(ALICE)).unwrap();
    (fs, shared, home)
}

#[test]
fn creating_without_write_permission_on_the_parent_is_eacces() {
    let (mut fs, _, home) = setup();
    fs.as_user(BOB, BOB, |fs| {
        assert_eq!(fs.create(ROOT, "x"), Err(Errno::EACCES));
        assert_eq!(fs.mkdir(home, "x"), Err(Errno::EACCES));
        assert_eq!(fs.symlink(home, "x", b"t"), Err(Errno::EACCES));
        assert_eq!(fs.mknod(home, "x", 0o010644, 0), Err(Errno::EACCES));
    });
    let f = fs.as_user(ALICE, ALICE, |fs| fs.create(home, "mine")).unwrap();
    assert_eq!((f.uid, f.gid), (ALICE, ALICE));
    fs.as_user(BOB, BOB, |fs| {
        assert_eq!(fs.link(f.ino, home, "again"), Err(Errno::EACCES));
        // An existing name is reported before the missing write permission.
        assert_eq!(fs.create(home, "mine"), Err(Errno::EEXIST));
    });
}

#[test]
fn search_permission_is_needed_to_look_up_and_to_change_a_directory() {
    let (mut fs, _, home) = setup();
    fs.file(home, "f").unwrap();
    fs.chmod(home, 0o700).unwrap();
    fs.as_user(BOB, BOB, |fs| {
        assert_eq!(fs.lookup(home, "f"), Err(Errno::EACCES));
        assert_eq!(fs.lookup(home, "."), Err(Errno::EACCES));
        assert_eq!(fs.unlink(home, "f"), Err(Errno::EACCES));
        assert_eq!(fs.readdir(home, 0, 10, false), Err(Errno::EACCES));
    });
    fs.chmod(home, 0o711).unwrap();
    fs.as_user(BOB, BOB, |fs| {
        assert!(fs.lookup(home, "f").is_ok(), "search without read is enough");
        assert_eq!(fs.readdir(home, 0, 10, false), Err(Errno::EACCES), "listing needs read");
    });
    fs.chmod(home, 0o744).unwrap();
    fs.as_user(BOB, BOB, |fs| {
        assert!(fs.readdir(home, 0, 10, false).is_ok());
        assert_eq!(fs.lookup(home, "f"), Err(Errno::EACCES), "read without search");
    });
}

#[test]
fn unlink_and_rmdir_need_write_permission_on_the_parent() {
    let (mut fs, _, home) = setup();
    fs.as_user(ALICE, ALICE, |fs| {
        fs.file(home, "f").unwrap();
        fs.mkdir(home, "d").unwrap();
    });
    fs.as_user(BOB, BOB, |fs| {
        assert_eq!(fs.unlink(home, "f"), Err(Errno::EACCES));
        assert_eq!(fs.rmdir(home, "d"), Err(Errno::EACCES));
        assert_eq!(fs.rename(home, "f", home, "g"), Err(Errno::EACCES));
        // A missing name is reported before the missing write permission.
        assert_eq!(fs.unlink(home, "missing"), Err(Errno::ENOENT));
    });
    fs.as_user(ALICE, ALICE, |fs| {
        fs.unlink(home, "f").unwrap();
        fs.rmdir(home, "d").unwrap();
    });
}

#[test]
fn in_a_sticky_directory_only_owners_and_root_remove_or_rename_entries() {
    let mut fs = Fs::new();
    let tmp = fs.mkdir_mode(ROOT, "tmp", 0o1777).unwrap().ino;
    fs.as_user(ALICE, ALICE, |fs| {
        fs.file(tmp, "a1").unwrap();
        fs.file(tmp, "a2").unwrap();
        fs.mkdir(tmp, "ad").unwrap();
    });
    fs.as_user(BOB, BOB, |fs| {
        fs.file(tmp, "b").unwrap();
        assert_eq!(fs.unlink(tmp, "a1"), Err(Errno::EPERM));
        assert_eq!(fs.rmdir(tmp, "ad"), Err(Errno::EPERM));
        assert_eq!(fs.rename(tmp, "a1", tmp, "mine"), Err(Errno::EPERM));
        assert_eq!(fs.rename(tmp, "b", tmp, "a1"), Err(Errno::EPERM), "may not replace it");
        fs.rename(tmp, "b", tmp, "b2").unwrap();
        fs.unlink(tmp, "b2").unwrap();
    });
    fs.as_user(ALICE, ALICE, |fs| fs.unlink(tmp, "a1")).unwrap();
    // The directory's owner may remove anyone's entries.
    fs.chown(tmp, Some(BOB), None).unwrap();
    fs.as_user(BOB, BOB, |fs| fs.unlink(tmp, "a2")).unwrap();
    fs.rmdir(tmp, "ad").unwrap();
}

#[test]
fn moving_a_directory_to_another_parent_needs_write_permission_on_it() {
    let (mut fs, shared, _) = setup();
    let other = fs.mkdir_mode(ROOT, "other", 0o777).unwrap().ino;
    fs.mkdir_mode(shared, "ro", 0o555).unwrap();
    fs.as_user(BOB, BOB, |fs| {
        assert_eq!(fs.rename(shared, "ro", other, "ro"), Err(Errno::EACCES));
        fs.rename(shared, "ro", shared, "ro2").unwrap();
    });
    fs.rename(shared, "ro2", other, "ro").unwrap();
}

#[test]
fn chmod_is_for_the_owner_and_root() {
    let (mut fs, shared, _) = setup();
    let f = fs.as_user(ALICE, ALICE, |fs| fs.file(shared, "f")).unwrap().ino;
    assert_eq!(fs.as_user(BOB, BOB, |fs| fs.chmod(f, 0o777)), Err(Errno::EPERM));
    let a = fs.as_user(ALICE, ALICE, |fs| fs.chmod(f, 0o600)).unwrap();
    assert_eq!((a.perm, a.ctime), (0o600, t(fs.now)));
    assert_eq!(fs.chmod(f, 0o4755).unwrap().perm, 0o4755);
}

#[test]
fn chmod_by_a_non_member_silently_drops_sgid() {
    let (mut fs, shared, _) = setup();
    let f = fs.as_user(ALICE, ALICE, |fs| fs.file(shared, "f")).unwrap().ino;
    fs.chown(f, None, Some(STAFF)).unwrap();
    let a = fs.as_user(ALICE, ALICE, |fs| fs.chmod(f, 0o2755)).unwrap();
    assert_eq!(a.perm, 0o755);
    let member = Creds::new(ALICE, ALICE, vec![STAFF]);
    assert_eq!(fs.as_creds(member, |fs| fs.chmod(f, 0o2755)).unwrap().perm, 0o2755);
    assert_eq!(fs.chmod(f, 0o2711).unwrap().perm, 0o2711, "root keeps it");
}

#[test]
fn chown_of_the_uid_is_for_root_and_chgrp_for_the_owner_into_its_groups() {
    let (mut fs, shared, _) = setup();
    let f = fs.as_user(ALICE, ALICE, |fs| fs.file(shared, "f")).unwrap().ino;
    let alice_staff = Creds::new(ALICE, ALICE, vec![STAFF]);
    fs.as_creds(alice_staff, |fs| {
        assert_eq!(fs.chown(f, Some(BOB), None), Err(Errno::EPERM));
        assert!(fs.chown(f, Some(ALICE), None).is_ok(), "no actual change is allowed");
        assert_eq!(fs.chown(f, None, Some(999)), Err(Errno::EPERM));
        let a = fs.chown(f, None, Some(STAFF)).unwrap();
        assert_eq!((a.gid, a.ctime), (STAFF, t(fs.now)));
    });
    fs.as_user(BOB, BOB, |fs| {
        assert_eq!(fs.chown(f, None, Some(BOB)), Err(Errno::EPERM));
        assert_eq!(fs.chown(f, None, Some(STAFF)), Err(Errno::EPERM), "not the owner");
    });
    let a = fs.chown(f, Some(BOB), Some(BOB)).unwrap();
    assert_eq!((a.uid, a.gid), (BOB, BOB));
}

#[test]
fn chown_of_a_file_drops_suid_and_executable_sgid_but_not_on_directories() {
    let mut fs = Fs::new();
    let f = fs.file(ROOT, "f").unwrap().ino;
    fs.chmod(f, 0o6755).unwrap();
    assert_eq!(fs.chown(f, Some(1), Some(1)).unwrap().perm, 0o755, "even by root");
    fs.chmod(f, 0o6745).unwrap();
    assert_eq!(fs.chown(f, Some(2), None).unwrap().perm, 0o2745, "sgid without g+x stays");
    let d = fs.mkdir(ROOT, "d").unwrap().ino;
    fs.chmod(d, 0o6755).unwrap();
    assert_eq!(fs.chown(d, Some(1), Some(1)).unwrap().perm, 0o6755);
    // With an explicit mode (what the kernel sends), the mode wins.
    let set = SetAttr { uid: Some(3), mode: Some(0o4755), ..Default::default() };
    assert_eq!(fs.setattr(f, set).unwrap().perm, 0o4755);
}

#[test]
fn truncate_needs_write_permission_unless_the_session_has_the_file_open() {
    let (mut fs, shared, _) = setup();
    let f = fs.as_user(ALICE, ALICE, |fs| fs.file(shared, "f")).unwrap().ino;
    assert_eq!(fs.as_user(BOB, BOB, |fs| fs.truncate(f, 1)), Err(Errno::EACCES));
    fs.truncate(f, 2).unwrap();
    // ftruncate on a descriptor: open for writing, then the mode may forbid writing.
    fs.as_user(ALICE, ALICE, |fs| {
        fs.open(f, O_WRONLY).unwrap();
        fs.chmod(f, 0o444).unwrap();
        assert_eq!(fs.truncate(f, 3).unwrap().size, 3);
        assert_eq!(fs.in_session(9, |fs| fs.truncate(f, 4)), Err(Errno::EACCES));
    });
}

#[test]
fn a_size_change_by_a_non_root_caller_drops_suid() {
    let (mut fs, shared, _) = setup();
    let f = fs.as_user(ALICE, ALICE, |fs| fs.file(shared, "f")).unwrap().ino;
    fs.chmod(f, 0o6777).unwrap();
    assert_eq!(fs.truncate(f, 1).unwrap().perm, 0o6777, "root keeps the bits");
    let a = fs.as_user(BOB, BOB, |fs| fs.truncate(f, 2)).unwrap();
    assert_eq!(a.perm, 0o777);
    // The kernel's own "kill privileges" mode, sent with the size by a non-owner, is fine.
    fs.chmod(f, 0o4777).unwrap();
    let set = SetAttr { size: Some(3), mode: Some(0o777), ..Default::default() };
    assert_eq!(fs.as_user(BOB, BOB, |fs| fs.setattr(f, set)).unwrap().perm, 0o777);
    let set = SetAttr { size: Some(4), mode: Some(0o4777), ..Default::default() };
    assert_eq!(fs.as_user(BOB, BOB, |fs| fs.setattr(f, set)), Err(Errno::EPERM));
}

#[test]
fn utimens_rules_explicit_times_need_the_owner_now_needs_write_permission() {
    let (mut fs, shared, _) = setup();
    let f = fs.as_user(ALICE, ALICE, |fs| fs.file(shared, "f")).unwrap().ino;
    let at = Some(SetTime::At(t(5)));
    let now = Some(SetTime::Now);
    fs.as_user(BOB, BOB, |fs| {
        assert_eq!(fs.utimens(f, at, at), Err(Errno::EPERM));
        assert_eq!(fs.utimens(f, now, now), Err(Errno::EACCES), "0644: no write for bob");
    });
    fs.chmod(f, 0o666).unwrap();
    fs.as_user(BOB, BOB, |fs| {
        assert_eq!(fs.utimens(f, now, at), Err(Errno::EPERM));
        let a = fs.utimens(f, now, now).unwrap();
        assert_eq!((a.atime, a.mtime, a.ctime), (t(fs.now), t(fs.now), t(fs.now)));
    });
    fs.chmod(f, 0o400).unwrap();
    let a = fs.as_user(ALICE, ALICE, |fs| fs.utimens(f, at, Some(SetTime::At(t(7))))).unwrap();
    assert_eq!((a.atime, a.mtime, a.ctime), (t(5), t(7), t(fs.now)));
    let a = fs.utimens(f, None, Some(SetTime::At(t(9)))).unwrap();
    assert_eq!((a.atime, a.mtime), (t(5), t(9)), "root; atime untouched");
}

#[test]
fn open_checks_the_access_mode_and_o_trunc() {
    let (mut fs, shared, _) = setup();
    let f = fs.as_user(ALICE, ALICE, |fs| fs.file(shared, "f")).unwrap().ino;
    fs.as_user(BOB, BOB, |fs| {
        fs.open(f, O_RDONLY).unwrap();
        assert_eq!(fs.open(f, O_WRONLY), Err(Errno::EACCES));
        assert_eq!(fs.open(f, O_RDWR), Err(Errno::EACCES));
        assert_eq!(fs.open(f, O_RDONLY | O_TRUNC), Err(Errno::EACCES));
    });
    fs.chmod(f, 0o000).unwrap();
    assert_eq!(fs.as_user(ALICE, ALICE, |fs| fs.open(f, O_RDONLY)), Err(Errno::EACCES));
    fs.open(f, O_RDWR).unwrap();
    // Owner bits apply to the owner even when "other" would allow more.
    fs.chmod(f, 0o066).unwrap();
    assert_eq!(fs.as_user(ALICE, ALICE, |fs| fs.open(f, O_RDONLY)), Err(Errno::EACCES));
    assert!(fs.as_user(BOB, BOB, |fs| fs.open(f, O_RDWR)).is_ok());
}

#[test]
fn access_follows_owner_group_other_and_root_needs_some_x_bit() {
    let (mut fs, shared, _) = setup();
    let f = fs.as_user(ALICE, STAFF, |fs| fs.file(shared, "f")).unwrap().ino;
    fs.chmod(f, 0o640).unwrap();
    fs.as_user(ALICE, ALICE, |fs| {
        assert_eq!(fs.access(f, 6), Ok(()));
        assert_eq!(fs.access(f, 1), Err(Errno::EACCES));
    });
    fs.as_creds(Creds::new(BOB, BOB, vec![STAFF]), |fs| {
        assert_eq!(fs.access(f, 4), Ok(()));
        assert_eq!(fs.access(f, 2), Err(Errno::EACCES));
    });
    fs.as_user(BOB, BOB, |fs| {
        assert_eq!(fs.access(f, 4), Err(Errno::EACCES));
        assert_eq!(fs.access(f, 0), Ok(()), "F_OK");
    });
    assert_eq!(fs.access(f, 7), Err(Errno::EACCES), "root: no x bit at all");
    assert_eq!(fs.access(f, 6), Ok(()));
    fs.chmod(f, 0o001).unwrap();
    assert_eq!(fs.access(f, 7), Ok(()));
    assert_eq!(fs.access(shared, 1), Ok(()));
    assert_eq!(fs.access(f, 8), Err(Errno::EINVAL));
    assert_eq!(fs.access(999, 0), Err(Errno::ENOENT));
}

#[test]
fn files_in_a_setgid_directory_take_its_group_and_subdirectories_its_setgid_bit() {
    let mut fs = Fs::new();
    let d = fs.mkdir_mode(ROOT, "d", 0o2777).unwrap().ino;
    assert_eq!(fs.getattr(d).unwrap().perm, 0o777, "mkdir ignores sgid in its mode");
    fs.chmod(d, 0o2777).unwrap();
    fs.chown(d, None, Some(STAFF)).unwrap();
    let (f, sub, l) = fs.as_user(ALICE, ALICE, |fs| {
        (fs.file(d, "f").unwrap(), fs.mkdir(d, "sub").unwrap(), fs.symlink(d, "l", b"x").unwrap())
    });
    assert_eq!((f.gid, f.perm), (STAFF, 0o644));
    assert_eq!((sub.gid, sub.perm), (STAFF, 0o2755));
    assert_eq!((l.gid, l.perm), (STAFF, 0o777));
    let plain = fs.as_user(ALICE, ALICE, |fs| fs.file(ROOT, "x"));
    assert_eq!(plain, Err(Errno::EACCES), "root dir is 0755");
    let shared = fs.mkdir_mode(ROOT, "s", 0o777).unwrap().ino;
    let g = fs.as_user(ALICE, ALICE, |fs| fs.file(shared, "g")).unwrap();
    assert_eq!(g.gid, ALICE, "without setgid the creator's group");
}

#[test]
fn a_non_member_creating_a_group_executable_setgid_file_loses_sgid() {
    let mut fs = Fs::new();
    let d = fs.mkdir_mode(ROOT, "d", 0o2777).unwrap().ino;
    assert_eq!(fs.getattr(d).unwrap().perm, 0o777, "mkdir ignores sgid in its mode");
    fs.chmod(d, 0o2777).unwrap();
    fs.chown(d, None, Some(STAFF)).unwrap();
    let f = fs.as_user(ALICE, ALICE, |fs| fs.create_mode(d, "f", 0o2755)).unwrap();
    assert_eq!((f.gid, f.perm), (STAFF, 0o755));
    let member = Creds::new(ALICE, ALICE, vec![STAFF]);
    let g = fs.as_creds(member, |fs| fs.create_mode(d, "g", 0o2755)).unwrap();
    assert_eq!(g.perm, 0o2755);
}

#[test]
fn goal_and_trash_time_are_for_the_owner_and_root() {
    let (mut fs, shared, home) = setup();
    let f = fs.as_user(ALICE, ALICE, |fs| fs.file(home, "f")).unwrap().ino;
    let theirs = fs.as_user(BOB, BOB, |fs| fs.file(shared, "bob")).unwrap().ino;
    fs.as_user(BOB, BOB, |fs| {
        assert_eq!(fs.set_goal(f, 2, false), Err(Errno::EPERM));
        assert_eq!(fs.set_trash_time(home, 5, true), Err(Errno::EPERM));
    });
    // Recursive: inodes of other owners below are skipped.
    let mine = fs.as_user(ALICE, ALICE, |fs| fs.file(home, "g")).unwrap().ino;
    fs.chown(mine, Some(BOB), None).unwrap();
    assert_eq!(fs.as_user(ALICE, ALICE, |fs| fs.set_goal(home, 4, true)), Ok(2));
    assert_eq!(fs.getattr(mine).unwrap().goal, 1);
    assert_eq!(fs.getattr(f).unwrap().goal, 4);
    assert_eq!(fs.getattr(theirs).unwrap().goal, 1);
}
