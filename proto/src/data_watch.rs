//! Waiting on a chunkserver without trusting an open socket.
//!
//! A chunkserver that froze (SIGSTOP, a stuck VM, a hung disk controller taking the process
//! with it) or dropped off the network keeps its connections open and answers nothing: no
//! reset ever comes, and a request would wait out its whole timeout (tens of seconds, since an
//! honest 4 MiB write onto a busy disk may take seconds). So a request still unanswered after
//! [`WATCH_AFTER`] is accompanied by a [`DataOp::Ping`] on a fresh connection: a live server
//! answers that at once (it touches no disk and needs no token), however busy its disks are;
//! a silent one does not within [`PING_TIMEOUT`], and the request fails as
//! [`RpcError::Silent`] with its connection abandoned. The caller treats that as a failed
//! server: a client reads from another copy or asks the master for a chain without it; a
//! chunkserver forwarding a write names it as the failed chain member.
//!
//! A server at its connection cap refuses the ping's connection and counts as silent; the
//! cost is a chain without it, never data.

use std::time::Duration;

use crate::data::{DataCall, DataOp, DataResponse};
use crate::rpc::{RpcConn, RpcError};

/// A connection to a data port.
pub type DataConn = RpcConn<DataCall, DataResponse>;

/// Words in every [`RpcError::Silent`] text, which a chain member's failure carries up the
/// chain as its reason: how a client tells that a member went silent from other failures.
pub const SILENT_MARK: &str = "went silent";

/// How long a request may go unanswered before the server is pinged.
pub const WATCH_AFTER: Duration = Duration::from_millis(700);
/// How long a ping may take, connection included, before the server counts as silent.
pub const PING_TIMEOUT: Duration = Duration::from_millis(600);

/// Does `addr` answer a ping on a new connection within [`PING_TIMEOUT`]?
pub async fn ping(addr: &str) -> Result<(), RpcError> {
    let attempt = async {
        let conn = DataConn::connect(addr, PING_TIMEOUT).await?;
        let answer = conn.call(DataCall { token: None, op: DataOp::Ping }, PING_TIMEOUT).await;
        conn.abandon();
        match answer? {
            DataResponse::Done => Ok(()),
            other => Err(RpcError::Encode(format!("ping answered {other:?}"))),
        }
    };
    tokio::time::timeout(PING_TIMEOUT, attempt)
        .await
        .unwrap_or_else(|_| Err(RpcError::Timeout(addr.into(), PING_TIMEOUT)))
}

/// Send `call` on `conn` and wait for its answer (at most `timeout`), pinging the server on a
/// fresh connection every [`WATCH_AFTER`] while no answer has come: when a ping goes
/// unanswered, `conn` is abandoned and the call fails as [`RpcError::Silent`].
pub async fn call_watched(conn: &DataConn, call: DataCall, timeout: Duration) -> Result<DataResponse, RpcError> {
    let started = tokio::time::Instant::now();
    let request = conn.call(call, timeout);
    tokio::pin!(request);
    loop {
        tokio::select! {
            r = &mut request => return r,
            () = tokio::time::sleep(WATCH_AFTER) => {}
        }
        tokio::select! {
            r = &mut request => return r,
            alive = ping(&conn.addr) => if let Err(e) = alive {
                tracing::warn!(server = %conn.addr, error = %e, "chunkserver silent: giving up on its connection");
                conn.abandon();
                return Err(RpcError::Silent(conn.addr.clone(), started.elapsed()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::{serve_conn, ServeLimits};
    use tokio::net::TcpListener;

    /// A data port that answers pings at once and other requests after `delay`.
    async fn server(delay: Duration) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                tokio::spawn(serve_conn(s, ServeLimits::new(1 << 20, 16), move |c: DataCall| async move {
                    if !matches!(c.op, DataOp::Ping) {
                        tokio::time::sleep(delay).await;
                    }
                    DataResponse::Done
                }));
            }
        });
        addr
    }

    fn info() -> DataCall {
        DataCall { token: None, op: DataOp::Info { chunk_id: 1, version: 1 } }
    }

    #[test]
    fn a_silent_error_says_so() {
        let e = RpcError::Silent("10.0.0.1:9422".into(), Duration::from_millis(1300));
        assert!(e.to_string().contains(SILENT_MARK), "{e}");
    }

    #[tokio::test]
    async fn a_slow_server_that_answers_pings_is_waited_for() {
        let addr = server(WATCH_AFTER * 3).await;
        let conn = DataConn::connect(&addr, Duration::from_secs(1)).await.expect("connect");
        let r = call_watched(&conn, info(), Duration::from_secs(10)).await;
        assert!(matches!(r, Ok(DataResponse::Done)), "{r:?}");
        assert!(!conn.is_broken());
    }

    #[tokio::test]
    async fn a_server_that_accepts_but_never_answers_is_silent() {
        // A listener nobody serves: the kernel completes connections (as for a frozen
        // process), nothing answers.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let conn = DataConn::connect(&addr, Duration::from_secs(1)).await.expect("connect");
        let r = call_watched(&conn, info(), Duration::from_secs(60)).await;
        assert!(matches!(r, Err(RpcError::Silent(..))), "{r:?}");
        assert!(conn.is_broken());
        drop(listener);
    }
}
