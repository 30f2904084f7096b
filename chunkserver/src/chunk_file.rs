//! One chunk copy on disk: `<disk>/<XX>/chunk_<016X id>_<08X version>.mfs`, where `XX` is
//! the uppercase hex of `id & 0xFF`.
//!
//! Layout:
//! - bytes `0..4096`: the header: magic `RMFSCHK1`, chunk id (u64 LE), version (u32 LE), zeros;
//! - bytes `4096..8192`: the CRC table: 1024 × u32 LE, the CRC32 of each 64 KiB block as
//!   stored (a partial last block is zero-padded to 64 KiB on disk and its CRC covers it all);
//! - from byte 8192: the data, block `i` at `8192 + i·65536`.
//!
//! The file's length says how many blocks are stored; the chunk's length is that many blocks,
//! and reads past it return zeros. A write puts its data blocks down first and their CRC
//! entries after, so a crash between the two leaves a block whose CRC does not match: it
//! reads back as a CRC error, never as good data. The file name is the commit point of a
//! version change (a rename); the header's version is rewritten after it and repaired on open
//! when a crash fell between the two.
//!
//! Errors say what they mean for the copy: a block whose CRC does not match, or that cannot
//! be read, is `Crc { block }` (that block is bad, the others are not); a shortage of
//! descriptors or memory is `Busy` and says nothing about the data; a full disk is `NoSpace`
//! with nothing changed; a failed fsync, a write that failed after stored bytes changed, a
//! file that cannot be cut back after a failed write, or a file that is missing or not a chunk
//! file is `Unusable`: nothing of the copy may be served any more (after a failed fsync the
//! kernel may have dropped the unwritten pages, so even what reads back is not to be trusted).
//!
//! Every method here does blocking file I/O; callers run them in `spawn_blocking`.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use proto::cs::CsError;
use proto::data::BLOCK_SIZE;
use proto::meta::CHUNK_SIZE;

mod errors;
mod names;

use errors::{broken, failed_change, unopenable};
pub use errors::{io_error, is_resource_error, sync_dir};
pub use names::{chunk_file_name, chunk_path, parse_chunk_name, subfolder_name};

/// First bytes of every chunk file: "RaftMFS chunk, format 1".
pub const MAGIC: [u8; 8] = *b"RMFSCHK1";
/// Size of the header (one page, so data stays page aligned).
pub const HEADER_SIZE: u64 = 4096;
/// Size of the CRC table: one u32 for each of the 1024 blocks.
pub const CRC_TABLE_SIZE: u64 = 4096;
/// Where block 0 starts.
pub const DATA_OFFSET: u64 = HEADER_SIZE + CRC_TABLE_SIZE;
/// One CRC block, in bytes.
pub const BLOCK: u64 = BLOCK_SIZE as u64;
/// Blocks in a full chunk.
pub const MAX_BLOCKS: u32 = (CHUNK_SIZE / BLOCK) as u32;
/// Suffix of a chunk file being filled by a replication; renamed into place when complete.
/// Leftovers of a crash are deleted by the startup scan.
pub const TMP_SUFFIX: &str = ".tmp";
/// Blocks checked per read while verifying a whole chunk (1 MiB of I/O at a time).
const VERIFY_BATCH: u32 = 16;

/// CRC32 of a block of zeros: the CRC of every block a truncate or a sparse write adds.
pub fn zero_block_crc() -> u32 {
    static CRC: OnceLock<u32> = OnceLock::new();
    *CRC.get_or_init(|| crc32fast::hash(&vec![0u8; BLOCK as usize]))
}

/// One open chunk copy.
#[derive(Debug)]
pub struct ChunkFile {
    path: PathBuf,
    file: File,
    id: u64,
    version: u32,
    /// Blocks stored (from the file length).
    blocks: u32,
    /// CRC of every block (`MAX_BLOCKS` entries; zero past `blocks`).
    crcs: Vec<u32>,
    /// True once a `sync` of this handle also made the file's folder entry durable. A new file
    /// is created without any fsync (nothing was promised yet: the first `Sync` is what a
    /// client's fsync asks for, and that one fsyncs the whole file and its folder); a file
    /// opened again may be one whose entry never reached the disk either.
    entry_synced: AtomicBool,
}

impl ChunkFile {
    // ---- Opening and creating ----

