//! The metadata namespace: the deterministic state machine every master applies.
//!
//! [`Namespace`] holds every inode (files, directories, symlinks, special files), the
//! directory entries, the chunk table, the trash and the open-file references. Every mutation
//! arrives as one [`WriteOp`] inside a Raft entry, together with an [`OpContext`] that the
//! leader fixed (time, credentials, session): applying the same entries in the same order gives
//! the same state on every master, byte for byte ([`Namespace::digest`]). An operation that
//! fails leaves the namespace exactly as it was: each one validates everything first and only
//! then mutates.
//!
//! Semantics follow Linux (ext4) closely enough for pjdfstest: permission checks as
//! `generic_permission`, the sticky-directory rule, setgid inheritance, suid/sgid clearing on
//! chown and truncate, `renameat2` flags. Deleted files go to the trash (MooseFS), or are kept
//! "sustained" while a session still has them open.
//!
//! Submodules hold one concern each: [`inode`] and [`dir`] the stored types, [`entries`] the
//! bookkeeping of adding and removing names, [`names`] name validation, [`perm`] permission
//! rules, then one module per family of operations
//! ([`create`], [`remove`], [`rename`], [`setattr`], [`goal`], [`xattr`], [`open`],
//! [`read`], [`chunks`]) and [`trash`] for what happens to an inode whose last name is gone.

mod chunk_list;
mod chunks;
mod create;
mod dir;
mod dump;
mod eattr;
mod entries;
mod goal;
mod guard;
mod inode;
mod locks;
mod meta_tree;
mod names;
mod open;
mod paths;
mod perm;
mod quota;
mod read;
mod remove;
mod rename;
mod repair;
mod rmsnapshot;
mod setattr;
mod snapshot;
mod trash;
mod xattr;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use proto::client::{OpResult, ReadOp, Reply, WriteOp};
use proto::meta::{Attr, Creds, Ino, Timestamp, ROOT_INODE};
use proto::Errno;
use serde::{Deserialize, Serialize};

pub use chunks::{ChunkSlot, MAX_CHUNK_INDEX};
use dir::Dir;
pub use dump::escape;
pub use eattr::EattrSection;
pub use inode::ChunkMeta;
use inode::{Body, Inode};
pub use locks::LockSection;
pub use quota::{fix_space, QuotaSection};
pub use repair::{RepairFix, RepairStep};
use trash::TrashEntry;

/// Goal (copies per chunk) of the root directory, which every new inode inherits from its
/// parent. MooseFS 3.0 defaults to 2 copies; we start at 1 so a one-chunkserver cluster is not
/// permanently under goal. A later config key (or `mfssetgoal -r /`) raises it.
pub const DEFAULT_GOAL: u8 = 1;

/// Trash time (seconds) of the root directory, inherited like the goal: MooseFS's default of
/// one day, so a deleted file can be recovered from the meta tree for 24 hours.
pub const DEFAULT_TRASH_TIME: u32 = 86400;

/// What the leader fixed inside the Raft entry. The namespace never reads a clock or a random
/// source: everything time- or caller-dependent comes from here.
#[derive(Clone, Debug)]
pub struct OpContext {
    /// The time the leader assigned to this operation.
    pub now: Timestamp,
    /// Who asks.
    pub creds: Creds,
    /// The client session the operation belongs to (owner of open references).
    pub session: u64,
}

/// The whole replicated namespace.
///
/// Every collection is a `BTreeMap`/`BTreeSet`/`Vec`, so the bincode encoding is canonical:
/// equal states encode to equal bytes.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Namespace {
    /// Every inode that exists: reachable by name, in the trash, or sustained (open).
    inodes: BTreeMap<Ino, Inode>,
    /// Next inode number to hand out; numbers are never reused.
    next_ino: Ino,
    /// Every chunk a file refers to, with its version.
    chunks: BTreeMap<u64, ChunkMeta>,
    /// Next chunk id to hand out: a new chunk's id must be at least this.
    next_chunk_id: u64,
    /// Chunks no file refers to any more, waiting for the chunk deletion loop.
    chunks_to_delete: BTreeSet<u64>,
    /// Deleted files kept until their expiry, by inode.
    trash: BTreeMap<Ino, TrashEntry>,
    /// The trash ordered by expiry, for purging and [`Namespace::next_trash_expiry`].
    trash_by_expiry: BTreeSet<(Timestamp, Ino)>,
    /// Inodes without a name that stay because a session still has them open.
    sustained: BTreeSet<Ino>,
    /// The directories of a hard-linked non-directory's names beyond `Inode::parent`, one
    /// entry per name (a directory holding two names of it appears twice).
    extra_parents: BTreeMap<Ino, Vec<Ino>>,
    /// Open references: (session, inode) → how many opens the session has not released.
    open_refs: BTreeMap<(u64, Ino), u32>,
    /// Total open references per inode over all sessions (an index of `open_refs`).
    open_by_inode: BTreeMap<Ino, u32>,
    /// References to a chunk beyond the first (files sharing it after a snapshot or an
    /// appendchunks), by chunk id; a chunk used once is not here. Derived from the files'
    /// chunk lists: not in snapshots, counted again when one is loaded (`snapshot.rs`).
    #[serde(skip)]
    shared: BTreeMap<u64, u32>,
    /// Folder quotas (`mfssetquota`), by folder. Stored in a snapshot section of their own
    /// (`sm_store`), not in this encoding; their usage counts are derived (`quota.rs`).
    #[serde(skip)]
    quotas: BTreeMap<Ino, quota::Quota>,
    /// File locks across mounts, by inode. Stored in a snapshot section of their own.
    #[serde(skip)]
    locks: locks::LockTable,
    /// How many of `inodes` are directories. Derived: counted again when a snapshot is loaded
    /// ([`Namespace::rebuild_derived`]), kept by `add_child` and `free_inode`.
    #[serde(skip)]
    dirs: u64,
}

