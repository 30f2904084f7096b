//! `SnapshotFiles` behaviour on real files in temp directories.

mod common;

use std::fs;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use common::{log_id, TC};
use openraft::{BasicNode, Membership, SnapshotMeta, StoredMembership};
use raft_store::SnapshotFiles;
use tempfile::TempDir;

fn meta(term: u64, index: u64, id: &str) -> SnapshotMeta<u64, BasicNode> {
    let nodes = [(1, BasicNode::new("a:1")), (2, BasicNode::new("b:2"))];
    SnapshotMeta {
        last_log_id: Some(log_id(term, index)),
        last_membership: StoredMembership::new(
            Some(log_id(1, 1)),
            Membership::new(
                vec![[1u64, 2].into_iter().collect()],
                nodes.into_iter().collect::<std::collections::BTreeMap<_, _>>(),
            ),
        ),
        snapshot_id: id.to_string(),
    }
}

fn data(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

fn names(files: &SnapshotFiles) -> Vec<String> {
    files.list().unwrap().iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect()
}

fn newest_path(files: &SnapshotFiles) -> std::path::PathBuf {
    files.list().unwrap().remove(0)
}

/// Collects tracing output of `f` (WARN and above) into a string.
fn capture_warnings<T>(f: impl FnOnce() -> T) -> (T, String) {
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let out = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(move || out.clone())
        .finish();
    let res = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    (res, text)
}

#[test]
fn save_and_load_latest_round_trip_across_reopen() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("snaps");
    let files = SnapshotFiles::open(&path).unwrap();
    assert!(files.load_latest::<TC>().unwrap().is_none());

    let m = meta(3, 0x1234, "s-1");
    let d = data(3 << 20, 7);
    files.save::<TC>(&m, &d).unwrap();
    assert_eq!(names(&files), ["snapshot-0000000000001234-3.rmfs"]);

    let (m2, d2) = files.load_latest::<TC>().unwrap().unwrap();
    assert_eq!(m2, m);
    assert_eq!(d2, d);

    drop(files);
    let files = SnapshotFiles::open(&path).unwrap();
    let (m3, d3) = files.load_latest::<TC>().unwrap().unwrap();
    assert_eq!((m3, d3), (m, d));

    // Empty data and an empty (never applied) snapshot work too.
    let empty = SnapshotMeta::<u64, BasicNode>::default();
    let other = SnapshotFiles::open(&dir.path().join("other")).unwrap();
    other.save::<TC>(&empty, &[]).unwrap();
    assert_eq!(other.load_latest::<TC>().unwrap(), Some((empty, Vec::new())));
}

#[test]
fn newest_wins_and_same_log_id_replaces() {
    let dir = TempDir::new().unwrap();
    let files = SnapshotFiles::open(dir.path()).unwrap();
    files.save::<TC>(&meta(2, 20, "b"), &data(10, 2)).unwrap();
    files.save::<TC>(&meta(1, 10, "a"), &data(10, 1)).unwrap();
    assert_eq!(files.load_latest::<TC>().unwrap().unwrap().0.snapshot_id, "b");

    // Rebuilding a snapshot at the same log id atomically replaces the file.
    files.save::<TC>(&meta(2, 20, "b2"), &data(5, 9)).unwrap();
    assert_eq!(files.list().unwrap().len(), 2);
    let (m, d) = files.load_latest::<TC>().unwrap().unwrap();
    assert_eq!(m.snapshot_id, "b2");
    assert_eq!(d, data(5, 9));
}

#[test]
fn only_the_newest_two_files_are_kept() {
    let dir = TempDir::new().unwrap();
    let files = SnapshotFiles::open(dir.path()).unwrap();
    for (i, index) in [5u64, 17, 300, 0x1_0000_0000].into_iter().enumerate() {
        files.save::<TC>(&meta(1 + i as u64, index, &format!("s{i}")), &data(100, i as u8)).unwrap();
    }
    assert_eq!(names(&files), ["snapshot-0000000100000000-4.rmfs", "snapshot-000000000000012c-3.rmfs"]);
    let all: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(all.len(), 2, "no other files left behind: {all:?}");
    assert_eq!(files.load_latest::<TC>().unwrap().unwrap().0.snapshot_id, "s3");
}

