//! MooseFS 3.0's folder quotas: limits on what a folder's contents use (objects, length, size,
//! realsize), soft ones enforced once over for longer than the grace period, hard ones always.
//!
//! What each quota folder's contents use is kept as a running count ([`Quota::usage`]),
//! changed at the few places that change it: a name added to or removed from a folder
//! (`entries.rs` calls [`Namespace::charge_name`]) and a file whose length, chunks or goal change
//! ([`Namespace::charge_file`]). Each change goes up every folder above (through every name of a
//! hard-linked file, as MooseFS counts) to the quota folders on the way. With no quota at all
//! nothing is counted. The counts are derived: not in snapshots, counted again on load
//! ([`Namespace::recount_quotas`]); the limits and the time a soft limit was first passed are
//! stored (a snapshot section of their own, `sm_store`).

use proto::client::{OpResult, Reply};
use proto::meta::{Ino, Timestamp, CHUNK_SIZE, ROOT_INODE};
use proto::quota::{QuotaChange, QuotaInfo, Usage, DEFAULT_GRACE};
use proto::Errno;
use serde::{Deserialize, Serialize};

use super::inode::{Body, Inode};
use super::{Namespace, OpContext};

/// A chunk file's header, counted in its size as MooseFS does.
const CHUNK_HEAD: u64 = 8192;
/// A full chunk as quotas count it.
pub const FULL_CHUNK: u64 = CHUNK_SIZE + CHUNK_HEAD;

/// One folder's quota.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    /// Which of `limits` are set (`proto::quota` bits).
    pub flags: u8,
    /// Soft inodes, length, size, realsize, then the hard ones.
    pub limits: [u64; 8],
    /// Seconds over a soft limit before it refuses (0: [`DEFAULT_GRACE`]).
    pub grace: u32,
    /// Since when some soft limit has been passed (None: within every soft limit).
    pub over_since: Option<Timestamp>,
    /// What the folder's contents use now. Derived: counted again when a snapshot is loaded.
    #[serde(skip)]
    pub usage: Usage,
}

/// A change of usage, signed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delta(pub [i128; 4]);

impl Delta {
    pub fn of(u: Usage) -> Delta {
        Delta(u.values().map(i128::from))
    }

    pub fn between(before: Usage, after: Usage) -> Delta {
        let (b, a) = (before.values(), after.values());
        Delta([0, 1, 2, 3].map(|k| i128::from(a[k]) - i128::from(b[k])))
    }

    fn neg(self) -> Delta {
        Delta(self.0.map(|v| -v))
    }

    fn is_zero(&self) -> bool {
        self.0.iter().all(|v| *v == 0)
    }
}

fn apply(u: &mut Usage, d: Delta) {
    let add = |v: u64, by: i128| u64::try_from((i128::from(v) + by).max(0)).unwrap_or(u64::MAX);
    u.inodes = add(u.inodes, d.0[0]);
    u.length = add(u.length, d.0[1]);
    u.size = add(u.size, d.0[2]);
    u.realsize = add(u.realsize, d.0[3]);
}

/// The quota section of a snapshot: every quota, by folder.
pub type QuotaSection = Vec<(Ino, Quota)>;

impl Quota {
    fn grace(&self) -> u64 {
        u64::from(if self.grace == 0 { DEFAULT_GRACE } else { self.grace })
    }

    /// Some soft limit is passed (usage strictly above it).
    fn over_soft(&self) -> bool {
        let u = self.usage.values();
        (0..4).any(|k| self.flags & (1 << k) != 0 && u[k] > self.limits[k])
    }

    /// Start the grace period's clock when a soft limit is passed (stopped at the end of the
    /// operation if it is not passed any more: [`Namespace::settle_quota_clocks`], so a step
    /// within one operation, such as a rename's removal before its insertion, resets nothing).
    fn start_clock(&mut self, now: Timestamp) {
        if self.over_since.is_none() && self.over_soft() {
            self.over_since = Some(now);
        }
    }

