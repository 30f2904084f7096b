//! Shared test helpers: a test type config and entry builders.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::io::Cursor;

use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, Membership};

openraft::declare_raft_types!(
    /// Type config used by the tests: string commands, unit responses.
    pub TC: D = String, R = ()
);

pub fn log_id(term: u64, index: u64) -> LogId<u64> {
    LogId::new(CommittedLeaderId::new(term, 1), index)
}

pub fn blank(term: u64, index: u64) -> Entry<TC> {
    Entry { log_id: log_id(term, index), payload: EntryPayload::Blank }
}

pub fn normal(term: u64, index: u64, s: &str) -> Entry<TC> {
    Entry { log_id: log_id(term, index), payload: EntryPayload::Normal(s.to_string()) }
}

pub fn membership(term: u64, index: u64, voters: &[u64]) -> Entry<TC> {
    let set: BTreeSet<u64> = voters.iter().copied().collect();
    Entry { log_id: log_id(term, index), payload: EntryPayload::Membership(Membership::new(vec![set], None)) }
}

/// Keeps `Cursor` used (the macro's default SnapshotData refers to it).
pub type SnapshotData = Cursor<Vec<u8>>;
