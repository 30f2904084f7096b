//! The data port (9422): reads, writes, truncates, syncs and infos of chunk data, with chain
//! forwarding of writes (see `proto::data`). Every connection is served by
//! [`proto::rpc::serve_conn`]: requests are answered concurrently, matched by id. What a
//! request finds wrong with a copy (a bad block, a copy out of service) is recorded by the
//! store itself and reported from there.

use std::sync::Arc;
use std::time::{Duration, Instant};

use proto::cs::CsError;
use proto::data::{DataCall, DataOp, DataResponse, MAX_IO};
use proto::meta::CHUNK_SIZE;
use proto::token::{DataToken, TokenError};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::config::NetLimits;
use crate::conn_pool::ConnPool;
use crate::error::outcome;
use crate::master_link::LinkState;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::tokens::KeyRing;

/// How long a forwarded request may take downstream: a 4 MiB write through the rest of the
/// chain onto busy disks, with margin. A member slower than this is reported as failed.
pub const CHAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest chain accepted: more copies than any goal asks for (MooseFS allows 9).
pub const MAX_CHAIN: usize = 16;
/// Pause after a failed `accept` (e.g. out of file descriptors) before trying again.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// What the data port needs.
pub struct DataServer {
    pub store: Arc<Store>,
    pub metrics: Arc<Metrics>,
    pub pool: Arc<ConnPool>,
    /// Connection cap (`CSSERV_MAX_CONNECTIONS`), requests in flight, frame deadline and idle
    /// timeout of the port.
    pub limits: NetLimits,
    /// The leaders' token keys: every request needs a token signed with one of them.
    pub keys: Arc<KeyRing>,
    /// Our registration (the data address the leader knows us by, for a write token's chain).
    pub link: Arc<LinkState>,
}

impl DataServer {
    /// Accept connections until the task is dropped (which also ends every connection), each
    /// under the port's connection cap and served within its limits.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        let gate = self.metrics.conn_gate("data", "CSSERV_MAX_CONNECTIONS", self.limits.data_max_connections);
        let limits = self.limits.data_serve_limits();
        let mut conns = JoinSet::new();
        loop {
            while conns.try_join_next().is_some() {}
            let (stream, peer) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "data port accept failed");
                    tokio::time::sleep(ACCEPT_RETRY).await;
                    continue;
                }
            };
            let Some(slot) = gate.admit(peer) else { continue };
            let _ = stream.set_nodelay(true);
            let me = self.clone();
            conns.spawn(async move {
                let handler = me.clone();
                let served = proto::rpc::serve_conn(stream, limits, move |call: DataCall| {
                    let h = handler.clone();
                    async move {
                        // Every variable-length field bounded, and the token checked, before
                        // any work.
                        match call.check_bounds().and_then(|()| h.authorize(&call)) {
                            Ok(()) => h.handle(call).await,
                            Err(e) => DataResponse::Error(e),
                        }
                    }
                })
                .await;
                if let Err(e) = served {
                    me.metrics.bad_frames.inc();
                    tracing::warn!(peer = %peer, error = %e, "bad frame on the data port, connection closed");
                }
                drop(slot);
            });
        }
    }

    /// Is the request's token one a leader signed for this chunk, version and kind of
    /// operation, and for a write, does its chain name this server and every member the
    /// request is to be forwarded to?
    pub fn authorize(&self, call: &DataCall) -> Result<(), CsError> {
        let Some((chunk_id, version, mode)) = call.needs() else {
            return Ok(()); // a ping: no chunk, no token
        };
        let checked = self.keys.check(call.token.as_ref(), chunk_id, version, mode).and_then(|()| {
            let chain = match &call.op {
                DataOp::Write { chain, .. } | DataOp::Truncate { chain, .. } | DataOp::Sync { chain, .. } => chain,
                DataOp::Read { .. } | DataOp::Info { .. } | DataOp::Ping => return Ok(()),
            };
            let me = self.link.advertised().unwrap_or_default();
            call.token.as_ref().map_or(Err(TokenError::Missing), |t| t.check_chain(&me, chain))
        });
        checked.map_err(|e| {
            self.metrics.token_refusals.with_label_values(&[token_error_kind(&e)]).inc();
            CsError::Token(e.to_string())
        })
    }

    /// Answer one request (its token already checked).
    pub async fn handle(&self, call: DataCall) -> DataResponse {
        if matches!(call.op, DataOp::Ping) {
            // Alive: answered before anything that could wait (no load count, no disk).
            return DataResponse::Done;
        }
        let _load = self.metrics.in_progress();
        let started = Instant::now();
        let name = op_name(&call.op);
        let result = self.execute(call).await;
        self.metrics.data_requests.with_label_values(&[name, outcome(&result)]).inc();
        self.metrics.data_latency.with_label_values(&[name]).observe(started.elapsed().as_secs_f64());
        match result {
            Ok(r) => r,
            Err(e) => DataResponse::Error(e),
        }
    }

    async fn execute(&self, call: DataCall) -> Result<DataResponse, CsError> {
        let DataCall { token, op } = call;
        match op {
            DataOp::Read { chunk_id, version, offset, size } => {
                check_io(offset, size as u64)?;
                let data = self.store.read(chunk_id, version, offset, size).await?;
                self.metrics.read_bytes.inc_by(data.len() as u64);
                Ok(DataResponse::Data(data))
            }
            DataOp::Write { chunk_id, version, offset, data, chain } => {
                check_io(offset, data.len() as u64)?;
                check_chain(&chain)?;
                let len = data.len() as u64;
                let forward = (!chain.is_empty()).then(|| (data.clone(), chain));
                let local = self.store.write(chunk_id, version, offset, data);
                let remote = async {
                    match forward {
                        None => Ok(()),
                        Some((data, chain)) => {
                            let make = |rest| DataOp::Write { chunk_id, version, offset, data, chain: rest };
                            self.forward(chain, token, make).await
                        }
                    }
                };
                let (local, remote) = tokio::join!(local, remote);
                local?;
                remote?;
                self.metrics.write_bytes.inc_by(len);
                Ok(DataResponse::Done)
            }
            DataOp::Truncate { chunk_id, version, length, chain } => {
                check_io(length, 0)?;
                check_chain(&chain)?;
                let local = self.store.truncate(chunk_id, version, length);
                let remote =
                    self.forward(chain, token, |rest| DataOp::Truncate { chunk_id, version, length, chain: rest });
                let (local, remote) = tokio::join!(local, remote);
                local?;
                remote?;
                Ok(DataResponse::Done)
            }
            DataOp::Sync { chunk_id, version, chain } => {
                check_chain(&chain)?;
                let local = self.store.sync(chunk_id, version);
                let remote = self.forward(chain, token, |rest| DataOp::Sync { chunk_id, version, chain: rest });
                let (local, remote) = tokio::join!(local, remote);
                local?;
                remote?;
                Ok(DataResponse::Done)
            }
            DataOp::Info { chunk_id, version } => {
                let (length, crcs) = self.store.info(chunk_id, version).await?;
                Ok(DataResponse::Info { length, crcs })
            }
            DataOp::Ping => Ok(DataResponse::Done),
        }
    }

    /// Send the request on to `chain[0]` with `chain[1..]`; a failure names the first member
    /// that failed (a downstream `Chain` error already does, and passes through). A member
    /// short of resources passes its `Busy` through as it is: nothing failed, the client
    /// tries again with the same chain.
    async fn forward(
        &self,
        chain: Vec<String>,
        token: Option<DataToken>,
        make: impl FnOnce(Vec<String>) -> DataOp,
    ) -> Result<(), CsError> {
        let Some((next, rest)) = chain.split_first() else {
            return Ok(());
        };
        let op = DataCall { token, op: make(rest.to_vec()) };
        let failed = |reason: String| CsError::Chain { addr: next.clone(), reason };
        match self.pool.call(next, op, CHAIN_TIMEOUT).await {
            Ok(DataResponse::Done) => Ok(()),
            Ok(DataResponse::Error(e @ CsError::Chain { .. })) => Err(e),
            Ok(DataResponse::Error(CsError::Busy(why))) => Err(CsError::Busy(format!("{next}: {why}"))),
            Ok(DataResponse::Error(e)) => Err(failed(e.to_string())),
            Ok(other) => Err(failed(format!("unexpected answer ({})", response_name(&other)))),
            Err(e) => Err(failed(e.to_string())),
        }
    }
}

