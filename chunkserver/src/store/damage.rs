//! What is known to be wrong with the copies this chunkserver serves.
//!
//! Damage is per 64 KiB block: a block whose CRC does not match, or that cannot be read, is
//! *bad*: its bytes are never returned, every other block of the copy still serves, and the
//! leader has it rewritten from another copy (`RepairBlocks`). A copy is *unusable* as a whole
//! when its fsync failed (the kernel may have dropped what it had not written), a write failed
//! after stored bytes changed, its file could not be cut back after a failed write, or the
//! file is missing or not a chunk file: nothing of it is served. Damage never deletes a copy
//! here; the leader decides, and it keeps the last copy of every block.
//!
//! Entries follow the served copy of each chunk: they go when it is deleted or replaced, move
//! with it when it is renumbered, and lose a block when a write or a repair rewrites the block
//! whole or a truncate drops it. The book lives in memory: after a restart, reads and the
//! scrubber find bad blocks again.
//!
//! Reports to the master are never dropped: a chunk whose damage grew goes into a pending set
//! (one entry per chunk, so at most the chunks held); the master link sends the current state
//! of each while a leader is connected, and every registration carries the whole book.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use proto::cs::{CsError, DamageReport};
use tokio::sync::Notify;

use super::lock;

/// Known damage of one copy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CopyDamage {
    pub version: u32,
    /// Bad blocks.
    pub blocks: BTreeSet<u32>,
    /// Why the whole copy is unusable, if it is.
    pub unusable: Option<String>,
    /// The latest finding, for reports and the status page.
    pub reason: String,
}

impl CopyDamage {
    fn is_empty(&self) -> bool {
        self.blocks.is_empty() && self.unusable.is_none()
    }

    fn report(&self, id: u64) -> DamageReport {
        let blocks = if self.unusable.is_some() { Vec::new() } else { self.blocks.iter().copied().collect() };
        DamageReport { id, version: self.version, blocks, reason: self.reason.clone() }
    }
}

/// Counts for the metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DamageStats {
    /// Bad blocks over every copy.
    pub bad_blocks: u64,
    /// Copies with a bad block, or unusable.
    pub damaged_copies: u64,
    /// Copies unusable as a whole.
    pub unusable_copies: u64,
    /// Bad blocks and unusable copies found since the start.
    pub found: u64,
}

/// The damage of every copy, and the reports waiting for the master.
#[derive(Debug, Default)]
pub struct DamageBook {
    copies: Mutex<BTreeMap<u64, CopyDamage>>,
    /// Chunks whose damage grew since the master last heard of them.
    pending: Mutex<BTreeSet<u64>>,
    changed: Notify,
    found: AtomicU64,
}

impl DamageBook {
    // ---- Finding damage ----

    /// Blocks of copy (`id`, `version`) found bad `during` an operation. New ones are logged
    /// and queued for the master; returns how many were new.
    pub fn mark_blocks(&self, id: u64, version: u32, blocks: &[u32], during: &str, path: &Path) -> usize {
        if blocks.is_empty() {
            return 0;
        }
        let new: Vec<u32> = {
            let mut copies = lock(&self.copies);
            let d = entry(&mut copies, id, version);
            let new: Vec<u32> = blocks.iter().copied().filter(|b| d.blocks.insert(*b)).collect();
            if !new.is_empty() {
                d.reason =
                    format!("bad blocks {} (CRC mismatch or unreadable, found by {during})", block_list(&d.blocks));
            }
            new
        };
        if new.is_empty() {
            return 0;
        }
        tracing::warn!(
            chunk = format_args!("{id:016X}"),
            version,
            path = %path.display(),
            blocks = ?new,
            during,
            "CRC error: bad blocks found; the copy's other blocks still serve, the leader repairs it"
        );
        self.found.fetch_add(new.len() as u64, Ordering::Relaxed);
        self.queue(id);
        new.len()
    }

    /// Copy (`id`, `version`) can no longer be served at all (`why`). Logged and queued for
    /// the master when it is new; returns true then.
    pub fn mark_unusable(&self, id: u64, version: u32, why: &str, during: &str, path: &Path) -> bool {
        {
            let mut copies = lock(&self.copies);
            let d = entry(&mut copies, id, version);
            if d.unusable.is_some() {
                return false;
            }
            d.unusable = Some(why.to_string());
            d.reason = format!("unusable: {why} (during {during})");
        }
        tracing::error!(
            chunk = format_args!("{id:016X}"),
            version,
            path = %path.display(),
            reason = why,
            during,
            "copy taken out of service: none of it is served; the leader restores the goal from other copies"
        );
        self.found.fetch_add(1, Ordering::Relaxed);
        self.queue(id);
        true
    }

    fn queue(&self, id: u64) {
        lock(&self.pending).insert(id);
        self.changed.notify_one();
    }

