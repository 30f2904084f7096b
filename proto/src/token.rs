//! Data tokens: the leader's signed permission to read or write one chunk version on the data
//! port (9422), modelled on HDFS's block access tokens.
//!
//! The leader signs each token with a key it generated and handed to the chunkservers over their
//! authenticated link (sealed with `AUTH_CODE` when there is one). A chunkserver serves a data
//! request only with a valid token: right key, right chunk and version, a mode that covers the
//! request, not expired; a write is forwarded only to the chain members the token names, so a
//! client cannot make a chunkserver push data to a host of its choosing.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Bytes of a token key.
pub const TOKEN_KEY_LEN: usize = 32;

/// Bytes of a token's MAC (HMAC-SHA256, truncated: forging one still takes 2^128 tries).
pub const TOKEN_MAC_LEN: usize = 16;

/// Longest chain a write token may name.
pub const MAX_TOKEN_SERVERS: usize = 16;

/// How long a token is good for (seconds). Long enough for a slow writer to finish a chunk on
/// one token; a client that meets an expired one asks the leader again.
pub const TOKEN_LIFETIME_SECS: u64 = 6 * 3600;
/// How often a master makes a new signing key (seconds).
pub const KEY_ROTATION_SECS: u64 = 3600;
/// How long a chunkserver keeps a key it was given (seconds): every token signed with it has
/// expired by then, clock skew included.
pub const KEY_KEEP_SECS: u64 = TOKEN_LIFETIME_SECS + KEY_ROTATION_SECS + CLOCK_SKEW_SECS;
/// Clock difference allowed between a leader and a chunkserver when checking expiry (seconds).
pub const CLOCK_SKEW_SECS: u64 = 600;
/// Most keys a chunkserver keeps (a leader change or a rotation adds one; a flood of them from
/// a confused master must not grow without bound).
pub const MAX_KEYS: usize = 64;

/// What a token allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenMode {
    /// Read and Info.
    Read,
    /// Write, Truncate and Sync, down the chain named in the token; reads too.
    Write,
}

/// A leader's permission for one chunk version.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataToken {
    /// Which of the leaders' keys signed it.
    pub key_id: u64,
    pub chunk_id: u64,
    pub version: u32,
    pub mode: TokenMode,
    /// Unix time (seconds) after which it is refused.
    pub expires: u64,
    /// For a write: the chain (data addresses) the leader chose, in order. Empty for reads.
    pub servers: Vec<String>,
    pub mac: [u8; TOKEN_MAC_LEN],
}

impl std::fmt::Debug for DataToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "token(key {:x}, chunk {:016X} v{}, {:?}, expires {})",
            self.key_id, self.chunk_id, self.version, self.mode, self.expires
        )
    }
}

/// Why a token is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("no data token")]
    Missing,
    #[error("data token signed with an unknown key")]
    UnknownKey,
    #[error("data token does not match its signature")]
    BadMac,
    #[error("data token is for another chunk or version")]
    WrongChunk,
    #[error("data token does not allow this operation")]
    WrongMode,
    #[error("data token expired")]
    Expired,
    #[error("{0} is not a member of the token's chain")]
    NotInChain(String),
}

type HmacSha256 = Hmac<Sha256>;

fn mac_of(key: &[u8; TOKEN_KEY_LEN], t: &DataToken) -> [u8; TOKEN_MAC_LEN] {
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(b"raftmfs data token v1");
    mac.update(&t.key_id.to_be_bytes());
    mac.update(&t.chunk_id.to_be_bytes());
    mac.update(&t.version.to_be_bytes());
    mac.update(&[match t.mode {
        TokenMode::Read => 1,
        TokenMode::Write => 2,
    }]);
    mac.update(&t.expires.to_be_bytes());
    mac.update(&(t.servers.len() as u64).to_be_bytes());
    for s in &t.servers {
        mac.update(&(s.len() as u64).to_be_bytes());
        mac.update(s.as_bytes());
    }
    let full = mac.finalize().into_bytes();
    let mut out = [0u8; TOKEN_MAC_LEN];
    out.copy_from_slice(&full[..TOKEN_MAC_LEN]);
    out
}

