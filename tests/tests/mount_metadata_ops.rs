//! Issue 4: a real FUSE mount of a three-master cluster, metadata only (no chunkservers):
//! POSIX namespace operations through std::fs and the shell, mount options, unmount, and the
//! tools finding the masters through the mount.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use raftmfs_tests::{bin, is_mounted, run_tool, sh, wait_for, wait_mounted, Cluster};

fn cstr(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).expect("path without NUL")
}

fn set_xattr(p: &Path, name: &str, value: &[u8], flags: i32) -> std::io::Result<()> {
    let (p, n) = (cstr(p), CString::new(name).expect("name"));
    // SAFETY: valid C strings and buffer.
    let r = unsafe { libc::setxattr(p.as_ptr(), n.as_ptr(), value.as_ptr().cast(), value.len(), flags) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// getxattr with a buffer of `size` bytes; Ok(len) with the data, as the syscall answers.
fn get_xattr(p: &Path, name: &str, size: usize) -> std::io::Result<(isize, Vec<u8>)> {
    let (p, n) = (cstr(p), CString::new(name).expect("name"));
    let mut buf = vec![0u8; size];
    // SAFETY: buffer of `size` bytes.
    let r = unsafe { libc::getxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), size) };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    buf.truncate(if size == 0 { 0 } else { r as usize });
    Ok((r, buf))
}

