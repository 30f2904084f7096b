//! `mfsfileinfo -c` / `-s` on real masters, chunkservers and a mount: each copy's block count
//! and checksum digest (MD5 of its CRC32s, big-endian, one per 64 KiB block), the same on both
//! copies and equal to the digest computed here from the file's bytes; the file's signature
//! likewise; `-q` ignores both flags; a copy on a frozen chunkserver prints `can't get checksum`
//! and the exit status stays 0. (Loopback block 127.0.85.x.)
//!
//! The digests here were also compared with MooseFS 3.0.117's `mfsfileinfo -c -s` on the same
//! bytes (bench/moosefs): the same blocks, digests and signatures.

use std::time::Duration;

use md5::{Digest, Md5};
use raftmfs_tests::netns::{freeze, thaw};
use raftmfs_tests::{run_tool, wait_for, Cluster};

const LIMIT: Duration = Duration::from_secs(30);
const CHUNK: usize = 64 << 20;
const BLOCK: usize = 64 << 10;

/// What MooseFS computes for a copy holding `data` (one chunk's bytes): its block count and
/// the CRC32 of each block, zero-padded to 64 KiB, as big-endian bytes.
fn crc_table(data: &[u8]) -> (usize, Vec<u8>) {
    let blocks = data.len().div_ceil(BLOCK);
    let mut table = Vec::new();
    for b in data.chunks(BLOCK) {
        let mut block = b.to_vec();
        block.resize(BLOCK, 0);
        table.extend(crc32fast::hash(&block).to_be_bytes());
    }
    (blocks, table)
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02X}")).collect()
}

/// (blocks, digest) of every copy line of chunk `index` in `out`, in order.
fn copy_sums(out: &str, index: usize) -> Vec<(usize, String)> {
    let head = format!("\tchunk {index}: ");
    out.lines()
        .skip_while(|l| !l.starts_with(&head))
        .skip(1)
        .take_while(|l| l.starts_with("\t\t"))
        .filter_map(|l| {
            let rest = l.split_once(" ; blocks: ")?.1;
            let (blocks, digest) = rest.split_once(" ; checksum digest: ")?;
            Some((blocks.parse().ok()?, digest.strip_suffix(')')?.to_string()))
        })
        .collect()
}

