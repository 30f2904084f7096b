//! File data through chunkservers: reads from any valid copy with fallback, writes down a
//! chain with a new chain when a member fails, truncates and fsyncs.
//!
//! The master only says where chunks are (`ChunkRead`) and opens them for writing
//! (`ChunkWrite`: allocate or bump the version, answer the chain); the bytes go straight
//! between this client and the chunkservers on port 9422.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proto::client::{ChunkLocation, ReadOp, Reply, WriteOp};
use proto::cs::CsError;
use proto::data::{DataCall, DataOp, DataResponse, MAX_IO};
use proto::data_watch::{call_watched, SILENT_MARK};
use proto::meta::{Attr, Creds, Ino, SetAttr, CHUNK_SIZE};
use proto::rpc::{RpcConn, RpcError};
use proto::token::DataToken;
use proto::Errno;

use crate::error::ClientError;
use crate::master_client::MasterClient;
use read::LocationCache;

/// A pipelined connection to a chunkserver's data port.
pub type DataConn = RpcConn<DataCall, DataResponse>;

/// Writes of one chunk in flight at once: enough small ones to hide the round trips of a batch
/// of random writes, and never more than `WRITE_BATCH_BYTES` (four `MAX_IO` pieces).
const WRITE_BATCH_PIECES: usize = 32;
const WRITE_BATCH_BYTES: usize = 4 * MAX_IO as usize;
/// Longest wait for one data request.
const DATA_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Pause before asking the master for a new chain or a fresh location.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// Why one attempt on a chunk failed.
enum ChunkFailure {
    /// This server failed (unreachable, I/O error, full disk): leave it out of the next chain.
    Server(String, String),
    /// The copy's version moved under us (a bump not yet delivered): ask again.
    Retry(String),
}

/// How long a chunkserver that went silent is tried last among a chunk's copies.
const SILENT_MEMORY: Duration = Duration::from_secs(10);

/// Connections to chunkservers, one pipelined connection per address, and the servers that
/// recently went silent.
#[derive(Default)]
pub struct DataPool {
    conns: Mutex<HashMap<String, Arc<DataConn>>>,
    /// When each server last went silent ([`proto::data_watch`]); entries older than
    /// [`SILENT_MEMORY`] are dropped as new ones come, so this holds at most the servers that
    /// went silent in the last few seconds.
    silent: Mutex<HashMap<String, Instant>>,
}

impl DataPool {
    async fn conn(&self, addr: &str) -> Result<Arc<DataConn>, String> {
        if let Some(c) = self.conns.lock().unwrap_or_else(|e| e.into_inner()).get(addr) {
            if !c.is_broken() {
                return Ok(c.clone());
            }
        }
        let c = DataConn::connect(addr, CONNECT_TIMEOUT).await.map_err(|e| e.to_string())?;
        self.conns.lock().unwrap_or_else(|e| e.into_inner()).insert(addr.to_string(), c.clone());
        Ok(c)
    }

    /// One request to `addr`, watched ([`proto::data_watch`]): a server that answers neither
    /// it nor a ping fails it within about a second. Connection problems come back as
    /// `CsError::Io`.
    pub async fn call(&self, addr: &str, call: DataCall) -> Result<DataResponse, CsError> {
        let c = self.conn(addr).await.map_err(CsError::Io)?;
        match call_watched(&c, call, DATA_TIMEOUT).await {
            Ok(r) => Ok(r),
            Err(e) => {
                if matches!(e, RpcError::Silent(..)) {
                    self.remember_silent(addr);
                }
                Err(CsError::Io(e.to_string()))
            }
        }
    }

    /// `addr` went silent, here or as a chain member another server forwarded to: it is read
    /// last and left out of new write chains for [`SILENT_MEMORY`].
    pub fn remember_silent(&self, addr: &str) {
        let mut silent = self.silent.lock().unwrap_or_else(|e| e.into_inner());
        silent.retain(|_, at| at.elapsed() < SILENT_MEMORY);
        silent.insert(addr.to_string(), Instant::now());
    }

    /// The servers that went silent in the last [`SILENT_MEMORY`]: left out of new write
    /// chains from the first request (the master may not have noticed yet).
    pub fn silent_servers(&self) -> Vec<String> {
        let silent = self.silent.lock().unwrap_or_else(|e| e.into_inner());
        silent.iter().filter(|(_, at)| at.elapsed() < SILENT_MEMORY).map(|(a, _)| a.clone()).collect()
    }

