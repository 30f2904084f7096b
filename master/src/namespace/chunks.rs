//! The chunk table side of the namespace: opening a chunk for writing (allocate or bump its
//! version), the end of a write (file size and times), where a file's chunks are, and the
//! bookkeeping commands of the leader's chunk loop (holders, deleted chunks).
//!
//! Which chunkserver holds which copy is soft state of the leader (`crate::chunks`); what is
//! replicated here is only what must survive a failover: each chunk's version and the data
//! addresses that were given that version (`ChunkMeta::holders`).

use std::collections::BTreeMap;

use proto::client::{ChunkLocation, OpResult, Reply, FILE_CHUNKS_PAGE};
use proto::eattr::APPENDONLY;
use proto::meta::{Creds, Ino, CHUNK_SIZE, MAX_FILE_SIZE};
use proto::Errno;

use super::inode::{Body, ChunkMeta, Inode};
use super::perm::{self, R, W};
use super::{guard, Namespace, OpContext};

/// Chunk indexes a file may have: [`MAX_FILE_SIZE`] / [`CHUNK_SIZE`].
pub const MAX_CHUNK_INDEX: u64 = MAX_FILE_SIZE / CHUNK_SIZE;

/// What a chunk write would touch, as the namespace sees it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkSlot {
    /// The chunk at the index and its table entry; `None` for a hole.
    pub chunk: Option<(u64, ChunkMeta)>,
    /// The file's goal.
    pub goal: u8,
    /// The file's size.
    pub file_size: u64,
    /// The chunk is shared with another file (a snapshot): a write needs a copy of its own.
    pub shared: bool,
}

impl Namespace {
    // ---- Checks shared by the leader's pre-check and the apply ----

    /// May `creds` in `session` write regular file `ino`: not immutable (EPERM), write
    /// permission, or the session has it open (as `ftruncate` on a descriptor). ENOENT, EISDIR
    /// for a directory, EINVAL for other non-files, EACCES.
    pub(super) fn writable_file(&self, creds: &Creds, session: u64, ino: Ino) -> Result<&Inode, Errno> {
        let inode = self.regular_file(ino)?;
        guard::changeable(inode)?;
        if !self.session_has_open(session, ino) {
            perm::check(creds, inode, W)?;
        }
        Ok(inode)
    }

    /// May `creds` read regular file `ino`: read permission, or some session has it open.
    /// Reads carry no session, so any open reference counts (a descriptor keeps working
    /// after a chmod).
    fn readable_file(&self, creds: &Creds, ino: Ino) -> Result<&Inode, Errno> {
        let inode = self.regular_file(ino)?;
        if !self.is_open(ino) {
            perm::check(creds, inode, R)?;
        }
        Ok(inode)
    }

    /// `ino` as a regular file: ENOENT, EISDIR, EINVAL.
    fn regular_file(&self, ino: Ino) -> Result<&Inode, Errno> {
        let inode = self.inode(ino)?;
        if inode.is_dir() {
            return Err(Errno::EISDIR);
        }
        if !inode.is_file() {
            return Err(Errno::EINVAL);
        }
        Ok(inode)
    }

    /// The chunk id at `index` of a file (0 for a hole).
    fn chunk_at(inode: &Inode, index: u32) -> u64 {
        match &inode.body {
            Body::File { chunks } => chunks.get(index),
            _ => 0,
        }
    }

    // ---- Public interface for the leader ----

    /// Check that `creds` in `session` may open chunk `index` of `ino` for writing, and
    /// return what is there. The same checks [`Namespace::apply_chunk_write`] makes, so the
    /// leader answers permission errors without a Raft entry.
    pub fn chunk_write_slot(&self, creds: &Creds, session: u64, ino: Ino, index: u32) -> Result<ChunkSlot, Errno> {
        let inode = self.writable_file(creds, session, ino)?;
        if u64::from(index) >= MAX_CHUNK_INDEX {
            return Err(Errno::EFBIG);
        }
        // An appendonly file's chunks wholly before its end stay as they are (the mount
        // writes such a file at its end; the last chunk's bytes are the mount's to guard).
        if inode.eattr & APPENDONLY != 0 && (u64::from(index) + 1) * CHUNK_SIZE <= inode.size {
            return Err(Errno::EPERM);
        }
        let id = Self::chunk_at(inode, index);
        let chunk = if id == 0 { None } else { Some((id, self.chunks.get(&id).cloned().unwrap_or_default())) };
        Ok(ChunkSlot { chunk, goal: inode.goal, file_size: inode.size, shared: self.is_shared(id) })
    }

