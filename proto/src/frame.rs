//! Framing for every RaftMFS TCP protocol.
//!
//! A frame is `MAGIC` (4 bytes), a big-endian `u32` payload length, then the payload: one
//! value encoded with bincode 2 (serde, standard config). A frame with a wrong magic, a length
//! above [`MAX_FRAME`], or a payload that does not decode is an error; the reader closes the
//! connection, since after a bad frame the stream position can no longer be trusted.

use serde::{de::DeserializeOwned, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Marks the start of every frame: "RMF" and the protocol generation.
pub const MAGIC: [u8; 4] = *b"RMF1";

/// Largest payload accepted. Big enough for a Raft snapshot chunk or a batch of log entries,
/// small enough that a garbage length cannot make us allocate without bound.
pub const MAX_FRAME: usize = 64 << 20;

/// Errors of reading or writing a frame.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("bad frame magic {0:02x?} (not a RaftMFS peer, or a corrupted stream)")]
    BadMagic([u8; 4]),
    #[error("frame of {0} bytes exceeds the limit of {MAX_FRAME} bytes")]
    TooLarge(usize),
    #[error("undecodable frame payload: {0}")]
    Decode(String),
    #[error("unencodable value: {0}")]
    Encode(String),
    #[error("connection closed by peer")]
    Closed,
}

impl FrameError {
    /// True when the peer simply went away between frames (not worth a warning).
    pub fn is_clean_close(&self) -> bool {
        matches!(self, FrameError::Closed)
    }
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_FRAME>()
}

/// Encode a value as a frame payload.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, FrameError> {
    bincode::serde::encode_to_vec(value, config()).map_err(|e| FrameError::Encode(e.to_string()))
}

/// Decode a frame payload; trailing bytes are an error.
pub fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, FrameError> {
    let (value, used) =
        bincode::serde::decode_from_slice(payload, config()).map_err(|e| FrameError::Decode(e.to_string()))?;
    if used != payload.len() {
        return Err(FrameError::Decode(format!("{} trailing bytes after the message", payload.len() - used)));
    }
    Ok(value)
}

/// Build a complete frame (header and payload) for a value.
pub fn to_frame<T: Serialize>(value: &T) -> Result<Vec<u8>, FrameError> {
    let payload = encode(value)?;
    if payload.len() > MAX_FRAME {
        return Err(FrameError::TooLarge(payload.len()));
    }
    let mut buf = Vec::with_capacity(8 + payload.len());
    buf.extend_from_slice(&MAGIC);
    buf.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    buf.extend_from_slice(&payload);
    Ok(buf)
}

/// Write one value as a frame.
pub async fn write_frame<W, T>(w: &mut W, value: &T) -> Result<(), FrameError>
where
    W: AsyncWrite + Unpin,
    T: Serialize,
{
    let buf = to_frame(value)?;
    w.write_all(&buf).await?;
    Ok(())
}

/// Read one frame's payload. `Err(FrameError::Closed)` when the peer closed between frames.
pub async fn read_payload<R: AsyncRead + Unpin>(r: &mut R) -> Result<Vec<u8>, FrameError> {
    let mut header = [0u8; 8];
    match r.read_exact(&mut header[..1]).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(FrameError::Closed),
        Err(e) => return Err(e.into()),
    }
    r.read_exact(&mut header[1..]).await?;
    let magic = [header[0], header[1], header[2], header[3]];
    if magic != MAGIC {
        return Err(FrameError::BadMagic(magic));
    }
    let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge(len));
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).await?;
    Ok(payload)
}

/// Read and decode one frame.
pub async fn read_frame<R, T>(r: &mut R) -> Result<T, FrameError>
where
    R: AsyncRead + Unpin,
    T: DeserializeOwned,
{
    let payload = read_payload(r).await?;
    decode(&payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    enum Msg {
        A(u64),
        B { name: Vec<u8>, flag: bool },
    }

    #[tokio::test]
    async fn frame_round_trip() {
        let msgs = vec![Msg::A(7), Msg::B { name: b"x".to_vec(), flag: true }];
        let mut buf = Vec::new();
        for m in &msgs {
            write_frame(&mut buf, m).await.unwrap();
        }
        let mut r = &buf[..];
        for m in &msgs {
            let got: Msg = read_frame(&mut r).await.unwrap();
            assert_eq!(&got, m);
        }
        assert!(read_frame::<_, Msg>(&mut r).await.unwrap_err().is_clean_close());
    }

    #[tokio::test]
    async fn garbage_is_rejected() {
        let mut r: &[u8] = b"GET / HTTP/1.1\r\n\r\n";
        assert!(matches!(read_frame::<_, Msg>(&mut r).await, Err(FrameError::BadMagic(_))));
    }

    #[tokio::test]
    async fn oversized_length_is_rejected_without_allocating() {
        let mut buf = MAGIC.to_vec();
        buf.extend_from_slice(&u32::MAX.to_be_bytes());
        let mut r = &buf[..];
        assert!(matches!(read_frame::<_, Msg>(&mut r).await, Err(FrameError::TooLarge(_))));
    }

    #[tokio::test]
    async fn truncated_frame_is_an_error() {
        let full = to_frame(&Msg::B { name: vec![1; 100], flag: false }).unwrap();
        let mut r = &full[..50];
        let err = read_frame::<_, Msg>(&mut r).await.unwrap_err();
        assert!(matches!(err, FrameError::Io(_)), "{err:?}");
    }

    #[test]
    fn undecodable_payload_is_an_error() {
        // Variant index 9 does not exist.
        assert!(matches!(decode::<Msg>(&[9, 0, 0]), Err(FrameError::Decode(_))));
        // A huge vector length inside the payload must not allocate it.
        let mut p = vec![1u8];
        p.extend_from_slice(&[0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
        assert!(decode::<Msg>(&p).is_err());
    }
}
