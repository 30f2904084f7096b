//! Where a chunk copy lives: `<disk>/<XX>/chunk_<016X id>_<08X version>.mfs`, and the strict
//! parse of such names.

use std::path::{Path, PathBuf};

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
