//! Issue 4 (DESIGN.md guarantee 4 through the mount): programs working in a mount see a pause,
//! never an error, when the master leader is killed under them; every operation is applied once.

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
