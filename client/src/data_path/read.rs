//! Reads of file data: each chunk from its copies, a bad block from another copy and the rest
//! from the first one, through chunk locations kept for a second.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use proto::client::{ChunkLocation, ReadOp};
use proto::cs::CsError;
use proto::data::{DataCall, DataOp, DataResponse, BLOCK_SIZE, MAX_IO};
use proto::meta::{Creds, Ino, CHUNK_SIZE};
use proto::Errno;

use super::{chunk_span, expect_chunk, FileIo, RETRY_PAUSE};
use crate::epoch_map::{EpochMap, Ticket};
use crate::error::ClientError;

/// Why a read of a chunk from its copies failed.
enum ReadFailure {
    /// `block` is bad on every copy that answered.
    Lost { block: u32 },
    /// Some copy could not be read for another reason (the last one given): it may work later.
    Unavailable(String),
}

/// How long a chunk location answered by the master serves reads without asking again (as
/// MooseFS's client keeps them). A location that went stale meanwhile (a version bump by
/// another client, a copy moved or deleted) fails at the chunkserver, and the read asks the
/// master at once; this mount's own writes, truncates, fallocates and opens drop the file's
/// locations, so it always reads what it wrote, and `open` sees what others closed.
const LOCATION_TTL: Duration = Duration::from_secs(1);
/// Files whose locations are kept at most; past this the cache starts over.
const LOCATION_FILES: usize = 10_000;

/// Chunk locations of recently read files, by inode and chunk index, with when they came. A
/// location answered to a request sent before a drop (a read racing this mount's write or
/// truncate) carries the old file size and is not kept, else reads would stop short at it for
/// a whole TTL, and the kernel takes a short read as the new end of the file.
#[derive(Default)]
pub(super) struct LocationCache(Mutex<EpochMap<HashMap<u32, (Instant, ChunkLocation)>>>);

impl LocationCache {
    fn get(&self, ino: Ino, idx: u32) -> Option<ChunkLocation> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (at, loc) = map.get(ino)?.get(&idx)?;
        (at.elapsed() < LOCATION_TTL).then(|| loc.clone())
    }

    /// Taken before asking the master for a location.
    fn ticket(&self) -> Ticket {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).ticket()
    }

    /// Keep `loc`, answered to a request sent with `ticket`, unless locations were dropped since.
    fn remember(&self, ticket: Ticket, ino: Ino, loc: &ChunkLocation) {
        let mut guard = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let Some(files) = guard.insert_space(ticket) else { return };
        if files.len() >= LOCATION_FILES && !files.contains_key(&ino) {
            files.clear();
        }
        files.entry(ino).or_default().insert(loc.index, (Instant::now(), loc.clone()));
    }

    pub(super) fn forget(&self, ino: Ino) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(ino);
    }
}

impl FileIo {
    /// Read up to `size` bytes at `offset` (fewer at the end of the file).
    pub async fn read(&self, creds: &Creds, ino: Ino, offset: u64, size: u64) -> Result<Vec<u8>, ClientError> {
        if let Some(out) = self.read_cached(ino, offset, size).await {
            return Ok(out);
        }
        let mut out = Vec::new();
        let mut file_size = None;
        for (idx, in_chunk, len) in chunk_span(offset, size) {
            let ticket = self.locations.ticket();
            let loc = expect_chunk(self.meta.read(creds, ReadOp::ChunkRead { ino, index: idx }).await?)?;
            self.locations.remember(ticket, ino, &loc);
            let fsize = *file_size.get_or_insert(loc.file_size);
            let start = idx as u64 * CHUNK_SIZE + in_chunk;
            if start >= fsize {
                break;
            }
            let len = len.min(fsize - start);
            let data = self.read_chunk(creds, ino, loc, in_chunk, len).await?;
            out.extend_from_slice(&data);
        }
        Ok(out)
    }

