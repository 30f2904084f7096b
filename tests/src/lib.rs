//! Harness for process-level tests: real `mfsmaster` processes, each on its own loopback
//! address (127.0.B.x with a block B per test, so tests in one binary can run at once),
//! with data under a temporary folder.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use master::http::{DigestInfo, Status};

pub mod browser;
pub mod histories;
pub mod netns;
pub mod prometheus;
pub mod writer;

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

/// A command running `program` (a workspace binary), inside `host`'s network namespace when
/// there is one (`nsenter` execs the program: the child's pid is the program's).
fn command_on(host: Option<&netns::Host>, program: &str) -> Command {
    match host {
        None => Command::new(bin(program)),
        Some(h) => {
            let mut c = Command::new("nsenter");
            c.arg(format!("--net=/run/netns/{}", h.ns)).arg("--").arg(bin(program));
            c
        }
    }
}

/// Start daemon `program -c cfg -f start` (on `host`, if any) with its output appended to
/// `log`.
fn spawn_daemon(host: Option<&netns::Host>, program: &str, cfg: &Path, log: &Path) -> Child {
    let out = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("log");
    command_on(host, program)
        .arg("-c")
        .arg(cfg)
        .arg("-f")
        .arg("start")
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("log"))
        .stderr(out)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {program}: {e}"))
}

/// SIGKILL a daemon, if running, and reap it.
fn sigkill(child: &mut Option<Child>) {
    if let Some(mut c) = child.take() {
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// Read `size` bytes at `offset` of chunk `id` at `version` straight from the chunkserver at
/// `addr` (one copy, no fallback), with `token` ([`Cluster::read_token`]).
pub fn read_copy(
    rt: &tokio::runtime::Runtime,
    addr: &str,
    token: &proto::token::DataToken,
    id: u64,
    version: u32,
    offset: u32,
    size: u32,
) -> proto::data::DataResponse {
    use proto::data::{DataCall, DataOp, DataResponse};
    rt.block_on(async {
        let conn = proto::rpc::RpcConn::<DataCall, DataResponse>::connect(addr, Duration::from_secs(2))
            .await
            .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        let op = DataOp::Read { chunk_id: id, version, offset, size };
        // The token names the version the leader knew; a copy read at another version needs
        // the same chunk's token for that version, which only the leader can give.
        conn.call(DataCall { token: Some(token.clone()), op }, Duration::from_secs(10)).await.expect("call")
    })
}

/// A multi-threaded runtime for a test's client work (two workers, as the machine has).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

/// One master process of a test cluster.
pub struct MasterProc {
    pub id: u64,
    pub ip: String,
    /// Its host in a fault lab ([`Cluster::in_lab`]); `None` on loopback.
    pub host: Option<netns::Host>,
    pub dir: PathBuf,
    pub cfg: PathBuf,
    /// `mfsmaster`, or `mfsmetalogger` for a learner.
    pub program: &'static str,
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
    /// The exit status once the process has ended by itself (reaped here), `None` while it
    /// runs or when it was never started.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        let status = self.child.as_mut()?.try_wait().ok()??;
        self.child = None;
        Some(status)
    }
}

/// One chunkserver process of a test cluster.
pub struct CsProc {
    pub ip: String,
    /// Its host in a fault lab ([`Cluster::in_lab`]); `None` on loopback.
    pub host: Option<netns::Host>,
    pub dir: PathBuf,
    pub cfg: PathBuf,
    child: Option<Child>,
}

impl CsProc {
    pub fn data_addr(&self) -> String {
        format!("{}:9422", self.ip)
    }
    pub fn http_addr(&self) -> String {
        format!("{}:9427", self.ip)
    }
    /// The chunk folder (the one disk in its mfshdd.cfg).
    pub fn hdd(&self) -> PathBuf {
        self.dir.join("hdd")
    }
    pub fn log(&self) -> PathBuf {
        self.dir.join("chunkserver.log")
    }
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }
    /// Process id while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
    /// Chunk files on its disk: (chunk id, version, path).
    pub fn chunk_files(&self) -> Vec<(u64, u32, PathBuf)> {
        let mut out = Vec::new();
        let Ok(subs) = std::fs::read_dir(self.hdd()) else { return out };
        for sub in subs.flatten() {
            let Ok(files) = std::fs::read_dir(sub.path()) else { continue };
            for f in files.flatten() {
                let name = f.file_name().to_string_lossy().into_owned();
                let Some(rest) = name.strip_prefix("chunk_").and_then(|r| r.strip_suffix(".mfs")) else { continue };
                let Some((id, ver)) = rest.split_once('_') else { continue };
                if let (Ok(id), Ok(ver)) = (u64::from_str_radix(id, 16), u32::from_str_radix(ver, 16)) {
                    out.push((id, ver, f.path()));
                }
            }
        }
        out
    }
}

