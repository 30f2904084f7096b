//! `WriteOp::ChunkWrite` on the leader: open chunk `index` of a file for writing and answer
//! the write chain.
//!
//! A hole gets a new chunk: the leader picks `goal` chunkservers, reserves an id, has each
//! create the chunk at version 1, and commits the allocation with those that did as holders.
//! An existing chunk gets a version bump: the leader commits version v+1 with the servers
//! holding a valid copy that serves data as holders (a copy with bad blocks is one; a copy
//! out of service is not, and becomes stale), then tells them (`SetVersion`); those that fail
//! are dropped from the holders through Raft before the client hears of the chain. A copy that
//! was not told stays at an older version (or is not a holder) and is stale: it can never
//! serve data the chain did not write.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use proto::client::{Reply, ResponseBody};
use proto::cs::{CsCommand, CsError};
use proto::meta::{Creds, Ino, Timestamp};
use proto::Errno;
use tokio::sync::OwnedMutexGuard;

use super::{join_all, placement, ChunkService};
use crate::error::CsCallError;
use crate::namespace::{ChunkMeta, ChunkSlot};
use crate::raft_api::outcome_body;
use crate::raft_types::{Command, CommandOutcome};

/// For this long after becoming leader, a chunk without a registered valid copy answers
/// "unavailable" (retry) instead of EIO: its chunkservers may not have re-registered yet.
pub const REGISTRATION_GRACE: Duration = Duration::from_secs(10);

/// One client's `ChunkWrite` request.
#[derive(Clone, Debug)]
pub struct ChunkWriteRequest {
    pub session: u64,
    pub seq: u64,
    pub first_incomplete: u64,
    pub creds: Creds,
    pub ino: Ino,
    pub index: u32,
    /// Data addresses that failed the client's previous chain.
    pub failed: Vec<String>,
    /// The client's address: the chain starts at the chunkserver nearest to it
    /// (`mfstopology.cfg`).
    pub client: Option<std::net::IpAddr>,
}

/// Chunk ids handed out but not committed yet.
#[derive(Default)]
struct Reservations {
    pending: BTreeSet<u64>,
    highest: u64,
}

type KeyMutex = Arc<tokio::sync::Mutex<()>>;

/// The leader's soft state of chunk writes.
#[derive(Default)]
pub struct WriteState {
    /// One async mutex per (inode, chunk index) with a write in progress.
    locks: Mutex<HashMap<(Ino, u32), KeyMutex>>,
    reservations: Mutex<Reservations>,
    /// When each chunk was last opened for writing (the loop leaves such chunks alone for a
    /// while, not to fight an active writer).
    recent: Mutex<HashMap<u64, Instant>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Holds the write lock of one (inode, index); released on drop.
pub struct KeyLock<'a> {
    state: &'a WriteState,
    key: (Ino, u32),
    mutex: KeyMutex,
    guard: Option<OwnedMutexGuard<()>>,
}

impl Drop for KeyLock<'_> {
    fn drop(&mut self) {
        self.guard.take();
        let mut locks = lock(&self.state.locks);
        // Only the map and this lock still refer to the mutex: nobody waits, drop it.
        if Arc::strong_count(&self.mutex) == 2 {
            locks.remove(&self.key);
        }
    }
}

impl WriteState {
    /// Serialize chunk writes of one (inode, index) on this leader.
    pub async fn lock(&self, ino: Ino, index: u32) -> KeyLock<'_> {
        let mutex = lock(&self.locks).entry((ino, index)).or_default().clone();
        let guard = mutex.clone().lock_owned().await;
        KeyLock { state: self, key: (ino, index), mutex, guard: Some(guard) }
    }

    /// Reserve a new chunk id: at least `next_chunk_id` (the namespace's) and above every id
    /// reserved before by this leader.
    pub fn reserve(&self, next_chunk_id: u64) -> u64 {
        let mut r = lock(&self.reservations);
        let id = next_chunk_id.max(r.highest + 1).max(1);
        r.highest = id;
        r.pending.insert(id);
        id
    }

    /// The allocation of `id` was committed or given up.
    pub fn release(&self, id: u64) {
        lock(&self.reservations).pending.remove(&id);
    }

    /// True while `id` is reserved and not committed yet.
    pub fn is_reserved(&self, id: u64) -> bool {
        lock(&self.reservations).pending.contains(&id)
    }

    /// Every id reserved and not committed yet. Taken before a snapshot of the namespace, it
    /// covers every id that snapshot may lack though it is allocated: an allocation committed
    /// after the snapshot was reserved before it, and one reserved after it has an id at or
    /// above the snapshot's next id.
    pub fn reserved(&self) -> std::collections::BTreeSet<u64> {
        lock(&self.reservations).pending.iter().copied().collect()
    }

    /// Chunk `id` is being opened for writing now.
    pub fn touch(&self, id: u64) {
        lock(&self.recent).insert(id, Instant::now());
    }

    /// Was chunk `id` opened for writing less than `quiet` ago?
    pub fn recently_written(&self, id: u64, quiet: Duration) -> bool {
        lock(&self.recent).get(&id).is_some_and(|t| t.elapsed() < quiet)
    }

    /// Forget write times older than `quiet`.
    pub fn prune(&self, quiet: Duration) {
        lock(&self.recent).retain(|_, t| t.elapsed() < quiet);
    }

    /// Forget everything (leadership changed).
    pub fn clear(&self) {
        *lock(&self.reservations) = Reservations::default();
        lock(&self.recent).clear();
    }
}

