//! The leader's chunk loop: every pass looks at every chunk (in the chunk table, reported
//! by a chunkserver, or waiting for deletion), decides what it needs ([`super::plan`]) and
//! - renumbers holders that missed a version bump (`SetVersion`),
//! - has bad blocks of damaged copies rewritten from good copies ([`super::repair`]),
//! - replicates chunks under their goal (after `REPLICATIONS_DELAY_*`): first a version bump
//!   through Raft (so a client still writing with the old version cannot write past the new
//!   copy), then `Replicate` to a chosen server (each block from a source that has it good),
//!   then the new copy becomes a holder through Raft,
//! - deletes extra copies over the goal, stale copies, orphans (ids that can never be in the
//!   table again) and deleted chunks, never the last good copy of any block,
//! - tells Raft which deleted chunks no chunkserver holds any more (`ChunksDeleted`).
//!
//! The pass applies the plan within the `CHUNKS_*_LIMIT`s; new copies are made by
//! [`super::replicate`].

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use proto::cs::CsCommand;

use super::placement::Candidate;
use super::plan::{plan, Action, ChunkFacts, DeleteReason, Health, Permits};
use super::replicate::{set_wanted, Wanted};
use super::{join_all, repair, ChunkService};
use crate::namespace::ChunkMeta;
use crate::raft_types::Command;

/// Chunks opened for writing less than this ago are not replicated or trimmed: the writer
/// would only be disturbed (its chain changes under it).
pub const WRITE_QUIET: Duration = Duration::from_secs(5);
/// Most chunk ids in one `ChunksDeleted` entry.
const DELETED_BATCH: usize = 1000;
/// A chunkserver with less free space than this percentage of its total is short of space:
/// it gets the hard deletion limit instead of the soft one.
const SHORT_OF_SPACE_PERCENT: u64 = 10;
/// Commands sent at once when reconciling a newly registered chunkserver.
const RECONCILE_PARALLELISM: usize = 16;
/// How often a reconcile checks whether the new leader has caught up.
const CATCH_UP_POLL: Duration = Duration::from_millis(100);

/// Commands of the loop still running, so a pass does not repeat them and the limits hold.
#[derive(Default)]
pub struct LoopState {
    inner: Mutex<Inflight>,
}

#[derive(Default)]
pub(super) struct Inflight {
    /// (chunk, server) with a delete, set-version or block repair running.
    busy: HashSet<(u64, String)>,
    /// (chunk, server) whose block repair failed, and when: not tried again for
    /// [`repair::REPAIR_RETRY`].
    repair_failed: HashMap<(u64, String), Instant>,
    /// Chunks with a replication running.
    pub(super) replicating: HashSet<u64>,
    /// Replications running into each server.
    pub(super) into: HashMap<String, usize>,
    /// Replications running from each (first) source.
    pub(super) from: HashMap<String, usize>,
    /// Under-goal chunks not replicating yet, in the order to start them
    /// (`replicate::set_wanted`).
    pub(super) queue: std::collections::VecDeque<Wanted>,
    /// (chunk, destination) whose replication failed, and when: that destination is not
    /// chosen for that chunk again for [`super::replicate::REPLICATE_RETRY`] (a server whose
    /// disk fails every new file would otherwise be chosen again and again).
    pub(super) replicate_failed: HashMap<(u64, String), Instant>,
    /// A `ChunksDeleted` proposal is running.
    forgetting: bool,
}

impl LoopState {
    pub(super) fn lock(&self) -> MutexGuard<'_, Inflight> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forget everything (leadership changed). Running tasks finish harmlessly.
    pub fn clear(&self) {
        *self.lock() = Inflight::default();
    }

    /// Mark (chunk, server) busy; false when it already was.
    pub(super) fn claim(&self, id: u64, addr: &str) -> bool {
        self.lock().busy.insert((id, addr.to_string()))
    }

    pub(super) fn unclaim(&self, id: u64, addr: &str) {
        self.lock().busy.remove(&(id, addr.to_string()));
    }

    /// A block repair of (chunk, server) ended: failed (some fixable block still bad) or not.
    pub(super) fn repair_ended(&self, id: u64, addr: &str, failed: bool) {
        let mut l = self.lock();
        if failed {
            l.repair_failed.insert((id, addr.to_string()), Instant::now());
        } else {
            l.repair_failed.remove(&(id, addr.to_string()));
        }
    }

    /// Servers whose repair of chunk `id` failed less than [`repair::REPAIR_RETRY`] ago.
    fn repair_failed(&self, id: u64) -> Vec<String> {
        let mut l = self.lock();
        if l.repair_failed.is_empty() {
            return Vec::new();
        }
        l.repair_failed.retain(|_, at| at.elapsed() < repair::REPAIR_RETRY);
        l.repair_failed.keys().filter(|(i, _)| *i == id).map(|(_, a)| a.clone()).collect()
    }