    /// Did `addr` go silent in the last [`SILENT_MEMORY`]? Such a copy is read last.
    pub fn went_silent(&self, addr: &str) -> bool {
        let silent = self.silent.lock().unwrap_or_else(|e| e.into_inner());
        silent.get(addr).is_some_and(|at| at.elapsed() < SILENT_MEMORY)
    }
}

/// A chunk written since the last fsync: where to send the `Sync`.
#[derive(Clone, Debug)]
struct Dirty {
    chunk_id: u64,
    version: u32,
    chain: Vec<String>,
    /// The write token that came with the chain.
    token: Option<DataToken>,
}

/// File I/O on top of a [`MasterClient`].
pub struct FileIo {
    pub meta: Arc<MasterClient>,
    pool: DataPool,
    dirty: Mutex<HashMap<Ino, BTreeMap<u32, Dirty>>>,
    locations: LocationCache,
    op_timeout: Duration,
}

fn chunk_span(offset: u64, len: u64) -> impl Iterator<Item = (u32, u64, u64)> {
    // (chunk index, offset within the chunk, length) for each chunk the range touches.
    let end = offset + len;
    let mut pos = offset;
    std::iter::from_fn(move || {
        if pos >= end {
            return None;
        }
        let idx = pos / CHUNK_SIZE;
        let in_chunk = pos % CHUNK_SIZE;
        let n = (CHUNK_SIZE - in_chunk).min(end - pos);
        pos += n;
        Some((idx as u32, in_chunk, n))
    })
}

fn expect_chunk(r: Reply) -> Result<ChunkLocation, ClientError> {
    match r {
        Reply::Chunk(c) => Ok(c),
        other => Err(ClientError::Protocol(format!("expected a chunk location, got {other:?}"))),
    }
}

impl FileIo {
    pub fn new(meta: Arc<MasterClient>) -> Self {
        let op_timeout = meta.op_timeout();
        FileIo {
            meta,
            pool: DataPool::default(),
            dirty: Mutex::new(HashMap::new()),
            locations: LocationCache::default(),
            op_timeout,
        }
    }

    // ---- Chunk locations for reads ----

    /// Drop the cached chunk locations of `ino` (its chunks or its size changed).
    pub fn forget_locations(&self, ino: Ino) {
        self.locations.forget(ino);
    }

    /// Write `data` at `offset`; the file grows as needed. Returns the new attributes.
    pub async fn write(&self, creds: &Creds, ino: Ino, offset: u64, data: &[u8]) -> Result<Attr, ClientError> {
        self.write_extents(creds, ino, &[(offset, data)]).await
    }

    /// Write several ranges of `ino` (offset, bytes; they must not overlap) in one go: each
    /// chunk they touch is opened for writing once (one `ChunkWrite`), all its pieces go down
    /// that chain together, and one `WriteEnd` records the new size and mtime. This is what
    /// makes a write-back buffer of scattered small writes cheap. Returns the new attributes.
    pub async fn write_extents(&self, creds: &Creds, ino: Ino, extents: &[(u64, &[u8])]) -> Result<Attr, ClientError> {
        let mut by_chunk: BTreeMap<u32, Vec<(u64, &[u8])>> = BTreeMap::new();
        let mut end = 0;
        for &(offset, data) in extents {
            let mut consumed = 0usize;
            for (idx, in_chunk, len) in chunk_span(offset, data.len() as u64) {
                by_chunk.entry(idx).or_default().push((in_chunk, &data[consumed..consumed + len as usize]));
                consumed += len as usize;
            }
            end = end.max(offset + data.len() as u64);
        }
        // The chunks written get new versions: cached read locations of this file are stale.
        self.forget_locations(ino);
        for (idx, pieces) in &by_chunk {
            self.with_chain(creds, ino, *idx, None, |chain, loc| self.write_pieces(chain, loc, pieces)).await?;
        }
        let answer = self.meta.write(creds, WriteOp::WriteEnd { ino, size: end }).await;
        // Again: a read running meanwhile may have cached the old size.
        self.forget_locations(ino);
        match answer? {
            Reply::Attr(a) | Reply::Entry(a) => Ok(a),
            other => Err(ClientError::Protocol(format!("write end answered {other:?}"))),
        }
    }

