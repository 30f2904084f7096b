//! Extra attributes (`mfsseteattr`) on real masters, chunkservers and mounts (issue 13): what
//! immutable, appendonly, undeletable and noowner refuse or allow at a mount, that the flags
//! survive a SIGKILL of the leader and reach a wiped master through a state snapshot, and that
//! `mfsrmsnapshot` removes a snapshot past the trash. (Loopback blocks 127.0.79.x and 127.0.83.x.)

use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::process::Command;
use std::time::Duration;

use raftmfs_tests::{run_tool, wait_for, Cluster, Mount};

const LIMIT: Duration = Duration::from_secs(30);

fn tool(m: &Mount, name: &str, flags: &[&str], paths: &[&str]) -> (bool, String) {
    let mut args: Vec<String> = flags.iter().map(|s| s.to_string()).collect();
    args.extend(paths.iter().map(|p| m.path(p).to_string_lossy().into_owned()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, out, err) = run_tool(name, &refs);
    (ok, format!("{out}{err}"))
}

fn eattr(m: &Mount, rel: &str) -> String {
    let (ok, out) = tool(m, "mfsgeteattr", &[], &[rel]);
    assert!(ok, "{out}");
    out.rsplit(": ").next().unwrap_or_default().trim().to_string()
}

/// The error kind of a failed filesystem call (a success is a test failure).
fn refused<T: std::fmt::Debug>(r: std::io::Result<T>, what: &str) -> ErrorKind {
    match r {
        Ok(v) => panic!("{what} should have been refused, got {v:?}"),
        Err(e) => e.kind(),
    }
}

/// What the flags do at a mount.
fn check_enforced(m: &Mount) {
    let append = std::fs::OpenOptions::new().append(true).open(m.path("frozen"));
    assert_eq!(refused(append, "a write open of an immutable file"), ErrorKind::PermissionDenied);
    assert_eq!(refused(std::fs::remove_file(m.path("frozen")), "unlink of immutable"), ErrorKind::PermissionDenied);
    assert_eq!(std::fs::read(m.path("frozen")).unwrap(), b"cold");
    assert_eq!(refused(std::fs::remove_dir(m.path("keep")), "rmdir of undeletable"), ErrorKind::PermissionDenied);
    // An appendonly file takes writes only at its end, whatever offset is asked.
    let before = std::fs::read(m.path("journal")).unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(m.path("journal")).unwrap();
    f.write_all_at(b"+tail", 0).unwrap();
    f.sync_all().unwrap();
    let mut want = before.clone();
    want.extend_from_slice(b"+tail");
    assert_eq!(std::fs::read(m.path("journal")).unwrap(), want, "written at the end, nothing overwritten");
    assert_eq!(refused(f.set_len(1), "truncate of appendonly"), ErrorKind::PermissionDenied);
}

#[test]
fn extra_attributes_are_enforced_and_survive_a_leader_kill_and_a_snapshot_install() {
    let mut c = Cluster::start(79, 3, "RAFT_SNAPSHOT_LOGS = 40\nRAFT_LOGS_KEEP = 10");
    c.add_chunkservers(79, 1, "");
    c.wait_chunkservers(1, LIMIT);
    let leader = c.wait_leader(LIMIT);
    let m = c.mount(&[]);
    std::fs::write(m.path("frozen"), b"cold").unwrap();
    std::fs::write(m.path("journal"), b"first line\n").unwrap();
    std::fs::create_dir(m.path("keep")).unwrap();
    std::fs::write(m.path("open"), b"for everyone").unwrap();
    for (flag, path) in
        [("immutable", "frozen"), ("appendonly", "journal"), ("undeletable", "keep"), ("noowner", "open")]
    {
        let (ok, out) = tool(&m, "mfsseteattr", &["-f", flag], &[path]);
        assert!(ok && out.ends_with("attribute(s) changed\n"), "{out}");
    }
    std::fs::set_permissions(m.path("open"), std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    check_enforced(&m);

    // noowner: another user reads a root-owned 0600 file as its owner (the mount is root's, so
    // it serves every user, as MooseFS's).
    let as_nobody =
        |cmd: &str| Command::new("su").args(["nobody", "-s", "/bin/sh", "-c", cmd]).output().expect("su nobody");
    let out = as_nobody(&format!("cat {}", m.path("open").display()));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, b"for everyone");
    let out = as_nobody(&format!("cat {}", m.path("frozen").display()));
    assert!(out.status.success(), "a 0644 file reads as usual");

    // Enough operations for a state snapshot and a compacted log, then the leader is killed
    // and another master, wiped, catches up from a snapshot.
    for i in 0..60 {
        std::fs::create_dir(m.path(&format!("d{i}"))).unwrap();
    }
    c.kill(leader);
    let victim = (leader + 1) % 3;
    c.kill(victim);
    c.wipe(victim);
    c.start_master(leader);
    c.wait_leader(LIMIT);
    for i in 60..120 {
        std::fs::create_dir(m.path(&format!("d{i}"))).unwrap();
    }
    c.start_master(victim);
    let ds = c.wait_converged(Duration::from_secs(60));
    assert!(ds.iter().all(|d| d.digest == ds[0].digest), "digests differ (the flags are in them): {ds:?}");
    let installed = wait_for(LIMIT, "the wiped master installs a snapshot", || {
        std::fs::read_to_string(c.masters[victim].log()).ok().filter(|l| l.contains("installed metadata snapshot"))
    });
    assert!(!installed.is_empty());

    // Every flag is still there, through whichever master leads now.
    let m2 = c.mount(&[]);
    for (path, flag) in
        [("frozen", "immutable"), ("journal", "appendonly"), ("keep", "undeletable"), ("open", "noowner")]
    {
        assert_eq!(eattr(&m2, path), flag, "{path}");
    }
    check_enforced(&m2);
    // The wiped master leads too, with the flags it got from the snapshot (it votes once its new
    // disk is recorded).
    c.wait_votes(victim, LIMIT);
    let now = c.wait_leader(LIMIT);
    if now != victim {
        c.kill(now);
        let again = c.wait_leader(LIMIT);
        c.start_master(now);
        if again == victim {
            check_enforced(&m2);
        }
    }
}

#[test]
fn rmsnapshot_removes_a_snapshot_past_the_trash_and_nothing_else() {
    let mut c = Cluster::start(83, 3, "");
    c.add_chunkservers(83, 1, "");
    c.wait_chunkservers(1, LIMIT);
    c.wait_leader(LIMIT);
    let m = c.mount(&[]);
    std::fs::create_dir_all(m.path("src/sub")).unwrap();
    std::fs::write(m.path("src/sub/a"), b"alpha").unwrap();
    std::fs::write(m.path("src/b"), b"beta").unwrap();
    let (ok, out) = tool(&m, "mfsmakesnapshot", &[], &["src", "copy"]);
    assert!(ok, "{out}");
    assert_eq!(eattr(&m, "copy/sub/a"), "snapshot");

    let (ok, out) = tool(&m, "mfsrmsnapshot", &[], &["src"]);
    assert!(!ok && out.contains("Operation not permitted"), "the original is no snapshot: {out}");
    std::fs::write(m.path("copy/b"), b"changed").unwrap();
    let (ok, out) = tool(&m, "mfsrmsnapshot", &[], &["copy"]);
    assert!(!ok, "a written copy is no longer all snapshot: {out}");
    let (ok, out) = tool(&m, "mfsrmsnapshot", &["-f"], &["copy"]);
    assert!(ok, "{out}");
    let left: Vec<String> = std::fs::read_dir(m.path("copy"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["b"], "-f removes what is still a snapshot");
    assert_eq!(std::fs::read(m.path("src/sub/a")).unwrap(), b"alpha", "the source is untouched");
    // Past the trash: the meta mount's trash holds nothing of it.
    let meta = c.mount(&["-m"]);
    let trashed = Command::new("find").arg(meta.path("trash")).arg("-name").arg("*sub|a").output().unwrap();
    assert!(trashed.stdout.is_empty(), "rmsnapshot used the trash: {}", String::from_utf8_lossy(&trashed.stdout));
}
