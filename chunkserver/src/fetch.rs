//! Reading chunk blocks from other chunkservers, for a replication or a repair: each block
//! from the first source that serves it good, so copies damaged in different blocks together
//! give a whole one.
//!
//! A source's `Info` says how many blocks its copy holds and each block's CRC. A `Read` that
//! answers `Crc { block }` marks that block bad at that source: the rest of the range is asked
//! of the same source again and the bad block of the next one. A source answering anything
//! else wrong (unreachable, no such chunk, a short answer) is left out for the rest of the
//! work. Every block taken from a trusted source (a valid copy at the version wanted) is
//! checked against the CRC that source stored for it; a block from another copy (an older
//! version, for a repair) only counts when it hashes to the CRC the repaired copy stored.

use std::collections::BTreeSet;
use std::time::Duration;

use proto::cs::CsError;
use proto::data::{DataCall, DataOp, DataResponse, BLOCK_SIZE, MAX_IO};
use proto::meta::CHUNK_SIZE;

use crate::conn_pool::ConnPool;
use crate::tokens::KeyRing;

/// How long one request (an `Info` or a 4 MiB `Read`) may take at a source.
pub const FETCH_CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Blocks in one `Read`.
const BLOCKS_PER_READ: u32 = MAX_IO / BLOCK_SIZE;

/// What is known of one source.
struct Source {
    addr: String,
    version: u32,
    /// A valid copy at the version wanted: its own CRCs say what its blocks should be.
    trusted: bool,
    /// Its `Info`: the CRC of every block it stores (`None` until asked).
    crcs: Option<Vec<u32>>,
    /// Blocks it answered bad.
    bad: BTreeSet<u32>,
    /// Why it is left out, once it is.
    failed: Option<String>,
}

/// Blocks of chunk `id` from a list of sources, tried in order.
pub struct Fetcher<'a> {
    pool: &'a ConnPool,
    /// Signs the read tokens of this server's own reads.
    keys: &'a KeyRing,
    id: u64,
    sources: Vec<Source>,
    /// The source and reason of the latest failure, for the error when a block has no source.
    last: Option<(String, String)>,
}

impl<'a> Fetcher<'a> {
    /// `sources`: valid copies at `version` (data addresses), trusted in that order.
    pub fn new(
        pool: &'a ConnPool,
        keys: &'a KeyRing,
        id: u64,
        version: u32,
        sources: impl IntoIterator<Item = String>,
    ) -> Self {
        let sources = sources
            .into_iter()
            .map(|addr| Source { addr, version, trusted: true, crcs: None, bad: BTreeSet::new(), failed: None })
            .collect();
        Fetcher { pool, keys, id, sources, last: None }
    }

    /// Add other copies (data address, version) to try after the trusted ones, for repairs.
    pub fn with_others(mut self, others: impl IntoIterator<Item = (String, u32)>) -> Self {
        self.sources.extend(others.into_iter().map(|(addr, version)| Source {
            addr,
            version,
            trusted: false,
            crcs: None,
            bad: BTreeSet::new(),
            failed: None,
        }));
        self
    }

    /// The chunk's length in bytes, from the first trusted source that answers `Info`;
    /// `Chain` naming the last source tried when none does.
    pub async fn length(&mut self) -> Result<u32, CsError> {
        for i in 0..self.sources.len() {
            if !self.sources[i].trusted {
                continue;
            }
            if let Some(crcs) = self.crcs(i).await {
                return Ok(crcs.len() as u32 * BLOCK_SIZE);
            }
        }
        Err(self.no_source("Info"))
    }

    /// Blocks `first..first + count`, each from the first source that serves it good, with
    /// the CRC of each. `Chain` (the last failure) when some block has no good source.
    pub async fn range(&mut self, first: u32, count: u32) -> Result<(Vec<u8>, Vec<u32>), CsError> {
        let end = first + count;
        let mut data = Vec::with_capacity(count as usize * BLOCK_SIZE as usize);
        let mut crcs = Vec::with_capacity(count as usize);
        let mut b = first;
        while b < end {
            let Some(i) = self.pick(b).await else {
                return Err(self.no_source(&format!("block {b}")));
            };
            let src = &self.sources[i];
            let stored = src.crcs.as_ref().map_or(0, |c| c.len() as u32);
            let next_bad = src.bad.range(b..).next().copied().unwrap_or(u32::MAX);
            let upto = end.min(stored).min(next_bad).min(b + BLOCKS_PER_READ);
            let got = self.read(i, b, upto - b).await;
            let src = &mut self.sources[i];
            let Some(bytes) = got else { continue };
            for (k, block) in bytes.chunks_exact(BLOCK_SIZE as usize).enumerate() {
                let at = b + k as u32;
                let want = src.crcs.as_ref().map_or(0, |c| c[at as usize]);
                if crc32fast::hash(block) != want {
                    // Changed on the way (or under the source's feet): not this source's.
                    src.bad.insert(at);
                    self.last = Some((src.addr.clone(), format!("block {at} does not match its CRC")));
                    break;
                }
                data.extend_from_slice(block);
                crcs.push(want);
            }
            b = first + crcs.len() as u32;
        }
        Ok((data, crcs))
    }