fn two_snapshots(dir: &Path) -> SnapshotFiles {
    let files = SnapshotFiles::open(dir).unwrap();
    files.save::<TC>(&meta(1, 10, "old"), &data(1000, 1)).unwrap();
    files.save::<TC>(&meta(2, 20, "new"), &data(1000, 2)).unwrap();
    files
}

#[test]
fn truncated_newest_snapshot_falls_back_to_previous() {
    let dir = TempDir::new().unwrap();
    let files = two_snapshots(dir.path());
    let newest = newest_path(&files);
    let len = fs::metadata(&newest).unwrap().len();
    fs::OpenOptions::new().write(true).open(&newest).unwrap().set_len(len - 100).unwrap();

    let (loaded, logs) = capture_warnings(|| files.load_latest::<TC>().unwrap());
    let (m, d) = loaded.unwrap();
    assert_eq!(m.snapshot_id, "old");
    assert_eq!(d, data(1000, 1));
    let name = newest.file_name().unwrap().to_string_lossy().into_owned();
    assert!(logs.contains("WARN"), "{logs}");
    assert!(logs.contains(&name), "warning names the file: {logs}");
    assert!(logs.contains("truncated"), "warning gives the reason: {logs}");

    // Truncated to almost nothing, too.
    fs::OpenOptions::new().write(true).open(&newest).unwrap().set_len(5).unwrap();
    assert_eq!(files.load_latest::<TC>().unwrap().unwrap().0.snapshot_id, "old");
    fs::OpenOptions::new().write(true).open(&newest).unwrap().set_len(0).unwrap();
    assert_eq!(files.load_latest::<TC>().unwrap().unwrap().0.snapshot_id, "old");
}

#[test]
fn corrupt_snapshot_files_are_skipped() {
    let dir = TempDir::new().unwrap();
    let files = two_snapshots(dir.path());
    let newest = newest_path(&files);
    let pristine = fs::read(&newest).unwrap();

    // A flipped bit in the data: checksum mismatch.
    let mut bytes = pristine.clone();
    bytes[600] ^= 0x10;
    fs::write(&newest, &bytes).unwrap();
    let (loaded, logs) = capture_warnings(|| files.load_latest::<TC>().unwrap());
    assert_eq!(loaded.unwrap().0.snapshot_id, "old");
    assert!(logs.contains("checksum mismatch"), "{logs}");

    // Bad magic.
    let mut bytes = pristine.clone();
    bytes[0] = b'X';
    fs::write(&newest, &bytes).unwrap();
    assert_eq!(files.load_latest::<TC>().unwrap().unwrap().0.snapshot_id, "old");

    // Huge meta / data lengths.
    let mut bytes = pristine.clone();
    bytes[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    fs::write(&newest, &bytes).unwrap();
    assert_eq!(files.load_latest::<TC>().unwrap().unwrap().0.snapshot_id, "old");

    // A file whose content belongs to another snapshot (renamed by hand).
    fs::write(&newest, &pristine).unwrap();
    let old = files.list().unwrap()[1].clone();
    fs::copy(&old, &newest).unwrap();
    let (loaded, logs) = capture_warnings(|| files.load_latest::<TC>().unwrap());
    assert_eq!(loaded.unwrap().0.snapshot_id, "old");
    assert!(logs.contains("file name says"), "{logs}");

    // Everything corrupt: no snapshot, no error, no panic.
    fs::write(&newest, b"junk").unwrap();
    fs::write(&old, b"").unwrap();
    assert!(files.load_latest::<TC>().unwrap().is_none());

    // Restoring the newest file makes it visible again.
    fs::write(&newest, &pristine).unwrap();
    assert_eq!(files.load_latest::<TC>().unwrap().unwrap().0.snapshot_id, "new");
}

#[test]
fn stale_tmp_files_are_removed_at_open_and_foreign_files_ignored() {
    let dir = TempDir::new().unwrap();
    let files = two_snapshots(dir.path());
    drop(files);
    let stale = dir.path().join("snapshot-0000000000000030-3.rmfs.999.0.tmp");
    fs::write(&stale, b"half written").unwrap();
    let foreign = dir.path().join("README");
    fs::write(&foreign, b"not a snapshot").unwrap();

    let files = SnapshotFiles::open(dir.path()).unwrap();
    assert!(!stale.exists());
    assert!(foreign.exists());
    assert_eq!(files.list().unwrap().len(), 2);
    assert_eq!(files.load_latest::<TC>().unwrap().unwrap().0.snapshot_id, "new");
}