    // ---- The copy changed ----

    /// The served copy of `id` was deleted or replaced by another.
    pub fn forget(&self, id: u64) {
        lock(&self.copies).remove(&id);
    }

    /// The served copy of `id` was renumbered: its damage stays with it.
    pub fn renumbered(&self, id: u64, version: u32) {
        if let Some(d) = lock(&self.copies).get_mut(&id) {
            d.version = version;
        }
    }

    /// Blocks `blocks` of `id` were written whole (a write or a repair): good again. Returns
    /// those that had been bad.
    pub fn rewritten(&self, id: u64, blocks: Range<u32>) -> Vec<u32> {
        let mut copies = lock(&self.copies);
        let Some(d) = copies.get_mut(&id) else { return Vec::new() };
        let healed: Vec<u32> = d.blocks.range(blocks).copied().collect();
        for b in &healed {
            d.blocks.remove(b);
        }
        if d.is_empty() {
            copies.remove(&id);
        }
        healed
    }

    /// `id` now stores `blocks` blocks: bad blocks past them are gone.
    pub fn cut(&self, id: u64, blocks: u32) {
        let mut copies = lock(&self.copies);
        let Some(d) = copies.get_mut(&id) else { return };
        d.blocks.retain(|b| *b < blocks);
        if d.is_empty() {
            copies.remove(&id);
        }
    }

    // ---- Questions ----

    /// `Unusable` when the copy of `id` is out of service.
    pub fn check_usable(&self, id: u64) -> Result<(), CsError> {
        match lock(&self.copies).get(&id).and_then(|d| d.unusable.clone()) {
            Some(why) => Err(CsError::Unusable(why)),
            None => Ok(()),
        }
    }

    /// The first known bad block of `id` in `blocks`.
    pub fn first_bad(&self, id: u64, blocks: Range<u32>) -> Option<u32> {
        lock(&self.copies).get(&id).and_then(|d| d.blocks.range(blocks).next().copied())
    }

    /// The known bad blocks of `id`.
    pub fn bad_blocks(&self, id: u64) -> BTreeSet<u32> {
        lock(&self.copies).get(&id).map(|d| d.blocks.clone()).unwrap_or_default()
    }

    /// True when the copy of `id` is out of service.
    pub fn is_unusable(&self, id: u64) -> bool {
        lock(&self.copies).get(&id).is_some_and(|d| d.unusable.is_some())
    }

    /// The damage of the copy of `id`, if any.
    pub fn get(&self, id: u64) -> Option<CopyDamage> {
        lock(&self.copies).get(&id).cloned()
    }

    /// Every damaged copy, by chunk id.
    pub fn all(&self) -> Vec<(u64, CopyDamage)> {
        lock(&self.copies).iter().map(|(id, d)| (*id, d.clone())).collect()
    }

    // ---- Reports ----

    /// Every damaged copy, as `Register` carries them.
    pub fn reports(&self) -> Vec<DamageReport> {
        lock(&self.copies).iter().map(|(id, d)| d.report(*id)).collect()
    }

    /// Forget what is pending (a registration is about to carry the whole book).
    pub fn clear_pending(&self) {
        lock(&self.pending).clear();
    }

    /// The current damage of every chunk whose damage grew since the last call, emptying the
    /// pending set. A chunk whose copy is gone (or whole again) meanwhile has nothing to say.
    pub fn take_pending(&self) -> Vec<DamageReport> {
        let ids = std::mem::take(&mut *lock(&self.pending));
        let copies = lock(&self.copies);
        ids.into_iter().filter_map(|id| copies.get(&id).map(|d| d.report(id))).collect()
    }

    /// Wait until something was queued (returns at once if something was queued since the
    /// last wait ended).
    pub async fn wait_pending(&self) {
        self.changed.notified().await
    }

    /// Counts for the metrics.
    /// The ids of the damaged copies.
    pub fn damaged_ids(&self) -> Vec<u64> {
        lock(&self.copies).keys().copied().collect()
    }

    pub fn stats(&self) -> DamageStats {
        let copies = lock(&self.copies);
        DamageStats {
            bad_blocks: copies.values().map(|d| d.blocks.len() as u64).sum(),
            damaged_copies: copies.len() as u64,
            unusable_copies: copies.values().filter(|d| d.unusable.is_some()).count() as u64,
            found: self.found.load(Ordering::Relaxed),
        }
    }
}

/// The entry of (`id`, `version`): a new one, or a fresh one if the book still held another
/// version's (the copy was replaced without the book hearing of it).
fn entry(copies: &mut BTreeMap<u64, CopyDamage>, id: u64, version: u32) -> &mut CopyDamage {
    let d = copies.entry(id).or_insert_with(|| CopyDamage { version, ..Default::default() });
    if d.version != version {
        *d = CopyDamage { version, ..Default::default() };
    }
    d
}

