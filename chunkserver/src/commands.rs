//! The leader's chunk commands (`CsCommand`), carried out against the store. The term check
//! happens before, in the master link; here a command is simply done.
//!
//! Replication copies a chunk from other chunkservers' data ports ([`crate::fetch`]): each
//! block from the first source that serves it good (so two copies damaged in different blocks
//! make one whole copy), checked against its CRC, written into a new chunk file under a
//! temporary name, which is renamed into place (atomically) only when the whole copy is there.
//!
//! A repair (`RepairBlocks`) rewrites the bad blocks of a copy here the same way, block by
//! block from the sources, under the chunk's lock and only while each block is still bad; it
//! answers the blocks still bad afterwards (a block bad on every copy stays bad).

use std::sync::Arc;

use proto::cs::{CommandReply, CsCommand, CsError, RepairSource, MAX_SOURCES};
use proto::data::{BLOCK_SIZE, MAX_IO};

use crate::chunk_file::MAX_BLOCKS;
use crate::conn_pool::ConnPool;
use crate::error::outcome;
use crate::fetch::Fetcher;
use crate::metrics::Metrics;
use crate::store::{ReplicaFile, Store};
use crate::tokens::KeyRing;

/// Carries out master commands.
pub struct Commands {
    pub store: Arc<Store>,
    pub pool: Arc<ConnPool>,
    pub metrics: Arc<Metrics>,
    /// Token keys, to sign the reads of replications and repairs.
    pub keys: Arc<KeyRing>,
}

impl Commands {
    /// Do one command and count it.
    pub async fn execute(&self, cmd: CsCommand) -> Result<CommandReply, CsError> {
        let name = cmd.name();
        let result = match cmd {
            CsCommand::Create { id, version } => self.store.create(id, version).await.map(|_| CommandReply::Done),
            CsCommand::Delete { id, version } => self.store.delete(id, version).await.map(|_| CommandReply::Done),
            CsCommand::SetVersion { id, expect, new_version } => {
                self.store.set_version(id, expect, new_version).await.map(|_| CommandReply::Done)
            }
            CsCommand::Replicate { id, version, sources } => {
                // A replication is data work: it counts in the load like a request does.
                let _load = self.metrics.in_progress();
                self.replicate(id, version, &sources).await.map(|_| CommandReply::Done)
            }
            CsCommand::RepairBlocks { id, version, blocks, sources, others } => {
                let _load = self.metrics.in_progress();
                self.repair_blocks(id, version, blocks, sources, others).await.map(|bad| CommandReply::Repaired { bad })
            }
            CsCommand::Duplicate { id, version, from_id, from_version, sources } => {
                let _load = self.metrics.in_progress();
                self.duplicate(id, version, from_id, from_version, &sources).await.map(|_| CommandReply::Done)
            }
        };
        self.metrics.commands.with_label_values(&[name, outcome(&result)]).inc();
        result
    }

    /// Fetch chunk `id` at `version` from `sources`, each block from the first source that
    /// has it good. When some block has no good source, the last source that failed is named
    /// in a `Chain` error; local failures (`NoSpace`, `Io`, `Busy`) come as they are.
    pub async fn replicate(&self, id: u64, version: u32, sources: &[String]) -> Result<(), CsError> {
        if sources.is_empty() || sources.len() > MAX_SOURCES {
            return Err(CsError::BadRequest(format!("replicate with {} sources", sources.len())));
        }
        let result = self.copy_from(id, version, (id, version), sources).await;
        match &result {
            Ok(()) => {
                self.metrics.replications.with_label_values(&["ok"]).inc();
                tracing::info!(chunk = format_args!("{id:016X}"), version, sources = ?sources, "replicated");
            }
            Err(e) => {
                self.metrics.replications.with_label_values(&["failed"]).inc();
                tracing::warn!(chunk = format_args!("{id:016X}"), version, sources = ?sources, error = %e, "replication failed");
            }
        }
        result
    }

    /// Copy-on-write: make chunk `id` at `version` from the data of `from_id` at
    /// `from_version` on `sources` (this server's own copy is read through its data port like
    /// any other, so a block bad here is taken from another copy).
    pub async fn duplicate(
        &self,
        id: u64,
        version: u32,
        from_id: u64,
        from_version: u32,
        sources: &[String],
    ) -> Result<(), CsError> {
        if sources.is_empty() || sources.len() > MAX_SOURCES || from_id == id {
            return Err(CsError::BadRequest(format!("duplicate of {from_id:016X} with {} sources", sources.len())));
        }
        let result = self.copy_from(id, version, (from_id, from_version), sources).await;
        match &result {
            Ok(()) => tracing::info!(
                chunk = format_args!("{id:016X}"),
                from = format_args!("{from_id:016X}"),
                from_version,
                "duplicated a shared chunk (copy-on-write)"
            ),
            Err(e) => tracing::warn!(
                chunk = format_args!("{id:016X}"),
                from = format_args!("{from_id:016X}"),
                error = %e,
                "duplicating a shared chunk failed"
            ),
        }
        result
    }

