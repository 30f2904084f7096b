//! `mfsfileinfo -c` and `-s`: each copy's CRC table asked of its chunkserver, MD5-digested as
//! MooseFS 3.0 does, and the file's signature.
//!
//! A copy's table is what the chunkserver's `DataOp::Info` answers: its block count `B` (the
//! stored length over 64 KiB) and the CRC32 of each of those blocks. The digest is MD5 of the
//! `4·B` bytes of those CRCs, big-endian, as MooseFS sends its 4096-byte table and digests its
//! first `4·B` bytes (`get_checksum_block`); the signature is one MD5 fed, chunk by chunk, with
//! the same bytes from the first copy of each chunk that answered. A chunkserver's answer is
//! checked before use: at most one CRC per block of a chunk, as many as its length says.
//!
//! The chunkservers serve nothing without a leader's token, so each chunk's read token is asked
//! of the master (`ChunkRead`, which needs read access to the file; MooseFS's checksum query
//! needs none). A copy that cannot be asked, or does not answer, is only reported: the exit
//! status stays MooseFS's (1 for master and path errors only).

use std::collections::HashMap;

use md5::{Digest, Md5};
use proto::client::{ChunkLocation, ReadOp, Reply};
use proto::cs::CsError;
use proto::data::{DataCall, DataOp, DataResponse, BLOCK_SIZE};
use proto::meta::{Creds, Ino, CHUNK_SIZE};
use proto::token::DataToken;

use crate::data_path::DataPool;
use crate::error::ClientError;
use crate::master_client::MasterClient;

/// Most CRCs a copy has: one per 64 KiB block of a chunk (MooseFS's 4096-byte table).
pub const MAX_CRCS: usize = (CHUNK_SIZE / BLOCK_SIZE as u64) as usize;

/// What `-c` and `-s` ask for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SumMode {
    /// `-c`: each copy's block count and checksum digest on its line.
    pub crc: bool,
    /// `-s`: the file's signature after its chunks.
    pub signature: bool,
}

impl SumMode {
    /// Does the run ask the chunkservers at all?
    pub fn any(self) -> bool {
        self.crc || self.signature
    }
}

/// What a copy's chunkserver answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CopySum {
    /// Its block count and the MD5 of its `4·blocks` CRC bytes.
    Digest { blocks: u32, digest: [u8; 16] },
    /// Why there is none (printed as MooseFS's cs error line).
    Failed(String),
}

/// The answers of every copy of a file, and the signature.
#[derive(Debug, Default)]
pub struct FileSums {
    pub mode: SumMode,
    /// By chunk index and copy address.
    copies: HashMap<(u32, String), CopySum>,
    /// The file's signature, when `-s`.
    signature: Option<[u8; 16]>,
}

/// A copy's CRCs as MooseFS puts them on the wire: 32-bit big-endian values.
pub fn crc_bytes(crcs: &[u32]) -> Vec<u8> {
    crcs.iter().flat_map(|c| c.to_be_bytes()).collect()
}

/// `%02X` of each byte, as MooseFS's `digest_to_str`.
pub fn hex_upper(digest: &[u8; 16]) -> String {
    digest.iter().map(|b| format!("{b:02X}")).collect()
}

/// The CRCs of a chunkserver's `Info` answer, if it is one a copy can give: a length of whole
/// 64 KiB blocks within a chunk and one CRC for each.
fn checked_crcs(answer: DataResponse) -> Result<Vec<u32>, String> {
    match answer {
        DataResponse::Info { length, crcs }
            if length as u64 <= CHUNK_SIZE
                && length % BLOCK_SIZE == 0
                && crcs.len() == (length / BLOCK_SIZE) as usize
                && crcs.len() <= MAX_CRCS =>
        {
            Ok(crcs)
        }
        DataResponse::Info { length, crcs } => {
            Err(format!("wrong answer (size): length {length} with {} CRCs", crcs.len()))
        }
        DataResponse::Error(e) => Err(e.to_string()),
        _ => Err("wrong answer (type)".into()),
    }
}