    /// The chunk table entry of `id`.
    pub fn chunk_meta(&self, id: u64) -> Option<&ChunkMeta> {
        self.chunks.get(&id)
    }

    /// The whole chunk table.
    pub fn chunk_table(&self) -> &BTreeMap<u64, ChunkMeta> {
        &self.chunks
    }

    /// The next chunk id the namespace would accept for a new chunk: every id below it was
    /// either allocated or can never be any more.
    pub fn next_chunk_id(&self) -> u64 {
        self.next_chunk_id
    }

    /// The goal of every chunk in use: the highest goal of the files referring to it.
    /// A scan of every inode.
    pub fn chunk_goals(&self) -> BTreeMap<u64, u8> {
        let mut goals: BTreeMap<u64, u8> = BTreeMap::new();
        for inode in self.inodes.values() {
            if let Body::File { chunks } = &inode.body {
                for (_, id) in chunks.iter() {
                    let g = goals.entry(id).or_insert(0);
                    *g = (*g).max(inode.goal);
                }
            }
        }
        goals
    }

    // ---- Mutations (from Raft entries) ----

    /// Open chunk `index` of `ino` for writing, as the leader decided: with `new_chunk`,
    /// allocate that id in a hole (version 1); without, bump the version of the chunk there.
    /// Either way `holders` become the chunk's holders. Reply: [`Reply::Chunk`] with
    /// `servers` = `holders` in the given (write chain) order.
    ///
    /// Errors: those of [`Namespace::chunk_write_slot`]; EAGAIN when a new chunk is asked for
    /// an index that is no longer a hole (someone else allocated it: retry); EINVAL for a new
    /// id that is in use (or 0), or a bump of a hole.
    pub(crate) fn apply_chunk_write(
        &mut self,
        ctx: &OpContext,
        ino: Ino,
        index: u32,
        new_chunk: Option<u64>,
        holders: &[String],
    ) -> OpResult {
        let slot = self.chunk_write_slot(&ctx.creds, ctx.session, ino, index)?;
        self.chunk_write_quota(ino, index, ctx.now)?;
        let before = self.file_usage_now(ino);
        self.with_inode(ino, guard::unmark_snapshot);
        let mut sorted = holders.to_vec();
        sorted.sort();
        sorted.dedup();
        let (id, version) = match (new_chunk, &slot.chunk) {
            (Some(_), Some(_)) => return Err(Errno::EAGAIN),
            (Some(id), None) => {
                // Ids never repeat: a leader reserves ids at or above `next_chunk_id` once it
                // has applied every earlier leader's entries, and never the same one twice. Its
                // concurrent allocations may commit out of order, so an unused id below
                // `next_chunk_id` is one of those, not a reuse.
                if id == 0 || self.chunks.contains_key(&id) {
                    return Err(Errno::EINVAL);
                }
                self.with_inode(ino, |i| {
                    if let Body::File { chunks } = &mut i.body {
                        chunks.set(index, id);
                    }
                });
                self.chunks.insert(id, ChunkMeta { version: 1, holders: sorted });
                self.next_chunk_id = self.next_chunk_id.max(id + 1);
                (id, 1)
            }
            (None, None) => return Err(Errno::EINVAL),
            (None, Some((id, _))) => {
                let id = *id;
                let meta = self.chunks.entry(id).or_default();
                meta.version = meta.version.wrapping_add(1).max(1);
                meta.holders = sorted;
                (id, meta.version)
            }
        };
        self.charge_file(ino, before, ctx.now);
        self.settle_quota_clocks();
        Ok(Reply::Chunk(ChunkLocation {
            index,
            chunk_id: id,
            version,
            file_size: slot.file_size,
            servers: holders.to_vec(),
            goal: slot.goal,
            damaged: Vec::new(),
            token: None,
        }))
    }

    /// Data was written up to `size`: grow the file to at least `size`, mtime = ctime = now,
    /// and a non-root writer drops suid (and sgid with group-execute), as a write does on
    /// Linux. Same permission rule as a chunk write. Reply: [`Reply::Attr`].
    pub(super) fn write_end(&mut self, ctx: &OpContext, ino: Ino, size: u64) -> OpResult {
        let inode = self.writable_file(&ctx.creds, ctx.session, ino)?;
        if size > MAX_FILE_SIZE {
            return Err(Errno::EFBIG);
        }
        if size > inode.size {
            let d = super::quota::Delta([0, i128::from(size - inode.size), 0, 0]);
            self.quota_check_inode(ino, d, ctx.now)?;
        }
        let before = self.file_usage_now(ino);
        let root = ctx.creds.is_root();
        let now = ctx.now;
        self.with_inode(ino, |i| {
            i.size = i.size.max(size);
            i.touch(now);
            guard::unmark_snapshot(i);
            if !root {
                i.perm = perm::drop_privileges(i.perm);
            }
        });
        self.charge_file(ino, before, now);
        Ok(Reply::Attr(self.attr(ino)?))
    }