/// A group of masters, and chunkservers when asked for.
pub struct Cluster {
    pub masters: Vec<MasterProc>,
    pub chunkservers: Vec<CsProc>,
    /// tmpfs disks to unmount at the end.
    mounts: Vec<PathBuf>,
    /// Loop devices (ext4 disks) to detach at the end, after their mounts.
    loops: Vec<String>,
    _root: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
}

impl Cluster {
    /// Write configs for `n` masters on 127.0.`block`.11.. and start them all.
    /// `extra` is appended to every mfsmaster.cfg.
    pub fn start(block: u8, n: u64, extra: &str) -> Cluster {
        let ips: Vec<String> = (1..=n).map(|i| format!("127.0.{block}.{}", 10 + i)).collect();
        Self::start_on(ips.into_iter().map(|ip| (ip, None)).collect(), extra)
    }

    /// Three masters and three chunkservers, each on its own host of `lab` (masters on its
    /// first three hosts, chunkservers on the next three, added here), with a leader elected
    /// and every chunkserver registered. Faults are the lab's: cut, isolate, freeze.
    pub fn in_lab(lab: &mut netns::Lab, master_extra: &str, cs_extra: &str) -> Cluster {
        let hosts: Vec<netns::Host> = (0..3).map(|_| lab.add_host()).collect();
        let mut c = Self::start_on(hosts.into_iter().map(|h| (h.ip.clone(), Some(h))).collect(), master_extra);
        for _ in 0..3 {
            let h = lab.add_host();
            c.add_chunkserver_at(h.ip.clone(), Some(h), None, cs_extra);
        }
        c.wait_leader(Duration::from_secs(30));
        c.wait_chunkservers(3, Duration::from_secs(30));
        c
    }