fn list_xattr(p: &Path) -> Vec<String> {
    let p = cstr(p);
    let mut buf = vec![0u8; 4096];
    // SAFETY: buffer of 4096 bytes.
    let r = unsafe { libc::listxattr(p.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    assert!(r >= 0, "listxattr: {}", std::io::Error::last_os_error());
    buf.truncate(r as usize);
    buf.split(|b| *b == 0).filter(|s| !s.is_empty()).map(|s| String::from_utf8_lossy(s).into_owned()).collect()
}

fn renameat2(from: &Path, to: &Path, flags: u32) -> std::io::Result<()> {
    let (f, t) = (cstr(from), cstr(to));
    // SAFETY: valid C strings; AT_FDCWD with absolute paths.
    let r = unsafe { libc::renameat2(libc::AT_FDCWD, f.as_ptr(), libc::AT_FDCWD, t.as_ptr(), flags) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn errno_of<T: std::fmt::Debug>(r: std::io::Result<T>) -> i32 {
    r.expect_err("expected an error").raw_os_error().expect("an OS error")
}

fn leader_sessions(c: &Cluster) -> u64 {
    let l = c.wait_leader(Duration::from_secs(20));
    c.status(l).expect("leader status").sessions
}

#[test]
fn posix_namespace_operations_through_the_mount() {
    let c = Cluster::start(41, 3, "");
    c.wait_leader(Duration::from_secs(20));
    let m = c.mount(&[]);
    let root = m.dir.clone();

    // mkdir -p, ls, mv, rm, ln, chmod, touch through the shell.
    sh(&root, "mkdir -p a/b/c && touch a/f && mv a/f a/g && ln a/g a/h && ln -s g a/sym && chmod 640 a/g");
    assert_eq!(sh(&root, "ls a").split_whitespace().collect::<Vec<_>>(), vec!["b", "g", "h", "sym"]);
    assert_eq!(sh(&root, "readlink a/sym").trim(), "g");
    let g = std::fs::metadata(root.join("a/g")).unwrap();
    assert_eq!(g.permissions().mode() & 0o7777, 0o640);
    assert_eq!(g.nlink(), 2);
    assert_eq!(std::fs::metadata(root.join("a/h")).unwrap().ino(), g.ino(), "hard link shares the inode");
    std::fs::remove_file(root.join("a/h")).unwrap();
    assert_eq!(std::fs::metadata(root.join("a/g")).unwrap().nlink(), 1, "link count after unlink");
    sh(&root, "touch -d '2001-02-03 04:05:06' a/g");
    assert_eq!(sh(&root, "stat -c %Y a/g").trim(), "981173106");
    std::os::unix::fs::chown(root.join("a/g"), Some(1234), Some(5678)).unwrap();
    let g = std::fs::metadata(root.join("a/g")).unwrap();
    assert_eq!((g.uid(), g.gid()), (1234, 5678));

    // Errors map to the right errno.
    assert_eq!(errno_of(std::fs::create_dir(root.join("a/b"))), libc::EEXIST);
    assert_eq!(errno_of(std::fs::remove_dir(root.join("a"))), libc::ENOTEMPTY);
    assert_eq!(errno_of(std::fs::metadata(root.join("nope"))), libc::ENOENT);
    assert_eq!(errno_of(std::fs::remove_dir(root.join("a/g"))), libc::ENOTDIR);
    let excl = std::fs::OpenOptions::new().write(true).create_new(true).open(root.join("a/g"));
    assert_eq!(errno_of(excl), libc::EEXIST, "O_CREAT|O_EXCL on an existing file");

    // renameat2 flags.
    std::fs::write(root.join("x"), b"").unwrap();
    std::fs::create_dir(root.join("y")).unwrap();
    assert_eq!(errno_of(renameat2(&root.join("x"), &root.join("a/g"), libc::RENAME_NOREPLACE)), libc::EEXIST);
    let (xi, yi) = (std::fs::metadata(root.join("x")).unwrap().ino(), std::fs::metadata(root.join("y")).unwrap().ino());
    renameat2(&root.join("x"), &root.join("y"), libc::RENAME_EXCHANGE).unwrap();
    assert_eq!(std::fs::metadata(root.join("x")).unwrap().ino(), yi);
    assert!(std::fs::metadata(root.join("x")).unwrap().is_dir());
    assert_eq!(std::fs::metadata(root.join("y")).unwrap().ino(), xi);

    // Extended attributes: size probes, ERANGE, create/replace flags, list, remove.
    let f = root.join("a/g");
    set_xattr(&f, "user.color", b"blue", 0).unwrap();
    assert_eq!(get_xattr(&f, "user.color", 0).unwrap().0, 4, "size-0 probe answers the size");
    assert_eq!(get_xattr(&f, "user.color", 64).unwrap().1, b"blue");
    assert_eq!(errno_of(get_xattr(&f, "user.color", 2)), libc::ERANGE);
    assert_eq!(errno_of(set_xattr(&f, "user.color", b"x", libc::XATTR_CREATE)), libc::EEXIST);
    assert_eq!(errno_of(set_xattr(&f, "user.other", b"x", libc::XATTR_REPLACE)), libc::ENODATA);
    set_xattr(&f, "user.size", b"", 0).unwrap();
    let mut names = list_xattr(&f);
    names.sort();
    assert_eq!(names, vec!["user.color", "user.size"]);
    let (p, n) = (cstr(&f), CString::new("user.color").unwrap());
    // SAFETY: valid C strings.
    assert_eq!(unsafe { libc::removexattr(p.as_ptr(), n.as_ptr()) }, 0);
    assert_eq!(errno_of(get_xattr(&f, "user.color", 64)), libc::ENODATA);

    // A file made by O_EXCL is known to have no `security.capability` (the mount answers the
    // kernel's probe before the first write itself); setting one is seen at once all the same.
    let capf = root.join("a/cap");
    std::fs::OpenOptions::new().write(true).create_new(true).open(&capf).unwrap();
    assert_eq!(errno_of(get_xattr(&capf, "security.capability", 64)), libc::ENODATA);
    // vfs_cap_data, revision 2: CAP_NET_RAW (13) permitted.
    let mut cap = Vec::new();
    for word in [0x0200_0000u32, 1 << 13, 0, 0, 0] {
        cap.extend_from_slice(&word.to_le_bytes());
    }
    set_xattr(&capf, "security.capability", &cap, 0).unwrap();
    assert_eq!(get_xattr(&capf, "security.capability", 64).unwrap().1, cap);

    // A large directory is listed completely (cookies across several batches).
    std::fs::create_dir(root.join("many")).unwrap();
    for i in 0..1500 {
        std::fs::File::create(root.join(format!("many/file-{i:05}"))).unwrap();
    }
    let mut listed: Vec<String> =
        std::fs::read_dir(root.join("many")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    listed.sort();
    assert_eq!(listed.len(), 1500);
    assert_eq!(listed[0], "file-00000");
    assert_eq!(listed[1499], "file-01499");
    assert_eq!(sh(&root, "ls -l many | tail -n +2 | wc -l").trim(), "1500");
    sh(&root, "rm -rf many");
    assert!(!root.join("many").exists());

    // mknod: a fifo.
    sh(&root, "mkfifo a/fifo && test -p a/fifo");

    // The .raftmfs file: hidden from listings, readable, names the masters, read-only.
    let names: Vec<String> =
        std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert!(!names.contains(&".raftmfs".to_string()), "{names:?}");
    let info = std::fs::read_to_string(root.join(".raftmfs")).unwrap();
    for a in c.client_addrs() {
        assert!(info.contains(&a), "{info}");
    }
    assert!(std::fs::write(root.join(".raftmfs"), b"x").is_err());

    // statfs answers.
    sh(&root, "df -P . >/dev/null && stat -f . >/dev/null");

    // st_ino is the masters' inode: the root is 1.
    assert_eq!(std::fs::metadata(&root).unwrap().ino(), 1);
}

#[test]
fn unmount_ends_the_process_and_closes_the_session() {
    let c = Cluster::start(42, 3, "");
    c.wait_leader(Duration::from_secs(20));
    let before = leader_sessions(&c);
    let mut m = c.mount(&[]);
    wait_for(Duration::from_secs(10), "the mount's session on the leader", || {
        (leader_sessions(&c) == before + 1).then_some(())
    });
    std::fs::create_dir(m.path("d")).unwrap();
    let st = m.unmount();
    assert!(st.success(), "mfsmount exit status {st}:\n{}", m.log_tail(20));
    assert!(!is_mounted(&m.dir));
    wait_for(Duration::from_secs(10), "session closed on the leader", || (leader_sessions(&c) == before).then_some(()));
    assert!(m.log_tail(5).contains("session closed"), "{}", m.log_tail(20));

    // fusermount3 -u works as well.
    let m = c.mount(&[]);
    assert!(std::fs::metadata(m.path("d")).unwrap().is_dir(), "the directory outlived the first mount");
    let st = Command::new("fusermount3").arg("-u").arg(&m.dir).status().unwrap();
    assert!(st.success());
    wait_for(Duration::from_secs(10), "unmounted", || (!is_mounted(&m.dir)).then_some(()));
}

#[test]
fn background_mount_reports_success_and_errors_on_the_terminal() {
    let c = Cluster::start(43, 3, "");
    c.wait_leader(Duration::from_secs(20));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("mnt");
    std::fs::create_dir(&dir).unwrap();

    // Background mode: the command returns once the mount is up.
    let out = Command::new(bin("mfsmount")).arg(&dir).arg("-H").arg(c.hosts_arg()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(is_mounted(&dir), "mounted when mfsmount returned");
    std::fs::write(dir.join("probe"), b"").unwrap();
    let st = Command::new("umount").arg(&dir).status().unwrap();
    assert!(st.success());

    // An error found after forking (a missing subfolder) is printed by the parent.
    let out = Command::new(bin("mfsmount"))
        .arg(&dir)
        .arg("-H")
        .arg(c.hosts_arg())
        .args(["-S", "/no/such/folder"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("subfolder /no"), "{err}");
    assert!(!is_mounted(&dir));

    // The meta tree in the background too (the built-in exports allow it).
    let out = Command::new(bin("mfsmount")).arg(&dir).arg("-m").arg("-H").arg(c.hosts_arg()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(dir.join("trash/undel").is_dir());
    assert!(Command::new("umount").arg(&dir).status().unwrap().success());

    // Bad options: an error, no mount.
    let out = Command::new(bin("mfsmount")).arg(&dir).args(["-o", "nosuchoption"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown option nosuchoption"));
}

#[test]
fn subfolder_config_file_and_mount_helper_argument_order() {
    let c = Cluster::start(44, 3, "");
    c.wait_leader(Duration::from_secs(20));
    {
        let m = c.mount(&[]);
        sh(&m.dir, "mkdir -p sub/inner && touch sub/inner/file top");
    }
    // -S: the subfolder is the root of the mount.
    let m = c.mount(&["-S", "/sub"]);
    assert!(m.path("inner/file").exists());
    assert!(!m.path("top").exists());
    std::fs::write(m.path("new"), b"").unwrap();
    let info = std::fs::read_to_string(m.path(".raftmfs")).unwrap();
    assert!(info.contains("subfolder = /sub"), "{info}");
    drop(m);

    // mfsmount.cfg: masters and options from a file, as `mount -t fuse.mfsmount` passes them.
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("mfsmount.cfg");
    std::fs::write(&cfg, format!("# test\nmfsmaster={}\nmfssubfolder=/sub\n", c.hosts_arg())).unwrap();
    let dir = tmp.path().join("mnt");
    std::fs::create_dir(&dir).unwrap();
    let out = Command::new(bin("mfsmount"))
        .args([
            "mfsmount".as_ref(),
            dir.as_os_str(),
            "-o".as_ref(),
            format!("mfscfgfile={},ro", cfg.display()).as_ref(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    wait_mounted(&dir, Duration::from_secs(10));
    assert!(dir.join("new").exists());
    assert_eq!(errno_of(std::fs::create_dir(dir.join("ro"))), libc::EROFS, "ro passed to the kernel");
    assert!(Command::new("umount").arg(&dir).status().unwrap().success());

    // `mfsmount mfsmaster=HOST MOUNTPOINT -o opts` (the fstab source field carries options).
    let src = format!("mfsmaster={}", c.masters[0].ip);
    let out = Command::new(bin("mfsmount"))
        .args([src.as_ref(), dir.as_os_str(), "-o".as_ref(), "mfssubfolder=/sub/inner,_netdev".as_ref()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(dir.join("file").exists());
    assert!(Command::new("umount").arg(&dir).status().unwrap().success());
}

#[test]
fn goal_and_trash_tools_find_the_masters_through_the_mount() {
    let c = Cluster::start(45, 3, "");
    c.wait_leader(Duration::from_secs(20));
    let m = c.mount(&[]);
    sh(&m.dir, "mkdir -p t/d1 t/d2 && touch t/f1 t/d1/f2 t/d2/f3");
    let t = m.path("t");
    let ts = t.to_str().unwrap();

    let (ok, out, err) = run_tool("mfsgetgoal", &[ts]);
    assert!(ok, "{err}");
    assert_eq!(out, format!("{ts}: 1\n"));
    let (ok, out, _) = run_tool("mfssetgoal", &["-r", "3", ts]);
    assert!(ok);
    assert_eq!(
        out,
        format!(
            "{ts}:\n inodes with goal changed:               6\n inodes with goal not changed:           0\n \
             inodes with permission denied:          0\n"
        )
    );
    let (ok, out, _) = run_tool("mfsgetgoal", &["-r", ts]);
    assert!(ok);
    assert_eq!(out, format!("{ts}:\n files with goal        3 :          3\n directories with goal  3 :          3\n"));
    // MooseFS's older name of the recursive form answers the same.
    let (ok, alias, _) = run_tool("mfsrgetgoal", &[ts]);
    assert!(ok);
    assert_eq!(alias, out);
    let f1 = m.path("t/f1");
    let (ok, out, _) = run_tool("mfssetgoal", &["2", f1.to_str().unwrap()]);
    assert!(ok);
    assert_eq!(out, format!("{}: goal: 2\n", f1.display()), "MooseFS 3.0.117's words");

    let (ok, out, _) = run_tool("mfssettrashtime", &["-r", "3600", ts]);
    assert!(ok, "{out}");
    assert!(out.contains(" inodes with trashtime changed:              6\n"), "{out}");
    let (ok, out, _) = run_tool("mfsgettrashtime", &[f1.to_str().unwrap()]);
    assert!(ok);
    assert_eq!(out, format!("{}: 3600\n", f1.display()));

    // MooseFS's name for the mount's information file answers the same text.
    let info = std::fs::read_to_string(m.path(".raftmfs")).unwrap();
    assert_eq!(std::fs::read_to_string(m.path(".masterinfo")).unwrap(), info);

    // mfstools under its own name with the tool as first argument.
    let (ok, out, _) = run_tool("mfstools", &["mfsgetgoal", f1.to_str().unwrap()]);
    assert!(ok);
    assert_eq!(out, format!("{}: 2\n", f1.display()));

    // mfscopygoal / mfscopytrashtime: the source's value, then set as the set tools do.
    let f2 = m.path("t/d1/f2");
    let (f1s, f2s) = (f1.to_str().unwrap(), f2.to_str().unwrap());
    let (ok, out, _) = run_tool("mfscopygoal", &[f1s, f2s]);
    assert!(ok, "{out}");
    assert_eq!(out, format!("{f1s}: 2\n{f2s}: goal: 2\n"));
    let (ok, out, _) = run_tool("mfscopytrashtime", &["-r", f1s, &format!("{ts}/d2")]);
    assert!(ok, "{out}");
    assert!(out.starts_with(&format!("{f1s}: 3600\n{ts}/d2:\n")), "{out}");
    let (ok, out, _) = run_tool("mfscopygoal", &[f1s]);
    assert!(!ok, "one operand is not enough: {out}");

    // mfsfilepaths: every name of a file, relative to the mount root; by inode number too.
    sh(&m.dir, "ln t/f1 t/d2/hard");
    let (ok, out, _) = run_tool("mfsfilepaths", &[f1s]);
    assert!(ok, "{out}");
    assert_eq!(out, format!("{f1s}:\nt/d2/hard\nt/f1\n"));
    let ino = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&f1).unwrap()).to_string();
    let out = Command::new(bin("mfsfilepaths")).arg(&ino).current_dir(&t).output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{ino}:\nt/d2/hard\nt/f1\n"));

    // As MooseFS: a hard-linked file counts once per name; with -p, once.
    let (ok, out, _) = run_tool("mfsdirinfo", &[ts]);
    assert!(ok);
    assert!(out.contains(" inodes:                7\n  directories:          3\n  files:                4\n"), "{out}");
    let (ok, out, _) = run_tool("mfsdirinfo", &["-p", "-i", "-d", "-f", ts]);
    assert!(ok);
    assert_eq!(out, format!("7\t3\t4\t{ts}\n6\t3\t3\t{ts} (precise data)\n"));

    // Outside a mount: MooseFS's message, a failure.
    let (ok, out, _) = run_tool("mfsgetgoal", &["/tmp"]);
    assert!(!ok);
    assert!(out.contains("not MFS object"), "{out}");
}
