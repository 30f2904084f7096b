//! Metadata operations per second through the client library against a three-master cluster
//! on loopback (real `mfsmaster` processes, every mutation quorum-committed and fsync'd).
//!
//! `metabench [--files N] [--clients C,...] [--rss-inodes M]` prints one table row per phase
//! and client count, and the master RSS per million inodes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use client::{ClientConfig, MasterClient};
use proto::meta::{Creds, ROOT_INODE};
use raftmfs_tests::Cluster;

#[derive(Parser, Debug)]
struct Args {
    /// Files per phase (split across clients).
    #[arg(long, default_value_t = 10_000)]
    files: u64,
    /// Client counts to run.
    #[arg(long, default_value = "1,8", value_delimiter = ',')]
    clients: Vec<u64>,
    /// Inodes to create for the memory figure (0 skips it).
    #[arg(long, default_value_t = 200_000)]
    rss_inodes: u64,
}

fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

async fn phase<F, Fut>(clients: &[Arc<MasterClient>], per: u64, f: F) -> f64
where
    F: Fn(Arc<MasterClient>, u64, u64) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let t = Instant::now();
    let mut hs = Vec::new();
    for (w, c) in clients.iter().enumerate() {
        let (c, f) = (c.clone(), f.clone());
        hs.push(tokio::spawn(async move {
            for i in 0..per {
                f(c.clone(), w as u64, i).await;
            }
        }));
    }
    for h in hs {
        h.await.expect("bench task");
    }
    (per * clients.len() as u64) as f64 / t.elapsed().as_secs_f64()
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let cluster = Cluster::start(90, 3, "");
    let leader = cluster.wait_leader(Duration::from_secs(30));
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let addrs = cluster.client_addrs();
    let addrs: Vec<&str> = addrs.iter().map(String::as_str).collect();
    println!("| clients | create/s | stat/s | rename/s | unlink/s |");
    println!("|---:|---:|---:|---:|---:|");
    for (round, &n) in args.clients.iter().enumerate() {
        let clients: Vec<Arc<MasterClient>> = (0..n)
            .map(|_| rt.block_on(MasterClient::connect(ClientConfig::new(&addrs))).map(Arc::new))
            .collect::<Result<_, _>>()?;
        let cr = Creds::root();
        let mut dirs = Vec::new();
        for w in 0..n {
            let d = rt.block_on(clients[0].mkdir(&cr, ROOT_INODE, format!("r{round}w{w}").as_bytes(), 0o755))?;
            dirs.push(d.ino);
        }
        let dirs = Arc::new(dirs);
        let per = args.files / n;
        let d = dirs.clone();
        let create = rt.block_on(phase(&clients, per, move |c, w, i| {
            let d = d.clone();
            async move {
                c.create(&Creds::root(), d[w as usize], format!("f{i}").as_bytes(), 0o644).await.expect("create");
            }
        }));
        let d = dirs.clone();
        let stat = rt.block_on(phase(&clients, per, move |c, w, i| {
            let d = d.clone();
            async move {
                c.lookup(&Creds::root(), d[w as usize], format!("f{i}").as_bytes()).await.expect("stat");
            }
        }));
        let d = dirs.clone();
        let rename = rt.block_on(phase(&clients, per, move |c, w, i| {
            let d = d.clone();
            async move {
                let dir = d[w as usize];
                c.rename(&Creds::root(), dir, format!("f{i}").as_bytes(), dir, format!("g{i}").as_bytes())
                    .await
                    .expect("rename");
            }
        }));
        let d = dirs.clone();
        let unlink = rt.block_on(phase(&clients, per, move |c, w, i| {
            let d = d.clone();
            async move {
                c.unlink(&Creds::root(), d[w as usize], format!("g{i}").as_bytes()).await.expect("unlink");
            }
        }));
        println!("| {n} | {create:.0} | {stat:.0} | {rename:.0} | {unlink:.0} |");
    }
    if args.rss_inodes > 0 {
        let pid = cluster.masters[leader].pid().unwrap_or(0);
        let before = rss_kib(pid);
        let clients: Vec<Arc<MasterClient>> = (0..8)
            .map(|_| rt.block_on(MasterClient::connect(ClientConfig::new(&addrs))).map(Arc::new))
            .collect::<Result<_, _>>()?;
        let cr = Creds::root();
        let mut dirs = Vec::new();
        for w in 0..8 {
            dirs.push(rt.block_on(clients[0].mkdir(&cr, ROOT_INODE, format!("mem{w}").as_bytes(), 0o755))?.ino);
        }
        let dirs = Arc::new(dirs);
        let per = args.rss_inodes / 8;
        let rate = rt.block_on(phase(&clients, per, move |c, w, i| {
            let d = dirs.clone();
            async move {
                c.create(&Creds::root(), d[w as usize], format!("m{i}").as_bytes(), 0o644).await.expect("create");
            }
        }));
        let after = rss_kib(pid);
        let per_million = (after.saturating_sub(before)) as f64 / 1024.0 * 1_000_000.0 / args.rss_inodes as f64;
        println!(
            "\nleader RSS: {:.0} MiB before, {:.0} MiB after {} more inodes ({rate:.0} creates/s): {per_million:.0} MiB per million inodes",
            before as f64 / 1024.0,
            after as f64 / 1024.0,
            args.rss_inodes
        );
    }
    Ok(())
}
