//! The Raft log and vote store on RocksDB: [`RocksLogStore`].

// The private helpers return openraft's `StorageError` (large, but dictated by the openraft
// traits they serve).
#![allow(clippy::result_large_err)]

use std::fmt;
use std::fmt::Debug;
use std::ops::Bound;
use std::ops::RangeBounds;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{ErrorSubject, ErrorVerb, LogId, OptionalSend, RaftLogId, RaftTypeConfig, StorageError, Vote};
use rocksdb::{
    ColumnFamily, ColumnFamilyDescriptor, DBCompressionType, Direction, IteratorMode, Options, ReadOptions, WriteBatch,
    WriteOptions, DB,
};

use crate::codec::{decode, encode};
use crate::error::StoreError;
use crate::recent::Recent;

/// Column family holding the log: key = big-endian `u64` index, value = bincode `C::Entry`.
pub const CF_LOGS: &str = "logs";
/// Column family holding the vote, the committed log id and the last purged log id.
pub const CF_META: &str = "meta";

const KEY_VOTE: &[u8] = b"vote";
const KEY_COMMITTED: &[u8] = b"committed";
const KEY_LAST_PURGED: &[u8] = b"last_purged_log_id";
/// Encoded bytes of the newest entries kept decoded in memory ([`Recent`]).
const RECENT_BYTES: usize = 8 << 20;

/// openraft's log storage ([`RaftLogStorage`] + [`RaftLogReader`], storage-v2) on RocksDB.
///
/// Cloning is cheap (an `Arc` of the database); all clones share the same database, and
/// [`RaftLogStorage::get_log_reader`] simply returns a clone.
///
/// Durability: `append` writes its entries as one RocksDB batch (readable at once) and hands
/// the `LogFlushed` callback to the store's flusher thread, which fsyncs the WAL and only then
/// fires it; `save_vote`, `truncate` and `purge` first settle every pending append, then write
/// one batch with `sync = true` before returning; `save_committed` is written without sync.
/// See the crate documentation for why.
pub struct RocksLogStore<C: RaftTypeConfig> {
    db: Arc<DB>,
    flush: Arc<Flusher<C>>,
    mode: FlushMode,
    /// The newest entries, decoded, for openraft's reads of what was just appended.
    recent: Arc<Mutex<Recent<C::Entry>>>,
    /// Stops and joins the flusher thread when the last clone goes.
    _thread: Arc<FlusherThread<C>>,
}

impl<C: RaftTypeConfig> Clone for RocksLogStore<C> {
    fn clone(&self) -> Self {
        Self {
            db: Arc::clone(&self.db),
            flush: Arc::clone(&self.flush),
            mode: self.mode,
            recent: Arc::clone(&self.recent),
            _thread: Arc::clone(&self._thread),
        }
    }
}

/// Where an `append`'s fsync runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlushMode {
    /// On the flusher thread: `append` returns once the entries are readable, and the callback
    /// fires after the fsync. For a Raft core that goes on while the disk works (openraft 0.10
    /// replicates before its own flush completes) and groups the appends queued meanwhile.
    Background,
    /// In `append` itself, before it returns. openraft 0.9's core waits for the callback right
    /// after every append (`RaftCore::append_to_log`), so nothing is gained by the thread, and
    /// handing each fsync to it and back costs two wake-ups (about 70 us per commit measured on
    /// a 2-core VM, `bench/create-budget.sh`).
    Inline,
}

// ---- The flusher: appends return at once, their callbacks fire after the fsync ----

/// Appended batches waiting for their fsync.
struct FlushQueue<C: RaftTypeConfig> {
    callbacks: Vec<LogFlushed<C>>,
    stop: bool,
}

