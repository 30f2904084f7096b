//! A write to a chunk that a snapshot shares (`mfsmakesnapshot`, `mfsappendchunks`): the
//! writer gets a copy of its own first, as MooseFS's master does it (`chunk_multi_modify` with
//! a reference count above one).
//!
//! The leader reserves a new id and has every chunkserver with a valid copy of the shared chunk
//! duplicate it (`CsCommand::Duplicate`: the new chunk at version 1, read from its own copy
//! first and from the others for a block bad there), then commits `Command::ChunkCow` with
//! those that did as the copy's holders; the state machine swaps the copy into the file and
//! drops one reference of the shared chunk. The answer is the copy's write chain, so the data
//! goes to the copy and the other files keep what they had. A duplicate that fails everywhere
//! leaves the file as it was, and the client asks again.

use proto::client::ResponseBody;
use proto::cs::{CsCommand, CsError, MAX_SOURCES};
use proto::meta::Timestamp;
use proto::Errno;

use super::write::ChunkWriteRequest;
use super::{join_all, ChunkService};
use crate::error::CsCallError;
use crate::namespace::ChunkMeta;
use crate::raft_types::Command;

impl ChunkService {
    /// Chunk `old` of the request's file is shared: make the file a copy of its own and
    /// answer the copy's chain.
    pub(super) async fn copy_on_write(&self, req: &ChunkWriteRequest, old: u64, meta: &ChunkMeta) -> ResponseBody {
        let sources = match self.valid_chain(req, old, meta) {
            Ok(sources) => sources,
            Err(answer) => return *answer,
        };
        let next = self.next_chunk_id();
        let id = self.writes.reserve(next);
        self.writes.touch(id);
        let results = join_all(sources.iter().map(|addr| self.duplicate(id, old, meta.version, addr, &sources))).await;
        let mut made: Vec<String> =
            sources.iter().zip(&results).filter(|(_, r)| r.is_ok()).map(|(a, _)| a.clone()).collect();
        self.topology().sort_nearest(req.client, &mut made);
        if made.is_empty() {
            self.writes.release(id);
            if results.iter().all(|r| matches!(r, Err(CsCallError::Refused { err: CsError::NoSpace, .. }))) {
                return ResponseBody::Result(Err(Errno::ENOSPC));
            }
            tracing::warn!(chunk = old, servers = ?sources, "no chunkserver could duplicate the shared chunk; the client retries");
            return ResponseBody::Unavailable { reason: format!("chunk {old}: copy-on-write failed, retrying") };
        }
        let cmd = Command::ChunkCow {
            session: req.session,
            seq: req.seq,
            first_incomplete: req.first_incomplete,
            now: Timestamp::now(),
            creds: req.creds.clone(),
            ino: req.ino,
            index: req.index,
            old,
            new_chunk: id,
            holders: made,
        };
        self.commit_new_chunk(id, cmd).await
    }

    /// Have `addr` make chunk `id` (version 1) from `from` at `from_version`: its own copy
    /// first, then the other `sources`.
    async fn duplicate(
        &self,
        id: u64,
        from: u64,
        from_version: u32,
        addr: &str,
        sources: &[String],
    ) -> Result<(), CsCallError> {
        let mut from_sources = vec![addr.to_string()];
        from_sources.extend(sources.iter().filter(|s| s.as_str() != addr).cloned());
        from_sources.truncate(MAX_SOURCES);
        let cmd = CsCommand::Duplicate { id, version: 1, from_id: from, from_version, sources: from_sources };
        let r = self.command(addr, cmd).await;
        match &r {
            Ok(_) => self.registry().add_copy(id, addr, 1, false),
            Err(e) => tracing::info!(chunk = id, from, server = %addr, error = %e, "duplicate failed"),
        }
        r.map(|_| ())
    }
}
