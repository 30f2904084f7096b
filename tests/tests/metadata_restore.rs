//! `mfsmetarestore`: a new master group made from a backup of one master's data folder.
//!
//! A cluster (small snapshot interval, so the backup holds a snapshot and log entries after it)
//! gets a tree of files; a follower is stopped, its data folder copied (the backup) and started
//! again; more is written. Then every master's disk is lost. `mfsmetarestore` writes the
//! backup's state into master 1's empty folder; all three start (2 and 3 empty) and form a new
//! group: the files of the backup read back byte for byte through a new mount, what was
//! written after the backup is not there, new files get chunks of their own (no id of an
//! unreferenced chunk left on the chunkservers is reused), and the three masters converge.
//! Also: a restore into a folder that holds a state is refused, and a running master's folder
//! can be read (`-n`) without disturbing it.
//!
//! One cluster on 127.0.99.x.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use raftmfs_tests::{bin, run_tool, Cluster};
use sha2::{Digest, Sha256};

const BLOCK: u8 = 99;
const LIMIT: Duration = Duration::from_secs(60);

/// Every entry under `root` (relative path → a sha256 of a file's bytes, "dir", or a symlink's
/// target); an error when any of it cannot be read.
fn tree(root: &Path) -> std::io::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for e in std::fs::read_dir(&dir)? {
            let e = e?;
            let p = e.path();
            let rel = p.strip_prefix(root).map_err(std::io::Error::other)?.display().to_string();
            let t = e.file_type()?;
            if t.is_dir() {
                out.insert(rel, "dir".into());
                todo.push(p);
            } else if t.is_symlink() {
                out.insert(rel, format!("-> {}", std::fs::read_link(&p)?.display()));
            } else {
                out.insert(rel, format!("{:x}", Sha256::digest(std::fs::read(&p)?)));
            }
        }
    }
    Ok(out)
}

