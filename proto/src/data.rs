//! The data protocol (port 9422): clients and chunkservers read and write chunk data.
//!
//! Each [`DataRequest`] frame is answered by one [`DataResponse`] frame with the same `id`;
//! a connection may carry several requests at once. Offsets are within the chunk
//! (`0..CHUNK_SIZE`). A write or truncate carries the rest of its chain: the receiving
//! chunkserver applies it locally and forwards it to `chain[0]` with `chain[1..]`, and answers
//! only when the whole chain has it (or names the member that failed).

use serde::{Deserialize, Serialize};

use crate::cs::CsError;
use crate::token::{DataToken, TokenMode, MAX_TOKEN_SERVERS};

/// Largest data payload of one read or write request. Clients split larger I/O.
pub const MAX_IO: u32 = 4 << 20;

/// Largest request frame a chunkserver's data port reads: a `MAX_IO` write, its chain and
/// its token.
pub const MAX_REQUEST_FRAME: usize = MAX_IO as usize + (64 << 10);

/// Size of a CRC block: every 64 KiB of a chunk has its own CRC32.
pub const BLOCK_SIZE: u32 = 64 << 10;

/// One request on the data port.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DataRequest {
    pub id: u64,
    pub body: DataCall,
}

/// A data operation and the leader's permission for it (`crate::token`): a chunkserver serves
/// nothing without a valid token.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DataCall {
    pub token: Option<DataToken>,
    pub op: DataOp,
}

impl DataCall {
    /// The chunk, version and mode the token must allow for this operation; `None` for a
    /// [`DataOp::Ping`], which touches no chunk and needs no token.
    pub fn needs(&self) -> Option<(u64, u32, TokenMode)> {
        match &self.op {
            DataOp::Read { chunk_id, version, .. } | DataOp::Info { chunk_id, version } => {
                Some((*chunk_id, *version, TokenMode::Read))
            }
            DataOp::Write { chunk_id, version, .. }
            | DataOp::Truncate { chunk_id, version, .. }
            | DataOp::Sync { chunk_id, version, .. } => Some((*chunk_id, *version, TokenMode::Write)),
            DataOp::Ping => None,
        }
    }

    /// Bounds of the operation and of its token's chain.
    pub fn check_bounds(&self) -> Result<(), CsError> {
        self.op.check_bounds()?;
        if let Some(t) = &self.token {
            if t.servers.len() > MAX_TOKEN_SERVERS || t.servers.iter().any(|a| a.len() > MAX_ADDR_LEN) {
                return Err(CsError::BadRequest("data token names too many or too long addresses".into()));
            }
        }
        Ok(())
    }
}

/// What is asked of a chunkserver's data port.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum DataOp {
    /// Read `size` bytes (≤ `MAX_IO`) at `offset`. Every block touched is CRC-checked; bytes
    /// past the chunk's stored length read as zeros. Answer: `Data`.
    Read { chunk_id: u64, version: u32, offset: u32, size: u32 },
    /// Write `data` (≤ `MAX_IO`) at `offset`, then forward along `chain`. Answer: `Done`.
    Write {
        chunk_id: u64,
        version: u32,
        offset: u32,
        #[serde(with = "crate::bytes")]
        data: Vec<u8>,
        chain: Vec<String>,
    },
    /// Cut the chunk's stored data to `length` bytes (zeros beyond on later reads), then
    /// forward along `chain`. Answer: `Done`.
    Truncate { chunk_id: u64, version: u32, length: u32, chain: Vec<String> },
    /// Make the chunk's data durable (fsync), then forward along `chain`. Answer: `Done`.
    Sync { chunk_id: u64, version: u32, chain: Vec<String> },
    /// The stored length in bytes (whole blocks) and the CRC of every stored block, for
    /// replication and `mfsfileinfo -c`/`-s`. Answer: `Info`.
    Info { chunk_id: u64, version: u32 },
    /// Are you alive? Answered at once with `Done`, touching no disk and needing no token:
    /// asked on a fresh connection when a request goes unanswered (`crate::data_watch`), so a
    /// frozen or cut-off server is told from a busy one in about a second. (Last variant: the
    /// encoding of every earlier one is unchanged.)
    Ping,
}

/// Longest chain a request may carry: more copies than any goal asks for (MooseFS allows 9).
pub const MAX_CHAIN: usize = 16;

/// Longest chunkserver address accepted in a chain (a host name is at most 253 bytes).
pub const MAX_ADDR_LEN: usize = 300;

impl DataOp {
    /// Bounds of the variable-length fields, checked before a chunkserver does any work: a
    /// chain of at most [`MAX_CHAIN`] addresses of at most [`MAX_ADDR_LEN`] bytes, data of at
    /// most [`MAX_IO`] bytes.
    pub fn check_bounds(&self) -> Result<(), CsError> {
        let chain = match self {
            DataOp::Write { data, chain, .. } => {
                if data.len() > MAX_IO as usize {
                    return Err(CsError::BadRequest(format!("{} bytes; at most {MAX_IO} per request", data.len())));
                }
                chain
            }
            DataOp::Truncate { chain, .. } | DataOp::Sync { chain, .. } => chain,
            DataOp::Read { .. } | DataOp::Info { .. } | DataOp::Ping => return Ok(()),
        };
        if chain.len() > MAX_CHAIN {
            return Err(CsError::BadRequest(format!("chain of {} members; at most {MAX_CHAIN}", chain.len())));
        }
        if let Some(a) = chain.iter().find(|a| a.is_empty() || a.len() > MAX_ADDR_LEN) {
            return Err(CsError::BadRequest(format!("chain address of {} bytes", a.len())));
        }
        Ok(())
    }
}

/// How a chunkserver answers a data request.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum DataResponse {
    Data(#[serde(with = "crate::bytes")] Vec<u8>),
    Done,
    Info { length: u32, crcs: Vec<u32> },
    Error(CsError),
}

/// One answer on the data port.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DataReply {
    pub id: u64,
    pub body: DataResponse,
}
