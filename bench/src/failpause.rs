//! `failpause`: the pause a client sees when a file system's master is killed.
//!
//! A writer thread loops in `--dir`: create a file, write 4 KiB, fsync, close, and records when
//! each of these operations completes. For each of `--kills` kills: run `--ready-cmd` (until it
//! succeeds the system is not healthy), wait for `--steady-secs` of progress, then run
//! `--kill-cmd` (via `sh -c`; it kills the master and, if that is how the system recovers, starts
//! it again). The pause is the longest interval between two consecutive completed operations that
//! overlaps the kill command: from the last operation completed before the SIGKILL to the first one
//! completed after it. The kill command's own duration does not matter, since no operation
//! completes between the SIGKILL and the end of the pause. With `--budget-secs`, no kill starts
//! once that long has passed since the first one began.
//!
//! Prints one line per kill and `RESULT pause <kill> <seconds>` lines, then
//! `RESULT median <seconds>` and `RESULT errors <count>` (operations that failed instead of
//! pausing).

use anyhow::{bail, Context, Result};
use clap::Parser;
use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Pause a writer sees when the master is killed (side-by-side benchmark)")]
struct Args {
    /// folder to write in (a mount, or any folder)
    #[arg(long)]
    dir: PathBuf,
    #[arg(long, default_value_t = 5)]
    kills: usize,
    /// shell command that SIGKILLs the master (and restarts it, if the system needs that)
    #[arg(long)]
    kill_cmd: String,
    /// shell command that returns once the system is whole again (run before each kill)
    #[arg(long, default_value = "true")]
    ready_cmd: String,
    /// seconds of uninterrupted progress before each kill
    #[arg(long, default_value_t = 3.0)]
    steady_secs: f64,
    /// give up when no operation completes for this long after a kill
    #[arg(long, default_value_t = 60.0)]
    timeout_secs: f64,
    /// start no further kill once this many seconds have passed since the first one (0: no
    /// limit); the first kill always runs. Bounds the run for a system whose pause can be minutes.
    #[arg(long, default_value_t = 0.0)]
    budget_secs: f64,
}

/// What the writer thread shares: completion times in seconds since `start`.
struct Progress {
    start: Instant,
    done: Mutex<Vec<f64>>,
    errors: AtomicU64,
    last_error: Mutex<String>,
    stop: AtomicBool,
}

impl Progress {
    fn now(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    fn last(&self) -> Option<f64> {
        self.done.lock().unwrap_or_else(|e| e.into_inner()).last().copied()
    }
}

fn writer(dir: PathBuf, p: Arc<Progress>) {
    let data = vec![0x5au8; 4096];
    let mut i: u64 = 0;
    while !p.stop.load(Ordering::Relaxed) {
        let path = dir.join(format!("p{i:07}"));
        i += 1;
        let result = (|| -> std::io::Result<()> {
            let mut f = fs::OpenOptions::new().write(true).create_new(true).open(&path)?;
            f.write_all(&data)?;
            f.sync_all()?;
            Ok(())
        })();
        match result {
            Ok(()) => {
                let t = p.now();
                p.done.lock().unwrap_or_else(|e| e.into_inner()).push(t);
            }
            Err(e) => {
                p.errors.fetch_add(1, Ordering::Relaxed);
                *p.last_error.lock().unwrap_or_else(|e| e.into_inner()) = format!("{}: {e}", path.display());
                thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

fn sh(cmd: &str) -> Result<()> {
    let status = Command::new("sh").arg("-c").arg(cmd).status().with_context(|| format!("running {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// The longest gap between consecutive completions that overlaps `[from, to]`.
fn pause_over(done: &[f64], from: f64, to: f64) -> Option<f64> {
    done.windows(2).filter(|w| w[0] < to && w[1] > from).map(|w| w[1] - w[0]).max_by(f64::total_cmp)
}

fn main() -> Result<()> {
    let args = Args::parse();
    fs::create_dir_all(&args.dir).with_context(|| format!("creating {}", args.dir.display()))?;
    let p = Arc::new(Progress {
        start: Instant::now(),
        done: Mutex::new(Vec::new()),
        errors: AtomicU64::new(0),
        last_error: Mutex::new(String::new()),
        stop: AtomicBool::new(false),
    });
    let handle = {
        let (dir, p) = (args.dir.clone(), p.clone());
        thread::spawn(move || writer(dir, p))
    };
    let outcome = run_kills(&args, &p);
    p.stop.store(true, Ordering::Relaxed);
    // The writer may be stuck in a system call on a dead mount: wait a little, never forever.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !handle.is_finished() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    let pauses = outcome?;
    let errors = p.errors.load(Ordering::Relaxed);
    let ops = p.done.lock().unwrap_or_else(|e| e.into_inner()).len();
    println!("RESULT median {:.3}", median(&pauses));
    println!("RESULT errors {errors}");
    println!("RESULT ops {ops}");
    if errors > 0 {
        eprintln!(
            "failpause: {errors} operations failed; last: {}",
            p.last_error.lock().unwrap_or_else(|e| e.into_inner())
        );
    }
    if !handle.is_finished() {
        // Leave a stuck writer behind rather than hang: exit the whole process.
        std::process::exit(0);
    }
    Ok(())
}

fn run_kills(args: &Args, p: &Progress) -> Result<Vec<f64>> {
    let mut pauses = Vec::new();
    let mut first_at = None;
    for k in 1..=args.kills {
        let t_ready = p.now();
        let began = *first_at.get_or_insert(t_ready);
        if args.budget_secs > 0.0 && k > 1 && t_ready - began > args.budget_secs {
            println!("kill {k}: not run, {:.1} s of the {} s budget used", t_ready - began, args.budget_secs);
            break;
        }
        sh(&args.ready_cmd)?;
        let ready_took = p.now() - t_ready;
        // Steady progress: operations completing for `steady_secs`, the last one under 1 s ago.
        let wait_from = p.now();
        loop {
            thread::sleep(Duration::from_millis(100));
            let now = p.now();
            let first_recent = {
                let done = p.done.lock().unwrap_or_else(|e| e.into_inner());
                let steady_since = done.windows(2).rev().find(|w| w[1] - w[0] > 1.0).map_or(0.0, |w| w[1]);
                done.last().map(|&last| (last, steady_since))
            };
            if let Some((last, since)) = first_recent {
                if now - last < 1.0 && now - since.max(wait_from) >= args.steady_secs {
                    break;
                }
            }
            if now - wait_from > args.timeout_secs {
                bail!(
                    "kill {k}: no steady progress within {} s (errors so far: {})",
                    args.timeout_secs,
                    p.errors.load(Ordering::Relaxed)
                );
            }
        }
        let from = p.now();
        println!(
            "kill {k}: healthy after {ready_took:.1} s, steady progress after {:.1} s more",
            from - t_ready - ready_took
        );
        sh(&args.kill_cmd)?;
        let to = p.now();
        loop {
            if p.last().is_some_and(|t| t > to) {
                break;
            }
            if p.now() - to > args.timeout_secs {
                bail!("kill {k}: no operation completed within {} s after the kill", args.timeout_secs);
            }
            thread::sleep(Duration::from_millis(5));
        }
        let done = p.done.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let pause = pause_over(&done, from, to).context("no completions around the kill")?;
        println!("kill {k}: pause {pause:.3} s (kill command took {:.3} s)", to - from);
        println!("RESULT pause {k} {pause:.3}");
        std::io::stdout().flush().context("stdout")?;
        pauses.push(pause);
    }
    Ok(pauses)
}
