//! A pipelined request/response connection, shared by every client of our protocols
//! (client → master on 9421, client or chunkserver → chunkserver on 9422).
//!
//! Each request is framed as `{ id, body }` ([`Envelope`], the same encoding as
//! `ClientRequest` and `DataRequest`); answers may come back in any order and are matched by
//! id, so many requests share one connection.
//!
//! A server ([`serve_conn`]) holds each connection to [`ServeLimits`]: a largest frame and a
//! deadline for a started frame to complete, a cap on requests in flight (at the cap it stops
//! reading the socket until an answer is written: backpressure, not an error), and an idle
//! timeout that closes a connection with nothing in flight and nothing received for that long.
//! A client ([`RpcConn`]) retires a connection it left idle for [`IDLE_RETIRE`], well before
//! any server's idle timeout (at least [`MIN_IDLE_TIMEOUT`]), so a pool never hands out a
//! connection the server is about to close: the next call simply opens a new one.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, Notify, OwnedSemaphorePermit, Semaphore};

use crate::frame::{FrameError, FrameLimits};

/// A request or an answer with its id.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub id: u64,
    pub body: T,
}

/// Frames queued for the writer task.
const SEND_QUEUE: usize = 4096;

/// Read buffer of each connection. Small enough to cost little on a port with many idle
/// connections; a frame larger than it is read straight into its own buffer.
pub const READ_BUFFER: usize = 8 * 1024;

/// A client connection unused this long (no call in flight) counts as spent: pools drop it and
/// the next call connects anew. Servers keep idle connections at least twice as long
/// ([`MIN_IDLE_TIMEOUT`]), so a connection a client still uses is never closed under it.
pub const IDLE_RETIRE: Duration = Duration::from_secs(60);

/// Shortest idle timeout a server may be configured with (0 = none is also allowed).
pub const MIN_IDLE_TIMEOUT: Duration = Duration::from_secs(2 * IDLE_RETIRE.as_secs());

/// Default idle timeout of a server connection: an idle mount's connection (it sends a session
/// keepalive every 600 s) is retired by the mount after [`IDLE_RETIRE`] anyway.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// The idle timeout a config file asks for, in seconds: 0 means none, anything else must be at
/// least [`MIN_IDLE_TIMEOUT`] (shorter would close connections clients still count on).
pub fn idle_timeout_from_secs(secs: u64) -> Result<Option<Duration>, String> {
    match secs {
        0 => Ok(None),
        s if s < MIN_IDLE_TIMEOUT.as_secs() => {
            Err(format!("{s} s is too short: 0 (never) or at least {} s", MIN_IDLE_TIMEOUT.as_secs()))
        }
        s => Ok(Some(Duration::from_secs(s))),
    }
}

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
    /// The peer answered neither the request nor a ping on a fresh connection: frozen, or
    /// off the network (`crate::data_watch`).
    #[error("{0} went silent: no answer to the request within {1:?}, nor to a ping")]
    Silent(String, Duration),
    #[error("encode: {0}")]
    Encode(String),
}

/// Milliseconds since a base instant, shared between tasks.
struct Clock {
    base: Instant,
    last: AtomicU64,
}

impl Clock {
    fn new() -> Self {
        Clock { base: Instant::now(), last: AtomicU64::new(0) }
    }
    fn touch(&self) {
        self.last.store(self.base.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
    fn last(&self) -> Instant {
        self.base + Duration::from_millis(self.last.load(Ordering::Relaxed))
    }
}

/// A live connection sending `Q` bodies and receiving `R` bodies.
pub struct RpcConn<Q, R> {
    pub addr: String,
    next_id: AtomicU64,
    pending: Pending<R>,
    tx: mpsc::Sender<Vec<u8>>,
    broken: Arc<AtomicBool>,
    /// Set when the server closed the connection while nothing was in flight (its idle
    /// timeout): nothing went wrong, and the same server may be asked again at once.
    closed_idle: Arc<AtomicBool>,
    /// When a call last started or an answer last came.
    used: Arc<Clock>,
    /// Wakes the reader task to close the connection ([`RpcConn::abandon`]).
    close: Arc<Notify>,
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
        let (rd, wr) = stream.into_split();
        // Buffered: a reply's header and body (and often the next replies) come in one read.
        let mut rd = BufReader::with_capacity(READ_BUFFER, rd);
        let pending: Pending<R> = Arc::new(Mutex::new(HashMap::new()));
        let broken = Arc::new(AtomicBool::new(false));
        let closed_idle = Arc::new(AtomicBool::new(false));
        let used = Arc::new(Clock::new());
        let close = Arc::new(Notify::new());
        let (tx, rx) = mpsc::channel::<Vec<u8>>(SEND_QUEUE);
        tokio::spawn(writer(wr, rx, broken.clone()));
        {
            let (pending, broken, closed_idle, used, close) =
                (pending.clone(), broken.clone(), closed_idle.clone(), used.clone(), close.clone());
            tokio::spawn(async move {
                // `None`: abandoned here, the socket closed with this task.
                let end = loop {
                    let frame = tokio::select! {
                        f = crate::frame::read_frame::<_, Envelope<R>>(&mut rd) => f,
                        () = close.notified() => break None,
                    };
                    match frame {
                        Ok(resp) => {
                            used.touch();
                            let waiter = pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&resp.id);
                            if let Some(w) = waiter {
                                let _ = w.send(resp.body);
                            }
                        }
                        Err(e) => break Some(e),
                    }
                };
                let mut pending = pending.lock().unwrap_or_else(|e| e.into_inner());
                if end.is_some_and(|e| e.is_clean_close()) && pending.is_empty() {
                    closed_idle.store(true, Ordering::SeqCst);
                }
                broken.store(true, Ordering::SeqCst);
                // Dropping the senders wakes every waiter with an error.
                pending.clear();
            });
        }
        Ok(Arc::new(RpcConn {
            addr: addr.to_string(),
            next_id: AtomicU64::new(1),
            pending,
            tx,
            broken,
            closed_idle,
            used,
            close,
            _q: PhantomData,
        }))
    }

