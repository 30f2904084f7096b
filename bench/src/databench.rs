//! Sequential throughput of one file through the client library: three masters and three
//! chunkservers on loopback (real processes, chunk data on this machine's disk), at goal 1 and
//! goal 2, beside `dd` on the same disk for the ceiling.
//!
//! `databench [--mib 1024] [--block-mib 4]` prints a Markdown table.

use std::process::Command;
use std::time::Instant;

use clap::Parser;
use proto::client::WriteOp;
use proto::meta::{Creds, ROOT_INODE};
use raftmfs_tests::Cluster;
use rand::RngCore;

#[derive(Parser, Debug)]
struct Args {
    /// File size in MiB.
    #[arg(long, default_value_t = 1024)]
    mib: usize,
    /// Size of each write call in MiB.
    #[arg(long, default_value_t = 4)]
    block_mib: usize,
}

fn drop_caches() {
    let _ = Command::new("sync").status();
    let _ = std::fs::write("/proc/sys/vm/drop_caches", "3");
}

fn dd(dir: &std::path::Path, mib: usize) -> anyhow::Result<(f64, f64)> {
    let f = dir.join("dd.bin");
    let t = Instant::now();
    let ok = Command::new("dd")
        .arg("if=/dev/zero")
        .arg(format!("of={}", f.display()))
        .args(["bs=4M", &format!("count={}", mib / 4), "conv=fsync", "status=none"])
        .status()?;
    anyhow::ensure!(ok.success(), "dd write failed");
    let w = mib as f64 / t.elapsed().as_secs_f64();
    drop_caches();
    let t = Instant::now();
    let ok = Command::new("dd")
        .arg(format!("if={}", f.display()))
        .args(["of=/dev/null", "bs=4M", "status=none"])
        .status()?;
    anyhow::ensure!(ok.success(), "dd read failed");
    let r = mib as f64 / t.elapsed().as_secs_f64();
    std::fs::remove_file(&f)?;
    Ok((w, r))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let cluster = Cluster::with_chunkservers(91, "REPLICATIONS_DELAY_INIT = 0", "");
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let io = cluster.file_io(&rt);
    let cr = Creds::root();
    let block = args.block_mib << 20;
    let mut buf = vec![0u8; block];
    rand::thread_rng().fill_bytes(&mut buf);
    println!("| what | write MiB/s | read MiB/s |");
    println!("|---|---:|---:|");
    for goal in [1u8, 2] {
        let dir = rt.block_on(io.meta.mkdir(&cr, ROOT_INODE, format!("g{goal}").as_bytes(), 0o755))?;
        rt.block_on(io.meta.write(&cr, WriteOp::SetGoal { ino: dir.ino, goal, recursive: false }))?;
        let t = Instant::now();
        let f = rt.block_on(io.meta.create(&cr, dir.ino, b"big", 0o644))?;
        for i in 0..args.mib / args.block_mib {
            rt.block_on(io.write(&cr, f.ino, (i * block) as u64, &buf))?;
        }
        rt.block_on(io.fsync(&cr, f.ino))?;
        let w = args.mib as f64 / t.elapsed().as_secs_f64();
        drop_caches();
        let t = Instant::now();
        let mut n = 0u64;
        while n < (args.mib << 20) as u64 {
            let d = rt.block_on(io.read(&cr, f.ino, n, block as u64))?;
            anyhow::ensure!(!d.is_empty(), "short read at {n}");
            n += d.len() as u64;
        }
        let r = args.mib as f64 / t.elapsed().as_secs_f64();
        println!(
            "| RaftMFS client library, goal {goal}, {} MiB, {} MiB calls | {w:.0} | {r:.0} |",
            args.mib, args.block_mib
        );
    }
    let (w, r) = dd(&cluster.chunkservers[0].hdd(), args.mib)?;
    println!("| dd on a chunkserver's disk folder (bs=4M, conv=fsync) | {w:.0} | {r:.0} |");
    Ok(())
}
