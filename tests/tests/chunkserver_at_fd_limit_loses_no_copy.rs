//! Issue 10, item 2: a chunkserver out of file descriptors (its soft RLIMIT_NOFILE lowered
//! with `prlimit` on the running process) cannot open a chunk file: that is a shortage, not
//! damage.
//! The read is refused as busy, nothing is reported, no copy is deleted, and once the limit is
//! lifted the data reads back.
//!
//! Fails before this change (run against the binaries of c40e250): the EMFILE from `open` was
//! an I/O error, taken for damage: the chunkserver answered `Io` ("Too many open files"),
//! reported the copy damaged, and the leader deleted the only copy of the goal-1 file.

use std::process::Command;
use std::time::Duration;

use proto::cs::CsError;
use proto::data::{DataCall, DataOp, DataResponse};
use proto::token::DataToken;
use raftmfs_tests::{wait_for, Cluster};
use rand::RngCore;

type DataConn = proto::rpc::RpcConn<DataCall, DataResponse>;

/// Set the open-files limit of process `pid` (soft and hard; the hard one is left as it is,
/// raising it back would need CAP_SYS_RESOURCE).
fn set_nofile(pid: u32, soft: u64, hard: u64) {
    let ok = Command::new("prlimit")
        .arg("--pid")
        .arg(pid.to_string())
        .arg(format!("--nofile={soft}:{hard}"))
        .status()
        .expect("run prlimit");
    assert!(ok.success(), "prlimit --pid {pid} --nofile={soft}:{hard}");
}

/// (soft, hard) open-files limit of process `pid`.
fn nofile(pid: u32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = text.lines().find(|l| l.starts_with("Max open files")).expect("Max open files");
    let v: Vec<u64> = line.split_whitespace().filter_map(|w| w.parse().ok()).collect();
    (v[0], v[1])
}

/// The lowest descriptor number process `pid` has free.
fn lowest_free_fd(pid: u32) -> u64 {
    let open: std::collections::BTreeSet<u64> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    (0..).find(|n| !open.contains(n)).unwrap_or(0)
}

fn read(
    rt: &tokio::runtime::Runtime,
    conn: &DataConn,
    token: &DataToken,
    id: u64,
    version: u32,
    size: u32,
) -> DataResponse {
    let op = DataOp::Read { chunk_id: id, version, offset: 0, size };
    rt.block_on(conn.call(DataCall { token: Some(token.clone()), op }, Duration::from_secs(10))).unwrap()
}

#[test]
fn a_chunkserver_out_of_descriptors_keeps_its_copies() {
    let mut c = Cluster::with_chunkservers(62, "REPLICATIONS_DELAY_INIT = 0", "HDD_TEST_FREQ = 0");
    let rt = raftmfs_tests::runtime();
    let m = c.mount(&[]);
    let mut data = vec![0u8; 2 << 20];
    rand::thread_rng().fill_bytes(&mut data);
    std::fs::write(m.path("f"), &data).unwrap();
    let (server, id, version, path) = (0..3)
        .find_map(|i| c.chunkservers[i].chunk_files().into_iter().next().map(|(id, v, p)| (i, id, v, p)))
        .expect("the chunk file");

    // Restart that chunkserver so the chunk file is closed, and open a data connection to it
    // while it can still accept one.
    c.kill_chunkserver(server);
    c.start_chunkserver(server);
    c.wait_chunkservers(3, Duration::from_secs(30));
    let addr = c.chunkservers[server].data_addr();
    let conn = wait_for(Duration::from_secs(30), "a data connection", || {
        rt.block_on(DataConn::connect(&addr, Duration::from_secs(2))).ok()
    });
    let ino = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(m.path("f")).unwrap());
    let token = c.read_token(&rt, ino, 0);
    // The connection answers (here: a token is for its own chunk only).
    assert!(matches!(read(&rt, &conn, &token, id + 1000, 1, 10), DataResponse::Error(CsError::Token(_))));

    // Not one descriptor more: a new descriptor must be numbered below the limit, and 0, 1
    // and 2 are taken, so with a limit of 3 opening the chunk file fails with EMFILE (those
    // already open stay usable).
    let pid = c.chunkservers[server].pid().unwrap();
    let (soft, hard) = nofile(pid);
    assert!(lowest_free_fd(pid) >= 3);
    set_nofile(pid, 3, hard);
    let answer = read(&rt, &conn, &token, id, version, 4096);
    // Several tries, several refusals: none counts as damage.
    let again = read(&rt, &conn, &token, id, version, 4096);
    set_nofile(pid, soft, hard);
    assert!(matches!(answer, DataResponse::Error(CsError::Busy(_))), "not damage, a shortage: {answer:?}");
    assert!(matches!(again, DataResponse::Error(CsError::Busy(_))), "{again:?}");

    // The copy is there and serves again; it was never reported.
    assert!(path.exists(), "the copy was deleted");
    match read(&rt, &conn, &token, id, version, data.len() as u32) {
        DataResponse::Data(d) => assert!(d == data),
        other => panic!("{other:?}"),
    }
    let m2 = c.mount(&[]);
    assert!(std::fs::read(m2.path("f")).unwrap() == data);
    let metrics = c.cs_metrics(server).unwrap();
    assert!(metrics.contains("mfschunkserver_damaged_copies 0"), "{metrics}");
    assert!(!metrics.contains("mfschunkserver_busy_total 0"), "the refusals are counted:\n{metrics}");
    let leader = c.wait_leader(Duration::from_secs(30));
    raftmfs_tests::wait_for(Duration::from_secs(30), "the leader's chunk figures", || {
        c.metrics(leader).filter(|m| m.contains("mfsmaster_chunks_damaged 0")).map(|_| ())
    });
    let log = std::fs::read_to_string(c.chunkservers[server].log()).unwrap_or_default();
    assert!(log.contains("short of resources"), "logged:\n{log}");
}