/// The fsync side of `append`: openraft wants `append` to return once the entries are readable
/// and to hear of their durability through the callback, so the leader sends entries to its
/// followers while its own fsync runs (commit latency = the slower of the two, not their sum)
/// and the Raft core is never blocked on the disk. One fsync settles every batch queued before
/// it started: a group commit.
struct Flusher<C: RaftTypeConfig> {
    db: Arc<DB>,
    queue: Mutex<FlushQueue<C>>,
    wake: Condvar,
    /// Held from taking a set of callbacks until they have fired, so callbacks fire in append
    /// order and a synced write (vote, truncate, purge) can settle everything before it.
    settling: Mutex<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<C: RaftTypeConfig> Flusher<C> {
    fn enqueue(&self, callback: LogFlushed<C>) {
        lock(&self.queue).callbacks.push(callback);
        self.wake.notify_one();
    }

    /// Fsync the WAL and fire every callback queued so far (in order).
    fn settle(&self) {
        let _order = lock(&self.settling);
        let callbacks = std::mem::take(&mut lock(&self.queue).callbacks);
        if callbacks.is_empty() {
            return;
        }
        let result = self.db.flush_wal(true);
        if let Err(e) = &result {
            tracing::error!(error = %e, "fsync of the Raft log failed");
        }
        for cb in callbacks {
            cb.log_io_completed(result.as_ref().map(|_| ()).map_err(|e| std::io::Error::other(e.to_string())));
        }
    }

    fn run(&self) {
        loop {
            {
                let mut q = lock(&self.queue);
                while q.callbacks.is_empty() && !q.stop {
                    q = self.wake.wait(q).unwrap_or_else(|e| e.into_inner());
                }
                if q.callbacks.is_empty() && q.stop {
                    return;
                }
            }
            self.settle();
        }
    }
}

/// The flusher's thread; dropping it (with the last store clone) settles what is pending and
/// joins the thread, so the database closes with nothing in flight.
struct FlusherThread<C: RaftTypeConfig> {
    flush: Arc<Flusher<C>>,
    handle: Mutex<Option<JoinHandle<()>>>,
}

impl<C: RaftTypeConfig> Drop for FlusherThread<C> {
    fn drop(&mut self) {
        lock(&self.flush.queue).stop = true;
        self.flush.wake.notify_all();
        if let Some(h) = lock(&self.handle).take() {
            let _ = h.join();
        }
    }
}

impl<C: RaftTypeConfig> fmt::Debug for RocksLogStore<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RocksLogStore").field("path", &self.db.path()).finish()
    }
}

/// Maps a [`StoreError`] to an openraft storage error about `subject` / `verb`.
fn sto<NID: openraft::NodeId>(
    subject: ErrorSubject<NID>,
    verb: ErrorVerb,
) -> impl FnOnce(StoreError) -> StorageError<NID> {
    move |e| e.into_storage_error(subject, verb)
}

/// Runs a blocking (fsync-ing) closure. On a multi-threaded tokio runtime it goes through
/// `block_in_place`, so the worker's other tasks are moved elsewhere while we wait for the
/// disk; elsewhere it just runs inline. Either way it runs to completion before the caller's
/// future continues, which keeps all writes strictly ordered (a future that is dropped can never
/// leave a write running in the background).
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

fn sync_write_options() -> WriteOptions {
    let mut wo = WriteOptions::default();
    wo.set_sync(true);
    wo
}

pub(crate) fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

pub(crate) fn key_index(key: &[u8]) -> Result<u64, StoreError> {
    let arr: [u8; 8] = key
        .try_into()
        .map_err(|_| StoreError::corrupt("log key", format!("expected 8 bytes, found {} ({:02x?})", key.len(), key)))?;
    Ok(u64::from_be_bytes(arr))
}

/// Converts `range` to an inclusive `[start, end]`, or `None` if it is empty.
fn inclusive_bounds(range: &impl RangeBounds<u64>) -> Option<(u64, u64)> {
    let start = match range.start_bound() {
        Bound::Included(&s) => s,
        Bound::Excluded(&s) => s.checked_add(1)?,
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&e) => e,
        Bound::Excluded(&e) => e.checked_sub(1)?,
        Bound::Unbounded => u64::MAX,
    };
    (start <= end).then_some((start, end))
}