    /// Start or stop the grace period's clock after a change.
    fn note_time(&mut self, now: Timestamp) {
        match (self.over_soft(), self.over_since) {
            (true, None) => self.over_since = Some(now),
            (false, Some(_)) => self.over_since = None,
            _ => {}
        }
    }

    /// The soft limits refuse: passed for longer than the grace period.
    pub fn soft_expired(&self, now: Timestamp) -> bool {
        self.over_since.is_some_and(|t| t.plus_secs(self.grace()) < now)
    }

    /// Would `d` pass a limit that refuses now? Only growing resources are checked; a usage
    /// equal to a limit is within it.
    fn refuses(&self, d: Delta, now: Timestamp) -> bool {
        let u = self.usage.values();
        let soft = self.soft_expired(now);
        (0..4).any(|k| {
            let grows = d.0[k] > 0;
            let after = i128::from(u[k]) + d.0[k];
            let hard = self.flags & (0x10 << k) != 0 && after > i128::from(self.limits[4 + k]);
            let soft = soft && self.flags & (1 << k) != 0 && after > i128::from(self.limits[k]);
            grows && (hard || soft)
        })
    }

    fn info(&self) -> QuotaInfo {
        QuotaInfo { flags: self.flags, limits: self.limits, grace: self.grace, usage: self.usage }
    }
}

impl Namespace {
    // ---- What one object uses ----

    /// What inode `ino` itself adds to the folders above one of its names (a folder: itself
    /// and everything below it, by names).
    pub(super) fn usage_of(&self, ino: Ino) -> Usage {
        let mut total = Usage::default();
        let mut stack = vec![ino];
        while let Some(cur) = stack.pop() {
            let Some(i) = self.inodes.get(&cur) else { continue };
            let own = own_usage(i);
            apply(&mut total, Delta::of(own));
            if let Some(d) = i.as_dir() {
                stack.extend(d.entries.values().map(|s| s.ino));
            }
        }
        total
    }

    /// The folders directly holding a name of `ino` (one per name; a folder's own parent).
    fn name_parents(&self, ino: Ino) -> Vec<Ino> {
        let Some(i) = self.inodes.get(&ino) else { return Vec::new() };
        if let Some(d) = i.as_dir() {
            return if ino == ROOT_INODE || i.nlink == 0 { Vec::new() } else { vec![d.parent] };
        }
        let extra = self.extra_parents.get(&ino).map(Vec::as_slice).unwrap_or(&[]);
        std::iter::once(i.parent).chain(extra.iter().copied()).filter(|&p| p != 0).collect()
    }

    /// The quota folders at or above folder `dir`, once per way up (a folder reached through
    /// two names of a file counts twice, but folders have one way up).
    fn quota_folders_from(&self, dir: Ino) -> Vec<Ino> {
        let mut out = Vec::new();
        let mut cur = dir;
        for _ in 0..=self.inodes.len() {
            if self.quotas.contains_key(&cur) {
                out.push(cur);
            }
            match self.inodes.get(&cur).and_then(|i| i.as_dir()) {
                Some(d) if cur != ROOT_INODE && d.parent != cur => cur = d.parent,
                _ => break,
            }
        }
        out
    }

    // ---- Keeping the counts ----

    /// A name of `child` was added to (`added`) or removed from folder `parent`.
    pub(super) fn charge_name(&mut self, parent: Ino, child: Ino, added: bool, now: Timestamp) {
        if self.quotas.is_empty() {
            return;
        }
        let d = Delta::of(self.usage_of(child));
        self.charge_from(parent, if added { d } else { d.neg() }, now);
    }

    /// What file `ino` uses now, for [`Namespace::charge_file`] after a change.
    pub(super) fn file_usage_now(&self, ino: Ino) -> Option<Usage> {
        if self.quotas.is_empty() {
            return None;
        }
        self.inodes.get(&ino).map(own_usage)
    }

