//! `fsops`: metadata and small-file workloads on ANY directory (a RaftMFS mount, a MooseFS mount,
//! a local folder), so the side-by-side harness measures all three with the same code.
//!
//! `fsops meta --dir D --files 10000 --dirs 2000 --procs 4`: create (open O_CREAT|O_EXCL, close),
//! stat (after dropping the kernel's caches with `--drop-caches`), rename (same directory), unlink
//! of `--files` empty files, then mkdir and rmdir of
//! `--dirs` directories, the work split over `--procs` worker processes, each in its own
//! subdirectory of D.
//! `fsops small --dir D --files 5000 --size 4096 --procs 1 [--drop-caches]`: write (create,
//! write, close) then read back (open, read, close) `--files` files; they are left in place
//! (deleting them is not part of the workload, and costs time on a slow target).
//!
//! Workers are this binary re-executed (`fsops worker`): they start, then wait for a command on
//! stdin, so a phase's time runs from the moment every worker is told to start to the moment the
//! last one answers; process start-up is not counted. Each phase prints one line
//! `RESULT <phase> <ops> <seconds> <ops per second>`.

use anyhow::{anyhow, bail, Context, Result};
use clap::{Parser, Subcommand};
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Instant;

#[derive(Parser)]
#[command(about = "Metadata and small-file workloads on any directory (side-by-side benchmark)")]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// create, stat, rename, unlink of empty files; mkdir and rmdir of directories
    Meta {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 10_000)]
        files: usize,
        #[arg(long, default_value_t = 2_000)]
        dirs: usize,
        #[arg(long, default_value_t = 1)]
        procs: usize,
        /// sync and drop the kernel's caches before the stat phase (needs root), so stat asks the
        /// file system rather than the kernel's attribute cache
        #[arg(long)]
        drop_caches: bool,
    },
    /// write then read back small files
    Small {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 5_000)]
        files: usize,
        #[arg(long, default_value_t = 4096)]
        size: usize,
        #[arg(long, default_value_t = 1)]
        procs: usize,
        /// sync and drop the kernel's caches between writing and reading (needs root)
        #[arg(long)]
        drop_caches: bool,
    },
    /// internal: one worker process, driven through stdin
    #[command(hide = true)]
    Worker {
        #[arg(long)]
        dir: PathBuf,
    },
}

fn main() -> Result<()> {
    match Args::parse().cmd {
        Cmd::Meta { dir, files, dirs, procs, drop_caches } => {
            let mut pool = Pool::start(&dir, procs)?;
            pool.phase("create", files)?;
            if drop_caches {
                drop_kernel_caches()?;
            }
            pool.phase("stat", files)?;
            pool.phase("rename", files)?;
            pool.phase("unlink", files)?;
            pool.phase("mkdir", dirs)?;
            pool.phase("rmdir", dirs)?;
            pool.finish(true)
        }
        Cmd::Small { dir, files, size, procs, drop_caches } => {
            let mut pool = Pool::start(&dir, procs)?;
            pool.phase_with("write", files, size)?;
            if drop_caches {
                drop_kernel_caches()?;
            }
            pool.phase_with("read", files, size)?;
            pool.finish(false)
        }
        Cmd::Worker { dir } => worker(&dir),
    }
}

/// `sync`, then drop the page, dentry and inode caches.
fn drop_kernel_caches() -> Result<()> {
    let status = Command::new("sync").status().context("running sync")?;
    if !status.success() {
        bail!("sync failed: {status}");
    }
    fs::write("/proc/sys/vm/drop_caches", "3\n").context("writing /proc/sys/vm/drop_caches (root needed)")
}

struct WorkerProc {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

/// The worker processes, each with its own subdirectory `w<k>` of the benchmark folder.
struct Pool {
    root: PathBuf,
    workers: Vec<WorkerProc>,
}

impl Pool {
    fn start(root: &Path, procs: usize) -> Result<Pool> {
        if procs == 0 {
            bail!("--procs must be at least 1");
        }
        let exe = std::env::current_exe().context("finding this executable")?;
        let mut workers = Vec::new();
        for k in 0..procs {
            let dir = root.join(format!("w{k}"));
            fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let mut child = Command::new(&exe)
                .arg("worker")
                .arg("--dir")
                .arg(&dir)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .with_context(|| format!("starting worker {}", exe.display()))?;
            let stdin = child.stdin.take().ok_or_else(|| anyhow!("worker stdin"))?;
            let stdout = BufReader::new(child.stdout.take().ok_or_else(|| anyhow!("worker stdout"))?);
            workers.push(WorkerProc { child, stdin, stdout });
        }
        let mut pool = Pool { root: root.to_path_buf(), workers };
        // Every worker answers once it is ready, so start-up stays out of the first phase.
        pool.run_all("ready", &vec![0; procs], 0)?;
        Ok(pool)
    }

    fn phase(&mut self, name: &str, total: usize) -> Result<()> {
        self.phase_with(name, total, 0)
    }

