//! openraft log, vote and snapshot storage for RaftMFS.
//!
//! This crate knows nothing about files or the namespace: it is generic over any openraft
//! [`RaftTypeConfig`](openraft::RaftTypeConfig) whose types are serde-serializable (openraft's
//! `serde` feature guarantees that for entries, votes, log ids and snapshot metadata).
//!
//! * [`RocksLogStore`] — openraft's [`RaftLogStorage`](openraft::storage::RaftLogStorage) and
//!   [`RaftLogReader`](openraft::RaftLogReader) (storage-v2) on RocksDB. Column family `logs`
//!   maps a big-endian `u64` index to a bincode entry; `meta` holds the vote, the committed log
//!   id and the last purged log id.
//! * [`SnapshotFiles`] — durable, checksummed snapshot files of opaque bytes plus openraft
//!   [`SnapshotMeta`](openraft::SnapshotMeta); the state machine uses it to persist and reload
//!   its snapshots.
//!
//! # Crash-safety contract
//!
//! All log-store writes go through RocksDB's single write-ahead log (WAL). A write with
//! `sync = true` returns only after the WAL has been fsync'd, and on recovery RocksDB replays
//! a *prefix* of the WAL: a write that survives a crash implies every write issued before it
//! survived too.
//!
//! | operation             | durability                                                    |
//! |-----------------------|---------------------------------------------------------------|
//! | `append`              | all entries in ONE write batch, not synced (readable at once); the flusher thread fsyncs the WAL, then fires the `LogFlushed` callback |
//! | `save_vote`           | pending appends settled, then `sync = true` before returning   |
//! | `truncate`            | pending appends settled, then one batch deleting `[index, ∞)`, `sync = true` |
//! | `purge`               | pending appends settled, then one batch: record `last_purged_log_id` + delete `[0, index]`, `sync = true` |
//! | `save_committed`      | `sync = false`                                                 |
//! | `SnapshotFiles::save` | tmp file, fsync file, rename, fsync directory                   |
//!
//! Why:
//!
//! * **append** — Raft may only acknowledge entries (to the leader, or count them towards the
//!   leader's own quorum) once they are on stable storage; openraft does that when the callback
//!   fires. openraft hands over everything that accumulated while the previous write was being
//!   flushed as one `append` call, so one fsync per call is a group commit: throughput grows
//!   with load instead of paying one fsync per entry. A batch is atomic, so a crash never
//!   leaves a hole in the log.
//! * **save_vote** — a node that forgets its vote could vote twice in a term and elect two
//!   leaders.
//! * **truncate** — deleting conflicting entries must be durable before new entries at those
//!   indexes are acknowledged; being synced (and atomic) it also never leaves a hole.
//! * **purge** — the new `last_purged_log_id` and the deletion are one atomic batch, so after
//!   a crash `get_log_state` never reports entries that are gone. openraft only purges entries
//!   covered by a snapshot, so **the state machine must make its snapshot durable (e.g. with
//!   [`SnapshotFiles::save`]) before `build_snapshot` / `install_snapshot` return.**
//! * **save_committed** — only a hint that lets a restarting node re-apply committed entries
//!   without waiting for the leader. Losing it is harmless (they are re-applied once the leader
//!   re-sends the commit index); it becomes durable with the next synced write, and by the WAL
//!   prefix rule it can never survive a crash without the entries appended before it.
//!
//! Writes run inline (through `tokio::task::block_in_place` on a multi-threaded tokio runtime,
//! so other tasks are not stuck behind an fsync); each call completes its I/O before returning,
//! which keeps all writes in the order openraft issued them.
//!
//! Corrupt bytes on disk never panic: undecodable keys or values become openraft
//! [`StorageError`](openraft::StorageError)s (which make openraft stop the node), and corrupt
//! snapshot files are skipped by [`SnapshotFiles::load_latest`].

pub mod codec;
pub mod error;
pub mod log_reader;
pub mod log_store;
pub mod recent;
pub mod snapshot_files;

pub use error::StoreError;
pub use log_reader::LogReader;
pub use log_store::{FlushMode, RocksLogStore};
pub use snapshot_files::SnapshotFiles;