    /// File `ino` changed (length, chunks, goal) from using `before`: every quota above each of
    /// its names follows.
    pub(super) fn charge_file(&mut self, ino: Ino, before: Option<Usage>, now: Timestamp) {
        let Some(before) = before else { return };
        let Some(after) = self.inodes.get(&ino).map(own_usage) else { return };
        let d = Delta::between(before, after);
        if d.is_zero() {
            return;
        }
        for parent in self.name_parents(ino) {
            self.charge_from(parent, d, now);
        }
    }

    fn charge_from(&mut self, dir: Ino, d: Delta, now: Timestamp) {
        for q in self.quota_folders_from(dir) {
            if let Some(quota) = self.quotas.get_mut(&q) {
                apply(&mut quota.usage, d);
                quota.start_clock(now);
            }
        }
    }

    /// After an operation: the clock of every quota back within its soft limits stops.
    pub(super) fn settle_quota_clocks(&mut self) {
        for q in self.quotas.values_mut() {
            if q.over_since.is_some() && !q.over_soft() {
                q.over_since = None;
            }
        }
    }

    /// Some folder has a quota.
    pub(super) fn has_quotas(&self) -> bool {
        !self.quotas.is_empty()
    }

    // ---- Checks before a change ----

    /// EDQUOT when adding `d` below folder `dir` passes a limit that refuses now.
    pub(super) fn quota_check_dir(&self, dir: Ino, d: Delta, now: Timestamp) -> Result<(), Errno> {
        if self.quotas.is_empty() {
            return Ok(());
        }
        for q in self.quota_folders_from(dir) {
            if self.quotas.get(&q).is_some_and(|quota| quota.refuses(d, now)) {
                return Err(Errno::EDQUOT);
            }
        }
        Ok(())
    }

    /// [`Namespace::quota_check_dir`] for a change `d` of file (or folder) `ino`, through every
    /// folder holding a name of it.
    pub(super) fn quota_check_inode(&self, ino: Ino, d: Delta, now: Timestamp) -> Result<(), Errno> {
        if self.quotas.is_empty() {
            return Ok(());
        }
        if self.inodes.get(&ino).is_some_and(Inode::is_dir) {
            return self.quota_check_dir(ino, d, now);
        }
        for parent in self.name_parents(ino) {
            self.quota_check_dir(parent, d, now)?;
        }
        Ok(())
    }

    /// A move of `moved` from folder `from` to folder `to`: the quotas above `to` and not above
    /// `from` gain what it uses.
    pub(super) fn quota_check_move(&self, moved: Ino, from: Ino, to: Ino, now: Timestamp) -> Result<(), Errno> {
        if self.quotas.is_empty() || from == to {
            return Ok(());
        }
        let old = self.quota_folders_from(from);
        let new: Vec<Ino> = self.quota_folders_from(to).into_iter().filter(|q| !old.contains(q)).collect();
        if new.is_empty() {
            return Ok(());
        }
        let d = Delta::of(self.usage_of(moved));
        for q in new {
            if self.quotas.get(&q).is_some_and(|quota| quota.refuses(d, now)) {
                return Err(Errno::EDQUOT);
            }
        }
        Ok(())
    }

    /// File `ino` grows to `length` (a truncate up): EDQUOT when its quotas refuse the longer
    /// length and the size its last chunk would take.
    pub(super) fn quota_check_grow(&self, ino: Ino, length: u64, now: Timestamp) -> Result<(), Errno> {
        if self.quotas.is_empty() {
            return Ok(());
        }
        let Some(i) = self.inodes.get(&ino) else { return Ok(()) };
        let before = own_usage(i);
        let Body::File { chunks } = &i.body else { return Ok(()) };
        let size = file_size(length, chunks.iter().map(|(index, _)| u64::from(index)));
        let after = Usage { inodes: 1, length, size, realsize: size * u64::from(i.goal) };
        self.quota_check_inode(ino, Delta::between(before, after), now)
    }

