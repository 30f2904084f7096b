//! Issue 4 (DESIGN.md guarantee 4 through the mount): programs working in a mount see a pause,
//! never an error, when the master leader is killed under them; every operation is applied once.
//! (Loopback blocks 127.0.51.x and 127.0.56.x.)

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use raftmfs_tests::Cluster;

#[test]
fn leader_killed_during_namespace_and_data_ops_is_a_pause_not_an_error() {
    let mut c = Cluster::start(51, 3, "REPLICATIONS_DELAY_INIT = 0");
    c.add_chunkservers(51, 2, "");
    c.wait_leader(Duration::from_secs(30));
    c.wait_chunkservers(2, Duration::from_secs(30));
    let m = c.mount(&[]);
    let root = m.dir.clone();
    std::fs::create_dir(root.join("w")).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let longest = Arc::new(AtomicU64::new(0));
    let worker = {
        let (stop, done, longest, root) = (stop.clone(), done.clone(), longest.clone(), root.clone());
        std::thread::spawn(move || -> Result<(), String> {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let dir = root.join(format!("w/d{i}"));
                std::fs::create_dir(&dir).map_err(|e| format!("mkdir {i}: {e}"))?;
                let data = format!("file {i}\n").repeat(1000);
                std::fs::write(dir.join("f"), &data).map_err(|e| format!("write {i}: {e}"))?;
                std::fs::rename(dir.join("f"), dir.join("g")).map_err(|e| format!("rename {i}: {e}"))?;
                let back = std::fs::read_to_string(dir.join("g")).map_err(|e| format!("read {i}: {e}"))?;
                if back != data {
                    return Err(format!("file {i} read back differently"));
                }
                longest.fetch_max(t.elapsed().as_millis() as u64, Ordering::Relaxed);
                done.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
            Ok(())
        })
    };
    std::thread::sleep(Duration::from_secs(2));
    let leader = c.wait_leader(Duration::from_secs(10));
    let before = done.load(Ordering::Relaxed);
    c.kill(leader);
    // The work goes on: more iterations complete after the kill.
    let t = Instant::now();
    while done.load(Ordering::Relaxed) < before + 20 {
        assert!(t.elapsed() < Duration::from_secs(60), "no progress after the leader was killed:\n{}", m.log_tail(30));
        assert!(!worker.is_finished(), "the worker stopped");
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    let r = worker.join().expect("worker thread");
    assert!(r.is_ok(), "an operation failed across the leader change: {r:?}\n{}", m.log_tail(30));
    let n = done.load(Ordering::Relaxed);
    // Every iteration left exactly one folder with one file "g".
    let mut dirs = std::fs::read_dir(root.join("w")).unwrap().count() as u64;
    if dirs == n + 1 {
        dirs -= 1; // the iteration cut short by `stop` after its mkdir
    }
    assert_eq!(dirs, n);
    for i in 0..n {
        let d = root.join(format!("w/d{i}"));
        assert!(d.join("g").exists() && !d.join("f").exists(), "iteration {i}");
    }
    eprintln!("{n} iterations; longest {} ms", longest.load(Ordering::Relaxed));
}

/// Bytes a process has written so far (its `wchar` in /proc/PID/io), or 0 once it is gone.
fn bytes_written(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/io"))
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("wchar: ").and_then(|v| v.trim().parse().ok())))
        .unwrap_or(0)
}

/// Issue 4, acceptance 4: a loop creating files and a 500 MiB `dd` run while the leader is
/// SIGKILLed: neither sees an error, every created file exists afterwards, the SHA-256 matches.
#[test]
fn leader_killed_during_create_loop_and_500_mib_dd() {
    let mut c = Cluster::start(56, 3, "REPLICATIONS_DELAY_INIT = 0");
    c.add_chunkservers(56, 2, "");
    c.wait_leader(Duration::from_secs(30));
    c.wait_chunkservers(2, Duration::from_secs(30));
    let m = c.mount(&[]);
    let root = m.dir.clone();
    std::fs::create_dir(root.join("c")).unwrap();

    let local = tempfile::tempdir().unwrap();
    let src = local.path().join("src.bin");
    raftmfs_tests::sh(local.path(), &format!("head -c {} /dev/urandom > {}", 500u64 << 20, src.display()));
    let want = raftmfs_tests::sh(local.path(), "sha256sum src.bin | cut -d' ' -f1");

    // The create loop: each file is created, written and closed; each must succeed.
    let stop = Arc::new(AtomicBool::new(false));
    let created = Arc::new(AtomicU64::new(0));
    let longest = Arc::new(AtomicU64::new(0));
    let creator = {
        let (stop, created, longest, dir) = (stop.clone(), created.clone(), longest.clone(), root.join("c"));
        std::thread::spawn(move || -> Result<(), String> {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                std::fs::write(dir.join(format!("f{i}")), format!("created {i}\n"))
                    .map_err(|e| format!("create f{i}: {e}"))?;
                longest.fetch_max(t.elapsed().as_millis() as u64, Ordering::Relaxed);
                i += 1;
                created.store(i, Ordering::Relaxed);
            }
            Ok(())
        })
    };

    let mut dd = std::process::Command::new("dd")
        .arg(format!("if={}", src.display()))
        .arg(format!("of={}", root.join("big.bin").display()))
        .args(["bs=1M", "conv=fsync", "status=none"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Kill the leader once dd has pushed 150 MiB into the mount (and the loop is running).
    let t = Instant::now();
    while bytes_written(dd.id()) < 150 << 20 {
        assert!(t.elapsed() < Duration::from_secs(120), "dd made no progress:\n{}", m.log_tail(30));
        assert!(dd.try_wait().unwrap().is_none(), "dd ended before the kill");
        std::thread::sleep(Duration::from_millis(20));
    }
    let leader = c.wait_leader(Duration::from_secs(10));
    let created_before = created.load(Ordering::Relaxed);
    c.kill(leader);
    eprintln!("killed leader {leader} after {} MiB of dd and {created_before} creates", bytes_written(dd.id()) >> 20);

    let out = dd.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "dd failed across the leader kill: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        m.log_tail(30)
    );
    // The loop goes on after the kill.
    let t = Instant::now();
    while created.load(Ordering::Relaxed) < created_before + 50 {
        assert!(t.elapsed() < Duration::from_secs(60), "no creates after the kill:\n{}", m.log_tail(30));
        assert!(!creator.is_finished(), "the create loop stopped: {:?}", creator.join());
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    let r = creator.join().expect("create loop thread");
    assert!(r.is_ok(), "a create failed across the leader change: {r:?}\n{}", m.log_tail(30));
    c.start_master(leader);

    let n = created.load(Ordering::Relaxed);
    for i in 0..n {
        let got = std::fs::read_to_string(root.join(format!("c/f{i}"))).unwrap_or_else(|e| panic!("c/f{i}: {e}"));
        assert_eq!(got, format!("created {i}\n"));
    }
    assert_eq!(std::fs::read_dir(root.join("c")).unwrap().count() as u64, n);
    assert_eq!(std::fs::metadata(root.join("big.bin")).unwrap().len(), 500 << 20);
    // Read back through a fresh mount, so nothing comes from this mount's caches.
    let m2 = c.mount(&[]);
    assert_eq!(raftmfs_tests::sh(&m2.dir, "sha256sum big.bin | cut -d' ' -f1"), want);
    eprintln!("{n} files created; longest create {} ms", longest.load(Ordering::Relaxed));
}