impl<C: RaftTypeConfig> RocksLogStore<C>
where
    C::Entry: Clone,
{
    /// Opens (creating it and its column families if missing) the log database at `path`.
    ///
    /// Only one process may have the database open at a time (RocksDB takes a `LOCK` file).
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, FlushMode::Background)
    }

    /// [`RocksLogStore::open`], with the fsync of each append where `mode` says.
    pub fn open_with(path: &Path, mode: FlushMode) -> Result<Self, StoreError> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_compression_type(DBCompressionType::None);

        let cf_opts = || {
            let mut o = Options::default();
            o.set_compression_type(DBCompressionType::None);
            o
        };
        let cfs = [ColumnFamilyDescriptor::new(CF_LOGS, cf_opts()), ColumnFamilyDescriptor::new(CF_META, cf_opts())];
        let db = Arc::new(DB::open_cf_descriptors(&opts, path, cfs)?);
        let flush = Arc::new(Flusher {
            db: Arc::clone(&db),
            queue: Mutex::new(FlushQueue { callbacks: Vec::new(), stop: false }),
            wake: Condvar::new(),
            settling: Mutex::new(()),
        });
        let runner = Arc::clone(&flush);
        let handle = std::thread::Builder::new()
            .name("raft-log-fsync".into())
            .spawn(move || runner.run())
            .map_err(|e| StoreError::io("start the flusher thread for", path, e))?;
        let thread = Arc::new(FlusherThread { flush: Arc::clone(&flush), handle: Mutex::new(Some(handle)) });
        let recent = Arc::new(Mutex::new(Recent::new(RECENT_BYTES)));
        let store = Self { db, flush, mode, recent, _thread: thread };
        store.cf(CF_LOGS)?;
        store.cf(CF_META)?;
        Ok(store)
    }

    /// The directory of the database.
    pub fn path(&self) -> &Path {
        self.db.path()
    }

    /// Forces the RocksDB write-ahead log to disk.
    ///
    /// Not needed for correctness — every write openraft requires to be durable is already
    /// synced — but it makes an earlier unsynced `save_committed` durable, e.g. before a
    /// planned shutdown.
    pub fn flush(&self) -> Result<(), StoreError> {
        blocking(|| self.db.flush_wal(true))?;
        Ok(())
    }

    /// Appends `entries` and makes them durable, outside of openraft: for offline tools working
    /// on a stopped master's log (the log format test writes an entry in a format this build
    /// does not read, as a newer version would). Never call it on a log a running Raft owns.
    pub fn append_offline(&self, entries: impl IntoIterator<Item = C::Entry>) -> Result<(), StorageError<C::NodeId>> {
        self.write_entries(entries)?;
        self.flush().map_err(sto(ErrorSubject::Logs, ErrorVerb::Write))
    }

    fn cf(&self, name: &'static str) -> Result<&ColumnFamily, StoreError> {
        self.db.cf_handle(name).ok_or(StoreError::MissingColumnFamily(name))
    }

    fn get_meta<T: serde::de::DeserializeOwned>(
        &self,
        key: &'static [u8],
        what: &'static str,
    ) -> Result<Option<T>, StoreError> {
        match self.db.get_cf(self.cf(CF_META)?, key)? {
            None => Ok(None),
            Some(bytes) => decode(what, &bytes).map(Some),
        }
    }

    fn last_purged(&self) -> Result<Option<LogId<C::NodeId>>, StoreError> {
        self.get_meta(KEY_LAST_PURGED, "last purged log id")
    }

    /// Reads and decodes the entry under a raw `logs` key/value pair.
    fn decode_entry(key: &[u8], value: &[u8]) -> Result<(u64, C::Entry), StorageError<C::NodeId>> {
        let index = key_index(key).map_err(sto(ErrorSubject::Logs, ErrorVerb::Read))?;
        let entry: C::Entry =
            decode("log entry", value).map_err(sto(ErrorSubject::LogIndex(index), ErrorVerb::Read))?;
        if entry.get_log_id().index != index {
            return Err(StoreError::corrupt(
                "log entry",
                format!("entry under key {index} has log id {}", entry.get_log_id()),
            ))
            .map_err(sto(ErrorSubject::LogIndex(index), ErrorVerb::Read));
        }
        Ok((index, entry))
    }

    fn last_entry_log_id(&self) -> Result<Option<LogId<C::NodeId>>, StorageError<C::NodeId>> {
        let read_err = sto(ErrorSubject::Logs, ErrorVerb::Read);
        let cf = self.cf(CF_LOGS).map_err(read_err)?;
        match self.db.iterator_cf(cf, IteratorMode::End).next() {
            None => Ok(None),
            Some(Err(e)) => Err(StoreError::from(e)).map_err(sto(ErrorSubject::Logs, ErrorVerb::Read)),
            Some(Ok((k, v))) => {
                let (_, entry) = Self::decode_entry(&k, &v)?;
                Ok(Some(entry.get_log_id().clone()))
            }
        }
    }

    fn write_vote(&self, vote: &Vote<C::NodeId>) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_META)?, KEY_VOTE, encode("vote", vote)?);
        self.write_sync(batch)
    }

    fn write_committed(&self, committed: Option<&LogId<C::NodeId>>) -> Result<(), StoreError> {
        let cf = self.cf(CF_META)?;
        // Not synced: it is only a hint that lets a restarting node re-apply committed entries
        // early. It sits in the same WAL as the synced writes, so it becomes durable with the
        // next synced write, and after a crash the WAL prefix rule guarantees it never survives
        // without the log entries written before it.
        let mut wo = WriteOptions::default();
        wo.set_sync(false);
        match committed {
            Some(c) => self.db.put_cf_opt(cf, KEY_COMMITTED, encode("committed log id", c)?, &wo)?,
            None => self.db.delete_cf_opt(cf, KEY_COMMITTED, &wo)?,
        }
        Ok(())
    }

    /// Writes `entries` as one batch, not synced (the flusher makes it durable): readable as
    /// soon as this returns.
    fn write_entries(&self, entries: impl IntoIterator<Item = C::Entry>) -> Result<(), StorageError<C::NodeId>> {
        let cf = self.cf(CF_LOGS).map_err(sto(ErrorSubject::Logs, ErrorVerb::Write))?;
        let mut batch = WriteBatch::default();
        let mut written = Vec::new();
        for entry in entries {
            let log_id = entry.get_log_id();
            let bytes =
                encode("log entry", &entry).map_err(sto(ErrorSubject::Log(log_id.clone()), ErrorVerb::Write))?;
            let (index, size) = (log_id.index, bytes.len());
            batch.put_cf(cf, index_key(index), bytes);
            written.push((index, entry, size));
        }
        if batch.is_empty() {
            return Ok(());
        }
        let result = self.db.write_opt(batch, &WriteOptions::default());
        let mut recent = lock(&self.recent);
        match result {
            Ok(()) => {
                for (index, entry, size) in written {
                    recent.push(index, entry, size);
                }
                Ok(())
            }
            Err(e) => {
                // Whatever the database holds now, the copy must not claim otherwise.
                recent.clear();
                Err(sto(ErrorSubject::Logs, ErrorVerb::Write)(e.into()))
            }
        }
    }

    /// Deletes `[index, ∞)` (truncate).
    fn delete_since(&self, index: u64) -> Result<(), StoreError> {
        lock(&self.recent).drop_since(index);
        let cf = self.cf(CF_LOGS)?;
        let mut batch = WriteBatch::default();
        // delete_range's end is exclusive; delete u64::MAX explicitly.
        batch.delete_range_cf(cf, index_key(index), index_key(u64::MAX));
        batch.delete_cf(cf, index_key(u64::MAX));
        self.write_sync(batch)
    }

    /// Records `log_id` as last purged and deletes `[0, log_id.index]` (purge).
    fn delete_upto(&self, log_id: &LogId<C::NodeId>) -> Result<(), StoreError> {
        lock(&self.recent).drop_upto(log_id.index);
        let meta = self.cf(CF_META)?;
        let logs = self.cf(CF_LOGS)?;
        let mut batch = WriteBatch::default();
        // last_purged_log_id is recorded in the same atomic batch as the deletion, so there is
        // no state (even after a crash) where entries are gone but get_log_state() does not
        // know it.
        batch.put_cf(meta, KEY_LAST_PURGED, encode("last purged log id", log_id)?);
        batch.delete_range_cf(logs, index_key(0), index_key(log_id.index));
        batch.delete_cf(logs, index_key(log_id.index));
        self.write_sync(batch)
    }

    /// A synced write, after every pending append has been made durable and reported (so
    /// openraft hears of flushes in the order it issued the writes).
    fn write_sync(&self, batch: WriteBatch) -> Result<(), StoreError> {
        let wo = sync_write_options();
        blocking(|| {
            self.flush.settle();
            self.db.write_opt(batch, &wo)
        })?;
        Ok(())
    }
}