impl FileSums {
    /// What copy `addr` of chunk `index` answered (`None`: not asked).
    pub fn copy(&self, index: u32, addr: &str) -> Option<&CopySum> {
        self.copies.get(&(index, addr.to_string()))
    }

    /// The signature (`-s`), once every chunk went in.
    pub fn signature(&self) -> Option<&[u8; 16]> {
        self.signature.as_ref()
    }

    /// Ask every copy of every chunk that is part of the file (not a hole, within `size`) for
    /// its CRC table: `chunks` pairs each chunk with its copies' addresses in the order they are
    /// printed, the first of them that answers feeding the signature, chunk by chunk. A master that cannot be reached fails the whole file; a token refused (no read
    /// access) fails that chunk's copies only.
    pub async fn gather(
        mode: SumMode,
        client: &MasterClient,
        creds: &Creds,
        ino: Ino,
        size: u64,
        chunks: &[(&ChunkLocation, Vec<String>)],
    ) -> Result<FileSums, ClientError> {
        let pool = DataPool::default();
        let mut sums = FileSums { mode, ..FileSums::default() };
        let mut file = mode.signature.then(Md5::new);
        let mut chunks: Vec<&(&ChunkLocation, Vec<String>)> =
            chunks.iter().filter(|(c, _)| c.chunk_id != 0 && u64::from(c.index) < size.div_ceil(CHUNK_SIZE)).collect();
        chunks.sort_by_key(|(c, _)| c.index);
        for (c, addrs) in chunks {
            let token = match client.read(creds, ReadOp::ChunkRead { ino, index: c.index }).await {
                Ok(Reply::Chunk(loc)) if loc.chunk_id == c.chunk_id && loc.version == c.version => Ok(loc.token),
                Ok(Reply::Chunk(loc)) => Err(format!(
                    "chunk changed meanwhile (now id:{} ver:{}): can't get a read token",
                    loc.chunk_id, loc.version
                )),
                Ok(other) => return Err(ClientError::Protocol(format!("chunk read answered {other:?}"))),
                Err(ClientError::Errno(e)) => Err(format!("can't get a read token: {e}")),
                Err(e) => return Err(e),
            };
            let mut signed = false;
            for addr in addrs {
                let answer = match &token {
                    Ok(t) => ask(&pool, addr, c, t.clone()).await,
                    Err(why) => Err(why.clone()),
                };
                let sum = match answer {
                    Ok(crcs) => {
                        let bytes = crc_bytes(&crcs);
                        if let Some(f) = file.as_mut().filter(|_| !signed) {
                            f.update(&bytes);
                            signed = true;
                        }
                        CopySum::Digest { blocks: crcs.len() as u32, digest: Md5::digest(&bytes).into() }
                    }
                    Err(why) => CopySum::Failed(why),
                };
                sums.copies.insert((c.index, addr.clone()), sum);
            }
        }
        sums.signature = file.map(|f| f.finalize().into());
        Ok(sums)
    }

    /// Copy `k`'s line (1-based) at `addr` with its `status` text: with `-c` its blocks and
    /// digest, or `- can't get checksum` after the cs error line; otherwise MooseFS's plain
    /// line (the cs error line still comes first when the copy was asked for `-s`).
    pub fn copy_line(&self, index: u32, k: usize, addr: &str, status: &str) -> String {
        let plain = format!("\t\tcopy {k}: {addr} (status:{status})\n");
        match self.copy(index, addr) {
            Some(CopySum::Digest { blocks, digest }) if self.mode.crc => format!(
                "\t\tcopy {k}: {addr} (status:{status} ; blocks: {blocks} ; checksum digest: {})\n",
                hex_upper(digest)
            ),
            Some(CopySum::Failed(why)) => {
                let line = if self.mode.crc {
                    format!("\t\tcopy {k}: {addr} (status:{status}) - can't get checksum\n")
                } else {
                    plain
                };
                format!("{addr} cs query error: {why}\n{line}")
            }
            _ => plain,
        }
    }