/// Requests of more than `MAX_IO` bytes, or reaching past the chunk, are bad requests.
fn check_io(offset: u32, size: u64) -> Result<(), CsError> {
    if size > MAX_IO as u64 {
        return Err(CsError::BadRequest(format!("{size} bytes is more than the {MAX_IO} allowed per request")));
    }
    if offset as u64 + size > CHUNK_SIZE {
        return Err(CsError::BadRequest(format!("range {offset}+{size} goes past the chunk size {CHUNK_SIZE}")));
    }
    Ok(())
}

fn check_chain(chain: &[String]) -> Result<(), CsError> {
    if chain.len() > MAX_CHAIN {
        return Err(CsError::BadRequest(format!("chain of {} members; at most {MAX_CHAIN}", chain.len())));
    }
    Ok(())
}

/// The metric label of a refused token.
fn token_error_kind(e: &TokenError) -> &'static str {
    match e {
        TokenError::Missing => "missing",
        TokenError::UnknownKey => "unknown_key",
        TokenError::BadMac => "bad_mac",
        TokenError::WrongChunk => "wrong_chunk",
        TokenError::WrongMode => "wrong_mode",
        TokenError::Expired => "expired",
        TokenError::NotInChain(_) => "not_in_chain",
    }
}

/// The metric label of a request.
pub fn op_name(op: &DataOp) -> &'static str {
    match op {
        DataOp::Read { .. } => "read",
        DataOp::Write { .. } => "write",
        DataOp::Truncate { .. } => "truncate",
        DataOp::Sync { .. } => "sync",
        DataOp::Info { .. } => "info",
        DataOp::Ping => "ping",
    }
}

fn response_name(r: &DataResponse) -> &'static str {
    match r {
        DataResponse::Data(_) => "data",
        DataResponse::Done => "done",
        DataResponse::Info { .. } => "info",
        DataResponse::Error(_) => "error",
    }
}
