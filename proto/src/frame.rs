//! Framing for every RaftMFS TCP protocol.
//!
//! A frame is `MAGIC` (4 bytes), a big-endian `u32` payload length, then the payload: one
//! value encoded with bincode 2 (serde, standard config). A frame with a wrong magic, a length
//! above the reader's cap ([`MAX_FRAME`] at most), or a payload that does not decode is an
//! error; the reader closes the connection, since after a bad frame the stream position can no
//! longer be trusted.
//!
//! Nothing is allocated from a length a peer announced: a payload is read in pieces as it
//! arrives, its buffer growing with what came (never past the announced length), so a peer
//! that announces 64 MiB and stalls holds only the bytes it really sent. A server reads with
//! [`FrameLimits`]: its port's largest frame, and a deadline for a frame to complete once its
//! first byte came (a stalled half frame closes the connection). Decoding gives bincode a byte
//! budget derived from the payload's length ([`decode`]), so a small payload cannot claim a
//! large buffer either.

use std::time::Duration;

use serde::{de::DeserializeOwned, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Marks the start of every frame: "RMF" and the protocol generation.
pub const MAGIC: [u8; 4] = *b"RMF1";

/// Largest payload accepted on any port. Big enough for a Raft snapshot chunk or a batch of
/// log entries, small enough that a garbage length cannot make us allocate without bound.
pub const MAX_FRAME: usize = 64 << 20;

/// First buffer of a payload being read: larger frames grow their buffer as bytes arrive
/// (doubling, capped by the announced length).
const FIRST_READ_BUFFER: usize = 64 << 10;

/// Default deadline for a frame to complete once its first byte arrived: a 64 MiB frame at
/// 10 MB/s, with margin. Ports with a config file make it configurable.
pub const DEFAULT_FRAME_TIMEOUT: Duration = Duration::from_secs(60);

/// What a server accepts while reading one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameLimits {
    /// Largest payload (at most [`MAX_FRAME`]).
    pub max_frame: usize,
    /// Time from a frame's first byte to its last; a frame still incomplete then is an error
    /// ([`FrameError::Stalled`]).
    pub frame_timeout: Duration,
}

impl FrameLimits {
    /// The limits of a port whose largest frame is `max_frame`, with the default deadline.
    pub const fn new(max_frame: usize) -> Self {
        FrameLimits { max_frame, frame_timeout: DEFAULT_FRAME_TIMEOUT }
    }
}

impl Default for FrameLimits {
    fn default() -> Self {
        FrameLimits::new(MAX_FRAME)
    }
}

/// Errors of reading or writing a frame.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("bad frame magic {0:02x?} (not a RaftMFS peer, or a corrupted stream)")]
    BadMagic([u8; 4]),
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge { len: usize, max: usize },
    #[error("frame not complete {0:?} after its first byte (a stalled peer)")]
    Stalled(Duration),
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
///
/// bincode allocates a string or byte buffer of the length its prefix claims before it reads
/// the bytes, within its byte budget (`with_limit`; the budget counts every decoded value by
/// its size in memory). The budget is therefore derived from the payload's length: a valid
/// value of `n` encoded bytes claims at most 8·n (a one-byte varint `u64` claims 8; no wire
/// type carries a `u128`), so the smallest of the tiers 1, 4, 16, ... MiB at or above 16·n
/// lets every valid payload through, and a bogus length prefix in a payload of `n` bytes costs
/// at most 64·n bytes (1 MiB for small payloads) before it is refused.
pub fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, FrameError> {
    let need = payload.len().saturating_mul(16);
    let res = if need <= 1 << 20 {
        decode_limited::<T, { 1 << 20 }>(payload)
    } else if need <= 4 << 20 {
        decode_limited::<T, { 4 << 20 }>(payload)
    } else if need <= 16 << 20 {
        decode_limited::<T, { 16 << 20 }>(payload)
    } else if need <= 64 << 20 {
        decode_limited::<T, { 64 << 20 }>(payload)
    } else if need <= 256 << 20 {
        decode_limited::<T, { 256 << 20 }>(payload)
    } else {
        decode_limited::<T, { 1 << 30 }>(payload)
    };
    let (value, used) = res.map_err(|e| FrameError::Decode(e.to_string()))?;
    if used != payload.len() {
        return Err(FrameError::Decode(format!("{} trailing bytes after the message", payload.len() - used)));
    }
    Ok(value)
}