    /// The bump to `version` of chunk `id` reached only `holders`: they become its holders.
    /// Ignored (`Count(0)`) when the chunk is gone or has moved to another version.
    pub fn set_chunk_holders(&mut self, id: u64, version: u32, holders: &[String]) -> OpResult {
        let Some(meta) = self.chunks.get_mut(&id).filter(|m| m.version == version) else {
            return Ok(Reply::Count(0));
        };
        let mut sorted = holders.to_vec();
        sorted.sort();
        sorted.dedup();
        meta.holders = sorted;
        Ok(Reply::Count(1))
    }

    /// Bump chunk `id` from `version` to the next version with `holders` (before a
    /// replication). Reply: `Count(1)`, or `Count(0)` when the chunk is gone or at another
    /// version.
    pub fn bump_chunk(&mut self, id: u64, version: u32, holders: &[String]) -> OpResult {
        let Some(meta) = self.chunks.get_mut(&id).filter(|m| m.version == version) else {
            return Ok(Reply::Count(0));
        };
        let mut sorted = holders.to_vec();
        sorted.sort();
        sorted.dedup();
        meta.version = version.wrapping_add(1).max(1);
        meta.holders = sorted;
        Ok(Reply::Count(1))
    }

    /// A replication gave `addr` a copy of chunk `id` at `version`: it becomes a holder.
    /// Ignored (`Count(0)`) when the chunk is gone or has moved to another version (the
    /// new copy is then stale).
    pub fn add_chunk_holder(&mut self, id: u64, version: u32, addr: &str) -> OpResult {
        let Some(meta) = self.chunks.get_mut(&id).filter(|m| m.version == version) else {
            return Ok(Reply::Count(0));
        };
        match meta.holders.binary_search_by(|h| h.as_str().cmp(addr)) {
            Ok(_) => Ok(Reply::Count(0)),
            Err(pos) => {
                meta.holders.insert(pos, addr.to_string());
                Ok(Reply::Count(1))
            }
        }
    }

    /// No chunkserver holds these deleted chunks any more: forget them. Reply: how many
    /// were waiting.
    pub fn chunks_deleted(&mut self, ids: &[u64]) -> OpResult {
        let n = ids.iter().filter(|id| self.chunks_to_delete.remove(id)).count();
        Ok(Reply::Count(n as u64))
    }

    // ---- Reads ----

    /// Where chunk `index` of `ino` is. `servers` holds the chunk's holders; the leader
    /// replaces them with the chunkservers that really have a valid copy.
    pub(super) fn chunk_read(&self, creds: &Creds, ino: Ino, index: u32) -> OpResult {
        let inode = self.readable_file(creds, ino)?;
        Ok(Reply::Chunk(self.location(inode, index)))
    }

    /// The chunks of `ino` that exist, from index `from` on, at most [`FILE_CHUNKS_PAGE`], as
    /// [`Namespace::chunk_read`] answers each. Needs only that the file exists (as
    /// `mfsfileinfo`).
    pub(super) fn file_chunks(&self, ino: Ino, from: u32) -> OpResult {
        let inode = self.regular_file(ino)?;
        let locs = match &inode.body {
            Body::File { chunks } => chunks
                .iter()
                .filter(|&(i, _)| i >= from)
                .take(FILE_CHUNKS_PAGE)
                .map(|(i, _)| self.location(inode, i))
                .collect(),
            _ => Vec::new(),
        };
        Ok(Reply::Chunks(locs))
    }

    fn location(&self, inode: &Inode, index: u32) -> ChunkLocation {
        let id = Self::chunk_at(inode, index);
        let (version, servers) = match self.chunks.get(&id) {
            Some(m) if id != 0 => (m.version, m.holders.clone()),
            _ => (0, Vec::new()),
        };
        ChunkLocation {
            index,
            chunk_id: id,
            version,
            file_size: inode.size,
            servers,
            goal: inode.goal,
            damaged: Vec::new(),
            token: None,
        }
    }
}
