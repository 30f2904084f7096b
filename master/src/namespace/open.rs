//! Open-file references: open, release, and dropping a whole session's references.
//!
//! An open reference keeps an inode alive after its last name is removed ("sustained", as
//! MooseFS calls it), so a program can go on using a file it has open.

use proto::client::{OpResult, Reply};
use proto::meta::Ino;
use proto::Errno;

use super::perm::{self, R, W};
use super::{guard, Namespace, OpContext};

/// `O_ACCMODE`: the access-mode bits of open flags.
const O_ACCMODE: i32 = 0o3;
/// `O_WRONLY` access mode.
const O_WRONLY: i32 = 0o1;
/// `O_RDONLY` access mode.
const O_RDONLY: i32 = 0o0;
/// `O_TRUNC`: truncate a regular file to 0 on open (needs write permission).
const O_TRUNC: i32 = 0o1000;

impl Namespace {
    /// `open`: check access for `flags`, truncate on `O_TRUNC`, record an open reference.
    /// An immutable file opens for reading only, an appendonly one without `O_TRUNC` (EPERM);
    /// writes to an appendonly file go to its end (the mount sees the flag in the reply).
    pub(super) fn open(&mut self, ctx: &OpContext, ino: Ino, flags: i32) -> OpResult {
        let inode = self.inode(ino)?;
        let mut mask = match flags & O_ACCMODE {
            O_RDONLY => R,
            O_WRONLY => W,
            _ => R | W,
        };
        let truncate = flags & O_TRUNC != 0;
        if truncate {
            mask |= W;
        }
        if inode.is_dir() && mask & W != 0 {
            return Err(Errno::EISDIR);
        }
        if mask & W != 0 {
            guard::changeable(inode)?;
        }
        if truncate {
            guard::resizable(inode)?;
        }
        perm::check(&ctx.creds, inode, mask)?;
        if truncate && inode.is_file() {
            let root = ctx.creds.is_root();
            self.set_file_size(ino, 0, ctx.now);
            let now = ctx.now;
            self.with_inode(ino, |i| {
                if !root {
                    i.perm = perm::drop_privileges(i.perm);
                }
                i.touch(now);
            });
        }
        self.add_open_ref(ctx.session, ino);
        Ok(Reply::Attr(self.attr(ino)?))
    }

    /// `release`: drop one open reference of the session. Never fails: releasing what is
    /// not open is a no-op.
    pub(super) fn release(&mut self, ctx: &OpContext, ino: Ino) -> OpResult {
        let key = (ctx.session, ino);
        let Some(count) = self.open_refs.get_mut(&key) else {
            return Ok(Reply::Done);
        };
        *count -= 1;
        if *count == 0 {
            self.open_refs.remove(&key);
        }
        self.uncount_open(ino, 1);
        self.free_if_unreferenced(ino);
        Ok(Reply::Done)
    }

    /// Drop every reference `session` holds; free what only those kept alive.
    pub(super) fn release_all_of_session(&mut self, session: u64) {
        let refs: Vec<((u64, Ino), u32)> =
            self.open_refs.range((session, Ino::MIN)..=(session, Ino::MAX)).map(|(k, v)| (*k, *v)).collect();
        for ((_, ino), count) in refs {
            self.open_refs.remove(&(session, ino));
            self.uncount_open(ino, count);
            self.free_if_unreferenced(ino);
        }
    }

    /// One more open of `ino` by `session`.
    pub(super) fn add_open_ref(&mut self, session: u64, ino: Ino) {
        *self.open_refs.entry((session, ino)).or_insert(0) += 1;
        *self.open_by_inode.entry(ino).or_insert(0) += 1;
    }

    /// True when some session has `ino` open.
    pub(super) fn is_open(&self, ino: Ino) -> bool {
        self.open_by_inode.contains_key(&ino)
    }

    /// True when `session` has `ino` open.
    pub fn session_has_open(&self, session: u64, ino: Ino) -> bool {
        self.open_refs.contains_key(&(session, ino))
    }

    /// `count` fewer open references to `ino` over all sessions.
    fn uncount_open(&mut self, ino: Ino, count: u32) {
        if let Some(total) = self.open_by_inode.get_mut(&ino) {
            *total = total.saturating_sub(count);
            if *total == 0 {
                self.open_by_inode.remove(&ino);
            }
        }
    }
}