    fn is_busy(&self, id: u64) -> bool {
        let l = self.lock();
        l.replicating.contains(&id) || l.busy.iter().any(|(i, _)| *i == id)
    }
}

/// Run the loop while the master lives; passes only while leading and caught up.
pub async fn run(svc: Arc<ChunkService>) {
    let mut every = svc.live.chunk_loop().loop_interval;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if svc.caught_up() {
            pass(&svc);
        }
        // `CHUNKS_LOOP_MIN_TIME` changed by a reload: the next pass comes at the new pace.
        let now = svc.live.chunk_loop().loop_interval;
        if now != every {
            every = now;
            tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        }
    }
}

/// One chunk's facts, owned, for planning outside the namespace lock.
pub(super) struct Snapshot {
    pub(super) table: BTreeMap<u64, ChunkMeta>,
    goals: BTreeMap<u64, u8>,
    to_delete: BTreeSet<u64>,
    next_id: u64,
}

fn snapshot(svc: &ChunkService) -> Snapshot {
    let st = svc.state.read();
    Snapshot {
        table: st.ns.chunk_table().clone(),
        goals: st.ns.chunk_goals(),
        to_delete: st.ns.chunks_to_delete().clone(),
        next_id: st.ns.next_chunk_id(),
    }
}

/// One pass over every chunk.
fn pass(svc: &Arc<ChunkService>) {
    let Some(lead) = svc.leadership() else { return };
    let cfg = svc.live.chunk_loop();
    let reserved = svc.writes.reserved(); // before the snapshot: see `WriteState::reserved`
    let snap = snapshot(svc);
    svc.writes.prune(WRITE_QUIET);
    let settled = lead.since.elapsed() >= cfg.delay_init;

    let mut deletes: Vec<(u64, Action)> = Vec::new();
    let mut renumbers: Vec<(u64, Action)> = Vec::new();
    let mut block_repairs: Vec<(u64, u32, Action)> = Vec::new();
    let mut wanted: Vec<Wanted> = Vec::new();
    let mut forget: Vec<u64> = Vec::new();
    let mut tally = Tally::default();
    let candidates;
    {
        let mut reg = svc.registry();
        let replicate_ok = settled && !reg.recent_disconnect(cfg.delay_disconnect);
        candidates = reg.candidates();
        let ids: BTreeSet<u64> =
            snap.table.keys().copied().chain(reg.chunk_ids()).chain(snap.to_delete.iter().copied()).collect();
        for id in ids {
            let copies = reg.copies(id);
            let quiet = !svc.writes.recently_written(id, WRITE_QUIET) && !svc.loop_state.is_busy(id);
            let repair_failed = svc.loop_state.repair_failed(id);
            let facts = ChunkFacts {
                id,
                meta: snap.table.get(&id),
                goal: snap.goals.get(&id).copied().unwrap_or(1),
                to_delete: snap.to_delete.contains(&id),
                // An id reserved for an allocation not yet committed is not an orphan, though
                // later allocations may have moved the namespace's next id past it.
                below_next_id: id < snap.next_id && !reserved.contains(&id),
                copies,
                repair_failed: &repair_failed,
            };
            let permits = Permits { replicate: replicate_ok && quiet, trim: settled && quiet, repair: quiet };
            let (actions, health) = plan(&facts, &candidates, permits);
            tally.add(&health);
            if facts.to_delete && copies.is_empty() {
                forget.push(id);
            }
            for a in actions {
                match a {
                    Action::Delete { .. } => deletes.push((id, a)),
                    Action::Renumber { .. } => renumbers.push((id, a)),
                    Action::RepairBlocks { .. } => {
                        if let Some(meta) = facts.meta {
                            block_repairs.push((id, meta.version, a));
                        }
                    }
                    Action::Replicate { count, exclude } => {
                        let good = copies.iter().filter(|c| !c.to_remove && c.damage.is_usable()).count();
                        wanted.push(Wanted { id, count, exclude, good, endangered: health.endangered });
                    }
                }
            }
        }
    }
    svc.metrics.chunks.set(snap.table.len() as i64);
    tally.export(&svc.metrics.leader);

    run_deletes(svc, deletes, &candidates, &cfg);
    for (id, a) in renumbers {
        if let Action::Renumber { addr, from, to } = a {
            spawn_renumber(svc, id, addr, from, to);
        }
    }
    for (id, version, a) in block_repairs {
        if let Action::RepairBlocks { addr, blocks, sources, others } = a {
            repair::spawn(svc, id, version, addr, blocks, sources, others);
        }
    }
    set_wanted(svc, wanted);
    if !forget.is_empty() {
        spawn_forget(svc, forget);
    }
    svc.metrics.chunk_loop_passes.inc();
}

