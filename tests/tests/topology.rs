//! `mfstopology.cfg` on real masters, chunkservers and mounts (issue 13): with
//! `CREATIONS_RESPECT_TOPOLOGY` new chunks go to the chunkserver on the writer's rack, reads are
//! served by the nearest copy, and `reload` (SIGHUP) applies a changed file.
//! (Loopback block 127.0.77.x; the mounts connect from 127.0.0.1.)

use std::path::Path;
use std::time::Duration;

use raftmfs_tests::{run_tool, wait_for, Cluster};

const LIMIT: Duration = Duration::from_secs(60);
const FILES: usize = 4;
const SIZE: usize = 3 << 20;

/// `mfschunkserver_read_bytes_total` of each chunkserver.
fn read_bytes(c: &Cluster) -> Vec<u64> {
    (0..c.chunkservers.len())
        .map(|i| {
            let text = c.cs_metrics(i).unwrap_or_default();
            text.lines()
                .find_map(|l| l.strip_prefix("mfschunkserver_read_bytes_total "))
                .and_then(|v| v.trim().parse::<f64>().ok())
                .map_or(0, |v| v as u64)
        })
        .collect()
}

/// Read every file through a mount of its own; how many bytes each chunkserver served.
fn served_by(c: &Cluster) -> Vec<u64> {
    let before = read_bytes(c);
    let m = c.mount(&[]);
    for i in 0..FILES {
        let data = std::fs::read(m.path(&format!("f{i}"))).unwrap();
        assert_eq!(data.len(), SIZE);
    }
    read_bytes(c).iter().zip(&before).map(|(a, b)| a - b).collect()
}

fn write_topology(path: &Path, near: &str) {
    // The last matching line wins: the chunkservers' block is rack 2 but for `near`.
    std::fs::write(path, format!("# racks\n127.0.77.0/24  dc|rack2\n{near}  dc|rack1\n127.0.0.1  dc|rack1\n")).unwrap();
}

#[test]
fn new_chunks_and_reads_go_to_the_writers_rack() {
    let dir = tempfile::tempdir().unwrap();
    let topo = dir.path().join("mfstopology.cfg");
    write_topology(&topo, "127.0.77.22");
    let mut c = Cluster::start(
        77,
        3,
        &format!("TOPOLOGY_FILENAME = {}\nCREATIONS_RESPECT_TOPOLOGY = 2\nREPLICATIONS_DELAY_INIT = 0", topo.display()),
    );
    c.add_chunkservers(77, 3, "");
    c.wait_leader(LIMIT);
    c.wait_chunkservers(3, LIMIT);
    let m = c.mount(&[]);
    for i in 0..FILES {
        std::fs::write(m.path(&format!("f{i}")), vec![i as u8; SIZE]).unwrap();
    }
    let held: Vec<usize> = c.chunkservers.iter().map(|cs| cs.chunk_files().len()).collect();
    assert_eq!(held, vec![0, FILES, 0], "every new chunk on the writer's rack (127.0.77.22)");

    // Three copies each; reads then come from the nearest one.
    let (ok, out, err) = run_tool("mfssetgoal", &["-r", "3", m.dir.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    wait_for(LIMIT, "three copies of every chunk", || {
        c.chunkservers.iter().all(|cs| cs.chunk_files().len() == FILES).then_some(())
    });
    let served = served_by(&c);
    assert!(served[1] >= (FILES * SIZE) as u64 && served[0] == 0 && served[2] == 0, "{served:?}");

    // Another rack layout, applied by reload.
    write_topology(&topo, "127.0.77.23");
    for mp in &c.masters {
        if let Some(pid) = mp.pid() {
            // SAFETY: kill(2) on a child process id this test started.
            unsafe { libc::kill(pid as i32, libc::SIGHUP) };
        }
    }
    wait_for(LIMIT, "reads served by 127.0.77.23 after the reload", || {
        let served = served_by(&c);
        (served[2] >= (FILES * SIZE) as u64 && served[0] == 0 && served[1] == 0).then_some(())
    });
}
