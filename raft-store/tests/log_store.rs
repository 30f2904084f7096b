//! `RocksLogStore` behaviour on a real RocksDB in temp directories.

mod common;

use std::ops::Bound;
use std::path::Path;

use common::{blank, log_id, membership, normal, TC};
use openraft::storage::{LogState, RaftLogReader, RaftLogReaderExt, RaftLogStorage, RaftLogStorageExt};
use openraft::{Entry, StorageError, Vote};
use raft_store::log_store::{CF_LOGS, CF_META};
use raft_store::RocksLogStore;
use rocksdb::{ColumnFamilyDescriptor, Options, DB};
use tempfile::TempDir;

fn open(dir: &Path) -> RocksLogStore<TC> {
    RocksLogStore::<TC>::open(&dir.join("log")).expect("open log store")
}

fn ten_entries() -> Vec<Entry<TC>> {
    let mut v = vec![membership(1, 1, &[1, 2, 3])];
    for i in 2..=10 {
        if i % 3 == 0 {
            v.push(normal(1 + i / 5, i, &format!("cmd-{i}")));
        } else {
            v.push(blank(1 + i / 5, i));
        }
    }
    v
}

fn indexes(entries: &[Entry<TC>]) -> Vec<u64> {
    entries.iter().map(|e| e.log_id.index).collect()
}

/// Opens the raw RocksDB behind a (closed) store to tamper with it.
fn raw_db(dir: &Path) -> DB {
    let mut opts = Options::default();
    opts.create_if_missing(false);
    let cfs = [
        ColumnFamilyDescriptor::new(CF_LOGS, Options::default()),
        ColumnFamilyDescriptor::new(CF_META, Options::default()),
    ];
    DB::open_cf_descriptors(&opts, dir.join("log"), cfs).expect("open raw db")
}

