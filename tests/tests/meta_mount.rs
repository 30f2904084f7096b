//! The meta tree through a real `mfsmount -m` (issue 13): deleted files are listed in
//! `trash/XXX` under MooseFS's names, read as their paths, put back by a rename into `undel`
//! (missing folders made, a taken name refused), re-pathed by a write, purged by an unlink;
//! files deleted while open show in `sustained/` (and `reserved/`); `-o mfsflattrash` lists the
//! trash without subfolders; a restore made while the
//! leader is SIGKILLed pauses and completes. (Loopback blocks 127.0.71.x and 127.0.72.x.)

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use raftmfs_tests::{bin, wait_for, Cluster, Mount};

const LIMIT: Duration = Duration::from_secs(30);

/// `trash/XXX/NNNNNNNN|path|with|bars` of inode `ino` deleted from `path`.
fn entry(meta: &Mount, ino: u64, path: &str) -> PathBuf {
    meta.path(&format!("trash/{:03X}/{ino:08X}|{}", ino % 4096, path.replace('/', "|")))
}

fn undel_of(entry: &Path) -> PathBuf {
    let name = entry.file_name().expect("entry name");
    entry.parent().expect("subfolder").join("undel").join(name)
}

fn listed(dir: &Path) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    }
}

/// Wait until `entry` is listed in its folder (listings are read again about once a second).
fn wait_listed(entry: &Path) {
    let name = entry.file_name().expect("name").to_string_lossy().into_owned();
    let dir = entry.parent().expect("dir").to_path_buf();
    wait_for(LIMIT, &format!("{name} listed in {}", dir.display()), || listed(&dir).contains(&name).then_some(()));
}

fn ino_of(p: &Path) -> u64 {
    std::fs::metadata(p).unwrap_or_else(|e| panic!("stat {}: {e}", p.display())).ino()
}

