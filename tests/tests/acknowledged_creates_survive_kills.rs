//! Issue 12, durability: with proposals batched (many clients' creates in one log entry, one
//! fsync), every create a client was told succeeded is still there after masters are killed at
//! random moments of a create storm: the leader three times, a follower twice, each restarted
//! at once. Nothing appears that no client asked for, and the three masters end with the same
//! state digest.
//!
//! Eight client-library sessions create empty files as fast as they can, each in its own
//! folder, so the leader sees many proposals at once and batches them. A create that failed
//! (its deadline passed during a kill) may or may not have happened; one that succeeded must
//! exist.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use client::{ClientConfig, MasterClient};
use proto::meta::{Creds, Ino, ROOT_INODE};
use raftmfs_tests::{wait_for, Cluster};
use rand::{Rng, SeedableRng};

const WORKERS: u64 = 8;

/// What one worker was told.
struct Outcome {
    dir: Ino,
    acknowledged: BTreeSet<String>,
    /// Creates that failed: they may exist or not.
    unknown: BTreeSet<String>,
}

async fn worker(c: Arc<MasterClient>, w: u64, stop: Arc<AtomicBool>, done: Arc<AtomicU64>) -> Result<Outcome, String> {
    let cr = Creds::root();
    let dir = c.mkdir(&cr, ROOT_INODE, format!("w{w}").as_bytes(), 0o755).await.map_err(|e| format!("mkdir: {e}"))?;
    let mut out = Outcome { dir: dir.ino, acknowledged: BTreeSet::new(), unknown: BTreeSet::new() };
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let name = format!("f{i}");
        match c.create(&cr, dir.ino, name.as_bytes(), 0o644).await {
            Ok(_) => {
                out.acknowledged.insert(name);
            }
            Err(e) => {
                eprintln!("worker {w}: create {name} failed (may or may not exist): {e}");
                out.unknown.insert(name);
            }
        }
        done.fetch_add(1, Ordering::Relaxed);
        i += 1;
    }
    Ok(out)
}

#[test]
fn acknowledged_creates_survive_leader_and_follower_kills() {
    let mut cluster = Cluster::start(96, 3, "");
    cluster.wait_leader(Duration::from_secs(30));
    let rt = raftmfs_tests::runtime();
    let addrs = cluster.client_addrs();
    let (stop, done) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
    let mut handles = Vec::new();
    for w in 0..WORKERS {
        let mut cfg = ClientConfig::new(&addrs.iter().map(String::as_str).collect::<Vec<_>>());
        cfg.info = format!("create storm {w}");
        let c = Arc::new(rt.block_on(MasterClient::connect(cfg)).expect("connect"));
        handles.push(rt.spawn(worker(c, w, stop.clone(), done.clone())));
    }
    let seed: u64 = rand::thread_rng().gen();
    eprintln!("seed {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for (n, victim) in ["leader", "follower", "leader", "follower", "leader"].into_iter().enumerate() {
        // A random moment: after some more creates were acknowledged, then up to 300 ms more.
        let at = done.load(Ordering::Relaxed) + rng.gen_range(50..400);
        wait_for(Duration::from_secs(120), "creates to go on", || (done.load(Ordering::Relaxed) >= at).then_some(()));
        std::thread::sleep(Duration::from_millis(rng.gen_range(0..300)));
        let leader = cluster.wait_leader(Duration::from_secs(30));
        let i = if victim == "leader" { leader } else { (leader + 1 + rng.gen_range(0..2)) % 3 };
        eprintln!("kill {}: SIGKILL {victim} m{} after {} creates", n + 1, i + 1, done.load(Ordering::Relaxed));
        cluster.kill(i);
        if victim == "leader" {
            let next = cluster.wait_leader(Duration::from_secs(30));
            assert_ne!(next, i);
        }
        cluster.start_master(i);
    }
    let at = done.load(Ordering::Relaxed) + 200;
    wait_for(Duration::from_secs(120), "creates after the last kill", || {
        (done.load(Ordering::Relaxed) >= at).then_some(())
    });
    stop.store(true, Ordering::Relaxed);
    let outcomes: Vec<Outcome> =
        handles.into_iter().map(|h| rt.block_on(h).expect("worker task").unwrap_or_else(|e| panic!("{e}"))).collect();

    let mut cfg = ClientConfig::new(&addrs.iter().map(String::as_str).collect::<Vec<_>>());
    cfg.info = "verifier".into();
    let verifier = rt.block_on(MasterClient::connect(cfg)).expect("connect verifier");
    let (mut acknowledged, mut unknown) = (0, 0);
    for (w, o) in outcomes.iter().enumerate() {
        let entries = rt.block_on(verifier.readdir_all(&Creds::root(), o.dir)).expect("list");
        let listed: BTreeSet<String> = entries.iter().map(|e| String::from_utf8_lossy(&e.name).into_owned()).collect();
        assert_eq!(listed.len(), entries.len(), "worker {w}: a name listed twice");
        let lost: Vec<&String> = o.acknowledged.difference(&listed).collect();
        assert!(lost.is_empty(), "worker {w}: acknowledged creates lost: {lost:?}");
        let stray: Vec<&String> =
            listed.iter().filter(|n| !o.acknowledged.contains(*n) && !o.unknown.contains(*n)).collect();
        assert!(stray.is_empty(), "worker {w}: files nobody was told about: {stray:?}");
        acknowledged += o.acknowledged.len();
        unknown += o.unknown.len();
    }
    eprintln!("{acknowledged} acknowledged creates all present; {unknown} failed ones");
    assert!(acknowledged > 1000, "too few creates to mean anything: {acknowledged}");
    let ds = cluster.wait_converged(Duration::from_secs(60));
    assert_eq!(ds.len(), 3);
    assert!(ds.iter().all(|d| d.digest == ds[0].digest), "digests differ at the same index: {ds:?}");
}
