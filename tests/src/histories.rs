//! Histories for the linearizability checker (`lincheck`): client threads working through
//! FUSE mounts on registers (small files replaced by rename) and on shared folders (exclusive
//! creates, unlinks, renames, lookups, listings), every call recorded with its invocation and
//! completion, while [`Fault`]s are injected into a cluster in a fault lab.
//!
//! A register `k` is the file `reg/k`; a write makes `tmp/<client>-<n>` with the value and
//! renames it onto `reg/k` (the rename is the write's moment: a file's content never changes
//! after it is made), a read reads `reg/k` whole (absent: `None`). A call that fails with an
//! error is recorded as unknown (it may or may not have taken effect) and counted as failed:
//! the acceptance is zero of those for the faults the cluster survives.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lincheck::models::folder::{FolderInput, FolderOp, FolderOutput};
use lincheck::models::register::{RegisterInput, RegisterOutput};
use lincheck::Recorder;
use rand::Rng;

/// Register histories: key (file name) → value.
pub type RegRecorder = Recorder<RegisterInput<String, u64>, RegisterOutput<u64>>;
/// Folder histories.
pub type DirRecorder = Recorder<FolderInput, FolderOutput>;

/// Keys of the registers, folders, and names in each folder.
pub const KEYS: usize = 6;
pub const FOLDERS: usize = 2;
pub const NAMES: usize = 5;

/// Mount options that turn off the kernel's and the mount's metadata caches: a cached entry
/// or attribute is allowed to be stale (as in MooseFS), and a history checker must see what
/// the cluster answers.
pub const NO_CACHE: &str = "mfsattrcacheto=0,mfsentrycacheto=0,mfsdirentrycacheto=0,mfsnegentrycacheto=0";

/// Shared by the client threads of one run.
pub struct Workload {
    pub regs: RegRecorder,
    pub dirs: DirRecorder,
    /// Calls that ended in an error (recorded as unknown), with the error.
    pub failed: Mutex<Vec<String>>,
    /// Calls completed.
    pub completed: AtomicU64,
    stop: AtomicBool,
    next_value: AtomicU64,
}

impl Default for Workload {
    fn default() -> Self {
        Self::new()
    }
}

impl Workload {
    pub fn new() -> Workload {
        Workload {
            regs: Recorder::new(),
            dirs: Recorder::new(),
            failed: Mutex::new(Vec::new()),
            completed: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            next_value: AtomicU64::new(1),
        }
    }

    /// Make the folders the workload uses (under `root`, through any mount).
    pub fn prepare(root: &Path) {
        for d in ["reg", "tmp"].into_iter().map(String::from).chain((0..FOLDERS).map(|f| format!("d{f}"))) {
            std::fs::create_dir_all(root.join(d)).expect("workload folder");
        }
    }

    /// Run client `client` on the mount at `root` until [`Workload::stop`].
    pub fn run_client(self: &Arc<Self>, client: u32, root: PathBuf) -> std::thread::JoinHandle<()> {
        let me = self.clone();
        std::thread::spawn(move || {
            let mut rng = rand::thread_rng();
            let mut n = 0u64;
            while !me.stop.load(Ordering::Relaxed) {
                if rng.gen_bool(0.5) {
                    me.register_call(client, &root, &mut n, &mut rng);
                } else {
                    me.folder_call(client, &root, &mut rng);
                }
            }
        })
    }