#[test]
fn trash_restores_repaths_and_purges_through_the_meta_mount() {
    let mut c = Cluster::start(71, 3, "");
    c.add_chunkservers(71, 2, "");
    c.wait_leader(LIMIT);
    c.wait_chunkservers(2, LIMIT);
    let m = c.mount(&[]);
    let meta = c.mount(&["-m"]);

    // The layout: the root, the trash with its 4096 subfolders and undel, sustained.
    let mut top = listed(&meta.dir);
    top.sort();
    assert_eq!(top, ["sustained", "trash"]);
    let trash = listed(&meta.path("trash"));
    assert_eq!(trash.len(), 4097, "000..FFF and undel");
    assert!(trash.contains(&"ABC".to_string()) && trash.contains(&"undel".to_string()));
    let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o7777;
    assert_eq!((mode(&meta.path("trash")), mode(&meta.path("trash/000/undel"))), (0o700, 0o200));

    std::fs::create_dir_all(m.path("d1/d2")).unwrap();
    std::fs::write(m.path("d1/d2/f.txt"), "hello\n").unwrap();
    std::fs::write(m.path("top.txt"), "top\n").unwrap();
    let (f, t) = (ino_of(&m.path("d1/d2/f.txt")), ino_of(&m.path("top.txt")));
    std::fs::remove_file(m.path("d1/d2/f.txt")).unwrap();
    std::fs::remove_file(m.path("top.txt")).unwrap();

    // Listed under its number and path; reading it gives the path; its own attributes.
    let fe = entry(&meta, f, "d1/d2/f.txt");
    wait_listed(&fe);
    assert_eq!(std::fs::read_to_string(&fe).unwrap(), "d1/d2/f.txt\n");
    let md = std::fs::metadata(&fe).unwrap();
    assert_eq!((md.ino(), md.len(), md.nlink()), (f, 6, 0));

    // Put back by a rename into undel.
    std::fs::rename(&fe, undel_of(&fe)).unwrap();
    assert_eq!(std::fs::read_to_string(m.path("d1/d2/f.txt")).unwrap(), "hello\n");
    assert_eq!(ino_of(&m.path("d1/d2/f.txt")), f);

    // A taken name: EEXIST, and the file stays in the trash.
    std::fs::remove_file(m.path("d1/d2/f.txt")).unwrap();
    std::fs::write(m.path("d1/d2/f.txt"), "newer\n").unwrap();
    wait_listed(&fe);
    let err = std::fs::rename(&fe, undel_of(&fe)).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EEXIST), "{err}");
    assert_eq!(std::fs::read_to_string(m.path("d1/d2/f.txt")).unwrap(), "newer\n");

    // A new path written to it; then the flat layout: its name in trash/ itself, moved into
    // trash/undel. The folders on the way are made (root's, 0755).
    std::fs::write(&fe, "new/dir/g.txt\n").unwrap();
    assert_eq!(std::fs::read_to_string(&fe).unwrap(), "new/dir/g.txt\n");
    let flat = meta.path(&format!("trash/{f:08X}|new|dir|g.txt"));
    std::fs::rename(&flat, meta.path(&format!("trash/undel/{f:08X}|new|dir|g.txt"))).unwrap();
    assert_eq!(std::fs::read_to_string(m.path("new/dir/g.txt")).unwrap(), "hello\n");
    let made = std::fs::metadata(m.path("new/dir")).unwrap();
    assert_eq!((made.permissions().mode() & 0o7777, made.uid()), (0o755, 0));

    // Purged by an unlink: gone from the trash and from the masters.
    let te = entry(&meta, t, "top.txt");
    wait_listed(&te);
    std::fs::remove_file(&te).unwrap();
    let err = std::fs::metadata(&te).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOENT));

    // Deleted while open with no trash time: sustained (and reserved), until closed.
    std::fs::write(m.path("open.txt"), "held\n").unwrap();
    let ok = Command::new(bin("mfssettrashtime")).arg("0").arg(m.path("open.txt")).status().unwrap();
    assert!(ok.success());
    let o = ino_of(&m.path("open.txt"));
    let held = std::fs::File::open(m.path("open.txt")).unwrap();
    std::fs::remove_file(m.path("open.txt")).unwrap();
    let name = format!("{o:08X}|");
    for dir in ["sustained", "reserved"] {
        wait_for(LIMIT, &format!("{name} in {dir}"), || listed(&meta.path(dir)).contains(&name).then_some(()));
    }
    drop(held);
    wait_for(LIMIT, "the sustained file gone once closed", || {
        (!listed(&meta.path("sustained")).contains(&name)).then_some(())
    });

    // A restore while the leader is killed: a pause, then done.
    std::fs::write(m.path("late.txt"), "late\n").unwrap();
    let l = ino_of(&m.path("late.txt"));
    std::fs::remove_file(m.path("late.txt")).unwrap();
    let le = entry(&meta, l, "late.txt");
    wait_listed(&le);
    // `-o mfsflattrash`: the same files straight in trash/, no subfolders.
    let flat = c.mount(&["-m", "-o", "mfsflattrash"]);
    let names = listed(&flat.path("trash"));
    assert!(names.contains(&format!("{l:08X}|late.txt")) && names.contains(&"undel".to_string()), "{names:?}");
    assert!(!names.contains(&"000".to_string()), "{names:?}");
    drop(flat);
    let leader = c.wait_leader(LIMIT);
    c.kill(leader);
    std::fs::rename(&le, undel_of(&le)).unwrap();
    assert_eq!(std::fs::read_to_string(m.path("late.txt")).unwrap(), "late\n");
    c.start_master(leader);
    c.wait_converged(LIMIT);
}

#[test]
fn a_meta_mount_needs_an_export_rule_for_the_meta_tree() {
    let c = Cluster::start(72, 3, &format!("EXPORTS_FILENAME = {}", exports_without_meta().display()));
    c.wait_leader(LIMIT);
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin("mfsmount")).arg(dir.path()).args(["-f", "-m", "-H", &c.hosts_arg()]).output().unwrap();
    assert!(!out.status.success(), "a meta mount without a '.' rule must be refused");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("meta tree"), "{text}");
}

/// An exports file with the whole tree and no rule for `.` (the meta tree).
fn exports_without_meta() -> PathBuf {
    let p = std::env::temp_dir().join(format!("raftmfs-exports-nometa-{}.cfg", std::process::id()));
    std::fs::write(&p, "*  /  rw,alldirs,maproot=0:0\n").unwrap();
    p
}
