//! Lazy copies: `mfsmakesnapshot` (a file or a whole tree copied in one operation, every copied
//! file sharing its source's chunks) and `mfsappendchunks` (a file's chunks appended to another
//! file, shared the same way), as MooseFS 3.0 does them (`fs_univ_snapshot`,
//! `fs_univ_append_slice`).
//!
//! A chunk used by more than one file (or twice by one) is counted in `Namespace::shared`: a
//! file that lets go of it (deleted, truncated, or given its own copy) only drops a reference,
//! and the chunk is freed with its last one. A shared chunk is never opened for a new write in
//! place: the leader has its chunkservers duplicate it under a new id first
//! (`chunks/copy_on_write.rs`), and [`Namespace::apply_chunk_cow`] swaps the copy into the
//! writer's file. The counts follow from the files' chunk lists, so they are not stored in
//! snapshots: [`Namespace::rebuild_derived`] counts them when a snapshot is loaded.

use std::collections::BTreeMap;

use proto::client::{ChunkLocation, ChunkSlice, OpResult, Reply, SnapshotFlags};
use proto::eattr::{IMMUTABLE, SNAPSHOT};
use proto::meta::{Ino, CHUNK_SIZE};
use proto::Errno;

use super::create::new_inode;
use super::dir::Dir;
use super::inode::{Body, ChunkMeta, Inode};
use super::perm::{self, R, W, X};
use super::{guard, names, Namespace, OpContext, MAX_CHUNK_INDEX};

/// Permission bits a copy keeps when its caller neither owns the source nor is root: no suid
/// or sgid (MooseFS keeps `mode & 0x3FF`).
const FOREIGN_COPY_BITS: u32 = 0o1777;

/// One object still to copy: `src` becomes `name` in folder `parent`.
struct Pending {
    src: Ino,
    parent: Ino,
    name: Vec<u8>,
}

/// State of one snapshot operation.
struct Copy {
    flags: SnapshotFlags,
    umask: u32,
    /// Source inode → its copy, for `-p` (hard links stay links).
    copies: BTreeMap<Ino, Ino>,
    /// Objects made or updated.
    count: u64,
    /// Every object made or updated, to mark as a snapshot at the end.
    written: Vec<Ino>,
}

impl Namespace {
    /// `mfsmakesnapshot`: copy `src` as `name` in `dst_parent`. Checks, in MooseFS's order:
    /// the source exists (ENOENT), the caller may read it (EACCES), the destination is a
    /// folder (EPERM), a folder is not copied into itself (EINVAL), the caller may write the
    /// destination (EACCES), the name is valid; then the whole tree is checked against what
    /// already exists at the destination before anything changes: a folder merges into a
    /// folder, another kind of object is EPERM, a file without `overwrite` EEXIST, the source
    /// itself EINVAL (and so is merging into a folder that holds the source).
    ///
    /// Inside the tree, a folder the caller may not list is copied empty and a file it may
    /// not read is left out, as MooseFS does.
    pub(super) fn snapshot(
        &mut self,
        ctx: &OpContext,
        src: Ino,
        dst_parent: Ino,
        name: &[u8],
        flags: SnapshotFlags,
        umask: u32,
    ) -> OpResult {
        let creds = &ctx.creds;
        let s = self.inode(src)?;
        if s.nlink == 0 {
            return Err(Errno::ENOENT);
        }
        let p = self.inode(dst_parent)?;
        guard::names_addable(p)?;
        perm::check(creds, s, R)?;
        if !p.is_dir() {
            return Err(Errno::EPERM);
        }
        if p.nlink == 0 {
            return Err(Errno::ENOENT);
        }
        if s.is_dir() && self.is_ancestor_or_self(src, dst_parent) {
            return Err(Errno::EINVAL);
        }
        perm::check(creds, p, W | X)?;
        names::check_entry_name(name)?;
        self.snapshot_conflicts(src, dst_parent, name, flags.overwrite)?;
        if self.has_quotas() {
            // What the copy adds, less what it replaces (checked as a whole, before anything).
            let adds = super::quota::Delta::of(self.usage_of(src));
            let replaced = self.inodes.get(&dst_parent).and_then(|p| p.as_dir()).and_then(|d| d.get(name));
            let replaced = replaced.map(|e| super::quota::Delta::of(self.usage_of(e))).unwrap_or_default();
            let d = super::quota::Delta([0, 1, 2, 3].map(|k| (adds.0[k] - replaced.0[k]).max(0)));
            self.quota_check_dir(dst_parent, d, ctx.now)?;
        }
        let mut copy = Copy { flags, umask, copies: BTreeMap::new(), count: 0, written: Vec::new() };
        // Depth-first with a stack of our own: a tree of any depth cannot exhaust the stack of
        // the thread applying the log.
        let mut todo = vec![Pending { src, parent: dst_parent, name: name.to_vec() }];
        while let Some(next) = todo.pop() {
            self.snapshot_one(ctx, next, &mut copy, &mut todo);
        }
        // Marked once the whole tree is in place: adding names to a folder un-marks it.
        for ino in copy.written {
            self.with_inode(ino, |i| i.eattr |= SNAPSHOT);
        }
        Ok(Reply::Count(copy.count))
    }

