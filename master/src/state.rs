//! The replicated state: the namespace plus the client-session table that makes client
//! mutations exactly-once. `MetaState::apply` is a pure function of the log entry.

use std::collections::BTreeMap;

use proto::client::{OpResult, ReadOp, Reply, SessionKey, SESSION_SECRET_LEN};
use proto::meta::{Creds, FileType, Timestamp};
use proto::Errno;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::access::SessionAccess;
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
    /// What the export rule granted at open time; every leader enforces it.
    pub access: SessionAccess,
    /// What every request of the session must carry besides its id (`SessionKey`).
    pub secret: [u8; SESSION_SECRET_LEN],
}

/// Everything a snapshot holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetaState {
    pub ns: Namespace,
    pub sessions: BTreeMap<u64, Session>,
    pub next_session: u64,
    pub last_applied: Option<LogId>,
    pub membership: StoredMembership,
    /// The disk (`DATA_PATH` id) each master of the group has been on since it took part: a
    /// master on another disk lost its votes and must rejoin before it votes (`vote_guard.rs`).
    /// Stored in a snapshot section of its own (format 1006).
    #[serde(skip)]
    pub disks: BTreeMap<u64, [u8; 16]>,
}

impl Default for MetaState {
    fn default() -> Self {
        Self::new()
    }
}

impl MetaState {
    /// The whole state as text (`mfsmetadump`): a header, the sessions (never their secrets),
    /// then the namespace ([`Namespace::dump`]).
    pub fn dump(&self, w: &mut impl std::io::Write) -> std::io::Result<()> {
        let applied = self
            .last_applied
            .map_or_else(|| "none".to_string(), |l| format!("{} (term {})", l.index, l.leader_id.term));
        writeln!(w, "# RaftMFS metadata dump: the state after log index {applied}; {} inodes", self.ns.inode_count())?;
        writeln!(w, "# membership: {:?}", self.membership.membership())?;
        for (id, s) in &self.sessions {
            let a = &s.access;
            writeln!(
                w,
                "P|s:{id}|root:{}|ro:{}|opened:{}|seen:{}|info:{}",
                a.root,
                u8::from(a.readonly),
                s.opened.secs,
                s.last_seen.secs,
                crate::namespace::escape(s.info.as_bytes())
            )?;
        }
        self.ns.dump(w)
    }

    /// The state before the first log entry. Same on every master (no clock).
    pub fn new() -> Self {
        MetaState {
            ns: Namespace::new(Timestamp::default()),
            sessions: BTreeMap::new(),
            next_session: 1,
            last_applied: None,
            membership: StoredMembership::default(),
            disks: BTreeMap::new(),
        }
    }

