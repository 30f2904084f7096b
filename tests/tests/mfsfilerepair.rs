//! `mfsfilerepair` on real chunkservers (issue 13): a file whose only valid copy is gone is made
//! readable again from an older copy that is still there ("repaired"), and a chunk with no copy
//! at all becomes zeros ("erased"), the size kept. (Loopback block 127.0.73.x.)

use std::process::Command;
use std::time::Duration;

use raftmfs_tests::{bin, wait_for, Cluster};

const LIMIT: Duration = Duration::from_secs(30);

fn tool(args: &[&str]) -> (bool, String) {
    let out = Command::new(bin("mfsfilerepair")).args(args).output().expect("run mfsfilerepair");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn repair_revives_an_older_copy_or_erases_a_lost_chunk() {
    let mut c = Cluster::start(73, 3, "REPLICATIONS_DELAY_INIT = 0");
    c.add_chunkservers(73, 2, "");
    c.wait_leader(LIMIT);
    c.wait_chunkservers(2, LIMIT);
    let m = c.mount(&[]);
    let f = m.path("f");
    let fs = f.to_str().unwrap();

    // Version 1 of the data on both chunkservers.
    std::fs::write(&f, vec![b'a'; 100_000]).unwrap();
    let ok = Command::new(bin("mfssetgoal")).args(["2", fs]).status().unwrap();
    assert!(ok.success());
    wait_for(LIMIT, "two copies", || {
        (c.chunkservers.iter().filter(|cs| !cs.chunk_files().is_empty()).count() == 2).then_some(())
    });
    let (ok, out) = tool(&[fs]);
    assert!(ok, "{out}");
    assert!(out.contains(" chunks not changed:          1\n"), "a healthy file is left alone: {out}");

    // Chunkserver 2 stops; the file is written again (a new version on chunkserver 1 only);
    // then chunkserver 1 goes and 2 comes back with its older copy: no valid copy is left.
    c.kill_chunkserver(1);
    {
        // In place (no truncation, which would give the file a new chunk): a version bump.
        use std::os::unix::fs::FileExt;
        let w = std::fs::OpenOptions::new().write(true).open(&f).unwrap();
        w.write_all_at(&vec![b'b'; 100_000], 0).unwrap();
        w.sync_all().unwrap();
    }
    c.kill_chunkserver(0);
    c.start_chunkserver(1);
    c.wait_chunkservers(1, LIMIT);
    let (ok, out) = tool(&[fs]);
    assert!(ok, "{out}");
    assert_eq!(
        out,
        format!("{fs}:\n chunks not changed:          0\n chunks erased:               0\n chunks repaired:             1\n")
    );
    // Read through a new mount (the first one may hold the newer data in its cache).
    let fresh = c.mount(&[]);
    let back = std::fs::read(fresh.path("f")).unwrap();
    assert!(back.len() == 100_000 && back.iter().all(|&b| b == b'a'), "the older data is readable again");

    // Chunkserver 2 goes too: no copy at all. The chunk becomes zeros, the size stays.
    c.kill_chunkserver(1);
    let (ok, out) = tool(&[fs]);
    assert!(ok, "{out}");
    assert!(out.contains(" chunks erased:               1\n"), "{out}");
    let fresh2 = c.mount(&[]);
    let back = std::fs::read(fresh2.path("f")).unwrap();
    assert!(back.len() == 100_000 && back.iter().all(|&b| b == 0), "zeros where the lost chunk was");

    // A folder: refused as MooseFS does.
    let (ok, out) = tool(&[m.dir.to_str().unwrap()]);
    assert!(!ok);
    assert!(out.contains("EPERM") || out.contains("not permitted"), "{out}");
}
