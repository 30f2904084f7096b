//! The HTTP ports (9425, 9427) under a [`ConnGate`]: an `axum::serve::Listener` that closes
//! connections over the cap at once, and closes a connection that sends nothing for its idle
//! timeout (hyper, as axum runs it, has no timer of its own: a client that opens a connection
//! and says nothing would otherwise hold its place forever).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};

use crate::conn_gate::{ConnGate, ConnSlot};

/// Pause after a failed `accept` (out of file descriptors) before trying again.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// A TCP listener whose connections count against a gate.
pub struct GatedListener {
    inner: TcpListener,
    gate: Arc<ConnGate>,
    idle: Duration,
}

impl GatedListener {
    /// Serve `inner` under `gate`; a connection silent for `idle` is closed.
    pub fn new(inner: TcpListener, gate: Arc<ConnGate>, idle: Duration) -> Self {
        GatedListener { inner, gate, idle }
    }
}

impl axum::serve::Listener for GatedListener {
    type Io = GatedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (GatedStream, SocketAddr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, peer)) => {
                    let Some(slot) = self.gate.admit(peer) else { continue };
                    let deadline = Box::pin(tokio::time::sleep(self.idle));
                    return (GatedStream { inner: stream, _slot: slot, idle: self.idle, deadline }, peer);
                }
                Err(e) => {
                    tracing::warn!(port = self.gate.port(), error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_RETRY).await;
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// An admitted connection: its slot is given back when the connection is dropped, and a read
/// that waits longer than the idle timeout since the last byte received fails.
pub struct GatedStream {
    inner: TcpStream,
    _slot: ConnSlot,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl AsyncRead for GatedStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    let next = Instant::now() + self.idle;
                    self.deadline.as_mut().reset(next);
                }
                Poll::Ready(r)
            }
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("nothing received for {:?}", self.idle),
                ))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl AsyncWrite for GatedStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn connections_over_the_cap_and_silent_ones_are_closed() {
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let gate = ConnGate::new("http", "HTTP_MAX_CONNECTIONS", 1, || {});
        let listener = GatedListener::new(tcp, gate.clone(), Duration::from_millis(300));
        let app = axum::Router::new().route("/health", axum::routing::get(|| async { "ok\n" }));
        tokio::spawn(async move { axum::serve(listener, app).await });

        let mut first = TcpStream::connect(addr).await.unwrap();
        first.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut buf = [0u8; 256];
        let n = first.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"), "the first is served");
        // The second is over the cap of one: closed at once.
        let mut second = TcpStream::connect(addr).await.unwrap();
        let r = tokio::time::timeout(Duration::from_secs(5), second.read(&mut buf)).await.expect("closed");
        assert!(matches!(r, Ok(0) | Err(_)), "{r:?}");
        assert_eq!(gate.refused(), 1);
        // The first, now silent, is closed after the idle timeout, which frees its slot.
        let r = tokio::time::timeout(Duration::from_secs(5), first.read(&mut buf)).await.expect("closed when idle");
        assert!(matches!(r, Ok(0) | Err(_)), "{r:?}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while gate.open() > 0 {
            assert!(tokio::time::Instant::now() < deadline, "the slot was not given back");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
