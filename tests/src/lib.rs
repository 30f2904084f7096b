//! Harness for process-level tests: real `mfsmaster` processes, each on its own loopback
//! address (127.0.B.x with a block B per test, so tests in one binary can run at once),
//! with data under a temporary folder.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use master::http::{DigestInfo, Status};

/// Find a binary of the workspace next to the running test executable.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("executable path");
    // Test executables live in target/release/deps, other binaries in target/release.
    let dirs = [exe.parent(), exe.parent().and_then(Path::parent)];
    for d in dirs.into_iter().flatten() {
        let p = d.join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!("{name} not built next to {}: run `cargo build --release --workspace --bins` first", exe.display())
}

/// Wait until `f` returns Some, or panic with `what` after `limit`.
pub fn wait_for<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One master process of a test cluster.
pub struct MasterProc {
    pub id: u64,
    pub ip: String,
    pub dir: PathBuf,
    pub cfg: PathBuf,
    child: Option<Child>,
}

impl MasterProc {
    pub fn client_addr(&self) -> String {
        format!("{}:9421", self.ip)
    }
    pub fn raft_addr(&self) -> String {
        format!("{}:9419", self.ip)
    }
    pub fn http_addr(&self) -> String {
        format!("{}:9425", self.ip)
    }
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }
    pub fn log(&self) -> PathBuf {
        self.dir.join("master.log")
    }
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }
    /// Process id while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

/// A group of masters.
pub struct Cluster {
    pub masters: Vec<MasterProc>,
    _root: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
}

impl Cluster {
    /// Write configs for `n` masters on 127.0.`block`.11.. and start them all.
    /// `extra` is appended to every mfsmaster.cfg.
    pub fn start(block: u8, n: u64, extra: &str) -> Cluster {
        let root = tempfile::Builder::new().prefix("raftmfs-test-").tempdir().expect("tempdir");
        let ips: Vec<String> = (1..=n).map(|i| format!("127.0.{block}.{}", 10 + i)).collect();
        let peers: Vec<String> = (1..=n).map(|i| format!("{i}@{}", ips[i as usize - 1])).collect();
        let mut masters = Vec::new();
        for i in 1..=n {
            let dir = root.path().join(format!("m{i}"));
            std::fs::create_dir_all(dir.join("data")).expect("mkdir");
            let cfg = dir.join("mfsmaster.cfg");
            std::fs::write(
                &cfg,
                format!(
                    "DATA_PATH = {}\nRAFT_NODE_ID = {i}\nRAFT_PEERS = {}\nLOG_LEVEL = info\n{extra}\n",
                    dir.join("data").display(),
                    peers.join(",")
                ),
            )
            .expect("write cfg");
            masters.push(MasterProc { id: i, ip: ips[i as usize - 1].clone(), dir, cfg, child: None });
        }
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let mut c = Cluster { masters, _root: root, rt };
        for i in 0..n as usize {
            c.start_master(i);
        }
        c
    }

    /// Start master `i` (index into `masters`) in the foreground mode, output to its log.
    pub fn start_master(&mut self, i: usize) {
        let m = &mut self.masters[i];
        assert!(m.child.is_none(), "master {} already running", m.id);
        let log = std::fs::OpenOptions::new().create(true).append(true).open(m.log()).expect("log");
        let child = Command::new(bin("mfsmaster"))
            .arg("-c")
            .arg(&m.cfg)
            .arg("-f")
            .arg("start")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn mfsmaster");
        m.child = Some(child);
    }

    /// SIGKILL master `i` and reap it.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.masters[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Remove master `i`'s whole data folder (it must be stopped).
    pub fn wipe(&mut self, i: usize) {
        assert!(!self.masters[i].is_running());
        let d = self.masters[i].data_dir();
        std::fs::remove_dir_all(&d).expect("wipe");
        std::fs::create_dir_all(&d).expect("mkdir");
    }

    fn get(&self, addr: &str, path: &str) -> Option<String> {
        match self.rt.block_on(master::admin::http_get(addr, path, Duration::from_secs(2))) {
            Ok((200, body)) => Some(body),
            _ => None,
        }
    }

    /// `/api/v1/status` of master `i`, if it answers.
    pub fn status(&self, i: usize) -> Option<Status> {
        if !self.masters[i].is_running() {
            return None;
        }
        serde_json::from_str(&self.get(&self.masters[i].http_addr(), "/api/v1/status")?).ok()
    }

    /// `/api/v1/digest` of master `i`.
    pub fn digest(&self, i: usize) -> Option<DigestInfo> {
        serde_json::from_str(&self.get(&self.masters[i].http_addr(), "/api/v1/digest")?).ok()
    }

    /// `/metrics` text of master `i`.
    pub fn metrics(&self, i: usize) -> Option<String> {
        self.get(&self.masters[i].http_addr(), "/metrics")
    }

    /// Index of the master that leads with a quorum, waiting up to `limit`.
    pub fn wait_leader(&self, limit: Duration) -> usize {
        wait_for(limit, "a leader with a quorum", || {
            (0..self.masters.len()).find(|&i| self.status(i).is_some_and(|s| s.role == "leader" && s.healthy))
        })
    }

    /// Client addresses of every master, for `ClientConfig`.
    pub fn client_addrs(&self) -> Vec<String> {
        self.masters.iter().map(|m| m.client_addr()).collect()
    }

    /// Wait until every running master has applied the same index and report their digests.
    pub fn wait_converged(&self, limit: Duration) -> Vec<DigestInfo> {
        wait_for(limit, "all running masters at the same applied index", || {
            let ds: Vec<DigestInfo> = (0..self.masters.len())
                .filter(|&i| self.masters[i].is_running())
                .map(|i| self.digest(i))
                .collect::<Option<Vec<_>>>()?;
            let first = ds.first()?.applied_index;
            ds.iter().all(|d| d.applied_index == first && first.is_some()).then_some(ds)
        })
    }

    /// The last lines of master `i`'s log, for failure messages.
    pub fn log_tail(&self, i: usize, lines: usize) -> String {
        let text = std::fs::read_to_string(self.masters[i].log()).unwrap_or_default();
        let v: Vec<&str> = text.lines().collect();
        v[v.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.masters.len() {
            self.kill(i);
        }
        if std::thread::panicking() {
            // Keep the logs and data of a failed test for reading.
            let kept = self._root.path().to_path_buf();
            let dest = std::env::temp_dir().join(format!(
                "raftmfs-failed-{}",
                kept.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
            ));
            if std::fs::rename(&kept, &dest).is_ok() {
                eprintln!("test cluster kept for inspection in {}", dest.display());
            }
        }
    }
}