/// What the namespace holds, in counts (the status page's "info"); each figure is kept as the
/// namespace changes, so this costs nothing whatever the namespace's size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NsSummary {
    /// Every inode: named, in the trash, or sustained.
    pub inodes: u64,
    pub dirs: u64,
    /// Deleted files kept in the trash.
    pub trash: u64,
    /// Unlinked files kept while some session has them open.
    pub sustained: u64,
    pub chunks: u64,
    /// Chunks no file refers to, waiting for their copies to be deleted.
    pub chunks_to_delete: u64,
}

impl Namespace {
    // ---- Public interface ----

    /// An empty file system: only the root directory (inode 1, mode 0755, owned by root),
    /// with [`DEFAULT_GOAL`] and [`DEFAULT_TRASH_TIME`].
    pub fn new(now: Timestamp) -> Self {
        let root = Inode {
            perm: 0o755,
            uid: 0,
            gid: 0,
            atime: now,
            mtime: now,
            ctime: now,
            nlink: 2,
            size: 0,
            rdev: 0,
            goal: DEFAULT_GOAL,
            trash_time: DEFAULT_TRASH_TIME,
            xattrs: BTreeMap::new(),
            parent: 0,
            body: Body::Dir(Dir::new(ROOT_INODE, Vec::new())),
            eattr: 0,
        };
        Namespace {
            inodes: BTreeMap::from([(ROOT_INODE, root)]),
            next_ino: ROOT_INODE + 1,
            chunks: BTreeMap::new(),
            next_chunk_id: 1,
            chunks_to_delete: BTreeSet::new(),
            trash: BTreeMap::new(),
            trash_by_expiry: BTreeSet::new(),
            sustained: BTreeSet::new(),
            extra_parents: BTreeMap::new(),
            open_refs: BTreeMap::new(),
            open_by_inode: BTreeMap::new(),
            shared: BTreeMap::new(),
            quotas: BTreeMap::new(),
            locks: locks::LockTable::default(),
            dirs: 1,
        }
    }

    /// Apply one mutation. Deterministic; on `Err` the namespace is unchanged.
    pub fn apply_write(&mut self, ctx: &OpContext, op: &WriteOp) -> OpResult {
        let result = self.apply_write_op(ctx, op);
        self.settle_quota_clocks();
        result
    }