    /// Stop every client (their threads end after their current call).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    fn fail(&self, what: String) {
        self.failed.lock().unwrap_or_else(|e| e.into_inner()).push(what);
    }

    fn register_call(&self, client: u32, root: &Path, n: &mut u64, rng: &mut impl Rng) {
        let key = format!("k{}", rng.gen_range(0..KEYS));
        let path = root.join("reg").join(&key);
        if rng.gen_bool(0.5) {
            let id = self.regs.invoke(client, RegisterInput::Read(key.clone()));
            match std::fs::read(&path) {
                Ok(b) => match std::str::from_utf8(&b).ok().and_then(|s| s.parse::<u64>().ok()) {
                    Some(v) => self.regs.complete(id, RegisterOutput::Read(Some(v))),
                    // An empty file: never a value written (values start at 1), so shown as 0.
                    None if b.is_empty() => self.regs.complete(id, RegisterOutput::Read(Some(0))),
                    // Not a value ever written: the checker will say so.
                    None => self.regs.complete(id, RegisterOutput::Read(Some(u64::MAX))),
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    self.regs.complete(id, RegisterOutput::Read(None))
                }
                Err(e) => {
                    self.regs.unknown(id);
                    self.fail(format!("client {client}: read {key}: {e}"));
                }
            }
        } else {
            let value = self.next_value.fetch_add(1, Ordering::Relaxed);
            let id = self.regs.invoke(client, RegisterInput::Write(key.clone(), value));
            *n += 1;
            let tmp = root.join("tmp").join(format!("c{client}-{n}"));
            if let Err(e) = write_and_close(&tmp, value.to_string().as_bytes()) {
                // The value never reached reg/: certainly no effect.
                self.regs.complete(id, RegisterOutput::WriteFailed);
                self.fail(format!("client {client}: write {key} (temporary file): {e}"));
                return;
            }
            match std::fs::rename(&tmp, &path) {
                Ok(()) => self.regs.complete(id, RegisterOutput::WriteOk),
                Err(e) => {
                    self.regs.unknown(id);
                    self.fail(format!("client {client}: write {key} (rename): {e}"));
                }
            }
        }
        self.completed.fetch_add(1, Ordering::Relaxed);
    }

    fn folder_call(&self, client: u32, root: &Path, rng: &mut impl Rng) {
        let folder = format!("d{}", rng.gen_range(0..FOLDERS));
        let dir = root.join(&folder);
        let name = || format!("n{}", rand::thread_rng().gen_range(0..NAMES));
        let op = match rng.gen_range(0..10) {
            0..=2 => FolderOp::Create(name()),
            3..=4 => FolderOp::Unlink(name()),
            // Without replacing: a plain rename racing another client's rename of the same
            // name can be answered by the kernel alone (see `FolderOp::RenameNoReplace`).
            5..=6 => FolderOp::RenameNoReplace(name(), name()),
            7..=8 => FolderOp::Exists(name()),
            _ => FolderOp::List,
        };
        let id = self.dirs.invoke(client, FolderInput::new(folder.clone(), op.clone()));
        let not_found = |e: &std::io::Error| e.kind() == std::io::ErrorKind::NotFound;
        let result: Result<FolderOutput, std::io::Error> = match &op {
            FolderOp::Create(n) => match std::fs::OpenOptions::new().write(true).create_new(true).open(dir.join(n)) {
                Ok(_) => Ok(FolderOutput::Created),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(FolderOutput::AlreadyExists),
                Err(e) => Err(e),
            },
            FolderOp::Unlink(n) => match std::fs::remove_file(dir.join(n)) {
                Ok(()) => Ok(FolderOutput::Removed),
                Err(e) if not_found(&e) => Ok(FolderOutput::NotFound),
                Err(e) => Err(e),
            },
            FolderOp::Rename(a, b) => match std::fs::rename(dir.join(a), dir.join(b)) {
                Ok(()) => Ok(FolderOutput::Renamed),
                Err(e) if not_found(&e) => Ok(FolderOutput::NotFound),
                Err(e) => Err(e),
            },
            FolderOp::RenameNoReplace(a, b) => match rename_noreplace(&dir.join(a), &dir.join(b)) {
                Ok(()) => Ok(FolderOutput::Renamed),
                Err(e) if not_found(&e) => Ok(FolderOutput::NotFound),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(FolderOutput::AlreadyExists),
                Err(e) => Err(e),
            },
            FolderOp::Exists(n) => match std::fs::symlink_metadata(dir.join(n)) {
                Ok(_) => Ok(FolderOutput::Exists(true)),
                Err(e) if not_found(&e) => Ok(FolderOutput::Exists(false)),
                Err(e) => Err(e),
            },
            FolderOp::List => std::fs::read_dir(&dir).and_then(|rd| {
                let mut names = Vec::new();
                for entry in rd {
                    names.push(entry?.file_name().to_string_lossy().into_owned());
                }
                Ok(FolderOutput::List(names))
            }),
        };
        match result {
            Ok(out) => self.dirs.complete(id, out),
            Err(e) => {
                self.dirs.unknown(id);
                self.fail(format!("client {client}: {folder} {op:?}: {e}"));
            }
        }
        self.completed.fetch_add(1, Ordering::Relaxed);
    }

    /// Read register `key` under `root` as client `client`, recorded (the last word on it).
    pub fn final_read(&self, client: u32, root: &Path, key: &str) {
        let id = self.regs.invoke(client, RegisterInput::Read(key.to_string()));
        match std::fs::read(root.join("reg").join(key)) {
            Ok(b) => {
                let v = std::str::from_utf8(&b).ok().and_then(|s| s.parse::<u64>().ok()).unwrap_or(u64::MAX);
                self.regs.complete(id, RegisterOutput::Read(Some(v)));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => self.regs.complete(id, RegisterOutput::Read(None)),
            Err(e) => {
                self.regs.unknown(id);
                self.fail(format!("final read of {key}: {e}"));
            }
        }
    }

    /// List folder `folder` under `root` as client `client`, recorded.
    pub fn final_list(&self, client: u32, root: &Path, folder: &str) {
        let id = self.dirs.invoke(client, FolderInput::new(folder.to_string(), FolderOp::List));
        let names = std::fs::read_dir(root.join(folder)).and_then(|rd| {
            rd.map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned())).collect::<Result<Vec<_>, _>>()
        });
        match names {
            Ok(n) => self.dirs.complete(id, FolderOutput::List(n)),
            Err(e) => {
                self.dirs.unknown(id);
                self.fail(format!("final list of {folder}: {e}"));
            }
        }
    }

    /// Save both histories as JSON (`{"registers": ..., "folders": ...}`) to `path`, for
    /// reading a violation afterwards.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let regs = self.regs.finish().to_json().map_err(std::io::Error::other)?;
        let dirs = self.dirs.finish().to_json().map_err(std::io::Error::other)?;
        std::fs::write(path, format!("{{\"registers\": {regs},\n\"folders\": {dirs}}}\n"))
    }

    /// Check both histories (each within `budget`): a description of every problem found,
    /// empty when both are linearizable.
    pub fn check(&self, budget: Duration) -> Vec<String> {
        let mut problems = Vec::new();
        let regs = self.regs.finish();
        let dirs = self.dirs.finish();
        eprintln!(
            "history: {} register calls ({} unknown), {} folder calls ({} unknown)",
            regs.len(),
            regs.unknown_count(),
            dirs.len(),
            dirs.unknown_count()
        );
        let r = lincheck::check(&lincheck::models::register::RegisterModel::new(), &regs, budget);
        if !r.is_ok() {
            problems.push(format!("registers: {r}"));
        }
        let d = lincheck::check(&lincheck::models::folder::FolderModel::new(), &dirs, budget);
        if !d.is_ok() {
            problems.push(format!("folders: {d}"));
        }
        problems
    }
}

/// Create `path` with `data` and close it, reporting an error of the close too (the mount
/// writes buffered data back at close; `std::fs::write` drops the file and ignores what close
/// returns).
pub fn write_and_close(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::fd::IntoRawFd;
    let mut f = std::fs::File::create(path)?;
    f.write_all(data)?;
    let fd = f.into_raw_fd();
    // SAFETY: `fd` was just taken out of the `File`, which no longer owns it.
    if unsafe { libc::close(fd) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// `renameat2(from, to, RENAME_NOREPLACE)`.
pub fn rename_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(std::io::Error::other);
    let (from, to) = (c(from)?, c(to)?);
    // SAFETY: two NUL-terminated paths that live across the call.
    let rc =
        unsafe { libc::renameat2(libc::AT_FDCWD, from.as_ptr(), libc::AT_FDCWD, to.as_ptr(), libc::RENAME_NOREPLACE) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