impl<C: RaftTypeConfig> RaftLogReader<C> for RocksLogStore<C>
where
    C::Entry: Clone,
{
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<C::Entry>, StorageError<C::NodeId>> {
        let Some((start, end)) = inclusive_bounds(&range) else {
            return Ok(Vec::new());
        };
        if let Some(entries) = lock(&self.recent).get(start, end) {
            return Ok(entries);
        }
        let cf = self.cf(CF_LOGS).map_err(sto(ErrorSubject::Logs, ErrorVerb::Read))?;
        let start_key = index_key(start);
        let mut ro = ReadOptions::default();
        if let Some(past_end) = end.checked_add(1) {
            // Stop RocksDB itself at the end of the range (no scanning past it).
            ro.set_iterate_upper_bound(index_key(past_end));
        }
        let mut out = Vec::new();
        for item in self.db.iterator_cf_opt(cf, ro, IteratorMode::From(&start_key, Direction::Forward)) {
            let (k, v) = item.map_err(StoreError::from).map_err(sto(ErrorSubject::Logs, ErrorVerb::Read))?;
            let index = key_index(&k).map_err(sto(ErrorSubject::Logs, ErrorVerb::Read))?;
            if index > end {
                break;
            }
            let (_, entry) = Self::decode_entry(&k, &v)?;
            out.push(entry);
        }
        Ok(out)
    }
}