    /// Block `b` for a repair of a copy whose stored CRC of the block is `expected`: from a
    /// trusted source, a block that matches its own CRC (the repaired copy's CRC entry may be
    /// what went bad); from another copy, only bytes that hash to `expected` (its block may
    /// predate a write). `None` when no source has it.
    pub async fn repair_block(&mut self, b: u32, expected: u32) -> Option<Vec<u8>> {
        for i in 0..self.sources.len() {
            if self.sources[i].failed.is_some() || self.sources[i].bad.contains(&b) {
                continue;
            }
            let trusted = self.sources[i].trusted;
            if trusted {
                match self.crcs(i).await {
                    Some(crcs) if (b as usize) < crcs.len() => {}
                    _ => continue,
                }
            }
            let Some(block) = self.read(i, b, 1).await else { continue };
            let src = &mut self.sources[i];
            let want = if trusted { src.crcs.as_ref().map_or(0, |c| c[b as usize]) } else { expected };
            if crc32fast::hash(&block) == want {
                return Some(block);
            }
            src.bad.insert(b);
            self.last = Some((src.addr.clone(), format!("block {b} does not match the CRC wanted")));
        }
        None
    }

    /// The first trusted source for block `b` (its `Info` asked first if needed).
    async fn pick(&mut self, b: u32) -> Option<usize> {
        for i in 0..self.sources.len() {
            let s = &self.sources[i];
            if !s.trusted || s.failed.is_some() || s.bad.contains(&b) {
                continue;
            }
            if self.crcs(i).await.is_some_and(|c| (b as usize) < c.len()) {
                return Some(i);
            }
        }
        None
    }

    /// `op` with a read token for it.
    fn call(&self, op: DataOp) -> DataCall {
        let token = DataCall { token: None, op: op.clone() }
            .needs()
            .and_then(|(chunk_id, version, _)| self.keys.mint_read(chunk_id, version));
        DataCall { token, op }
    }

    /// Source `i`'s CRCs, asking its `Info` the first time. `None` if it failed.
    async fn crcs(&mut self, i: usize) -> Option<&Vec<u32>> {
        if self.sources[i].failed.is_some() {
            return None;
        }
        if self.sources[i].crcs.is_none() {
            let (addr, version) = (self.sources[i].addr.clone(), self.sources[i].version);
            let call = self.call(DataOp::Info { chunk_id: self.id, version });
            let answer = self.pool.call(&addr, call, FETCH_CALL_TIMEOUT).await;
            match answer {
                Ok(DataResponse::Info { length, crcs })
                    if length as u64 <= CHUNK_SIZE
                        && length % BLOCK_SIZE == 0
                        && crcs.len() == (length / BLOCK_SIZE) as usize =>
                {
                    self.sources[i].crcs = Some(crcs)
                }
                Ok(DataResponse::Info { length, crcs }) => {
                    self.fail(i, format!("inconsistent Info: length {length} with {} CRCs", crcs.len()))
                }
                Ok(DataResponse::Error(e)) => self.fail(i, e.to_string()),
                Ok(_) => self.fail(i, "unexpected answer to Info".into()),
                Err(e) => self.fail(i, e.to_string()),
            }
        }
        self.sources[i].crcs.as_ref()
    }

    /// Read `count` blocks from `first` at source `i`. A bad block it names is remembered
    /// (`None`, ask again); any other failure leaves the source out (`None`).
    async fn read(&mut self, i: usize, first: u32, count: u32) -> Option<Vec<u8>> {
        let (addr, version) = (self.sources[i].addr.clone(), self.sources[i].version);
        let size = count * BLOCK_SIZE;
        let call = self.call(DataOp::Read { chunk_id: self.id, version, offset: first * BLOCK_SIZE, size });
        match self.pool.call(&addr, call, FETCH_CALL_TIMEOUT).await {
            Ok(DataResponse::Data(d)) if d.len() == size as usize => return Some(d),
            Ok(DataResponse::Data(d)) => self.fail(i, format!("asked {size} bytes, got {}", d.len())),
            Ok(DataResponse::Error(e @ CsError::Crc { block })) if (first..first + count).contains(&block) => {
                self.sources[i].bad.insert(block);
                self.last = Some((addr, e.to_string()));
            }
            Ok(DataResponse::Error(e)) => self.fail(i, e.to_string()),
            Ok(_) => self.fail(i, "unexpected answer to Read".into()),
            Err(e) => self.fail(i, e.to_string()),
        }
        None
    }

    fn fail(&mut self, i: usize, reason: String) {
        tracing::info!(chunk = format_args!("{:016X}", self.id), source = %self.sources[i].addr, %reason, "source left out");
        self.last = Some((self.sources[i].addr.clone(), reason.clone()));
        self.sources[i].failed = Some(reason);
    }

    /// The error when nothing could serve `what`: the last failure, naming its source.
    fn no_source(&self, what: &str) -> CsError {
        match &self.last {
            Some((addr, reason)) => CsError::Chain { addr: addr.clone(), reason: reason.clone() },
            None => CsError::BadRequest(format!("no source for {what}")),
        }
    }
}
