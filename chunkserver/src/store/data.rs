//! The data operations of the store: read, write, truncate, sync, info, the scrubber's check
//! and the repair of bad blocks. Each consults the damage book under the chunk's lock: a copy
//! out of service answers `Unusable`; a known bad block is never read back (`Crc { block }`)
//! and never merged into by a partial write; a block rewritten whole is good again.

use std::ops::Range;

use proto::cs::CsError;

use super::{DamageBook, Store};
use crate::chunk_file::BLOCK;

/// The blocks `offset..offset + len` touches (empty when `len` is 0).
fn touched(offset: u32, len: u64) -> Range<u32> {
    if len == 0 {
        return 0..0;
    }
    let end = offset as u64 + len;
    (offset as u64 / BLOCK) as u32..end.div_ceil(BLOCK) as u32
}

/// The blocks `offset..offset + len` covers whole.
fn covered(offset: u32, len: u64) -> Range<u32> {
    let end = offset as u64 + len;
    let from = (offset as u64).div_ceil(BLOCK) as u32;
    let to = (end / BLOCK) as u32;
    from..to.max(from)
}

/// `Crc { block }` for the first known bad block of `id` in `blocks`.
fn refuse_bad(book: &DamageBook, id: u64, blocks: Range<u32>) -> Result<(), CsError> {
    match book.first_bad(id, blocks) {
        Some(block) => Err(CsError::Crc { block }),
        None => Ok(()),
    }
}

impl Store {
    /// Read `size` bytes at `offset` of chunk `id` at `version`. A bad block in the range
    /// fails the read with `Crc { block }` (the first one): its bytes are never returned.
    pub async fn read(&self, id: u64, version: u32, offset: u32, size: u32) -> Result<Vec<u8>, CsError> {
        let blocks = touched(offset, size as u64);
        self.shared(id, version, "read", move |f, book| {
            book.check_usable(id)?;
            refuse_bad(book, id, blocks)?;
            f.read(offset, size)
        })
        .await
    }

    /// Write `data` at `offset`; `NoSpace` if the disk cannot hold the growth. A known bad
    /// block the write covers only in part fails it with `Crc { block }` (its other bytes
    /// cannot be merged); bad blocks it covers whole are good again afterwards.
    pub async fn write(&self, id: u64, version: u32, offset: u32, data: Vec<u8>) -> Result<(), CsError> {
        let leave = self.leave_default();
        let len = data.len() as u64;
        let (all, whole) = (touched(offset, len), covered(offset, len));
        self.exclusive(id, version, "write", move |f, disk, book| {
            book.check_usable(id)?;
            for b in all.filter(|b| !whole.contains(b)) {
                refuse_bad(book, id, b..b + 1)?;
            }
            let growth = f.growth_to(offset as u64 + len);
            if growth > 0 {
                disk.check_room(growth, leave)?;
            }
            f.write(offset, &data)?;
            book.rewritten(id, whole);
            Ok(())
        })
        .await
    }

    /// Cut or extend the chunk to `length` bytes. A cut inside a known bad block fails with
    /// `Crc { block }` (the rest of it cannot be kept); bad blocks cut away are gone.
    pub async fn truncate(&self, id: u64, version: u32, length: u32) -> Result<(), CsError> {
        let leave = self.leave_default();
        self.exclusive(id, version, "truncate", move |f, disk, book| {
            book.check_usable(id)?;
            if !(length as u64).is_multiple_of(BLOCK) {
                let b = (length as u64 / BLOCK) as u32;
                refuse_bad(book, id, b..b + 1)?;
            }
            let growth = f.growth_to(length as u64);
            if growth > 0 {
                disk.check_room(growth, leave)?;
            }
            f.truncate(length)?;
            book.cut(id, f.blocks());
            Ok(())
        })
        .await
    }

    /// fsync the chunk. If the fsync fails the copy is out of service from then on.
    pub async fn sync(&self, id: u64, version: u32) -> Result<(), CsError> {
        self.shared(id, version, "sync", move |f, book| {
            book.check_usable(id)?;
            f.sync()
        })
        .await
    }

    /// Length and block CRCs (the stored ones, bad blocks included).
    pub async fn info(&self, id: u64, version: u32) -> Result<(u32, Vec<u32>), CsError> {
        self.shared(id, version, "info", move |f, book| {
            book.check_usable(id)?;
            Ok(f.info())
        })
        .await
    }

    /// Check every block of the served copy of `id` (any version) not known bad yet; bad ones
    /// go into the damage book. Returns the version and how many new bad blocks were found.
    pub async fn verify(&self, id: u64) -> Result<(u32, usize), CsError> {
        let version = self.version_of(id).ok_or(CsError::NoChunk)?;
        self.shared(id, version, "scrub", move |f, book| {
            book.check_usable(id)?;
            let bad = f.bad_blocks(&book.bad_blocks(id))?;
            let new = book.mark_blocks(id, version, &bad, "scrub", f.path());
            Ok((version, new))
        })
        .await
    }

    /// Of `wanted`, the blocks of copy (`id`, `version`) that are bad, each with the CRC the
    /// copy stored for it (what a good copy of the block hashes to). A repair starts here.
    pub async fn bad_blocks_of(&self, id: u64, version: u32, wanted: Vec<u32>) -> Result<Vec<(u32, u32)>, CsError> {
        self.shared(id, version, "repair", move |f, book| {
            book.check_usable(id)?;
            let bad = book.bad_blocks(id);
            Ok(wanted.into_iter().filter(|b| bad.contains(b)).filter_map(|b| Some((b, f.stored_crc(b)?))).collect())
        })
        .await
    }

    /// Rewrite bad blocks of copy (`id`, `version`) with `blocks` (block, its bytes) fetched
    /// from other copies, each only while it is still bad here (a client's write may have
    /// rewritten it meanwhile, and newer bytes must not be overwritten with older ones).
    /// Returns the copy's blocks still bad.
    pub async fn repair(&self, id: u64, version: u32, blocks: Vec<(u32, Vec<u8>)>) -> Result<Vec<u32>, CsError> {
        self.exclusive(id, version, "repair", move |f, _, book| {
            book.check_usable(id)?;
            for (b, data) in blocks {
                if book.first_bad(id, b..b + 1).is_some() {
                    f.rewrite_block(b, &data)?;
                    book.rewritten(id, b..b + 1);
                }
            }
            Ok(book.bad_blocks(id).into_iter().collect())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: u32 = BLOCK as u32;

    #[test]
    fn block_ranges() {
        assert_eq!(touched(0, 0), 0..0);
        assert_eq!(touched(10, 5), 0..1);
        assert_eq!(touched(B - 1, 2), 0..2);
        assert_eq!(touched(B, B as u64), 1..2);
        assert_eq!(covered(B, B as u64), 1..2);
        assert_eq!(covered(10, 5), 1..1, "none whole");
        assert!(covered(10, 5).is_empty());
        assert_eq!(covered(10, 3 * B as u64), 1..3);
        assert_eq!(covered(0, 2 * B as u64 + 1), 0..2);
    }
}
