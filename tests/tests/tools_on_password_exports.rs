//! The tools on a mount of a password-protected export: they join the mount's session with
//! the ticket its `.masterinfo` shows (no password of their own), get exactly the mount's
//! permissions (a read-only export stays read-only for them), keep working after a leader
//! SIGKILL, and are refused with a ticket that is not the session's or whose mount is gone.
//!
//! One cluster on 127.0.98.x.

use std::time::Duration;

use client::fuse::masterinfo;
use client::{ClientConfig, ClientError, MasterClient};
use raftmfs_tests::{run_tool, runtime, Cluster};

const BLOCK: u8 = 98;

const EXPORTS: &str = "\
*               /        rw,alldirs,maproot=0:0,password=secret
*               /ro      ro,maproot=0:0,password=other
";

/// Run `tool args...`, expecting success; its standard output.
fn ok(tool: &str, args: &[&str]) -> String {
    let (success, out, err) = run_tool(tool, args);
    assert!(success, "{tool} {args:?} failed:\nstdout: {out}\nstderr: {err}");
    out
}

/// A tool session opened with `ticket` for session `parent`, or why it was refused.
fn join(c: &Cluster, parent: u64, ticket: [u8; 16]) -> Result<MasterClient, ClientError> {
    let addrs = c.client_addrs();
    let mut cfg = ClientConfig::new(&addrs.iter().map(String::as_str).collect::<Vec<_>>());
    cfg.op_timeout = Duration::from_secs(30);
    cfg.tool_of = Some((parent, ticket));
    runtime().block_on(MasterClient::connect(cfg))
}

#[test]
fn tools_join_the_mount_session_of_a_password_export() {
    assert_eq!(unsafe { libc::geteuid() }, 0, "mount tests run as root");
    let files = tempfile::Builder::new().prefix("raftmfs-toolpass-").tempdir().expect("tempdir");
    let exports = files.path().join("mfsexports.cfg");
    std::fs::write(&exports, EXPORTS).expect("write exports");
    let mut c = Cluster::with_chunkservers(BLOCK, &format!("EXPORTS_FILENAME = {}", exports.display()), "");

    let m = c.mount(&["-o", "mfspassword=secret"]);
    std::fs::create_dir(m.path("ro")).expect("mkdir ro");
    std::fs::write(m.path("ro/file"), b"read-only for the /ro export\n").expect("write ro/file");
    std::fs::write(m.path("f"), vec![7u8; 300_000]).expect("write f");
    let f = m.path("f");
    let f = f.to_str().expect("utf-8 path");

    // Every kind of tool works on the password export: changes, reads, snapshots.
    ok("mfssetgoal", &["2", f]);
    assert!(ok("mfsgetgoal", &[f]).contains(": 2"), "goal 2 set by the tool");
    ok("mfssettrashtime", &["3600", f]);
    assert!(ok("mfsgettrashtime", &[f]).contains(": 3600"));
    let snap = m.path("f.snap");
    ok("mfsmakesnapshot", &[f, snap.to_str().expect("utf-8")]);
    assert_eq!(std::fs::read(&snap).expect("read the snapshot"), vec![7u8; 300_000]);
    let root = m.dir.to_str().expect("utf-8");
    assert!(ok("mfsdirinfo", &[root]).contains("files"), "mfsdirinfo on the mount root");

    // The ticket proves the mount's session and nothing else.
    let info = masterinfo::parse(&std::fs::read_to_string(m.path(".masterinfo")).expect("read .masterinfo"))
        .expect("parse .masterinfo");
    let (parent, ticket) = info.session.expect("the mount shows its session and ticket");
    let mut wrong = ticket;
    wrong[0] ^= 1;
    match join(&c, parent, wrong) {
        Err(ClientError::Refused(reason)) => assert!(reason.contains("no mount session"), "{reason}"),
        other => panic!("a wrong ticket must be refused, got {:?}", other.map(|c| c.session_id())),
    }
    match join(&c, parent + 1000, ticket) {
        Err(ClientError::Refused(_)) => {}
        other => panic!("another session's id must be refused, got {:?}", other.map(|c| c.session_id())),
    }
    let joined = join(&c, parent, ticket).expect("the mount's own ticket opens a tool session");
    assert_ne!(joined.session_id(), parent, "a tool session of its own (its own exactly-once sequence)");
    runtime().block_on(joined.close()).expect("close the tool session");

    // A read-only export stays read-only for its tools.
    let ro = c.mount(&["-S", "/ro", "-o", "mfspassword=other"]);
    let rf = ro.path("file");
    let rf = rf.to_str().expect("utf-8");
    assert!(ok("mfsgetgoal", &[rf]).contains(": 1"), "tools read on a read-only export");
    let (success, out, err) = run_tool("mfssetgoal", &["3", rf]);
    assert!(!success || !out.contains(": 3"), "mfssetgoal on a read-only export: {out} {err}");
    assert!(ok("mfsgetgoal", &[rf]).contains(": 1"), "the goal is unchanged");

    // Sessions are replicated: a new leader knows the mount's session and its ticket.
    let leader = c.wait_leader(Duration::from_secs(30));
    c.kill(leader);
    let new_leader = c.wait_leader(Duration::from_secs(30));
    assert_ne!(new_leader, leader);
    ok("mfssetgoal", &["3", f]);
    assert!(ok("mfsgetgoal", &[f]).contains(": 3"), "a tool after the leader's SIGKILL");

    // Once the mount is gone its ticket opens nothing.
    drop(ro);
    let mut m = m;
    m.unmount();
    match join(&c, parent, ticket) {
        Err(ClientError::Refused(_)) => {}
        other => panic!("the ticket of an unmounted mount must be refused, got {:?}", other.map(|c| c.session_id())),
    }
}