    /// Open chunk `idx` for writing and run `f` on the chain; on a failed member, ask for a
    /// new chain without it and run `f` again, until the operation deadline. `first` is a
    /// chain to try before asking the master (only for requests that write no data: a chain
    /// kept from earlier may belong to a chunk the master has freed since, e.g. after another
    /// client's truncate, and data written there would be lost).
    async fn with_chain<'a, F, Fut>(
        &'a self,
        creds: &Creds,
        ino: Ino,
        idx: u32,
        first: Option<ChunkLocation>,
        f: F,
    ) -> Result<(), ClientError>
    where
        F: Fn(Vec<String>, ChunkLocation) -> Fut,
        Fut: std::future::Future<Output = Result<(), ChunkFailure>> + 'a,
    {
        let deadline = Instant::now() + self.op_timeout;
        // Servers that went silent lately are left out from the start.
        let mut failed: Vec<String> = self.pool.silent_servers();
        // True while every server left out so far was left out for a full disk: then running
        // out of servers means ENOSPC, not EIO.
        let mut only_full_disks = failed.is_empty();
        let mut cached = first;
        loop {
            let loc = match cached.take() {
                Some(loc) => loc,
                None => {
                    match self.meta.write(creds, WriteOp::ChunkWrite { ino, index: idx, failed: failed.clone() }).await
                    {
                        Ok(r) => expect_chunk(r)?,
                        Err(ClientError::Errno(e)) if e == Errno::EIO && !failed.is_empty() && only_full_disks => {
                            return Err(ClientError::Errno(Errno::ENOSPC));
                        }
                        Err(e) => return Err(e),
                    }
                }
            };
            if loc.servers.is_empty() {
                return Err(ClientError::Errno(Errno::EIO));
            }
            let reason = match f(loc.servers.clone(), loc.clone()).await {
                Ok(()) => {
                    let d = Dirty {
                        chunk_id: loc.chunk_id,
                        version: loc.version,
                        chain: loc.servers.clone(),
                        token: loc.token.clone(),
                    };
                    self.dirty.lock().unwrap_or_else(|e| e.into_inner()).entry(ino).or_default().insert(idx, d);
                    return Ok(());
                }
                Err(ChunkFailure::Server(addr, reason)) => {
                    tracing::warn!(chunk = loc.chunk_id, server = %addr, %reason, "chain member failed; asking for a new chain");
                    if reason.contains(SILENT_MARK) {
                        // Left out of this file's next chunks too, and of other files' chains:
                        // the master has not noticed yet (its heartbeat limit is longer).
                        self.pool.remember_silent(&addr);
                    }
                    only_full_disks &= reason.contains(&CsError::NoSpace.to_string());
                    if !failed.contains(&addr) {
                        failed.push(addr.clone());
                    }
                    format!("{addr}: {reason}")
                }
                Err(ChunkFailure::Retry(reason)) => reason,
            };
            if Instant::now() >= deadline {
                tracing::error!(ino, index = idx, %reason, "giving up on chunk write");
                let full = !failed.is_empty() && only_full_disks;
                return Err(ClientError::Errno(if full { Errno::ENOSPC } else { Errno::EIO }));
            }
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }

    /// The chain of a chunk written since the last fsync, as a location for a `Sync`.
    fn open_chain(&self, ino: Ino, idx: u32) -> Option<ChunkLocation> {
        let dirty = self.dirty.lock().unwrap_or_else(|e| e.into_inner());
        let d = dirty.get(&ino)?.get(&idx)?;
        Some(ChunkLocation {
            index: idx,
            chunk_id: d.chunk_id,
            version: d.version,
            file_size: 0,
            servers: d.chain.clone(),
            goal: 0,
            damaged: Vec::new(),
            token: d.token.clone(),
        })
    }

    /// Forget the chunks of `ino` written since the last fsync without syncing them: on close
    /// (which promises no durability) or after a truncate (which bumps versions).
    pub fn forget(&self, ino: Ino) {
        self.dirty.lock().unwrap_or_else(|e| e.into_inner()).remove(&ino);
    }

    /// Classify a failed chain request: which server to leave out, if any. A member short of
    /// resources (`Busy`, passed up the chain as it is) is not left out: nothing is wrong
    /// with its copy, the same chain is tried again after a pause. A refused token (expired,
    /// or signed with a key a restarted server was never given) is asked for again with the
    /// chain, from the leader.
    fn failure(head: &str, e: CsError) -> ChunkFailure {
        match e {
            CsError::Chain { addr, reason } => ChunkFailure::Server(addr, reason),
            CsError::WrongVersion { .. } | CsError::NoChunk | CsError::Busy(_) | CsError::Token(_) => {
                ChunkFailure::Retry(format!("{head}: {e}"))
            }
            other => ChunkFailure::Server(head.to_string(), other.to_string()),
        }
    }

    async fn chain_call(&self, chain: &[String], token: &Option<DataToken>, op: DataOp) -> Result<(), ChunkFailure> {
        let head = &chain[0];
        match self.pool.call(head, DataCall { token: token.clone(), op }).await {
            Ok(DataResponse::Done) => Ok(()),
            Ok(DataResponse::Error(e)) => Err(Self::failure(head, e)),
            Ok(other) => Err(ChunkFailure::Server(head.clone(), format!("unexpected answer {other:?}"))),
            Err(e) => Err(Self::failure(head, e)),
        }
    }

    /// Write `parts` (offset within the chunk, bytes) down `chain`, a batch at a time.
    async fn write_pieces(
        &self,
        chain: Vec<String>,
        loc: ChunkLocation,
        parts: &[(u64, &[u8])],
    ) -> Result<(), ChunkFailure> {
        let pieces: Vec<(u64, &[u8])> = parts
            .iter()
            .flat_map(|&(in_chunk, part)| {
                part.chunks(MAX_IO as usize).enumerate().map(move |(i, p)| (in_chunk + (i * MAX_IO as usize) as u64, p))
            })
            .collect();
        for group in write_batches(&pieces) {
            let calls = group.iter().map(|(off, p)| {
                let op = DataOp::Write {
                    chunk_id: loc.chunk_id,
                    version: loc.version,
                    offset: *off as u32,
                    data: p.to_vec(),
                    chain: chain[1..].to_vec(),
                };
                self.chain_call(&chain, &loc.token, op)
            });
            for r in futures_join_all(calls).await {
                r?;
            }
        }
        Ok(())
    }

    /// Set the file size: cut the chunk that holds the new end on its chunkservers first (so
    /// a later extension reads zeros, not old bytes), then change the size on the master.
    pub async fn truncate(&self, creds: &Creds, ino: Ino, size: u64) -> Result<Attr, ClientError> {
        // Written data must be durable before the chunk is cut under a new version.
        self.fsync(creds, ino).await?;
        self.forget(ino);
        self.forget_locations(ino);
        let cur = self.meta.getattr(creds, ino).await?;
        // The master refuses these a new length; refused here too, before a chunk is cut.
        if cur.eattr() & (proto::eattr::APPENDONLY | proto::eattr::IMMUTABLE) != 0 {
            return Err(ClientError::Errno(proto::Errno::EPERM));
        }
        if size < cur.size && !size.is_multiple_of(CHUNK_SIZE) {
            let idx = (size / CHUNK_SIZE) as u32;
            let loc = expect_chunk(self.meta.read(creds, ReadOp::ChunkRead { ino, index: idx }).await?)?;
            if loc.chunk_id != 0 {
                let length = (size % CHUNK_SIZE) as u32;
                self.with_chain(creds, ino, idx, None, |chain, loc| async move {
                    let op = DataOp::Truncate {
                        chunk_id: loc.chunk_id,
                        version: loc.version,
                        length,
                        chain: chain[1..].to_vec(),
                    };
                    self.chain_call(&chain, &loc.token, op).await
                })
                .await?;
            }
        }
        let set = SetAttr { size: Some(size), ..Default::default() };
        let answer = self.meta.write(creds, WriteOp::SetAttr { ino, set }).await;
        self.forget_locations(ino);
        match answer? {
            Reply::Attr(a) | Reply::Entry(a) => Ok(a),
            other => Err(ClientError::Protocol(format!("setattr answered {other:?}"))),
        }
    }

    /// Make everything written to `ino` since the last fsync durable on every chain member.
    /// A member that died since it took the writes is left out through a new chain (the
    /// survivors hold every acknowledged byte).
    pub async fn fsync(&self, creds: &Creds, ino: Ino) -> Result<(), ClientError> {
        let dirty: Vec<u32> = self
            .dirty
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&ino)
            .map(|m| m.keys().copied().collect())
            .unwrap_or_default();
        for idx in dirty {
            let first = self.open_chain(ino, idx);
            self.with_chain(creds, ino, idx, first, |chain, loc| async move {
                let op = DataOp::Sync { chunk_id: loc.chunk_id, version: loc.version, chain: chain[1..].to_vec() };
                self.chain_call(&chain, &loc.token, op).await
            })
            .await?;
        }
        self.forget(ino);
        Ok(())
    }

    // ---- Whole files, for tools, tests and benchmarks ----

    /// Create `name` in `parent` with `data` (written in `block` sized writes), fsync'd.
    pub async fn write_file(
        &self,
        creds: &Creds,
        parent: Ino,
        name: &[u8],
        data: &[u8],
        block: usize,
    ) -> Result<Attr, ClientError> {
        let attr = match self
            .meta
            .write(creds, WriteOp::Create { parent, name: name.to_vec(), mode: 0o644, umask: 0o022, exclusive: true })
            .await?
        {
            Reply::Entry(a) | Reply::Attr(a) => a,
            other => return Err(ClientError::Protocol(format!("create answered {other:?}"))),
        };
        let mut last = attr.clone();
        for (i, piece) in data.chunks(block.max(1)).enumerate() {
            last = self.write(creds, attr.ino, (i * block.max(1)) as u64, piece).await?;
        }
        self.fsync(creds, attr.ino).await?;
        self.meta.write(creds, WriteOp::Release { ino: attr.ino }).await?;
        Ok(last)
    }

    /// Read a whole file.
    pub async fn read_file(&self, creds: &Creds, ino: Ino) -> Result<Vec<u8>, ClientError> {
        let size = self.meta.getattr(creds, ino).await?.size;
        self.read(creds, ino, 0, size).await
    }
}

