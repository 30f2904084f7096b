//! The keys data tokens are signed with, and the tokens this master hands out while it leads.
//!
//! Each master makes its own random key at start and a new one every [`KEY_ROTATION`]; nothing
//! about them is replicated. A leader sends its current key to every chunkserver that
//! registers, and each new key to all of them, over the 9420 link (sealed with `AUTH_CODE`
//! when there is one). Chunkservers keep the keys they were given for `KEY_KEEP_SECS`, so a
//! token stays good for its whole lifetime across key rotations and leader changes
//! (a token from a leader that died is as good as it was: the leader issued it legitimately).

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use proto::token::{DataToken, TokenMode, KEY_ROTATION_SECS, TOKEN_KEY_LEN, TOKEN_LIFETIME_SECS};

const TOKEN_LIFETIME: Duration = Duration::from_secs(TOKEN_LIFETIME_SECS);
const KEY_ROTATION: Duration = Duration::from_secs(KEY_ROTATION_SECS);

/// One signing key.
#[derive(Clone, Copy)]
pub struct TokenKey {
    pub id: u64,
    pub key: [u8; TOKEN_KEY_LEN],
    made: Instant,
}

impl TokenKey {
    fn fresh() -> TokenKey {
        TokenKey { id: rand::random(), key: rand::random(), made: Instant::now() }
    }
}

/// This master's current key.
pub struct TokenKeys {
    current: Mutex<TokenKey>,
}

impl Default for TokenKeys {
    fn default() -> Self {
        TokenKeys { current: Mutex::new(TokenKey::fresh()) }
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl TokenKeys {
    /// The key to sign with now.
    pub fn current(&self) -> TokenKey {
        *self.current.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Make a new key when the current one is [`KEY_ROTATION`] old; returns it when it did
    /// (the caller sends it to every chunkserver).
    pub fn rotate_if_due(&self) -> Option<TokenKey> {
        let mut cur = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if cur.made.elapsed() < KEY_ROTATION {
            return None;
        }
        *cur = TokenKey::fresh();
        Some(*cur)
    }

    /// A token to read chunk `id` at `version` from any of its copies.
    pub fn read(&self, id: u64, version: u32) -> DataToken {
        let k = self.current();
        DataToken::sign(k.id, &k.key, id, version, TokenMode::Read, unix_now() + TOKEN_LIFETIME.as_secs(), Vec::new())
    }

    /// A token to write chunk `id` at `version` down `chain` (data addresses, in order).
    pub fn write(&self, id: u64, version: u32, chain: &[String]) -> DataToken {
        let k = self.current();
        let expires = unix_now() + TOKEN_LIFETIME.as_secs();
        DataToken::sign(k.id, &k.key, id, version, TokenMode::Write, expires, chain.to_vec())
    }
}

/// How often the leader checks whether its key is due for rotation.
const ROTATION_CHECK: Duration = Duration::from_secs(60);

/// Rotate the key every `KEY_ROTATION_SECS` and hand each new one to every connected
/// chunkserver (only a leader has any).
pub async fn rotation(svc: std::sync::Arc<super::ChunkService>) {
    let mut tick = tokio::time::interval(ROTATION_CHECK);
    loop {
        tick.tick().await;
        let Some(key) = svc.tokens.rotate_if_due() else { continue };
        let links = svc.registry().links();
        let sent = links.iter().filter(|l| l.send_token_key(key.id, &key.key)).count();
        tracing::info!(key = format_args!("{:x}", key.id), chunkservers = sent, "new data token key");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_signed_with_the_current_key_and_check_out() {
        let keys = TokenKeys::default();
        let k = keys.current();
        let t = keys.write(5, 2, &["a:1".into()]);
        assert_eq!(t.key_id, k.id);
        assert_eq!(t.check(&k.key, 5, 2, TokenMode::Write, unix_now(), 0), Ok(()));
        assert!(t.expires > unix_now() + TOKEN_LIFETIME.as_secs() - 60);
        let r = keys.read(5, 2);
        assert!(r.check(&k.key, 5, 2, TokenMode::Write, unix_now(), 0).is_err(), "a read token cannot write");
        assert!(keys.rotate_if_due().is_none(), "not due yet");
        const { assert!(proto::token::KEY_KEEP_SECS > TOKEN_LIFETIME_SECS + KEY_ROTATION_SECS) };
    }
}
