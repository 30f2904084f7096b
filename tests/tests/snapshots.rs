//! `mfsmakesnapshot` and `mfsappendchunks` on real masters, chunkservers and mounts (issue 13):
//! a snapshot copies no data (the chunk files on the chunkservers stay the same), a write to
//! either side copies only the chunk it touches and leaves the other side as it was, and all of
//! it holds across a SIGKILL of the leader between the snapshot and the write.
//! (Loopback blocks 127.0.75.x, 127.0.76.x and 127.0.78.x.)

use std::collections::BTreeSet;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Duration;

use raftmfs_tests::{run_tool, wait_for, Cluster, Mount};

const LIMIT: Duration = Duration::from_secs(30);
const MIB: usize = 1 << 20;

/// Byte `i` of the test data: never the same pattern at two chunk offsets.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| ((i / 4096) as u8).wrapping_mul(31).wrapping_add(seed) ^ (i as u8)).collect()
}

/// Every chunk file on every chunkserver, as (id, version).
fn chunk_files(c: &Cluster) -> BTreeSet<(u64, u32)> {
    c.chunkservers.iter().flat_map(|cs| cs.chunk_files()).map(|(id, v, _)| (id, v)).collect()
}

fn chunk_ids(c: &Cluster) -> BTreeSet<u64> {
    chunk_files(c).into_iter().map(|(id, _)| id).collect()
}

