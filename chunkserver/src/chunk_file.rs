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
//! Every method here does blocking file I/O; callers run them in `spawn_blocking`.

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use proto::cs::CsError;
use proto::data::BLOCK_SIZE;
use proto::meta::CHUNK_SIZE;

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

/// Name of the subfolder (`00`..`FF`) holding chunk `id`.
pub fn subfolder_name(id: u64) -> String {
    format!("{:02X}", id & 0xFF)
}

/// File name of a chunk copy.
pub fn chunk_file_name(id: u64, version: u32) -> String {
    format!("chunk_{id:016X}_{version:08X}.mfs")
}

/// Full path of a chunk copy on a disk.
pub fn chunk_path(disk: &Path, id: u64, version: u32) -> PathBuf {
    disk.join(subfolder_name(id)).join(chunk_file_name(id, version))
}

/// Parse a chunk file name strictly (`chunk_` + 16 uppercase hex + `_` + 8 uppercase hex +
/// `.mfs`); anything else is not ours.
pub fn parse_chunk_name(name: &str) -> Option<(u64, u32)> {
    let rest = name.strip_prefix("chunk_")?.strip_suffix(".mfs")?;
    let (id, version) = rest.split_once('_')?;
    let upper_hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'A'..=b'F'));
    if !upper_hex(id, 16) || !upper_hex(version, 8) {
        return None;
    }
    Some((u64::from_str_radix(id, 16).ok()?, u32::from_str_radix(version, 16).ok()?))
}

/// CRC32 of a block of zeros: the CRC of every block a truncate or a sparse write adds.
pub fn zero_block_crc() -> u32 {
    static CRC: OnceLock<u32> = OnceLock::new();
    *CRC.get_or_init(|| crc32fast::hash(&vec![0u8; BLOCK as usize]))
}

/// Map an I/O error to the protocol error: a full disk is `NoSpace`, the rest `Io`.
pub fn io_error(e: &std::io::Error, what: &str, path: &Path) -> CsError {
    if e.raw_os_error() == Some(libc::ENOSPC) || e.raw_os_error() == Some(libc::EDQUOT) {
        CsError::NoSpace
    } else {
        CsError::Io(format!("{what} {}: {e}", path.display()))
    }
}

