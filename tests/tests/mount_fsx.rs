//! Issue 4: `fsx` (crates.io, fsx-rs, the File System eXerciser) runs 100,000 pseudorandom
//! operations (pread/pwrite, mmap reads and writes, truncate, fallocate, fsync, close/open,
//! sendfile, ...) on one file in a real FUSE mount of a three-master cluster, checking every
//! read against its model of the file: no mismatch allowed. scripts/install-test-tools.sh
//! installs fsx into /var/tmp/raftmfs-tools when missing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use raftmfs_tests::Cluster;

const OPS: u64 = 100_000;
const SEED: u64 = 42;

/// fsx settings: every operation a regular Linux file system supports, bar hole punching.
const FSX_TOML: &str = r#"
flen = 262144
nomsyncafterwrite = false
nosizechecks = false
blockmode = false

[opsize]
max = 65536
min = 0
align = 1

[weights]
close_open = 1
read = 10
write = 10
mapread = 10
mapwrite = 10
invalidate = 1
truncate = 1
fsync = 1
fdatasync = 1
posix_fallocate = 1
punch_hole = 0
sendfile = 1
posix_fadvise = 1
copy_file_range = 1
"#;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Run scripts/install-test-tools.sh; the directory holding the installed binaries.
fn install_test_tools() -> PathBuf {
    let out = Command::new("bash").arg(repo().join("scripts/install-test-tools.sh")).output().expect("run installer");
    assert!(
        out.status.success(),
        "scripts/install-test-tools.sh failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let root = std::env::var("RAFTMFS_TOOLS").unwrap_or_else(|_| "/var/tmp/raftmfs-tools".into());
    Path::new(&root).join("bin")
}

#[test]
fn fsx_runs_100k_operations_without_a_mismatch() {
    let tools = install_test_tools();
    let mut c = Cluster::start(53, 3, "REPLICATIONS_DELAY_INIT = 0");
    c.add_chunkservers(53, 3, "");
    c.wait_leader(Duration::from_secs(30));
    c.wait_chunkservers(3, Duration::from_secs(30));
    let m = c.mount(&[]);

    // Config and artifacts (the .fsxgood copy of the model on failure) outside the mount.
    let work = tempfile::tempdir().unwrap();
    let conf = work.path().join("fsx.toml");
    std::fs::write(&conf, FSX_TOML).unwrap();
    let t0 = Instant::now();
    let out = Command::new("timeout")
        .arg("1800")
        .arg(tools.join("fsx"))
        .arg("-N")
        .arg(OPS.to_string())
        .arg("-S")
        .arg(SEED.to_string())
        .arg("-f")
        .arg(&conf)
        .arg("-P")
        .arg(work.path())
        .arg(m.path("fsx.file"))
        .output()
        .expect("run fsx");
    let took = t0.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail = |s: &str| s.lines().rev().take(60).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
    assert!(
        out.status.success(),
        "fsx -N {OPS} -S {SEED} failed ({}) after {took:.0?}:\nstdout:\n{}\nstderr:\n{}\nmount log:\n{}",
        out.status,
        tail(&stdout),
        tail(&stderr),
        m.log_tail(40)
    );
    println!("fsx: {OPS} operations (seed {SEED}) on the mount without a mismatch in {took:.0?}");
    drop(m);
}
