//! MooseFS-style daemon control shared by every daemon (`mfsmaster`, `mfschunkserver`):
//! `start` (in the background unless `-f`), `stop`, `restart`, `reload`, `status`. A running
//! daemon holds an exclusive `flock` on `DATA_PATH/.<program>.lock`, which also holds its pid:
//! a second daemon on the same data folder is refused, and "is it running" never trusts a
//! stale pid.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::io::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Name of the lock file of `program` in `DATA_PATH` (as MooseFS: `.mfsmaster.lock`).
pub fn lock_file(program: &str) -> String {
    format!(".{program}.lock")
}

/// Name of the log file a background daemon writes in `DATA_PATH`.
pub fn log_file(program: &str) -> String {
    format!("{program}.log")
}

/// How long `start` waits for the background master to take its lock.
const START_WAIT: Duration = Duration::from_secs(30);
/// How long `stop` waits for the master to exit after SIGTERM.
const STOP_WAIT: Duration = Duration::from_secs(60);

/// Errors of daemon control.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("already running on this data path (pid {0})")]
    AlreadyRunning(i32),
    #[error("the background daemon exited during start; see {log}:\n{tail}")]
    StartFailed { log: PathBuf, tail: String },
    #[error("the background daemon did not start within {0:?}")]
    StartTimeout(Duration),
    #[error("the daemon (pid {0}) did not stop within {1:?}")]
    StopTimeout(i32, Duration),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DaemonError + '_ {
    move |source| DaemonError::Io { path: path.to_path_buf(), source }
}

/// The held lock of a running master; released when dropped (or when the process dies).
pub struct PidLock {
    _file: File,
}

fn try_flock(f: &File) -> bool {
    // SAFETY: flock on a file descriptor we own; no memory is touched.
    unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

fn read_pid(f: &mut File) -> Option<i32> {
    let mut s = String::new();
    f.seek(SeekFrom::Start(0)).ok()?;
    f.read_to_string(&mut s).ok()?;
    s.trim().parse().ok()
}

/// Take the lock for this process and write our pid into it.
pub fn lock(data_path: &Path, program: &str) -> Result<PidLock, DaemonError> {
    let path = data_path.join(lock_file(program));
    let mut f =
        OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io_err(&path))?;
    if !try_flock(&f) {
        return Err(DaemonError::AlreadyRunning(read_pid(&mut f).unwrap_or(0)));
    }
    f.set_len(0).map_err(io_err(&path))?;
    f.seek(SeekFrom::Start(0)).map_err(io_err(&path))?;
    writeln!(f, "{}", std::process::id()).map_err(io_err(&path))?;
    f.sync_all().map_err(io_err(&path))?;
    Ok(PidLock { _file: f })
}

/// The pid of the master running on this data path, if one holds the lock.
pub fn running_pid(data_path: &Path, program: &str) -> Option<i32> {
    let path = data_path.join(lock_file(program));
    let mut f = OpenOptions::new().read(true).write(true).open(path).ok()?;
    if try_flock(&f) {
        // SAFETY: releasing the lock we just took on our own descriptor.
        unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_UN) };
        return None;
    }
    read_pid(&mut f)
}