    /// Masters at `at` (address, and host when in a lab), started.
    fn start_on(at: Vec<(String, Option<netns::Host>)>, extra: &str) -> Cluster {
        let n = at.len() as u64;
        let root = tempfile::Builder::new().prefix("raftmfs-test-").tempdir().expect("tempdir");
        let ips: Vec<String> = at.iter().map(|(ip, _)| ip.clone()).collect();
        let mut hosts: Vec<Option<netns::Host>> = at.into_iter().map(|(_, h)| h).collect();
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
            let host = hosts[i as usize - 1].take();
            let ip = ips[i as usize - 1].clone();
            masters.push(MasterProc { id: i, ip, host, dir, cfg, program: "mfsmaster", child: None });
        }
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let mut c =
            Cluster { masters, chunkservers: Vec::new(), mounts: Vec::new(), loops: Vec::new(), _root: root, rt };
        for i in 0..n as usize {
            c.start_master(i);
        }
        c
    }

    /// Three masters and three chunkservers on 127.0.`block`.x, with a leader elected and every
    /// chunkserver registered. `master_extra` / `cs_extra` are appended to their configs.
    pub fn with_chunkservers(block: u8, master_extra: &str, cs_extra: &str) -> Cluster {
        let mut c = Cluster::start(block, 3, master_extra);
        c.add_chunkservers(block, 3, cs_extra);
        c.wait_leader(Duration::from_secs(30));
        c.wait_chunkservers(3, Duration::from_secs(30));
        c
    }

    /// Add `n` chunkservers on 127.0.`block`.21.. pointing at every master, and start them.
    /// `extra` is appended to every mfschunkserver.cfg.
    pub fn add_chunkservers(&mut self, block: u8, n: usize, extra: &str) {
        self.add_chunkservers_with_disks(block, &vec![None; n], extra)
    }

    /// As `add_chunkservers`, one server per entry of `tmpfs_mib`: `Some(m)` puts that server's
    /// disk on a tmpfs of `m` MiB (a real disk that fills up), `None` on the test folder.
    pub fn add_chunkservers_with_disks(&mut self, block: u8, tmpfs_mib: &[Option<u64>], extra: &str) {
        for disk in tmpfs_mib {
            let k = self.chunkservers.len() + 1;
            self.add_chunkserver_at(format!("127.0.{block}.{}", 20 + k), None, *disk, extra);
        }
    }

    /// Add one chunkserver at `ip` (on `host` in a lab), its disk on a tmpfs of `disk` MiB
    /// or on the test folder, and start it.
    fn add_chunkserver_at(&mut self, ip: String, host: Option<netns::Host>, disk: Option<u64>, extra: &str) {
        let masters: Vec<String> = self.masters.iter().map(|m| m.ip.clone()).collect();
        {
            let k = self.chunkservers.len() + 1;
            let dir = self._root.path().join(format!("cs{k}"));
            std::fs::create_dir_all(dir.join("hdd")).expect("mkdir");
            std::fs::create_dir_all(dir.join("data")).expect("mkdir");
            if let Some(mib) = disk {
                let ok = Command::new("mount")
                    .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
                    .arg(dir.join("hdd"))
                    .status()
                    .expect("run mount");
                assert!(ok.success(), "mount tmpfs on {}", dir.join("hdd").display());
                self.mounts.push(dir.join("hdd"));
            }
            std::fs::write(dir.join("mfshdd.cfg"), format!("{}\n", dir.join("hdd").display())).expect("hdd cfg");
            let cfg = dir.join("mfschunkserver.cfg");
            std::fs::write(
                &cfg,
                format!(
                    "DATA_PATH = {}\nMASTER_HOST = {}\nCSSERV_LISTEN_HOST = {ip}\nHDD_CONF_FILENAME = {}\n\
                     HDD_LEAVE_SPACE_DEFAULT = 0\nMASTER_RECONNECTION_DELAY = 1\nMASTER_TIMEOUT = 3\nLOG_LEVEL = info\n{extra}\n",
                    dir.join("data").display(),
                    masters.join(","),
                    dir.join("mfshdd.cfg").display(),
                ),
            )
            .expect("write cs cfg");
            self.chunkservers.push(CsProc { ip, host, dir, cfg, child: None });
            self.start_chunkserver(k - 1);
        }
    }

    /// Add one chunkserver on 127.0.`block`.2x whose disk is an ext4 file system of `mib` MiB
    /// on a loop device (a real disk that [`Cluster::fail_disk`] can make fail), and start it.
    /// Returns its index.
    pub fn add_chunkserver_on_ext4(&mut self, block: u8, mib: u64, extra: &str) -> usize {
        let k = self.chunkservers.len() + 1;
        let image = self._root.path().join(format!("cs{k}-disk.img"));
        let hdd = self._root.path().join(format!("cs{k}")).join("hdd");
        std::fs::create_dir_all(&hdd).expect("mkdir");
        std::fs::File::create(&image).and_then(|f| f.set_len(mib << 20)).expect("disk image");
        let out = Command::new("losetup").arg("-f").arg("--show").arg(&image).output().expect("run losetup");
        assert!(out.status.success(), "losetup: {}", String::from_utf8_lossy(&out.stderr));
        let dev = String::from_utf8_lossy(&out.stdout).trim().to_string();
        self.loops.push(dev.clone());
        let ok = Command::new("mkfs.ext4").args(["-q", "-F", &dev]).status().expect("run mkfs.ext4");
        assert!(ok.success(), "mkfs.ext4 {dev}");
        let ok = Command::new("mount").arg(&dev).arg(&hdd).status().expect("run mount");
        assert!(ok.success(), "mount {dev} on {}", hdd.display());
        self.mounts.push(hdd);
        self.add_chunkservers(block, 1, extra);
        k - 1
    }

    /// Make chunkserver `i`'s disk fail for good, as a dying disk does: its ext4 file system is
    /// shut down (`EXT4_IOC_SHUTDOWN`, nothing more written), so every read, write and fsync
    /// on it fails with EIO from then on. The disk must come from
    /// [`Cluster::add_chunkserver_on_ext4`].
    pub fn fail_disk(&self, i: usize) {
        use std::os::unix::io::AsRawFd;
        // _IOR('X', 125, __u32)
        const EXT4_IOC_SHUTDOWN: libc::c_ulong = (2 << 30) | (4 << 16) | ((b'X' as libc::c_ulong) << 8) | 125;
        const EXT4_GOING_FLAGS_NOLOGFLUSH: u32 = 2;
        let dir = std::fs::File::open(self.chunkservers[i].hdd()).expect("open the disk's root");
        let flags = EXT4_GOING_FLAGS_NOLOGFLUSH;
        // SAFETY: the ioctl reads one u32 from the pointer, which stays valid for the call.
        let r = unsafe { libc::ioctl(dir.as_raw_fd(), EXT4_IOC_SHUTDOWN as _, &flags as *const u32) };
        assert_eq!(r, 0, "EXT4_IOC_SHUTDOWN: {}", std::io::Error::last_os_error());
    }

    /// Start chunkserver `i` in the foreground mode, output to its log.
    pub fn start_chunkserver(&mut self, i: usize) {
        let c = &mut self.chunkservers[i];
        assert!(c.child.is_none(), "chunkserver {} already running", i + 1);
        c.child = Some(spawn_daemon(c.host.as_ref(), "mfschunkserver", &c.cfg, &c.log()));
    }

    /// SIGKILL chunkserver `i` and reap it.
    pub fn kill_chunkserver(&mut self, i: usize) {
        sigkill(&mut self.chunkservers[i].child);
    }

    /// Wait until the leader lists `n` connected chunkservers.
    pub fn wait_chunkservers(&self, n: usize, limit: Duration) {
        wait_for(limit, &format!("{n} chunkservers registered with the leader"), || {
            let leader = (0..self.masters.len()).find(|&i| self.status(i).is_some_and(|s| s.role == "leader"))?;
            let body = self.get(&self.masters[leader].http_addr(), "/api/v1/chunkservers")?;
            let v: serde_json::Value = serde_json::from_str(&body).ok()?;
            (v.as_array()?.len() >= n).then_some(())
        })
    }

    /// Configure a new master `id` at `ip` (its `RAFT_PEERS`: every master so far and itself)
    /// and start it; returns its index in `masters`. It joins nothing by itself: the group
    /// takes it in through a membership change (`mfscli add-master`).
    pub fn add_master(&mut self, id: u64, ip: &str, extra: &str) -> usize {
        self.add_node("mfsmaster", id, ip, extra)
    }

    /// As [`Cluster::add_master`], an `mfsmetalogger` (a learner the group takes in with
    /// `mfscli add-learner`).
    pub fn add_metalogger(&mut self, id: u64, ip: &str, extra: &str) -> usize {
        self.add_node("mfsmetalogger", id, ip, extra)
    }

    fn add_node(&mut self, program: &'static str, id: u64, ip: &str, extra: &str) -> usize {
        let dir = self._root.path().join(format!("m{id}"));
        std::fs::create_dir_all(dir.join("data")).expect("mkdir");
        let mut peers: Vec<String> = self.masters.iter().map(|m| format!("{}@{}", m.id, m.ip)).collect();
        peers.push(format!("{id}@{ip}"));
        let cfg = dir.join("mfsmaster.cfg");
        std::fs::write(
            &cfg,
            format!(
                "DATA_PATH = {}\nRAFT_NODE_ID = {id}\nRAFT_PEERS = {}\nLOG_LEVEL = info\n{extra}\n",
                dir.join("data").display(),
                peers.join(",")
            ),
        )
        .expect("write cfg");
        self.masters.push(MasterProc { id, ip: ip.to_string(), host: None, dir, cfg, program, child: None });
        let i = self.masters.len() - 1;
        self.start_master(i);
        i
    }

    /// Start master `i` (index into `masters`) in the foreground mode, output to its log.
    pub fn start_master(&mut self, i: usize) {
        let m = &mut self.masters[i];
        assert!(m.child.is_none(), "master {} already running", m.id);
        m.child = Some(spawn_daemon(m.host.as_ref(), m.program, &m.cfg, &m.log()));
    }

    /// SIGKILL master `i` and reap it.
    pub fn kill(&mut self, i: usize) {
        sigkill(&mut self.masters[i].child);
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

    /// `/metrics` text of chunkserver `i`.
    pub fn cs_metrics(&self, i: usize) -> Option<String> {
        self.get(&self.chunkservers[i].http_addr(), "/metrics")
    }

    /// Wait until master `i` votes: one started on an empty disk withholds its vote until the
    /// leader has recorded its new disk (after it caught up).
    pub fn wait_votes(&self, i: usize, limit: Duration) {
        wait_for(limit, "the master's vote (its disk recorded)", || {
            self.metrics(i).filter(|m| m.contains("\nmfsmaster_raft_vote_withheld 0")).map(|_| ())
        });
    }

    /// Index of the master that leads with a quorum, waiting up to `limit`.
    pub fn wait_leader(&self, limit: Duration) -> usize {
        wait_for(limit, "a leader with a quorum", || {
            (0..self.masters.len()).find(|&i| self.status(i).is_some_and(|s| s.role == "leader" && s.healthy))
        })
    }

    /// A client session with the masters, and file I/O through the chunkservers.
    pub fn file_io(&self, rt: &tokio::runtime::Runtime) -> client::FileIo {
        let addrs = self.client_addrs();
        let addrs: Vec<&str> = addrs.iter().map(String::as_str).collect();
        let meta = rt.block_on(client::MasterClient::connect(client::ClientConfig::new(&addrs))).expect("connect");
        client::FileIo::new(std::sync::Arc::new(meta))
    }

    /// A read token for chunk `index` of file `ino`, as the leader gives one to any client
    /// that may read the file: what a test needs to read one copy straight from its
    /// chunkserver ([`read_copy`]).
    pub fn read_token(&self, rt: &tokio::runtime::Runtime, ino: u64, index: u32) -> proto::token::DataToken {
        let io = self.file_io(rt);
        let op = proto::client::ReadOp::ChunkRead { ino, index };
        match rt.block_on(io.meta.read(&proto::meta::Creds::root(), op)) {
            Ok(proto::client::Reply::Chunk(loc)) => loc.token.expect("a chunk read answer carries a token"),
            other => panic!("chunk read of {ino}[{index}]: {other:?}"),
        }
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
        for i in 0..self.chunkservers.len() {
            self.kill_chunkserver(i);
        }
        for i in 0..self.masters.len() {
            self.kill(i);
        }
        for m in &self.mounts {
            let _ = Command::new("umount").arg("-l").arg(m).status();
        }
        for dev in &self.loops {
            let _ = Command::new("losetup").arg("-d").arg(dev).status();
        }
        if std::thread::panicking() || std::env::var_os("RAFTMFS_KEEP_CLUSTER").is_some() {
            // Keep the logs and data of a failed test (or of every test, with
            // RAFTMFS_KEEP_CLUSTER set) for reading.
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

// ---- FUSE mounts (issue 4) ----

/// A running `mfsmount -f`, unmounted (and the process reaped) on drop.
pub struct Mount {
    /// The mount point.
    pub dir: PathBuf,
    /// The mount's log (its stderr).
    pub log: PathBuf,
    child: Option<Child>,
    _tmp: tempfile::TempDir,
}

/// True when `dir` is a mount point in /proc/mounts.
pub fn is_mounted(dir: &Path) -> bool {
    let text = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let want = dir.to_string_lossy().into_owned();
    text.lines().any(|l| l.split_whitespace().nth(1) == Some(want.as_str()))
}

/// Wait until `dir` holds a mounted RaftMFS (its `.raftmfs` file answers).
pub fn wait_mounted(dir: &Path, limit: Duration) {
    wait_for(limit, &format!("RaftMFS mounted on {}", dir.display()), || {
        (is_mounted(dir) && std::fs::metadata(dir.join(".raftmfs")).is_ok()).then_some(())
    })
}

impl Cluster {
    /// Master list for `mfsmount -H`.
    pub fn hosts_arg(&self) -> String {
        self.client_addrs().join(",")
    }

    /// Mount the cluster in the foreground (`mfsmount -f`) on a new temporary folder, with
    /// `extra` arguments, and wait until it answers.
    pub fn mount(&self, extra: &[&str]) -> Mount {
        self.mount_on(None, extra)
    }

    /// As [`Cluster::mount`], with `mfsmount` running on `host` of a lab (its network is that
    /// host's; the mount point is visible to the test as any other).
    pub fn mount_on(&self, host: Option<&netns::Host>, extra: &[&str]) -> Mount {
        let tmp = tempfile::Builder::new().prefix("raftmfs-mnt-").tempdir().expect("tempdir");
        let dir = tmp.path().join("mnt");
        std::fs::create_dir(&dir).expect("mkdir mnt");
        let log = tmp.path().join("mfsmount.log");
        let logf = std::fs::File::create(&log).expect("log");
        let child = command_on(host, "mfsmount")
            .arg(&dir)
            .arg("-f")
            .arg("-H")
            .arg(self.hosts_arg())
            .args(extra)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(logf.try_clone().expect("log"))
            .stderr(logf)
            .spawn()
            .expect("spawn mfsmount");
        let mut m = Mount { dir, log, child: Some(child), _tmp: tmp };
        let deadline = Instant::now() + Duration::from_secs(30);
        // A file mount answers its `.raftmfs`; a meta mount (`-m`) its `trash` folder.
        let probe = if extra.iter().any(|a| *a == "-m" || *a == "--meta") { "trash" } else { ".raftmfs" };
        loop {
            if is_mounted(&m.dir) && std::fs::metadata(m.dir.join(probe)).is_ok() {
                break;
            }
            if let Some(Ok(Some(st))) = m.child.as_mut().map(|c| c.try_wait()) {
                panic!("mfsmount exited with {st} before mounting:\n{}", m.log_tail(40));
            }
            assert!(Instant::now() < deadline, "mount not up after 30 s:\n{}", m.log_tail(40));
            std::thread::sleep(Duration::from_millis(50));
        }
        m
    }
}

impl Mount {
    /// `dir` made with goal `goal` (by `mfssetgoal`) and `n` files of 1 MiB in it, file `fI`
    /// filled with the byte I.
    pub fn goal_files(&self, dir: &str, goal: u8, n: usize) {
        std::fs::create_dir(self.path(dir)).expect("mkdir");
        let path = self.path(dir);
        let goal = goal.to_string();
        assert!(run_tool("mfssetgoal", &[&goal, path.to_str().expect("utf-8")]).0, "mfssetgoal");
        for i in 0..n {
            std::fs::write(self.path(&format!("{dir}/f{i}")), vec![i as u8; 1 << 20]).expect("write");
        }
    }

    /// A path inside the mount.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// Process id of the mount.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The last lines of the mount's log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let v: Vec<&str> = text.lines().collect();
        v[v.len().saturating_sub(lines)..].join("\n")
    }

    /// `umount` the mount point and wait for `mfsmount` to exit; its exit status.
    pub fn unmount(&mut self) -> std::process::ExitStatus {
        let st = Command::new("umount").arg(&self.dir).status().expect("run umount");
        assert!(st.success(), "umount {} failed", self.dir.display());
        let mut child = self.child.take().expect("mount process");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(st) = child.try_wait().expect("wait mfsmount") {
                return st;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("mfsmount did not exit after umount:\n{}", self.log_tail(40));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if is_mounted(&self.dir) {
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
        if let Some(mut c) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline && matches!(c.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            eprintln!("mfsmount log {}:\n{}", self.log.display(), self.log_tail(60));
        }
    }
}

/// A process's memory from `/proc/PID/status`: (`VmRSS`, `VmData`) in bytes. `VmData` counts
/// every allocation, touched or not (a large zeroed allocation is an untouched mapping: it
/// shows in `VmData` long before it shows in `VmRSS`).
pub fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or_else(|| panic!("{name} in /proc/{pid}/status"))
            * 1024
    };
    (field("VmRSS:"), field("VmData:"))
}

/// Run a workspace binary (a tool such as `mfsfileinfo`) with `args`; (success, stdout, stderr).
pub fn run_tool(name: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(bin(name)).args(args).output().expect("run tool");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Run a shell command line in `dir`; panics with its output when it fails.
pub fn sh(dir: &Path, cmd: &str) -> String {
    let out = Command::new("bash").arg("-c").arg(cmd).current_dir(dir).output().expect("run bash");
    assert!(
        out.status.success(),
        "`{cmd}` failed in {}:\nstdout: {}\nstderr: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Remove ANSI colour sequences.
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for d in chars.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}
