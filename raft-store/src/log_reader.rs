//! A Raft log opened read-only, for offline tools (`mfsmetarestore`): the committed log id a
//! master recorded and its entries in order. RocksDB's read-only mode takes no lock and
//! writes nothing, so the log may belong to a running master (it is read as it was when
//! opened) or be a copy in a backup, which stays as it was.

use std::path::Path;

use openraft::{LogId, RaftLogId, RaftTypeConfig};
use rocksdb::{Direction, IteratorMode, Options, ReadOptions, DB};

use crate::codec::decode;
use crate::error::StoreError;
use crate::log_store::{index_key, key_index, CF_LOGS, CF_META};

/// A log database opened read-only.
pub struct LogReader {
    db: DB,
}

impl LogReader {
    /// Open the log database at `path` without writing to it.
    pub fn open(path: &Path) -> Result<LogReader, StoreError> {
        let db = DB::open_cf_for_read_only(&Options::default(), path, [CF_LOGS, CF_META], false)?;
        let reader = LogReader { db };
        for cf in [CF_LOGS, CF_META] {
            reader.db.cf_handle(cf).ok_or(StoreError::MissingColumnFamily(cf))?;
        }
        Ok(reader)
    }

    fn meta<T: serde::de::DeserializeOwned>(
        &self,
        key: &'static [u8],
        what: &'static str,
    ) -> Result<Option<T>, StoreError> {
        let cf = self.db.cf_handle(CF_META).ok_or(StoreError::MissingColumnFamily(CF_META))?;
        match self.db.get_cf(cf, key)? {
            None => Ok(None),
            Some(bytes) => decode(what, &bytes).map(Some),
        }
    }

    /// The newest log id the master knew committed when it last recorded it (a lower bound:
    /// it records it without an fsync, and an orderly stop makes it durable).
    pub fn committed<C: RaftTypeConfig>(&self) -> Result<Option<LogId<C::NodeId>>, StoreError> {
        self.meta(b"committed", "committed log id")
    }

    /// The log id up to which the log was purged (its entries live in a snapshot).
    pub fn last_purged<C: RaftTypeConfig>(&self) -> Result<Option<LogId<C::NodeId>>, StoreError> {
        self.meta(b"last_purged_log_id", "last purged log id")
    }

    /// Call `f` with each entry from index `from` to `to` (inclusive), in order. Every index
    /// of the range must be there: a missing one is an error naming it.
    pub fn for_each<C: RaftTypeConfig>(
        &self,
        from: u64,
        to: u64,
        mut f: impl FnMut(C::Entry) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        if from > to {
            return Ok(());
        }
        let cf = self.db.cf_handle(CF_LOGS).ok_or(StoreError::MissingColumnFamily(CF_LOGS))?;
        let mut ro = ReadOptions::default();
        if let Some(past) = to.checked_add(1) {
            ro.set_iterate_upper_bound(index_key(past));
        }
        let mut want = from;
        for item in self.db.iterator_cf_opt(cf, ro, IteratorMode::From(&index_key(from), Direction::Forward)) {
            let (k, v) = item?;
            let index = key_index(&k)?;
            if index != want {
                return Err(StoreError::corrupt("log", format!("entry {want} is missing (the next one is {index})")));
            }
            let entry: C::Entry = decode("log entry", &v)?;
            if entry.get_log_id().index != index {
                return Err(StoreError::corrupt(
                    "log entry",
                    format!("entry under key {index} has log id {}", entry.get_log_id()),
                ));
            }
            f(entry)?;
            want += 1;
            if want > to {
                return Ok(());
            }
        }
        Err(StoreError::corrupt("log", format!("entry {want} is missing (the log ends before {to})")))
    }
}