/// `pieces` cut into consecutive batches of at most `WRITE_BATCH_PIECES` pieces and
/// `WRITE_BATCH_BYTES` bytes (a piece larger than that is a batch of its own).
fn write_batches<'p, 'd>(pieces: &'p [(u64, &'d [u8])]) -> Vec<&'p [(u64, &'d [u8])]> {
    let mut out = Vec::new();
    let (mut from, mut bytes) = (0, 0);
    for (i, (_, p)) in pieces.iter().enumerate() {
        if i > from && (i - from == WRITE_BATCH_PIECES || bytes + p.len() > WRITE_BATCH_BYTES) {
            out.push(&pieces[from..i]);
            (from, bytes) = (i, 0);
        }
        bytes += p.len();
    }
    if from < pieces.len() {
        out.push(&pieces[from..]);
    }
    out
}

/// Await every future, in order (they run concurrently).
async fn futures_join_all<F: std::future::Future>(futs: impl Iterator<Item = F>) -> Vec<F::Output> {
    // A JoinSet would need 'static futures; these borrow the caller's buffer, so poll them
    // together here.
    let futs: Vec<_> = futs.map(Box::pin).collect();
    let mut out = Vec::with_capacity(futs.len());
    let mut pending: Vec<_> = futs.into_iter().map(Some).collect();
    let mut results: Vec<Option<F::Output>> = (0..pending.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all_done = true;
        for (i, slot) in pending.iter_mut().enumerate() {
            if let Some(f) = slot.as_mut() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        results[i] = Some(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => all_done = false,
                }
            }
        }
        if all_done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    out.extend(results.into_iter().flatten());
    out
}