    /// The checks of the whole tree against what exists at the destination, before any change.
    fn snapshot_conflicts(&self, src: Ino, parent: Ino, name: &[u8], overwrite: bool) -> Result<(), Errno> {
        let mut todo = vec![Pending { src, parent, name: name.to_vec() }];
        while let Some(Pending { src: s, parent, name }) = todo.pop() {
            let Some(existing) = self.inodes.get(&parent).and_then(|p| p.as_dir()).and_then(|d| d.get(&name)) else {
                continue;
            };
            if existing == s || self.is_ancestor_or_self(existing, src) {
                return Err(Errno::EINVAL);
            }
            let (si, ei) = (self.inode(s)?, self.inode(existing)?);
            guard::removable(ei)?;
            if si.kind() != ei.kind() {
                return Err(Errno::EPERM);
            }
            match &si.body {
                Body::Dir(d) => todo.extend(d.entries.iter().map(|(n, slot)| Pending {
                    src: slot.ino,
                    parent: existing,
                    name: n.clone(),
                })),
                _ if !overwrite => return Err(Errno::EEXIST),
                _ => {}
            }
        }
        Ok(())
    }

    /// Copy one object; a folder's entries join `todo`.
    fn snapshot_one(&mut self, ctx: &OpContext, job: Pending, copy: &mut Copy, todo: &mut Vec<Pending>) {
        let Pending { src, parent, name } = job;
        let Some(source) = self.inodes.get(&src) else { return };
        let existing = self.inodes.get(&parent).and_then(|p| p.as_dir()).and_then(|d| d.get(&name));
        let creds = &ctx.creds;
        if let Body::Dir(d) = &source.body {
            let listable = perm::allowed(creds, source, R | X);
            let children: Vec<Pending> = if listable {
                d.entries.iter().rev().map(|(n, slot)| Pending { src: slot.ino, parent: 0, name: n.clone() }).collect()
            } else {
                Vec::new()
            };
            let target = match existing {
                Some(e) => {
                    self.snapshot_update(ctx, src, e, copy.flags);
                    copy.written.push(e);
                    e
                }
                None => {
                    let body = Body::Dir(Dir::new(parent, name.clone()));
                    let Some(inode) = self.snapshot_inode(ctx, src, parent, body, copy) else { return };
                    let made = self.add_child(ctx.now, parent, &name, inode).ino;
                    copy.written.push(made);
                    made
                }
            };
            copy.count += 1;
            todo.extend(children.into_iter().map(|c| Pending { parent: target, ..c }));
            return;
        }
        if source.is_file() && !perm::allowed(creds, source, R) {
            return;
        }
        let body = source.body.clone();
        let hard_linked = source.nlink > 1;
        if let Some(e) = existing {
            if self.same_file(src, e) {
                copy.written.push(e);
                return;
            }
            // Replaced (`-o`, checked before): the old one goes as an unlink would send it.
            self.dir_remove(parent, &name, false, ctx.now);
            self.drop_name(e, parent, &name, ctx.now);
        }
        if copy.flags.preserve_hardlinks {
            if let Some(&linked) = copy.copies.get(&src) {
                if self.inodes.get(&linked).is_some_and(|i| i.nlink > 0) {
                    self.with_inode(linked, |i| i.nlink += 1);
                    self.dir_insert(parent, &name, linked, false, ctx.now);
                    copy.count += 1;
                    return;
                }
            }
        }
        let shared: Vec<u64> = match &body {
            Body::File { chunks } => chunks.iter().map(|(_, id)| id).collect(),
            _ => Vec::new(),
        };
        let Some(inode) = self.snapshot_inode(ctx, src, parent, body, copy) else { return };
        let made = self.add_child(ctx.now, parent, &name, inode).ino;
        copy.written.push(made);
        self.share_chunks(shared);
        if copy.flags.preserve_hardlinks && hard_linked {
            copy.copies.insert(src, made);
        }
        copy.count += 1;
    }

