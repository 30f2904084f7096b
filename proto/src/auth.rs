//! Proofs of a shared secret (`AUTH_CODE`) without sending it: challenge and answer for the
//! chunkserver link (9420) and between Raft peers (9419).
//!
//! Each side sends [`NONCE_LEN`] random bytes; each proves knowledge of the code with an
//! HMAC-SHA256 over both nonces and a label naming the direction ("the chunkserver to the
//! master", "the master to the chunkserver", ...). The label keeps a proof made in one
//! direction from being replayed in the other (a stranger cannot get a master to answer its
//! own challenge for it), and both nonces make every proof good for one connection only.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Random bytes each side of a handshake sends.
pub const NONCE_LEN: usize = 32;

/// An HMAC-SHA256 proof.
pub type Proof = [u8; 32];

/// Who proves to whom: part of what is signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    ChunkserverToMaster,
    MasterToChunkserver,
    RaftClientToServer,
    RaftServerToClient,
}

impl Direction {
    fn label(self) -> &'static [u8] {
        match self {
            Direction::ChunkserverToMaster => b"raftmfs auth: chunkserver to master",
            Direction::MasterToChunkserver => b"raftmfs auth: master to chunkserver",
            Direction::RaftClientToServer => b"raftmfs auth: raft client to server",
            Direction::RaftServerToClient => b"raftmfs auth: raft server to client",
        }
    }
}

/// The HMAC key of a code: its SHA-256, so the code itself is never a key of anything else.
fn key(code: &str) -> [u8; 32] {
    Sha256::digest(code.as_bytes()).into()
}

/// The proof that the sender of `dir` knows `code`, for a handshake whose nonces are
/// `challenger` (sent by the side that checks the proof) and `prover` (sent by the prover).
pub fn prove(code: &str, dir: Direction, challenger: &[u8; NONCE_LEN], prover: &[u8; NONCE_LEN]) -> Proof {
    // A key of any length is accepted by HMAC; this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(&key(code)) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(dir.label());
    mac.update(challenger);
    mac.update(prover);
    mac.finalize().into_bytes().into()
}

/// True when `proof` is what [`prove`] gives for these inputs, compared in constant time.
pub fn verify(
    code: &str,
    dir: Direction,
    challenger: &[u8; NONCE_LEN],
    prover: &[u8; NONCE_LEN],
    proof: &[u8],
) -> bool {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&key(code)) else {
        return false;
    };
    mac.update(dir.label());
    mac.update(challenger);
    mac.update(prover);
    mac.verify_slice(proof).is_ok()
}

/// A keystream block for sealing a short secret (a data token key) sent on an authenticated
/// link: SHA-256 of the code's key, both nonces of the handshake and a counter. XOR with it
/// hides the secret from anyone without the code; the proofs already authenticate the link.
pub fn seal(code: &str, challenger: &[u8; NONCE_LEN], prover: &[u8; NONCE_LEN], secret: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(secret.len());
    for (block, chunk) in secret.chunks(32).enumerate() {
        let mut h = Sha256::new();
        h.update(b"raftmfs seal");
        h.update(key(code));
        h.update(challenger);
        h.update(prover);
        h.update((block as u64).to_be_bytes());
        let ks: [u8; 32] = h.finalize().into();
        out.extend(chunk.iter().zip(ks.iter()).map(|(a, b)| a ^ b));
    }
    out
}

/// The reverse of [`seal`] (the same operation).
pub fn unseal(code: &str, challenger: &[u8; NONCE_LEN], prover: &[u8; NONCE_LEN], sealed: &[u8]) -> Vec<u8> {
    seal(code, challenger, prover, sealed)
}

/// Fresh random bytes for a handshake.
pub fn nonce() -> [u8; NONCE_LEN] {
    rand::random()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proof_holds_for_its_code_direction_and_nonces_only() {
        let (a, b) = ([1u8; NONCE_LEN], [2u8; NONCE_LEN]);
        let p = prove("secret", Direction::ChunkserverToMaster, &a, &b);
        assert!(verify("secret", Direction::ChunkserverToMaster, &a, &b, &p));
        assert!(!verify("Secret", Direction::ChunkserverToMaster, &a, &b, &p), "another code");
        assert!(!verify("secret", Direction::MasterToChunkserver, &a, &b, &p), "the other direction");
        assert!(!verify("secret", Direction::ChunkserverToMaster, &b, &a, &p), "nonces swapped");
        assert!(!verify("secret", Direction::ChunkserverToMaster, &a, &b, &p[..31]), "cut short");
    }

    #[test]
    fn sealing_round_trips_and_hides_the_secret() {
        let (a, b) = (nonce(), nonce());
        let secret: Vec<u8> = (0..48).collect();
        let sealed = seal("code", &a, &b, &secret);
        assert_ne!(sealed, secret);
        assert_eq!(unseal("code", &a, &b, &sealed), secret);
        assert_ne!(unseal("other", &a, &b, &sealed), secret);
    }
}
