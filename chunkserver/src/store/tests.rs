//! Unit tests of the store: scanning, versions, space, locking, reloads, and damage.

use std::path::Path;
use std::time::Duration;

use proto::cs::{ChunkReport, CsError};

use super::*;
use crate::chunk_file::{self, subfolder_name, TMP_SUFFIX};
use crate::hdd::{Amount, HddEntry, SpaceLimit};

const B: usize = chunk_file::BLOCK as usize;

fn entry(path: &Path) -> HddEntry {
    HddEntry { path: path.to_path_buf(), to_remove: false, limit: None }
}

fn with_limit(path: &Path, bytes: u64) -> HddEntry {
    HddEntry { limit: Some(SpaceLimit::Max(Amount::Bytes(bytes))), ..entry(path) }
}

fn open(entries: &[HddEntry]) -> Store {
    Store::open(entries, 0).unwrap()
}

fn report(id: u64, version: u32, to_remove: bool) -> ChunkReport {
    ChunkReport { id, version, to_remove }
}

#[tokio::test]
async fn scan_creates_folders_ignores_foreign_files_and_keeps_both_versions() {
    let d = tempfile::tempdir().unwrap();
    {
        let s = open(&[entry(d.path())]);
        assert!(d.path().join("00").is_dir() && d.path().join("FF").is_dir());
        s.create(0x101, 1).await.unwrap();
        s.create(0x202, 5).await.unwrap();
        s.write(0x202, 5, 0, b"data".to_vec()).await.unwrap();
        s.close_all().await;
    }
    // A stale older version of 0x202 next to the new one, foreign files, a leftover.
    let sub = d.path().join("02");
    std::fs::copy(sub.join(chunk_file::chunk_file_name(0x202, 5)), sub.join(chunk_file::chunk_file_name(0x202, 4)))
        .unwrap();
    std::fs::write(sub.join("notes.txt"), b"x").unwrap();
    std::fs::write(sub.join("chunk_0000000000000202_00000005.MFS"), b"x").unwrap();
    std::fs::write(d.path().join("03").join(chunk_file::chunk_file_name(0x202, 9)), b"x").unwrap();
    let leftover = sub.join(format!("{}{TMP_SUFFIX}", chunk_file::chunk_file_name(0x202, 6)));
    std::fs::write(&leftover, b"x").unwrap();

    let s = open(&[entry(d.path())]);
    assert_eq!(s.chunk_list(), vec![report(0x101, 1, false), report(0x202, 4, false), report(0x202, 5, false)]);
    assert!(!leftover.exists(), "replication leftovers are deleted");
    assert!(sub.join("notes.txt").exists(), "foreign files are left alone");
    // The newest version is served.
    assert_eq!(s.read(0x202, 5, 0, 4).await.unwrap(), b"data");
    assert_eq!(s.read(0x202, 4, 0, 4).await, Err(CsError::WrongVersion { have: 5 }));
    // Deleting the stale one keeps the served one.
    s.delete(0x202, 4).await.unwrap();
    assert_eq!(s.chunk_list(), vec![report(0x101, 1, false), report(0x202, 5, false)]);
    assert!(!sub.join(chunk_file::chunk_file_name(0x202, 4)).exists());
    assert_eq!(s.read(0x202, 5, 0, 4).await.unwrap(), b"data");
}

#[tokio::test]
async fn deleting_the_served_version_falls_back_to_a_duplicate() {
    let d = tempfile::tempdir().unwrap();
    let sub = d.path().join("07");
    {
        let s = open(&[entry(d.path())]);
        s.create(7, 2).await.unwrap();
        s.close_all().await;
    }
    std::fs::copy(sub.join(chunk_file::chunk_file_name(7, 2)), sub.join(chunk_file::chunk_file_name(7, 3))).unwrap();
    let s = open(&[entry(d.path())]);
    s.delete(7, 3).await.unwrap();
    assert_eq!(s.chunk_list(), vec![report(7, 2, false)]);
    assert_eq!(s.info(7, 2).await.unwrap(), (0, vec![]));
}

