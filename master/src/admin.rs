//! A minimal HTTP/1.0 GET for the admin tools, which only talk to our own masters.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest answer read (status pages are small).
const MAX_BODY: u64 = 16 << 20;

/// GET `path` from `addr`; returns the status code and body.
pub async fn http_get(addr: &str, path: &str, timeout: Duration) -> std::io::Result<(u16, String)> {
    let work = async {
        let mut s = TcpStream::connect(addr).await?;
        s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes()).await?;
        let mut buf = Vec::new();
        s.take(MAX_BODY).read_to_end(&mut buf).await?;
        let text = String::from_utf8_lossy(&buf).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text.as_str(), ""));
        let code = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "not an HTTP answer"))?;
        Ok((code, body.to_string()))
    };
    tokio::time::timeout(timeout, work).await.map_err(|_| {
        std::io::Error::new(std::io::ErrorKind::TimedOut, format!("{addr}: no answer within {timeout:?}"))
    })?
}