impl ChunkService {
    /// Answer a client's `ChunkWrite`: `Reply::Chunk` with the write chain, an errno, or
    /// not-leader / unavailable like any write.
    pub async fn chunk_write(&self, req: ChunkWriteRequest) -> ResponseBody {
        if let Err(answer) = self.ensure_caught_up().await {
            return answer;
        }
        let _lock = self.writes.lock(req.ino, req.index).await;
        // A retried request gets its first answer, whatever happened to the file since.
        let replay = self.state.read().replay(req.session, req.seq);
        if let Some(outcome) = replay {
            return self.answer_replay(outcome).await;
        }
        let slot = {
            let st = self.state.read();
            // The quotas refuse before a chunk is made (the apply checks them again).
            let now = proto::meta::Timestamp::now();
            st.ns
                .chunk_write_slot(&req.creds, req.session, req.ino, req.index)
                .and_then(|slot| st.ns.chunk_write_quota(req.ino, req.index, now).map(|()| slot))
        };
        match slot {
            Err(e) => ResponseBody::Result(Err(e)),
            Ok(ChunkSlot { chunk: None, goal, .. }) => self.allocate(&req, goal).await,
            Ok(ChunkSlot { chunk: Some((id, meta)), shared: true, .. }) => self.copy_on_write(&req, id, &meta).await,
            Ok(ChunkSlot { chunk: Some((id, meta)), .. }) => self.bump(&req, id, &meta).await,
        }
    }

    /// A hole: create a new chunk on `goal` servers and commit it.
    async fn allocate(&self, req: &ChunkWriteRequest, goal: u8) -> ResponseBody {
        let (candidates, servers) = {
            let reg = self.registry();
            (reg.candidates(), reg.server_count())
        };
        if servers == 0 {
            return ResponseBody::Unavailable { reason: "no chunkserver is registered".into() };
        }
        let next = self.next_chunk_id();
        let id = self.writes.reserve(next);
        self.writes.touch(id);
        // Servers that failed to create it are left out of the next try: one that went silent
        // (frozen, cut off) since the master last heard from it must not fail the write while
        // others could take the chunk.
        let mut excluded = req.failed.clone();
        let mut no_space = true;
        let near_limit = self.live.creations_respect_topology();
        let created = loop {
            let targets = self.place(&candidates, usize::from(goal.max(1)), &excluded, req.client, near_limit);
            if targets.is_empty() {
                self.writes.release(id);
                let tried_here = excluded.len() > req.failed.len();
                // A new leader whose chunkservers are still registering has few candidates
                // (a client's list of servers to avoid may cover them all): wait for the rest.
                let young = self.leadership().is_none_or(|l| l.since.elapsed() < REGISTRATION_GRACE);
                if young || (tried_here && !no_space) {
                    // Servers that were there failed meanwhile: disconnected (this master lost
                    // its leadership and its chunkservers with it) or silent. Not the file's
                    // fault: the client retries, at the new leader if there is one.
                    tracing::warn!(ino = req.ino, index = req.index, failed = ?excluded, "every chunkserver tried failed to create a new chunk; the client retries");
                    return ResponseBody::Unavailable { reason: "no chunkserver could create the chunk now".into() };
                }
                let room_elsewhere = candidates.iter().any(|c| c.has_room());
                tracing::warn!(ino = req.ino, index = req.index, failed = ?excluded, "no chunkserver can take a new chunk");
                let full = !room_elsewhere || (no_space && tried_here);
                return ResponseBody::Result(Err(if full { Errno::ENOSPC } else { Errno::EIO }));
            }
            let results = join_all(targets.iter().map(|addr| self.create(id, addr))).await;
            let mut created: Vec<String> =
                targets.iter().zip(&results).filter(|(_, r)| r.is_ok()).map(|(a, _)| a.clone()).collect();
            if !created.is_empty() {
                self.topology().sort_nearest(req.client, &mut created);
                break created;
            }
            no_space &= results.iter().all(|r| matches!(r, Err(CsCallError::Refused { err: CsError::NoSpace, .. })));
            tracing::warn!(chunk = id, servers = ?targets, "no chunkserver created the new chunk; trying others");
            excluded.extend(targets);
        };
        let cmd = Command::ChunkWrite {
            session: req.session,
            seq: req.seq,
            first_incomplete: req.first_incomplete,
            now: Timestamp::now(),
            creds: req.creds.clone(),
            ino: req.ino,
            index: req.index,
            new_chunk: Some(id),
            holders: created,
        };
        self.commit_new_chunk(id, cmd).await
    }