    /// The inode a copy of `src` starts as, inside `parent`, with `body`.
    fn snapshot_inode(&self, ctx: &OpContext, src: Ino, parent: Ino, body: Body, copy: &Copy) -> Option<Inode> {
        let source = self.inodes.get(&src)?;
        let folder = self.inodes.get(&parent)?;
        let creds = &ctx.creds;
        let is_dir = matches!(body, Body::Dir(_));
        let mut inode = if copy.flags.cp_like {
            // As `cp` makes it: the caller's, the umask applied, the folder's goal and trash
            // time, times now, no extended attributes.
            let bits = if is_dir { 0o1777 } else { 0o7777 };
            new_inode(ctx, folder, source.perm & !copy.umask & bits, body)
        } else {
            let mut i = new_inode(ctx, folder, source.perm, body);
            if creds.is_root() || creds.uid == source.uid {
                i.uid = source.uid;
                i.gid = source.gid;
                i.perm = source.perm;
            } else {
                i.perm = source.perm & FOREIGN_COPY_BITS;
            }
            i.atime = source.atime;
            i.mtime = source.mtime;
            i.ctime = source.ctime;
            i.goal = source.goal;
            i.trash_time = source.trash_time;
            i.xattrs = source.xattrs.clone();
            // Every extra attribute, undeletable and immutable too: a snapshot of an
            // immutable file is immutable.
            i.eattr = source.eattr;
            i
        };
        inode.size = source.size;
        inode.rdev = source.rdev;
        Some(inode)
    }

    /// A folder merged into an existing one takes the source's attributes (without `-c`) or
    /// only a new ctime (with it).
    fn snapshot_update(&mut self, ctx: &OpContext, src: Ino, target: Ino, flags: SnapshotFlags) {
        let Some(source) = self.inodes.get(&src) else { return };
        let (perm, uid, gid, atime, mtime, ctime) =
            (source.perm, source.uid, source.gid, source.atime, source.mtime, source.ctime);
        let owner = ctx.creds.is_root() || ctx.creds.uid == uid;
        let (caller_uid, caller_gid, now) = (ctx.creds.uid, ctx.creds.gid, ctx.now);
        self.with_inode(target, |t| {
            if flags.cp_like {
                t.ctime = now;
                return;
            }
            if owner {
                (t.perm, t.uid, t.gid, t.ctime) = (perm, uid, gid, ctime);
            } else {
                (t.perm, t.uid, t.gid, t.ctime) = (perm & FOREIGN_COPY_BITS, caller_uid, caller_gid, now);
            }
            t.atime = atime;
            t.mtime = mtime;
        });
    }

    /// Two files with the same length and the same chunks: a copy already up to date.
    fn same_file(&self, a: Ino, b: Ino) -> bool {
        match (self.inodes.get(&a), self.inodes.get(&b)) {
            (Some(x), Some(y)) => match (&x.body, &y.body) {
                (Body::File { chunks: c1 }, Body::File { chunks: c2 }) => x.size == y.size && c1 == c2,
                _ => false,
            },
            _ => false,
        }
    }

    /// One more file refers to each of these chunks.
    fn share_chunks(&mut self, ids: impl IntoIterator<Item = u64>) {
        for id in ids {
            if self.chunks.contains_key(&id) {
                *self.shared.entry(id).or_insert(0) += 1;
            }
        }
    }

    /// True when more than one file (or one file twice) refers to chunk `id`.
    pub fn is_shared(&self, id: u64) -> bool {
        self.shared.contains_key(&id)
    }

    /// Count the references of every chunk again from the files' chunk lists, and the
    /// directories (after loading a snapshot, which does not store them).
    pub fn rebuild_derived(&mut self) {
        let mut uses: BTreeMap<u64, u32> = BTreeMap::new();
        self.dirs = self.inodes.values().filter(|i| i.is_dir()).count() as u64;
        for inode in self.inodes.values() {
            if let Body::File { chunks } = &inode.body {
                for (_, id) in chunks.iter() {
                    *uses.entry(id).or_insert(0) += 1;
                }
            }
        }
        uses.retain(|_, n| *n > 1);
        uses.values_mut().for_each(|n| *n -= 1);
        self.shared = uses;
    }

