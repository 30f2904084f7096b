//! Read-only operations: lookup, getattr, readdir, readlink, statfs, access.

use std::ops::Bound;

use proto::client::{OpResult, Reply};
use proto::meta::{Creds, DirEntry, FileType, Ino, StatFs};
use proto::Errno;

use super::dir::{DOTDOT_COOKIE, DOT_COOKIE};
use super::inode::Body;
use super::perm::{self, R, W, X};
use super::{guard, names, Namespace};

impl Namespace {
    /// Find `name` in `parent` (search permission needed). "." and ".." name the directory
    /// and its parent. Inodes without a name (trash, sustained) are never found.
    pub(super) fn lookup(&self, creds: &Creds, parent: Ino, name: &[u8]) -> OpResult {
        let p = self.inode(parent)?;
        let dir = p.as_dir().ok_or(Errno::ENOTDIR)?;
        perm::check(creds, p, X)?;
        let ino = match name {
            b"." => parent,
            b".." => dir.parent,
            _ => {
                names::check_name(name)?;
                dir.get(name).ok_or(Errno::ENOENT)?
            }
        };
        Ok(Reply::Entry(self.entry_attr(parent, ino)?))
    }

    /// Attributes of any existing inode, named or not (open files stay reachable by inode).
    pub(super) fn getattr(&self, ino: Ino) -> OpResult {
        Ok(Reply::Attr(self.attr(ino)?))
    }

    /// List `ino` after cookie `offset` (0: from the start), at most `max_entries` entries:
    /// "." (cookie 1), ".." (cookie 2), then the entries in cookie order. Needs read
    /// permission on the directory.
    pub(super) fn readdir(&self, creds: &Creds, ino: Ino, offset: u64, max_entries: u32, plus: bool) -> OpResult {
        let inode = self.inode(ino)?;
        let dir = inode.as_dir().ok_or(Errno::ENOTDIR)?;
        perm::check(creds, inode, R)?;
        // A page is capped whatever the client asks: a short page is a valid answer (the client
        // goes on from its last cookie), and an unbounded one could outgrow a frame.
        let max = usize::try_from(max_entries).unwrap_or(usize::MAX).min(proto::client::MAX_READDIR_PAGE);
        let attr_of = |child: Ino| if plus { self.entry_attr(ino, child).ok() } else { None };
        // "." and ".." are always directories, even the ".." of a removed directory whose
        // parent is gone too.
        let dots = [(DOT_COOKIE, &b"."[..], ino), (DOTDOT_COOKIE, &b".."[..], dir.parent)]
            .into_iter()
            .filter(|(cookie, _, _)| *cookie > offset)
            .map(|(cookie, name, ino)| DirEntry {
                cookie,
                name: name.to_vec(),
                ino,
                kind: FileType::Dir,
                attr: attr_of(ino),
            });
        let rest = dir.by_cookie.range((Bound::Excluded(offset.max(DOTDOT_COOKIE)), Bound::Unbounded)).filter_map(
            |(cookie, name)| {
                let ino = dir.get(name)?;
                let child = self.inodes.get(&ino)?;
                let attr = attr_of(ino);
                Some(DirEntry { cookie: *cookie, name: name.clone(), ino, kind: child.kind(), attr })
            },
        );
        Ok(Reply::Dir(dots.chain(rest).take(max).collect()))
    }

    /// The target of a symlink (EINVAL for anything else).
    pub(super) fn readlink(&self, ino: Ino) -> OpResult {
        match &self.inode(ino)?.body {
            Body::Symlink { target } => Ok(Reply::Data(target.clone())),
            _ => Err(Errno::EINVAL),
        }
    }

    /// Inode count and the bytes held by trash and sustained files. Space totals are filled
    /// by the layer above, from the chunkservers.
    pub(super) fn statfs(&self) -> OpResult {
        let (trash_bytes, sustained_bytes) = self.trash_and_sustained_bytes();
        Ok(Reply::StatFs(StatFs {
            total_bytes: 0,
            avail_bytes: 0,
            trash_bytes,
            sustained_bytes,
            inodes: self.inode_count(),
        }))
    }

    /// `access(2)`: `mask` of R_OK=4, W_OK=2, X_OK=1 (0 only checks existence).
    pub(super) fn access(&self, creds: &Creds, ino: Ino, mask: u32) -> OpResult {
        let inode = self.inode(ino)?;
        if mask & !7 != 0 {
            return Err(Errno::EINVAL);
        }
        if mask & W != 0 {
            guard::changeable(inode)?;
        }
        perm::check(creds, inode, mask)?;
        Ok(Reply::Done)
    }
}
