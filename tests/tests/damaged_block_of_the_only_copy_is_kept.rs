//! Issue 10, item 2: one byte flipped in the only copy of a goal-1 file. The copy is kept
//! (guarantee 8: the last valid copy of a block is never deleted): reads of that 64 KiB block
//! fail with EIO, every other block still reads, and `mfsfileinfo`, `mfscheckfile` and the
//! leader's and the chunkserver's metrics show the damage.
//!
//! Fails before this change (run against the binaries of c40e250): the first read of the bad
//! block made the chunkserver report the copy damaged and the leader delete it ("damaged copy:
//! dropping and deleting it"), the whole 64 MiB chunk of a goal-1 file; every later read of
//! the file failed.

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Duration;

use proto::cs::CsError;
use proto::data::DataResponse;
use raftmfs_tests::{read_copy, run_tool, wait_for, Cluster};
use rand::RngCore;

const BLOCK: u64 = 64 << 10;
/// The bad block.
const BAD: u64 = 5;

/// Flip one byte inside block `b` of a chunk file, on disk.
fn flip(path: &Path, b: u64) {
    let f = std::fs::OpenOptions::new().read(true).write(true).open(path).unwrap();
    let at = 8192 + b * BLOCK + 1000;
    let mut x = [0u8];
    f.read_exact_at(&mut x, at).unwrap();
    f.write_all_at(&[x[0] ^ 0x5a], at).unwrap();
    f.sync_all().unwrap();
}

#[test]
fn a_bad_block_in_the_only_copy_loses_that_block_and_nothing_else() {
    let c = Cluster::with_chunkservers(60, "REPLICATIONS_DELAY_INIT = 0", "HDD_TEST_FREQ = 0");
    let m = c.mount(&[]);
    let mut data = vec![0u8; 3 << 20];
    rand::thread_rng().fill_bytes(&mut data);
    std::fs::write(m.path("f"), &data).unwrap();
    let file = m.path("f");
    let fs = file.to_str().unwrap();
    let (ok, out, _) = run_tool("mfscheckfile", &[fs]);
    assert!(ok && out.contains("chunks with 1 copy:"), "goal 1, one copy:\n{out}");

    // The only copy, on one of the three servers.
    let (server, id, version, path) = (0..3)
        .find_map(|i| c.chunkservers[i].chunk_files().into_iter().next().map(|(id, v, p)| (i, id, v, p)))
        .expect("the chunk file");
    flip(&path, BAD);

    // The chunkserver refuses the bad block (and tells the leader)...
    let rt = raftmfs_tests::runtime();
    let ino = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&file).unwrap());
    let token = c.read_token(&rt, ino, 0);
    let answer = read_copy(&rt, &c.chunkservers[server].data_addr(), &token, id, version, 0, data.len() as u32);
    assert!(matches!(answer, DataResponse::Error(CsError::Crc { block }) if block as u64 == BAD), "{answer:?}");
    // ...which keeps the copy.
    let leader = c.wait_leader(Duration::from_secs(30));
    let gone = wait_for(Duration::from_secs(60), "the leader to count the lost block (or the copy to go)", || {
        if !path.exists() {
            return Some(true);
        }
        c.metrics(leader)?.contains("mfsmaster_blocks_unrecoverable 1").then_some(false)
    });
    assert!(!gone, "the only copy of the chunk was deleted for one bad block");

    // Through a second mount (nothing from the first one's page cache): the bad block fails
    // with EIO, every other block reads. Backwards, so no read is sequential.
    let m2 = c.mount(&["-o", "mfsoptimeout=10"]);
    let f = std::fs::File::open(m2.path("f")).unwrap();
    for b in (0..data.len() as u64 / BLOCK).rev() {
        let mut buf = vec![0u8; BLOCK as usize];
        let r = f.read_at(&mut buf, b * BLOCK);
        if b == BAD {
            let e = r.expect_err("the bad block must not read");
            assert_eq!(e.raw_os_error(), Some(libc::EIO), "{e}");
        } else {
            assert_eq!(r.unwrap(), BLOCK as usize, "block {b}");
            assert!(buf == data[(b * BLOCK) as usize..((b + 1) * BLOCK) as usize], "block {b} read wrong bytes");
        }
    }
    // A read that reaches into the bad block gets what comes before it, then EIO; one that
    // stops before it gets everything.
    let mut buf = vec![0u8; 100];
    let e = f.read_exact_at(&mut buf, BAD * BLOCK - 50).expect_err("reaches into the bad block");
    assert_eq!(e.raw_os_error(), Some(libc::EIO), "{e}");
    f.read_exact_at(&mut buf, BAD * BLOCK - 100).unwrap();
    assert!(buf[..] == data[(BAD * BLOCK - 100) as usize..(BAD * BLOCK) as usize]);

    let metrics = c.metrics(leader).unwrap();
    assert!(metrics.contains("mfsmaster_chunks_damaged 1"), "{metrics}");
    let cs_metrics = c.cs_metrics(server).unwrap();
    assert!(cs_metrics.contains("mfschunkserver_bad_blocks 1"), "{cs_metrics}");

    let (ok, out, _) = run_tool("mfsfileinfo", &[fs]);
    assert!(ok, "{out}");
    assert!(out.contains(&format!("(status:DAMAGED ; bad blocks: {BAD})")), "{out}");
    assert!(out.contains(&format!("\t\tunrecoverable blocks: {BAD} !!!\n")), "{out}");
    let (ok, out, _) = run_tool("mfscheckfile", &[fs]);
    assert!(ok, "{out}");
    assert!(out.contains(" chunks with 0 copies:") && out.contains(" chunks with lost data:           1\n"), "{out}");

    // Still there after the leader's next passes, and every good block still reads.
    let passes = c.metrics(leader).and_then(|t| loop_passes(&t)).unwrap_or(0);
    wait_for(Duration::from_secs(30), "two more passes of the chunk loop", || {
        (c.metrics(leader).and_then(|t| loop_passes(&t))? >= passes + 2).then_some(())
    });
    assert!(path.exists(), "the copy was deleted later");
    let mut buf = vec![0u8; BLOCK as usize];
    f.read_exact_at(&mut buf, 0).unwrap();
    assert!(buf == data[..BLOCK as usize]);
}

/// Passes of the leader's chunk loop so far (each plans every chunk: deletions included).
fn loop_passes(metrics: &str) -> Option<u64> {
    metrics.lines().find_map(|l| l.strip_prefix("mfsmaster_chunk_loop_passes_total ")?.trim().parse().ok())
}