/// Start this program again in the background (`-f` added), detached in its own session with
/// output to `DATA_PATH/<program>.log`, and wait until it holds the lock.
pub fn start_background(data_path: &Path, program: &str, args: &[String]) -> Result<i32, DaemonError> {
    if let Some(pid) = running_pid(data_path, program) {
        return Err(DaemonError::AlreadyRunning(pid));
    }
    std::fs::create_dir_all(data_path).map_err(io_err(data_path))?;
    let log = data_path.join(log_file(program));
    let out = OpenOptions::new().create(true).append(true).open(&log).map_err(io_err(&log))?;
    let err = out.try_clone().map_err(io_err(&log))?;
    let exe = std::env::current_exe().map_err(io_err(Path::new("/proc/self/exe")))?;
    let mut cmd = Command::new(exe);
    cmd.args(args).arg("-f").stdin(Stdio::null()).stdout(out).stderr(err);
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(io_err(&log))?;
    let deadline = Instant::now() + START_WAIT;
    while Instant::now() < deadline {
        if let Some(pid) = running_pid(data_path, program) {
            if pid == child.id() as i32 {
                return Ok(pid);
            }
        }
        if let Ok(Some(_)) = child.try_wait() {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(15).collect();
            let tail = tail.into_iter().rev().collect::<Vec<_>>().join("\n");
            return Err(DaemonError::StartFailed { log, tail });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(DaemonError::StartTimeout(START_WAIT))
}

/// Send a signal to the running daemon. Returns its pid, or None when none runs.
pub fn signal(data_path: &Path, program: &str, sig: i32) -> Option<i32> {
    let pid = running_pid(data_path, program)?;
    // SAFETY: kill(2) with a pid read from our own lock file.
    unsafe { libc::kill(pid, sig) };
    Some(pid)
}

/// Stop the running daemon (SIGTERM) and wait until it has released its lock.
/// Returns the pid stopped, or None when none was running.
pub fn stop(data_path: &Path, program: &str) -> Result<Option<i32>, DaemonError> {
    let Some(pid) = signal(data_path, program, libc::SIGTERM) else {
        return Ok(None);
    };
    let deadline = Instant::now() + STOP_WAIT;
    while Instant::now() < deadline {
        if running_pid(data_path, program).is_none() {
            return Ok(Some(pid));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(DaemonError::StopTimeout(pid, STOP_WAIT))
}

/// What a daemon's command line asks (`mfsmaster ... start|stop|restart|reload|status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Start,
    Stop,
    Restart,
    Reload,
    Status,
}

impl std::str::FromStr for Action {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "start" => Action::Start,
            "stop" => Action::Stop,
            "restart" => Action::Restart,
            "reload" => Action::Reload,
            "status" => Action::Status,
            other => return Err(format!("unknown action {other:?} (start, stop, restart, reload, status)")),
        })
    }
}

/// Carry out `action` for `program` on `data_path`, reporting on stdout as MooseFS does.
/// `start` without `foreground` starts `program -c config start -f` in the background;
/// with `foreground` it calls `run_foreground` in this process. Returns the exit code.
pub fn control<E: From<DaemonError>>(
    action: Action,
    foreground: bool,
    data_path: &Path,
    program: &str,
    config: &Path,
    run_foreground: impl FnOnce() -> Result<(), E>,
) -> Result<i32, E> {
    match action {
        Action::Status => match running_pid(data_path, program) {
            Some(pid) => println!("{program} pid: {pid}"),
            None => {
                println!("{program} is not running");
                return Ok(1);
            }
        },
        Action::Stop => match stop(data_path, program)? {
            Some(pid) => println!("{program} (pid {pid}) stopped"),
            None => println!("{program} is not running"),
        },
        Action::Reload => match signal(data_path, program, libc::SIGHUP) {
            Some(pid) => println!("reload signal sent to {program} (pid {pid})"),
            None => {
                println!("{program} is not running");
                return Ok(1);
            }
        },
        Action::Restart | Action::Start => {
            if action == Action::Restart {
                if let Some(pid) = stop(data_path, program)? {
                    println!("{program} (pid {pid}) stopped");
                }
            }
            if foreground {
                run_foreground()?;
            } else {
                let args = ["-c".to_string(), config.display().to_string(), "start".to_string()];
                let pid = start_background(data_path, program, &args)?;
                println!("{program} started (pid {pid}, log {})", data_path.join(log_file(program)).display());
            }
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_is_exclusive_and_reports_pid() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(running_pid(dir.path(), "mfstest"), None);
        let held = lock(dir.path(), "mfstest").unwrap();
        // flock locks belong to the open file description: a second open in this process
        // conflicts as another process's would.
        assert_eq!(running_pid(dir.path(), "mfstest"), Some(std::process::id() as i32));
        assert!(matches!(lock(dir.path(), "mfstest"), Err(DaemonError::AlreadyRunning(_))));
        // Another program's lock in the same folder is independent.
        assert_eq!(running_pid(dir.path(), "other"), None);
        drop(held);
        assert_eq!(running_pid(dir.path(), "mfstest"), None);
    }
}