fn decode_limited<T: DeserializeOwned, const LIMIT: usize>(
    payload: &[u8],
) -> Result<(T, usize), bincode::error::DecodeError> {
    bincode::serde::decode_from_slice(payload, bincode::config::standard().with_limit::<LIMIT>())
}

/// Build a complete frame (header and payload) for a value.
pub fn to_frame<T: Serialize>(value: &T) -> Result<Vec<u8>, FrameError> {
    let payload = encode(value)?;
    if payload.len() > MAX_FRAME {
        return Err(FrameError::TooLarge { len: payload.len(), max: MAX_FRAME });
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

/// Wait for the first byte of the next frame. `Err(FrameError::Closed)` when the peer closed
/// between frames. Cancel safe: when the future is dropped before it completes, no byte was
/// taken from the stream, so a server may wrap it in an idle timeout.
pub async fn next_frame_start<R: AsyncRead + Unpin>(r: &mut R) -> Result<u8, FrameError> {
    let mut first = [0u8; 1];
    loop {
        match r.read(&mut first).await {
            Ok(0) => return Err(FrameError::Closed),
            Ok(_) => return Ok(first[0]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Read the rest of a frame whose first byte was `first`, within `limits`.
pub async fn read_payload_after<R: AsyncRead + Unpin>(
    r: &mut R,
    first: u8,
    limits: &FrameLimits,
) -> Result<Vec<u8>, FrameError> {
    match tokio::time::timeout(limits.frame_timeout, read_rest(r, first, limits.max_frame.min(MAX_FRAME))).await {
        Ok(r) => r,
        Err(_) => Err(FrameError::Stalled(limits.frame_timeout)),
    }
}

async fn read_rest<R: AsyncRead + Unpin>(r: &mut R, first: u8, max: usize) -> Result<Vec<u8>, FrameError> {
    let mut header = [0u8; 8];
    header[0] = first;
    if header[0] != MAGIC[0] {
        // Do not wait for more bytes of something that is not a frame.
        return Err(FrameError::BadMagic([header[0], 0, 0, 0]));
    }
    r.read_exact(&mut header[1..]).await?;
    let magic = [header[0], header[1], header[2], header[3]];
    if magic != MAGIC {
        return Err(FrameError::BadMagic(magic));
    }
    let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    read_body(r, len).await
}

/// Read exactly `len` bytes, growing the buffer only as bytes arrive.
async fn read_body<R: AsyncRead + Unpin>(r: &mut R, len: usize) -> Result<Vec<u8>, FrameError> {
    let mut payload = Vec::with_capacity(len.min(FIRST_READ_BUFFER));
    while payload.len() < len {
        if payload.len() == payload.capacity() {
            // Double what we hold, never past what the frame announced.
            let grow = payload.capacity().max(FIRST_READ_BUFFER).min(len - payload.len());
            payload.reserve_exact(grow);
        }
        let want = (len - payload.len()) as u64;
        let n = (&mut *r).take(want).read_buf(&mut payload).await?;
        if n == 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
        }
    }
    Ok(payload)
}

/// Read one frame's payload of at most [`MAX_FRAME`] bytes, waiting as long as it takes.
/// `Err(FrameError::Closed)` when the peer closed between frames. For a connection this side
/// opened and watches with its own deadlines; a server reads with [`read_frame_limited`].
pub async fn read_payload<R: AsyncRead + Unpin>(r: &mut R) -> Result<Vec<u8>, FrameError> {
    let first = next_frame_start(r).await?;
    read_rest(r, first, MAX_FRAME).await
}

/// Read and decode one frame (see [`read_payload`]).
pub async fn read_frame<R, T>(r: &mut R) -> Result<T, FrameError>
where
    R: AsyncRead + Unpin,
    T: DeserializeOwned,
{
    let payload = read_payload(r).await?;
    decode(&payload)
}

/// Read and decode one frame within `limits`: the wait for its first byte is unbounded, the
/// rest must come within `limits.frame_timeout`. (A server with an idle limit waits with
/// [`next_frame_start`] under its timeout, then reads with [`read_payload_after`]: only the
/// first is cancel safe.)
pub async fn read_frame_limited<R, T>(r: &mut R, limits: &FrameLimits) -> Result<T, FrameError>
where
    R: AsyncRead + Unpin,
    T: DeserializeOwned,
{
    let first = next_frame_start(r).await?;
    let payload = read_payload_after(r, first, limits).await?;
    decode(&payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    enum Msg {
        A(u64),
        B { name: Vec<u8>, flag: bool },
        C(String),
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
        assert!(matches!(read_frame::<_, Msg>(&mut r).await, Err(FrameError::TooLarge { .. })));
        // A port's own cap is below MAX_FRAME.
        let full = to_frame(&Msg::B { name: vec![1; 2000], flag: false }).unwrap();
        let mut r = &full[..];
        let err = read_frame_limited::<_, Msg>(&mut r, &FrameLimits::new(1000)).await.unwrap_err();
        assert!(matches!(err, FrameError::TooLarge { len, max: 1000 } if len > 1000), "{err:?}");
    }

    #[tokio::test]
    async fn a_frame_arriving_in_pieces_is_read_whole() {
        let msg = Msg::B { name: (0..300_000u32).map(|i| i as u8).collect(), flag: true };
        let full = to_frame(&msg).unwrap();
        let (mut tx, mut rx) = tokio::io::duplex(4096);
        let writer = tokio::spawn(async move {
            for piece in full.chunks(7000) {
                tx.write_all(piece).await.unwrap();
                tokio::task::yield_now().await;
            }
        });
        let got: Msg = read_frame_limited(&mut rx, &FrameLimits::default()).await.unwrap();
        assert_eq!(got, msg);
        writer.await.unwrap();
    }

    #[tokio::test]
    async fn a_stalled_half_frame_is_an_error_after_the_deadline() {
        let (mut tx, mut rx) = tokio::io::duplex(4096);
        let mut head = MAGIC.to_vec();
        head.extend_from_slice(&(60u32 << 20).to_be_bytes());
        head.extend_from_slice(&[0; 100]);
        tx.write_all(&head).await.unwrap();
        let limits = FrameLimits { max_frame: MAX_FRAME, frame_timeout: Duration::from_millis(200) };
        let err = read_frame_limited::<_, Msg>(&mut rx, &limits).await.unwrap_err();
        assert!(matches!(err, FrameError::Stalled(d) if d == Duration::from_millis(200)), "{err:?}");
        drop(tx);
    }

    #[tokio::test]
    async fn waiting_for_a_frame_start_takes_nothing_when_cancelled() {
        let (mut tx, mut rx) = tokio::io::duplex(64);
        let idle = tokio::time::timeout(Duration::from_millis(50), next_frame_start(&mut rx)).await;
        assert!(idle.is_err(), "nothing was sent");
        write_frame(&mut tx, &Msg::A(5)).await.unwrap();
        let got: Msg = read_frame(&mut rx).await.unwrap();
        assert_eq!(got, Msg::A(5));
    }

    #[tokio::test]
    async fn a_byte_that_cannot_start_a_frame_is_refused_at_once() {
        // The peer sent one wrong byte and waits: no reading of a header that never comes.
        let (mut tx, mut rx) = tokio::io::duplex(64);
        tx.write_all(b"G").await.unwrap();
        let err = read_frame_limited::<_, Msg>(&mut rx, &FrameLimits::default()).await.unwrap_err();
        assert!(matches!(err, FrameError::BadMagic(_)), "{err:?}");
        drop(tx);
    }

    #[tokio::test]
    async fn truncated_frame_is_an_error() {
        let full = to_frame(&Msg::B { name: vec![1; 100], flag: false }).unwrap();
        let mut r = &full[..50];
        let err = read_frame::<_, Msg>(&mut r).await.unwrap_err();
        assert!(matches!(err, FrameError::Io(_)), "{err:?}");
    }

    #[test]
    fn a_length_prefix_beyond_the_payload_claims_no_large_buffer() {
        // A 10-byte payload naming a 60 MiB byte string: refused by the budget derived from
        // the payload's size (1 MiB here), not allocated and then found short.
        let mut p = vec![2u8, 0xfc];
        p.extend_from_slice(&(60u32 << 20).to_le_bytes());
        p.extend_from_slice(b"abcd");
        let err = decode::<Msg>(&p).unwrap_err().to_string();
        assert!(err.to_lowercase().contains("limit"), "{err}");
        // A string really that long decodes.
        let big = Msg::C("x".repeat(3 << 20));
        assert_eq!(decode::<Msg>(&encode(&big).unwrap()).unwrap(), big);
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