#[tokio::test]
async fn chunk_lifecycle_and_version_checks() {
    let d = tempfile::tempdir().unwrap();
    let s = open(&[entry(d.path())]);
    assert_eq!(s.read(1, 1, 0, 1).await, Err(CsError::NoChunk));
    s.create(1, 1).await.unwrap();
    s.write(1, 1, 10, b"hello".to_vec()).await.unwrap();
    assert_eq!(s.write(1, 2, 0, b"x".to_vec()).await, Err(CsError::WrongVersion { have: 1 }));
    assert_eq!(s.set_version(1, vec![5, 6], 7).await, Err(CsError::WrongVersion { have: 1 }));
    s.set_version(1, vec![0, 1], 2).await.unwrap();
    assert_eq!(s.chunk_list(), vec![report(1, 2, false)]);
    assert!(d.path().join("01").join(chunk_file::chunk_file_name(1, 2)).exists());
    assert_eq!(s.read(1, 2, 10, 5).await.unwrap(), b"hello");
    s.sync(1, 2).await.unwrap();
    assert_eq!(s.info(1, 2).await.unwrap().0, B as u32);
    s.truncate(1, 2, 12).await.unwrap();
    assert_eq!(s.read(1, 2, 10, 5).await.unwrap(), b"he\0\0\0");
    assert_eq!(s.delete(1, 9).await, Err(CsError::WrongVersion { have: 2 }));
    s.delete(1, 0).await.unwrap();
    assert_eq!(s.delete(1, 0).await, Err(CsError::NoChunk));
    assert_eq!(s.chunk_list(), vec![]);
    assert_eq!(std::fs::read_dir(d.path().join("01")).unwrap().count(), 0);
    assert_eq!(s.disks()[0].used(), 0);
}

#[tokio::test]
async fn create_replaces_any_existing_copy() {
    let d = tempfile::tempdir().unwrap();
    let s = open(&[entry(d.path())]);
    s.create(3, 1).await.unwrap();
    s.write(3, 1, 0, b"old".to_vec()).await.unwrap();
    s.create(3, 4).await.unwrap();
    assert_eq!(s.chunk_list(), vec![report(3, 4, false)]);
    assert_eq!(s.read(3, 4, 0, 3).await.unwrap(), b"\0\0\0");
    assert!(!d.path().join("03").join(chunk_file::chunk_file_name(3, 1)).exists());
    s.create(3, 4).await.unwrap();
    assert_eq!(s.chunk_list(), vec![report(3, 4, false)]);
}

#[tokio::test]
async fn new_chunks_go_to_the_disk_with_most_space_and_never_to_a_removed_one() {
    let (a, b, c) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut removed = with_limit(c.path(), 900 << 20);
    removed.to_remove = true;
    let s = open(&[with_limit(a.path(), 100 << 20), with_limit(b.path(), 200 << 20), removed]);
    for id in 0..4 {
        s.create(id, 1).await.unwrap();
    }
    let on_b = (0..4u64)
        .filter(|id| b.path().join(subfolder_name(*id)).join(chunk_file::chunk_file_name(*id, 1)).exists())
        .count();
    assert_eq!(on_b, 4);
    // Marked disks count in no total.
    let space = s.space();
    assert_eq!(space.total, 300 << 20);
    assert_eq!(space.chunks, 4);
    assert!(space.avail <= 300 << 20 && space.avail > 290 << 20);
    let status = s.disk_status();
    assert_eq!(status[1].chunks, 4);
    assert!(status[2].to_remove);
}