    /// The servers with a valid copy of chunk `id` that the request may write through, nearest
    /// to the client first; or the answer when there are none (wait while a young leader's
    /// chunkservers register, else EIO).
    pub(super) fn valid_chain(
        &self,
        req: &ChunkWriteRequest,
        id: u64,
        meta: &ChunkMeta,
    ) -> Result<Vec<String>, Box<ResponseBody>> {
        let (mut chain, servers) = {
            let reg = self.registry();
            let valid: Vec<String> =
                reg.valid_servers(id, meta).into_iter().filter(|a| !req.failed.contains(a)).collect();
            // A silent holder (frozen, cut off) is left out of the chain while another copy
            // speaks: its copy becomes stale and replication restores the goal.
            let speaking: Vec<String> = valid.iter().filter(|a| !reg.is_silent(a)).cloned().collect();
            (if speaking.is_empty() { valid } else { speaking }, reg.server_count())
        };
        self.topology().sort_nearest(req.client, &mut chain);
        if chain.is_empty() {
            let young = self.leadership().is_none_or(|l| l.since.elapsed() < REGISTRATION_GRACE);
            if servers == 0 || young {
                return Err(Box::new(ResponseBody::Unavailable {
                    reason: format!("chunk {id}: waiting for its chunkservers"),
                }));
            }
            tracing::warn!(chunk = id, failed = ?req.failed, "chunk {id} has no valid copy");
            return Err(Box::new(ResponseBody::Result(Err(Errno::EIO))));
        }
        Ok(chain)
    }

    /// Commit a command that gives the file the new chunk `id` (reserved), and answer it. A
    /// commit that timed out may still happen: the id stays reserved (its copies are no
    /// orphans) until it is applied or this leadership ends.
    pub(super) async fn commit_new_chunk(&self, id: u64, cmd: Command) -> ResponseBody {
        let result = self.proposer.propose(cmd).await;
        if !matches!(result, Err(ResponseBody::Unavailable { .. })) {
            self.writes.release(id);
        }
        match result {
            Ok(outcome) => outcome_body(outcome),
            Err(answer) => answer,
        }
    }

    /// Up to `count` servers for a new chunk: with `near_limit` N > 0 and the writer's address
    /// known, servers nearer than N to it first (MooseFS's `CREATIONS_RESPECT_TOPOLOGY`), then
    /// the others; each group by free space and load.
    fn place(
        &self,
        candidates: &[placement::Candidate],
        count: usize,
        excluded: &[String],
        client: Option<std::net::IpAddr>,
        near_limit: u32,
    ) -> Vec<String> {
        let Some(client) = client.filter(|_| near_limit > 0) else {
            return placement::choose(candidates, count, excluded);
        };
        let topology = self.topology();
        let (near, far): (Vec<placement::Candidate>, Vec<placement::Candidate>) =
            candidates.iter().cloned().partition(|c| topology.distance_to(client, &c.addr) < near_limit);
        let mut out = placement::choose(&near, count, excluded);
        if out.len() < count {
            let mut skip = excluded.to_vec();
            skip.extend(out.iter().cloned());
            out.extend(placement::choose(&far, count - out.len(), &skip));
        }
        out
    }

