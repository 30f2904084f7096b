//! The stored form of one inode, and of one chunk in the chunk table.

use std::collections::BTreeMap;

use proto::meta::{Attr, FileType, Ino, Timestamp};
use serde::{Deserialize, Serialize};

use super::chunk_list::ChunkList;
use super::dir::Dir;

/// One inode: attributes shared by every kind, and what only its kind holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inode {
    /// Permission bits and suid/sgid/sticky (`mode & 0o7777`).
    pub perm: u32,
    pub uid: u32,
    pub gid: u32,
    pub atime: Timestamp,
    pub mtime: Timestamp,
    pub ctime: Timestamp,
    /// Names pointing here; for a directory 2 + its subdirectories; 0 once deleted.
    pub nlink: u32,
    /// Bytes: file length, symlink target length, 0 for others.
    pub size: u64,
    /// Device number of a character or block device.
    pub rdev: u32,
    /// Copies each chunk should have.
    pub goal: u8,
    /// Seconds a deleted file stays in the trash.
    pub trash_time: u32,
    /// Extended attributes, name → value.
    pub xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
    /// For a non-directory: a directory holding one of its names, 0 when it has none (in the
    /// trash, or open after its last unlink). The directories of its other names (hard links)
    /// are in `Namespace::extra_parents`. A directory's parent is in its `Dir`. Lets a session
    /// confined to a subfolder be refused an inode outside it, by number too.
    pub parent: Ino,
    /// What only this kind of inode holds.
    pub body: Body,
    /// MooseFS's extra attributes (`proto::eattr` bits). Not in the inode's encoding: a
    /// snapshot keeps them in a section of their own after the state (`sm_store`), so snapshots
    /// written before they existed read unchanged.
    #[serde(skip)]
    pub eattr: u8,
}

/// The kind-specific part of an inode.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    /// A directory and its entries.
    Dir(Dir),
    /// A regular file: the chunk id of each 64 MiB index that has one (others are holes).
    File { chunks: ChunkList },
    /// A symbolic link and the path it points to.
    Symlink { target: Vec<u8> },
    /// A fifo, socket or device node: attributes only. `kind` is never `File`, `Dir` or
    /// `Symlink`.
    Special { kind: FileType },
}

/// One chunk of the global chunk table.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkMeta {
    /// Bumped each time the chunk is opened for writing; older replicas are stale.
    pub version: u32,
    /// Data addresses (sorted) of the chunkservers that hold the data of this version: given
    /// it at its last bump (or creation), or given a copy by replication since. Only their
    /// copies can be valid (see `chunks::registry::is_valid`).
    pub holders: Vec<String>,
}

impl Inode {
    /// The kind of this inode.
    pub fn kind(&self) -> FileType {
        match &self.body {
            Body::Dir(_) => FileType::Dir,
            Body::File { .. } => FileType::File,
            Body::Symlink { .. } => FileType::Symlink,
            Body::Special { kind } => *kind,
        }
    }

    pub fn is_dir(&self) -> bool {
        matches!(self.body, Body::Dir(_))
    }

    pub fn is_file(&self) -> bool {
        matches!(self.body, Body::File { .. })
    }

    pub fn as_dir(&self) -> Option<&Dir> {
        match &self.body {
            Body::Dir(d) => Some(d),
            _ => None,
        }
    }

    pub fn as_dir_mut(&mut self) -> Option<&mut Dir> {
        match &mut self.body {
            Body::Dir(d) => Some(d),
            _ => None,
        }
    }

    /// `stat(2)` attributes of this inode, numbered `ino`.
    pub fn attr(&self, ino: Ino) -> Attr {
        Attr {
            ino,
            kind: self.kind(),
            perm: Attr::pack_perm(self.perm, self.eattr),
            nlink: self.nlink,
            uid: self.uid,
            gid: self.gid,
            size: self.size,
            rdev: self.rdev,
            atime: self.atime,
            mtime: self.mtime,
            ctime: self.ctime,
            goal: self.goal,
            trash_time: self.trash_time,
        }
    }

    /// Contents changed: mtime and ctime become `now`.
    pub fn touch(&mut self, now: Timestamp) {
        self.mtime = now;
        self.ctime = now;
    }
}