    /// A chunk of file `ino` at `index` is opened for writing: EDQUOT when its quotas refuse
    /// the worst case, as MooseFS estimates it (the chunk becomes full; past the end, the
    /// length reaches the chunk).
    pub fn chunk_write_quota(&self, ino: Ino, index: u32, now: Timestamp) -> Result<(), Errno> {
        if self.quotas.is_empty() {
            return Ok(());
        }
        let Some(i) = self.inodes.get(&ino) else { return Ok(()) };
        let Body::File { chunks } = &i.body else { return Ok(()) };
        let length = i.size;
        let index = u64::from(index);
        let last = length.saturating_sub(1) / CHUNK_SIZE;
        let empty = chunks.get(index as u32) == 0;
        let last_size = file_size(length, std::iter::once(last));
        let (length_diff, size_diff) = match index.cmp(&last) {
            std::cmp::Ordering::Less => (0, if empty { FULL_CHUNK } else { 0 }),
            std::cmp::Ordering::Equal => (0, if empty { FULL_CHUNK } else { FULL_CHUNK - last_size }),
            std::cmp::Ordering::Greater => ((index * CHUNK_SIZE).saturating_sub(length), FULL_CHUNK),
        };
        let goal = u64::from(i.goal);
        let d = Delta([0, i128::from(length_diff), i128::from(size_diff), i128::from(size_diff * goal)]);
        self.quota_check_inode(ino, d, now)
    }

    /// Undelete to a path through folder `dir`: EDQUOT when a quota above it is past its grace
    /// period (MooseFS checks no hard limit there).
    pub(super) fn quota_check_undelete(&self, dir: Ino, now: Timestamp) -> Result<(), Errno> {
        for q in self.quota_folders_from(dir) {
            if self.quotas.get(&q).is_some_and(|quota| quota.soft_expired(now)) {
                return Err(Errno::EDQUOT);
            }
        }
        Ok(())
    }

    /// What `df` of a mount rooted at `root` must respect: (usage, limit) of each byte limit
    /// of the quotas at and above it (MooseFS's `fsnodes_quota_fixspace`: realsize, size, then
    /// length; the lower of a soft and a hard limit).
    pub fn quota_space_limits(&self, root: Ino) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        for q in self.quota_folders_from(root) {
            let Some(quota) = self.quotas.get(&q) else { continue };
            let usage = quota.usage.values();
            for k in [3, 2, 1] {
                let soft = (quota.flags & (1 << k) != 0).then_some(quota.limits[k]);
                let hard = (quota.flags & (0x10 << k) != 0).then_some(quota.limits[4 + k]);
                if let Some(limit) = [soft, hard].into_iter().flatten().min() {
                    out.push((usage[k], limit));
                }
            }
        }
        out
    }

    // ---- The operations ----

    /// `mfsgetquota`: the quota of folder `ino` and its usage (no quota: all zero but usage).
    pub(super) fn get_quota(&self, ino: Ino) -> OpResult {
        let i = self.inode(ino)?;
        if !i.is_dir() {
            return Err(Errno::EPERM);
        }
        let info = match self.quotas.get(&ino) {
            Some(q) => q.info(),
            None => {
                let mut usage = self.usage_of(ino);
                usage.inodes = usage.inodes.saturating_sub(1);
                QuotaInfo { usage, ..QuotaInfo::default() }
            }
        };
        Ok(Reply::Quota(info))
    }

    /// `mfssetquota` / `mfsdelquota`: set the limits named (others stay) or remove them (the
    /// quota goes with its last limit). EPERM for a non-folder. Reply: the result.
    pub(super) fn set_quota(&mut self, ctx: &OpContext, ino: Ino, change: &QuotaChange) -> OpResult {
        let i = self.inode(ino)?;
        if !i.is_dir() {
            return Err(Errno::EPERM);
        }
        if change.flags == 0 {
            return self.get_quota(ino);
        }
        let mut quota = match self.quotas.remove(&ino) {
            Some(q) => q,
            None => {
                let mut usage = self.usage_of(ino);
                // The folder itself is not its own content.
                usage.inodes = usage.inodes.saturating_sub(1);
                Quota { usage, ..Quota::default() }
            }
        };
        if change.delete {
            quota.flags &= !change.flags;
        } else {
            quota.flags |= change.flags;
            for k in 0..8 {
                if change.flags & (1 << k) != 0 {
                    quota.limits[k] = change.limits[k];
                }
            }
            if change.grace != 0 {
                quota.grace = change.grace;
            }
        }
        for k in 0..8 {
            if quota.flags & (1 << k) == 0 {
                quota.limits[k] = 0;
            }
        }
        quota.note_time(ctx.now);
        if quota.flags == 0 {
            // Gone with its last limit: nothing of it is left to show but the usage.
            return Ok(Reply::Quota(QuotaInfo { usage: quota.usage, ..QuotaInfo::default() }));
        }
        let info = quota.info();
        self.quotas.insert(ino, quota);
        Ok(Reply::Quota(info))
    }

    /// A folder is gone: its quota with it.
    pub(super) fn forget_quota(&mut self, ino: Ino) {
        self.quotas.remove(&ino);
    }

    // ---- Snapshots ----

    /// Every quota, for a snapshot.
    pub fn quota_section(&self) -> QuotaSection {
        self.quotas.iter().map(|(ino, q)| (*ino, q.clone())).collect()
    }

    /// Put back the quotas of a loaded snapshot (those of folders that exist) and count usage.
    pub fn restore_quota_section(&mut self, section: QuotaSection) {
        self.quotas = section.into_iter().filter(|(ino, _)| self.inodes.get(ino).is_some_and(Inode::is_dir)).collect();
        self.recount_quotas();
    }

    /// Count every quota folder's usage from the tree.
    pub fn recount_quotas(&mut self) {
        let folders: Vec<Ino> = self.quotas.keys().copied().collect();
        for ino in folders {
            let mut usage = self.usage_of(ino);
            usage.inodes = usage.inodes.saturating_sub(1);
            if let Some(q) = self.quotas.get_mut(&ino) {
                q.usage = usage;
            }
        }
    }
}

