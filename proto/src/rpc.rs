//! A pipelined request/response connection, shared by every client of our protocols
//! (client → master on 9421, client or chunkserver → chunkserver on 9422).
//!
//! Each request is framed as `{ id, body }` ([`Envelope`], the same encoding as
//! `ClientRequest` and `DataRequest`); answers may come back in any order and are matched by
//! id, so many requests share one connection.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

/// A request or an answer with its id.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub id: u64,
    pub body: T,
}

/// Frames queued for the writer task.
const SEND_QUEUE: usize = 4096;

type Pending<R> = Arc<Mutex<HashMap<u64, oneshot::Sender<R>>>>;

/// Why a call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RpcError {
    #[error("connect to {0}: {1}")]
    Connect(String, String),
    #[error("connection to {0} broke")]
    Broken(String),
    #[error("no answer from {0} within {1:?}")]
    Timeout(String, Duration),
    #[error("encode: {0}")]
    Encode(String),
}

/// A live connection sending `Q` bodies and receiving `R` bodies.
pub struct RpcConn<Q, R> {
    pub addr: String,
    next_id: AtomicU64,
    pending: Pending<R>,
    tx: mpsc::Sender<Vec<u8>>,
    broken: Arc<AtomicBool>,
    _q: PhantomData<fn(Q)>,
}

impl<Q, R> RpcConn<Q, R>
where
    Q: Serialize,
    R: DeserializeOwned + Send + 'static,
{
    /// Connect within `timeout`.
    pub async fn connect(addr: &str, timeout: Duration) -> Result<Arc<Self>, RpcError> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| RpcError::Connect(addr.into(), "timed out".into()))?
            .map_err(|e| RpcError::Connect(addr.into(), e.to_string()))?;
        let _ = stream.set_nodelay(true);
        let (mut rd, wr) = stream.into_split();
        let pending: Pending<R> = Arc::new(Mutex::new(HashMap::new()));
        let broken = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel::<Vec<u8>>(SEND_QUEUE);
        tokio::spawn(writer(wr, rx, broken.clone()));
        {
            let (pending, broken) = (pending.clone(), broken.clone());
            tokio::spawn(async move {
                while let Ok(resp) = crate::frame::read_frame::<_, Envelope<R>>(&mut rd).await {
                    let waiter = pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&resp.id);
                    if let Some(w) = waiter {
                        let _ = w.send(resp.body);
                    }
                }
                broken.store(true, Ordering::SeqCst);
                // Dropping the senders wakes every waiter with an error.
                pending.lock().unwrap_or_else(|e| e.into_inner()).clear();
            });
        }
        Ok(Arc::new(RpcConn {
            addr: addr.to_string(),
            next_id: AtomicU64::new(1),
            pending,
            tx,
            broken,
            _q: PhantomData,
        }))
    }

    /// True once the connection has failed; make a new one.
    pub fn is_broken(&self) -> bool {
        self.broken.load(Ordering::SeqCst)
    }

    /// Send one request and wait for its answer (at most `timeout`). A timeout marks the
    /// connection broken: the stream may hold a late answer no one waits for.
    pub async fn call(&self, body: Q, timeout: Duration) -> Result<R, RpcError> {
        if self.is_broken() {
            return Err(RpcError::Broken(self.addr.clone()));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let frame = crate::frame::to_frame(&Envelope { id, body }).map_err(|e| RpcError::Encode(e.to_string()))?;
        let (otx, orx) = oneshot::channel();
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).insert(id, otx);
        if self.tx.send(frame).await.is_err() {
            self.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
            return Err(RpcError::Broken(self.addr.clone()));
        }
        match tokio::time::timeout(timeout, orx).await {
            Ok(Ok(body)) => Ok(body),
            Ok(Err(_)) => Err(RpcError::Broken(self.addr.clone())),
            Err(_) => {
                self.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
                self.broken.store(true, Ordering::SeqCst);
                Err(RpcError::Timeout(self.addr.clone(), timeout))
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
        // Flush when nothing else is queued, so frames batch under load.
        if rx.is_empty() && wr.flush().await.is_err() {
            break;
        }
    }
    broken.store(true, Ordering::SeqCst);
}

/// Serve one connection of a pipelined protocol: read `Envelope<Q>` frames, answer each with
/// `handle` in its own task, write `Envelope<R>` answers as they are ready. Returns when the
/// peer closes (Ok) or sends a bad frame (Err, to be logged by the caller).
pub async fn serve_conn<Q, R, F, Fut>(stream: TcpStream, handle: F) -> Result<(), crate::frame::FrameError>
where
    Q: DeserializeOwned + Send + 'static,
    R: Serialize + Send + 'static,
    F: Fn(Q) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = R> + Send + 'static,
{
    let (mut rd, wr) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Envelope<R>>(SEND_QUEUE);
    let writer = tokio::spawn(async move {
        let mut wr = BufWriter::new(wr);
        while let Some(resp) = rx.recv().await {
            let frame = match crate::frame::to_frame(&resp) {
                Ok(f) => f,
                // An answer too large to frame: close, the peer sees the request fail.
                Err(_) => return,
            };
            if wr.write_all(&frame).await.is_err() {
                return;
            }
            if rx.is_empty() && wr.flush().await.is_err() {
                return;
            }
        }
    });
    let result = loop {
        let req: Envelope<Q> = match crate::frame::read_frame(&mut rd).await {
            Ok(r) => r,
            Err(e) if e.is_clean_close() => break Ok(()),
            Err(e) => break Err(e),
        };
        let (tx, handle) = (tx.clone(), handle.clone());
        tokio::spawn(async move {
            let body = handle(req.body).await;
            let _ = tx.send(Envelope { id: req.id, body }).await;
        });
    };
    drop(tx);
    let _ = writer.await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn many_calls_in_flight_on_one_connection_get_their_own_answers() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let _ = serve_conn(s, |x: u64| async move {
                // Later requests answer first.
                tokio::time::sleep(Duration::from_millis(50 - x.min(50))).await;
                x * 2
            })
            .await;
        });
        let c = RpcConn::<u64, u64>::connect(&addr, Duration::from_secs(1)).await.unwrap();
        let mut hs = Vec::new();
        for i in 0..20u64 {
            let c = c.clone();
            hs.push(tokio::spawn(async move { (i, c.call(i, Duration::from_secs(5)).await.unwrap()) }));
        }
        for h in hs {
            let (i, r) = h.await.unwrap();
            assert_eq!(r, i * 2);
        }
    }

    #[tokio::test]
    async fn a_dead_server_fails_calls_instead_of_hanging() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            drop(s);
        });
        let c = RpcConn::<u64, u64>::connect(&addr, Duration::from_secs(1)).await.unwrap();
        assert!(c.call(1, Duration::from_secs(5)).await.is_err());
    }
}
