//! Making new copies of chunks under their goal. Each pass of the chunk loop hands over its
//! list of under-goal chunks, endangered ones (one copy left) first, then by copies left
//! ([`set_wanted`]); replications start from the front of that queue whenever a server has
//! room under `CHUNKS_WRITE_REP_LIMIT` (into it) and `CHUNKS_READ_REP_LIMIT` (from it), both
//! counted in flight, with MooseFS 3.0's classes (an endangered chunk may use a busier server
//! than a chunk merely under goal), and again each time one ends ([`refill`]): the servers
//! stay busy at the limits instead of waiting for the next pass.
//!
//! Each replication bumps the version through Raft (so a client still writing with the old
//! version cannot write past the new copy), has the destinations copy the chunk from the valid
//! copies (each block from one that has it good), and makes the new copies holders through
//! Raft.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use proto::client::Reply;
use proto::cs::CsCommand;

use super::placement::{self, Candidate};
use super::{join_all, ChunkService};
use crate::raft_types::{Command, CommandOutcome};

/// Queue entries looked at by one [`refill`].
const SCAN: usize = 512;
/// A destination that failed to take a chunk is not chosen for it again for this long.
pub(super) const REPLICATE_RETRY: Duration = Duration::from_secs(30);

/// An under-goal chunk the pass found.
pub(super) struct Wanted {
    pub id: u64,
    /// Copies missing.
    pub count: usize,
    /// Servers with a copy that serves data.
    pub exclude: Vec<String>,
    /// Copies counting towards the goal now.
    pub good: usize,
    /// One copy left of a goal of two or more (MooseFS's first class).
    pub endangered: bool,
}

/// A replication decided on.
pub(super) struct Replication {
    id: u64,
    version: u32,
    dests: Vec<String>,
    /// The source counted against `CHUNKS_READ_REP_LIMIT` (listed first to the chunkserver).
    source: String,
    /// Remaining copies at the goal-counting level.
    good: usize,
}

/// The pass's judgement: replace the queue with `wanted` (most endangered first) and start
/// what fits.
pub(super) fn set_wanted(svc: &Arc<ChunkService>, mut wanted: Vec<Wanted>) {
    wanted.sort_by_key(|w| (!w.endangered, w.good, w.id));
    svc.metrics.leader.replication_queue.set(wanted.len() as i64);
    svc.loop_state.lock().queue = VecDeque::from(wanted);
    refill(svc);
}

/// Start replications from the front of the queue while the servers' limits allow.
pub(super) fn refill(svc: &Arc<ChunkService>) {
    if svc.leadership().is_none() {
        return;
    }
    let cfg = svc.live.chunk_loop();
    // Servers first (registry lock), then the limits (loop lock): never both at once.
    let candidates = {
        let mut reg = svc.registry();
        if reg.recent_disconnect(cfg.delay_disconnect) {
            drop(reg);
            svc.loop_state.lock().queue.clear();
            svc.metrics.leader.replication_queue.set(0);
            return;
        }
        reg.candidates()
    };
    // Take the entries of the queue's front that some server has room for, by what the
    // loop already counts (the servers holding a copy are the sources); the rest keep their
    // places. Only those taken are looked up below.
    let batch: Vec<Wanted> = {
        let mut l = svc.loop_state.lock();
        let l = &mut *l;
        let mut into: HashMap<&str, usize> = HashMap::new();
        // Sources counted so far, by address (owned: the entries move on).
        let mut from: HashMap<String, usize> = HashMap::new();
        for c in &candidates {
            into.insert(c.addr.as_str(), l.into.get(&c.addr).copied().unwrap_or(0));
        }
        if !into.values().any(|&n| n < cfg.write_rep_limit.endangered) {
            return;
        }
        let n = l.queue.len().min(SCAN);
        let mut take = Vec::new();
        let mut keep = Vec::new();
        for w in l.queue.drain(..n) {
            if l.replicating.contains(&w.id) {
                continue;
            }
            let (wlimit, rlimit) = limits(&cfg, w.endangered);
            let failed =
                |a: &str| l.replicate_failed.get(&(w.id, a.to_string())).is_some_and(|t| t.elapsed() < REPLICATE_RETRY);
            let dest = candidates.iter().map(|c| c.addr.as_str()).find(|a| {
                !w.exclude.iter().any(|e| e == a) && !failed(a) && into.get(a).copied().unwrap_or(usize::MAX) < wlimit
            });
            let busy = |a: &String| from.get(a).copied().unwrap_or_else(|| l.from.get(a).copied().unwrap_or(0));
            let source = w.exclude.iter().find(|a| busy(a) < rlimit).cloned();
            match (dest, source) {
                (Some(d), Some(src)) => {
                    *into.entry(d).or_default() += 1;
                    let f = busy(&src);
                    from.insert(src, f + 1);
                    take.push(w);
                }
                _ => keep.push(w),
            }
        }
        for w in keep.into_iter().rev() {
            l.queue.push_front(w);
        }
        take
    };
    if batch.is_empty() {
        return;
    }
    // Each chunk's version and valid copies now.
    let metas: Vec<Option<crate::namespace::ChunkMeta>> = {
        let st = svc.state.read();
        batch.iter().map(|w| st.ns.chunk_meta(w.id).cloned()).collect()
    };
    // (wanted, its version and valid copies when it still has a table entry)
    type Ready = (Wanted, Option<(u32, Vec<String>)>);
    let ready: Vec<Ready> = {
        let reg = svc.registry();
        batch
            .into_iter()
            .zip(metas)
            .map(|(w, meta)| {
                let found = meta.map(|m| (m.version, reg.valid_servers(w.id, &m)));
                (w, found)
            })
            .collect()
    };
    let mut start = Vec::new();
    let mut left = Vec::new();
    {
        let mut l = svc.loop_state.lock();
        for (w, found) in ready {
            // Gone from the table, or no copy left to copy from: nothing to do until the next pass says so.
            let Some((version, valid)) = found.filter(|(_, v)| !v.is_empty()) else { continue };
            if l.replicating.contains(&w.id) {
                continue;
            }
            let (wlimit, rlimit) = limits(&cfg, w.endangered);
            let open: Vec<Candidate> =
                candidates.iter().filter(|c| l.into.get(&c.addr).copied().unwrap_or(0) < wlimit).cloned().collect();
            // The source the chunkserver tries first: the valid copy least busy as a source.
            let source = valid
                .into_iter()
                .filter(|a| l.from.get(a).copied().unwrap_or(0) < rlimit)
                .min_by_key(|a| l.from.get(a).copied().unwrap_or(0));
            let mut skip = w.exclude.clone();
            skip.extend(
                open.iter()
                    .filter(|c| {
                        l.replicate_failed.get(&(w.id, c.addr.clone())).is_some_and(|t| t.elapsed() < REPLICATE_RETRY)
                    })
                    .map(|c| c.addr.clone()),
            );
            let dests = if source.is_some() { placement::choose(&open, w.count, &skip) } else { Vec::new() };
            let (Some(source), false) = (source, dests.is_empty()) else {
                left.push(w);
                continue;
            };
            l.replicating.insert(w.id);
            *l.from.entry(source.clone()).or_default() += 1;
            for d in &dests {
                *l.into.entry(d.clone()).or_default() += 1;
            }
            start.push(Replication { id: w.id, version, dests, source, good: w.good });
        }
        // What could not start yet goes back in front, in its order.
        for w in left.into_iter().rev() {
            l.queue.push_front(w);
        }
        svc.metrics.leader.replication_queue.set(l.queue.len() as i64);
        svc.metrics.leader.replications_in_flight.set(l.replicating.len() as i64);
    }
    for r in start {
        let svc = svc.clone();
        tokio::spawn(async move { replicate(&svc, r).await });
    }
}

