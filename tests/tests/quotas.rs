//! Folder quotas (`mfssetquota`) on real masters, chunkservers and mounts (issue 13): hard
//! limits refuse with EDQUOT at the mount, `df` of a mount of the quota folder shows the quota,
//! and enforcement and usage hold across a SIGKILL of the leader in the middle of use and on a
//! master that caught up from a snapshot. (Loopback block 127.0.84.x.)

use std::io::ErrorKind;
use std::time::Duration;

use raftmfs_tests::{run_tool, Cluster, Mount};

const LIMIT: Duration = Duration::from_secs(30);

fn quota_tool(m: &Mount, name: &str, flags: &[&str], dir: &str) -> String {
    let mut args: Vec<String> = flags.iter().map(|s| s.to_string()).collect();
    args.push(m.path(dir).to_string_lossy().into_owned());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, out, err) = run_tool(name, &refs);
    assert!(ok, "{name} {flags:?}: {out}{err}");
    out
}

/// The current value of row `row` ("inodes", "length", ...) in `mfsgetquota`'s table.
fn current(table: &str, row: &str) -> u64 {
    let line = table.lines().find(|l| l.trim_start().starts_with(row)).unwrap_or_else(|| panic!("{row} in {table}"));
    line.split('|').nth(1).and_then(|v| v.trim().parse().ok()).unwrap_or_else(|| panic!("{line}"))
}

fn create(m: &Mount, rel: &str) -> std::io::Result<std::fs::File> {
    std::fs::File::create(m.path(rel))
}

#[test]
fn quotas_refuse_at_the_mount_and_hold_across_a_leader_kill_and_a_snapshot_install() {
    let mut c = Cluster::start(84, 3, "RAFT_SNAPSHOT_LOGS = 40\nRAFT_LOGS_KEEP = 10");
    c.add_chunkservers(84, 1, "");
    c.wait_chunkservers(1, LIMIT);
    let leader = c.wait_leader(LIMIT);
    let m = c.mount(&[]);
    std::fs::create_dir(m.path("proj")).unwrap();
    std::fs::write(m.path("proj/seed"), vec![7u8; 100_000]).unwrap();
    let t = quota_tool(&m, "mfssetquota", &["-I", "10", "-L", "1Mi"], "proj");
    assert_eq!((current(&t, "inodes"), current(&t, "length")), (1, 100_000), "{t}");

    // Names up to the limit, then EDQUOT; a leader SIGKILL in the middle changes nothing.
    for i in 0..5 {
        create(&m, &format!("proj/f{i}")).unwrap();
    }
    c.kill(leader);
    for i in 5..9 {
        create(&m, &format!("proj/f{i}")).unwrap();
    }
    let refused = create(&m, "proj/one-too-many").map(|_| ()).unwrap_err();
    assert_eq!(refused.raw_os_error(), Some(libc::EDQUOT), "{refused}");
    assert!(create(&m, "outside").is_ok(), "nothing outside the folder is limited");
    // Length: a file may grow to the limit, not past it.
    let f = std::fs::OpenOptions::new().write(true).open(m.path("proj/f0")).unwrap();
    assert!(f.set_len(1024 * 1024 - 100_000).is_ok());
    assert_eq!(f.set_len(1024 * 1024 - 100_000 + 1).unwrap_err().raw_os_error(), Some(libc::EDQUOT));
    drop(f);

    // A mount of the quota folder sees the quota in df (1 MiB of length).
    let sub = c.mount(&["-S", "/proj"]);
    let st = nix_statvfs(&sub);
    assert_eq!(st.0 * st.1, 1024 * 1024, "df total is the quota");

    // A wiped master catches up from a snapshot and counts the same usage.
    c.start_master(leader);
    let victim = (c.wait_leader(LIMIT) + 1) % 3;
    c.kill(victim);
    c.wipe(victim);
    for i in 0..60 {
        std::fs::create_dir(m.path(&format!("d{i}"))).unwrap();
    }
    c.start_master(victim);
    let ds = c.wait_converged(Duration::from_secs(60));
    assert!(ds.iter().all(|d| d.digest == ds[0].digest), "digests differ: {ds:?}");
    // Make the caught-up master lead (kill the others one at a time until it does); it votes
    // once its new disk is recorded.
    c.wait_votes(victim, LIMIT);
    for _ in 0..3 {
        let now = c.wait_leader(LIMIT);
        if now == victim {
            break;
        }
        c.kill(now);
        c.wait_leader(LIMIT);
        c.start_master(now);
    }
    let t = quota_tool(&m, "mfsgetquota", &[], "proj");
    assert_eq!((current(&t, "inodes"), current(&t, "length")), (10, 1024 * 1024), "{t}");
    let refused = create(&m, "proj/still-too-many").map(|_| ()).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::QuotaExceeded, "{refused}");
    // Removing a limit lets names come again.
    quota_tool(&m, "mfsdelquota", &["-I"], "proj");
    assert!(create(&m, "proj/now-fine").is_ok());
}

/// (block size, blocks) of the mount's `statvfs`.
fn nix_statvfs(m: &Mount) -> (u64, u64) {
    let path = std::ffi::CString::new(m.path("").to_string_lossy().into_owned()).unwrap();
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is a valid C string and `st` a valid out-pointer for the call.
    let rc = unsafe { libc::statvfs(path.as_ptr(), &mut st) };
    assert_eq!(rc, 0, "statvfs");
    (st.f_frsize, st.f_blocks)
}