/// The chunk states a pass counted, for the gauges.
#[derive(Default)]
struct Tally {
    under: i64,
    over: i64,
    missing: i64,
    endangered: i64,
    damaged: i64,
    lost_blocks: i64,
    /// Damaged valid copies per chunkserver.
    damaged_on: HashMap<String, i64>,
    matrix: crate::leader_metrics::ChunkMatrix,
}

impl Tally {
    fn add(&mut self, h: &Health) {
        self.under += i64::from(h.under_goal);
        self.over += i64::from(h.over_goal);
        self.missing += i64::from(h.missing);
        self.endangered += i64::from(h.endangered);
        self.damaged += i64::from(h.damaged);
        self.lost_blocks += h.lost_blocks as i64;
        for addr in &h.damaged_on {
            *self.damaged_on.entry(addr.clone()).or_default() += 1;
        }
        if h.goal > 0 {
            self.matrix.add(h.goal, h.good);
        }
    }

    /// One line when the replication backlog appears, when chunks go missing or endangered,
    /// and when all is back at goal (compared with the previous pass, as the gauges hold it).
    fn log_changes(&self, lm: &crate::leader_metrics::LeaderMetrics) {
        let (under, missing, endangered) = if lm.is_ready() {
            (lm.chunks_under_goal.get(), lm.chunks_missing.get(), lm.chunks_endangered.get())
        } else {
            (0, 0, 0)
        };
        if self.missing > missing {
            tracing::error!(missing = self.missing, "chunks without any valid copy: their files read errors");
        } else if self.endangered > endangered && self.endangered > 0 && endangered == 0 {
            tracing::warn!(endangered = self.endangered, "chunks with one copy left of a goal of two or more");
        }
        if under == 0 && self.under > 0 {
            tracing::warn!(
                under_goal = self.under,
                endangered = self.endangered,
                missing = self.missing,
                "replication backlog: chunks under their goal"
            );
        } else if under > 0 && self.under == 0 {
            tracing::info!(was = under, "replication backlog cleared: every chunk at its goal");
        }
    }

    /// The pass's judgement, as the leader's metrics.
    fn export(self, lm: &crate::leader_metrics::LeaderMetrics) {
        self.log_changes(lm);
        lm.chunks_under_goal.set(self.under);
        lm.chunks_over_goal.set(self.over);
        lm.chunks_missing.set(self.missing);
        lm.chunks_endangered.set(self.endangered);
        lm.chunks_damaged.set(self.damaged);
        lm.blocks_lost.set(self.lost_blocks);
        lm.server_damaged.reset();
        for (addr, n) in &self.damaged_on {
            lm.server_damaged.with_label_values(&[addr.as_str()]).set(*n);
        }
        lm.set_matrix(self.matrix);
        lm.set_ready();
    }
}

/// Send deletions within each server's per-pass limit.
fn run_deletes(
    svc: &Arc<ChunkService>,
    deletes: Vec<(u64, Action)>,
    servers: &[Candidate],
    cfg: &crate::config::ChunkLoopConfig,
) {
    let mut sent: HashMap<String, usize> = HashMap::new();
    for (id, a) in deletes {
        let Action::Delete { addr, version, reason } = a else { continue };
        let limit = match servers.iter().find(|c| c.addr == addr) {
            Some(c) if c.total > 0 && c.avail.saturating_mul(100) / c.total < SHORT_OF_SPACE_PERCENT => {
                cfg.hard_del_limit
            }
            _ => cfg.soft_del_limit,
        };
        let n = sent.entry(addr.clone()).or_default();
        if *n >= limit || !svc.loop_state.claim(id, &addr) {
            continue;
        }
        *n += 1;
        let svc = svc.clone();
        tokio::spawn(async move {
            delete_copy(&svc, id, &addr, version, reason).await;
            svc.loop_state.unclaim(id, &addr);
        });
    }
}

/// Delete one copy, logging and counting it.
async fn delete_copy(svc: &ChunkService, id: u64, addr: &str, version: u32, reason: DeleteReason) -> bool {
    tracing::info!(chunk = id, server = %addr, version, reason = reason.name(), "deleting chunk copy");
    let r = svc.command(addr, CsCommand::Delete { id, version }).await;
    let ok = match &r {
        Ok(_) => true,
        // Already gone: as good as deleted.
        Err(crate::error::CsCallError::Refused { err: proto::cs::CsError::NoChunk, .. }) => true,
        Err(e) => {
            tracing::info!(chunk = id, server = %addr, error = %e, "deletion failed");
            false
        }
    };
    if ok {
        svc.registry().remove_copy(id, addr, (version != 0).then_some(version));
    }
    svc.metrics.deletions.with_label_values(&[reason.name(), if ok { "ok" } else { "error" }]).inc();
    ok
}