    /// Create an empty chunk file (fails if the file exists). Not durable until the first
    /// [`ChunkFile::sync`]: as on a local file system, a file never fsync'd may be gone after a
    /// power loss. (An fsync of the file and one of its folder cost two disk flushes for every
    /// new chunk, the bulk of writing a small file.)
    pub fn create(path: &Path, id: u64, version: u32) -> Result<Self, CsError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| io_error(&e, "create", path))?;
        let mut head = vec![0u8; DATA_OFFSET as usize];
        head[..8].copy_from_slice(&MAGIC);
        head[8..16].copy_from_slice(&id.to_le_bytes());
        head[16..20].copy_from_slice(&version.to_le_bytes());
        if let Err(e) = file.write_all_at(&head, 0) {
            let _ = std::fs::remove_file(path);
            return Err(io_error(&e, "write header of", path));
        }
        Ok(ChunkFile {
            path: path.to_path_buf(),
            file,
            id,
            version,
            blocks: 0,
            crcs: vec![0; MAX_BLOCKS as usize],
            entry_synced: AtomicBool::new(false),
        })
    }

    /// Open an existing chunk file that should hold chunk `id` at `version`.
    /// A copy that cannot be served (missing, too short or too long, not a chunk file, another
    /// chunk's file) is `Unusable`; a shortage of descriptors or memory is `Busy`.
    pub fn open(path: &Path, id: u64, version: u32) -> Result<Self, CsError> {
        let file = OpenOptions::new().read(true).write(true).open(path).map_err(|e| unopenable(&e, "open", path))?;
        let len = file.metadata().map_err(|e| unopenable(&e, "stat", path))?.len();
        if len < DATA_OFFSET {
            return Err(CsError::Unusable(format!("{}: {len} bytes, shorter than the chunk header", path.display())));
        }
        let blocks = (len - DATA_OFFSET).div_ceil(BLOCK);
        if blocks > MAX_BLOCKS as u64 {
            return Err(CsError::Unusable(format!("{}: {len} bytes, longer than a chunk", path.display())));
        }
        let mut head = vec![0u8; DATA_OFFSET as usize];
        file.read_exact_at(&mut head, 0).map_err(|e| unopenable(&e, "read header of", path))?;
        if head[..8] != MAGIC {
            return Err(CsError::Unusable(format!("{}: not a chunk file (bad magic)", path.display())));
        }
        let head_id = u64::from_le_bytes(head[8..16].try_into().unwrap_or_default());
        let head_version = u32::from_le_bytes(head[16..20].try_into().unwrap_or_default());
        if head_id != id {
            return Err(CsError::Unusable(format!("{}: header holds chunk {head_id:016X}", path.display())));
        }
        let crcs = head[HEADER_SIZE as usize..]
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let mut chunk = ChunkFile {
            path: path.to_path_buf(),
            file,
            id,
            version,
            blocks: blocks as u32,
            crcs,
            entry_synced: AtomicBool::new(false),
        };
        if head_version != version {
            // A crash between the rename (the commit point) and the header update.
            tracing::warn!(path = %path.display(), header = head_version, "chunk header version repaired from its name");
            chunk.write_header_version()?;
        }
        Ok(chunk)
    }

    // ---- Accessors ----

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn version(&self) -> u32 {
        self.version
    }

    /// Blocks stored.
    pub fn blocks(&self) -> u32 {
        self.blocks
    }

    /// Chunk length in bytes: stored blocks × 64 KiB.
    pub fn length(&self) -> u32 {
        self.blocks * BLOCK_SIZE
    }

    /// Size of the file on disk (header, CRC table and stored blocks).
    pub fn file_len(&self) -> u64 {
        file_len_for(self.blocks)
    }

    /// How many bytes the file grows if data is written up to byte `end` of the chunk.
    pub fn growth_to(&self, end: u64) -> u64 {
        let blocks = end.div_ceil(BLOCK).min(MAX_BLOCKS as u64) as u32;
        file_len_for(blocks).saturating_sub(self.file_len())
    }

    /// The chunk length and the CRC of every stored block (the data protocol's `Info`).
    pub fn info(&self) -> (u32, Vec<u32>) {
        (self.length(), self.crcs[..self.blocks as usize].to_vec())
    }

    /// The CRC stored for block `b` (what its bytes should hash to), if it is stored.
    pub fn stored_crc(&self, b: u32) -> Option<u32> {
        (b < self.blocks).then(|| self.crcs[b as usize])
    }

    // ---- Data ----

    /// Read `size` bytes at `offset`, checking the CRC of every stored block touched; bytes
    /// past the stored blocks read as zeros. A bad block fails the whole read with
    /// `CsError::Crc { block }`: its bytes are never returned.
    pub fn read(&self, offset: u32, size: u32) -> Result<Vec<u8>, CsError> {
        let end = check_range(offset as u64, size as u64)?;
        if size == 0 {
            return Ok(Vec::new());
        }
        let first = (offset as u64 / BLOCK) as u32;
        let last = ((end - 1) / BLOCK) as u32;
        if first >= self.blocks {
            return Ok(vec![0; size as usize]);
        }
        let upto = (last + 1).min(self.blocks);
        let buf = self.read_checked(first, upto - first)?;
        let start = (offset as u64 - first as u64 * BLOCK) as usize;
        if start == 0 && buf.len() == size as usize {
            return Ok(buf);
        }
        let mut out = vec![0u8; size as usize];
        let take = (buf.len() - start).min(size as usize);
        out[..take].copy_from_slice(&buf[start..start + take]);
        Ok(out)
    }

    /// Write `data` at `offset`. Partial blocks are read (CRC-checked), merged and rewritten;
    /// data blocks go down before their CRC entries. On `NoSpace` while extending the file,
    /// the file is cut back and nothing that was stored changes; if it cannot be cut back, or
    /// a write fails after stored bytes changed, the copy is `Unusable`.
    pub fn write(&mut self, offset: u32, data: &[u8]) -> Result<(), CsError> {
        let end = check_range(offset as u64, data.len() as u64)?;
        if data.is_empty() {
            return Ok(());
        }
        let first = (offset as u64 / BLOCK) as u32;
        let last = ((end - 1) / BLOCK) as u32;
        let span = (last - first + 1) as usize * BLOCK as usize;
        let head = (offset as u64 - first as u64 * BLOCK) as usize;
        let aligned = head == 0 && data.len() == span;
        let mut merged = Vec::new();
        if !aligned {
            merged = vec![0u8; span];
            // Only the first and the last block can be partly covered.
            if head != 0 || data.len() < BLOCK as usize {
                self.load_block(first, &mut merged[..BLOCK as usize])?;
            }
            if last != first && end % BLOCK != 0 {
                let at = span - BLOCK as usize;
                self.load_block(last, &mut merged[at..])?;
            }
            merged[head..head + data.len()].copy_from_slice(data);
        }
        let buf: &[u8] = if aligned { data } else { &merged };
        let new_crcs: Vec<u32> = buf.chunks_exact(BLOCK as usize).map(crc32fast::hash).collect();

        let old_blocks = self.blocks;
        // 1. Blocks past the end first: if the disk is full, cut the file back, and nothing
        //    stored has been touched.
        if last + 1 > old_blocks {
            let from = first.max(old_blocks);
            let at = (from - first) as usize * BLOCK as usize;
            if let Err(e) = self.file.write_all_at(&buf[at..], block_pos(from)) {
                self.cut_back(old_blocks, &e)?;
                return Err(failed_change(&e, "write", &self.path));
            }
            self.blocks = last + 1;
        }
        // 2. Blocks that were stored before.
        if first < old_blocks {
            let upto = (last + 1).min(old_blocks);
            let len = (upto - first) as usize * BLOCK as usize;
            self.file.write_all_at(&buf[..len], block_pos(first)).map_err(|e| broken(&e, "write", &self.path))?;
        }
        // 3. The CRC entries, including zero blocks of a gap the write skipped over.
        let crc_from = first.min(old_blocks);
        let mut table = Vec::with_capacity((last + 1 - crc_from) as usize);
        table.extend((crc_from..first).map(|_| zero_block_crc()));
        table.extend_from_slice(&new_crcs);
        self.store_crcs(crc_from, &table)
    }

    /// Cut (or extend with zeros) the chunk to `length` bytes: blocks past it are dropped,
    /// the tail of a partial last block is zeroed and its CRC recomputed.
    pub fn truncate(&mut self, length: u32) -> Result<(), CsError> {
        check_range(length as u64, 0)?;
        let new_blocks = (length as u64).div_ceil(BLOCK) as u32;
        let old = self.blocks;
        if new_blocks > old {
            if let Err(e) = self.file.set_len(file_len_for(new_blocks)) {
                self.cut_back(old, &e)?;
                return Err(failed_change(&e, "extend", &self.path));
            }
            self.blocks = new_blocks;
            let table = vec![zero_block_crc(); (new_blocks - old) as usize];
            return self.store_crcs(old, &table);
        }
        let tail = (length as u64 % BLOCK) as usize;
        if tail != 0 {
            let b = new_blocks - 1;
            let mut block = self.read_checked(b, 1)?;
            if block[tail..].iter().any(|&x| x != 0) {
                block[tail..].fill(0);
                self.file.write_all_at(&block, block_pos(b)).map_err(|e| broken(&e, "write", &self.path))?;
                self.store_crcs(b, &[crc32fast::hash(&block)])?;
            }
        }
        if new_blocks < old {
            self.file.set_len(file_len_for(new_blocks)).map_err(|e| broken(&e, "truncate", &self.path))?;
            self.blocks = new_blocks;
            // Entries past the end stay zero, so the table never carries stale CRCs.
            self.store_crcs(new_blocks, &vec![0; (old - new_blocks) as usize])?;
        }
        Ok(())
    }

    /// Make the data and the CRC table durable (fdatasync); the first time for this handle,
    /// the whole file and its folder entry too. A failed fsync, whatever its errno, is
    /// `Unusable`: the kernel may have given up on the unwritten pages (and marked them clean),
    /// so what this copy holds on disk is no longer known.
    pub fn sync(&self) -> Result<(), CsError> {
        let failed = |e: std::io::Error| CsError::Unusable(format!("fsync {} failed: {e}", self.path.display()));
        if self.entry_synced.load(Ordering::Acquire) {
            return self.file.sync_data().map_err(failed);
        }
        self.file.sync_all().map_err(failed)?;
        if let Some(dir) = self.path.parent() {
            sync_dir(dir)?;
        }
        self.entry_synced.store(true, Ordering::Release);
        Ok(())
    }

    /// Check the CRC of every stored block; the first bad one is the error.
    pub fn verify_all(&self) -> Result<(), CsError> {
        match self.bad_blocks(&BTreeSet::new())?.first() {
            Some(&block) => Err(CsError::Crc { block }),
            None => Ok(()),
        }
    }

    /// Every stored block that is bad (its CRC does not match, or it cannot be read), except
    /// those in `known` (not read again). `Busy` if reading failed for lack of resources.
    pub fn bad_blocks(&self, known: &BTreeSet<u32>) -> Result<Vec<u32>, CsError> {
        let mut bad = Vec::new();
        let mut b = 0;
        while b < self.blocks {
            let n = VERIFY_BATCH.min(self.blocks - b);
            match self.read_blocks(b, n) {
                Ok(buf) => {
                    for (i, block) in buf.chunks_exact(BLOCK as usize).enumerate() {
                        let at = b + i as u32;
                        if !known.contains(&at) && crc32fast::hash(block) != self.crcs[at as usize] {
                            bad.push(at);
                        }
                    }
                }
                Err(e) if is_resource_error(&e) => return Err(io_error(&e, "read", &self.path)),
                // One of the batch cannot be read: look at each on its own.
                Err(_) => {
                    for at in (b..b + n).filter(|at| !known.contains(at)) {
                        match self.read_blocks(at, 1) {
                            Ok(block) if crc32fast::hash(&block) == self.crcs[at as usize] => {}
                            Ok(_) => bad.push(at),
                            Err(e) if is_resource_error(&e) => return Err(io_error(&e, "read", &self.path)),
                            Err(e) => {
                                tracing::warn!(path = %self.path.display(), block = at, error = %e, "block cannot be read");
                                bad.push(at);
                            }
                        }
                    }
                }
            }
            b += n;
        }
        Ok(bad)
    }

    /// Rewrite stored block `b` whole with `data` (one block) and its CRC: a repair from
    /// another copy. Never extends the file.
    pub fn rewrite_block(&mut self, b: u32, data: &[u8]) -> Result<(), CsError> {
        if b >= self.blocks || data.len() != BLOCK as usize {
            return Err(CsError::BadRequest(format!("block {b} of {} blocks, {} bytes", self.blocks, data.len())));
        }
        self.file.write_all_at(data, block_pos(b)).map_err(|e| broken(&e, "write", &self.path))?;
        self.store_crcs(b, &[crc32fast::hash(data)])
    }

    // ---- Renaming and deleting ----

    /// Renumber the copy: rename the file (the commit point), fsync its folder, then rewrite
    /// the header's version.
    pub fn set_version(&mut self, new_version: u32) -> Result<(), CsError> {
        if new_version == self.version {
            return Ok(());
        }
        let new_path = self.path.with_file_name(chunk_file_name(self.id, new_version));
        self.rename_to(&new_path)?;
        self.version = new_version;
        self.write_header_version()
    }

    /// Move the file to `new_path` (same file system) and fsync the folder.
    pub fn rename_to(&mut self, new_path: &Path) -> Result<(), CsError> {
        std::fs::rename(&self.path, new_path).map_err(|e| failed_change(&e, "rename", &self.path))?;
        self.path = new_path.to_path_buf();
        if let Some(dir) = new_path.parent() {
            sync_dir(dir)?;
        }
        Ok(())
    }

    /// Delete the file.
    pub fn delete(self) -> Result<(), CsError> {
        std::fs::remove_file(&self.path).map_err(|e| io_error(&e, "delete", &self.path))
    }

    // ---- Internals ----

    fn write_header_version(&mut self) -> Result<(), CsError> {
        self.file.write_all_at(&self.version.to_le_bytes(), 16).map_err(|e| broken(&e, "write header of", &self.path))
    }

    /// After a write or an extension failed with `cause`: cut the file back to `blocks`
    /// blocks. If even that fails the file holds more than it says: `Unusable`.
    fn cut_back(&mut self, blocks: u32, cause: &std::io::Error) -> Result<(), CsError> {
        self.file.set_len(file_len_for(blocks)).map_err(|e| {
            CsError::Unusable(format!(
                "{}: a write failed ({cause}) and the file could not be cut back to {blocks} blocks: {e}",
                self.path.display()
            ))
        })
    }

    /// Read `count` stored blocks from `first`; a short file leaves zeros (the CRC check
    /// then fails, as it should).
    fn read_blocks(&self, first: u32, count: u32) -> std::io::Result<Vec<u8>> {
        let mut buf = vec![0u8; count as usize * BLOCK as usize];
        let pos = block_pos(first);
        let mut done = 0;
        while done < buf.len() {
            match self.file.read_at(&mut buf[done..], pos + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(buf)
    }

    /// Read stored blocks and check each one's CRC. A block that cannot be read is bad like
    /// one whose CRC does not match (`Crc { block }`); a shortage of resources is `Busy`.
    fn read_checked(&self, first: u32, count: u32) -> Result<Vec<u8>, CsError> {
        let buf = match self.read_blocks(first, count) {
            Ok(buf) => buf,
            Err(e) if is_resource_error(&e) => return Err(io_error(&e, "read", &self.path)),
            Err(e) => return Err(self.unreadable_block(first, count, &e)),
        };
        for (i, block) in buf.chunks_exact(BLOCK as usize).enumerate() {
            let b = first + i as u32;
            if crc32fast::hash(block) != self.crcs[b as usize] {
                return Err(CsError::Crc { block: b });
            }
        }
        Ok(buf)
    }

    /// Reading `first..first + count` failed with `err`: find the block that cannot be read
    /// (read one at a time) and name it. If each reads on its own, the error passed: `Io`.
    fn unreadable_block(&self, first: u32, count: u32, err: &std::io::Error) -> CsError {
        for b in first..first + count {
            match self.read_blocks(b, 1) {
                Ok(_) => {}
                Err(e) if is_resource_error(&e) => return io_error(&e, "read", &self.path),
                Err(e) => {
                    tracing::warn!(path = %self.path.display(), block = b, error = %e, "block cannot be read");
                    return CsError::Crc { block: b };
                }
            }
        }
        io_error(err, "read", &self.path)
    }

    /// Fill `out` (one block) with block `b` as stored (CRC-checked), or zeros past the end.
    fn load_block(&self, b: u32, out: &mut [u8]) -> Result<(), CsError> {
        if b < self.blocks {
            out.copy_from_slice(&self.read_checked(b, 1)?);
        }
        Ok(())
    }

    /// Write CRC entries from block `from`, on disk and in memory.
    fn store_crcs(&mut self, from: u32, crcs: &[u32]) -> Result<(), CsError> {
        let bytes: Vec<u8> = crcs.iter().flat_map(|c| c.to_le_bytes()).collect();
        self.file
            .write_all_at(&bytes, HEADER_SIZE + from as u64 * 4)
            .map_err(|e| broken(&e, "write CRC table of", &self.path))?;
        self.crcs[from as usize..from as usize + crcs.len()].copy_from_slice(crcs);
        Ok(())
    }
}

/// File offset of block `b`.
fn block_pos(b: u32) -> u64 {
    DATA_OFFSET + b as u64 * BLOCK
}

/// File length holding `blocks` blocks.
fn file_len_for(blocks: u32) -> u64 {
    DATA_OFFSET + blocks as u64 * BLOCK
}

/// The end of `offset..offset+len`, which must lie within a chunk.
fn check_range(offset: u64, len: u64) -> Result<u64, CsError> {
    let end = offset + len;
    if end > CHUNK_SIZE {
        return Err(CsError::BadRequest(format!("range {offset}+{len} goes past the chunk size {CHUNK_SIZE}")));
    }
    Ok(end)
}

#[cfg(test)]
mod tests;
