//! `reload` (SIGHUP) applies `mfsmaster.cfg` keys where MooseFS applies them: a chunkserver is
//! lost, and with `REPLICATIONS_DELAY_DISCONNECT` at its default (an hour) the chunk loop
//! passes again and again without replicating; the key lowered in the file and the masters
//! reloaded, the missing copies are made. A changed key that needs a restart (a listen port)
//! is named in the log and the running value is kept: clients go on.
//!
//! One cluster on 127.0.106.x.

use std::time::Duration;

use raftmfs_tests::{strip_ansi, wait_for, Cluster};

const BLOCK: u8 = 106;
const LIMIT: Duration = Duration::from_secs(90);

/// A value of an unlabelled metric in a `/metrics` text.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

fn hup_all(c: &Cluster) {
    for mp in &c.masters {
        if let Some(pid) = mp.pid() {
            // SAFETY: kill(2) on a child process id this test started.
            unsafe { libc::kill(pid as i32, libc::SIGHUP) };
        }
    }
}

#[test]
fn reload_applies_the_replication_delay_and_names_keys_that_need_a_restart() {
    assert_eq!(unsafe { libc::geteuid() }, 0, "mount tests run as root");
    let mut c = Cluster::with_chunkservers(BLOCK, "REPLICATIONS_DELAY_INIT = 0", "");
    c.wait_chunkservers(3, LIMIT);
    let m = c.mount(&[]);
    m.goal_files("g2", 2, 6);
    let leader = c.wait_leader(LIMIT);
    wait_for(LIMIT, "every chunk at goal", || {
        let t = c.metrics(leader)?;
        (metric(&t, "mfsmaster_chunks_under_goal") == Some(0.0)).then_some(())
    });

    // A chunkserver with copies lost: under goal, and the loop leaves it so pass after pass.
    let victim = (0..3).find(|&i| !c.chunkservers[i].chunk_files().is_empty()).expect("a chunkserver with copies");
    c.kill_chunkserver(victim);
    let passes = wait_for(LIMIT, "chunks under goal", || {
        let t = c.metrics(leader)?;
        (metric(&t, "mfsmaster_chunks_under_goal")? > 0.0).then(|| metric(&t, "mfsmaster_chunk_loop_passes_total"))?
    });
    wait_for(LIMIT, "three more passes of the chunk loop", || {
        let t = c.metrics(leader)?;
        (metric(&t, "mfsmaster_chunk_loop_passes_total")? >= passes + 3.0).then_some(())
    });
    let t = c.metrics(leader).expect("metrics");
    assert!(metric(&t, "mfsmaster_chunks_under_goal").is_some_and(|n| n > 0.0), "replicated within the delay");

    // The delay lowered in the file, a listen port changed too, and a reload.
    for mp in &c.masters {
        let mut text = std::fs::read_to_string(&mp.cfg).expect("read cfg");
        text.push_str("REPLICATIONS_DELAY_DISCONNECT = 1\nMATOCL_LISTEN_PORT = 19421\n");
        std::fs::write(&mp.cfg, text).expect("write cfg");
    }
    hup_all(&c);
    wait_for(LIMIT, "the lost copies made again after the reload", || {
        let t = c.metrics(leader)?;
        (metric(&t, "mfsmaster_chunks_under_goal") == Some(0.0)).then_some(())
    });
    let log = strip_ansi(&std::fs::read_to_string(c.masters[leader].log()).expect("log"));
    assert!(log.lines().any(|l| l.contains("reload: applied") && l.contains("REPLICATIONS_DELAY_DISCONNECT")), "{log}");
    assert!(
        log.lines().any(|l| l.contains("need a restart") && l.contains("MATOCL_LISTEN_HOST/PORT")),
        "the restart-only key named: {log}"
    );
    // The client port stayed: the mount goes on.
    std::fs::write(m.path("after-reload"), b"still here").expect("write after the reload");
    assert_eq!(std::fs::read(m.path("after-reload")).expect("read"), b"still here");
    drop(m);
}