    /// True once the connection has failed, or sat unused for [`IDLE_RETIRE`]: make a new
    /// one.
    pub fn is_broken(&self) -> bool {
        self.broken.load(Ordering::SeqCst) || self.retired_idle()
    }

    /// True when the connection ended for idleness only (retired here, or closed by the server
    /// with nothing in flight): a new connection to the same address is the natural next step.
    pub fn ended_idle(&self) -> bool {
        self.retired_idle() || self.closed_idle.load(Ordering::SeqCst)
    }

    /// Give the connection up (its peer went silent): no new call is sent on it, pools
    /// replace it, its socket is closed and every call still waiting on it fails at once. A
    /// frozen or unreachable peer never closes its end, so without this the reader task and
    /// the socket would wait as long as the peer stays silent.
    pub fn abandon(&self) {
        self.broken.store(true, Ordering::SeqCst);
        self.close.notify_one();
    }

    fn retired_idle(&self) -> bool {
        self.used.last().elapsed() >= IDLE_RETIRE && self.pending.lock().unwrap_or_else(|e| e.into_inner()).is_empty()
    }

    /// Send one request and wait for its answer (at most `timeout`). A timeout marks the
    /// connection broken: the stream may hold a late answer no one waits for.
    pub async fn call(&self, body: Q, timeout: Duration) -> Result<R, RpcError> {
        // Only a real failure refuses the call: a connection past its idle retirement still
        // works (the server keeps it longer), and a pool replaces it on its next pick.
        if self.broken.load(Ordering::SeqCst) {
            return Err(RpcError::Broken(self.addr.clone()));
        }
        self.used.touch();
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
                self.abandon();
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

/// What a server allows one connection ([`serve_conn`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServeLimits {
    /// Largest request frame and the deadline for a started frame to complete.
    pub frame: FrameLimits,
    /// Requests answered at once; at the cap the connection is not read until an answer has
    /// been written (answers waiting to be written count too).
    pub max_in_flight: usize,
    /// Close the connection after this long with nothing in flight and nothing received.
    /// `None`: never.
    pub idle_timeout: Option<Duration>,
}

impl ServeLimits {
    /// Limits for a port whose requests are at most `max_frame` bytes, with the default
    /// deadline and idle timeout.
    pub fn new(max_frame: usize, max_in_flight: usize) -> Self {
        ServeLimits { frame: FrameLimits::new(max_frame), max_in_flight, idle_timeout: Some(DEFAULT_IDLE_TIMEOUT) }
    }
}

/// Serve one connection of a pipelined protocol: read `Envelope<Q>` frames, answer each with
/// `handle` in its own task, write `Envelope<R>` answers as they are ready, within `limits`.
/// Returns when the peer closes or the connection was idle too long (Ok), or on a bad or
/// stalled frame (Err, to be logged by the caller).
pub async fn serve_conn<Q, R, F, Fut>(stream: TcpStream, limits: ServeLimits, handle: F) -> Result<(), FrameError>
where
    Q: DeserializeOwned + Send + 'static,
    R: Serialize + Send + 'static,
    F: Fn(Q) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = R> + Send + 'static,
{
    let (rd, wr) = stream.into_split();
    // Buffered: a request's header and body (and the requests sent right behind it) come in
    // one read instead of three.
    let mut rd = BufReader::with_capacity(READ_BUFFER, rd);
    let max_in_flight = limits.max_in_flight.max(1);
    let permits = Arc::new(Semaphore::new(max_in_flight));
    let activity = Arc::new(Clock::new());
    // Unbounded, but never holding more than `max_in_flight` answers: each carries a permit.
    let (tx, mut rx) = mpsc::unbounded_channel::<(Envelope<R>, OwnedSemaphorePermit)>();
    let writer = {
        let activity = activity.clone();
        tokio::spawn(async move {
            let mut wr = BufWriter::new(wr);
            while let Some((resp, permit)) = rx.recv().await {
                let frame = match crate::frame::to_frame(&resp) {
                    Ok(f) => f,
                    // An answer too large to frame: close, the peer sees the request fail.
                    Err(_) => return,
                };
                if wr.write_all(&frame).await.is_err() {
                    return;
                }
                drop(permit);
                activity.touch();
                if rx.is_empty() && wr.flush().await.is_err() {
                    return;
                }
            }
        })
    };
    let result = loop {
        let Ok(permit) = permits.clone().acquire_owned().await else { break Ok(()) };
        if tx.is_closed() {
            // The writer is gone (the peer stopped reading or the socket failed).
            break Ok(());
        }
        let first = match wait_for_frame(&mut rd, &limits, &permits, max_in_flight, &activity).await {
            Ok(Some(b)) => b,
            Ok(None) => {
                tracing::debug!("closing a connection idle for {:?}", limits.idle_timeout);
                break Ok(());
            }
            Err(e) if e.is_clean_close() => break Ok(()),
            Err(e) => break Err(e),
        };
        let req: Envelope<Q> = match crate::frame::read_payload_after(&mut rd, first, &limits.frame).await {
            Ok(payload) => match crate::frame::decode(&payload) {
                Ok(req) => req,
                Err(e) => break Err(e),
            },
            Err(e) => break Err(e),
        };
        activity.touch();
        let (tx, handle) = (tx.clone(), handle.clone());
        tokio::spawn(async move {
            let body = handle(req.body).await;
            let _ = tx.send((Envelope { id: req.id, body }, permit));
        });
    };
    drop(tx);
    let _ = writer.await;
    result
}

/// Wait for the first byte of the next frame; `None` once the connection has been idle (nothing
/// in flight, nothing received or answered) for the idle timeout. The caller holds one permit.
async fn wait_for_frame<Rd: AsyncRead + Unpin>(
    rd: &mut Rd,
    limits: &ServeLimits,
    permits: &Semaphore,
    max_in_flight: usize,
    activity: &Clock,
) -> Result<Option<u8>, FrameError> {
    let Some(idle) = limits.idle_timeout else {
        return crate::frame::next_frame_start(rd).await.map(Some);
    };
    let mut deadline = activity.last() + idle;
    loop {
        match tokio::time::timeout_at(deadline.into(), crate::frame::next_frame_start(rd)).await {
            Ok(r) => return r.map(Some),
            Err(_) => {
                let quiet_since = activity.last();
                let in_flight = permits.available_permits() + 1 < max_in_flight;
                if in_flight {
                    deadline = Instant::now() + idle;
                } else if quiet_since.elapsed() >= idle {
                    return Ok(None);
                } else {
                    deadline = quiet_since + idle;
                }
            }
        }
    }
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
            let _ = serve_conn(s, ServeLimits::new(1 << 20, 64), |x: u64| async move {
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
    #[tokio::test]
    async fn at_the_in_flight_cap_a_connection_waits_instead_of_failing() {
        use std::sync::atomic::AtomicUsize;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (r, m) = (running.clone(), most.clone());
        tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let limits = ServeLimits::new(1 << 20, 2);
            let _ = serve_conn(s, limits, move |x: u64| {
                let (r, m) = (r.clone(), m.clone());
                async move {
                    let now = r.fetch_add(1, Ordering::SeqCst) + 1;
                    m.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(30)).await;
                    r.fetch_sub(1, Ordering::SeqCst);
                    x + 1
                }
            })
            .await;
        });
        let c = RpcConn::<u64, u64>::connect(&addr, Duration::from_secs(1)).await.unwrap();
        let calls: Vec<_> = (0..10u64)
            .map(|i| {
                let c = c.clone();
                tokio::spawn(async move { c.call(i, Duration::from_secs(10)).await })
            })
            .collect();
        for (i, h) in calls.into_iter().enumerate() {
            assert_eq!(h.await.unwrap().unwrap(), i as u64 + 1);
        }
        assert_eq!(most.load(Ordering::SeqCst), 2, "at most two requests ran at once");
    }

    #[tokio::test]
    async fn an_idle_connection_is_closed_but_a_long_request_is_not_cut() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                let limits =
                    ServeLimits { idle_timeout: Some(Duration::from_millis(150)), ..ServeLimits::new(1 << 20, 8) };
                tokio::spawn(serve_conn(s, limits, |ms: u64| async move {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    ms
                }));
            }
        });
        let c = RpcConn::<u64, u64>::connect(&addr, Duration::from_secs(1)).await.unwrap();
        // A request running twice the idle timeout is answered.
        assert_eq!(c.call(400, Duration::from_secs(5)).await.unwrap(), 400);
        // Then nothing: the server closes the connection, and the client sees it ended idle.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !c.is_broken() {
            assert!(Instant::now() < deadline, "the idle connection was not closed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(c.ended_idle(), "closed for idleness, not an error");
    }

    #[test]
    fn idle_timeouts_below_twice_the_client_retirement_are_refused() {
        assert_eq!(idle_timeout_from_secs(0), Ok(None));
        assert!(idle_timeout_from_secs(MIN_IDLE_TIMEOUT.as_secs() - 1).is_err());
        assert_eq!(idle_timeout_from_secs(300), Ok(Some(Duration::from_secs(300))));
    }
}