/// What one inode uses by itself (MooseFS's `fsnodes_get_stats` for a single node).
pub fn own_usage(i: &Inode) -> Usage {
    match &i.body {
        Body::File { chunks } => {
            let size = file_size(i.size, chunks.iter().map(|(index, _)| u64::from(index)));
            Usage { inodes: 1, length: i.size, size, realsize: size * u64::from(i.goal) }
        }
        Body::Symlink { target } => Usage { inodes: 1, length: target.len() as u64, ..Usage::default() },
        _ => Usage { inodes: 1, ..Usage::default() },
    }
}

/// The size quotas count for a file of `length` bytes with chunks at `indexes`: a full chunk
/// before the last one, the last one's bytes rounded up to 64 KiB, each with its 8 KiB head;
/// nothing for a hole or a chunk past the end.
pub fn file_size(length: u64, indexes: impl Iterator<Item = u64>) -> u64 {
    let last = length.saturating_sub(1) / CHUNK_SIZE;
    let in_last = if length == 0 { 0 } else { (length - 1) % CHUNK_SIZE + 1 };
    let last_size = in_last.div_ceil(65536) * 65536 + CHUNK_HEAD;
    indexes
        .map(|k| match k.cmp(&last) {
            std::cmp::Ordering::Less => FULL_CHUNK,
            std::cmp::Ordering::Equal => last_size,
            std::cmp::Ordering::Greater => 0,
        })
        .sum()
}

/// Clamp `df`'s total and available bytes by [`Namespace::quota_space_limits`], as MooseFS does.
pub fn fix_space(limits: &[(u64, u64)], total: &mut u64, avail: &mut u64) {
    for &(usage, limit) in limits {
        *avail = if usage >= limit { 0 } else { (*avail).min(limit - usage) };
        *total = (*total).min(limit).min(usage.saturating_add(*avail));
    }
}
