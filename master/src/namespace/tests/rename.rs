//! rename, with RENAME_NOREPLACE and RENAME_EXCHANGE.

use super::*;

const NOREPLACE: RenameFlags = RenameFlags { noreplace: true, exchange: false };
const EXCHANGE: RenameFlags = RenameFlags { noreplace: false, exchange: true };

#[test]
fn rename_in_one_directory_moves_the_name_and_updates_times() {
    let mut fs = Fs::new();
    let f = fs.file(ROOT, "a").unwrap().ino;
    fs.rename(ROOT, "a", ROOT, "b").unwrap();
    let now = t(fs.now);
    assert_eq!(fs.lookup(ROOT, "a"), Err(Errno::ENOENT));
    assert_eq!(fs.lookup(ROOT, "b").unwrap().ino, f);
    assert_eq!(fs.getattr(f).unwrap().ctime, now);
    let root = fs.getattr(ROOT).unwrap();
    assert_eq!((root.mtime, root.ctime), (now, now));
    assert_eq!(fs.names(ROOT), ["b"]);
}

#[test]
fn rename_across_directories_updates_both_parents() {
    let mut fs = Fs::new();
    let a = fs.mkdir(ROOT, "a").unwrap().ino;
    let b = fs.mkdir(ROOT, "b").unwrap().ino;
    let f = fs.file(a, "f").unwrap().ino;
    fs.rename(a, "f", b, "g").unwrap();
    let now = t(fs.now);
    assert_eq!(fs.lookup(b, "g").unwrap().ino, f);
    assert!(fs.names(a).is_empty());
    for d in [a, b] {
        let attr = fs.getattr(d).unwrap();
        assert_eq!((attr.mtime, attr.ctime, attr.nlink), (now, now, 2));
    }
}

#[test]
fn moving_a_directory_fixes_dotdot_and_the_link_counts_of_both_parents() {
    let mut fs = Fs::new();
    let a = fs.mkdir(ROOT, "a").unwrap().ino;
    let b = fs.mkdir(ROOT, "b").unwrap().ino;
    let d = fs.mkdir(a, "d").unwrap().ino;
    assert_eq!(fs.getattr(a).unwrap().nlink, 3);
    fs.rename(a, "d", b, "d2").unwrap();
    assert_eq!(fs.getattr(a).unwrap().nlink, 2);
    assert_eq!(fs.getattr(b).unwrap().nlink, 3);
    assert_eq!(fs.getattr(ROOT).unwrap().nlink, 4);
    assert_eq!(fs.lookup(d, "..").unwrap().ino, b);
    assert_eq!(fs.getattr(d).unwrap().nlink, 2);
    // A rename within one directory leaves link counts alone.
    fs.rename(b, "d2", b, "d3").unwrap();
    assert_eq!(fs.getattr(b).unwrap().nlink, 3);
    assert_eq!(fs.lookup(d, "..").unwrap().ino, b);
}

#[test]
fn rename_over_an_existing_file_replaces_it() {
    let mut fs = Fs::without_trash();
    let a = fs.file(ROOT, "a").unwrap().ino;
    let b = fs.file(ROOT, "b").unwrap().ino;
    fs.give_chunks(b, &[7]);
    fs.rename(ROOT, "a", ROOT, "b").unwrap();
    assert_eq!(fs.lookup(ROOT, "b").unwrap().ino, a);
    assert_eq!(fs.getattr(b), Err(Errno::ENOENT), "the replaced file is freed");
    assert!(fs.ns.chunks_to_delete().contains(&7));
    assert_eq!(fs.names(ROOT), ["b"]);
}

#[test]
fn rename_over_a_file_sends_the_replaced_file_to_the_trash() {
    let mut fs = Fs::new();
    let d = fs.mkdir(ROOT, "d").unwrap().ino;
    fs.file(d, "a").unwrap();
    let b = fs.file(d, "b").unwrap().ino;
    fs.rename(d, "a", d, "b").unwrap();
    assert!(fs.in_trash(b));
    assert_eq!(fs.ns.trash[&b].path, b"d/b");
    assert_eq!(fs.getattr(b).unwrap().nlink, 0);
}

#[test]
fn rename_over_a_hard_linked_file_keeps_its_other_name() {
    let mut fs = Fs::new();
    fs.file(ROOT, "a").unwrap();
    let b = fs.file(ROOT, "b").unwrap().ino;
    fs.link(b, ROOT, "c").unwrap();
    fs.rename(ROOT, "a", ROOT, "b").unwrap();
    let battr = fs.getattr(b).unwrap();
    assert_eq!((battr.nlink, battr.ctime), (1, t(fs.now)));
    assert_eq!(fs.lookup(ROOT, "c").unwrap().ino, b);
}