/// Read `rel` through a mount of its own (no cache of an earlier read in the way).
fn fresh_read(c: &Cluster, rel: &str) -> Vec<u8> {
    let m = c.mount(&[]);
    std::fs::read(m.path(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
}

fn pwrite(path: &Path, data: &[u8], at: u64) {
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.write_all_at(data, at).unwrap();
    f.sync_all().unwrap();
}

fn snapshot(m: &Mount, args: &[&str]) -> (bool, String) {
    let owned: Vec<String> = args
        .iter()
        .map(|a| if a.starts_with('-') { a.to_string() } else { m.path(a).to_string_lossy().into_owned() })
        .collect();
    let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
    let (ok, out, err) = run_tool("mfsmakesnapshot", &refs);
    (ok, format!("{out}{err}"))
}

#[test]
fn snapshots_share_chunks_until_written_and_survive_a_leader_kill() {
    let mut c = Cluster::start(75, 3, "REPLICATIONS_DELAY_INIT = 0");
    c.add_chunkservers(75, 2, "");
    c.wait_leader(LIMIT);
    c.wait_chunkservers(2, LIMIT);
    let m = c.mount(&[]);

    // Three chunks (64 + 64 + 2 MiB).
    let data = pattern(130 * MIB, 7);
    std::fs::write(m.path("big"), &data).unwrap();
    let before = chunk_files(&c);
    assert_eq!(chunk_ids(&c).len(), 3);

    // The snapshot copies no data: the same chunk files, and the copy reads the same.
    let (ok, out) = snapshot(&m, &["big", "snap"]);
    assert!(ok, "{out}");
    assert_eq!(out, "", "nothing printed on success, as MooseFS");
    assert_eq!(chunk_files(&c), before, "no chunk was copied or bumped by the snapshot");
    assert!(fresh_read(&c, "snap") == data);

    // A write into the middle chunk of the copy: that chunk alone is duplicated.
    let patch = vec![0xA5u8; 8192];
    pwrite(&m.path("snap"), &patch, 70 * MIB as u64);
    let ids = chunk_ids(&c);
    assert_eq!(ids.len(), 4, "one new chunk for the written one: {ids:?}");
    let mut want = data.clone();
    want[70 * MIB..70 * MIB + 8192].copy_from_slice(&patch);
    assert!(fresh_read(&c, "snap") == want, "the copy has the write");
    assert!(fresh_read(&c, "big") == data, "the original does not");

    // The original written in its first chunk: the copy keeps the old bytes there.
    pwrite(&m.path("big"), &patch, 10);
    let mut big_now = data.clone();
    big_now[10..10 + 8192].copy_from_slice(&patch);
    assert!(fresh_read(&c, "big") == big_now);
    assert!(fresh_read(&c, "snap") == want);

    // Snapshot, then the leader dies before the write: the new leader does the copy-on-write.
    let (ok, out) = snapshot(&m, &["snap", "snap2"]);
    assert!(ok, "{out}");
    let leader = c.wait_leader(LIMIT);
    c.kill(leader);
    let patch2 = vec![0x3Cu8; 5000];
    pwrite(&m.path("snap2"), &patch2, 129 * MIB as u64);
    let mut want2 = want.clone();
    want2[129 * MIB..129 * MIB + 5000].copy_from_slice(&patch2);
    assert!(fresh_read(&c, "snap2") == want2, "the second copy has its write");
    assert!(fresh_read(&c, "snap") == want, "the first copy is untouched");
    c.start_master(leader);
    c.wait_converged(LIMIT);

    // Truncating a copy into a shared chunk leaves the other side whole.
    let (ok, out) = snapshot(&m, &["big", "cut"]);
    assert!(ok, "{out}");
    let f = std::fs::OpenOptions::new().write(true).open(m.path("cut")).unwrap();
    f.set_len(3 * MIB as u64).unwrap();
    drop(f);
    assert!(fresh_read(&c, "cut") == big_now[..3 * MIB]);
    assert!(fresh_read(&c, "big") == big_now);

    // The original goes: its chunks stay for the copies that use them.
    std::fs::remove_file(m.path("big")).unwrap();
    assert!(fresh_read(&c, "snap") == want);
    assert!(fresh_read(&c, "cut") == big_now[..3 * MIB]);
}

#[test]
fn folders_merge_overwrite_and_appended_chunks_as_moosefs() {
    let mut c = Cluster::start(76, 3, "");
    c.add_chunkservers(76, 1, "");
    c.wait_leader(LIMIT);
    c.wait_chunkservers(1, LIMIT);
    let m = c.mount(&[]);
    std::fs::create_dir_all(m.path("d/sub")).unwrap();
    std::fs::write(m.path("d/sub/a"), b"alpha").unwrap();
    std::fs::write(m.path("d/b"), b"beta").unwrap();
    std::os::unix::fs::symlink("sub/a", m.path("d/l")).unwrap();
    std::fs::create_dir(m.path("into")).unwrap();

    // Into an existing folder under the source's name, several sources at once.
    let (ok, out) = snapshot(&m, &["d", "d/b", "into"]);
    assert!(ok, "{out}");
    assert_eq!(std::fs::read(m.path("into/d/sub/a")).unwrap(), b"alpha");
    assert_eq!(std::fs::read(m.path("into/b")).unwrap(), b"beta");
    assert_eq!(std::fs::read_link(m.path("into/d/l")).unwrap().to_str(), Some("sub/a"));

    // Again: the files exist (EEXIST, exit 255 as MooseFS's tool); with -o they are replaced.
    std::fs::write(m.path("d/b"), b"beta2").unwrap();
    let (ok, out) = snapshot(&m, &["d", "into"]);
    assert!(!ok && out.contains("File exists"), "{out}");
    let (ok, out) = snapshot(&m, &["-o", "d", "into"]);
    assert!(ok, "{out}");
    assert_eq!(std::fs::read(m.path("into/d/b")).unwrap(), b"beta2");
    // A folder into itself.
    let (ok, out) = snapshot(&m, &["d", "d/sub"]);
    assert!(!ok && out.contains("Invalid argument"), "{out}");
    // Several sources need an existing folder.
    let (ok, out) = snapshot(&m, &["d/b", "d/sub/a", "nowhere"]);
    assert!(!ok && out.contains("only into existing directory"), "{out}");

    // mfsappendchunks: the destination grows to a whole chunk, then takes the source.
    std::fs::write(m.path("part1"), b"one").unwrap();
    std::fs::write(m.path("part2"), b"two").unwrap();
    let (ok, out, err) = run_tool(
        "mfsappendchunks",
        &[m.path("joined").to_str().unwrap(), m.path("part1").to_str().unwrap(), m.path("part2").to_str().unwrap()],
    );
    assert!(ok, "{out}{err}");
    let joined = wait_for(LIMIT, "the appended length", || {
        let j = fresh_read(&c, "joined");
        (j.len() == (64 * MIB) + 3).then_some(j)
    });
    assert_eq!(&joined[..3], b"one");
    assert!(joined[3..64 * MIB].iter().all(|&b| b == 0));
    assert_eq!(&joined[64 * MIB..], b"two");
    let (ok, out, _) =
        run_tool("mfsappendchunks", &[m.path("joined").to_str().unwrap(), m.path("d").to_str().unwrap()]);
    assert!(!ok && out.contains("not a file"), "{out}");
}

#[test]
fn a_leader_killed_during_copy_on_write_loses_neither_side() {
    let mut c = Cluster::start(78, 3, "REPLICATIONS_DELAY_INIT = 0");
    c.add_chunkservers(78, 2, "");
    c.wait_leader(LIMIT);
    c.wait_chunkservers(2, LIMIT);
    let m = c.mount(&[]);
    let data = pattern(64 * MIB, 3);
    std::fs::write(m.path("orig"), &data).unwrap();
    for round in 0..3u8 {
        let copy = format!("copy{round}");
        let (ok, out) = snapshot(&m, &["orig", &copy]);
        assert!(ok, "{out}");
        // The write that needs a copy of the shared chunk starts; the leader dies at once,
        // before, during or after the duplicate (whichever the timing gives).
        let path = m.path(&copy);
        let patch = vec![0xC0 | round; 4096];
        let writer = {
            let patch = patch.clone();
            std::thread::spawn(move || pwrite(&path, &patch, 4096 * u64::from(round)))
        };
        let leader = c.wait_leader(LIMIT);
        c.kill(leader);
        writer.join().expect("the write rides through the failover");
        let mut want = data.clone();
        let at = 4096 * usize::from(round);
        want[at..at + 4096].copy_from_slice(&patch);
        assert!(fresh_read(&c, &copy) == want, "round {round}: the copy has its write");
        assert!(fresh_read(&c, "orig") == data, "round {round}: the original is untouched");
        c.start_master(leader);
        c.wait_converged(LIMIT);
    }
}