    /// The read served with cached locations only: `None` when a chunk it needs has no fresh
    /// location cached or the first copy named fails (the caller then asks the master, which
    /// also handles every fallback).
    async fn read_cached(&self, ino: Ino, offset: u64, size: u64) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        let mut file_size = None;
        for (idx, in_chunk, len) in chunk_span(offset, size) {
            let loc = self.locations.get(ino, idx)?;
            let fsize = *file_size.get_or_insert(loc.file_size);
            let start = idx as u64 * CHUNK_SIZE + in_chunk;
            if start >= fsize {
                break;
            }
            let len = len.min(fsize - start);
            if loc.chunk_id == 0 {
                out.resize(out.len() + len as usize, 0);
                continue;
            }
            let addr = loc.servers.iter().find(|a| !self.pool.went_silent(a)).or(loc.servers.first())?;
            match self.read_from(addr, &loc, in_chunk, len).await {
                Ok(d) => out.extend_from_slice(&d),
                Err(e) => {
                    tracing::debug!(chunk = loc.chunk_id, error = %e, "cached location failed; asking the master");
                    self.forget_locations(ino);
                    return None;
                }
            }
        }
        Some(out)
    }

    /// Read `len` bytes of one chunk, from any valid copy. A copy that answers that a block is
    /// bad keeps serving the rest of the range; that block is read from another copy
    /// ([`FileIo::read_around_bad_blocks`]). When every copy failed for some other reason (down,
    /// busy, renumbered), the master is asked again after a pause, until the deadline. A block
    /// bad on every copy gives EIO at once (after asking the master once more, in case a good
    /// copy appeared), and only to a read that touches it.
    async fn read_chunk(
        &self,
        creds: &Creds,
        ino: Ino,
        mut loc: ChunkLocation,
        in_chunk: u64,
        len: u64,
    ) -> Result<Vec<u8>, ClientError> {
        if loc.chunk_id == 0 {
            return Ok(vec![0; len as usize]);
        }
        let deadline = Instant::now() + self.op_timeout;
        let mut lost_before: Option<u32> = None;
        loop {
            let failed = match self.read_around_bad_blocks(&loc, in_chunk, len).await {
                Ok(d) => return Ok(d),
                Err(f) => f,
            };
            match &failed {
                ReadFailure::Lost { block } => {
                    tracing::warn!(chunk = loc.chunk_id, block, "block bad on every copy");
                    if lost_before == Some(*block) {
                        return Err(ClientError::Errno(Errno::EIO));
                    }
                    lost_before = Some(*block);
                }
                ReadFailure::Unavailable(last) if Instant::now() >= deadline => {
                    tracing::error!(chunk = loc.chunk_id, %last, "no readable copy");
                    return Err(ClientError::Errno(Errno::EIO));
                }
                ReadFailure::Unavailable(_) => {}
            }
            // The master may know of another copy (after a re-replication, a repair or a
            // version bump). Ask again after a pause.
            tokio::time::sleep(RETRY_PAUSE).await;
            let ticket = self.locations.ticket();
            loc = expect_chunk(self.meta.read(creds, ReadOp::ChunkRead { ino, index: loc.index }).await?)?;
            self.locations.remember(ticket, ino, &loc);
            if loc.chunk_id == 0 {
                return Ok(vec![0; len as usize]);
            }
        }
    }

    /// Read `in_chunk..in_chunk + len` of a chunk from its copies: each piece from the first
    /// copy not known to have failed or to hold that block bad. A copy answering `Crc { block }`
    /// is asked again for the bytes before the block and after it; the block itself goes to the
    /// next copy.
    async fn read_around_bad_blocks(
        &self,
        loc: &ChunkLocation,
        in_chunk: u64,
        len: u64,
    ) -> Result<Vec<u8>, ReadFailure> {
        let block_size = BLOCK_SIZE as u64;
        let end = in_chunk + len;
        let mut out = Vec::with_capacity(len as usize);
        let mut bad: Vec<BTreeSet<u32>> = vec![BTreeSet::new(); loc.servers.len()];
        let mut failed: Vec<Option<String>> = vec![None; loc.servers.len()];
        let mut pos = in_chunk;
        while pos < end {
            let block = (pos / block_size) as u32;
            // Copies that went silent lately come last.
            let usable = |i: &usize| failed[*i].is_none() && !bad[*i].contains(&block);
            let pick = (0..loc.servers.len())
                .filter(usable)
                .find(|&i| !self.pool.went_silent(&loc.servers[i]))
                .or_else(|| (0..loc.servers.len()).find(usable));
            let Some(i) = pick else {
                // Every copy that answered has this block bad: it is lost, unless a copy that
                // failed otherwise (down, busy) still has it.
                return Err(match failed.iter().flatten().last() {
                    Some(reason) => ReadFailure::Unavailable(reason.clone()),
                    None if loc.servers.is_empty() => {
                        ReadFailure::Unavailable("no chunkserver holds a valid copy".into())
                    }
                    None => ReadFailure::Lost { block },
                });
            };
            // As far as this copy can go: up to its next known bad block.
            let stop = bad[i].range(block..).next().map_or(end, |b| (*b as u64 * block_size).min(end));
            let addr = &loc.servers[i];
            match self.read_from(addr, loc, pos, stop - pos).await {
                Ok(d) => {
                    out.extend_from_slice(&d);
                    pos = stop;
                }
                Err(CsError::Crc { block: b }) if (block..=((stop - 1) / block_size) as u32).contains(&b) => {
                    tracing::info!(chunk = loc.chunk_id, server = %addr, block = b, "bad block on this copy; reading it from another");
                    bad[i].insert(b);
                }
                Err(e) => {
                    tracing::warn!(chunk = loc.chunk_id, server = %addr, error = %e, "read failed; trying another copy");
                    failed[i] = Some(format!("{addr}: {e}"));
                }
            }
        }
        Ok(out)
    }
    async fn read_from(&self, addr: &str, loc: &ChunkLocation, in_chunk: u64, len: u64) -> Result<Vec<u8>, CsError> {
        let mut out = Vec::with_capacity(len as usize);
        let mut pos = in_chunk;
        let end = in_chunk + len;
        while pos < end {
            let n = (end - pos).min(MAX_IO as u64) as u32;
            let op = DataOp::Read { chunk_id: loc.chunk_id, version: loc.version, offset: pos as u32, size: n };
            match self.pool.call(addr, DataCall { token: loc.token.clone(), op }).await? {
                DataResponse::Data(d) if d.len() == n as usize => out.extend_from_slice(&d),
                DataResponse::Data(d) => {
                    return Err(CsError::Io(format!("short read: {} of {n} bytes", d.len())));
                }
                DataResponse::Error(e) => return Err(e),
                other => return Err(CsError::BadRequest(format!("unexpected answer {other:?}"))),
            }
            pos += n as u64;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_location_answered_before_a_drop_is_not_kept() {
        let loc = |size| ChunkLocation {
            index: 0,
            chunk_id: 7,
            version: 1,
            file_size: size,
            servers: vec!["127.0.0.1:9422".into()],
            goal: 1,
            damaged: vec![],
            token: None,
        };
        let c = LocationCache::default();
        c.remember(c.ticket(), 3, &loc(100));
        assert_eq!(c.get(3, 0).map(|l| l.file_size), Some(100));
        // A readahead asks for a location; this mount's write grows the file and drops the
        // locations; then the old answer (old size) arrives.
        let t = c.ticket();
        c.forget(3);
        c.remember(t, 3, &loc(100));
        assert!(c.get(3, 0).is_none(), "a read would stop at the old size");
        c.remember(c.ticket(), 3, &loc(200));
        assert_eq!(c.get(3, 0).map(|l| l.file_size), Some(200));
    }
}
