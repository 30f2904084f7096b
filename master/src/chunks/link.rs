//! The leader's side of one chunkserver connection: commands go out through the
//! connection's writer, answers (`CommandDone`) come back by `req_id`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use proto::auth::{self, NONCE_LEN};
use proto::cs::{CommandReply, CsCommand, CsError, MasterToCs};
use proto::data_watch;
use proto::token::TOKEN_KEY_LEN;
use tokio::sync::{mpsc, oneshot, watch};

use crate::error::CsCallError;

type Waiter = oneshot::Sender<Result<CommandReply, CsError>>;

/// Silence after which a chunkserver counts as gone for new work (placement, write chains)
/// and its waiting commands fail, unless its heartbeats are known to come less often: then
/// [`SILENT_HEARTBEATS`] of its heartbeat gaps. (Its connection is closed, and its copies
/// forgotten, only after the longer `cs_server::SILENCE_TIMEOUT`.)
pub const SILENT_AFTER: Duration = Duration::from_millis(2500);
/// Heartbeat gaps without any message that make a chunkserver silent.
pub const SILENT_HEARTBEATS: u32 = 3;
/// How often a waiting command checks that its chunkserver still speaks.
const SILENCE_CHECK: Duration = Duration::from_millis(250);

/// A registered chunkserver connection, as commands see it. Cheap to share (`Arc`).
pub struct CsLink {
    /// The chunkserver's data address (its name in the registry).
    pub addr: String,
    /// The Raft term this master led when the chunkserver registered; every command
    /// carries it.
    pub term: u64,
    /// Identifies this connection (a chunkserver that reconnects gets a new one).
    pub conn_id: u64,
    tx: mpsc::Sender<MasterToCs>,
    pending: Mutex<HashMap<u64, Waiter>>,
    next_req: AtomicU64,
    closed: watch::Sender<bool>,
    /// With an `AUTH_CODE`: the code and the connection's nonces (chunkserver's, master's),
    /// to seal token keys sent on it.
    seal: Option<(String, [u8; NONCE_LEN], [u8; NONCE_LEN])>,
    /// When the link was made: the base of the millisecond clocks below.
    born: Instant,
    /// When a message last came from the chunkserver (ms since `born`).
    heard: AtomicU64,
    /// When its last heartbeat came, and the latest gap between two heartbeats (ms).
    last_heartbeat: AtomicU64,
    heartbeat_gap: AtomicU64,
}

