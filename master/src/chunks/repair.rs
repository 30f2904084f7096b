//! Rewriting bad blocks: the loop's `RepairBlocks` actions go to the chunkserver holding the
//! damaged copy, which reads each bad block from the other copies (each from the first that
//! has it good) and rewrites it in place. Its answer, the copy's blocks still bad, becomes what
//! the registry knows of the copy. A repair that leaves a block bad that another copy has
//! good (a source unreachable, the disk refusing the write) is not tried again for
//! [`REPAIR_RETRY`], and meanwhile the copy is not counted on to become whole, so the chunk
//! may get a new copy instead.

use std::sync::Arc;
use std::time::Duration;

use proto::cs::{CommandReply, CsCommand, CsError, RepairSource};

use super::registry::Damage;
use super::ChunkService;
use crate::error::CsCallError;

/// How long a failed repair of one copy waits before it is tried again.
pub const REPAIR_RETRY: Duration = Duration::from_secs(30);

/// Repair `blocks` of `addr`'s copy of chunk `id` at `version` in the background, unless a
/// command on that copy is running already.
pub(super) fn spawn(
    svc: &Arc<ChunkService>,
    id: u64,
    version: u32,
    addr: String,
    blocks: Vec<u32>,
    sources: Vec<String>,
    others: Vec<RepairSource>,
) {
    if !svc.loop_state.claim(id, &addr) {
        return;
    }
    let svc = svc.clone();
    tokio::spawn(async move {
        repair(&svc, id, version, &addr, blocks, sources, others).await;
        svc.loop_state.unclaim(id, &addr);
    });
}

async fn repair(
    svc: &ChunkService,
    id: u64,
    version: u32,
    addr: &str,
    blocks: Vec<u32>,
    sources: Vec<String>,
    others: Vec<RepairSource>,
) {
    tracing::info!(chunk = id, server = %addr, version, blocks = ?blocks, from = ?sources, others = others.len(), "repairing bad blocks");
    let cmd = CsCommand::RepairBlocks { id, version, blocks: blocks.clone(), sources, others };
    let still_bad = match svc.command(addr, cmd).await {
        Ok(CommandReply::Repaired { bad }) => {
            svc.registry().set_damage_at(id, addr, version, Damage::after_repair(&bad));
            let left = blocks.iter().filter(|b| bad.binary_search(b).is_ok()).count();
            if left > 0 {
                tracing::warn!(chunk = id, server = %addr, still_bad = ?bad, "repair left blocks bad");
            } else {
                tracing::info!(chunk = id, server = %addr, repaired = blocks.len(), "bad blocks repaired");
            }
            left
        }
        Ok(other) => {
            tracing::warn!(chunk = id, server = %addr, answer = ?other, "unexpected answer to a repair");
            blocks.len()
        }
        Err(CsCallError::Refused { err: CsError::Unusable(why), .. }) => {
            tracing::warn!(chunk = id, server = %addr, reason = %why, "copy out of service: not repaired");
            svc.registry().set_damage_at(id, addr, version, Damage::Whole);
            blocks.len()
        }
        Err(e) => {
            tracing::info!(chunk = id, server = %addr, error = %e, "repair failed");
            blocks.len()
        }
    };
    svc.loop_state.repair_ended(id, addr, still_bad > 0);
    svc.metrics.block_repairs.with_label_values(&["ok"]).inc_by((blocks.len() - still_bad) as u64);
    svc.metrics.block_repairs.with_label_values(&["failed"]).inc_by(still_bad as u64);
}