#[tokio::test]
async fn a_full_disk_gives_no_space_and_keeps_existing_data() {
    let d = tempfile::tempdir().unwrap();
    let s = open(&[with_limit(d.path(), chunk_file::DATA_OFFSET + 3 * B as u64)]);
    s.create(1, 1).await.unwrap();
    let data: Vec<u8> = (0..2 * B).map(|i| i as u8).collect();
    s.write(1, 1, 0, data.clone()).await.unwrap();
    // Room for a header and three blocks, two stored: two more do not fit.
    assert_eq!(s.write(1, 1, 2 * B as u32 - 10, vec![9u8; 2 * B]).await, Err(CsError::NoSpace));
    assert_eq!(s.truncate(1, 1, 8 * B as u32).await, Err(CsError::NoSpace));
    assert_eq!(s.read(1, 1, 0, 3 * B as u32).await.unwrap()[..2 * B], data[..]);
    assert_eq!(s.info(1, 1).await.unwrap().0, 2 * B as u32);
    // Overwrites need no new space.
    s.write(1, 1, 5, b"ok".to_vec()).await.unwrap();
    // No disk can take a new chunk.
    assert_eq!(s.create(2, 1).await, Err(CsError::NoSpace));
    assert_eq!(s.chunk_list(), vec![report(1, 1, false)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_to_one_block_serialize() {
    let d = tempfile::tempdir().unwrap();
    let s = Arc::new(open(&[entry(d.path())]));
    s.create(9, 1).await.unwrap();
    // Each write is a read-modify-write of block 0: without the chunk lock, updates get lost.
    let tasks: Vec<_> = (0..64u32)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move { s.write(9, 1, i * 100, vec![i as u8 + 1; 100]).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let got = s.read(9, 1, 0, 6400).await.unwrap();
    for i in 0..64usize {
        assert!(got[i * 100..(i + 1) * 100].iter().all(|&b| b == i as u8 + 1), "write {i} lost");
    }
}

#[tokio::test]
async fn replicas_appear_only_when_committed() {
    let d = tempfile::tempdir().unwrap();
    let s = open(&[entry(d.path())]);
    let mut r = s.begin_replica(5, 3).await.unwrap();
    r.write(0, &[1u8; 100]).unwrap();
    assert_eq!(s.chunk_list(), vec![]);
    s.commit_replica(r).await.unwrap();
    assert_eq!(s.chunk_list(), vec![report(5, 3, false)]);
    assert_eq!(s.read(5, 3, 0, 100).await.unwrap(), vec![1u8; 100]);
    let r = s.begin_replica(6, 1).await.unwrap();
    tokio::task::spawn_blocking(move || r.abort()).await.unwrap();
    assert_eq!(std::fs::read_dir(d.path().join("06")).unwrap().count(), 0);
}

#[tokio::test]
async fn reload_adds_and_drops_disks_and_marks() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    {
        let s = open(&[entry(b.path())]);
        s.create(0xB0, 1).await.unwrap();
        s.close_all().await;
    }
    let s = open(&[entry(a.path())]);
    s.create(0xA0, 1).await.unwrap();
    let r = s.reload(vec![entry(a.path()), entry(b.path())]).await;
    assert_eq!(r.added, vec![report(0xB0, 1, false)]);
    assert_eq!(s.chunk_list(), vec![report(0xA0, 1, false), report(0xB0, 1, false)]);
    let mut marked = entry(a.path());
    marked.to_remove = true;
    let r = s.reload(vec![marked, entry(b.path())]).await;
    assert_eq!(r.changed, vec![report(0xA0, 1, true)]);
    let r = s.reload(vec![entry(b.path())]).await;
    assert_eq!(r.removed, vec![report(0xA0, 1, true)]);
    assert_eq!(r.disks_removed, vec![a.path().to_path_buf()]);
    assert_eq!(s.chunk_list(), vec![report(0xB0, 1, false)]);
    assert_eq!(s.read(0xA0, 1, 0, 1).await, Err(CsError::NoChunk));
    // The removed disk's files stay where they are.
    assert!(a.path().join("A0").join(chunk_file::chunk_file_name(0xA0, 1)).exists());
}

#[tokio::test]
async fn a_disk_is_used_by_one_store_at_a_time() {
    let d = tempfile::tempdir().unwrap();
    let s = open(&[entry(d.path())]);
    assert!(Store::open(&[entry(d.path())], 0).is_err());
    s.close_all().await;
    drop(s);
    open(&[entry(d.path())]);
    let missing = d.path().join("missing");
    assert!(Store::open(&[entry(&missing)], 0).is_err());
}

#[tokio::test]
async fn idle_files_are_closed_and_reopened_on_demand() {
    let d = tempfile::tempdir().unwrap();
    let s = open(&[entry(d.path())]);
    s.create(1, 1).await.unwrap();
    s.write(1, 1, 0, b"abc".to_vec()).await.unwrap();
    assert_eq!(s.open_files(), 1);
    s.close_idle(Duration::ZERO).await;
    assert_eq!(s.open_files(), 0);
    assert!(lock(&s.index)[&1].slot.try_read().unwrap().copy.as_ref().unwrap().file.is_none());
    assert_eq!(s.read(1, 1, 0, 3).await.unwrap(), b"abc");
    assert_eq!(s.open_files(), 1);
    // Deleted chunks' locks are forgotten.
    s.delete(1, 1).await.unwrap();
    s.close_idle(Duration::ZERO).await;
    assert!(lock(&s.index).is_empty());
    assert_eq!(s.open_files(), 0);
}

// ---- Damage ----

/// Flip one byte of block `b` of the served copy of `id`, on disk.
fn flip_block(s: &Store, id: u64, b: u64) {
    use std::os::unix::fs::FileExt;
    let path = s.path_of(id).unwrap();
    let f = std::fs::OpenOptions::new().read(true).write(true).open(path).unwrap();
    let pos = chunk_file::DATA_OFFSET + b * B as u64 + 99;
    let mut x = [0u8];
    f.read_exact_at(&mut x, pos).unwrap();
    f.write_all_at(&[x[0] ^ 0x40], pos).unwrap();
}

fn pattern(blocks: usize, seed: u8) -> Vec<u8> {
    (0..blocks * B).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

#[tokio::test]
async fn a_bad_block_is_refused_while_the_others_serve_until_rewritten_whole() {
    let d = tempfile::tempdir().unwrap();
    let s = open(&[entry(d.path())]);
    s.create(1, 1).await.unwrap();
    let data = pattern(4, 1);
    s.write(1, 1, 0, data.clone()).await.unwrap();
    flip_block(&s, 1, 2);
    assert_eq!(s.read(1, 1, 0, 4 * B as u32).await, Err(CsError::Crc { block: 2 }));
    assert_eq!(s.damage().bad_blocks(1), [2].into_iter().collect());
    // Every other block still serves; the bad one never does.
    assert_eq!(s.read(1, 1, 0, 2 * B as u32).await.unwrap(), data[..2 * B]);
    assert_eq!(s.read(1, 1, 3 * B as u32, B as u32).await.unwrap(), data[3 * B..]);
    assert_eq!(s.read(1, 1, 2 * B as u32 + 7, 1).await, Err(CsError::Crc { block: 2 }));
    // A partial write cannot merge into it, and changes nothing.
    assert_eq!(s.write(1, 1, 2 * B as u32 + 5, b"xy".to_vec()).await, Err(CsError::Crc { block: 2 }));
    assert_eq!(s.truncate(1, 1, 2 * B as u32 + 5).await, Err(CsError::Crc { block: 2 }));
    let reports = s.damage().take_pending();
    assert_eq!(reports.len(), 1);
    assert_eq!((reports[0].id, reports[0].version, reports[0].blocks.clone()), (1, 1, vec![2]));
    // Renumbered, the copy keeps its damage.
    s.set_version(1, vec![1], 2).await.unwrap();
    assert_eq!(s.damage().reports()[0].version, 2);
    assert_eq!(s.read(1, 2, 2 * B as u32, 1).await, Err(CsError::Crc { block: 2 }));
    // A write covering it whole makes it good again.
    let fresh = pattern(1, 9);
    s.write(1, 2, B as u32 + 10, [vec![7u8; B - 10], fresh.clone(), vec![8u8; 3]].concat()).await.unwrap();
    assert!(s.damage().get(1).is_none());
    assert_eq!(s.read(1, 2, 2 * B as u32, B as u32).await.unwrap(), fresh);
    s.verify(1).await.unwrap();
}

#[tokio::test]
async fn the_scrubber_finds_every_bad_block_and_a_truncate_forgets_those_cut_away() {
    let d = tempfile::tempdir().unwrap();
    let s = open(&[entry(d.path())]);
    s.create(5, 3).await.unwrap();
    s.write(5, 3, 0, pattern(40, 2)).await.unwrap();
    for b in [3, 20, 39] {
        flip_block(&s, 5, b);
    }
    assert_eq!(s.verify(5).await.unwrap(), (3, 3));
    assert_eq!(s.verify(5).await.unwrap(), (3, 0), "known blocks are not found twice");
    assert_eq!(s.damage().bad_blocks(5), [3, 20, 39].into_iter().collect());
    s.truncate(5, 3, 20 * B as u32).await.unwrap();
    assert_eq!(s.damage().bad_blocks(5), [3].into_iter().collect());
    assert_eq!(s.damage().stats().bad_blocks, 1);
}

#[tokio::test]
async fn a_repair_rewrites_only_blocks_still_bad() {
    let d = tempfile::tempdir().unwrap();
    let s = open(&[entry(d.path())]);
    s.create(8, 1).await.unwrap();
    let data = pattern(4, 3);
    s.write(8, 1, 0, data.clone()).await.unwrap();
    flip_block(&s, 8, 1);
    flip_block(&s, 8, 3);
    s.verify(8).await.unwrap();
    // The stored CRCs are what good copies of the blocks hash to.
    let want = s.bad_blocks_of(8, 1, vec![0, 1, 3]).await.unwrap();
    assert_eq!(want, vec![(1, crc32fast::hash(&data[B..2 * B])), (3, crc32fast::hash(&data[3 * B..]))]);
    // A client rewrites block 3 whole meanwhile: the repair must not put older bytes back.
    let newer = pattern(1, 77);
    s.write(8, 1, 3 * B as u32, newer.clone()).await.unwrap();
    let left = s.repair(8, 1, vec![(1, data[B..2 * B].to_vec()), (3, data[3 * B..].to_vec())]).await.unwrap();
    assert!(left.is_empty());
    assert_eq!(s.read(8, 1, 0, 4 * B as u32).await.unwrap(), [&data[..3 * B], &newer[..]].concat());
    assert_eq!(s.repair(8, 2, vec![]).await, Err(CsError::WrongVersion { have: 1 }));
}

#[tokio::test]
async fn a_missing_file_takes_the_copy_out_of_service_without_deleting_anything() {
    let d = tempfile::tempdir().unwrap();
    let s = open(&[entry(d.path())]);
    s.create(4, 1).await.unwrap();
    s.write(4, 1, 0, b"abc".to_vec()).await.unwrap();
    s.close_idle(Duration::ZERO).await;
    std::fs::remove_file(s.path_of(4).unwrap()).unwrap();
    assert!(matches!(s.read(4, 1, 0, 3).await, Err(CsError::Unusable(m)) if m.contains("missing")));
    assert!(s.damage().is_unusable(4));
    assert!(matches!(s.write(4, 1, 0, b"x".to_vec()).await, Err(CsError::Unusable(_))));
    assert!(matches!(s.sync(4, 1).await, Err(CsError::Unusable(_))));
    assert!(matches!(s.info(4, 1).await, Err(CsError::Unusable(_))));
    assert_eq!(s.damage().take_pending()[0].blocks, Vec::<u32>::new(), "the whole copy");
    // Still held and reported (the leader decides what to do with it).
    assert_eq!(s.chunk_list(), vec![report(4, 1, false)]);
    assert_eq!(s.next_chunk_after(None), None, "nothing to scrub in it");
    s.delete(4, 1).await.unwrap();
    assert!(s.damage().all().is_empty());
}

#[tokio::test]
async fn a_short_file_found_by_the_scan_is_out_of_service() {
    let d = tempfile::tempdir().unwrap();
    {
        let s = open(&[entry(d.path())]);
        s.create(0x77, 2).await.unwrap();
        s.close_all().await;
    }
    let path = d.path().join("77").join(chunk_file::chunk_file_name(0x77, 2));
    std::fs::write(&path, b"cut short").unwrap();
    let s = open(&[entry(d.path())]);
    assert!(s.damage().is_unusable(0x77));
    assert_eq!(s.damage().reports().len(), 1);
    assert!(matches!(s.read(0x77, 2, 0, 1).await, Err(CsError::Unusable(_))));
    assert!(path.exists(), "kept for the operator");
}
