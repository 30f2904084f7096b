//! bincode 2 (serde mode, `config::standard()`) encoding shared by the log store and the
//! snapshot files.
//!
//! Decoding must never take the process down on corrupt bytes. bincode with the plain standard
//! configuration allocates a string or byte buffer of whatever length prefix it reads *before*
//! checking that the input holds that many bytes, so a corrupt prefix such as 2^60 would abort
//! the process on allocation failure. Decoding therefore uses a byte limit derived from the
//! input length (the limit is only a decode-time check; the encoding is exactly
//! `config::standard()`).

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::StoreError;

/// Serializes `value` with bincode's standard configuration.
pub fn encode<T: Serialize>(what: &'static str, value: &T) -> Result<Vec<u8>, StoreError> {
    bincode::serde::encode_to_vec(value, bincode::config::standard())
        .map_err(|source| StoreError::Encode { what, source })
}

/// Deserializes a whole `bytes` slice (trailing bytes are an error).
pub fn decode<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T, StoreError> {
    // bincode counts decoded bytes by their in-memory size (a one-byte varint u64 claims 8,
    // a u128 16), so a valid value of `n` encoded bytes never claims more than ~16 * n. Pick
    // the smallest power-of-16 tier above 32 * n; a bogus length prefix beyond the tier is
    // rejected before anything is allocated.
    let need = bytes.len().saturating_mul(32);
    let res = if need <= 1 << 20 {
        decode_limited::<T, { 1 << 20 }>(bytes)
    } else if need <= 1 << 24 {
        decode_limited::<T, { 1 << 24 }>(bytes)
    } else if need <= 1 << 28 {
        decode_limited::<T, { 1 << 28 }>(bytes)
    } else if need <= 1 << 32 {
        decode_limited::<T, { 1 << 32 }>(bytes)
    } else {
        decode_limited::<T, { 1 << 40 }>(bytes)
    };
    let (value, used) = res.map_err(|source| StoreError::Decode { what, source })?;
    if used != bytes.len() {
        return Err(StoreError::corrupt(what, format!("{} trailing bytes after the value", bytes.len() - used)));
    }
    Ok(value)
}

fn decode_limited<T: DeserializeOwned, const LIMIT: usize>(
    bytes: &[u8],
) -> Result<(T, usize), bincode::error::DecodeError> {
    bincode::serde::decode_from_slice(bytes, bincode::config::standard().with_limit::<LIMIT>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let v: (u64, String, Vec<u8>) = (7, "x".repeat(1000), vec![1; 5000]);
        let bytes = encode("t", &v).unwrap();
        let back: (u64, String, Vec<u8>) = decode("t", &bytes).unwrap();
        assert_eq!(v, back);
    }

    #[test]
    fn huge_length_prefix_is_an_error_not_an_abort() {
        // varint marker 0xfd = u64 follows: a string claiming 2^60 bytes.
        let mut bytes = vec![0xfd];
        bytes.extend_from_slice(&(1u64 << 60).to_le_bytes());
        bytes.extend_from_slice(b"abc");
        assert!(decode::<String>("t", &bytes).is_err());
        assert!(decode::<Vec<u8>>("t", &bytes).is_err());
    }

    #[test]
    fn trailing_bytes_are_an_error() {
        let mut bytes = encode("t", &5u64).unwrap();
        bytes.push(0);
        assert!(matches!(decode::<u64>("t", &bytes), Err(StoreError::Corrupt { .. })));
    }
}