    /// The lines after a chunk's copies: `copies have different checksums !!!` when two
    /// answered digests differ, and with `-s` `couldn't add this chunk to signature !!!` when
    /// no copy answered (none at all included).
    pub fn chunk_trailer(&self, index: u32, addrs: &[&str]) -> String {
        let digests: Vec<&[u8; 16]> = addrs
            .iter()
            .filter_map(|a| match self.copy(index, a) {
                Some(CopySum::Digest { digest, .. }) => Some(digest),
                _ => None,
            })
            .collect();
        let mut out = String::new();
        if digests.windows(2).any(|w| w[0] != w[1]) {
            out.push_str("\t\tcopies have different checksums !!!\n");
        }
        if self.mode.signature && digests.is_empty() {
            out.push_str("\t\tcouldn't add this chunk to signature !!!\n");
        }
        out
    }

    /// `NAME signature: HEX` after the last chunk, with `-s`.
    pub fn signature_line(&self, path: &str) -> String {
        self.signature.as_ref().map(|s| format!("{path} signature: {}\n", hex_upper(s))).unwrap_or_default()
    }
}

/// The CRCs of copy `addr` of chunk `c`, asked with `token`.
async fn ask(pool: &DataPool, addr: &str, c: &ChunkLocation, token: Option<DataToken>) -> Result<Vec<u32>, String> {
    let call = DataCall { token, op: DataOp::Info { chunk_id: c.chunk_id, version: c.version } };
    match pool.call(addr, call).await {
        Ok(answer) => checked_crcs(answer),
        // Not reached, or silent: the pool's words name the server and what happened.
        Err(CsError::Io(e)) => Err(e),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MD5 of the big-endian bytes of a known table, computed independently
    /// (`printf '\x00\x00\x00\x01\xde\xad\xbe\xef' | md5sum`).
    #[test]
    fn digest_of_a_known_crc_table() {
        let bytes = crc_bytes(&[1, 0xDEAD_BEEF]);
        assert_eq!(bytes, [0, 0, 0, 1, 0xDE, 0xAD, 0xBE, 0xEF]);
        let d: [u8; 16] = Md5::digest(&bytes).into();
        assert_eq!(hex_upper(&d), "23185B973242CAFE179032B046D28675");
        // Two 64 KiB blocks, zeros then bytes `i % 251`: zlib's CRC32 of each (what a
        // chunkserver stores, and MooseFS's `mycrc32`), digested (Python's zlib and hashlib).
        let d: [u8; 16] = Md5::digest(crc_bytes(&[0xD797_8EEB, 0x7FAA_50D3])).into();
        assert_eq!(hex_upper(&d), "DE2899BB8C77870BE87DBF478E3C82C2");
        // No blocks: MD5 of nothing.
        assert_eq!(hex_upper(&Md5::digest([]).into()), "D41D8CD98F00B204E9800998ECF8427E");
    }

    #[test]
    fn only_consistent_answers_are_used() {
        let info = |length, n| DataResponse::Info { length, crcs: vec![7; n] };
        assert_eq!(checked_crcs(info(2 * BLOCK_SIZE, 2)), Ok(vec![7, 7]));
        assert_eq!(checked_crcs(info(0, 0)), Ok(vec![]));
        assert!(checked_crcs(info(2 * BLOCK_SIZE, 3)).is_err());
        assert!(checked_crcs(info(BLOCK_SIZE + 1, 1)).is_err());
        let too_many = (MAX_CRCS + 1) as u32 * BLOCK_SIZE;
        assert!(checked_crcs(info(too_many, MAX_CRCS + 1)).is_err());
        assert!(checked_crcs(DataResponse::Done).is_err());
        assert!(checked_crcs(DataResponse::Error(CsError::NoChunk)).is_err());
    }

    fn sums(mode: SumMode, copies: &[(u32, &str, CopySum)]) -> FileSums {
        FileSums {
            mode,
            copies: copies.iter().map(|(i, a, s)| ((*i, a.to_string()), s.clone())).collect(),
            signature: None,
        }
    }

    #[test]
    fn copy_lines_as_moosefs_prints_them() {
        let d = CopySum::Digest { blocks: 3, digest: [0xAB; 16] };
        let failed = CopySum::Failed("refused".into());
        let crc = SumMode { crc: true, signature: false };
        let s = sums(crc, &[(0, "a:1", d.clone()), (0, "b:1", failed.clone())]);
        assert_eq!(
            s.copy_line(0, 1, "a:1", "VALID"),
            format!("\t\tcopy 1: a:1 (status:VALID ; blocks: 3 ; checksum digest: {})\n", "AB".repeat(16))
        );
        assert_eq!(
            s.copy_line(0, 2, "b:1", "VALID"),
            "b:1 cs query error: refused\n\t\tcopy 2: b:1 (status:VALID) - can't get checksum\n"
        );
        assert_eq!(s.chunk_trailer(0, &["a:1", "b:1"]), "");
        // Without -c the copy lines stay plain (the error line still shows).
        let sig = SumMode { crc: false, signature: true };
        let s = sums(sig, &[(0, "a:1", d.clone()), (0, "b:1", failed.clone()), (1, "b:1", failed)]);
        assert_eq!(s.copy_line(0, 1, "a:1", "VALID"), "\t\tcopy 1: a:1 (status:VALID)\n");
        assert_eq!(s.chunk_trailer(0, &["a:1", "b:1"]), "");
        assert_eq!(s.chunk_trailer(1, &["b:1"]), "\t\tcouldn't add this chunk to signature !!!\n");
        assert_eq!(s.chunk_trailer(2, &[]), "\t\tcouldn't add this chunk to signature !!!\n");
        // Different digests.
        let other = CopySum::Digest { blocks: 3, digest: [0xCD; 16] };
        let s = sums(crc, &[(0, "a:1", d), (0, "b:1", other)]);
        assert_eq!(s.chunk_trailer(0, &["a:1", "b:1"]), "\t\tcopies have different checksums !!!\n");
        let mut s = s;
        assert_eq!(s.signature_line("f"), "");
        s.signature = Some([0x01; 16]);
        assert_eq!(s.signature_line("f"), format!("f signature: {}\n", "01".repeat(16)));
    }

    #[test]
    fn whole_report_with_c_and_s() {
        use super::super::chunks::fileinfo_text_with;
        let loc = |index, id, servers: &[&str]| ChunkLocation {
            index,
            chunk_id: id,
            version: 1,
            file_size: 0,
            servers: servers.iter().map(|s| s.to_string()).collect(),
            goal: 2,
            damaged: vec![],
            token: None,
        };
        let chunks = vec![loc(0, 1, &["b:1", "a:1"]), loc(2, 5, &[])];
        let d = CopySum::Digest { blocks: 1024, digest: [0x0F; 16] };
        let mode = SumMode { crc: true, signature: true };
        let mut s = sums(mode, &[(0, "a:1", CopySum::Failed("i/o: refused".into())), (0, "b:1", d)]);
        s.signature = Some([0xA0; 16]);
        let t = fileinfo_text_with("f", 2 * CHUNK_SIZE + 1, &chunks, Some(&s));
        assert_eq!(
            t,
            format!(
                "f:\n\tchunk 0: 0000000000000001_00000001 / (id:1 ver:1)\na:1 cs query error: i/o: refused\n\t\tcopy 1: \
                 a:1 (status:VALID) - can't get checksum\n\t\tcopy 2: b:1 (status:VALID ; blocks: 1024 ; checksum digest: \
                 {})\n\tchunk 1: empty\n\tchunk 2: 0000000000000005_00000001 / (id:5 ver:1)\n\t\tcouldn't add this \
                 chunk to signature !!!\n\t\tno valid copies !!!\nf signature: {}\n",
                "0F".repeat(16),
                "A0".repeat(16)
            )
        );
    }
}