impl<C: RaftTypeConfig> RaftLogStorage<C> for RocksLogStore<C>
where
    C::Entry: Clone,
{
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<C>, StorageError<C::NodeId>> {
        let last_purged_log_id = self.last_purged().map_err(sto(ErrorSubject::Logs, ErrorVerb::Read))?;
        let last_entry = self.last_entry_log_id()?;
        let last_log_id = match (last_entry, &last_purged_log_id) {
            (Some(l), Some(p)) if l.index <= p.index => Some(p.clone()),
            (Some(l), _) => Some(l),
            (None, p) => p.clone(),
        };
        Ok(LogState { last_purged_log_id, last_log_id })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<C::NodeId>) -> Result<(), StorageError<C::NodeId>> {
        self.write_vote(vote).map_err(sto(ErrorSubject::Vote, ErrorVerb::Write))
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<C::NodeId>>, StorageError<C::NodeId>> {
        self.get_meta(KEY_VOTE, "vote").map_err(sto(ErrorSubject::Vote, ErrorVerb::Read))
    }

    async fn save_committed(&mut self, committed: Option<LogId<C::NodeId>>) -> Result<(), StorageError<C::NodeId>> {
        self.write_committed(committed.as_ref()).map_err(sto(ErrorSubject::Store, ErrorVerb::Write))
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<C::NodeId>>, StorageError<C::NodeId>> {
        self.get_meta(KEY_COMMITTED, "committed log id").map_err(sto(ErrorSubject::Store, ErrorVerb::Read))
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<C>) -> Result<(), StorageError<C::NodeId>>
    where
        I: IntoIterator<Item = C::Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let res = self.write_entries(entries);
        match res {
            Ok(()) => {
                self.flush.enqueue(callback);
                if self.mode == FlushMode::Inline {
                    // Settles this append (and anything queued before it, in order) now.
                    self.flush.settle();
                }
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(e)
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId<C::NodeId>) -> Result<(), StorageError<C::NodeId>> {
        tracing::debug!(%log_id, "truncate log since");
        self.delete_since(log_id.index).map_err(sto(ErrorSubject::Logs, ErrorVerb::Delete))
    }

    async fn purge(&mut self, log_id: LogId<C::NodeId>) -> Result<(), StorageError<C::NodeId>> {
        tracing::debug!(%log_id, "purge log upto");
        self.delete_upto(&log_id).map_err(sto(ErrorSubject::Logs, ErrorVerb::Delete))
    }
}
