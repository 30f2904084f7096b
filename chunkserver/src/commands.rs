//! The leader's chunk commands (`CsCommand`), carried out against the store. The term check
//! happens before, in the master link; here a command is simply done.
//!
//! Replication copies a chunk from another chunkserver's data port: `Info` gives the length
//! and every block's CRC, then `Read`s of at most `MAX_IO` bytes fetch the data; each block
//! is checked against its CRC before it is written into a new chunk file under a temporary
//! name, which is renamed into place (atomically) only when the whole copy is there.

use std::sync::Arc;
use std::time::Duration;

use proto::cs::{CsCommand, CsError};
use proto::data::{DataOp, DataResponse, BLOCK_SIZE, MAX_IO};
use proto::meta::CHUNK_SIZE;

use crate::conn_pool::ConnPool;
use crate::error::outcome;
use crate::metrics::Metrics;
use crate::store::{ReplicaFile, Store};

/// How long one replication request (an `Info` or a 4 MiB `Read`) may take at the source.
pub const REPLICATION_CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Carries out master commands.
pub struct Commands {
    pub store: Arc<Store>,
    pub pool: Arc<ConnPool>,
    pub metrics: Arc<Metrics>,
}

impl Commands {
    /// Do one command and count it.
    pub async fn execute(&self, cmd: CsCommand) -> Result<(), CsError> {
        let name = cmd.name();
        let result = match cmd {
            CsCommand::Create { id, version } => self.store.create(id, version).await,
            CsCommand::Delete { id, version } => self.store.delete(id, version).await,
            CsCommand::SetVersion { id, expect, new_version } => self.store.set_version(id, expect, new_version).await,
            CsCommand::Replicate { id, version, sources } => {
                // A replication is data work: it counts in the load like a request does.
                let _load = self.metrics.in_progress();
                self.replicate(id, version, &sources).await
            }
        };
        self.metrics.commands.with_label_values(&[name, outcome(&result)]).inc();
        result
    }

    /// Fetch chunk `id` at `version` from the first source that can give all of it. A source
    /// that fails is named in a `Chain` error; local failures (`NoSpace`, `Io`) come as they are.
    pub async fn replicate(&self, id: u64, version: u32, sources: &[String]) -> Result<(), CsError> {
        if sources.is_empty() {
            return Err(CsError::BadRequest("replicate without sources".into()));
        }
        let mut last = CsError::NoChunk;
        for src in sources {
            match self.replicate_from(id, version, src).await {
                Ok(()) => {
                    self.metrics.replications.with_label_values(&["ok"]).inc();
                    tracing::info!(chunk = format_args!("{id:016X}"), version, source = %src, "replicated");
                    return Ok(());
                }
                Err(e) => {
                    tracing::warn!(chunk = format_args!("{id:016X}"), version, source = %src, error = %e, "replication failed");
                    let local = matches!(e, CsError::NoSpace | CsError::Io(_));
                    last = e;
                    if local {
                        break;
                    }
                }
            }
        }
        self.metrics.replications.with_label_values(&["failed"]).inc();
        Err(last)
    }

    async fn replicate_from(&self, id: u64, version: u32, src: &str) -> Result<(), CsError> {
        let failed = |reason: String| CsError::Chain { addr: src.to_string(), reason };
        let info = self.call(src, DataOp::Info { chunk_id: id, version }).await?;
        let (length, crcs) = match info {
            DataResponse::Info { length, crcs } => (length, crcs),
            DataResponse::Error(e) => return Err(failed(e.to_string())),
            _ => return Err(failed("unexpected answer to Info".into())),
        };
        if length as u64 > CHUNK_SIZE || length % BLOCK_SIZE != 0 || crcs.len() != (length / BLOCK_SIZE) as usize {
            return Err(failed(format!("inconsistent Info: length {length} with {} CRCs", crcs.len())));
        }
        let mut replica = Some(self.store.begin_replica(id, version).await?);
        let copied = self.copy_blocks(src, id, version, length, &crcs, &mut replica).await;
        let Some(replica) = replica else {
            // The write step failed and already deleted the temporary file.
            return copied;
        };
        if let Err(e) = copied {
            let _ = tokio::task::spawn_blocking(move || replica.abort()).await;
            return Err(e);
        }
        if replica.info().1 != crcs {
            let _ = tokio::task::spawn_blocking(move || replica.abort()).await;
            return Err(CsError::Io("replica CRCs differ from the source's after writing".into()));
        }
        self.store.commit_replica(replica).await
    }

    /// Read the source in `MAX_IO` pieces, check each block, write it into the replica.
    async fn copy_blocks(
        &self,
        src: &str,
        id: u64,
        version: u32,
        length: u32,
        crcs: &[u32],
        replica: &mut Option<ReplicaFile>,
    ) -> Result<(), CsError> {
        let failed = |reason: String| CsError::Chain { addr: src.to_string(), reason };
        let mut offset = 0u32;
        while offset < length {
            let size = MAX_IO.min(length - offset);
            let data = match self.call(src, DataOp::Read { chunk_id: id, version, offset, size }).await? {
                DataResponse::Data(d) if d.len() == size as usize => d,
                DataResponse::Data(d) => return Err(failed(format!("asked {size} bytes, got {}", d.len()))),
                DataResponse::Error(e) => return Err(failed(e.to_string())),
                _ => return Err(failed("unexpected answer to Read".into())),
            };
            let first = (offset / BLOCK_SIZE) as usize;
            for (i, block) in data.chunks(BLOCK_SIZE as usize).enumerate() {
                if crc32fast::hash(block) != crcs[first + i] {
                    return Err(failed(format!("block {} does not match its CRC", first + i)));
                }
            }
            let Some(mut r) = replica.take() else {
                return Err(CsError::Io("replica file went missing".into()));
            };
            let written = tokio::task::spawn_blocking(move || match r.write(offset, &data) {
                Ok(()) => Ok(r),
                Err(e) => {
                    r.abort();
                    Err(e)
                }
            })
            .await
            .unwrap_or_else(|e| Err(CsError::Io(format!("internal: replica write task failed: {e}"))))?;
            *replica = Some(written);
            offset += size;
        }
        Ok(())
    }

    async fn call(&self, src: &str, op: DataOp) -> Result<DataResponse, CsError> {
        self.pool
            .call(src, op, REPLICATION_CALL_TIMEOUT)
            .await
            .map_err(|e| CsError::Chain { addr: src.to_string(), reason: e.to_string() })
    }
}