fn spawn_renumber(svc: &Arc<ChunkService>, id: u64, addr: String, from: u32, to: u32) {
    if !svc.loop_state.claim(id, &addr) {
        return;
    }
    let svc = svc.clone();
    tokio::spawn(async move {
        renumber(&svc, id, &addr, from, to).await;
        svc.loop_state.unclaim(id, &addr);
    });
}

/// Renumber a holder's copy that missed a bump.
async fn renumber(svc: &ChunkService, id: u64, addr: &str, from: u32, to: u32) {
    tracing::info!(chunk = id, server = %addr, from, to, "renumbering a copy that missed a version bump");
    let ok = !svc.set_versions(id, &[from], to, &[addr.to_string()]).await.is_empty();
    svc.metrics.repairs.with_label_values(&[if ok { "ok" } else { "error" }]).inc();
}

fn spawn_forget(svc: &Arc<ChunkService>, mut ids: Vec<u64>) {
    {
        let mut l = svc.loop_state.lock();
        if l.forgetting {
            return;
        }
        l.forgetting = true;
    }
    ids.truncate(DELETED_BATCH);
    let svc = svc.clone();
    tokio::spawn(async move {
        let n = ids.len();
        match svc.proposer.propose(Command::ChunksDeleted { ids }).await {
            Ok(_) => tracing::info!(chunks = n, "deleted chunks are gone from every chunkserver: forgotten"),
            Err(a) => tracing::info!(answer = ?a, "forgetting deleted chunks not committed"),
        }
        svc.loop_state.lock().forgetting = false;
    });
}

/// Right after a chunkserver registered: delete its copies that are stale, orphaned or
/// deleted, and renumber those that missed a bump. Waits until the leader caught up.
pub async fn reconcile_server(svc: Arc<ChunkService>, addr: String, conn_id: u64) {
    loop {
        if svc.registry().link(&addr).is_none_or(|l| l.conn_id != conn_id || l.is_closed()) {
            return;
        }
        if svc.caught_up() {
            break;
        }
        tokio::time::sleep(CATCH_UP_POLL).await;
    }
    let reserved = svc.writes.reserved(); // before the snapshot: see `WriteState::reserved`
    let snap = snapshot(&svc);
    let mut todo: Vec<(u64, Action)> = Vec::new();
    {
        let reg = svc.registry();
        let ids: Vec<u64> = reg.chunk_ids().filter(|id| reg.copies(*id).iter().any(|c| c.addr == addr)).collect();
        for id in ids {
            let facts = ChunkFacts {
                id,
                meta: snap.table.get(&id),
                goal: snap.goals.get(&id).copied().unwrap_or(1),
                to_delete: snap.to_delete.contains(&id),
                // An id reserved for an allocation not yet committed is not an orphan, though
                // later allocations may have moved the namespace's next id past it.
                below_next_id: id < snap.next_id && !reserved.contains(&id),
                copies: reg.copies(id),
                repair_failed: &[],
            };
            let permits = Permits { replicate: false, trim: false, repair: false };
            let (actions, _) = plan(&facts, &[], permits);
            todo.extend(
                actions
                    .into_iter()
                    .filter(|a| match a {
                        Action::Delete { addr: a, .. } | Action::Renumber { addr: a, .. } => *a == addr,
                        Action::Replicate { .. } | Action::RepairBlocks { .. } => false,
                    })
                    .map(|a| (id, a)),
            );
        }
    }
    if todo.is_empty() {
        return;
    }
    tracing::info!(server = %addr, commands = todo.len(), "reconciling a registered chunkserver");
    for batch in todo.chunks(RECONCILE_PARALLELISM) {
        join_all(batch.iter().map(|(id, a)| {
            let svc = &svc;
            async move {
                match a {
                    Action::Delete { addr, version, reason } => {
                        if svc.loop_state.claim(*id, addr) {
                            delete_copy(svc, *id, addr, *version, *reason).await;
                            svc.loop_state.unclaim(*id, addr);
                        }
                    }
                    Action::Renumber { addr, from, to } => {
                        if svc.loop_state.claim(*id, addr) {
                            renumber(svc, *id, addr, *from, *to).await;
                            svc.loop_state.unclaim(*id, addr);
                        }
                    }
                    Action::Replicate { .. } | Action::RepairBlocks { .. } => {}
                }
            }
        }))
        .await;
    }
}