#[tokio::test]
async fn append_and_read_back_across_reopen() {
    let dir = TempDir::new().unwrap();
    let entries = ten_entries();
    {
        let mut store = open(dir.path());
        assert_eq!(store.get_log_state().await.unwrap(), LogState { last_purged_log_id: None, last_log_id: None });
        // Two append calls: one batch of 6, one of 4.
        store.blocking_append(entries[..6].to_vec()).await.unwrap();
        store.blocking_append(entries[6..].to_vec()).await.unwrap();
        // Readable right away, also through a reader obtained from the store.
        let mut reader = store.get_log_reader().await;
        assert_eq!(reader.try_get_log_entries(..).await.unwrap(), entries);
    }
    let mut store = open(dir.path());
    assert_eq!(store.try_get_log_entries(..).await.unwrap(), entries);
    assert_eq!(
        store.get_log_state().await.unwrap(),
        LogState { last_purged_log_id: None, last_log_id: Some(log_id(3, 10)) }
    );

    // Range flavours.
    assert_eq!(indexes(&store.try_get_log_entries(3..7).await.unwrap()), [3, 4, 5, 6]);
    assert_eq!(indexes(&store.try_get_log_entries(3..=7).await.unwrap()), [3, 4, 5, 6, 7]);
    assert_eq!(indexes(&store.try_get_log_entries(..3).await.unwrap()), [1, 2]);
    assert_eq!(indexes(&store.try_get_log_entries(9..).await.unwrap()), [9, 10]);
    assert_eq!(indexes(&store.try_get_log_entries((Bound::Excluded(2), Bound::Included(4))).await.unwrap()), [3, 4]);
    assert!(store.try_get_log_entries(5..5).await.unwrap().is_empty());
    assert!(store.try_get_log_entries(0..0).await.unwrap().is_empty());
    assert!(store.try_get_log_entries(11..100).await.unwrap().is_empty());
    assert!(store.try_get_log_entries((Bound::Excluded(u64::MAX), Bound::Unbounded)).await.unwrap().is_empty());
    assert_eq!(store.get_log_id(10).await.unwrap(), log_id(3, 10));
    // The stored payloads survive the round trip.
    assert_eq!(store.try_get_log_entry(6).await.unwrap(), Some(entries[5].clone()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_on_multi_thread_runtime_and_clones_share_the_db() {
    let dir = TempDir::new().unwrap();
    let mut store = open(dir.path());
    let mut clone = store.clone();
    store.blocking_append(ten_entries()).await.unwrap();
    assert_eq!(clone.try_get_log_entries(..).await.unwrap(), ten_entries());
    clone.save_vote(&Vote::new(4, 2)).await.unwrap();
    assert_eq!(store.read_vote().await.unwrap(), Some(Vote::new(4, 2)));
    store.flush().unwrap();
}

#[tokio::test]
async fn vote_and_committed_persist_across_reopen() {
    let dir = TempDir::new().unwrap();
    {
        let mut store = open(dir.path());
        assert_eq!(store.read_vote().await.unwrap(), None);
        assert_eq!(store.read_committed().await.unwrap(), None);
        store.save_vote(&Vote::new(3, 1)).await.unwrap();
        let mut committed = Vote::new(5, 2);
        committed.commit();
        store.save_vote(&committed).await.unwrap();
        store.blocking_append([blank(5, 1), blank(5, 2)]).await.unwrap();
        store.save_committed(Some(log_id(5, 2))).await.unwrap();
    }
    {
        let mut store = open(dir.path());
        let mut want = Vote::new(5, 2);
        want.commit();
        assert_eq!(store.read_vote().await.unwrap(), Some(want));
        assert_eq!(store.read_committed().await.unwrap(), Some(log_id(5, 2)));
        store.save_committed(None).await.unwrap();
        assert_eq!(store.read_committed().await.unwrap(), None);
    }
}

#[tokio::test]
async fn truncate_and_purge_semantics() {
    let dir = TempDir::new().unwrap();
    {
        let mut store = open(dir.path());
        store.blocking_append(ten_entries()).await.unwrap();

        // Truncate [7, ∞).
        store.truncate(log_id(2, 7)).await.unwrap();
        assert_eq!(indexes(&store.try_get_log_entries(..).await.unwrap()), [1, 2, 3, 4, 5, 6]);
        assert_eq!(
            store.get_log_state().await.unwrap(),
            LogState { last_purged_log_id: None, last_log_id: Some(log_id(2, 6)) }
        );
        // Truncating beyond the end is a no-op.
        store.truncate(log_id(2, 50)).await.unwrap();
        assert_eq!(store.try_get_log_entries(..).await.unwrap().len(), 6);

        // New entries at the truncated indexes (a new leader's log).
        store.blocking_append([blank(4, 7), blank(4, 8)]).await.unwrap();
        assert_eq!(
            store.get_log_state().await.unwrap(),
            LogState { last_purged_log_id: None, last_log_id: Some(log_id(4, 8)) }
        );

        // Purge (-∞, 3].
        store.purge(log_id(1, 3)).await.unwrap();
        assert_eq!(indexes(&store.try_get_log_entries(..).await.unwrap()), [4, 5, 6, 7, 8]);
        assert_eq!(
            store.get_log_state().await.unwrap(),
            LogState { last_purged_log_id: Some(log_id(1, 3)), last_log_id: Some(log_id(4, 8)) }
        );
    }
    let mut store = open(dir.path());
    assert_eq!(
        store.get_log_state().await.unwrap(),
        LogState { last_purged_log_id: Some(log_id(1, 3)), last_log_id: Some(log_id(4, 8)) },
        "state survives reopen"
    );
    assert_eq!(indexes(&store.try_get_log_entries(..).await.unwrap()), [4, 5, 6, 7, 8]);

    // Purge everything: last_log_id falls back to last_purged_log_id.
    store.purge(log_id(4, 8)).await.unwrap();
    assert!(store.try_get_log_entries(..).await.unwrap().is_empty());
    assert_eq!(
        store.get_log_state().await.unwrap(),
        LogState { last_purged_log_id: Some(log_id(4, 8)), last_log_id: Some(log_id(4, 8)) }
    );

    // Purge beyond the last entry (snapshot installed from the leader).
    store.purge(log_id(6, 20)).await.unwrap();
    assert_eq!(
        store.get_log_state().await.unwrap(),
        LogState { last_purged_log_id: Some(log_id(6, 20)), last_log_id: Some(log_id(6, 20)) }
    );

    // Appending continues after the purge point.
    store.blocking_append([blank(6, 21)]).await.unwrap();
    assert_eq!(
        store.get_log_state().await.unwrap(),
        LogState { last_purged_log_id: Some(log_id(6, 20)), last_log_id: Some(log_id(6, 21)) }
    );
    drop(store);
    let mut store = open(dir.path());
    assert_eq!(indexes(&store.try_get_log_entries(..).await.unwrap()), [21]);
}

fn assert_io_error(res: Result<impl std::fmt::Debug, StorageError<u64>>, needle: &str) {
    match res {
        Err(e @ StorageError::IO { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains(needle), "{msg:?} should mention {needle:?}");
        }
        other => panic!("expected a StorageError::IO mentioning {needle:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn corrupt_values_on_disk_give_storage_errors_not_panics() {
    let dir = TempDir::new().unwrap();
    {
        let mut store = open(dir.path());
        store.blocking_append(ten_entries()).await.unwrap();
        store.save_vote(&Vote::new(2, 1)).await.unwrap();
    }
    {
        let db = raw_db(dir.path());
        let logs = db.cf_handle(CF_LOGS).unwrap();
        // Garbage value at index 3.
        db.put_cf(logs, 3u64.to_be_bytes(), b"\xff\xff\xff garbage").unwrap();
        // A string length prefix of 2^60 at index 5: must not try to allocate it.
        let mut huge = Vec::new();
        huge.extend_from_slice(&bincode::serde::encode_to_vec(log_id(1, 5), bincode::config::standard()).unwrap());
        huge.push(1); // EntryPayload::Normal
        huge.push(0xfd);
        huge.extend_from_slice(&(1u64 << 60).to_le_bytes());
        db.put_cf(logs, 5u64.to_be_bytes(), &huge).unwrap();
        // A valid entry under the wrong key.
        let e9 = bincode::serde::encode_to_vec(blank(1, 9), bincode::config::standard()).unwrap();
        db.put_cf(logs, 7u64.to_be_bytes(), &e9).unwrap();
        // Truncated vote.
        let meta = db.cf_handle(CF_META).unwrap();
        db.put_cf(meta, b"vote", [0x02]).unwrap();
    }
    let mut store = open(dir.path());
    assert_io_error(store.try_get_log_entries(..).await, "LogIndex(3)");
    assert_io_error(store.try_get_log_entries(5..6).await, "LogIndex(5)");
    assert_io_error(store.try_get_log_entries(7..8).await, "LogIndex(7)");
    assert_io_error(store.read_vote().await, "Vote");
    // Intact entries are still readable.
    assert_eq!(indexes(&store.try_get_log_entries(8..=10).await.unwrap()), [8, 9, 10]);
    drop(store);

    // A corrupt last entry makes get_log_state fail; a malformed key too.
    {
        let db = raw_db(dir.path());
        let logs = db.cf_handle(CF_LOGS).unwrap();
        db.put_cf(logs, 10u64.to_be_bytes(), b"").unwrap();
    }
    let mut store = open(dir.path());
    assert_io_error(store.get_log_state().await, "LogIndex(10)");
    drop(store);
    {
        let db = raw_db(dir.path());
        let logs = db.cf_handle(CF_LOGS).unwrap();
        db.put_cf(logs, [0xff; 9], b"x").unwrap();
    }
    let mut store = open(dir.path());
    assert_io_error(store.get_log_state().await, "log key");
    assert_io_error(store.try_get_log_entries(11..).await, "log key");
}