mod read;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_span_splits_at_chunk_boundaries() {
        let v: Vec<_> = chunk_span(CHUNK_SIZE - 10, 30).collect();
        assert_eq!(v, vec![(0, CHUNK_SIZE - 10, 10), (1, 0, 20)]);
        assert_eq!(chunk_span(5, 0).count(), 0);
        let v: Vec<_> = chunk_span(0, 2 * CHUNK_SIZE).collect();
        assert_eq!(v, vec![(0, 0, CHUNK_SIZE), (1, 0, CHUNK_SIZE)]);
    }

    #[test]
    fn write_batches_bound_pieces_and_bytes() {
        let small = vec![0u8; 4096];
        let pieces: Vec<(u64, &[u8])> = (0..70).map(|i| (i * 8192, small.as_slice())).collect();
        let sizes: Vec<usize> = write_batches(&pieces).iter().map(|b| b.len()).collect();
        assert_eq!(sizes, vec![32, 32, 6]);
        let big = vec![0u8; MAX_IO as usize];
        let pieces: Vec<(u64, &[u8])> = (0..9).map(|i| (i * MAX_IO as u64, big.as_slice())).collect();
        let sizes: Vec<usize> = write_batches(&pieces).iter().map(|b| b.len()).collect();
        assert_eq!(sizes, vec![4, 4, 1]);
        assert!(write_batches(&[]).is_empty());
    }

    #[tokio::test]
    async fn join_all_keeps_order_and_runs_concurrently() {
        let t = Instant::now();
        let futs = (0..4u64).map(|i| async move {
            tokio::time::sleep(Duration::from_millis(100 - i * 20)).await;
            i
        });
        assert_eq!(futures_join_all(futs).await, vec![0, 1, 2, 3]);
        assert!(t.elapsed() < Duration::from_millis(300));
    }
}
