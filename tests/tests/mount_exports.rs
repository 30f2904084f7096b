//! `mfsexports.cfg` end to end: real masters reading an exports file, real mounts opening
//! sessions under it. Passwords by challenge, read-only exports, root and all-user mapping,
//! subfolder exports, address rules, `mfsmaster reload`, a bad file at start and on reload,
//! and a read-only session still read-only under a new leader after the old one is killed.
//!
//! One cluster on 127.0.55.x for the whole file: the phases run in order and later ones reuse
//! the folders and sessions of earlier ones.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use client::{ClientConfig, ClientError, MasterClient};
use proto::meta::{Creds, ROOT_INODE};
use proto::Errno;
use raftmfs_tests::{bin, runtime, wait_for, Cluster};

const BLOCK: u8 = 55;

/// Phase 1: the whole tree needs a password; `/pub` is read-only for anyone; `/squash` maps
/// root; `/all` maps everyone; `/sub` is the only folder of its rule.
const PHASE1: &str = "\
# RaftMFS test exports, phase 1
*               /        rw,alldirs,maproot=0:0,password=secret
*               /pub     ro,maproot=0:0
*               /squash  rw,maproot=1234:2345
*               /all     rw,mapall=4321:5432
*               /sub     rw,maproot=0:0
";

/// Phase 2 (after reload): only `/sub`, and the whole tree only for an address we do not have.
const PHASE2: &str = "\
*               /sub     rw,maproot=0:0
10.9.9.0/24     /        rw,alldirs,maproot=0:0
";

/// Run `mfsmount -f` expecting it to refuse: its exit status must be a failure and its output
/// must contain `want`.
fn mount_refused(c: &Cluster, extra: &[&str], want: &str) {
    let dir = tempfile::Builder::new().prefix("raftmfs-mnt-").tempdir().expect("tempdir");
    let child = Command::new(bin("mfsmount"))
        .arg(dir.path())
        .arg("-f")
        .arg("-H")
        .arg(c.hosts_arg())
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mfsmount");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let Ok(out) = rx.recv_timeout(Duration::from_secs(60)) else {
        // SAFETY: kill of the mfsmount this test started.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        let _ = Command::new("umount").arg("-l").arg(dir.path()).status();
        panic!("mfsmount {extra:?} did not give up within 60 s (expected: {want})");
    };
    let out = out.expect("mfsmount output");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "mfsmount {extra:?} succeeded; expected a refusal ({want}):\n{text}");
    assert!(text.contains(want), "mfsmount {extra:?}: expected {want:?} in:\n{text}");
}

fn errno_of(r: std::io::Result<impl Sized>) -> Option<i32> {
    r.err().and_then(|e| e.raw_os_error())
}

/// Wait until every running master logged `needle` at least `n` times.
fn wait_logged(c: &Cluster, needle: &str, n: usize) {
    wait_for(Duration::from_secs(20), &format!("{needle:?} logged {n} times by every master"), || {
        c.masters
            .iter()
            .filter(|m| m.is_running())
            .all(|m| std::fs::read_to_string(m.log()).unwrap_or_default().matches(needle).count() >= n)
            .then_some(())
    });
}

/// `mfsmaster -c CFG reload` for every running master (the MooseFS way: SIGHUP through the
/// pid in the data folder).
fn reload_all(c: &Cluster) {
    for m in c.masters.iter().filter(|m| m.is_running()) {
        let st = Command::new(bin("mfsmaster")).arg("-c").arg(&m.cfg).arg("reload").status().expect("run reload");
        assert!(st.success(), "mfsmaster reload of master {}", m.id);
    }
}

fn raw_client(rt: &tokio::runtime::Runtime, c: &Cluster, subfolder: &str, password: Option<&str>) -> MasterClient {
    let addrs = c.client_addrs();
    let mut cfg = ClientConfig::new(&addrs.iter().map(String::as_str).collect::<Vec<_>>());
    cfg.op_timeout = Duration::from_secs(30);
    cfg.subfolder = subfolder.into();
    cfg.password_md5 = password.map(|p| proto::client::password_md5(p.as_bytes()));
    rt.block_on(MasterClient::connect(cfg)).unwrap_or_else(|e| panic!("session on {subfolder}: {e}"))
}

