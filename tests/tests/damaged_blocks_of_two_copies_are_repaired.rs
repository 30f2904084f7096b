//! Issue 10, item 2: a goal-2 file whose two copies are each damaged, in different blocks.
//! Every block is good on one copy, so the whole file reads back correctly (a reader takes
//! each bad block from the other copy), and both copies are repaired in place from each other
//! (guarantee 5: corruption is repaired from a good replica).
//!
//! Fails before this change (run against the binaries of c40e250): a read took the whole range
//! from one copy at a time and failed on both; the file did not read back (EIO).

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Duration;

use proto::data::DataResponse;
use proto::token::DataToken;
use raftmfs_tests::{run_tool, wait_for, Cluster};
use rand::RngCore;

const BLOCK: u64 = 64 << 10;

fn flip(path: &Path, b: u64) {
    let f = std::fs::OpenOptions::new().read(true).write(true).open(path).unwrap();
    let at = 8192 + b * BLOCK + 4321;
    let mut x = [0u8];
    f.read_exact_at(&mut x, at).unwrap();
    f.write_all_at(&[x[0] ^ 0x21], at).unwrap();
    f.sync_all().unwrap();
}

/// One copy read straight from its chunkserver, with the reader's token `token`.
fn read_copy(
    rt: &tokio::runtime::Runtime,
    addr: &str,
    token: &DataToken,
    id: u64,
    version: u32,
    size: u32,
) -> DataResponse {
    raftmfs_tests::read_copy(rt, addr, token, id, version, 0, size)
}

#[test]
fn two_copies_bad_in_different_blocks_read_whole_and_repair_each_other() {
    let c = Cluster::with_chunkservers(61, "REPLICATIONS_DELAY_INIT = 0", "HDD_TEST_FREQ = 0");
    let rt = raftmfs_tests::runtime();
    let m = c.mount(&[]);
    std::fs::create_dir(m.path("g")).unwrap();
    let (ok, out, err) = run_tool("mfssetgoal", &["2", m.path("g").to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    let mut data = vec![0u8; 3 << 20];
    rand::thread_rng().fill_bytes(&mut data);
    std::fs::write(m.path("g/f"), &data).unwrap();

    // The two copies: block 3 goes bad on one, block 7 on the other.
    let copies: Vec<(usize, u64, u32, std::path::PathBuf)> =
        (0..3).flat_map(|i| c.chunkservers[i].chunk_files().into_iter().map(move |(id, v, p)| (i, id, v, p))).collect();
    assert_eq!(copies.len(), 2, "goal 2: two copies");
    let (id, version) = (copies[0].1, copies[0].2);
    assert_eq!((copies[1].1, copies[1].2), (id, version));
    flip(&copies[0].3, 3);
    flip(&copies[1].3, 7);
    let ino = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(m.path("g/f")).unwrap());
    let token = c.read_token(&rt, ino, 0);

    // Read through a second mount (nothing from the first one's page cache): every byte right,
    // each bad block taken from the other copy.
    let m2 = c.mount(&["-o", "mfsoptimeout=10"]);
    let back = std::fs::read(m2.path("g/f"));
    assert!(back.as_ref().is_ok_and(|b| *b == data), "the file reads back whole: {:?}", back.map(|b| b.len()));
    // Each copy refuses its own bad block (and tells its leader).
    let addr = |i: usize| c.chunkservers[copies[i].0].data_addr();
    for (i, bad) in [(0, 3), (1, 7)] {
        match read_copy(&rt, &addr(i), &token, id, version, data.len() as u32) {
            DataResponse::Error(proto::cs::CsError::Crc { block }) => assert_eq!(block, bad),
            // Repaired already by the time we asked: as good.
            DataResponse::Data(d) => assert!(d == data),
            other => panic!("copy {i}: {other:?}"),
        }
    }

    // Both copies are repaired where they are: each serves every byte again.
    wait_for(Duration::from_secs(90), "both copies repaired in place (or one deleted)", || {
        let states: Vec<Option<bool>> = (0..2)
            .map(|i| {
                copies[i].3.exists().then(|| {
                    matches!(read_copy(&rt, &addr(i), &token, id, version, data.len() as u32), DataResponse::Data(d) if d == data)
                })
            })
            .collect();
        assert!(states.iter().all(Option::is_some), "a damaged copy was deleted: {states:?}");
        states.iter().all(|s| *s == Some(true)).then_some(())
    });
    let leader = c.wait_leader(Duration::from_secs(30));
    let metrics = c.metrics(leader).unwrap();
    assert!(metrics.contains("mfsmaster_block_repairs_total{result=\"ok\"} 2"), "{metrics}");
    let out = wait_for(Duration::from_secs(30), "fileinfo to show two valid copies", || {
        let (ok, out, _) = run_tool("mfsfileinfo", &[m.path("g/f").to_str().unwrap()]);
        (ok && out.matches("(status:VALID)").count() == 2).then_some(out)
    });
    assert!(!out.contains("DAMAGED"), "{out}");
}
