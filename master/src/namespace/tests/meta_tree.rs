//! The meta tree: listing the trash, undelete, purge, changing the restore path.

use super::*;

fn trash(fs: &Fs, sustained: bool) -> Vec<(Ino, Vec<u8>)> {
    match fs.read(ReadOp::TrashList { after: 0, max: 1000, sustained }) {
        Ok(Reply::Trash(items)) => items.into_iter().map(|i| (i.attr.ino, i.path)).collect(),
        other => panic!("trash list answered {other:?}"),
    }
}

/// A file `a/b/f` deleted into the trash; returns its inode.
fn deleted(fs: &mut Fs) -> Ino {
    let a = fs.mkdir(ROOT, "a").unwrap().ino;
    let b = fs.mkdir(a, "b").unwrap().ino;
    let f = fs.file(b, "f").unwrap().ino;
    fs.unlink(b, "f").unwrap();
    f
}

#[test]
fn deleted_files_are_listed_with_their_paths_and_restored_in_place() {
    let mut fs = Fs::new();
    let f = deleted(&mut fs);
    assert_eq!(trash(&fs, false), vec![(f, b"a/b/f".to_vec())]);
    assert_eq!(fs.write(WriteOp::Undelete { ino: f }), Ok(Reply::Done));
    let b = fs.lookup(fs.lookup(ROOT, "a").unwrap().ino, "b").unwrap().ino;
    let back = fs.lookup(b, "f").unwrap();
    assert_eq!((back.ino, back.nlink), (f, 1));
    assert!(trash(&fs, false).is_empty());
    assert_eq!(fs.write(WriteOp::Undelete { ino: f }), Err(Errno::ENOENT), "no longer in the trash");
    // Deleted again, it goes back to the trash as any file.
    fs.unlink(b, "f").unwrap();
    assert_eq!(trash(&fs, false), vec![(f, b"a/b/f".to_vec())]);
}

#[test]
fn undelete_makes_missing_folders_and_refuses_a_taken_name() {
    let mut fs = Fs::new();
    let f = deleted(&mut fs);
    let a = fs.lookup(ROOT, "a").unwrap().ino;
    let b = fs.lookup(a, "b").unwrap().ino;
    fs.file(b, "f").unwrap();
    assert_eq!(fs.write(WriteOp::Undelete { ino: f }), Err(Errno::EEXIST));
    // A new path through folders that do not exist: made, root's, 0755.
    fs.write(WriteOp::SetTrashPath { ino: f, path: b"/x//y/g/".to_vec() }).unwrap();
    assert_eq!(trash(&fs, false), vec![(f, b"x/y/g".to_vec())]);
    fs.as_user(1000, 1000, |fs| fs.write(WriteOp::Undelete { ino: f })).unwrap();
    let x = fs.lookup(ROOT, "x").unwrap();
    let y = fs.lookup(x.ino, "y").unwrap();
    assert_eq!((x.perm, x.uid, y.perm, y.uid, x.nlink), (0o755, 0, 0o755, 0, 3));
    assert_eq!(fs.lookup(y.ino, "g").unwrap().ino, f);
}

#[test]
fn undelete_through_a_file_is_enotdir_and_bad_paths_are_refused() {
    let mut fs = Fs::new();
    let f = deleted(&mut fs);
    fs.file(ROOT, "plain").unwrap();
    fs.write(WriteOp::SetTrashPath { ino: f, path: b"plain/f".to_vec() }).unwrap();
    assert_eq!(fs.write(WriteOp::Undelete { ino: f }), Err(Errno::ENOTDIR));
    for bad in [&b""[..], b"/", b"a/../f", b"./f"] {
        assert_eq!(fs.write(WriteOp::SetTrashPath { ino: f, path: bad.to_vec() }), Err(Errno::EINVAL), "{bad:?}");
    }
    let long = vec![b'n'; 300];
    assert_eq!(fs.write(WriteOp::SetTrashPath { ino: f, path: long }), Err(Errno::ENAMETOOLONG));
}