#[test]
fn rename_of_a_directory_over_an_empty_directory_replaces_it() {
    let mut fs = Fs::new();
    let a = fs.mkdir(ROOT, "a").unwrap().ino;
    let p = fs.mkdir(ROOT, "p").unwrap().ino;
    let d = fs.mkdir(a, "d").unwrap().ino;
    let e = fs.mkdir(p, "e").unwrap().ino;
    fs.rename(a, "d", p, "e").unwrap();
    assert_eq!(fs.lookup(p, "e").unwrap().ino, d);
    assert_eq!(fs.getattr(e), Err(Errno::ENOENT));
    assert_eq!(fs.getattr(a).unwrap().nlink, 2);
    assert_eq!(fs.getattr(p).unwrap().nlink, 3, "one subdirectory replaced another");
    // Same parent: the count drops by the replaced directory.
    fs.mkdir(p, "f").unwrap();
    assert_eq!(fs.getattr(p).unwrap().nlink, 4);
    fs.rename(p, "e", p, "f").unwrap();
    assert_eq!(fs.getattr(p).unwrap().nlink, 3);
    assert_eq!(fs.names(p), ["f"]);
}

#[test]
fn rename_kind_mismatches_and_non_empty_targets_fail() {
    let mut fs = Fs::new();
    fs.mkdir(ROOT, "d").unwrap();
    let full = fs.mkdir(ROOT, "full").unwrap().ino;
    fs.file(full, "x").unwrap();
    fs.file(ROOT, "f").unwrap();
    assert_eq!(fs.rename(ROOT, "d", ROOT, "f"), Err(Errno::ENOTDIR));
    assert_eq!(fs.rename(ROOT, "f", ROOT, "d"), Err(Errno::EISDIR));
    assert_eq!(fs.rename(ROOT, "d", ROOT, "full"), Err(Errno::ENOTEMPTY));
}

#[test]
fn rename_of_a_directory_into_its_own_subtree_is_einval() {
    let mut fs = Fs::new();
    let a = fs.mkdir(ROOT, "a").unwrap().ino;
    let b = fs.mkdir(a, "b").unwrap().ino;
    let c = fs.mkdir(b, "c").unwrap().ino;
    assert_eq!(fs.rename(ROOT, "a", c, "a"), Err(Errno::EINVAL));
    assert_eq!(fs.rename(ROOT, "a", a, "a"), Err(Errno::EINVAL));
    assert_eq!(fs.rename(a, "b", c, "x"), Err(Errno::EINVAL));
    // Moving a directory up over its own (non-empty) ancestor is ENOTEMPTY.
    assert_eq!(fs.rename(b, "c", ROOT, "a"), Err(Errno::ENOTEMPTY));
}

#[test]
fn rename_to_another_name_of_the_same_inode_is_a_no_op() {
    let mut fs = Fs::new();
    let f = fs.file(ROOT, "a").unwrap().ino;
    fs.link(f, ROOT, "b").unwrap();
    let before = fs.ns.clone();
    fs.rename(ROOT, "a", ROOT, "b").unwrap();
    assert!(fs.ns == before, "nothing changes");
    fs.rename(ROOT, "a", ROOT, "a").unwrap();
    assert!(fs.ns == before);
    assert_eq!(fs.getattr(f).unwrap().nlink, 2);
}

#[test]
fn rename_errors() {
    let mut fs = Fs::new();
    let f = fs.file(ROOT, "f").unwrap().ino;
    assert_eq!(fs.rename(ROOT, "missing", ROOT, "x"), Err(Errno::ENOENT));
    assert_eq!(fs.rename(999, "f", ROOT, "x"), Err(Errno::ENOENT));
    assert_eq!(fs.rename(ROOT, "f", 999, "x"), Err(Errno::ENOENT));
    assert_eq!(fs.rename(ROOT, "f", f, "x"), Err(Errno::ENOTDIR));
    assert_eq!(fs.rename(ROOT, ".", ROOT, "x"), Err(Errno::EINVAL));
    assert_eq!(fs.rename(ROOT, "f", ROOT, ".."), Err(Errno::EINVAL));
    let long = "x".repeat(256);
    assert_eq!(fs.rename(ROOT, "f", ROOT, &long), Err(Errno::ENAMETOOLONG));
    let both = RenameFlags { noreplace: true, exchange: true };
    assert_eq!(fs.rename_flags(ROOT, "f", ROOT, "x", both), Err(Errno::EINVAL));
}