    fn apply_write_op(&mut self, ctx: &OpContext, op: &WriteOp) -> OpResult {
        match op {
            WriteOp::SetAttr { ino, set } => self.setattr(ctx, *ino, set),
            WriteOp::MkNod { parent, name, mode, umask, rdev } => self.mknod(ctx, *parent, name, *mode, *umask, *rdev),
            WriteOp::Create { parent, name, mode, umask, exclusive } => {
                self.create(ctx, *parent, name, *mode, *umask, *exclusive)
            }
            WriteOp::MkDir { parent, name, mode, umask } => self.mkdir(ctx, *parent, name, *mode, *umask),
            WriteOp::Unlink { parent, name } => self.unlink(ctx, *parent, name),
            WriteOp::RmDir { parent, name } => self.rmdir(ctx, *parent, name),
            WriteOp::Rename { parent, name, new_parent, new_name, flags } => {
                self.rename(ctx, *parent, name, *new_parent, new_name, *flags)
            }
            WriteOp::Link { ino, new_parent, new_name } => self.link(ctx, *ino, *new_parent, new_name),
            WriteOp::Symlink { parent, name, target } => self.symlink(ctx, *parent, name, target),
            WriteOp::SetXattr { ino, name, value, mode } => self.setxattr(ctx, *ino, name, value, *mode),
            WriteOp::RemoveXattr { ino, name } => self.removexattr(ctx, *ino, name),
            WriteOp::Open { ino, flags } => self.open(ctx, *ino, *flags),
            WriteOp::Release { ino } => self.release(ctx, *ino),
            WriteOp::SetGoal { ino, goal, recursive } => self.set_goal(ctx, *ino, *goal, *recursive),
            WriteOp::SetTrashTime { ino, seconds, recursive } => self.set_trash_time(ctx, *ino, *seconds, *recursive),
            WriteOp::SetEattr { ino, flags, mode, recursive } => self.set_eattr(ctx, *ino, *flags, *mode, *recursive),
            WriteOp::RmSnapshot { parent, name, force } => self.rm_snapshot(ctx, *parent, name, *force),
            WriteOp::SetQuota { ino, change } => self.set_quota(ctx, *ino, change),
            WriteOp::SetLock { ino, owner, kind, start, end, pid } => {
                self.set_lock(ctx.session, *ino, *owner, *kind, (*start, *end), *pid)
            }
            WriteOp::ReleaseLocks { ino, owner } => self.release_locks(ctx.session, *ino, *owner),
            WriteOp::WriteEnd { ino, size } => self.write_end(ctx, *ino, *size),
            WriteOp::Undelete { ino } => self.undelete(ctx, *ino),
            WriteOp::Purge { ino } => self.purge(*ino),
            WriteOp::SetTrashPath { ino, path } => self.set_trash_path(*ino, path),
            WriteOp::Snapshot { src, dst_parent, name, flags, umask } => {
                self.snapshot(ctx, *src, *dst_parent, name, *flags, *umask)
            }
            WriteOp::AppendChunks { dst, src, slice } => self.append_chunks(ctx, *dst, *src, *slice),
            // Needs the leader's decision (new id or bump, holders): it arrives as
            // `Command::ChunkWrite` through `Namespace::apply_chunk_write`, never here.
            WriteOp::ChunkWrite { .. } => Err(Errno::EINVAL),
            // The same: the leader's plan arrives as `Command::FileRepair`.
            WriteOp::FileRepair { .. } => Err(Errno::EINVAL),
        }
    }

    /// Answer a read. [`ReadOp::Digest`] is answered a layer above (it needs the applied
    /// index): here it is `ENOSYS`. [`ReadOp::ChunkRead`] and [`ReadOp::FileChunks`] answer
    /// each chunk's holders as `servers`; the leader replaces them with live valid copies.
    pub fn read(&self, creds: &Creds, op: &ReadOp) -> OpResult {
        match op {
            ReadOp::Lookup { parent, name } => self.lookup(creds, *parent, name),
            ReadOp::GetAttr { ino } => self.getattr(*ino),
            ReadOp::ReadDir { ino, offset, max_entries, plus } => {
                self.readdir(creds, *ino, *offset, *max_entries, *plus)
            }
            ReadOp::ReadLink { ino } => self.readlink(*ino),
            ReadOp::GetXattr { ino, name } => self.getxattr(creds, *ino, name),
            ReadOp::ListXattr { ino } => self.listxattr(creds, *ino),
            ReadOp::StatFs => self.statfs(),
            ReadOp::Access { ino, mask } => self.access(creds, *ino, *mask),
            ReadOp::ChunkRead { ino, index } => self.chunk_read(creds, *ino, *index),
            ReadOp::FileChunks { ino, from } => self.file_chunks(*ino, *from),
            ReadOp::Digest => Err(Errno::ENOSYS),
            ReadOp::TrashList { after, max, sustained } => self.trash_list(*after, *max, *sustained),
            ReadOp::TrashItem { ino } => self.trash_item(*ino),
            ReadOp::Paths { ino } => match self.paths(ROOT_INODE, *ino) {
                p if p.is_empty() && !self.exists(*ino) => Err(Errno::ENOENT),
                p => Ok(Reply::Names(p)),
            },
            ReadOp::GetQuota { ino } => self.get_quota(*ino),
            // Answered with the session (`client_server.rs`): a read here has none.
            ReadOp::GetLock { .. } => Err(Errno::ENOSYS),
            // Answered from Raft's membership (`client_server.rs`), not from the namespace.
            ReadOp::Masters => Err(Errno::ENOSYS),
        }
    }

    /// Drop every open reference `session` holds (the session closed or expired). Inodes
    /// that were kept only for those references (deleted while open) are freed.
    pub fn release_session(&mut self, session: u64, _now: Timestamp) {
        self.release_all_of_session(session);
        self.locks.release_session(session);
    }

    /// Remove trash entries whose expiry is `<= now`; returns how many left the trash. An
    /// expired entry still open is not freed yet: it becomes sustained and is freed with its
    /// last release (so it no longer counts for [`Namespace::next_trash_expiry`]).
    pub fn purge_trash(&mut self, now: Timestamp) -> u64 {
        self.purge_expired(now)
    }