    /// Apply one command. Deterministic: no clock, no randomness, no I/O.
    pub fn apply(&mut self, cmd: &Command) -> CommandOutcome {
        match cmd {
            // The leader mapped the credentials and inodes through the session's access
            // (`client_server.rs`); a read-only session is refused here too, so a write that
            // reached the log by any path still cannot change the namespace.
            Command::Client { session, seq, first_incomplete, now, creds, op } => {
                let ctx = OpContext { now: *now, creds: creds.clone(), session: *session };
                let readonly = self.readonly(*session);
                let meta = self.sessions.get(session).is_some_and(|s| s.access.is_meta());
                self.exactly_once(*session, *seq, *first_incomplete, *now, |ns| {
                    if readonly && op.modifies() {
                        return Err(Errno::EROFS);
                    }
                    // As the leader's check (`access.rs`), again here: the trash operations for
                    // meta sessions only, and nothing else but the keepalive release for them.
                    if op.on_trash() != meta && !matches!(op, proto::client::WriteOp::Release { .. }) {
                        return Err(Errno::EPERM);
                    }
                    ns.apply_write(&ctx, op)
                })
            }
            Command::ChunkWrite { session, seq, first_incomplete, now, creds, ino, index, new_chunk, holders } => {
                let ctx = OpContext { now: *now, creds: creds.clone(), session: *session };
                let readonly = self.readonly(*session);
                self.exactly_once(*session, *seq, *first_incomplete, *now, |ns| {
                    if readonly {
                        return Err(Errno::EROFS);
                    }
                    ns.apply_chunk_write(&ctx, *ino, *index, *new_chunk, holders)
                })
            }
            Command::ChunkHolders { id, version, holders } => {
                CommandOutcome::Result(self.ns.set_chunk_holders(*id, *version, holders))
            }
            Command::ChunkBump { id, version, holders } => {
                CommandOutcome::Result(self.ns.bump_chunk(*id, *version, holders))
            }
            Command::ChunkCopyAdded { id, version, addr } => {
                CommandOutcome::Result(self.ns.add_chunk_holder(*id, *version, addr))
            }
            Command::ChunksDeleted { ids } => CommandOutcome::Result(self.ns.chunks_deleted(ids)),
            Command::FileRepair { session, seq, first_incomplete, now, creds, ino, steps } => {
                let ctx = OpContext { now: *now, creds: creds.clone(), session: *session };
                let readonly = self.readonly(*session);
                self.exactly_once(*session, *seq, *first_incomplete, *now, |ns| {
                    if readonly {
                        return Err(Errno::EROFS);
                    }
                    ns.apply_file_repair(&ctx, *ino, steps)
                })
            }
            Command::ChunkCow { session, seq, first_incomplete, now, creds, ino, index, old, new_chunk, holders } => {
                let ctx = OpContext { now: *now, creds: creds.clone(), session: *session };
                let readonly = self.readonly(*session);
                self.exactly_once(*session, *seq, *first_incomplete, *now, |ns| {
                    if readonly {
                        return Err(Errno::EROFS);
                    }
                    ns.apply_chunk_cow(&ctx, *ino, *index, *old, *new_chunk, holders)
                })
            }
            Command::Batch(cmds) => CommandOutcome::Batch(cmds.iter().map(|c| self.apply(c)).collect()),
            Command::OpenSession { now, info, access, secret } => {
                // A new file system's root was made without a clock: it takes the time of
                // the first session, so `ls -ld` of a fresh mount does not show 1970.
                self.ns.date_new_root(*now);
                // The leader resolved the root folder; it may have gone since. (A meta
                // session's root is no folder: it sees the trash only.)
                if !access.is_meta() {
                    match self.ns.read(&Creds::root(), &ReadOp::GetAttr { ino: access.root }) {
                        Ok(Reply::Attr(a)) if a.kind == FileType::Dir && a.nlink > 0 => {}
                        Ok(_) => return CommandOutcome::Result(Err(Errno::ENOTDIR)),
                        Err(e) => return CommandOutcome::Result(Err(e)),
                    }
                }
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
                        access: access.clone(),
                        secret: *secret,
                    },
                );
                CommandOutcome::Result(Ok(Reply::Session(SessionKey { id, secret: *secret })))
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
            Command::MemberDisk { node, disk } => {
                self.disks.insert(*node, *disk);
                CommandOutcome::Result(Ok(Reply::Done))
            }
        }
    }

    /// Run `op` at most once per (`session`, `seq`): a request seen before gets its first
    /// result back; one below the session's acknowledged window is `Stale`. Replies at or
    /// above `first_incomplete` stay cached (at most [`MAX_CACHED_REPLIES`] per session).
    fn exactly_once(
        &mut self,
        session: u64,
        seq: u64,
        first_incomplete: u64,
        now: Timestamp,
        op: impl FnOnce(&mut Namespace) -> OpResult,
    ) -> CommandOutcome {
        let Some(s) = self.sessions.get_mut(&session) else {
            return CommandOutcome::SessionUnknown;
        };
        s.last_seen = now;
        if let Some(r) = s.replies.get(&seq) {
            return CommandOutcome::Result(r.clone());
        }
        if seq < s.first_incomplete {
            return CommandOutcome::Stale;
        }
        if first_incomplete > s.first_incomplete {
            s.first_incomplete = first_incomplete.min(seq);
            let keep = s.replies.split_off(&s.first_incomplete);
            s.replies = keep;
        }
        let result = op(&mut self.ns);
        if let Some(s) = self.sessions.get_mut(&session) {
            s.replies.insert(seq, result.clone());
            while s.replies.len() > MAX_CACHED_REPLIES {
                s.replies.pop_first();
            }
        }
        CommandOutcome::Result(result)
    }

    /// What a request (`session`, `seq`) would get without running: `Some` when the session
    /// is unknown, the request was applied before (its cached result) or is stale; `None`
    /// when it is new. Read-only: the leader uses it before doing work for a retried request.
    pub fn replay(&self, session: u64, seq: u64) -> Option<CommandOutcome> {
        let Some(s) = self.sessions.get(&session) else {
            return Some(CommandOutcome::SessionUnknown);
        };
        if let Some(r) = s.replies.get(&seq) {
            return Some(CommandOutcome::Result(r.clone()));
        }
        if seq < s.first_incomplete {
            return Some(CommandOutcome::Stale);
        }
        None
    }

    /// The permissions of `session`, if it exists.
    pub fn access(&self, session: u64) -> Option<&SessionAccess> {
        self.sessions.get(&session).map(|s| &s.access)
    }

    /// The permissions of the session `key` names, if it exists and `key` carries its secret:
    /// the check every client request passes before anything is done for it.
    pub fn access_of(&self, key: &SessionKey) -> Option<&SessionAccess> {
        self.sessions.get(&key.id).filter(|s| key.secret_is(&s.secret)).map(|s| &s.access)
    }

    fn readonly(&self, session: u64) -> bool {
        self.sessions.get(&session).is_some_and(|s| s.access.readonly)
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
        match raft_store::codec::encode("session table", &(&self.sessions, self.next_session, &self.disks)) {
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
        open_with(st, SessionAccess::full())
    }

    fn open_with(st: &mut MetaState, access: SessionAccess) -> u64 {
        match st.apply(&Command::OpenSession { now: t(1), info: "test".into(), access, secret: [7; 16] }) {
            CommandOutcome::Result(Ok(Reply::Session(key))) => key.id,
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
    fn a_batch_applies_in_order_each_command_to_its_own_outcome_exactly_once() {
        let mut st = MetaState::new();
        let s = open(&mut st);
        let mut solo = MetaState::new();
        let s2 = open(&mut solo);
        assert_eq!(s, s2);
        // The same commands one by one and as one batch end in the same state, with the same
        // outcomes: mkdir a, a duplicate of it (same seq: the cached reply), a new mkdir of the
        // same name (EEXIST), an unknown session.
        let cmds = vec![mkdir(s, 1, 1, "a"), mkdir(s, 1, 1, "a"), mkdir(s, 2, 1, "a"), mkdir(99, 1, 1, "x")];
        let one_by_one: Vec<CommandOutcome> = cmds.iter().map(|c| solo.apply(c)).collect();
        let CommandOutcome::Batch(batched) = st.apply(&Command::Batch(cmds)) else { panic!("not a batch outcome") };
        assert_eq!(batched, one_by_one);
        assert!(matches!(batched[0], CommandOutcome::Result(Ok(Reply::Entry(_)))));
        assert_eq!(batched[1], batched[0]);
        assert_eq!(batched[2], CommandOutcome::Result(Err(proto::Errno::EEXIST)));
        assert_eq!(batched[3], CommandOutcome::SessionUnknown);
        assert_eq!(st.digest(), solo.digest());
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

    fn create(session: u64, seq: u64, name: &str) -> Command {
        Command::Client {
            session,
            seq,
            first_incomplete: seq,
            now: t(2),
            creds: Creds::root(),
            op: WriteOp::Create { parent: ROOT_INODE, name: name.into(), mode: 0o644, umask: 0, exclusive: true },
        }
    }

    fn chunk_write(session: u64, seq: u64, ino: u64, new_chunk: Option<u64>, holders: &[&str]) -> Command {
        Command::ChunkWrite {
            session,
            seq,
            first_incomplete: seq,
            now: t(3),
            creds: Creds::root(),
            ino,
            index: 0,
            new_chunk,
            holders: holders.iter().map(|h| h.to_string()).collect(),
        }
    }

    fn chunk_of(o: &CommandOutcome) -> (u64, u32) {
        match o {
            CommandOutcome::Result(Ok(Reply::Chunk(l))) => (l.chunk_id, l.version),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_retried_chunk_write_returns_the_same_chunk_and_version() {
        let mut st = MetaState::new();
        let s = open(&mut st);
        let ino = match st.apply(&create(s, 1, "f")) {
            CommandOutcome::Result(Ok(Reply::Entry(a))) => a.ino,
            other => panic!("{other:?}"),
        };
        let first = st.apply(&chunk_write(s, 2, ino, Some(7), &["a"]));
        assert_eq!(chunk_of(&first), (7, 1));
        let digest = st.digest();
        // The retry after a failover may carry another id (the new leader reserved anew):
        // the first answer comes back, nothing is allocated twice.
        assert_eq!(st.apply(&chunk_write(s, 2, ino, Some(8), &["b"])), first);
        assert_eq!(st.digest(), digest);
        assert_eq!(st.replay(s, 2), Some(first.clone()));
        assert_eq!(st.replay(s, 3), None, "a new request");
        let bump = st.apply(&chunk_write(s, 3, ino, None, &["a"]));
        assert_eq!(chunk_of(&bump), (7, 2));
        assert_eq!(st.apply(&chunk_write(s, 3, ino, None, &["a"])), bump, "bumped once");
        assert_eq!(st.ns.chunk_meta(7).map(|m| m.version), Some(2));
        // Below the window: stale; unknown session: refused.
        assert_eq!(st.apply(&chunk_write(s, 1, ino, None, &["a"])), CommandOutcome::Stale);
        assert_eq!(st.replay(s, 1), Some(CommandOutcome::Stale));
        assert_eq!(st.apply(&chunk_write(99, 1, ino, None, &["a"])), CommandOutcome::SessionUnknown);
        assert_eq!(st.replay(99, 1), Some(CommandOutcome::SessionUnknown));
    }

    #[test]
    fn chunk_bookkeeping_commands_need_no_session() {
        let mut st = MetaState::new();
        let s = open(&mut st);
        let ino = match st.apply(&create(s, 1, "f")) {
            CommandOutcome::Result(Ok(Reply::Entry(a))) => a.ino,
            other => panic!("{other:?}"),
        };
        st.apply(&chunk_write(s, 2, ino, Some(1), &["a", "b"]));
        let r = st.apply(&Command::ChunkHolders { id: 1, version: 1, holders: vec!["a".into()] });
        assert_eq!(r, CommandOutcome::Result(Ok(Reply::Count(1))));
        let r = st.apply(&Command::ChunkBump { id: 1, version: 1, holders: vec!["a".into()] });
        assert_eq!(r, CommandOutcome::Result(Ok(Reply::Count(1))));
        let r = st.apply(&Command::ChunkCopyAdded { id: 1, version: 2, addr: "c".into() });
        assert_eq!(r, CommandOutcome::Result(Ok(Reply::Count(1))));
        let m = st.ns.chunk_meta(1).cloned().unwrap();
        assert_eq!((m.version, m.holders), (2, vec!["a".to_string(), "c".to_string()]));
        let r = st.apply(&Command::ChunksDeleted { ids: vec![1] });
        assert_eq!(r, CommandOutcome::Result(Ok(Reply::Count(0))), "not deleted: still in use");
    }

    #[test]
    fn a_read_only_session_changes_nothing_even_through_the_log() {
        let mut st = MetaState::new();
        let ro = open_with(&mut st, SessionAccess { readonly: true, ..SessionAccess::full() });
        assert!(st.access(ro).is_some_and(|a| a.readonly));
        let d = st.ns.digest();
        assert_eq!(st.apply(&mkdir(ro, 1, 1, "a")), CommandOutcome::Result(Err(proto::Errno::EROFS)));
        assert_eq!(
            st.apply(&chunk_write(ro, 2, ROOT_INODE, Some(1), &["a"])),
            CommandOutcome::Result(Err(proto::Errno::EROFS))
        );
        assert_eq!(st.ns.digest(), d);
        // The permissions survive a snapshot, so a new leader enforces them.
        let bytes = crate::sm_store::encode_state(&st).unwrap();
        let back: MetaState = crate::sm_store::decode_state(&bytes).unwrap();
        assert!(back.access(ro).is_some_and(|a| a.readonly));
    }

    #[test]
    fn a_session_rooted_at_a_missing_folder_is_not_opened() {
        let mut st = MetaState::new();
        let access = SessionAccess { root: 99, ..SessionAccess::full() };
        let r = st.apply(&Command::OpenSession { now: t(1), info: "x".into(), access, secret: [1; 16] });
        assert_eq!(r, CommandOutcome::Result(Err(proto::Errno::ENOENT)));
        assert!(st.sessions.is_empty());
    }

    #[test]
    fn a_session_is_named_by_its_id_and_its_secret() {
        let mut st = MetaState::new();
        let id = open(&mut st);
        assert!(st.access_of(&SessionKey { id, secret: [7; 16] }).is_some());
        assert!(st.access_of(&SessionKey { id, secret: [8; 16] }).is_none(), "wrong secret");
        let mut almost = [7; 16];
        almost[15] = 6;
        assert!(st.access_of(&SessionKey { id, secret: almost }).is_none(), "one byte off");
        assert!(st.access_of(&SessionKey { id: id + 1, secret: [7; 16] }).is_none(), "another id");
    }

    #[test]
    fn snapshots_of_the_older_format_are_read_and_newer_ones_refused() {
        let mut st = MetaState::new();
        let s = open(&mut st);
        st.apply(&mkdir(s, 1, 1, "a"));
        // Formats before 1003: the state alone, no sections after it.
        let mut old = crate::log_format::SNAPSHOT_MAGIC.to_vec();
        old.extend_from_slice(&crate::log_format::FIRST_SNAPSHOT_FORMAT.to_be_bytes());
        old.extend_from_slice(&raft_store::codec::encode("t", &st).unwrap());
        let back: MetaState = crate::sm_store::decode_state(&old).unwrap();
        assert_eq!(back.digest(), st.digest(), "format 1001 reads the same");
        let mut bytes = crate::sm_store::encode_state(&st).unwrap();
        let at = crate::log_format::SNAPSHOT_MAGIC.len();
        bytes[at..at + 2].copy_from_slice(&(crate::log_format::SNAPSHOT_FORMAT + 1).to_be_bytes());
        assert!(crate::sm_store::decode_state(&bytes).is_err(), "a newer format is refused");
    }

    #[test]
    fn a_meta_session_opens_with_no_folder_and_a_file_repair_is_applied_once() {
        use crate::namespace::{RepairFix, RepairStep};
        let mut st = MetaState::new();
        let access = SessionAccess { root: crate::access::META_ROOT, ..SessionAccess::full() };
        let r = st.apply(&Command::OpenSession { now: t(1), info: "meta".into(), access, secret: [3; 16] });
        assert!(matches!(r, CommandOutcome::Result(Ok(Reply::Session(_)))), "{r:?}");
        let s = open(&mut st);
        let f = match st.apply(&Command::Client {
            session: s,
            seq: 1,
            first_incomplete: 1,
            now: t(2),
            creds: Creds::root(),
            op: proto::client::WriteOp::Create {
                parent: ROOT_INODE,
                name: b"f".to_vec(),
                mode: 0o644,
                umask: 0,
                exclusive: true,
            },
        }) {
            CommandOutcome::Result(Ok(Reply::Entry(a))) => a.ino,
            other => panic!("{other:?}"),
        };
        st.apply(&chunk_write(s, 2, f, Some(1), &["a"]));
        let repair = |seq| Command::FileRepair {
            session: s,
            seq,
            first_incomplete: seq,
            now: t(4),
            creds: Creds::root(),
            ino: f,
            steps: vec![RepairStep { index: 0, id: 1, from_version: 1, fix: RepairFix::Erase }],
        };
        let want = CommandOutcome::Result(Ok(Reply::Repaired { not_changed: 0, erased: 1, repaired: 0 }));
        assert_eq!(st.apply(&repair(3)), want);
        assert_eq!(st.apply(&repair(3)), want, "a retry gets the same answer, nothing done twice");
        assert_eq!(st.ns.file_chunk_ids(f), vec![]);
    }

    #[test]
    fn the_state_machine_keeps_the_trash_to_meta_sessions() {
        let mut st = MetaState::new();
        let file = open(&mut st);
        let access = SessionAccess { root: crate::access::META_ROOT, ..SessionAccess::full() };
        let meta = open_with(&mut st, access);
        let cmd = |session, seq, op| Command::Client {
            session,
            seq,
            first_incomplete: seq,
            now: t(2),
            creds: Creds::root(),
            op,
        };
        let eperm = CommandOutcome::Result(Err(proto::Errno::EPERM));
        assert_eq!(st.apply(&cmd(file, 1, WriteOp::Purge { ino: 2 })), eperm, "a file session never reaches the trash");
        assert_eq!(st.apply(&mkdir(meta, 1, 1, "a")), eperm, "a meta session never touches the tree");
        assert_eq!(
            st.apply(&cmd(meta, 2, WriteOp::Purge { ino: 2 })),
            CommandOutcome::Result(Err(proto::Errno::ENOENT))
        );
        assert_eq!(st.apply(&cmd(meta, 3, WriteOp::Release { ino: 0 })), CommandOutcome::Result(Ok(Reply::Done)));
    }

    #[test]
    fn the_first_session_dates_a_new_root() {
        let mut st = MetaState::new();
        open(&mut st);
        let Ok(Reply::Attr(root)) = st.ns.read(&Creds::root(), &ReadOp::GetAttr { ino: ROOT_INODE }) else { panic!() };
        assert_eq!((root.atime, root.mtime, root.ctime), (t(1), t(1), t(1)));
    }

    #[test]
    fn snapshot_round_trip_keeps_digest() {
        let mut st = MetaState::new();
        let s = open(&mut st);
        st.apply(&mkdir(s, 1, 1, "a"));
        let op = WriteOp::SetEattr { ino: 2, flags: 0x81, mode: proto::eattr::EattrMode::Add, recursive: false };
        let set = Command::Client { session: s, seq: 2, first_incomplete: 2, now: t(3), creds: Creds::root(), op };
        st.apply(&set);
        assert_eq!(st.ns.eattr_section(), [(2, 0x81)]);
        let bytes = crate::sm_store::encode_state(&st).unwrap();
        let back: MetaState = crate::sm_store::decode_state(&bytes).unwrap();
        assert_eq!(back.digest(), st.digest());
        assert_eq!(back.ns.eattr_section(), [(2, 0x81)], "the extra attributes come back");
    }
}
