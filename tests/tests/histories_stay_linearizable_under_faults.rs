//! Issue 11: concurrent clients on two mounts (registers and shared folders, see
//! `raftmfs_tests::histories`), every call recorded, while faults of every kind are injected
//! one after another into a cluster whose hosts are network namespaces: the leader killed,
//! frozen, dropped off the network and cut off from its followers; a follower frozen and cut
//! off; a chunkserver frozen. Each fault lasts a few seconds. Afterwards the histories must
//! be linearizable (`lincheck`), no call may have failed, and a last read of every register and
//! folder from a new mount is part of the history (so an acknowledged write that was lost
//! shows as a violation).
//!
//! CI runs one fault of each kind. The long run (its numbers in BENCHMARKS.md) sets the count:
//! `RAFTMFS_FAULTS=120 cargo test --release --workspace --test histories_stay_linearizable_under_faults -- --nocapture`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use proto::client::WriteOp;
use proto::meta::{Creds, ROOT_INODE};
use raftmfs_tests::histories::{Workload, FOLDERS, KEYS, NO_CACHE};
use raftmfs_tests::netns::{freeze, thaw, Lab};
use raftmfs_tests::{wait_for, Cluster};

/// How long each fault lasts.
const HOLD: Duration = Duration::from_secs(3);

#[derive(Clone, Copy, Debug)]
enum Fault {
    KillLeader,
    FreezeLeader,
    IsolateLeader,
    CutLeaderFromFollowers,
    FreezeFollower,
    IsolateFollower,
    FreezeChunkserver,
}

const KINDS: [Fault; 7] = [
    Fault::KillLeader,
    Fault::FreezeLeader,
    Fault::IsolateLeader,
    Fault::CutLeaderFromFollowers,
    Fault::FreezeFollower,
    Fault::IsolateFollower,
    Fault::FreezeChunkserver,
];

fn inject(c: &mut Cluster, lab: &Lab, fault: Fault, k: usize) {
    let leader = c.wait_leader(Duration::from_secs(30));
    let follower = (0..3).filter(|&i| i != leader).nth(k % 2).expect("a follower");
    match fault {
        Fault::KillLeader => {
            c.kill(leader);
            std::thread::sleep(HOLD);
            c.start_master(leader);
        }
        Fault::FreezeLeader | Fault::FreezeFollower => {
            let i = if matches!(fault, Fault::FreezeLeader) { leader } else { follower };
            let pid = c.masters[i].pid().expect("pid");
            freeze(pid);
            std::thread::sleep(HOLD);
            thaw(pid);
        }
        Fault::IsolateLeader | Fault::IsolateFollower => {
            let i = if matches!(fault, Fault::IsolateLeader) { leader } else { follower };
            let host = c.masters[i].host.clone().expect("lab host");
            lab.isolate(&host);
            std::thread::sleep(HOLD);
            lab.heal(&host);
        }
        Fault::CutLeaderFromFollowers => {
            let host = c.masters[leader].host.clone().expect("lab host");
            for (i, m) in c.masters.iter().enumerate() {
                if i != leader {
                    lab.cut(&host, m.host.as_ref().expect("lab host"));
                }
            }
            std::thread::sleep(HOLD);
            lab.heal_all();
        }
        Fault::FreezeChunkserver => {
            let pid = c.chunkservers[k % c.chunkservers.len()].pid().expect("pid");
            freeze(pid);
            std::thread::sleep(HOLD);
            thaw(pid);
        }
    }
}

#[test]
fn histories_stay_linearizable_under_faults() {
    let faults: usize = std::env::var("RAFTMFS_FAULTS").ok().and_then(|v| v.parse().ok()).unwrap_or(KINDS.len());
    let mut lab = Lab::new(94);
    let mut c = Cluster::in_lab(&mut lab, "", "");
    {
        // Goal 2: a frozen chunkserver leaves a readable copy of every file.
        let rt = raftmfs_tests::runtime();
        let io = c.file_io(&rt);
        let set = WriteOp::SetGoal { ino: ROOT_INODE, goal: 2, recursive: false };
        rt.block_on(io.meta.write(&Creds::root(), set)).expect("goal 2");
    }
    let hosts = [lab.add_host(), lab.add_host()];
    let opts = ["-o", NO_CACHE, "-o", "mfsoptimeout=120"];
    let mounts: Vec<_> = hosts.iter().map(|h| c.mount_on(Some(h), &opts)).collect();
    Workload::prepare(&mounts[0].path(""));
    let w = Arc::new(Workload::new());
    let clients: Vec<_> = (0..4).map(|k| w.run_client(k as u32, mounts[k % mounts.len()].path(""))).collect();
    wait_for(Duration::from_secs(30), "the clients to get going", || {
        (w.completed.load(Ordering::Relaxed) >= 50).then_some(())
    });

    let started = Instant::now();
    for k in 0..faults {
        let fault = KINDS[k % KINDS.len()];
        let before = w.completed.load(Ordering::Relaxed);
        inject(&mut c, &lab, fault, k / KINDS.len());
        // Healed: the cluster leads again and the clients go on before the next fault.
        c.wait_leader(Duration::from_secs(60));
        wait_for(Duration::from_secs(60), "the clients going on after a fault", || {
            (w.completed.load(Ordering::Relaxed) >= before + 20).then_some(())
        });
        let failed = w.failed.lock().unwrap().len();
        eprintln!(
            "fault {}/{faults} {fault:?}: {} calls during and after it, {failed} failed so far",
            k + 1,
            w.completed.load(Ordering::Relaxed) - before
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    w.stop();
    for t in clients {
        t.join().expect("client thread");
    }

    // Every master holds the same state (a divergence would make any history meaningless).
    let digests = c.wait_converged(Duration::from_secs(60));
    assert!(digests.windows(2).all(|d| d[0].digest == d[1].digest), "masters diverged: {digests:?}");

    // The last word: every register and folder read from a new mount, in the history.
    let last = c.mount_on(Some(&hosts[0]), &opts);
    for k in 0..KEYS {
        w.final_read(99, &last.path(""), &format!("k{k}"));
    }
    for f in 0..FOLDERS {
        w.final_list(99, &last.path(""), &format!("d{f}"));
    }
    let failed = w.failed.lock().unwrap().clone();
    let problems = w.check(Duration::from_secs(120));
    if !problems.is_empty() {
        let path = std::env::temp_dir().join(format!("raftmfs-histories-{}.json", std::process::id()));
        match w.save(&path) {
            Ok(()) => eprintln!("histories saved in {}", path.display()),
            Err(e) => eprintln!("could not save the histories in {}: {e}", path.display()),
        }
    }
    eprintln!(
        "{faults} faults in {:?}: {} calls, {} failed, {} linearizability problems",
        started.elapsed(),
        w.completed.load(Ordering::Relaxed),
        failed.len(),
        problems.len()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
    assert!(failed.is_empty(), "calls failed: {failed:#?}");
}