    /// The earliest expiry in the trash, so the leader knows when to propose a purge.
    pub fn next_trash_expiry(&self) -> Option<Timestamp> {
        self.trash_by_expiry.first().map(|(t, _)| *t)
    }

    /// Give the root the times `now` where it still has none (it was made without a clock by
    /// [`MetaState::new`](crate::state::MetaState::new)). Deterministic: the time comes from
    /// the log entry.
    pub fn date_new_root(&mut self, now: Timestamp) {
        let never = Timestamp::default();
        self.with_inode(ROOT_INODE, |r| {
            for t in [&mut r.atime, &mut r.mtime, &mut r.ctime] {
                if *t == never {
                    *t = now;
                }
            }
        });
    }

    /// Number of inodes, including those in the trash and sustained ones.
    /// True when inode `ino` exists (named, in the trash, or open after its last unlink).
    pub fn exists(&self, ino: Ino) -> bool {
        self.inodes.contains_key(&ino)
    }

    pub fn inode_count(&self) -> u64 {
        self.inodes.len() as u64
    }

    /// The namespace in counts.
    pub fn summary(&self) -> NsSummary {
        NsSummary {
            inodes: self.inodes.len() as u64,
            dirs: self.dirs,
            trash: self.trash.len() as u64,
            sustained: self.sustained.len() as u64,
            chunks: self.chunks.len() as u64,
            chunks_to_delete: self.chunks_to_delete.len() as u64,
        }
    }

    /// Hex SHA-256 of the bincode encoding of the namespace and its extra attributes (as a
    /// snapshot stores them, streamed so a large namespace needs no second copy in memory).
    pub fn digest(&self) -> String {
        use sha2::Digest;

        /// Feeds encoded bytes straight into the hash.
        struct HashWriter(sha2::Sha256);
        impl std::io::Write for HashWriter {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.update(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }

        let mut w = HashWriter(sha2::Sha256::new());
        let whole = (self, self.eattr_section(), self.quota_section(), self.lock_section());
        match bincode::serde::encode_into_std_write(&whole, &mut w, bincode::config::standard()) {
            Ok(_) => w.0.finalize().iter().map(|b| format!("{b:02x}")).collect(),
            // Encoding plain maps and integers cannot fail; if it ever did, every replica
            // would fail the same way and report the same text.
            Err(e) => format!("unencodable namespace: {e}"),
        }
    }

    /// Chunk ids freed by truncate or delete, for the chunk deletion loop.
    pub fn chunks_to_delete(&self) -> &BTreeSet<u64> {
        &self.chunks_to_delete
    }

    // ---- Helpers shared by the operation modules ----

    /// The inode `ino`, or ENOENT.
    fn inode(&self, ino: Ino) -> Result<&Inode, Errno> {
        self.inodes.get(&ino).ok_or(Errno::ENOENT)
    }

    /// The attributes of `ino`, or ENOENT.
    fn attr(&self, ino: Ino) -> Result<Attr, Errno> {
        Ok(self.inode(ino)?.attr(ino))
    }

    /// The attributes of `ino` reached by a name in folder `parent`: marked
    /// [`Attr::ENTRY_NOCACHE`] when the folder has noentrycache. ENOENT.
    fn entry_attr(&self, parent: Ino, ino: Ino) -> Result<Attr, Errno> {
        Ok(self.mark_entry(parent, self.attr(ino)?))
    }

    /// `attr`, of an inode reached by a name in `parent`, marked as [`Namespace::entry_attr`].
    fn mark_entry(&self, parent: Ino, mut attr: Attr) -> Attr {
        if self.inodes.get(&parent).is_some_and(|p| p.eattr & proto::eattr::NOENTRYCACHE != 0) {
            attr.perm |= Attr::ENTRY_NOCACHE;
        }
        attr
    }

    /// The directory `ino` as a place to add or remove names: ENOENT when it does not exist
    /// or was removed (a removed directory stays while open, but takes no new names),
    /// ENOTDIR when it is not a directory.
    fn live_dir(&self, ino: Ino) -> Result<(&Inode, &Dir), Errno> {
        let inode = self.inode(ino)?;
        let dir = inode.as_dir().ok_or(Errno::ENOTDIR)?;
        if inode.nlink == 0 {
            return Err(Errno::ENOENT);
        }
        Ok((inode, dir))
    }

    /// Run `f` on inode `ino` if it exists. Mutations call this only after validating that
    /// it does, so the `None` case never happens; it keeps the code free of panics.
    fn with_inode(&mut self, ino: Ino, f: impl FnOnce(&mut Inode)) {
        if let Some(inode) = self.inodes.get_mut(&ino) {
            f(inode);
        }
    }
}
