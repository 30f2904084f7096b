//! The data token keys this chunkserver was given by leaders, and the check every data request
//! passes (`proto::token`): the data port serves nothing without a token a leader signed.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use proto::token::{DataToken, TokenError, TokenMode, CLOCK_SKEW_SECS, KEY_KEEP_SECS, MAX_KEYS, TOKEN_KEY_LEN};

/// One key, and when it came.
struct Key {
    id: u64,
    key: [u8; TOKEN_KEY_LEN],
    got: Instant,
}

/// The keys of the leaders this server registered with.
#[derive(Default)]
pub struct KeyRing {
    keys: Mutex<Vec<Key>>,
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl KeyRing {
    /// A key from the leader (at registration or a rotation). Keys older than `KEY_KEEP_SECS`
    /// are dropped, and at most `MAX_KEYS` are kept (the oldest go first).
    pub fn add(&self, id: u64, key: [u8; TOKEN_KEY_LEN]) {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        let keep = Duration::from_secs(KEY_KEEP_SECS);
        keys.retain(|k| k.got.elapsed() < keep && k.id != id);
        keys.push(Key { id, key, got: Instant::now() });
        if keys.len() > MAX_KEYS {
            let extra = keys.len() - MAX_KEYS;
            keys.drain(..extra);
        }
    }

    /// How many keys are held.
    pub fn len(&self) -> usize {
        self.keys.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A read token for this server's own reads from other chunkservers (a replication or a
    /// repair the leader commanded over the authenticated link), signed with the newest key:
    /// any server holding the keys could sign one (HMAC keys verify and sign alike), so this
    /// grants nothing a member does not already have. `None` before any key came.
    pub fn mint_read(&self, chunk_id: u64, version: u32) -> Option<DataToken> {
        let keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        let k = keys.last()?;
        let expires = unix_now() + proto::token::TOKEN_LIFETIME_SECS;
        Some(DataToken::sign(k.id, &k.key, chunk_id, version, TokenMode::Read, expires, Vec::new()))
    }

    /// Check `token` for an operation of `mode` on `chunk_id` at `version`.
    pub fn check(
        &self,
        token: Option<&DataToken>,
        chunk_id: u64,
        version: u32,
        mode: TokenMode,
    ) -> Result<(), TokenError> {
        let token = token.ok_or(TokenError::Missing)?;
        let key = {
            let keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
            let keep = Duration::from_secs(KEY_KEEP_SECS);
            keys.iter().find(|k| k.id == token.key_id && k.got.elapsed() < keep).map(|k| k.key)
        };
        let key = key.ok_or(TokenError::UnknownKey)?;
        token.check(&key, chunk_id, version, mode, unix_now(), CLOCK_SKEW_SECS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tokens_of_known_keys_pass() {
        let ring = KeyRing::default();
        let t = DataToken::sign(1, &[7; 32], 9, 1, TokenMode::Read, unix_now() + 60, vec![]);
        assert_eq!(ring.check(Some(&t), 9, 1, TokenMode::Read), Err(TokenError::UnknownKey));
        assert_eq!(ring.check(None, 9, 1, TokenMode::Read), Err(TokenError::Missing));
        ring.add(1, [7; 32]);
        assert_eq!(ring.check(Some(&t), 9, 1, TokenMode::Read), Ok(()));
        // The same id again replaces the key (a master never reuses an id for another key).
        ring.add(1, [8; 32]);
        assert_eq!(ring.len(), 1);
        assert_eq!(ring.check(Some(&t), 9, 1, TokenMode::Read), Err(TokenError::BadMac));
        for id in 2..(MAX_KEYS as u64 + 10) {
            ring.add(id, [0; 32]);
        }
        assert_eq!(ring.len(), MAX_KEYS, "bounded");
    }
}
