//! Attribute cache: the attributes the masters answered last, kept for a short TTL so the
//! kernel's repeated `getattr`s (after its own cache expired or was invalidated by a write)
//! need no round trip. Every mutation this mount makes drops the inodes it touches.
//!
//! An answer can be older than a drop that lands while it is on its way (a `getattr` to a
//! master racing a write of this mount): kept, it would serve the old size for a whole TTL,
//! and the kernel shrinks a file to a size it was told (an mmap past it then faults with
//! SIGBUS). So every drop bumps an epoch, a request takes a [`Ticket`] before it is sent,
//! and an answer is kept only when no drop happened since its ticket.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use proto::meta::{Attr, Ino};

use crate::epoch_map::EpochMap;
pub use crate::epoch_map::Ticket;

/// Past this many entries, expired ones are dropped (and everything, if that is not enough).
const MAX_ENTRIES: usize = 200_000;

/// Attributes by inode, each valid for `ttl` after it was answered.
pub struct AttrCache {
    ttl: Duration,
    map: Mutex<EpochMap<(Instant, Attr)>>,
}

impl AttrCache {
    pub fn new(ttl: Duration) -> Self {
        AttrCache { ttl, map: Mutex::new(EpochMap::default()) }
    }

    /// Take before sending a request whose answered attributes are to be kept.
    pub fn ticket(&self) -> Ticket {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).ticket()
    }

    /// The cached attributes of `ino`, if still fresh.
    pub fn get(&self, ino: Ino) -> Option<Attr> {
        if self.ttl.is_zero() {
            return None;
        }
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let (at, attr) = map.get(ino)?;
        (at.elapsed() < self.ttl).then(|| attr.clone())
    }

    /// Remember attributes a master answered to a request sent with `ticket`, unless this
    /// mount dropped anything since (then they may be older than what it knows), or the inode
    /// asks not to be cached (noattrcache, noowner).
    pub fn put(&self, ticket: Ticket, attr: &Attr) {
        if self.ttl.is_zero() || attr.attr_nocache() {
            self.forget(attr.ino);
            return;
        }
        let now = Instant::now();
        let mut guard = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let Some(map) = guard.insert_space(ticket) else { return };
        if map.len() >= MAX_ENTRIES {
            let ttl = self.ttl;
            map.retain(|_, (at, _)| now.duration_since(*at) < ttl);
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
        }
        map.insert(attr.ino, (now, attr.clone()));
    }

    /// Forget everything (after a change to inodes whose numbers we do not know).
    pub fn clear(&self) {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Forget `ino` (it changed, or may have).
    pub fn forget(&self, ino: Ino) {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).remove(ino);
    }
}

/// Extended attributes a master answered "no such attribute" (ENODATA) for, per inode, kept
/// for `mfsxattrcacheto`: the kernel asks for `security.capability` before every write to a
/// file, and this answers it without a round trip. This mount's own setxattr and removexattr
/// drop the inode; another mount's change is seen once the entry expires.
pub struct AbsentXattrs {
    ttl: Duration,
    map: Mutex<EpochMap<HashMap<Vec<u8>, Instant>>>,
}

impl AbsentXattrs {
    pub fn new(ttl: Duration) -> Self {
        AbsentXattrs { ttl, map: Mutex::new(EpochMap::default()) }
    }

    /// Take before asking a master for an extended attribute.
    pub fn ticket(&self) -> Ticket {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).ticket()
    }

    /// True when `name` of `ino` is known absent.
    pub fn is_absent(&self, ino: Ino, name: &[u8]) -> bool {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.get(ino).and_then(|names| names.get(name)).is_some_and(|at| at.elapsed() < self.ttl)
    }

    /// A master answered a request sent with `ticket` that `name` of `ino` does not exist;
    /// kept unless this mount changed extended attributes since.
    pub fn note_absent(&self, ticket: Ticket, ino: Ino, name: &[u8]) {
        if self.ttl.is_zero() {
            return;
        }
        let mut guard = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let Some(map) = guard.insert_space(ticket) else { return };
        if map.len() >= MAX_ENTRIES && !map.contains_key(&ino) {
            map.clear();
        }
        map.entry(ino).or_default().insert(name.to_vec(), Instant::now());
    }

    /// Forget what is known of `ino`'s attributes (this mount changes them).
    pub fn forget(&self, ino: Ino) {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).remove(ino);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::meta::{FileType, Timestamp};

    fn attr(ino: Ino, size: u64) -> Attr {
        Attr {
            ino,
            kind: FileType::File,
            perm: 0o644,
            nlink: 1,
            uid: 0,
            gid: 0,
            size,
            rdev: 0,
            atime: Timestamp::default(),
            mtime: Timestamp::default(),
            ctime: Timestamp::default(),
            goal: 1,
            trash_time: 0,
        }
    }

    #[test]
    fn entries_expire_and_are_forgotten() {
        let c = AttrCache::new(Duration::from_millis(50));
        c.put(c.ticket(), &attr(5, 10));
        assert_eq!(c.get(5).map(|a| a.size), Some(10));
        c.forget(5);
        assert!(c.get(5).is_none());
        c.put(c.ticket(), &attr(6, 1));
        std::thread::sleep(Duration::from_millis(60));
        assert!(c.get(6).is_none());
        let off = AttrCache::new(Duration::ZERO);
        off.put(off.ticket(), &attr(7, 1));
        assert!(off.get(7).is_none());
    }

    #[test]
    fn an_answer_older_than_a_drop_is_not_kept() {
        let c = AttrCache::new(Duration::from_secs(60));
        // A getattr goes out, a write of this mount drops the inode, the old answer arrives.
        let t = c.ticket();
        c.forget(5);
        c.put(t, &attr(5, 10));
        assert!(c.get(5).is_none(), "the answer may predate the write");
        c.put(c.ticket(), &attr(5, 20));
        assert_eq!(c.get(5).map(|a| a.size), Some(20));
        let x = AbsentXattrs::new(Duration::from_secs(60));
        let t = x.ticket();
        x.forget(5);
        x.note_absent(t, 5, b"user.a");
        assert!(!x.is_absent(5, b"user.a"), "a setxattr may have landed meanwhile");
    }

    #[test]
    fn absent_xattrs_expire_and_are_forgotten() {
        let c = AbsentXattrs::new(Duration::from_millis(50));
        c.note_absent(c.ticket(), 5, b"security.capability");
        assert!(c.is_absent(5, b"security.capability"));
        assert!(!c.is_absent(5, b"user.other"), "only the name answered");
        assert!(!c.is_absent(6, b"security.capability"));
        c.forget(5);
        assert!(!c.is_absent(5, b"security.capability"));
        c.note_absent(c.ticket(), 7, b"user.x");
        std::thread::sleep(Duration::from_millis(60));
        assert!(!c.is_absent(7, b"user.x"));
        let off = AbsentXattrs::new(Duration::ZERO);
        off.note_absent(off.ticket(), 8, b"user.x");
        assert!(!off.is_absent(8, b"user.x"));
    }
}