    /// `mfsappendchunks`: `dst` grows to a whole number of chunks, then takes chunks
    /// `slice` of `src` after them (shared); its length grows by the length of the slice (the
    /// rest of `src`'s length when the slice reaches its end, whole chunks otherwise). EINVAL
    /// for the same file; EPERM unless both are regular files; EACCES without read permission
    /// on `src` or write permission on `dst`; EFBIG past the largest file. An empty `src` or
    /// slice changes nothing. Reply: [`Reply::Attr`] of `dst`.
    pub(super) fn append_chunks(&mut self, ctx: &OpContext, dst: Ino, src: Ino, slice: ChunkSlice) -> OpResult {
        if dst == src {
            return Err(Errno::EINVAL);
        }
        let (s, d) = (self.inode(src)?, self.inode(dst)?);
        if !s.is_file() {
            return Err(Errno::EPERM);
        }
        perm::check(&ctx.creds, s, R)?;
        if !d.is_file() {
            return Err(Errno::EPERM);
        }
        if d.eattr & IMMUTABLE != 0 {
            return Err(Errno::EPERM);
        }
        perm::check(&ctx.creds, d, W)?;
        let (Body::File { chunks: src_chunks }, src_size) = (&s.body, s.size) else {
            return Err(Errno::EINVAL);
        };
        let src_span = src_size.div_ceil(CHUNK_SIZE);
        let (from, to) = slice.resolve(src_span);
        if from >= to {
            return Ok(Reply::Attr(self.attr(dst)?));
        }
        let base = d.size.div_ceil(CHUNK_SIZE);
        if base + (to - from) > MAX_CHUNK_INDEX {
            return Err(Errno::EFBIG);
        }
        let added = if to == src_span { src_size - from * CHUNK_SIZE } else { (to - from) * CHUNK_SIZE };
        let appended: Vec<(u32, u64)> = src_chunks
            .iter()
            .filter(|&(i, _)| (from..to).contains(&u64::from(i)))
            .filter_map(|(i, id)| Some((u32::try_from(base + u64::from(i) - from).ok()?, id)))
            .collect();
        let now = ctx.now;
        let new_size = base * CHUNK_SIZE + added;
        let grows = super::quota::Delta::of(proto::quota::Usage {
            inodes: 0,
            length: new_size.saturating_sub(d.size),
            size: appended.len() as u64 * super::quota::FULL_CHUNK,
            realsize: appended.len() as u64 * super::quota::FULL_CHUNK * u64::from(d.goal),
        });
        self.quota_check_inode(dst, grows, now)?;
        let before = self.file_usage_now(dst);
        let mut dropped = Vec::new();
        self.with_inode(dst, |i| {
            if let Body::File { chunks } = &mut i.body {
                dropped = chunks.truncate(base);
                for &(index, id) in &appended {
                    chunks.set(index, id);
                }
            }
            i.size = new_size;
            i.atime = now;
            i.touch(now);
        });
        self.forget_chunks(dropped);
        self.share_chunks(appended.into_iter().map(|(_, id)| id));
        self.charge_file(dst, before, now);
        self.with_inode(src, |i| i.atime = now);
        Ok(Reply::Attr(self.attr(dst)?))
    }

    /// Copy-on-write, as the leader decided it: chunk `index` of `ino`, now `old` (shared), is
    /// replaced by `new_chunk`, a copy its `holders` made at version 1. The file lets go of
    /// `old` (freed if that was its last reference). Same permission rules as a chunk write.
    /// EAGAIN when the index no longer holds `old`; EINVAL for a new id in use (or 0).
    /// Reply: [`Reply::Chunk`] for the copy, `servers` = `holders` in chain order.
    pub(crate) fn apply_chunk_cow(
        &mut self,
        ctx: &OpContext,
        ino: Ino,
        index: u32,
        old: u64,
        new_chunk: u64,
        holders: &[String],
    ) -> OpResult {
        let slot = self.chunk_write_slot(&ctx.creds, ctx.session, ino, index)?;
        if slot.chunk.as_ref().map(|(id, _)| *id) != Some(old) {
            return Err(Errno::EAGAIN);
        }
        if new_chunk == 0 || self.chunks.contains_key(&new_chunk) {
            return Err(Errno::EINVAL);
        }
        let mut sorted = holders.to_vec();
        sorted.sort();
        sorted.dedup();
        self.with_inode(ino, |i| {
            if let Body::File { chunks } = &mut i.body {
                chunks.set(index, new_chunk);
            }
        });
        self.forget_chunks([old]);
        self.chunks.insert(new_chunk, ChunkMeta { version: 1, holders: sorted });
        self.next_chunk_id = self.next_chunk_id.max(new_chunk + 1);
        Ok(Reply::Chunk(ChunkLocation {
            index,
            chunk_id: new_chunk,
            version: 1,
            file_size: slot.file_size,
            servers: holders.to_vec(),
            goal: slot.goal,
            damaged: Vec::new(),
            token: None,
        }))
    }
}
