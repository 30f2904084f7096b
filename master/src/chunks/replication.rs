//! The leader's chunk loop: every pass looks at every chunk (in the chunk table, reported
//! by a chunkserver, or waiting for deletion) and
//! - renumbers holders that missed a version bump (`SetVersion`),
//! - replicates chunks under their goal (after `REPLICATIONS_DELAY_*`): first a version bump
//!   through Raft (so a client still writing with the old version cannot write past the new
//!   copy), then `Replicate` to a chosen server, then the new copy becomes a holder through
//!   Raft,
//! - deletes extra copies over the goal (copies on disks marked for removal first, then on
//!   the fullest server), stale copies (only while a valid copy exists: never the last data),
//!   orphans (ids that can never be in the table again) and deleted chunks,
//! - tells Raft which deleted chunks no chunkserver holds any more (`ChunksDeleted`).
//!
//! The decisions for one chunk are a pure function ([`plan`]); the pass applies them within
//! the `CHUNKS_*_LIMIT`s.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use proto::client::Reply;
use proto::cs::CsCommand;

use super::placement::{self, Candidate};
use super::registry::{is_valid, Copy};
use super::{join_all, ChunkService};
use crate::namespace::ChunkMeta;
use crate::raft_api::propose;
use crate::raft_types::{Command, CommandOutcome};

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

/// Why a copy is deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeleteReason {
    /// The chunk was deleted from the namespace (truncate, unlink, trash purge).
    Deleted,
    /// No file will ever refer to this id.
    Orphan,
    /// An old version, or a copy that is not a holder.
    Stale,
    /// More valid copies than the goal.
    OverGoal,
}

impl DeleteReason {
    pub fn name(self) -> &'static str {
        match self {
            DeleteReason::Deleted => "deleted",
            DeleteReason::Orphan => "orphan",
            DeleteReason::Stale => "stale",
            DeleteReason::OverGoal => "over_goal",
        }
    }
}

/// What should happen to one chunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Delete the copy on `addr` (`version` 0: whatever version).
    Delete { addr: String, version: u32, reason: DeleteReason },
    /// A holder one version behind: renumber its copy.
    Repair { addr: String, from: u32, to: u32 },
    /// `count` more copies are needed, on servers other than `exclude` (every server
    /// with any copy).
    Replicate { count: usize, exclude: Vec<String> },
}

/// What the loop knows of one chunk.
#[derive(Clone, Debug)]
pub struct ChunkFacts<'a> {
    pub id: u64,
    /// Its table entry; `None` when no file refers to it.
    pub meta: Option<&'a ChunkMeta>,
    /// Highest goal of the files referring to it.
    pub goal: u8,
    /// Waiting in `chunks_to_delete`.
    pub to_delete: bool,
    /// Below the namespace's next chunk id: if not in the table now, it never will be.
    pub below_next_id: bool,
    pub copies: &'a [Copy],
}

/// The state of one chunk, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Health {
    pub under_goal: bool,
    pub over_goal: bool,
    /// In the table without any valid copy.
    pub missing: bool,
}

/// What the pass allows for this chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Permits {
    /// Replicate under-goal chunks (delays passed, not being written).
    pub replicate: bool,
    /// Delete copies over the goal.
    pub trim: bool,
}