#[test]
fn exports_are_enforced_by_every_leader() {
    assert_eq!(unsafe { libc::geteuid() }, 0, "mount tests run as root");
    let files = tempfile::Builder::new().prefix("raftmfs-exports-").tempdir().expect("tempdir");
    let exports = files.path().join("mfsexports.cfg");
    std::fs::write(&exports, PHASE1).expect("write exports");
    let mut c = Cluster::with_chunkservers(BLOCK, &format!("EXPORTS_FILENAME = {}", exports.display()), "");

    // ---- passwords ----
    let admin = c.mount(&["-o", "mfspassword=secret"]);
    for d in ["pub", "squash", "all", "sub", "sub/inner", "outside"] {
        std::fs::create_dir(admin.path(d)).unwrap_or_else(|e| panic!("mkdir {d}: {e}"));
    }
    for d in ["squash", "all"] {
        std::fs::set_permissions(admin.path(d), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    }
    std::fs::write(admin.path("pub/hello.txt"), b"hello, read-only world\n").expect("write pub/hello.txt");
    std::fs::write(admin.path("outside/secret.txt"), b"not for /sub\n").expect("write outside/secret.txt");
    // md5pass= on the mount side works the same (md5("secret")).
    let md5 = c.mount(&["-o", "mfsmd5pass=5ebe2294ecd0e0f08eab7690d2a6ee69"]);
    assert!(md5.path("pub/hello.txt").is_file());
    drop(md5);
    mount_refused(&c, &[], "mfsmaster: access denied (password needed)");
    mount_refused(&c, &["-o", "mfspassword=guess"], "mfsmaster: access denied (wrong password)");

    // ---- a read-only export ----
    let ro = c.mount(&["-S", "/pub"]);
    assert_eq!(std::fs::read(ro.path("hello.txt")).expect("read in ro"), b"hello, read-only world\n");
    assert_eq!(errno_of(std::fs::write(ro.path("new.txt"), b"x")), Some(libc::EROFS), "create in ro");
    assert_eq!(
        errno_of(std::fs::OpenOptions::new().write(true).open(ro.path("hello.txt"))),
        Some(libc::EROFS),
        "open for write in ro"
    );
    assert_eq!(errno_of(std::fs::create_dir(ro.path("d"))), Some(libc::EROFS), "mkdir in ro");
    assert_eq!(errno_of(std::fs::remove_file(ro.path("hello.txt"))), Some(libc::EROFS), "unlink in ro");

    // ---- maproot and mapall ----
    let squash = c.mount(&["-S", "/squash"]);
    std::fs::write(squash.path("by-root.txt"), b"x").expect("create as root under maproot");
    let m = std::fs::metadata(admin.path("squash/by-root.txt")).expect("stat");
    assert_eq!((m.uid(), m.gid()), (1234, 2345), "maproot=1234:2345 maps root");
    let all = c.mount(&["-S", "/all"]);
    std::fs::write(all.path("by-root.txt"), b"x").expect("create as root under mapall");
    std::fs::create_dir(all.path("dir")).expect("mkdir under mapall");
    for f in ["all/by-root.txt", "all/dir"] {
        let m = std::fs::metadata(admin.path(f)).expect("stat");
        assert_eq!((m.uid(), m.gid()), (4321, 5432), "{f}: mapall=4321:5432 maps root too (no maproot)");
    }

    // ---- a subfolder export ----
    let sub = c.mount(&["-S", "/sub"]);
    std::fs::write(sub.path("inner/f.txt"), b"in sub").expect("write in sub");
    assert_eq!(std::fs::read(admin.path("sub/inner/f.txt")).expect("read back"), b"in sub");
    let root_ino = std::fs::metadata(&sub.dir).expect("stat root").ino();
    assert_eq!(std::fs::metadata(sub.path("inner/..")).expect("stat inner/..").ino(), root_ino);
    assert!(!sub.path("outside").exists() && !sub.path("pub").exists(), "only /sub is visible");
    // Below /sub only the whole-tree rule (alldirs, with its password) matches.
    mount_refused(&c, &["-S", "/sub/inner"], "mfsmaster: access denied (password needed)");
    // The masters keep the session inside /sub whatever inode it names.
    let rt = runtime();
    let s = raw_client(&rt, &c, "/sub", None);
    let creds = Creds::root();
    let dotdot = rt.block_on(s.lookup(&creds, ROOT_INODE, b"..")).expect("lookup .. of the root");
    assert_eq!(dotdot.ino, ROOT_INODE, "'..' of the session root is the root");
    let inner = rt.block_on(s.lookup(&creds, ROOT_INODE, b"inner")).expect("lookup inner");
    let up = rt.block_on(s.lookup(&creds, inner.ino, b"..")).expect("lookup inner/..");
    assert_eq!(up.ino, ROOT_INODE);
    let whole = raw_client(&rt, &c, "/", Some("secret"));
    let outside = rt.block_on(whole.lookup(&creds, ROOT_INODE, b"outside")).expect("lookup outside");
    match rt.block_on(s.getattr(&creds, outside.ino)) {
        Err(ClientError::Errno(e)) => assert_eq!(e, Errno::EPERM, "a folder outside /sub by number"),
        other => panic!("getattr of a folder outside /sub: {other:?}"),
    }
    rt.block_on(s.close()).expect("close");
    rt.block_on(whole.close()).expect("close");

    // ---- reload: new rules for new sessions; a bad file keeps the running ones ----
    std::fs::write(&exports, PHASE2).expect("write exports");
    reload_all(&c);
    wait_logged(&c, "exports reloaded", 1);
    mount_refused(&c, &["-o", "mfspassword=secret"], "mfsmaster: access denied (no export rule for 127.");
    mount_refused(&c, &["-S", "/pub"], "mfsmaster: access denied (no export rule");
    // `* /sub rw` without alldirs: only /sub itself.
    mount_refused(&c, &["-S", "/sub/inner"], "mfsmaster: access denied (no export rule");
    let sub2 = c.mount(&["-S", "/sub"]);
    assert!(sub2.path("inner/f.txt").is_file());
    drop(sub2);
    std::fs::write(&exports, "* /sub rw\n* / rw,bogusoption\n").expect("write bad exports");
    reload_all(&c);
    wait_logged(&c, "reload: exports file rejected", 1);
    let text = std::fs::read_to_string(c.masters[0].log()).unwrap_or_default();
    assert!(text.contains("mfsexports.cfg:2: unknown option"), "the error names file and line");
    let sub3 = c.mount(&["-S", "/sub"]);
    assert!(sub3.path("inner").is_dir(), "the phase 2 rules still hold");
    drop(sub3);

    // ---- a leader failover: the open read-only session stays read-only ----
    // (Its rule is gone since the reload: the session keeps what it was granted.)
    let leader = c.wait_leader(Duration::from_secs(30));
    c.kill(leader);
    let new_leader = c.wait_leader(Duration::from_secs(30));
    assert_ne!(new_leader, leader);
    assert_eq!(errno_of(std::fs::write(ro.path("after.txt"), b"x")), Some(libc::EROFS), "ro under the new leader");
    assert_eq!(
        errno_of(std::fs::OpenOptions::new().write(true).truncate(true).open(ro.path("hello.txt"))),
        Some(libc::EROFS)
    );
    assert_eq!(std::fs::read(ro.path("hello.txt")).expect("read after failover"), b"hello, read-only world\n");
    // And the mapped session still maps.
    std::fs::write(squash.path("after.txt"), b"y").expect("create under maproot after failover");
    let m = std::fs::metadata(admin.path("squash/after.txt")).expect("stat");
    assert_eq!((m.uid(), m.gid()), (1234, 2345));
    drop((ro, squash, all, sub, admin));
}

#[test]
fn a_bad_exports_file_stops_the_master_at_start() {
    let dir = tempfile::Builder::new().prefix("raftmfs-badexports-").tempdir().expect("tempdir");
    let exports = dir.path().join("mfsexports.cfg");
    std::fs::write(&exports, "# ok\n* / rw\n300.1.1.1 / rw\n").expect("write exports");
    std::fs::create_dir(dir.path().join("data")).expect("mkdir");
    let cfg: PathBuf = dir.path().join("mfsmaster.cfg");
    // An address of this file's block that no cluster uses: the master must stop before it
    // listens anyway.
    std::fs::write(
        &cfg,
        format!(
            "DATA_PATH = {}\nRAFT_NODE_ID = 1\nRAFT_PEERS = 1@127.0.{BLOCK}.99\nEXPORTS_FILENAME = {}\n",
            dir.path().join("data").display(),
            exports.display()
        ),
    )
    .expect("write cfg");
    let start = Instant::now();
    let out = Command::new(bin("mfsmaster"))
        .arg("-c")
        .arg(&cfg)
        .arg("-f")
        .arg("start")
        .stdin(Stdio::null())
        .output()
        .expect("run mfsmaster");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "mfsmaster started with a bad exports file:\n{text}");
    let want = format!("{}:3: bad IPv4 address", exports.display());
    assert!(text.contains(&want), "expected {want:?} in:\n{text}");
    assert!(start.elapsed() < Duration::from_secs(30));
    let _ = Path::new(&cfg);
}
