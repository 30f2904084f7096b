//! `floor`: the least one acknowledged mutation can cost on this machine (issue 12), measured
//! with nothing of RaftMFS in the way: the loopback round trip between two processes and one
//! small write + `fdatasync` on the disk the masters use. A mutation fsync'd on a majority of
//! three masters before its answer needs at least the client's round trip to the leader, the
//! leader's round trip to a follower and the follower's fsync (the leader's own fsync can run at
//! the same time as the follower's); `BENCHMARKS.md` turns these figures into the highest rate a
//! benchmark with N operations in flight can reach (N / latency, Little's law).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Parser;

#[derive(Parser)]
#[command(about = "Loopback round trip between two processes and small-write fdatasync: the floor of one mutation")]
struct Args {
    /// folder on the disk to measure (the masters' data folder's disk)
    #[arg(long, default_value = "/var/tmp")]
    dir: PathBuf,
    /// round trips and fsyncs measured (after 10% as warm-up)
    #[arg(long, default_value_t = 20_000)]
    count: usize,
    /// internal: serve as the echo process on this port
    #[arg(long, hide = true)]
    echo: Option<u16>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(port) = args.echo {
        return echo(port);
    }
    let (rtt_med, rtt_p10) = rtt(args.count)?;
    println!("loopback TCP round trip, two processes, 64-byte messages: median {rtt_med:.1} us, p10 {rtt_p10:.1} us");
    let (fs_med, fs_p10) = fdatasync(&args.dir, args.count / 4)?;
    println!("300-byte pwrite + fdatasync in {}: median {fs_med:.1} us, p10 {fs_p10:.1} us", args.dir.display());
    let floor = 2.0 * rtt_p10 + fs_p10;
    println!("floor of one majority-fsync'd mutation (client->leader RTT + leader->follower RTT + follower fsync, p10s): {floor:.0} us");
    Ok(())
}

/// The echo side: accept one connection, send back every 64-byte message.
fn echo(port: u16) -> anyhow::Result<()> {
    let l = TcpListener::bind(("127.0.0.1", port))?;
    let (mut s, _) = l.accept()?;
    s.set_nodelay(true)?;
    let mut buf = [0u8; 64];
    loop {
        if s.read_exact(&mut buf).is_err() {
            return Ok(());
        }
        s.write_all(&buf)?;
    }
}

fn rtt(count: usize) -> anyhow::Result<(f64, f64)> {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.port()
    };
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe).args(["--echo", &port.to_string()]).stdout(Stdio::null()).spawn()?;
    let mut s = None;
    for _ in 0..500 {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(c) => {
                s = Some(c);
                break;
            }
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
        }
    }
    let Some(mut s) = s else {
        let _ = child.kill();
        bail!("the echo process did not listen on port {port}");
    };
    s.set_nodelay(true)?;
    let mut buf = [7u8; 64];
    let mut samples = Vec::with_capacity(count);
    for i in 0..count + count / 10 {
        let t = Instant::now();
        s.write_all(&buf)?;
        s.read_exact(&mut buf)?;
        if i >= count / 10 {
            samples.push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    drop(s);
    let _ = child.wait();
    Ok(quantiles(samples))
}

fn fdatasync(dir: &std::path::Path, count: usize) -> anyhow::Result<(f64, f64)> {
    let path = dir.join(format!("floor-probe-{}", std::process::id()));
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)
        .context("probe file")?;
    f.write_all_at(&vec![0u8; 1 << 20], 0)?;
    f.sync_all()?;
    let rec = [9u8; 300];
    let mut samples = Vec::with_capacity(count);
    for i in 0..count + count / 10 {
        let t = Instant::now();
        f.write_all_at(&rec, ((i * 300) % ((1 << 20) - 300)) as u64)?;
        f.sync_data()?;
        if i >= count / 10 {
            samples.push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    drop(f);
    std::fs::remove_file(&path)?;
    Ok(quantiles(samples))
}

fn quantiles(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v.get(((v.len() as f64 - 1.0) * q) as usize).copied().unwrap_or(f64::NAN);
    (at(0.5), at(0.1))
}
