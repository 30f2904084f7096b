//! One pipelined connection to a master: many requests in flight, answers matched by id.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proto::client::{ClientRequest, ClientResponse, RequestBody, ResponseBody};
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<ResponseBody>>>>;

/// Requests queued for the writer task.
const SEND_QUEUE: usize = 4096;

/// A live connection; `call` fails once the connection has broken.
pub struct MasterConn {
    pub addr: String,
    next_id: AtomicU64,
    pending: Pending,
    tx: mpsc::Sender<Vec<u8>>,
    broken: Arc<AtomicBool>,
}

/// Why a call on a connection failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error("connect to {0}: {1}")]
    Connect(String, String),
    #[error("connection to {0} broke")]
    Broken(String),
    #[error("encode: {0}")]
    Encode(String),
}

impl MasterConn {
    /// Connect, within `timeout`.
    pub async fn connect(addr: &str, timeout: Duration) -> Result<Arc<MasterConn>, ConnError> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| ConnError::Connect(addr.into(), "timed out".into()))?
            .map_err(|e| ConnError::Connect(addr.into(), e.to_string()))?;
        let _ = stream.set_nodelay(true);
        let (mut rd, wr) = stream.into_split();
        let pending: Pending = Arc::new(Mutex::new(HashMap::new()));
        let broken = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel::<Vec<u8>>(SEND_QUEUE);
        tokio::spawn(writer(wr, rx, broken.clone()));
        {
            let (pending, broken, addr) = (pending.clone(), broken.clone(), addr.to_string());
            tokio::spawn(async move {
                loop {
                    match proto::frame::read_frame::<_, ClientResponse>(&mut rd).await {
                        Ok(resp) => {
                            let waiter = pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&resp.id);
                            if let Some(w) = waiter {
                                let _ = w.send(resp.body);
                            }
                        }
                        Err(e) => {
                            if !e.is_clean_close() {
                                tracing::debug!(%addr, error = %e, "master connection read failed");
                            }
                            break;
                        }
                    }
                }
                broken.store(true, Ordering::SeqCst);
                // Dropping the senders wakes every waiter with an error.
                pending.lock().unwrap_or_else(|e| e.into_inner()).clear();
            });
        }
        Ok(Arc::new(MasterConn { addr: addr.to_string(), next_id: AtomicU64::new(1), pending, tx, broken }))
    }

    /// True once the connection has failed.
    pub fn is_broken(&self) -> bool {
        self.broken.load(Ordering::SeqCst)
    }

    /// Send one request and wait for its answer (at most `timeout`).
    pub async fn call(&self, body: RequestBody, timeout: Duration) -> Result<ResponseBody, ConnError> {
        if self.is_broken() {
            return Err(ConnError::Broken(self.addr.clone()));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let frame =
            proto::frame::to_frame(&ClientRequest { id, body }).map_err(|e| ConnError::Encode(e.to_string()))?;
        let (otx, orx) = oneshot::channel();
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).insert(id, otx);
        if self.tx.send(frame).await.is_err() {
            self.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
            return Err(ConnError::Broken(self.addr.clone()));
        }
        match tokio::time::timeout(timeout, orx).await {
            Ok(Ok(body)) => Ok(body),
            Ok(Err(_)) => Err(ConnError::Broken(self.addr.clone())),
            Err(_) => {
                self.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
                // An unanswered request on a live connection: treat the connection as suspect.
                self.broken.store(true, Ordering::SeqCst);
                Err(ConnError::Broken(self.addr.clone()))
            }
        }
    }
}

async fn writer(wr: OwnedWriteHalf, mut rx: mpsc::Receiver<Vec<u8>>, broken: Arc<AtomicBool>) {
    let mut wr = BufWriter::new(wr);
    while let Some(frame) = rx.recv().await {
        if wr.write_all(&frame).await.is_err() {
            break;
        }
        if rx.is_empty() && wr.flush().await.is_err() {
            break;
        }
    }
    broken.store(true, Ordering::SeqCst);
}
