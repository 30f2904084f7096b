//! The replicated state: the namespace plus the client-session table that makes client
//! mutations exactly-once. `MetaState::apply` is a pure function of the log entry.

use std::collections::BTreeMap;

use proto::client::{OpResult, Reply};
use proto::meta::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::namespace::{Namespace, OpContext};
use crate::raft_types::{Command, CommandOutcome, LogId, StoredMembership};

/// Most replies a session may keep waiting for acknowledgement: bounds memory if a client
/// never advances `first_incomplete` (a buggy or hostile client).
pub const MAX_CACHED_REPLIES: usize = 4096;

/// One client session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub info: String,
    pub opened: Timestamp,
    pub last_seen: Timestamp,
    /// Replies of sequence numbers at or above `first_incomplete`, for replays.
    pub replies: BTreeMap<u64, OpResult>,
    /// Requests below this are acknowledged by the client: late duplicates are `Stale`.
    pub first_incomplete: u64,
}

/// Everything a snapshot holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetaState {
    pub ns: Namespace,
    pub sessions: BTreeMap<u64, Session>,
    pub next_session: u64,
    pub last_applied: Option<LogId>,
    pub membership: StoredMembership,
}

impl Default for MetaState {
    fn default() -> Self {
        Self::new()
    }
}

impl MetaState {
    /// The state before the first log entry. Same on every master (no clock).
    pub fn new() -> Self {
        MetaState {
            ns: Namespace::new(Timestamp::default()),
            sessions: BTreeMap::new(),
            next_session: 1,
            last_applied: None,
            membership: StoredMembership::default(),
        }
    }

    /// Apply one command. Deterministic: no clock, no randomness, no I/O.
    pub fn apply(&mut self, cmd: &Command) -> CommandOutcome {
        match cmd {
            Command::Client { session, seq, first_incomplete, now, creds, op } => {
                let Some(s) = self.sessions.get_mut(session) else {
                    return CommandOutcome::SessionUnknown;
                };
                s.last_seen = *now;
                if let Some(r) = s.replies.get(seq) {
                    return CommandOutcome::Result(r.clone());
                }
                if *seq < s.first_incomplete {
                    return CommandOutcome::Stale;
                }
                if *first_incomplete > s.first_incomplete {
                    s.first_incomplete = (*first_incomplete).min(*seq);
                    let keep = s.replies.split_off(&s.first_incomplete);
                    s.replies = keep;
                }
                let ctx = OpContext { now: *now, creds: creds.clone(), session: *session };
                let result = self.ns.apply_write(&ctx, op);
                if let Some(s) = self.sessions.get_mut(session) {
                    s.replies.insert(*seq, result.clone());
                    while s.replies.len() > MAX_CACHED_REPLIES {
                        s.replies.pop_first();
                    }
                }
                CommandOutcome::Result(result)
            }
            Command::OpenSession { now, info } => {
                let id = self.next_session;
                self.next_session += 1;
                self.sessions.insert(
                    id,
                    Session {
                        info: info.clone(),
                        opened: *now,
                        last_seen: *now,
                        replies: BTreeMap::new(),
                        first_incomplete: 0,
                    },
                );
                CommandOutcome::Result(Ok(Reply::Session(id)))
            }
            Command::CloseSession { session, now } => {
                if self.sessions.remove(session).is_none() {
                    return CommandOutcome::SessionUnknown;
                }
                self.ns.release_session(*session, *now);
                CommandOutcome::Result(Ok(Reply::Done))
            }
            Command::ExpireSessions { now, older_than } => {
                let expired: Vec<u64> =
                    self.sessions.iter().filter(|(_, s)| s.last_seen < *older_than).map(|(id, _)| *id).collect();
                for id in &expired {
                    self.sessions.remove(id);
                    self.ns.release_session(*id, *now);
                }
                CommandOutcome::Result(Ok(Reply::Count(expired.len() as u64)))
            }
            Command::PurgeTrash { now } => CommandOutcome::Result(Ok(Reply::Count(self.ns.purge_trash(*now)))),
        }
    }

