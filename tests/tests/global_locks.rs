//! `flock` and `fcntl` locks held across mounts by the masters (issue 13): another mount sees a
//! lock, the lock survives a SIGKILL of the leader, a blocked waiter on another mount gets the
//! lock once its holder closes the file, and `F_GETLK` names the holder. (Loopback block
//! 127.0.97.x.)

use std::os::fd::AsRawFd;
use std::sync::mpsc;
use std::time::Duration;

use raftmfs_tests::Cluster;

const LIMIT: Duration = Duration::from_secs(30);

fn flock(f: &std::fs::File, op: i32) -> std::io::Result<()> {
    // SAFETY: flock on a valid descriptor owned by `f`.
    match unsafe { libc::flock(f.as_raw_fd(), op) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

fn fcntl_lock(f: &std::fs::File, cmd: i32, typ: i32, start: i64, len: i64) -> std::io::Result<libc::flock> {
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = typ as i16;
    fl.l_whence = libc::SEEK_SET as i16;
    fl.l_start = start;
    fl.l_len = len;
    // SAFETY: fcntl with a valid descriptor and a valid `struct flock`.
    match unsafe { libc::fcntl(f.as_raw_fd(), cmd, &mut fl) } {
        -1 => Err(std::io::Error::last_os_error()),
        _ => Ok(fl),
    }
}

fn open(path: &std::path::Path) -> std::fs::File {
    std::fs::OpenOptions::new().read(true).write(true).open(path).unwrap()
}

#[test]
fn locks_are_seen_by_every_mount_and_survive_a_leader_kill() {
    let mut c = Cluster::start(97, 3, "");
    c.add_chunkservers(97, 1, "");
    c.wait_chunkservers(1, LIMIT);
    let leader = c.wait_leader(LIMIT);
    let (a, b) = (c.mount(&[]), c.mount(&[]));
    std::fs::write(a.path("shared"), b"x").unwrap();

    // flock: held on one mount, refused on the other, also after the leader dies.
    let holder = open(&a.path("shared"));
    flock(&holder, libc::LOCK_EX).unwrap();
    let other = open(&b.path("shared"));
    let busy = flock(&other, libc::LOCK_EX | libc::LOCK_NB).unwrap_err();
    assert_eq!(busy.raw_os_error(), Some(libc::EWOULDBLOCK));
    c.kill(leader);
    c.wait_leader(LIMIT);
    let busy = flock(&other, libc::LOCK_EX | libc::LOCK_NB).unwrap_err();
    assert_eq!(busy.raw_os_error(), Some(libc::EWOULDBLOCK), "the new leader keeps the lock");
    c.start_master(leader);

    // A blocked waiter on the other mount gets it once the holder's file closes.
    let (tx, rx) = mpsc::channel();
    let waiter_path = b.path("shared");
    let waiter = std::thread::spawn(move || {
        let f = open(&waiter_path);
        let r = flock(&f, libc::LOCK_EX);
        tx.send(r.map_err(|e| e.to_string())).unwrap();
        f
    });
    assert!(rx.recv_timeout(Duration::from_millis(500)).is_err(), "the waiter must wait while the lock is held");
    drop(holder);
    assert_eq!(rx.recv_timeout(LIMIT).expect("the waiter never got the lock"), Ok(()));
    let waiter_file = waiter.join().unwrap();
    let busy = flock(&open(&a.path("shared")), libc::LOCK_SH | libc::LOCK_NB).unwrap_err();
    assert_eq!(busy.raw_os_error(), Some(libc::EWOULDBLOCK), "now the other mount holds it");
    drop(waiter_file);

    // fcntl: byte ranges, F_GETLK names the holder, a close drops the process's locks.
    let fa = open(&a.path("shared"));
    fcntl_lock(&fa, libc::F_SETLK, libc::F_WRLCK, 0, 100).unwrap();
    let fb = open(&b.path("shared"));
    // Another process of this test would be another owner; this process on another mount is
    // another session, which is what matters here.
    let busy = fcntl_lock(&fb, libc::F_SETLK, libc::F_WRLCK, 50, 10).unwrap_err();
    assert!(matches!(busy.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EACCES)), "{busy}");
    assert!(fcntl_lock(&fb, libc::F_SETLK, libc::F_WRLCK, 100, 10).is_ok(), "a range beside it is free");
    let seen = fcntl_lock(&fb, libc::F_GETLK, libc::F_WRLCK, 0, 10).unwrap();
    assert_eq!((i32::from(seen.l_type), seen.l_start, seen.l_len), (libc::F_WRLCK, 0, 100));
    drop(fa);
    assert!(fcntl_lock(&fb, libc::F_SETLK, libc::F_WRLCK, 0, 10).is_ok(), "the close dropped the lock");
}
