//! The deployment files (`deploy/`) on three "hosts" (network namespaces with their own
//! addresses), installed as the guide says: binaries in `usr/sbin`, `deploy/etc/*` in `etc/mfs`
//! with the example addresses replaced, each daemon started by its systemd unit's `ExecStart`
//! line as the unit's `User=` (mfs), one master and one chunkserver per host. A fourth host
//! mounts through the `/etc/fstab` line of the guide (`mount -t fuse ... mfsmount`), with the
//! admin password of the example `mfsexports.cfg`, and writes files while one master is
//! replaced by a new one on an empty disk (`mfscli replace-master`): no error, every file reads
//! back, the masters' digests agree.
//!
//! Each host's files live in its own folder (its "/"); lab 95 (10.95.0.0/24).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use raftmfs_tests::netns::{Host, Lab};
use raftmfs_tests::prometheus::repo;
use raftmfs_tests::writer::FileWriter;
use raftmfs_tests::{bin, runtime, wait_for};

const LAB: u8 = 95;
const LIMIT: Duration = Duration::from_secs(90);

/// One installed host: its folder standing for "/", and what runs on it.
struct Installed {
    host: Host,
    root: PathBuf,
    daemons: Vec<Child>,
}

impl Drop for Installed {
    fn drop(&mut self) {
        for c in &mut self.daemons {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Installed {
    /// A path of this host ("/etc/mfs/..." → its folder).
    fn path(&self, abs: &str) -> PathBuf {
        self.root.join(abs.trim_start_matches('/'))
    }

    /// Rewrite a file of `deploy/` for this host: its absolute paths into the host's folder,
    /// the example names and networks into the lab's addresses.
    fn adapt(&self, text: &str, names: &[(String, String)]) -> String {
        let mut t = text.to_string();
        for (from, to) in names {
            t = t.replace(from.as_str(), to);
        }
        for dir in ["/etc/mfs", "/var/lib/mfs", "/mnt/hdd1", "/mnt/hdd2", "/usr/sbin"] {
            t = t.replace(dir, &self.path(dir).display().to_string());
        }
        t
    }

    /// Run the `ExecStart` of a unit file of `deploy/systemd`, as its `User=`, in this host.
    fn start_unit(&mut self, unit: &str, names: &[(String, String)]) {
        let text = std::fs::read_to_string(repo().join("deploy/systemd").join(unit)).expect("unit file");
        let exec = text.lines().find_map(|l| l.strip_prefix("ExecStart=")).expect("ExecStart");
        let user = text.lines().find_map(|l| l.strip_prefix("User=")).unwrap_or("root");
        let exec = self.adapt(exec, names);
        let args: Vec<&str> = exec.split_whitespace().collect();
        let log = std::fs::File::create(self.root.join(format!("{unit}.log"))).expect("log");
        let child = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", self.host.ns))
            .args(["setpriv", &format!("--reuid={user}"), &format!("--regid={user}"), "--init-groups", "--"])
            .args(&args)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("start the unit's ExecStart");
        self.daemons.push(child);
    }
}

fn mfs_ids() -> (u32, u32) {
    if Command::new("id").arg("mfs").output().map(|o| !o.status.success()).unwrap_or(true) {
        let st = Command::new("useradd")
            .args(["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "mfs"])
            .status();
        assert!(st.is_ok_and(|s| s.success()), "useradd mfs");
    }
    let id = |flag: &str| -> u32 {
        let out = Command::new("id").args([flag, "mfs"]).output().expect("id");
        String::from_utf8_lossy(&out.stdout).trim().parse().expect("an id")
    };
    (id("-u"), id("-g"))
}

fn chown_r(path: &Path, uid: u32, gid: u32) {
    let st = Command::new("chown").arg("-R").arg(format!("{uid}:{gid}")).arg(path).status().expect("chown");
    assert!(st.success());
}

/// Install host `n` (master `id`): binaries, the example configs adapted, folders owned by mfs.
fn install(dir: &Path, host: Host, id: u64, names: &[(String, String)], ids: (u32, u32)) -> Installed {
    let root = dir.join(format!("host{id}"));
    let h = Installed { host, root, daemons: Vec::new() };
    for d in ["/usr/sbin", "/etc/mfs", "/var/lib/mfs", "/mnt/hdd1", "/mnt/hdd2"] {
        std::fs::create_dir_all(h.path(d)).expect("mkdir");
    }
    for b in ["mfsmaster", "mfschunkserver", "mfscli", "mfsmount", "mfsmetarestore"] {
        std::fs::copy(bin(b), h.path("/usr/sbin").join(b)).expect("install a binary");
    }
    for f in ["mfsmaster.cfg", "mfschunkserver.cfg", "mfshdd.cfg", "mfsexports.cfg", "mfstopology.cfg"] {
        let text = std::fs::read_to_string(repo().join("deploy/etc").join(f)).expect("example config");
        let mut text = h.adapt(&text, names);
        if f == "mfsmaster.cfg" {
            text = text.replace("RAFT_NODE_ID = 1", &format!("RAFT_NODE_ID = {id}"));
        }
        std::fs::write(h.path("/etc/mfs").join(f), text).expect("write config");
    }
    chown_r(&h.path("/var/lib/mfs"), ids.0, ids.1);
    chown_r(&h.path("/mnt"), ids.0, ids.1);
    h
}

fn http(addr: &str, path: &str) -> Option<String> {
    match runtime().block_on(master::admin::http_get(addr, path, Duration::from_secs(2))) {
        Ok((200, body)) => Some(body),
        _ => None,
    }
}

fn status(ip: &str) -> Option<master::http::Status> {
    serde_json::from_str(&http(&format!("{ip}:9425"), "/api/v1/status")?).ok()
}

#[test]
fn three_hosts_from_the_deploy_files_survive_a_master_replaced_on_an_empty_disk() {
    assert_eq!(unsafe { libc::geteuid() }, 0, "lab tests run as root");
    let mut lab = Lab::new(LAB);
    let hosts: Vec<Host> = (0..5).map(|_| lab.add_host()).collect();
    let client = hosts[3].clone();
    let ips: Vec<String> = hosts.iter().map(|h| h.ip.clone()).collect();
    // The example names and networks, as an operator replaces them.
    let names: Vec<(String, String)> = vec![
        ("mfsmaster1".into(), ips[0].clone()),
        ("mfsmaster2".into(), ips[1].clone()),
        ("mfsmaster3".into(), ips[2].clone()),
        ("192.168.1.0/24".into(), format!("10.{LAB}.0.0/24")),
        ("192.168.1.10".into(), client.ip.clone()),
        ("192.168.1.0/25".into(), format!("10.{LAB}.0.0/25")),
        ("192.168.1.128/25".into(), format!("10.{LAB}.0.128/25")),
        ("HDD_LEAVE_SPACE_DEFAULT = 4GiB".into(), "HDD_LEAVE_SPACE_DEFAULT = 256MiB".into()),
    ];
    let ids = mfs_ids();
    let dir = tempfile::Builder::new().prefix("raftmfs-deploy-").tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let mut installed: Vec<Installed> =
        (0..3).map(|i| install(dir.path(), hosts[i].clone(), i as u64 + 1, &names, ids)).collect();
    for h in &mut installed {
        h.start_unit("mfsmaster.service", &names);
        h.start_unit("mfschunkserver.service", &names);
    }
    wait_for(LIMIT, "a leader and three chunkservers", || {
        let leader = ips[..3].iter().filter_map(|ip| status(ip)).find(|s| s.role == "leader" && s.healthy)?;
        let lip = &ips[(leader.id - 1) as usize];
        let text = http(&format!("{lip}:9425"), "/metrics")?;
        text.contains("\nmfsmaster_chunkservers_connected 3").then_some(())
    });

    // The client host mounts through the guide's /etc/fstab line.
    let mnt = dir.path().join("mnt");
    std::fs::create_dir_all(&mnt).expect("mkdir mnt");
    let sbin = installed[0].path("/usr/sbin");
    let mount_log = dir.path().join("mfsmount.log");
    let options = format!(
        "mfsmaster={},{},{},_netdev,nofail,mfspassword=change-me,mfslogfile={}",
        ips[0],
        ips[1],
        ips[2],
        mount_log.display()
    );
    // The fstab line names the program `mfsmount` (found in PATH when installed); here the
    // installed copy's path, as this machine may have MooseFS's own mfsmount in PATH.
    let program = sbin.join("mfsmount");
    let out = Command::new("nsenter")
        .arg(format!("--net=/run/netns/{}", client.ns))
        .args(["mount", "-t", "fuse", "-o", &options])
        .arg(&program)
        .arg(&mnt)
        .output()
        .expect("mount");
    assert!(
        out.status.success(),
        "mount: {}{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(&mount_log).unwrap_or_default()
    );
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(mnt.clone());
    std::fs::create_dir(mnt.join("w")).expect("mkdir in the mount (admin rule: root stays root)");
    let mut writer = FileWriter::start(mnt.join("w"));
    assert!(writer.wait_past(0, 20, LIMIT), "the client writes");

    // Master 3's disk dies (its chunkserver, on other disks, stays): a new master (id 4, on
    // the fifth host) replaces it, installed the same way.
    {
        let dead = &mut installed[2];
        let mut master = dead.daemons.remove(0);
        let _ = master.kill();
        let _ = master.wait();
        for f in std::fs::read_dir(dead.path("/var/lib/mfs")).expect("data folder").flatten() {
            let p = f.path();
            if p.is_dir() {
                std::fs::remove_dir_all(&p).expect("the disk is gone");
            }
        }
    }
    let mut names4 = names.clone();
    names4.insert(
        0,
        (
            "RAFT_PEERS = 1@mfsmaster1,2@mfsmaster2,3@mfsmaster3".into(),
            format!("RAFT_PEERS = 1@{},2@{},3@{},4@{}", ips[0], ips[1], ips[2], ips[4]),
        ),
    );
    let mut four = install(dir.path(), hosts[4].clone(), 4, &names4, ids);
    four.start_unit("mfsmaster.service", &names4);
    let cfg1 = installed[0].path("/etc/mfs/mfsmaster.cfg");
    let out = Command::new("nsenter")
        .arg(format!("--net=/run/netns/{}", installed[0].host.ns))
        .arg(installed[0].path("/usr/sbin/mfscli"))
        .arg("-c")
        .arg(&cfg1)
        .args(["replace-master", "3", &format!("4@{}", ips[4])])
        .output()
        .expect("mfscli");
    assert!(
        out.status.success(),
        "replace-master: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let done = writer.done();
    assert!(writer.wait_past(done, 20, LIMIT), "the client writes on");

    let written = writer.stop();
    assert!(writer.errors().is_empty(), "the client saw errors: {:?}", writer.errors());
    assert_eq!(writer.verify(&mnt.join("w")), Ok(written), "every file reads back");
    let live = [&ips[0], &ips[1], &ips[4]];
    let digests = wait_for(LIMIT, "the three masters at one index", || {
        let ds: Vec<master::http::DigestInfo> = live
            .iter()
            .map(|ip| serde_json::from_str(&http(&format!("{ip}:9425"), "/api/v1/digest")?).ok())
            .collect::<Option<_>>()?;
        ds.windows(2).all(|w| w[0].applied_index == w[1].applied_index).then_some(ds)
    });
    assert!(digests.windows(2).all(|w| w[0].digest == w[1].digest), "digests: {digests:?}");
    let s = status(&ips[0]).expect("status");
    let mut voters = s.voters.clone();
    voters.sort();
    assert_eq!(voters, vec![1, 2, 4]);
    drop(four);
}
