//! `mfsmetadump` beside running masters (issue 13): the newest snapshot of a master's data
//! folder as text, one escaped record per line, without session secrets. (Loopback 127.0.74.x.)

use std::process::Command;
use std::time::Duration;

use raftmfs_tests::{bin, wait_for, Cluster};

#[test]
fn a_running_masters_snapshot_dumps_as_text() {
    let c = Cluster::start(74, 3, "RAFT_SNAPSHOT_LOGS = 20");
    c.wait_leader(Duration::from_secs(30));
    let m = c.mount(&[]);
    std::os::unix::fs::symlink("some/target", m.path("link")).unwrap();
    std::fs::create_dir(m.path("dir")).unwrap();
    for i in 0..30 {
        std::fs::write(m.path(&format!("dir/file {i}|x")), b"").unwrap();
    }
    // More entries, so that snapshots (every 20) come after all of the above.
    std::fs::create_dir(m.path("pad")).unwrap();
    for i in 0..50 {
        std::fs::write(m.path(&format!("pad/{i}")), b"").unwrap();
    }
    let dump = |i: usize| {
        let out = Command::new(bin("mfsmetadump")).arg("-c").arg(&c.masters[i].cfg).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // Each master snapshots on its own; wait until one has everything made above.
    let text = wait_for(Duration::from_secs(30), "a snapshot holding the files", || {
        let (ok, text, _) = dump(0);
        (ok && text.contains("|target:some/target") && text.contains("|n:file%2029%7Cx\n")).then_some(text)
    });
    assert!(text.starts_with("# snapshot "), "{}", &text[..200.min(text.len())]);
    assert!(text.contains("# RaftMFS metadata dump: the state after log index "));
    assert!(text.contains("|n:file%2029%7Cx\n"), "names escaped, one record per line");
    assert!(text.lines().filter(|l| l.starts_with("N|")).count() >= 33, "root, dir, 30 files, the link");
    assert!(text.lines().any(|l| l.starts_with("P|s:") && l.contains("info:mfsmount")), "the mount's session");
    // Never the secret: no field of a session record carries it.
    for l in text.lines().filter(|l| l.starts_with("P|")) {
        assert!(!l.contains("secret"), "{l}");
    }
    // A folder with no snapshots: a clear error, no output.
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(bin("mfsmetadump")).arg(empty.path()).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("mfsmetadump: "), "{out:?}");
}