impl CsLink {
    /// A link writing through `tx` (the connection's writer task).
    pub fn new(addr: String, term: u64, conn_id: u64, tx: mpsc::Sender<MasterToCs>) -> Self {
        CsLink {
            addr,
            term,
            conn_id,
            tx,
            pending: Mutex::new(HashMap::new()),
            next_req: AtomicU64::new(1),
            closed: watch::Sender::new(false),
            seal: None,
            born: Instant::now(),
            heard: AtomicU64::new(0),
            last_heartbeat: AtomicU64::new(0),
            heartbeat_gap: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        self.born.elapsed().as_millis() as u64
    }

    /// A message came from the chunkserver (`heartbeat`: it was a heartbeat).
    pub fn heard(&self, heartbeat: bool) {
        let now = self.now_ms();
        self.heard.store(now, Ordering::Relaxed);
        if heartbeat {
            let before = self.last_heartbeat.swap(now, Ordering::Relaxed);
            if before != 0 {
                self.heartbeat_gap.store(now - before, Ordering::Relaxed);
            }
        }
    }

    /// How long the chunkserver has sent nothing.
    pub fn silent_for(&self) -> Duration {
        Duration::from_millis(self.now_ms().saturating_sub(self.heard.load(Ordering::Relaxed)))
    }

    /// The silence that makes this chunkserver count as gone for new work.
    pub fn silence_limit(&self) -> Duration {
        let gap = Duration::from_millis(self.heartbeat_gap.load(Ordering::Relaxed));
        SILENT_AFTER.max(gap * SILENT_HEARTBEATS)
    }

    /// Silent past [`CsLink::silence_limit`]: frozen, or off the network, though its
    /// connection is still open.
    pub fn is_silent(&self) -> bool {
        self.silent_for() > self.silence_limit()
    }

    /// Seal token keys sent on this link with `code` and the connection's nonces.
    pub fn sealed_with(mut self, code: &str, cs_nonce: [u8; NONCE_LEN], master_nonce: [u8; NONCE_LEN]) -> Self {
        self.seal = Some((code.to_string(), cs_nonce, master_nonce));
        self
    }

    /// Send a data token key (sealed when the link has a code); false when it could not be
    /// queued.
    pub fn send_token_key(&self, key_id: u64, key: &[u8; TOKEN_KEY_LEN]) -> bool {
        let key = match &self.seal {
            Some((code, cs, m)) => auth::seal(code, cs, m, key),
            None => key.to_vec(),
        };
        self.try_send(MasterToCs::TokenKey { key_id, key })
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Waiter>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queue a message without waiting; false when the connection is gone or its queue is full.
    pub fn try_send(&self, msg: MasterToCs) -> bool {
        self.tx.try_send(msg).is_ok()
    }

    /// Send `cmd` and wait (at most `timeout`) for the chunkserver's answer.
    pub async fn call(&self, cmd: CsCommand, timeout: Duration) -> Result<CommandReply, CsCallError> {
        let disconnected = || CsCallError::Disconnected { addr: self.addr.clone() };
        if self.is_closed() {
            return Err(disconnected());
        }
        let req_id = self.next_req.fetch_add(1, Ordering::Relaxed);
        let (otx, orx) = oneshot::channel();
        self.pending().insert(req_id, otx);
        let msg = MasterToCs::Command { req_id, term: self.term, cmd };
        let answer = async {
            self.tx.send(msg).await.map_err(|_| disconnected())?;
            orx.await.map_err(|_| disconnected())
        };
        // A chunkserver that stops speaking fails the command well before `timeout`: a frozen
        // server must not hold a client's write. Silent: no heartbeat for its limit, or no
        // answer to a ping on its data port (`proto::data_watch`) while the command waits.
        let started = Instant::now();
        let heartbeats = async {
            loop {
                tokio::time::sleep(SILENCE_CHECK).await;
                if self.is_silent() {
                    return;
                }
            }
        };
        let pings = async {
            loop {
                tokio::time::sleep(data_watch::WATCH_AFTER).await;
                if data_watch::ping(&self.addr).await.is_err() {
                    return;
                }
            }
        };
        let silence = async {
            tokio::select! {
                () = heartbeats => {}
                () = pings => {}
            }
            started.elapsed().max(self.silent_for())
        };
        let outcome = tokio::time::timeout(timeout, async {
            tokio::select! {
                r = answer => Ok(r),
                quiet = silence => Err(quiet),
            }
        })
        .await;
        let outcome = match outcome {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(quiet)) => {
                self.pending().remove(&req_id);
                return Err(CsCallError::Silent { addr: self.addr.clone(), millis: quiet.as_millis() as u64 });
            }
            Err(e) => Err(e),
        };
        match outcome {
            Ok(Ok(Ok(reply))) => Ok(reply),
            Ok(Ok(Err(err))) => Err(CsCallError::Refused { addr: self.addr.clone(), err }),
            Ok(Err(e)) => {
                self.pending().remove(&req_id);
                Err(e)
            }
            Err(_) => {
                self.pending().remove(&req_id);
                Err(CsCallError::Timeout { addr: self.addr.clone(), secs: timeout.as_secs() })
            }
        }
    }

    /// The chunkserver answered `req_id`. False when no one waits for it (unknown, or
    /// already timed out).
    pub fn complete(&self, req_id: u64, result: Result<CommandReply, CsError>) -> bool {
        match self.pending().remove(&req_id) {
            Some(w) => w.send(result).is_ok(),
            None => false,
        }
    }

    /// Close the link: waiting commands fail with `Disconnected`, the connection task ends.
    pub fn close(&self) {
        self.closed.send_replace(true);
        self.pending().clear();
    }

    /// True once closed.
    pub fn is_closed(&self) -> bool {
        *self.closed.borrow() || self.tx.is_closed()
    }

    /// Wait until the link is closed.
    pub async fn closed(&self) {
        let mut rx = self.closed.subscribe();
        let _ = rx.wait_for(|c| *c).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_are_matched_by_req_id_and_timeouts_forget_the_request() {
        let (tx, mut rx) = mpsc::channel(8);
        let link = std::sync::Arc::new(CsLink::new("cs:1".into(), 3, 1, tx));
        let l = link.clone();
        let call =
            tokio::spawn(async move { l.call(CsCommand::Delete { id: 1, version: 0 }, Duration::from_secs(5)).await });
        let Some(MasterToCs::Command { req_id, term, .. }) = rx.recv().await else { panic!("no command") };
        assert_eq!(term, 3);
        assert!(!link.complete(req_id + 100, Ok(CommandReply::Done)), "unknown id");
        assert!(link.complete(req_id, Err(CsError::NoChunk)));
        assert!(matches!(call.await.unwrap(), Err(CsCallError::Refused { err: CsError::NoChunk, .. })));
        let r = link.call(CsCommand::Delete { id: 2, version: 0 }, Duration::from_millis(20)).await;
        assert!(matches!(r, Err(CsCallError::Timeout { .. })));
        assert!(link.pending().is_empty());
        link.close();
        assert!(link.is_closed());
        link.closed().await;
        let r = link.call(CsCommand::Delete { id: 3, version: 0 }, Duration::from_secs(1)).await;
        assert!(matches!(r, Err(CsCallError::Disconnected { .. })));
    }
}