impl DataToken {
    /// A token signed with key `key_id`.
    pub fn sign(
        key_id: u64,
        key: &[u8; TOKEN_KEY_LEN],
        chunk_id: u64,
        version: u32,
        mode: TokenMode,
        expires: u64,
        servers: Vec<String>,
    ) -> DataToken {
        let mut t = DataToken { key_id, chunk_id, version, mode, expires, servers, mac: [0; TOKEN_MAC_LEN] };
        t.mac = mac_of(key, &t);
        t
    }

    /// Check this token against `key` (the key its `key_id` names) for an operation of
    /// `mode` on `chunk_id`/`version` at unix time `now`, allowing `skew` seconds of clock
    /// difference between the leader and this server.
    pub fn check(
        &self,
        key: &[u8; TOKEN_KEY_LEN],
        chunk_id: u64,
        version: u32,
        mode: TokenMode,
        now: u64,
        skew: u64,
    ) -> Result<(), TokenError> {
        let expected = mac_of(key, self);
        // Constant time: no early exit on the first differing byte.
        if expected.iter().zip(&self.mac).fold(0u8, |acc, (a, b)| acc | (a ^ b)) != 0 {
            return Err(TokenError::BadMac);
        }
        if self.chunk_id != chunk_id || self.version != version {
            return Err(TokenError::WrongChunk);
        }
        if mode == TokenMode::Write && self.mode != TokenMode::Write {
            return Err(TokenError::WrongMode);
        }
        if now > self.expires.saturating_add(skew) {
            return Err(TokenError::Expired);
        }
        Ok(())
    }

    /// For a write arriving at chain member `me` and to be forwarded to `rest`: every one of
    /// them must be a member the token names.
    pub fn check_chain(&self, me: &str, rest: &[String]) -> Result<(), TokenError> {
        for addr in std::iter::once(me).chain(rest.iter().map(String::as_str)) {
            if !self.servers.iter().any(|s| s == addr) {
                return Err(TokenError::NotInChain(addr.to_string()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(mode: TokenMode) -> DataToken {
        DataToken::sign(7, &[9; 32], 100, 3, mode, 1000, vec!["a:1".into(), "b:1".into()])
    }

    #[test]
    fn a_token_holds_for_its_chunk_version_mode_and_time_only() {
        let k = [9u8; 32];
        let w = token(TokenMode::Write);
        assert_eq!(w.check(&k, 100, 3, TokenMode::Write, 900, 0), Ok(()));
        assert_eq!(w.check(&k, 100, 3, TokenMode::Read, 900, 0), Ok(()), "a writer may read");
        assert_eq!(w.check(&[8; 32], 100, 3, TokenMode::Write, 900, 0), Err(TokenError::BadMac));
        assert_eq!(w.check(&k, 101, 3, TokenMode::Write, 900, 0), Err(TokenError::WrongChunk));
        assert_eq!(w.check(&k, 100, 4, TokenMode::Write, 900, 0), Err(TokenError::WrongChunk));
        assert_eq!(w.check(&k, 100, 3, TokenMode::Write, 1001, 0), Err(TokenError::Expired));
        assert_eq!(w.check(&k, 100, 3, TokenMode::Write, 1001, 60), Ok(()), "within the clock skew");
        let r = token(TokenMode::Read);
        assert_eq!(r.check(&k, 100, 3, TokenMode::Write, 900, 0), Err(TokenError::WrongMode));
        // Any change to a signed field breaks the MAC.
        for t in [
            DataToken { expires: 5000, ..w.clone() },
            DataToken { mode: TokenMode::Write, ..r.clone() },
            DataToken { servers: vec!["a:1".into(), "evil:1".into()], ..w.clone() },
            DataToken { key_id: 8, ..w.clone() },
        ] {
            assert_eq!(t.check(&k, t.chunk_id, t.version, TokenMode::Read, 900, 0), Err(TokenError::BadMac), "{t:?}");
        }
    }

    #[test]
    fn a_write_goes_only_down_the_chain_the_leader_named() {
        let w = token(TokenMode::Write);
        assert_eq!(w.check_chain("a:1", &["b:1".into()]), Ok(()));
        assert_eq!(w.check_chain("b:1", &[]), Ok(()));
        assert_eq!(w.check_chain("a:1", &["evil:1".into()]), Err(TokenError::NotInChain("evil:1".into())));
        assert_eq!(w.check_chain("c:1", &[]), Err(TokenError::NotInChain("c:1".into())));
    }
}