    /// Sessions idle since before `older_than`, for the leader's expiry loop.
    pub fn has_idle_sessions(&self, older_than: Timestamp) -> bool {
        self.sessions.values().any(|s| s.last_seen < older_than)
    }

    /// Hash of the whole replicated state except the Raft bookkeeping (applied index,
    /// membership), so replicas at the same applied index must agree.
    pub fn digest(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.ns.digest().as_bytes());
        match raft_store::codec::encode("session table", &(&self.sessions, self.next_session)) {
            Ok(bytes) => h.update(&bytes),
            Err(e) => h.update(e.to_string().as_bytes()),
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::client::WriteOp;
    use proto::meta::{Creds, ROOT_INODE};

    fn t(secs: i64) -> Timestamp {
        Timestamp::new(secs, 0)
    }

    fn open(st: &mut MetaState) -> u64 {
        match st.apply(&Command::OpenSession { now: t(1), info: "test".into() }) {
            CommandOutcome::Result(Ok(Reply::Session(id))) => id,
            other => panic!("{other:?}"),
        }
    }

    fn mkdir(session: u64, seq: u64, first_incomplete: u64, name: &str) -> Command {
        Command::Client {
            session,
            seq,
            first_incomplete,
            now: t(2),
            creds: Creds::root(),
            op: WriteOp::MkDir { parent: ROOT_INODE, name: name.into(), mode: 0o755, umask: 0o022 },
        }
    }

    #[test]
    fn retried_request_returns_first_result_instead_of_applying_twice() {
        let mut st = MetaState::new();
        let s = open(&mut st);
        let first = st.apply(&mkdir(s, 1, 1, "a"));
        assert!(matches!(first, CommandOutcome::Result(Ok(Reply::Entry(_)))));
        let digest = st.digest();
        // The same (session, seq) again, as after a failover: same answer, not EEXIST.
        assert_eq!(st.apply(&mkdir(s, 1, 1, "a")), first);
        assert_eq!(st.digest(), digest);
        // A new seq really is applied: EEXIST now.
        assert_eq!(st.apply(&mkdir(s, 2, 1, "a")), CommandOutcome::Result(Err(proto::Errno::EEXIST)));
    }

    #[test]
    fn acknowledged_replies_are_dropped_and_late_duplicates_are_stale() {
        let mut st = MetaState::new();
        let s = open(&mut st);
        st.apply(&mkdir(s, 1, 1, "a"));
        st.apply(&mkdir(s, 2, 1, "b"));
        st.apply(&mkdir(s, 3, 3, "c"));
        let sess = &st.sessions[&s];
        assert_eq!(sess.replies.keys().copied().collect::<Vec<_>>(), vec![3]);
        assert_eq!(st.apply(&mkdir(s, 1, 1, "a")), CommandOutcome::Stale);
    }

    #[test]
    fn unknown_session_is_refused_and_changes_nothing() {
        let mut st = MetaState::new();
        let d = st.digest();
        assert_eq!(st.apply(&mkdir(42, 1, 1, "a")), CommandOutcome::SessionUnknown);
        assert_eq!(st.digest(), d);
    }

    #[test]
    fn expired_sessions_are_removed() {
        let mut st = MetaState::new();
        let s = open(&mut st);
        assert!(st.has_idle_sessions(t(5)));
        st.apply(&Command::ExpireSessions { now: t(10), older_than: t(5) });
        assert!(!st.sessions.contains_key(&s));
        assert_eq!(st.apply(&mkdir(s, 1, 1, "a")), CommandOutcome::SessionUnknown);
    }

    #[test]
    fn snapshot_round_trip_keeps_digest() {
        let mut st = MetaState::new();
        let s = open(&mut st);
        st.apply(&mkdir(s, 1, 1, "a"));
        let bytes = crate::sm_store::encode_state(&st).unwrap();
        let back: MetaState = crate::sm_store::decode_state(&bytes).unwrap();
        assert_eq!(back.digest(), st.digest());
    }
}