#[test]
fn rename_noreplace_refuses_an_existing_target() {
    let mut fs = Fs::new();
    fs.file(ROOT, "a").unwrap();
    fs.file(ROOT, "b").unwrap();
    assert_eq!(fs.rename_flags(ROOT, "a", ROOT, "b", NOREPLACE), Err(Errno::EEXIST));
    fs.rename_flags(ROOT, "a", ROOT, "c", NOREPLACE).unwrap();
    assert_eq!(fs.names(ROOT), ["b", "c"]);
}

#[test]
fn rename_exchange_swaps_two_files() {
    let mut fs = Fs::new();
    let d = fs.mkdir(ROOT, "d").unwrap().ino;
    let a = fs.file(ROOT, "a").unwrap().ino;
    let b = fs.file(d, "b").unwrap().ino;
    fs.rename_flags(ROOT, "a", d, "b", EXCHANGE).unwrap();
    let now = t(fs.now);
    assert_eq!(fs.lookup(ROOT, "a").unwrap().ino, b);
    assert_eq!(fs.lookup(d, "b").unwrap().ino, a);
    assert_eq!(fs.getattr(a).unwrap().ctime, now);
    assert_eq!(fs.getattr(b).unwrap().ctime, now);
    assert_eq!(fs.getattr(d).unwrap().mtime, now);
    assert_eq!(fs.getattr(ROOT).unwrap().mtime, now);
    assert_eq!(fs.getattr(a).unwrap().nlink, 1);
}

#[test]
fn rename_exchange_of_a_file_and_a_directory_fixes_link_counts_and_dotdot() {
    let mut fs = Fs::new();
    let p = fs.mkdir(ROOT, "p").unwrap().ino;
    let q = fs.mkdir(ROOT, "q").unwrap().ino;
    let dir = fs.mkdir(p, "dir").unwrap().ino;
    let file = fs.file(q, "file").unwrap().ino;
    fs.rename_flags(p, "dir", q, "file", EXCHANGE).unwrap();
    assert_eq!(fs.lookup(p, "dir").unwrap().ino, file);
    assert_eq!(fs.lookup(q, "file").unwrap().ino, dir);
    assert_eq!(fs.getattr(p).unwrap().nlink, 2);
    assert_eq!(fs.getattr(q).unwrap().nlink, 3);
    assert_eq!(fs.lookup(dir, "..").unwrap().ino, q);
}

#[test]
fn rename_exchange_of_two_directories_swaps_their_parents() {
    let mut fs = Fs::new();
    let p = fs.mkdir(ROOT, "p").unwrap().ino;
    let q = fs.mkdir(ROOT, "q").unwrap().ino;
    let x = fs.mkdir(p, "x").unwrap().ino;
    let y = fs.mkdir(q, "y").unwrap().ino;
    fs.file(y, "keep").unwrap();
    fs.rename_flags(p, "x", q, "y", EXCHANGE).unwrap();
    assert_eq!(fs.lookup(x, "..").unwrap().ino, q);
    assert_eq!(fs.lookup(y, "..").unwrap().ino, p);
    assert_eq!(fs.getattr(p).unwrap().nlink, 3);
    assert_eq!(fs.getattr(q).unwrap().nlink, 3);
    assert_eq!(fs.names(fs.ino(p, "x")), ["keep"], "a non-empty directory can be exchanged");
}

#[test]
fn rename_exchange_needs_both_names_and_refuses_subtree_cycles() {
    let mut fs = Fs::new();
    let a = fs.mkdir(ROOT, "a").unwrap().ino;
    fs.mkdir(a, "b").unwrap();
    fs.file(ROOT, "f").unwrap();
    assert_eq!(fs.rename_flags(ROOT, "f", ROOT, "missing", EXCHANGE), Err(Errno::ENOENT));
    assert_eq!(fs.rename_flags(ROOT, "a", a, "b", EXCHANGE), Err(Errno::EINVAL));
    assert_eq!(fs.rename_flags(a, "b", ROOT, "a", EXCHANGE), Err(Errno::EINVAL));
}

#[test]
fn a_renamed_directory_gives_the_right_trash_path() {
    let mut fs = Fs::new();
    let a = fs.mkdir(ROOT, "a").unwrap().ino;
    let b = fs.mkdir(a, "b").unwrap().ino;
    let f = fs.file(b, "f").unwrap().ino;
    fs.rename(a, "b", ROOT, "moved").unwrap();
    fs.unlink(b, "f").unwrap();
    assert_eq!(fs.ns.trash[&f].path, b"moved/f");
}