/// Decide what to do with one chunk. `servers` gives space for choosing which extra copy
/// to delete.
pub fn plan(f: &ChunkFacts<'_>, servers: &[Candidate], permits: Permits) -> (Vec<Action>, Health) {
    let mut actions = Vec::new();
    let delete_all = |reason| {
        f.copies.iter().map(|c| Action::Delete { addr: c.addr.clone(), version: 0, reason }).collect::<Vec<_>>()
    };
    let Some(meta) = f.meta else {
        if f.to_delete {
            return (delete_all(DeleteReason::Deleted), Health::default());
        }
        if f.below_next_id {
            return (delete_all(DeleteReason::Orphan), Health::default());
        }
        // Maybe an allocation in progress: not ours to judge yet.
        return (actions, Health::default());
    };
    let (valid, stale): (Vec<&Copy>, Vec<&Copy>) = f.copies.iter().partition(|c| is_valid(meta, &c.addr, c.version));
    let goal = usize::from(f.goal.max(1));
    let good = valid.iter().filter(|c| !c.to_remove).count();
    let health = Health {
        under_goal: !valid.is_empty() && good < goal,
        over_goal: valid.len() > goal,
        missing: valid.is_empty(),
    };
    if valid.is_empty() {
        // Never destroy the last data: stale copies stay until a valid one exists.
        return (actions, health);
    }
    for c in &stale {
        actions.push(Action::Delete { addr: c.addr.clone(), version: c.version, reason: DeleteReason::Stale });
    }
    for c in valid.iter().filter(|c| c.version != meta.version) {
        actions.push(Action::Repair { addr: c.addr.clone(), from: c.version, to: meta.version });
    }
    if good < goal && permits.replicate {
        let exclude = f.copies.iter().map(|c| c.addr.clone()).collect();
        actions.push(Action::Replicate { count: goal - good, exclude });
    }
    if good >= goal && valid.len() > goal && permits.trim {
        // Copies on disks marked for removal go first (the goal is met without them).
        let mut extra: Vec<&Copy> = valid.iter().filter(|c| c.to_remove).copied().collect();
        let mut keep: Vec<&str> = valid.iter().filter(|c| !c.to_remove).map(|c| c.addr.as_str()).collect();
        while keep.len() > goal {
            let Some(addr) = placement::fullest(servers, &keep) else { break };
            keep.retain(|a| *a != addr);
            if let Some(c) = valid.iter().find(|c| c.addr == addr) {
                extra.push(c);
            }
        }
        for c in extra {
            actions.push(Action::Delete { addr: c.addr.clone(), version: c.version, reason: DeleteReason::OverGoal });
        }
    }
    (actions, health)
}

/// Commands of the loop still running, so a pass does not repeat them and the limits hold.
#[derive(Default)]
pub struct LoopState {
    inner: Mutex<Inflight>,
}

#[derive(Default)]
struct Inflight {
    /// (chunk, server) with a delete or set-version running.
    busy: HashSet<(u64, String)>,
    /// Chunks with a replication running.
    replicating: HashSet<u64>,
    /// Replications running into each server.
    into: HashMap<String, usize>,
    /// Replications running from each (first) source.
    from: HashMap<String, usize>,
    /// A `ChunksDeleted` proposal is running.
    forgetting: bool,
}

impl LoopState {
    fn lock(&self) -> MutexGuard<'_, Inflight> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forget everything (leadership changed). Running tasks finish harmlessly.
    pub fn clear(&self) {
        *self.lock() = Inflight::default();
    }

    /// Mark (chunk, server) busy; false when it already was.
    fn claim(&self, id: u64, addr: &str) -> bool {
        self.lock().busy.insert((id, addr.to_string()))
    }

    fn unclaim(&self, id: u64, addr: &str) {
        self.lock().busy.remove(&(id, addr.to_string()));
    }

    fn is_busy(&self, id: u64) -> bool {
        let l = self.lock();
        l.replicating.contains(&id) || l.busy.iter().any(|(i, _)| *i == id)
    }
}

/// Run the loop while the master lives; passes only while leading and caught up.
pub async fn run(svc: Arc<ChunkService>) {
    let mut tick = tokio::time::interval(svc.cfg.chunk_loop.loop_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if svc.caught_up() {
            pass(&svc);
        }
    }
}