/// fsync a directory, so a create or rename in it survives a crash.
pub fn sync_dir(dir: &Path) -> Result<(), CsError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io_error(&e, "fsync folder", dir))
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
    pub fn open(path: &Path, id: u64, version: u32) -> Result<Self, CsError> {
        let file = OpenOptions::new().read(true).write(true).open(path).map_err(|e| io_error(&e, "open", path))?;
        let len = file.metadata().map_err(|e| io_error(&e, "stat", path))?.len();
        if len < DATA_OFFSET {
            return Err(CsError::Io(format!("{}: {len} bytes, shorter than the chunk header", path.display())));
        }
        let blocks = (len - DATA_OFFSET).div_ceil(BLOCK);
        if blocks > MAX_BLOCKS as u64 {
            return Err(CsError::Io(format!("{}: {len} bytes, longer than a chunk", path.display())));
        }
        let mut head = vec![0u8; DATA_OFFSET as usize];
        file.read_exact_at(&mut head, 0).map_err(|e| io_error(&e, "read header of", path))?;
        if head[..8] != MAGIC {
            return Err(CsError::Io(format!("{}: not a chunk file (bad magic)", path.display())));
        }
        let head_id = u64::from_le_bytes(head[8..16].try_into().unwrap_or_default());
        let head_version = u32::from_le_bytes(head[16..20].try_into().unwrap_or_default());
        if head_id != id {
            return Err(CsError::Io(format!("{}: header holds chunk {head_id:016X}", path.display())));
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
    /// the file is cut back and nothing that was stored changes.
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
                let _ = self.file.set_len(file_len_for(old_blocks));
                return Err(io_error(&e, "write", &self.path));
            }
            self.blocks = last + 1;
        }
        // 2. Blocks that were stored before.
        if first < old_blocks {
            let upto = (last + 1).min(old_blocks);
            let len = (upto - first) as usize * BLOCK as usize;
            self.file.write_all_at(&buf[..len], block_pos(first)).map_err(|e| io_error(&e, "write", &self.path))?;
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
            self.file.set_len(file_len_for(new_blocks)).map_err(|e| {
                let _ = self.file.set_len(file_len_for(old));
                io_error(&e, "extend", &self.path)
            })?;
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
                self.file.write_all_at(&block, block_pos(b)).map_err(|e| io_error(&e, "write", &self.path))?;
                self.store_crcs(b, &[crc32fast::hash(&block)])?;
            }
        }
        if new_blocks < old {
            self.file.set_len(file_len_for(new_blocks)).map_err(|e| io_error(&e, "truncate", &self.path))?;
            self.blocks = new_blocks;
            // Entries past the end stay zero, so the table never carries stale CRCs.
            self.store_crcs(new_blocks, &vec![0; (old - new_blocks) as usize])?;
        }
        Ok(())
    }

    /// Make the data and the CRC table durable (fdatasync); the first time for this handle,
    /// the whole file and its folder entry too.
    pub fn sync(&self) -> Result<(), CsError> {
        if self.entry_synced.load(Ordering::Acquire) {
            return self.file.sync_data().map_err(|e| io_error(&e, "fsync", &self.path));
        }
        self.file.sync_all().map_err(|e| io_error(&e, "fsync", &self.path))?;
        if let Some(dir) = self.path.parent() {
            sync_dir(dir)?;
        }
        self.entry_synced.store(true, Ordering::Release);
        Ok(())
    }

    /// Check the CRC of every stored block.
    pub fn verify_all(&self) -> Result<(), CsError> {
        let mut b = 0;
        while b < self.blocks {
            let n = VERIFY_BATCH.min(self.blocks - b);
            self.read_checked(b, n)?;
            b += n;
        }
        Ok(())
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
        std::fs::rename(&self.path, new_path).map_err(|e| io_error(&e, "rename", &self.path))?;
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
        self.file.write_all_at(&self.version.to_le_bytes(), 16).map_err(|e| io_error(&e, "write header of", &self.path))
    }

    /// Read `count` stored blocks from `first`; a short file leaves zeros (the CRC check
    /// then fails, as it should).
    fn read_blocks(&self, first: u32, count: u32) -> Result<Vec<u8>, CsError> {
        let mut buf = vec![0u8; count as usize * BLOCK as usize];
        let pos = block_pos(first);
        let mut done = 0;
        while done < buf.len() {
            match self.file.read_at(&mut buf[done..], pos + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(io_error(&e, "read", &self.path)),
            }
        }
        Ok(buf)
    }

    /// Read stored blocks and check each one's CRC.
    fn read_checked(&self, first: u32, count: u32) -> Result<Vec<u8>, CsError> {
        let buf = self.read_blocks(first, count)?;
        for (i, block) in buf.chunks_exact(BLOCK as usize).enumerate() {
            let b = first + i as u32;
            if crc32fast::hash(block) != self.crcs[b as usize] {
                return Err(CsError::Crc { block: b });
            }
        }
        Ok(buf)
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
            .map_err(|e| io_error(&e, "write CRC table of", &self.path))?;
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
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    const B: usize = BLOCK as usize;

    fn new_chunk(dir: &Path) -> ChunkFile {
        ChunkFile::create(&dir.join(chunk_file_name(0x1234, 1)), 0x1234, 1).unwrap()
    }

    fn reopen(c: &ChunkFile) -> ChunkFile {
        ChunkFile::open(c.path(), c.id(), c.version()).unwrap()
    }

    fn random(len: usize, seed: u64) -> Vec<u8> {
        let mut v = vec![0u8; len];
        rand::rngs::StdRng::seed_from_u64(seed).fill(&mut v[..]);
        v
    }

    /// Flip one bit of the byte at `pos` in the file.
    fn flip(path: &Path, pos: u64) {
        let f = OpenOptions::new().read(true).write(true).open(path).unwrap();
        let mut b = [0u8];
        f.read_exact_at(&mut b, pos).unwrap();
        b[0] ^= 0x10;
        f.write_all_at(&b, pos).unwrap();
    }

    #[test]
    fn names_are_strict() {
        assert_eq!(chunk_file_name(0xAB, 3), "chunk_00000000000000AB_00000003.mfs");
        assert_eq!(subfolder_name(0x12AB), "AB");
        assert_eq!(subfolder_name(0x100), "00");
        assert_eq!(parse_chunk_name("chunk_00000000000000AB_00000003.mfs"), Some((0xAB, 3)));
        for bad in [
            "chunk_00000000000000ab_00000003.mfs",
            "chunk_00000000000000AB_0000003.mfs",
            "chunk_00000000000000AB_00000003.mfs.tmp",
            "chunk_0000000000000AB_000000003.mfs",
            "chunk_00000000000000AB-00000003.mfs",
            "chunk_+0000000000000AB_00000003.mfs",
            "notes.txt",
        ] {
            assert_eq!(parse_chunk_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn create_writes_the_documented_layout() {
        let dir = tempfile::tempdir().unwrap();
        let c = new_chunk(dir.path());
        let bytes = std::fs::read(c.path()).unwrap();
        assert_eq!(bytes.len() as u64, DATA_OFFSET);
        assert_eq!(&bytes[..8], b"RMFSCHK1");
        assert_eq!(u64::from_le_bytes(bytes[8..16].try_into().unwrap()), 0x1234);
        assert_eq!(u32::from_le_bytes(bytes[16..20].try_into().unwrap()), 1);
        assert!(bytes[20..].iter().all(|&b| b == 0));
        assert_eq!(c.info(), (0, vec![]));
        assert!(ChunkFile::create(c.path(), 0x1234, 1).is_err(), "create never overwrites");
    }

    #[test]
    fn write_read_round_trip_at_odd_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = new_chunk(dir.path());
        let mut model = vec![0u8; 3 * B + 100];
        for (i, (off, len)) in
            [(10usize, 5usize), (B - 3, 7), (2 * B + 1, B), (0, B), (B + 17, 2 * B)].iter().enumerate()
        {
            let data = random(*len, i as u64);
            c.write(*off as u32, &data).unwrap();
            if model.len() < off + len {
                model.resize(off + len, 0);
            }
            model[*off..off + len].copy_from_slice(&data);
        }
        let stored = model.len().div_ceil(B) * B;
        model.resize(stored, 0);
        for c in [&c, &reopen(&c)] {
            assert_eq!(c.length() as usize, stored);
            assert_eq!(c.read(0, stored as u32).unwrap(), model);
            assert_eq!(c.read(B as u32 - 5, 11).unwrap(), model[B - 5..B + 6]);
            // Past the stored blocks: zeros.
            let past = c.read(stored as u32 - 4, 100).unwrap();
            assert_eq!(&past[..4], &model[stored - 4..]);
            assert!(past[4..].iter().all(|&b| b == 0));
            assert!(c.read(10 * B as u32, 10).unwrap().iter().all(|&b| b == 0));
            c.verify_all().unwrap();
        }
        let (len, crcs) = c.info();
        assert_eq!(len as usize, stored);
        let expect: Vec<u32> = model.chunks(B).map(crc32fast::hash).collect();
        assert_eq!(crcs, expect);
    }

    #[test]
    fn a_write_past_a_gap_reads_zeros_in_the_gap() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = new_chunk(dir.path());
        c.write(0, b"abc").unwrap();
        c.write(5 * B as u32 + 1, b"xyz").unwrap();
        let c = reopen(&c);
        assert_eq!(c.blocks(), 6);
        assert!(c.read(B as u32, 4 * B as u32).unwrap().iter().all(|&b| b == 0));
        assert_eq!(c.read(5 * B as u32, 4).unwrap(), b"\0xyz");
        c.verify_all().unwrap();
    }

    #[test]
    fn a_flipped_data_byte_is_detected_and_never_returned() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = new_chunk(dir.path());
        c.write(0, &random(3 * B, 1)).unwrap();
        flip(c.path(), DATA_OFFSET + B as u64 + 777);
        for c in [&c, &reopen(&c)] {
            assert_eq!(c.read(B as u32 + 700, 10), Err(CsError::Crc { block: 1 }));
            // A read that only touches good blocks still works.
            assert_eq!(c.read(0, B as u32).unwrap(), random(3 * B, 1)[..B]);
            assert_eq!(c.read(2 * B as u32, 10).unwrap(), random(3 * B, 1)[2 * B..2 * B + 10]);
            assert_eq!(c.verify_all(), Err(CsError::Crc { block: 1 }));
        }
        // A partial write into the damaged block must not bless it with a fresh CRC.
        assert_eq!(c.write(B as u32 + 5, b"x"), Err(CsError::Crc { block: 1 }));
        // A full-block overwrite replaces it.
        c.write(B as u32, &[7u8; B]).unwrap();
        c.verify_all().unwrap();
    }

    #[test]
    fn a_flipped_crc_byte_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = new_chunk(dir.path());
        c.write(0, &random(B, 2)).unwrap();
        flip(c.path(), HEADER_SIZE + 2);
        assert_eq!(reopen(&c).read(0, 1), Err(CsError::Crc { block: 0 }));
    }

    #[test]
    fn a_torn_write_reads_back_as_a_crc_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = new_chunk(dir.path());
        c.write(0, &random(2 * B, 3)).unwrap();
        let path = c.path().to_path_buf();
        drop(c);
        // What a crash after step 1/2 of a write leaves: new data in an existing block and a
        // new block appended, with the CRC table not yet updated.
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.write_all_at(&random(100, 4), DATA_OFFSET + 10).unwrap();
        f.write_all_at(&random(B, 5), DATA_OFFSET + 2 * B as u64).unwrap();
        drop(f);
        let c = ChunkFile::open(&path, 0x1234, 1).unwrap();
        assert_eq!(c.blocks(), 3);
        assert_eq!(c.read(0, 20), Err(CsError::Crc { block: 0 }));
        assert_eq!(c.read(2 * B as u32, 20), Err(CsError::Crc { block: 2 }));
        assert_eq!(c.read(B as u32, B as u32).unwrap(), random(2 * B, 3)[B..]);
        // A half-written trailing block (the file ends mid-block) is a CRC error too.
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(DATA_OFFSET + 3 * B as u64 + 100).unwrap();
        drop(f);
        let c = ChunkFile::open(&path, 0x1234, 1).unwrap();
        assert_eq!(c.blocks(), 4);
        assert_eq!(c.read(3 * B as u32, 1), Err(CsError::Crc { block: 3 }));
    }

    #[test]
    fn truncate_mid_block_zeroes_the_tail_and_drops_later_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = new_chunk(dir.path());
        let data = random(3 * B, 6);
        c.write(0, &data).unwrap();
        c.truncate(B as u32 + 100).unwrap();
        for c in [&c, &reopen(&c)] {
            assert_eq!(c.blocks(), 2);
            assert_eq!(std::fs::metadata(c.path()).unwrap().len(), DATA_OFFSET + 2 * B as u64);
            let got = c.read(0, 3 * B as u32).unwrap();
            assert_eq!(got[..B + 100], data[..B + 100]);
            assert!(got[B + 100..].iter().all(|&b| b == 0));
            c.verify_all().unwrap();
            let (len, crcs) = c.info();
            assert_eq!(len as usize, 2 * B);
            assert_eq!(crcs.len(), 2);
        }
        // The dropped entries are zero on disk.
        let bytes = std::fs::read(c.path()).unwrap();
        assert!(bytes[HEADER_SIZE as usize + 8..DATA_OFFSET as usize].iter().all(|&b| b == 0));
        // Growing again reads zeros; truncating to 0 empties it.
        c.truncate(4 * B as u32).unwrap();
        assert_eq!(c.blocks(), 4);
        assert!(reopen(&c).read(B as u32 + 100, 3 * B as u32 - 100).unwrap().iter().all(|&b| b == 0));
        reopen(&c).verify_all().unwrap();
        c.truncate(0).unwrap();
        assert_eq!(reopen(&c).info(), (0, vec![]));
    }

    #[test]
    fn truncate_of_a_damaged_tail_block_fails_instead_of_hiding_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = new_chunk(dir.path());
        c.write(0, &random(2 * B, 7)).unwrap();
        flip(c.path(), DATA_OFFSET + 5);
        assert_eq!(c.truncate(100), Err(CsError::Crc { block: 0 }));
    }

    #[test]
    fn set_version_renames_and_rewrites_the_header() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = new_chunk(dir.path());
        c.write(0, b"hello").unwrap();
        c.set_version(7).unwrap();
        let new_path = dir.path().join(chunk_file_name(0x1234, 7));
        assert_eq!(c.path(), new_path);
        assert!(!dir.path().join(chunk_file_name(0x1234, 1)).exists());
        let bytes = std::fs::read(&new_path).unwrap();
        assert_eq!(u32::from_le_bytes(bytes[16..20].try_into().unwrap()), 7);
        assert_eq!(ChunkFile::open(&new_path, 0x1234, 7).unwrap().read(0, 5).unwrap(), b"hello");
        // A crash between the rename and the header update: the name wins, the header is fixed.
        let f = OpenOptions::new().write(true).open(&new_path).unwrap();
        f.write_all_at(&1u32.to_le_bytes(), 16).unwrap();
        drop(f);
        ChunkFile::open(&new_path, 0x1234, 7).unwrap();
        let bytes = std::fs::read(&new_path).unwrap();
        assert_eq!(u32::from_le_bytes(bytes[16..20].try_into().unwrap()), 7);
    }

    #[test]
    fn open_rejects_foreign_and_damaged_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.mfs");
        std::fs::write(&p, b"short").unwrap();
        assert!(matches!(ChunkFile::open(&p, 1, 1), Err(CsError::Io(_))));
        std::fs::write(&p, vec![0u8; DATA_OFFSET as usize]).unwrap();
        assert!(matches!(ChunkFile::open(&p, 1, 1), Err(CsError::Io(m)) if m.contains("magic")));
        let c = new_chunk(dir.path());
        assert!(matches!(ChunkFile::open(c.path(), 99, 1), Err(CsError::Io(m)) if m.contains("header")));
        let f = OpenOptions::new().write(true).open(c.path()).unwrap();
        f.set_len(DATA_OFFSET + (MAX_BLOCKS as u64 + 1) * BLOCK).unwrap();
        assert!(ChunkFile::open(c.path(), 0x1234, 1).is_err());
    }

    #[test]
    fn ranges_past_the_chunk_are_bad_requests() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = new_chunk(dir.path());
        let end = CHUNK_SIZE as u32;
        assert!(matches!(c.read(end - 1, 2), Err(CsError::BadRequest(_))));
        assert!(matches!(c.write(end, b"x"), Err(CsError::BadRequest(_))));
        assert!(matches!(c.truncate(end + 1), Err(CsError::BadRequest(_))));
        c.write(end - 3, b"end").unwrap();
        assert_eq!(c.blocks(), MAX_BLOCKS);
        assert_eq!(c.read(end - 3, 3).unwrap(), b"end");
        assert_eq!(c.growth_to(CHUNK_SIZE), 0);
    }

    #[test]
    fn delete_removes_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let c = new_chunk(dir.path());
        let p = c.path().to_path_buf();
        c.delete().unwrap();
        assert!(!p.exists());
    }
}