/// The write and read limits of a chunk's class.
fn limits(cfg: &crate::config::ChunkLoopConfig, endangered: bool) -> (usize, usize) {
    if endangered {
        (cfg.write_rep_limit.endangered, cfg.read_rep_limit.endangered)
    } else {
        (cfg.write_rep_limit.undergoal, cfg.read_rep_limit.undergoal)
    }
}

/// Release what [`refill`] counted for `r`.
fn finish_replication(svc: &ChunkService, r: &Replication) {
    let mut inflight = svc.loop_state.lock();
    inflight.replicating.remove(&r.id);
    svc.metrics.leader.replications_in_flight.set(inflight.replicating.len() as i64);
    for d in &r.dests {
        if let Some(n) = inflight.into.get_mut(d) {
            *n = n.saturating_sub(1);
        }
    }
    if let Some(n) = inflight.from.get_mut(&r.source) {
        *n = n.saturating_sub(1);
    }
}

/// Bump, replicate to each destination, and make the new copies holders; then start the
/// next replications the freed room allows.
async fn replicate(svc: &Arc<ChunkService>, r: Replication) {
    let result = replicate_inner(svc, &r).await;
    finish_replication(svc, &r);
    if let Err(reason) = result {
        tracing::info!(chunk = r.id, reason = %reason, "replication not done");
    }
    refill(svc);
}

async fn replicate_inner(svc: &ChunkService, r: &Replication) -> Result<(), String> {
    let id = r.id;
    let meta = svc.chunk_meta(id).filter(|m| m.version == r.version).ok_or("the chunk changed")?;
    let holders = svc.registry().valid_servers(id, &meta);
    if holders.is_empty() {
        return Err("no valid copy".into());
    }
    let cmd = Command::ChunkBump { id, version: r.version, holders: holders.clone() };
    match svc.proposer.propose(cmd).await {
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
                Ok(_) => {
                    svc.registry().add_copy(id, dest, version, false);
                    let cmd = Command::ChunkCopyAdded { id, version, addr: dest.clone() };
                    match svc.proposer.propose(cmd).await {
                        Ok(_) => Ok(()),
                        Err(a) => Err(format!("{dest}: new holder not committed: {a:?}")),
                    }
                }
                Err(e) => {
                    let mut l = svc.loop_state.lock();
                    l.replicate_failed.retain(|_, t| t.elapsed() < REPLICATE_RETRY);
                    l.replicate_failed.insert((id, dest.clone()), Instant::now());
                    Err(e.to_string())
                }
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