fn restore(args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(bin("mfsmetarestore")).args(args).output().expect("run mfsmetarestore");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn copy_dir(from: &Path, to: &Path) {
    let st = std::process::Command::new("cp").arg("-a").arg(from).arg(to).status().expect("cp");
    assert!(st.success(), "cp -a {} {}", from.display(), to.display());
}

#[test]
fn a_new_group_starts_from_a_masters_backup() {
    assert_eq!(unsafe { libc::geteuid() }, 0, "mount tests run as root");
    let mut c = Cluster::with_chunkservers(BLOCK, "RAFT_SNAPSHOT_LOGS = 40\nRAFT_LOGS_KEEP = 10", "");
    c.wait_chunkservers(3, LIMIT);
    let m = c.mount(&[]);
    std::fs::create_dir_all(m.path("proj/src")).expect("mkdir");
    for i in 0..60u32 {
        let body: Vec<u8> = (0..(i * 7919 % 300_000)).map(|b| (b ^ i) as u8).collect();
        std::fs::write(m.path(&format!("proj/src/f{i}")), body).expect("write");
    }
    std::fs::write(m.path("proj/big"), vec![0x5au8; 3 << 20]).expect("write big");
    std::os::unix::fs::symlink("src/f1", m.path("proj/link")).expect("symlink");
    let big = m.path("proj/big");
    assert!(run_tool("mfssetgoal", &["2", big.to_str().expect("utf-8")]).0, "mfssetgoal");
    std::fs::remove_file(m.path("proj/src/f59")).expect("unlink f59 (to the trash)");
    let before = tree(&m.path("proj")).expect("read the tree");

    // The backup: a follower stopped, its folder copied, started again.
    let leader = c.wait_leader(LIMIT);
    c.wait_converged(LIMIT);
    let follower = (0..3).find(|&i| i != leader).expect("a follower");
    c.kill(follower);
    let work = tempfile::Builder::new().prefix("raftmfs-restore-").tempdir().expect("tempdir");
    let backup = work.path().join("backup");
    copy_dir(&c.masters[follower].data_dir(), &backup);
    c.start_master(follower);
    assert!(backup.join("snapshots").read_dir().expect("snapshots").next().is_some(), "the backup has a snapshot");

    // After the backup: a new file (chunks the restored metadata never allocated).
    std::fs::write(m.path("proj/after"), vec![1u8; 2 << 20]).expect("write after");
    c.wait_converged(LIMIT);

    // A running master's folder reads without harm.
    let live = c.masters[leader].data_dir();
    let (ok, out, err) =
        restore(&["-c", c.masters[leader].cfg.to_str().expect("utf-8"), "-n", live.to_str().expect("utf-8")]);
    assert!(ok, "mfsmetarestore -n of a live folder: {out} {err}");
    assert!(out.contains("the state at log index"), "{out}");

    // The chunk ids on the chunkservers now, `after`'s included.
    let highest_held = c.chunkservers.iter().flat_map(|cs| cs.chunk_files()).map(|(id, _, _)| id).max();
    let highest_held = highest_held.expect("the chunkservers hold chunks");

    // Disaster: every master's disk.
    drop(m);
    for i in 0..3 {
        c.kill(i);
        c.wipe(i);
    }
    let cfg1 = c.masters[0].cfg.to_str().expect("utf-8").to_string();
    let (ok, out, err) = restore(&["-c", &cfg1, backup.to_str().expect("utf-8")]);
    assert!(ok, "mfsmetarestore: {out} {err}");
    assert!(out.contains("log entries after it"), "a snapshot and the log after it: {out}");
    let (ok, _, err) = restore(&["-c", &cfg1, backup.to_str().expect("utf-8")]);
    assert!(!ok && err.contains("already holds"), "a second restore into the same folder: {err}");
    for i in 0..3 {
        c.start_master(i);
    }
    c.wait_leader(LIMIT);
    // The chunkservers are restarted, as the restore says: they refuse a leader of a lower Raft
    // term than they have seen, and the new group counts its terms from the start.
    for i in 0..3 {
        c.kill_chunkserver(i);
        c.start_chunkserver(i);
    }
    c.wait_chunkservers(3, LIMIT);

    let m = c.mount(&[]);
    // The chunkservers report again after the new group formed: wait until every file reads.
    let deadline = std::time::Instant::now() + LIMIT;
    let restored = loop {
        match tree(&m.path("proj")) {
            Ok(t) if t.keys().eq(before.keys()) => break t,
            other => {
                assert!(std::time::Instant::now() < deadline, "the backup's files not readable: {other:?}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    };
    assert_eq!(restored, before, "the restored tree");
    assert!(!m.path("proj/after").exists(), "what was written after the backup is not in it");
    let (ok, out, _) = run_tool("mfsgetgoal", &[m.path("proj/big").to_str().expect("utf-8")]);
    assert!(ok && out.contains(": 2"), "goals restored: {out}");

    // New chunks do not take the ids of the unreferenced chunks of `after`.
    let fresh: Vec<u8> = (0..(4u32 << 20)).map(|b| (b % 251) as u8).collect();
    std::fs::write(m.path("proj/fresh"), &fresh).expect("write fresh");
    assert_eq!(std::fs::read(m.path("proj/fresh")).expect("read fresh"), fresh);
    let (ok, info, err) = run_tool("mfsfileinfo", &[m.path("proj/fresh").to_str().expect("utf-8")]);
    assert!(ok, "mfsfileinfo: {err}");
    let ids: Vec<u64> = info
        .split("(id:")
        .skip(1)
        .map(|t| t.split_whitespace().next().and_then(|n| n.parse().ok()).expect("a chunk id"))
        .collect();
    assert!(!ids.is_empty(), "fresh has chunks: {info}");
    assert!(ids.iter().all(|&id| id > highest_held), "fresh's chunks {ids:?} above every id held ({highest_held})");
    let ds = c.wait_converged(LIMIT);
    assert!(ds.windows(2).all(|w| w[0].digest == w[1].digest), "the three masters agree: {ds:?}");
}