    /// Runs one phase on every worker (`total` operations split between them) and prints its rate.
    fn phase_with(&mut self, name: &str, total: usize, size: usize) -> Result<()> {
        let n = self.workers.len();
        let counts: Vec<usize> = (0..n).map(|k| total / n + usize::from(k < total % n)).collect();
        let t0 = Instant::now();
        self.run_all(name, &counts, size)?;
        let secs = t0.elapsed().as_secs_f64();
        println!("RESULT {name} {total} {secs:.4} {:.1}", total as f64 / secs.max(1e-9));
        Ok(())
    }

    fn run_all(&mut self, name: &str, counts: &[usize], size: usize) -> Result<()> {
        for (w, count) in self.workers.iter_mut().zip(counts) {
            writeln!(w.stdin, "{name} {count} {size}").context("sending a command to a worker")?;
            w.stdin.flush().context("sending a command to a worker")?;
        }
        for (k, w) in self.workers.iter_mut().enumerate() {
            let mut line = String::new();
            w.stdout.read_line(&mut line).with_context(|| format!("reading worker {k}'s answer"))?;
            match line.trim_end() {
                "ok" => {}
                "" => bail!("worker {k} exited during {name}"),
                other => bail!("worker {k}, {name}: {other}"),
            }
        }
        Ok(())
    }

    /// Stops the workers; `remove_dirs`: their folders are empty now, remove them.
    fn finish(self, remove_dirs: bool) -> Result<()> {
        for (k, mut w) in self.workers.into_iter().enumerate() {
            drop(w.stdin);
            let status = w.child.wait().with_context(|| format!("waiting for worker {k}"))?;
            if !status.success() {
                bail!("worker {k} exited with {status}");
            }
            if !remove_dirs {
                continue;
            }
            let dir = self.root.join(format!("w{k}"));
            fs::remove_dir(&dir).with_context(|| format!("removing {} (should be empty)", dir.display()))?;
        }
        Ok(())
    }
}

/// A worker: reads `<op> <count> <size>` lines, runs them in its folder, answers `ok` or `err ...`.
fn worker(dir: &Path) -> Result<()> {
    let stdin = std::io::stdin();
    let mut out = std::io::stdout();
    for line in stdin.lock().lines() {
        let line = line.context("reading a command")?;
        let mut words = line.split_whitespace();
        let op = words.next().unwrap_or_default();
        let count: usize = words.next().unwrap_or("0").parse().context("count")?;
        let size: usize = words.next().unwrap_or("0").parse().context("size")?;
        let answer = match run_op(dir, op, count, size) {
            Ok(()) => "ok".to_string(),
            Err(e) => format!("err {e:#}"),
        };
        writeln!(out, "{answer}").context("answering")?;
        out.flush().context("answering")?;
    }
    Ok(())
}

/// Closes explicitly: a FUSE file system may flush buffered data on close and report its error
/// there, which dropping a `File` would ignore.
fn close(file: fs::File) -> std::io::Result<()> {
    use std::os::fd::IntoRawFd;
    let fd = file.into_raw_fd();
    // SAFETY: `fd` was just taken out of the `File`, so it is open and nothing else closes it.
    if unsafe { libc::close(fd) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn run_op(dir: &Path, op: &str, count: usize, size: usize) -> Result<()> {
    let f = |i: usize| dir.join(format!("f{i:05}"));
    let g = |i: usize| dir.join(format!("g{i:05}"));
    let d = |i: usize| dir.join(format!("d{i:05}"));
    let path_err = |what: &str, p: &Path| format!("{what} {}", p.display());
    match op {
        "ready" => {}
        "create" => {
            for i in 0..count {
                fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(f(i))
                    .with_context(|| path_err("create", &f(i)))?;
            }
        }
        "stat" => {
            for i in 0..count {
                fs::metadata(f(i)).with_context(|| path_err("stat", &f(i)))?;
            }
        }
        "rename" => {
            for i in 0..count {
                fs::rename(f(i), g(i)).with_context(|| path_err("rename", &f(i)))?;
            }
        }
        "unlink" => {
            for i in 0..count {
                fs::remove_file(g(i)).with_context(|| path_err("unlink", &g(i)))?;
            }
        }
        "mkdir" => {
            for i in 0..count {
                fs::create_dir(d(i)).with_context(|| path_err("mkdir", &d(i)))?;
            }
        }
        "rmdir" => {
            for i in 0..count {
                fs::remove_dir(d(i)).with_context(|| path_err("rmdir", &d(i)))?;
            }
        }
        "write" => {
            let data: Vec<u8> = (0..size).map(|b| (b % 251) as u8).collect();
            for i in 0..count {
                let mut file = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(f(i))
                    .with_context(|| path_err("create", &f(i)))?;
                file.write_all(&data).with_context(|| path_err("write", &f(i)))?;
                close(file).with_context(|| path_err("close", &f(i)))?;
            }
        }
        "read" => {
            let mut buf = Vec::with_capacity(size + 1);
            for i in 0..count {
                buf.clear();
                let mut file = fs::File::open(f(i)).with_context(|| path_err("open", &f(i)))?;
                file.read_to_end(&mut buf).with_context(|| path_err("read", &f(i)))?;
                if buf.len() != size {
                    bail!("{}: read {} bytes, wrote {size}", f(i).display(), buf.len());
                }
            }
        }
        other => bail!("unknown operation {other:?}"),
    }
    Ok(())
}