#[test]
fn purge_frees_at_once_or_sustains_an_open_file() {
    let mut fs = Fs::new();
    let f = deleted(&mut fs);
    fs.give_chunks(f, &[9]);
    assert_eq!(fs.write(WriteOp::Purge { ino: f }), Ok(Reply::Done));
    assert_eq!(fs.getattr(f), Err(Errno::ENOENT));
    assert!(fs.ns.chunks_to_delete().contains(&9));
    assert_eq!(fs.write(WriteOp::Purge { ino: f }), Err(Errno::ENOENT));

    let g = fs.file(ROOT, "g").unwrap().ino;
    fs.unlink(ROOT, "g").unwrap();
    assert!(fs.in_trash(g));
    fs.open(g, O_RDONLY).unwrap();
    fs.write(WriteOp::Purge { ino: g }).unwrap();
    assert!(fs.is_sustained(g) && !fs.in_trash(g));
    assert_eq!(trash(&fs, true).into_iter().map(|(i, _)| i).collect::<Vec<_>>(), vec![g]);
    fs.release(g).unwrap();
    assert!(trash(&fs, true).is_empty());
}

#[test]
fn trash_pages_follow_inode_order() {
    let mut fs = Fs::new();
    let inos: Vec<Ino> = (0..5)
        .map(|k| {
            let name = format!("f{k}");
            let ino = fs.file(ROOT, &name).unwrap().ino;
            fs.unlink(ROOT, &name).unwrap();
            ino
        })
        .collect();
    let page = |after, max| match fs.read(ReadOp::TrashList { after, max, sustained: false }) {
        Ok(Reply::Trash(items)) => items.into_iter().map(|i| i.attr.ino).collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    assert_eq!(page(0, 2), inos[..2]);
    assert_eq!(page(inos[1], 2), inos[2..4]);
    assert_eq!(page(inos[3], 10), inos[4..]);
    match fs.read(ReadOp::TrashItem { ino: inos[2] }) {
        Ok(Reply::Trash(items)) => assert_eq!(items[0].path, b"f2"),
        other => panic!("{other:?}"),
    }
    assert_eq!(fs.read(ReadOp::TrashItem { ino: ROOT }), Err(Errno::ENOENT));
}

fn paths(fs: &Fs, root: Ino, ino: Ino) -> Vec<String> {
    fs.ns.paths(root, ino).into_iter().map(|p| String::from_utf8(p).unwrap()).collect()
}

#[test]
fn paths_of_files_dirs_and_hard_links_below_a_root() {
    let mut fs = Fs::new();
    let a = fs.mkdir(ROOT, "a").unwrap().ino;
    let b = fs.mkdir(a, "b").unwrap().ino;
    let f = fs.file(b, "f").unwrap().ino;
    fs.link(f, a, "hl").unwrap();
    fs.link(f, b, "f2").unwrap();
    assert_eq!(paths(&fs, ROOT, f), ["a/b/f", "a/b/f2", "a/hl"]);
    assert_eq!(paths(&fs, ROOT, b), ["a/b"]);
    assert_eq!(paths(&fs, ROOT, ROOT), [""]);
    // Below a session root: relative to it, names outside it left out.
    assert_eq!(paths(&fs, b, f), ["f", "f2"]);
    assert_eq!(paths(&fs, b, a), Vec::<String>::new());
    // A file in the trash has no path; an unknown inode is ENOENT.
    let g = fs.file(ROOT, "g").unwrap().ino;
    fs.unlink(ROOT, "g").unwrap();
    assert_eq!(fs.read(ReadOp::Paths { ino: g }), Ok(Reply::Names(vec![])));
    assert_eq!(fs.read(ReadOp::Paths { ino: 9999 }), Err(Errno::ENOENT));
    // Renames move the paths.
    fs.rename(a, "b", ROOT, "moved").unwrap();
    assert_eq!(paths(&fs, ROOT, f), ["a/hl", "moved/f", "moved/f2"]);
}
