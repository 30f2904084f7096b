//! Issue 11: two of three masters down. A write through the mount fails with a clear
//! "no quorum" (ETIMEDOUT, and the reason in the mount's log) once the mount's deadline
//! (`mfsoptimeout`) has passed; nothing acknowledged before is lost; and the same mount works
//! again by itself when one master comes back.

use std::io::Write;
use std::time::{Duration, Instant};

use raftmfs_tests::{wait_for, Cluster};

fn write_file(path: &std::path::Path, data: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(path)?;
    f.write_all(data)?;
    f.sync_all()
}

#[test]
fn a_mount_rides_out_a_lost_quorum() {
    let mut c = Cluster::with_chunkservers(95, "COMMIT_TIMEOUT_MS = 1000", "");
    let m = c.mount(&["-o", "mfsoptimeout=5"]);
    for i in 0..20 {
        write_file(&m.path(&format!("f{i}")), format!("acked {i}").as_bytes()).expect("write before the loss");
    }
    let leader = c.wait_leader(Duration::from_secs(10));
    let down: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    for &i in &down {
        c.kill(i);
    }
    let t = Instant::now();
    let lost = write_file(&m.path("during"), b"never acknowledged");
    let waited = t.elapsed();
    let err = lost.expect_err("a write without a quorum must fail, not hang or succeed");
    eprintln!("without a quorum: {err} after {waited:?}");
    assert_eq!(err.raw_os_error(), Some(libc::ETIMEDOUT), "{err}");
    assert!(m.log_tail(200).contains("no quorum"), "the mount's log says why:\n{}", m.log_tail(40));

    // One master back: the same mount works again, by itself.
    c.start_master(down[0]);
    c.wait_leader(Duration::from_secs(60));
    wait_for(Duration::from_secs(60), "a write through the same mount", || {
        let _ = std::fs::remove_file(m.path("after"));
        write_file(&m.path("after"), b"after").ok()
    });
    for i in 0..20 {
        assert_eq!(std::fs::read(m.path(&format!("f{i}"))).unwrap(), format!("acked {i}").into_bytes());
    }
    assert_eq!(std::fs::read(m.path("after")).unwrap(), b"after");
}