/// One chunk's facts, owned, for planning outside the namespace lock.
struct Snapshot {
    table: BTreeMap<u64, ChunkMeta>,
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

/// An under-goal chunk the pass found.
struct Wanted {
    id: u64,
    /// Copies missing.
    count: usize,
    /// Servers with any copy of it.
    exclude: Vec<String>,
    /// Copies counting towards the goal now.
    good: usize,
}

/// A replication the pass decided on.
struct Replication {
    id: u64,
    version: u32,
    dests: Vec<String>,
    /// The source counted against `CHUNKS_READ_REP_LIMIT` (listed first to the chunkserver).
    source: String,
    /// Remaining copies at the goal-counting level (fewest first get served first).
    good: usize,
}

/// One pass over every chunk.
fn pass(svc: &Arc<ChunkService>) {
    let Some(lead) = svc.leadership() else { return };
    let cfg = svc.cfg.chunk_loop.clone();
    let snap = snapshot(svc);
    svc.writes.prune(WRITE_QUIET);
    let settled = lead.since.elapsed() >= cfg.delay_init;

    let mut deletes: Vec<(u64, Action)> = Vec::new();
    let mut repairs: Vec<(u64, Action)> = Vec::new();
    let mut wanted: Vec<Wanted> = Vec::new();
    let mut forget: Vec<u64> = Vec::new();
    let (mut under, mut over, mut missing) = (0i64, 0i64, 0i64);
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
            let facts = ChunkFacts {
                id,
                meta: snap.table.get(&id),
                goal: snap.goals.get(&id).copied().unwrap_or(1),
                to_delete: snap.to_delete.contains(&id),
                below_next_id: id < snap.next_id,
                copies,
            };
            let permits = Permits { replicate: replicate_ok && quiet, trim: settled && quiet };
            let (actions, health) = plan(&facts, &candidates, permits);
            under += i64::from(health.under_goal);
            over += i64::from(health.over_goal);
            missing += i64::from(health.missing);
            if facts.to_delete && copies.is_empty() {
                forget.push(id);
            }
            for a in actions {
                match a {
                    Action::Delete { .. } => deletes.push((id, a)),
                    Action::Repair { .. } => repairs.push((id, a)),
                    Action::Replicate { count, exclude } => {
                        let good = copies.iter().filter(|c| !c.to_remove).count();
                        wanted.push(Wanted { id, count, exclude, good });
                    }
                }
            }
        }
    }
    svc.metrics.chunks.set(snap.table.len() as i64);
    svc.metrics.chunks_under_goal.set(under);
    svc.metrics.chunks_over_goal.set(over);
    svc.metrics.chunks_missing.set(missing);

    run_deletes(svc, deletes, &candidates, &cfg);
    for (id, a) in repairs {
        if let Action::Repair { addr, from, to } = a {
            spawn_repair(svc, id, addr, from, to);
        }
    }
    let replications = choose_replications(svc, &snap, wanted, &candidates, &cfg);
    for r in replications {
        let svc = svc.clone();
        tokio::spawn(async move { replicate(&svc, r).await });
    }
    if !forget.is_empty() {
        spawn_forget(svc, forget);
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
        Ok(()) => true,
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

fn spawn_repair(svc: &Arc<ChunkService>, id: u64, addr: String, from: u32, to: u32) {
    if !svc.loop_state.claim(id, &addr) {
        return;
    }
    let svc = svc.clone();
    tokio::spawn(async move {
        repair(&svc, id, &addr, from, to).await;
        svc.loop_state.unclaim(id, &addr);
    });
}

/// Renumber a holder's copy that missed a bump.
async fn repair(svc: &ChunkService, id: u64, addr: &str, from: u32, to: u32) {
    tracing::info!(chunk = id, server = %addr, from, to, "renumbering a copy that missed a version bump");
    let ok = !svc.set_versions(id, &[from], to, &[addr.to_string()]).await.is_empty();
    svc.metrics.repairs.with_label_values(&[if ok { "ok" } else { "error" }]).inc();
}

/// Pick destinations for under-goal chunks within the replication limits, most endangered
/// chunks first.
fn choose_replications(
    svc: &ChunkService,
    snap: &Snapshot,
    mut wanted: Vec<Wanted>,
    candidates: &[Candidate],
    cfg: &crate::config::ChunkLoopConfig,
) -> Vec<Replication> {
    wanted.sort_by_key(|w| (w.good, w.id));
    // Valid copies first (registry lock), then the limits (loop lock): never both at once.
    let ready: Vec<(Wanted, u32, Vec<String>)> = {
        let reg = svc.registry();
        wanted
            .into_iter()
            .filter_map(|w| {
                let meta = snap.table.get(&w.id)?;
                let valid = reg.valid_servers(w.id, meta);
                Some((w, meta.version, valid))
            })
            .collect()
    };
    let mut out = Vec::new();
    let mut inflight = svc.loop_state.lock();
    for (Wanted { id, count, exclude, good }, version, valid) in ready {
        if inflight.replicating.contains(&id) {
            continue;
        }
        let open: Vec<Candidate> = candidates
            .iter()
            .filter(|c| inflight.into.get(&c.addr).copied().unwrap_or(0) < cfg.write_rep_limit)
            .cloned()
            .collect();
        let dests = placement::choose(&open, count, &exclude);
        if dests.is_empty() {
            continue;
        }
        // The source the chunkserver tries first: the valid copy least busy as a source.
        let source = valid
            .into_iter()
            .filter(|a| inflight.from.get(a).copied().unwrap_or(0) < cfg.read_rep_limit)
            .min_by_key(|a| inflight.from.get(a).copied().unwrap_or(0));
        let Some(source) = source else { continue };
        inflight.replicating.insert(id);
        *inflight.from.entry(source.clone()).or_default() += 1;
        for d in &dests {
            *inflight.into.entry(d.clone()).or_default() += 1;
        }
        out.push(Replication { id, version, dests, source, good });
    }
    out
}

/// Release what [`choose_replications`] counted for `r`.
fn finish_replication(svc: &ChunkService, r: &Replication) {
    let mut inflight = svc.loop_state.lock();
    inflight.replicating.remove(&r.id);
    for d in &r.dests {
        if let Some(n) = inflight.into.get_mut(d) {
            *n = n.saturating_sub(1);
        }
    }
    if let Some(n) = inflight.from.get_mut(&r.source) {
        *n = n.saturating_sub(1);
    }
}

/// Bump, replicate to each destination, and make the new copies holders.
async fn replicate(svc: &ChunkService, r: Replication) {
    let result = replicate_inner(svc, &r).await;
    finish_replication(svc, &r);
    if let Err(reason) = result {
        tracing::info!(chunk = r.id, reason = %reason, "replication not done");
    }
}

async fn replicate_inner(svc: &ChunkService, r: &Replication) -> Result<(), String> {
    let id = r.id;
    let meta = svc.chunk_meta(id).filter(|m| m.version == r.version).ok_or("the chunk changed")?;
    let holders = svc.registry().valid_servers(id, &meta);
    if holders.is_empty() {
        return Err("no valid copy".into());
    }
    let cmd = Command::ChunkBump { id, version: r.version, holders: holders.clone() };
    match propose(&svc.raft, svc.cfg.commit_timeout, cmd).await {
        Ok(CommandOutcome::Result(Ok(Reply::Count(1)))) => {}
        Ok(_) => return Err("the chunk changed before the bump".into()),
        Err(answer) => return Err(format!("bump not committed: {answer:?}")),
    }
    let version = r.version.wrapping_add(1).max(1);
    let mut sources =
        svc.confirm_bump(id, version, &holders).await.map_err(|a| format!("bump not confirmed: {a:?}"))?;
    // The source counted against the read limit first; the chunkserver tries them in order.
    if let Some(pos) = sources.iter().position(|s| *s == r.source) {
        let s = sources.remove(pos);
        sources.insert(0, s);
    }
    let results = join_all(r.dests.iter().map(|dest| {
        let sources = sources.clone();
        async move {
            tracing::info!(chunk = id, version, to = %dest, from = ?sources, remaining = r.good, "replicating chunk: under goal");
            let cmd = CsCommand::Replicate { id, version, sources };
            let res = svc.command(dest, cmd).await;
            svc.metrics.replications.with_label_values(&[if res.is_ok() { "ok" } else { "error" }]).inc();
            match res {
                Ok(()) => {
                    svc.registry().add_copy(id, dest, version, false);
                    let cmd = Command::ChunkCopyAdded { id, version, addr: dest.clone() };
                    match propose(&svc.raft, svc.cfg.commit_timeout, cmd).await {
                        Ok(_) => Ok(()),
                        Err(a) => Err(format!("{dest}: new holder not committed: {a:?}")),
                    }
                }
                Err(e) => Err(e.to_string()),
            }
        }
    }))
    .await;
    let errors: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
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
        match propose(&svc.raft, svc.cfg.commit_timeout, Command::ChunksDeleted { ids }).await {
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
                below_next_id: id < snap.next_id,
                copies: reg.copies(id),
            };
            let permits = Permits { replicate: false, trim: false };
            let (actions, _) = plan(&facts, &[], permits);
            todo.extend(
                actions
                    .into_iter()
                    .filter(|a| match a {
                        Action::Delete { addr: a, .. } | Action::Repair { addr: a, .. } => *a == addr,
                        Action::Replicate { .. } => false,
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
                    Action::Repair { addr, from, to } => {
                        if svc.loop_state.claim(*id, addr) {
                            repair(svc, *id, addr, *from, *to).await;
                            svc.loop_state.unclaim(*id, addr);
                        }
                    }
                    Action::Replicate { .. } => {}
                }
            }
        }))
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::meta::CHUNK_SIZE;

    fn meta(version: u32, holders: &[&str]) -> ChunkMeta {
        ChunkMeta { version, holders: holders.iter().map(|s| s.to_string()).collect() }
    }

    fn copy(addr: &str, version: u32) -> Copy {
        Copy { addr: addr.into(), version, to_remove: false }
    }

    fn cand(addr: &str, avail_chunks: u64) -> Candidate {
        Candidate { addr: addr.into(), total: 100 * CHUNK_SIZE, avail: avail_chunks * CHUNK_SIZE, load: 0 }
    }

    const ALL: Permits = Permits { replicate: true, trim: true };

    fn facts<'a>(meta: Option<&'a ChunkMeta>, goal: u8, copies: &'a [Copy]) -> ChunkFacts<'a> {
        ChunkFacts { id: 9, meta, goal, to_delete: false, below_next_id: true, copies }
    }

    fn del(addr: &str, version: u32, reason: DeleteReason) -> Action {
        Action::Delete { addr: addr.into(), version, reason }
    }

    #[test]
    fn a_chunk_at_goal_needs_nothing() {
        let m = meta(3, &["a", "b"]);
        let copies = [copy("a", 3), copy("b", 3)];
        let (actions, health) = plan(&facts(Some(&m), 2, &copies), &[], ALL);
        assert!(actions.is_empty(), "{actions:?}");
        assert_eq!(health, Health::default());
    }

    #[test]
    fn stale_copies_are_deleted_only_while_a_valid_copy_exists() {
        let m = meta(3, &["a", "b"]);
        let copies = [copy("a", 3), copy("b", 1), copy("c", 3)];
        let (actions, _) = plan(&facts(Some(&m), 1, &copies), &[], ALL);
        assert_eq!(actions, vec![del("b", 1, DeleteReason::Stale), del("c", 3, DeleteReason::Stale)]);
        // Without a valid copy nothing is deleted: the stale ones may be all that is left.
        let copies = [copy("b", 1), copy("c", 3)];
        let (actions, health) = plan(&facts(Some(&m), 1, &copies), &[], ALL);
        assert!(actions.is_empty());
        assert!(health.missing);
    }

    #[test]
    fn a_holder_one_version_behind_is_repaired_and_counts_as_valid() {
        let m = meta(4, &["a", "b"]);
        let copies = [copy("a", 4), copy("b", 3)];
        let (actions, health) = plan(&facts(Some(&m), 2, &copies), &[], ALL);
        assert_eq!(actions, vec![Action::Repair { addr: "b".into(), from: 3, to: 4 }]);
        assert!(!health.under_goal);
    }

    #[test]
    fn under_goal_asks_for_replication_only_when_permitted() {
        let m = meta(1, &["a"]);
        let copies = [copy("a", 1), copy("x", 7)];
        let (actions, health) = plan(&facts(Some(&m), 3, &copies), &[], ALL);
        assert!(health.under_goal);
        assert!(actions.contains(&Action::Replicate { count: 2, exclude: vec!["a".into(), "x".into()] }));
        let (actions, _) = plan(&facts(Some(&m), 3, &copies), &[], Permits { replicate: false, trim: true });
        assert!(!actions.iter().any(|a| matches!(a, Action::Replicate { .. })));
    }

    #[test]
    fn copies_on_removal_disks_do_not_count_and_go_first_when_over_goal() {
        let m = meta(1, &["a", "b", "c"]);
        let mut copies = vec![copy("a", 1), copy("b", 1)];
        copies[1].to_remove = true;
        let (actions, health) = plan(&facts(Some(&m), 2, &copies), &[], ALL);
        assert!(health.under_goal, "b is on a disk being removed");
        assert!(actions.iter().any(|a| matches!(a, Action::Replicate { count: 1, .. })));
        // Once a third copy exists, the one on the removal disk is the extra one.
        copies.push(copy("c", 1));
        let servers = [cand("a", 1), cand("b", 90), cand("c", 50)];
        let (actions, health) = plan(&facts(Some(&m), 2, &copies), &servers, ALL);
        assert!(health.over_goal && !health.under_goal);
        assert_eq!(actions, vec![del("b", 1, DeleteReason::OverGoal)]);
    }

    #[test]
    fn over_goal_deletes_from_the_fullest_server_and_only_when_permitted() {
        let m = meta(2, &["a", "b", "c"]);
        let copies = [copy("a", 2), copy("b", 2), copy("c", 2)];
        let servers = [cand("a", 50), cand("b", 5), cand("c", 70)];
        let (actions, _) = plan(&facts(Some(&m), 1, &copies), &servers, ALL);
        assert_eq!(actions, vec![del("b", 2, DeleteReason::OverGoal), del("a", 2, DeleteReason::OverGoal)]);
        let (actions, health) = plan(&facts(Some(&m), 1, &copies), &servers, Permits { replicate: true, trim: false });
        assert!(actions.is_empty());
        assert!(health.over_goal);
    }

    #[test]
    fn deleted_and_orphan_chunks_are_deleted_everywhere_and_pending_ids_left_alone() {
        let copies = [copy("a", 1), copy("b", 2)];
        let mut f = facts(None, 1, &copies);
        f.to_delete = true;
        let (actions, _) = plan(&f, &[], ALL);
        assert_eq!(actions, vec![del("a", 0, DeleteReason::Deleted), del("b", 0, DeleteReason::Deleted)]);
        f.to_delete = false;
        let (actions, _) = plan(&f, &[], ALL);
        assert_eq!(actions, vec![del("a", 0, DeleteReason::Orphan), del("b", 0, DeleteReason::Orphan)]);
        // At or above the next id: maybe an allocation not committed yet.
        f.below_next_id = false;
        assert!(plan(&f, &[], ALL).0.is_empty());
    }
}