    /// Store chunk `id` at `version` with the data of `from` = (chunk, version) read from
    /// `sources`: a replication when `from` is the same chunk, a copy-on-write when not.
    async fn copy_from(&self, id: u64, version: u32, from: (u64, u32), sources: &[String]) -> Result<(), CsError> {
        let mut fetch = Fetcher::new(&self.pool, &self.keys, from.0, from.1, sources.iter().cloned());
        let length = fetch.length().await?;
        let blocks = length / BLOCK_SIZE;
        let mut replica = Some(self.store.begin_replica(id, version).await?);
        let mut expected: Vec<u32> = Vec::with_capacity(blocks as usize);
        let mut b = 0;
        while b < blocks {
            let n = (MAX_IO / BLOCK_SIZE).min(blocks - b);
            let piece = fetch.range(b, n).await;
            let (data, crcs) = match piece {
                Ok(x) => x,
                Err(e) => {
                    abort(replica).await;
                    return Err(e);
                }
            };
            let Some(r) = replica.take() else {
                return Err(CsError::Io("replica file went missing".into()));
            };
            replica = Some(write_replica(r, b * BLOCK_SIZE, data).await?);
            expected.extend(crcs);
            b += n;
        }
        let Some(replica) = replica else {
            return Err(CsError::Io("replica file went missing".into()));
        };
        if replica.info().1 != expected {
            abort(Some(replica)).await;
            return Err(CsError::Io("replica CRCs differ from the sources' after writing".into()));
        }
        self.store.commit_replica(replica).await
    }

    /// Rewrite the bad `blocks` of copy (`id`, `version`) from `sources`; returns the blocks of
    /// the copy still bad.
    pub async fn repair_blocks(
        &self,
        id: u64,
        version: u32,
        blocks: Vec<u32>,
        sources: Vec<String>,
        others: Vec<RepairSource>,
    ) -> Result<Vec<u32>, CsError> {
        if blocks.len() > MAX_BLOCKS as usize || blocks.iter().any(|b| *b >= MAX_BLOCKS) {
            return Err(CsError::BadRequest(format!("repair of {} blocks, or one past the chunk", blocks.len())));
        }
        if sources.len() + others.len() > MAX_SOURCES {
            return Err(CsError::BadRequest(format!("repair with {} sources", sources.len() + others.len())));
        }
        // Only blocks still bad here, each with the CRC this copy stored for it.
        let wanted = self.store.bad_blocks_of(id, version, blocks).await?;
        let mut fetch = Fetcher::new(&self.pool, &self.keys, id, version, sources)
            .with_others(others.into_iter().map(|s| (s.addr, s.version)));
        let mut got = Vec::with_capacity(wanted.len());
        for (b, expected) in &wanted {
            if let Some(data) = fetch.repair_block(*b, *expected).await {
                got.push((*b, data));
            }
        }
        let fetched: Vec<u32> = got.iter().map(|(b, _)| *b).collect();
        let bad = self.store.repair(id, version, got).await?;
        let repaired = fetched.iter().filter(|b| !bad.contains(b)).count();
        let failed = wanted.len() - repaired;
        self.metrics.block_repairs.with_label_values(&["ok"]).inc_by(repaired as u64);
        self.metrics.block_repairs.with_label_values(&["failed"]).inc_by(failed as u64);
        if failed > 0 {
            tracing::warn!(chunk = format_args!("{id:016X}"), version, repaired, still_bad = ?bad, "bad blocks not all repaired: no source had them good");
        } else if repaired > 0 {
            tracing::info!(
                chunk = format_args!("{id:016X}"),
                version,
                repaired,
                "bad blocks repaired from other copies"
            );
        }
        Ok(bad)
    }
}

/// Write `data` into the replica at `offset` (blocking, off the async threads); on failure
/// the temporary file is deleted.
async fn write_replica(mut r: ReplicaFile, offset: u32, data: Vec<u8>) -> Result<ReplicaFile, CsError> {
    tokio::task::spawn_blocking(move || match r.write(offset, &data) {
        Ok(()) => Ok(r),
        Err(e) => {
            r.abort();
            Err(e)
        }
    })
    .await
    .unwrap_or_else(|e| Err(CsError::Io(format!("internal: replica write task failed: {e}"))))
}

/// Delete an unfinished replica.
async fn abort(replica: Option<ReplicaFile>) {
    if let Some(r) = replica {
        let _ = tokio::task::spawn_blocking(move || r.abort()).await;
    }
}
