//! Unit tests of chunk files: layout, round trips, damage detection, truncation, renames.

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
    for (i, (off, len)) in [(10usize, 5usize), (B - 3, 7), (2 * B + 1, B), (0, B), (B + 17, 2 * B)].iter().enumerate() {
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
    assert!(matches!(ChunkFile::open(&p, 1, 1), Err(CsError::Unusable(_))));
    std::fs::write(&p, vec![0u8; DATA_OFFSET as usize]).unwrap();
    assert!(matches!(ChunkFile::open(&p, 1, 1), Err(CsError::Unusable(m)) if m.contains("magic")));
    let c = new_chunk(dir.path());
    assert!(matches!(ChunkFile::open(c.path(), 99, 1), Err(CsError::Unusable(m)) if m.contains("header")));
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

#[test]
fn every_bad_block_is_found_and_a_rewrite_repairs_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = new_chunk(dir.path());
    let data = random(40 * B, 11);
    c.write(0, &data).unwrap();
    // Two bad blocks in the first verify batch, one in the third.
    for b in [1u64, 5, 33] {
        flip(c.path(), DATA_OFFSET + b * B as u64 + 17);
    }
    let c2 = reopen(&c);
    assert_eq!(c2.bad_blocks(&BTreeSet::new()).unwrap(), vec![1, 5, 33]);
    assert_eq!(c2.bad_blocks(&[5].into_iter().collect()).unwrap(), vec![1, 33], "known ones are skipped");
    assert_eq!(c2.verify_all(), Err(CsError::Crc { block: 1 }));
    // The stored CRC is what the good bytes hash to: a repair source is checked against it.
    assert_eq!(c.stored_crc(5), Some(crc32fast::hash(&data[5 * B..6 * B])));
    assert_eq!(c.stored_crc(40), None);
    c.rewrite_block(5, &data[5 * B..6 * B]).unwrap();
    assert_eq!(reopen(&c).bad_blocks(&BTreeSet::new()).unwrap(), vec![1, 33]);
    assert_eq!(reopen(&c).read(5 * B as u32, B as u32).unwrap(), data[5 * B..6 * B]);
    // A rewrite never extends the file, and takes whole blocks only.
    assert!(matches!(c.rewrite_block(40, &data[..B]), Err(CsError::BadRequest(_))));
    assert!(matches!(c.rewrite_block(1, &data[..10]), Err(CsError::BadRequest(_))));
    assert_eq!(c.blocks(), 40);
}

#[test]
fn a_missing_or_short_file_is_unusable_not_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let c = new_chunk(dir.path());
    let path = c.path().to_path_buf();
    drop(c);
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(ChunkFile::open(&path, 0x1234, 1), Err(CsError::Unusable(m)) if m.contains("missing")));
    std::fs::write(&path, b"short").unwrap();
    assert!(matches!(ChunkFile::open(&path, 0x1234, 1), Err(CsError::Unusable(m)) if m.contains("shorter")));
}

#[test]
fn resource_errors_are_told_apart() {
    let e = |errno| std::io::Error::from_raw_os_error(errno);
    let p = Path::new("/x");
    for errno in [libc::EMFILE, libc::ENFILE, libc::ENOMEM, libc::EAGAIN, libc::EINTR] {
        assert!(is_resource_error(&e(errno)), "{errno}");
        assert!(matches!(io_error(&e(errno), "open", p), CsError::Busy(_)), "{errno}");
    }
    assert_eq!(io_error(&e(libc::ENOSPC), "write", p), CsError::NoSpace);
    assert!(matches!(io_error(&e(libc::EIO), "read", p), CsError::Io(_)));
    assert!(!is_resource_error(&e(libc::EIO)));
    assert!(matches!(failed_change(&e(libc::EIO), "write", p), CsError::Unusable(_)));
    assert!(matches!(failed_change(&e(libc::EMFILE), "open folder", p), CsError::Busy(_)));
    assert!(matches!(unopenable(&e(libc::EMFILE), "open", p), CsError::Busy(_)));
    assert!(matches!(unopenable(&e(libc::EACCES), "open", p), CsError::Unusable(_)));
}