#[test]
fn fileinfo_checksums_and_signature() {
    let mut c = Cluster::start(85, 3, "REPLICATIONS_DELAY_INIT = 0");
    c.add_chunkservers(85, 2, "");
    c.wait_leader(LIMIT);
    c.wait_chunkservers(2, LIMIT);
    let m = c.mount(&[]);
    std::fs::create_dir(m.path("g")).unwrap();
    let (ok, out, err) = run_tool("mfssetgoal", &["2", m.path("g").to_str().unwrap()]);
    assert!(ok, "{out}{err}");

    // Two chunks: a full one and 100 KiB (two blocks, the second zero-padded).
    let data: Vec<u8> = (0..CHUNK + 100_000).map(|i| ((i / 4093) as u8).wrapping_mul(13) ^ (i as u8)).collect();
    std::fs::write(m.path("g/f"), &data).unwrap();
    let f = m.path("g/f");
    let fs = f.to_str().unwrap();
    wait_for(LIMIT, "two copies of both chunks", || {
        let (ok, out, _) = run_tool("mfsfileinfo", &[fs]);
        (ok && out.matches("(status:VALID)").count() == 4).then_some(())
    });

    let (blocks0, table0) = crc_table(&data[..CHUNK]);
    let (blocks1, table1) = crc_table(&data[CHUNK..]);
    assert_eq!((blocks0, blocks1), (1024, 2));
    let want0 = hex(&Md5::digest(&table0));
    let want1 = hex(&Md5::digest(&table1));
    let mut file = Md5::new();
    file.update(&table0);
    file.update(&table1);
    let signature = format!("{fs} signature: {}", hex(&file.finalize()));

    let (ok, out, err) = run_tool("mfsfileinfo", &["-c", "-s", fs]);
    eprintln!("{out}");
    assert!(ok, "{out}{err}");
    assert_eq!(copy_sums(&out, 0), vec![(1024, want0.clone()), (1024, want0.clone())], "{out}");
    assert_eq!(copy_sums(&out, 1), vec![(2, want1.clone()), (2, want1.clone())], "{out}");
    assert!(!out.contains("different checksums") && !out.contains("couldn't add"), "{out}");
    assert_eq!(out.lines().last(), Some(signature.as_str()), "{out}");

    // -s alone: plain copy lines, the same signature; -q: the flags have no effect.
    let (ok, out, _) = run_tool("mfsfileinfo", &["-s", fs]);
    assert!(ok && out.matches("(status:VALID)\n").count() == 4, "{out}");
    assert_eq!(out.lines().last(), Some(signature.as_str()), "{out}");
    let (_, quick, _) = run_tool("mfsfileinfo", &["-q", fs]);
    let (ok, quick_cs, _) = run_tool("mfsfileinfo", &["-qcs", fs]);
    assert!(ok && quick == quick_cs && quick.contains("chunks with 2 copies"), "{quick}\n{quick_cs}");

    // One chunkserver frozen: the master still lists its copies for a few seconds, and they
    // cannot be asked. Each is reported; the other copy gives the digest and the signature.
    let victim = c.chunkservers[1].data_addr();
    let pid = c.chunkservers[1].pid().expect("pid");
    freeze(pid);
    let (ok, out, err) = run_tool("mfsfileinfo", &["-c", "-s", fs]);
    thaw(pid);
    eprintln!("{out}");
    assert!(ok, "exit status 0 when only chunkservers fail: {out}{err}");
    let failed = format!(": {victim} (status:VALID) - can't get checksum");
    assert_eq!(out.matches(&failed).count(), 2, "{out}");
    assert_eq!(out.matches(&format!("{victim} cs query error: ")).count(), 2, "{out}");
    assert_eq!(copy_sums(&out, 0), vec![(1024, want0)], "{out}");
    assert_eq!(copy_sums(&out, 1), vec![(2, want1)], "{out}");
    assert_eq!(out.lines().last(), Some(signature.as_str()), "{out}");

    // A write past a hole (the blocks before it are zeros) and a cut within a block: the same
    // blocks and digests as MooseFS 3.0.117 prints for the same steps (9DCF2EF3… with 17
    // blocks, D6BB6433… with 2, seen with bench/moosefs), computed here from the bytes.
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::File::create(m.path("g/s")).unwrap();
        f.seek(SeekFrom::Start((1 << 20) + 5)).unwrap();
        f.write_all(b"0123456789").unwrap();
        drop(f);
        let mut f = std::fs::File::create(m.path("g/u")).unwrap();
        f.write_all(&[b'y'; 300_000]).unwrap();
        f.set_len(70_000).unwrap();
    }
    let mut sparse = vec![0u8; (1 << 20) + 5];
    sparse.extend_from_slice(b"0123456789");
    for (name, bytes) in [("g/s", sparse), ("g/u", vec![b'y'; 70_000])] {
        let (blocks, table) = crc_table(&bytes);
        let want = hex(&Md5::digest(&table));
        let path = m.path(name);
        let (ok, out, err) = run_tool("mfsfileinfo", &["-c", "-s", path.to_str().unwrap()]);
        assert!(ok, "{out}{err}");
        assert_eq!(copy_sums(&out, 0), vec![(blocks, want.clone()), (blocks, want.clone())], "{out}");
        assert!(out.ends_with(&format!(" signature: {want}\n")), "{out}");
    }

    // A path that is not there: exit status 1.
    let missing = m.path("g/none");
    let (ok, out, _) = run_tool("mfsfileinfo", &["-c", missing.to_str().unwrap()]);
    assert!(!ok, "{out}");
}