    /// Create chunk `id` at version 1 on `addr`. A leftover of the same id (an allocation a
    /// previous leader never committed) is deleted first.
    async fn create(&self, id: u64, addr: &str) -> Result<(), CsCallError> {
        let create = || self.command(addr, CsCommand::Create { id, version: 1 });
        let r = match create().await {
            Err(CsCallError::Refused { err: CsError::Exists, .. }) => {
                tracing::info!(chunk = id, server = %addr, "deleting an uncommitted leftover before creating the chunk");
                self.command(addr, CsCommand::Delete { id, version: 0 }).await?;
                self.registry().remove_copy(id, addr, None);
                create().await
            }
            r => r,
        };
        match &r {
            Ok(_) => self.registry().add_copy(id, addr, 1, false),
            Err(e) => tracing::info!(chunk = id, server = %addr, error = %e, "create failed"),
        }
        r.map(|_| ())
    }

    /// An existing chunk: bump its version for the servers with a valid copy.
    async fn bump(&self, req: &ChunkWriteRequest, id: u64, meta: &ChunkMeta) -> ResponseBody {
        let chain = match self.valid_chain(req, id, meta) {
            Ok(chain) => chain,
            Err(answer) => return *answer,
        };
        self.writes.touch(id);
        let cmd = Command::ChunkWrite {
            session: req.session,
            seq: req.seq,
            first_incomplete: req.first_incomplete,
            now: Timestamp::now(),
            creds: req.creds.clone(),
            ino: req.ino,
            index: req.index,
            new_chunk: None,
            holders: chain,
        };
        match self.proposer.propose(cmd).await {
            Err(answer) => answer,
            Ok(CommandOutcome::Result(Ok(Reply::Chunk(mut loc)))) => {
                match self.confirm_bump(loc.chunk_id, loc.version, &loc.servers).await {
                    Ok(confirmed) => {
                        loc.servers = confirmed;
                        ResponseBody::Result(Ok(Reply::Chunk(loc)))
                    }
                    Err(answer) => answer,
                }
            }
            Ok(outcome) => outcome_body(outcome),
        }
    }

    /// A retried request's first answer. When it named a chunk that is still at that
    /// version, make sure its servers have the version (the leader that answered first may
    /// have died before telling them) and answer those that do.
    async fn answer_replay(&self, outcome: CommandOutcome) -> ResponseBody {
        let CommandOutcome::Result(Ok(Reply::Chunk(mut loc))) = outcome else {
            return outcome_body(outcome);
        };
        let Some(meta) = self.chunk_meta(loc.chunk_id).filter(|m| m.version == loc.version) else {
            return ResponseBody::Result(Ok(Reply::Chunk(loc)));
        };
        let targets: Vec<String> = loc.servers.iter().filter(|a| meta.holders.contains(a)).cloned().collect();
        if targets.is_empty() {
            return ResponseBody::Result(Ok(Reply::Chunk(loc)));
        }
        self.writes.touch(loc.chunk_id);
        match self.confirm_bump(loc.chunk_id, loc.version, &targets).await {
            Ok(confirmed) => {
                loc.servers = confirmed;
                ResponseBody::Result(Ok(Reply::Chunk(loc)))
            }
            Err(answer) => answer,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_never_repeat_and_respect_the_namespace() {
        let w = WriteState::default();
        assert_eq!(w.reserve(5), 5);
        assert_eq!(w.reserve(5), 6, "above the highest reserved");
        assert_eq!(w.reserve(10), 10, "the namespace moved on");
        assert!(w.is_reserved(6));
        w.release(6);
        assert!(!w.is_reserved(6));
        assert_eq!(w.reserve(0), 11);
        w.clear();
        assert!(!w.is_reserved(10));
    }

    #[tokio::test]
    async fn key_locks_serialize_and_clean_up() {
        let w = Arc::new(WriteState::default());
        let g = w.lock(1, 0).await;
        let w2 = w.clone();
        let waiter = tokio::spawn(async move {
            let _g = w2.lock(1, 0).await;
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "the second lock waits");
        let other = w.lock(1, 1).await;
        drop(other);
        drop(g);
        waiter.await.unwrap();
        assert!(lock(&w.locks).is_empty(), "no mutex left behind");
    }

    #[test]
    fn recent_writes_expire() {
        let w = WriteState::default();
        w.touch(3);
        assert!(w.recently_written(3, Duration::from_secs(60)));
        assert!(!w.recently_written(3, Duration::ZERO));
        assert!(!w.recently_written(4, Duration::from_secs(60)));
        w.prune(Duration::ZERO);
        assert!(!w.recently_written(3, Duration::from_secs(60)));
    }
}