/// Blocks as a short list: `3, 7-9, 12`.
pub fn block_list(blocks: &BTreeSet<u32>) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut run: Option<(u32, u32)> = None;
    for &b in blocks {
        run = match run {
            Some((from, to)) if b == to + 1 => Some((from, b)),
            Some(r) => {
                out.push(run_text(r));
                Some((b, b))
            }
            None => Some((b, b)),
        };
    }
    if let Some(r) = run {
        out.push(run_text(r));
    }
    out.join(", ")
}

fn run_text((from, to): (u32, u32)) -> String {
    if from == to {
        from.to_string()
    } else {
        format!("{from}-{to}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "/disk/00/chunk";

    #[test]
    fn blocks_are_marked_once_and_reported_in_full() {
        let book = DamageBook::default();
        assert_eq!(book.mark_blocks(7, 2, &[5, 3], "read", Path::new(P)), 2);
        assert_eq!(book.mark_blocks(7, 2, &[3], "scrub", Path::new(P)), 0, "known: nothing new");
        assert_eq!(book.mark_blocks(7, 2, &[9, 3], "scrub", Path::new(P)), 1);
        assert_eq!(book.mark_blocks(8, 1, &[], "scrub", Path::new(P)), 0);
        assert!(book.get(8).is_none(), "nothing found, nothing recorded");
        assert_eq!(book.first_bad(7, 0..5), Some(3));
        assert_eq!(book.first_bad(7, 4..9), Some(5));
        assert_eq!(book.first_bad(7, 6..9), None);
        let pending = book.take_pending();
        assert_eq!(pending.len(), 1, "one report per chunk, merged");
        assert_eq!((pending[0].id, pending[0].version, pending[0].blocks.clone()), (7, 2, vec![3, 5, 9]));
        assert!(pending[0].reason.contains("3, 5, 9") && pending[0].reason.contains("scrub"), "{}", pending[0].reason);
        assert!(book.take_pending().is_empty());
        assert_eq!(book.stats(), DamageStats { bad_blocks: 3, damaged_copies: 1, unusable_copies: 0, found: 3 });
    }

    #[test]
    fn an_unusable_copy_reports_no_blocks_and_is_refused() {
        let book = DamageBook::default();
        book.mark_blocks(1, 1, &[4], "read", Path::new(P));
        assert!(book.mark_unusable(1, 1, "fsync failed: EIO", "close", Path::new(P)));
        assert!(!book.mark_unusable(1, 1, "again", "sync", Path::new(P)));
        assert!(matches!(book.check_usable(1), Err(CsError::Unusable(m)) if m.contains("fsync")));
        assert!(book.check_usable(2).is_ok());
        assert_eq!(book.reports()[0].blocks, Vec::<u32>::new(), "empty: the whole copy");
        assert_eq!(book.stats().unusable_copies, 1);
    }

    #[test]
    fn damage_follows_the_copy() {
        let book = DamageBook::default();
        book.mark_blocks(1, 1, &[2, 6, 8], "read", Path::new(P));
        book.renumbered(1, 2);
        assert_eq!(book.get(1).unwrap().version, 2);
        assert_eq!(book.rewritten(1, 0..7), vec![2, 6]);
        assert_eq!(book.bad_blocks(1), [8].into_iter().collect());
        book.cut(1, 8);
        assert!(book.get(1).is_none(), "truncated away: whole again");
        book.mark_blocks(3, 1, &[1], "read", Path::new(P));
        // A report of another version replaces what the book held.
        book.mark_blocks(3, 4, &[2], "read", Path::new(P));
        assert_eq!(book.bad_blocks(3), [2].into_iter().collect());
        book.forget(3);
        assert!(book.all().is_empty());
        // A report pending for a copy that went away says nothing.
        assert!(book.take_pending().is_empty());
    }

    #[test]
    fn pending_reports_never_overflow_or_drop() {
        // The old bounded queue dropped reports past 16,384; the pending set keeps one entry
        // per chunk however many findings arrive before a leader listens.
        let book = DamageBook::default();
        for round in 0..3u32 {
            for id in 0..20_000u64 {
                book.mark_blocks(id, 1, &[round], "scrub", Path::new(P));
            }
        }
        let reports = book.take_pending();
        assert_eq!(reports.len(), 20_000);
        assert!(reports.iter().all(|r| r.blocks == vec![0, 1, 2]));
    }

    #[test]
    fn block_lists_are_short() {
        let set = |v: &[u32]| v.iter().copied().collect::<BTreeSet<u32>>();
        assert_eq!(block_list(&set(&[3, 7, 8, 9, 12])), "3, 7-9, 12");
        assert_eq!(block_list(&set(&[])), "");
        assert_eq!(block_list(&set(&[0, 1])), "0-1");
    }
}
