//! `#[serde(with = "crate::bytes")]` for `Vec<u8>` fields that carry data.
//!
//! serde serializes a `Vec<u8>` as a sequence, one element at a time, and bincode then encodes
//! and decodes it byte by byte (a call and a limit check per byte): a 4 MiB write cost
//! milliseconds of CPU at every hop of a chunk chain. As bytes, bincode copies the whole
//! buffer at once. The encoding is the same either way (a length, then the raw bytes), so
//! both ends may differ in which they use.

use serde::de::{Error, SeqAccess, Visitor};
use serde::{Deserializer, Serializer};

pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_bytes(v)
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    d.deserialize_byte_buf(BytesVisitor)
}

struct BytesVisitor;

impl<'de> Visitor<'de> for BytesVisitor {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("bytes")
    }

    fn visit_bytes<E: Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
        Ok(v.to_vec())
    }

    fn visit_byte_buf<E: Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
        Ok(v)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
        // Self-describing formats (JSON) may hand bytes over as a sequence.
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
        while let Some(b) = seq.next_element::<u8>()? {
            out.push(b);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct AsSeq {
        a: u32,
        data: Vec<u8>,
    }

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct AsBytes {
        a: u32,
        #[serde(with = "crate::bytes")]
        data: Vec<u8>,
    }

    #[test]
    fn same_encoding_as_a_sequence_both_ways() {
        for len in [0usize, 1, 250, 251, 70_000] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let seq = crate::frame::encode(&AsSeq { a: 9, data: data.clone() }).unwrap();
            let bytes = crate::frame::encode(&AsBytes { a: 9, data: data.clone() }).unwrap();
            assert_eq!(seq, bytes, "length {len}");
            let back: AsBytes = crate::frame::decode(&seq).unwrap();
            assert_eq!(back.data, data);
            let back: AsSeq = crate::frame::decode(&bytes).unwrap();
            assert_eq!(back.data, data);
        }
    }

    #[test]
    fn a_length_past_the_input_is_an_error() {
        let mut enc = crate::frame::encode(&AsBytes { a: 1, data: vec![5; 300] }).unwrap();
        enc.truncate(enc.len() - 10);
        assert!(crate::frame::decode::<AsBytes>(&enc).is_err());
        // A length of about 2^60 (varint: 253, then eight bytes) is refused before any allocation.
        let huge = [1u8, 253, 0, 0, 0, 0, 0, 0, 0, 0x10];
        assert!(crate::frame::decode::<AsBytes>(&huge).is_err());
    }
}
