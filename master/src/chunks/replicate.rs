//! Making new copies of chunks under their goal: the pass's wishes are matched with
//! destinations within `CHUNKS_WRITE_REP_LIMIT` / `CHUNKS_READ_REP_LIMIT` (most endangered
//! chunks first); each replication bumps the version through Raft (so a client still writing
//! with the old version cannot write past the new copy), has the destinations copy the chunk
//! from the valid copies (each block from one that has it good), and makes the new copies
//! holders through Raft.

use proto::client::Reply;
use proto::cs::CsCommand;

use super::placement::{self, Candidate};
use super::replication::Snapshot;
use super::{join_all, ChunkService};
use crate::raft_types::{Command, CommandOutcome};

/// An under-goal chunk the pass found.
pub(super) struct Wanted {
    pub id: u64,
    /// Copies missing.
    pub count: usize,
    /// Servers with a copy that serves data.
    pub exclude: Vec<String>,
    /// Copies counting towards the goal now.
    pub good: usize,
}

/// A replication the pass decided on.
pub(super) struct Replication {
    id: u64,
    version: u32,
    dests: Vec<String>,
    /// The source counted against `CHUNKS_READ_REP_LIMIT` (listed first to the chunkserver).
    source: String,
    /// Remaining copies at the goal-counting level (fewest first get served first).
    good: usize,
}

/// Pick destinations for under-goal chunks within the replication limits, most endangered
/// chunks first.
pub(super) fn choose_replications(
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
pub(super) async fn replicate(svc: &ChunkService, r: Replication) {
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
