//! What a mount's request handlers share: its configuration, caches, open handles, and the
//! mapping between the kernel's node ids and the masters' inodes ([`Shared`]). The operations
//! on it are in [`super::ops`]; the kernel's entry points in [`super::fs`].

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{FileAttr, TimeOrNow};
use proto::client::Reply;
use proto::meta::{Attr, Creds, FileType, Ino, SetTime, Timestamp, ROOT_INODE};
use proto::Errno;

use super::cache::{AbsentXattrs, AttrCache};
use super::creds::GroupCache;
use super::handles::Handles;
use super::masterinfo;
use super::mount_opts::CacheMode;
use super::releases::Releases;
use crate::data_path::FileIo;
use crate::error::ClientError;

/// Largest write the kernel sends at once.
pub const MAX_WRITE: u32 = 1 << 20;
/// Directory entries asked from a master at once.
pub(super) const DIR_BATCH: u32 = 512;
/// Block size reported by `stat` and `statfs` (as MooseFS).
pub(super) const BLOCK_SIZE: u32 = 65536;
/// `renameat2` flags.
pub(super) const RENAME_NOREPLACE: u32 = 1;
pub(super) const RENAME_EXCHANGE: u32 = 2;
/// `setxattr` flags.
pub(super) const XATTR_CREATE: i32 = 1;
pub(super) const XATTR_REPLACE: i32 = 2;
/// The attribute the kernel asks for before writing to a file (to drop file capabilities).
pub(super) const SECURITY_CAPABILITY: &[u8] = b"security.capability";

/// Tunables of a mount.
#[derive(Clone, Debug)]
pub struct FsConfig {
    pub attr_ttl: Duration,
    pub entry_ttl: Duration,
    /// How long an extended attribute answered absent is taken as absent.
    pub xattr_ttl: Duration,
    /// Write-back buffer per open inode, bytes.
    pub write_cache: usize,
    /// Largest readahead window, bytes.
    pub readahead: usize,
    pub cache_mode: CacheMode,
    /// `fcntl` / `flock` locks go to the masters (else the kernel keeps them for this mount).
    pub posix_locks: bool,
    pub bsd_locks: bool,
}

/// State shared by the session thread and the tasks answering requests.
pub struct Shared {
    pub io: Arc<FileIo>,
    /// The masters' inode mounted as the kernel's root.
    pub root: Ino,
    pub cfg: FsConfig,
    pub(super) attrs: Arc<AttrCache>,
    pub(super) absent_xattrs: AbsentXattrs,
    pub handles: Handles,
    /// Releases waiting to go to the masters in a batch.
    pub(super) releases: Arc<Releases>,
    pub(super) groups: GroupCache,
    pub(super) info_text: Vec<u8>,
    pub(super) mounted_at: SystemTime,
    /// (mtime, size) of each file when it was last opened, for `mfscachemode=AUTO`.
    pub(super) opened: std::sync::Mutex<std::collections::HashMap<Ino, (Timestamp, u64)>>,
    /// Which (inode, lock owner) pairs took a lock through this mount: only their closes
    /// need the masters to drop locks.
    pub(super) lock_owners: super::locks::LockOwners,
}

/// The file system handed to fuser.
/// A result on its way to the kernel.
pub(super) type R<T> = Result<T, Errno>;

pub(super) fn errno(e: ClientError) -> Errno {
    match &e {
        ClientError::Errno(_) => {}
        other => tracing::warn!(error = %other, "operation failed"),
    }
    e.errno()
}

pub(super) fn expect_attr(r: Reply) -> R<Attr> {
    match r {
        Reply::Attr(a) | Reply::Entry(a) => Ok(a),
        other => {
            tracing::warn!(?other, "expected attributes");
            Err(Errno::EIO)
        }
    }
}

pub(super) fn name_bytes(n: &OsStr) -> Vec<u8> {
    n.as_bytes().to_vec()
}

pub(super) fn to_system_time(t: Timestamp) -> SystemTime {
    if t.secs >= 0 {
        UNIX_EPOCH + Duration::new(t.secs as u64, t.nsecs.min(999_999_999))
    } else {
        UNIX_EPOCH - Duration::from_secs(t.secs.unsigned_abs()) + Duration::from_nanos(t.nsecs as u64)
    }
}

pub(super) fn to_timestamp(t: SystemTime) -> Timestamp {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => Timestamp::new(d.as_secs() as i64, d.subsec_nanos()),
        Err(e) => {
            let d = e.duration();
            if d.subsec_nanos() == 0 {
                Timestamp::new(-(d.as_secs() as i64), 0)
            } else {
                Timestamp::new(-(d.as_secs() as i64) - 1, 1_000_000_000 - d.subsec_nanos())
            }
        }
    }
}

pub(super) fn set_time(t: TimeOrNow) -> SetTime {
    match t {
        TimeOrNow::Now => SetTime::Now,
        TimeOrNow::SpecificTime(st) => SetTime::At(to_timestamp(st)),
    }
}

pub(super) fn fuse_kind(k: FileType) -> fuser::FileType {
    match k {
        FileType::File => fuser::FileType::RegularFile,
        FileType::Dir => fuser::FileType::Directory,
        FileType::Symlink => fuser::FileType::Symlink,
        FileType::Fifo => fuser::FileType::NamedPipe,
        FileType::Socket => fuser::FileType::Socket,
        FileType::BlockDev => fuser::FileType::BlockDevice,
        FileType::CharDev => fuser::FileType::CharDevice,
    }
}

impl Shared {
    pub fn new(io: Arc<FileIo>, root: Ino, cfg: FsConfig, masters: &[String], subfolder: &str) -> Shared {
        let session = (io.meta.session_id(), io.meta.tool_ticket());
        let releases = Releases::new(io.meta.clone());
        Shared {
            io,
            root,
            attrs: Arc::new(AttrCache::new(cfg.attr_ttl)),
            absent_xattrs: AbsentXattrs::new(cfg.xattr_ttl),
            cfg,
            handles: Handles::default(),
            releases,
            groups: GroupCache::default(),
            info_text: masterinfo::render(masters, subfolder, root, session).into_bytes(),
            mounted_at: SystemTime::now(),
            opened: Default::default(),
            lock_owners: Default::default(),
        }
    }

    /// The masters' inode for a kernel node id.
    pub(super) fn m(&self, nodeid: u64) -> Ino {
        if nodeid == fuser::FUSE_ROOT_ID {
            self.root
        } else {
            nodeid
        }
    }

    /// The kernel node id for a masters' inode.
    pub(super) fn node(&self, ino: Ino) -> u64 {
        if ino == self.root {
            fuser::FUSE_ROOT_ID
        } else if ino == ROOT_INODE && self.root != ROOT_INODE {
            // The masters' root seen from a subfolder mount (only as ".."): never handed out
            // as node 1, which is the subfolder.
            self.root
        } else {
            ino
        }
    }

    pub(super) fn is_info(&self, parent: Ino, name: &[u8]) -> bool {
        parent == self.root && masterinfo::is_name(name)
    }

    pub(super) fn info_attr(&self) -> FileAttr {
        FileAttr {
            ino: masterinfo::INO,
            size: self.info_text.len() as u64,
            blocks: 1,
            atime: self.mounted_at,
            mtime: self.mounted_at,
            ctime: self.mounted_at,
            crtime: self.mounted_at,
            kind: fuser::FileType::RegularFile,
            perm: 0o444,
            nlink: 1,
            uid: 0,
            gid: 0,
            rdev: 0,
            blksize: BLOCK_SIZE,
            flags: 0,
        }
    }

    /// How long the kernel may keep attributes `a`: not at all for an inode with noattrcache
    /// or noowner (each user sees a noowner inode as their own).
    pub(super) fn attr_ttl(&self, a: &Attr) -> Duration {
        if a.attr_nocache() {
            Duration::ZERO
        } else {
            self.cfg.attr_ttl
        }
    }

    /// How long the kernel may keep a name leading to `a` (and `a` with it: one time for
    /// both): not at all for a name in a noentrycache folder, or attributes not to be kept.
    pub(super) fn entry_ttl(&self, a: &Attr) -> Duration {
        if a.entry_nocache() || a.attr_nocache() {
            Duration::ZERO
        } else {
            self.cfg.entry_ttl
        }
    }

    /// Attributes for the kernel, as `creds` sees them; `ino` is the masters' inode (what
    /// `stat` shows). A noowner inode shows every caller but root as its owner, the owner's
    /// permission bits in the group's and others' places (MooseFS's view).
    pub(super) fn file_attr(&self, a: &Attr, creds: &Creds) -> FileAttr {
        let mut a = a.clone();
        if let Some(w) = self.handles.writer(a.ino) {
            w.patch(&mut a);
        }
        if a.eattr() & proto::eattr::NOOWNER != 0 && !creds.is_root() {
            let owner = (a.perm >> 6) & 7;
            a.perm = (a.perm & 0o7700) | (owner << 3) | owner;
            a.uid = creds.uid;
            a.gid = creds.gid;
        }
        to_file_attr(&a)
    }

    /// Attributes for an entry reply: fuser takes the node id from `ino`.
    pub(super) fn entry_attr(&self, a: &Attr, creds: &Creds) -> FileAttr {
        let mut fa = self.file_attr(a, creds);
        fa.ino = self.node(a.ino);
        fa
    }
}

/// The masters' attributes as fuser takes them (the mode without the flags packed above it).
pub(super) fn to_file_attr(a: &Attr) -> FileAttr {
    FileAttr {
        ino: a.ino,
        size: a.size,
        blocks: a.size.div_ceil(512),
        atime: to_system_time(a.atime),
        mtime: to_system_time(a.mtime),
        ctime: to_system_time(a.ctime),
        crtime: to_system_time(a.ctime),
        kind: fuse_kind(a.kind),
        perm: (a.perm & 0o7777) as u16,
        nlink: a.nlink,
        uid: a.uid,
        gid: a.gid,
        rdev: a.rdev,
        blksize: BLOCK_SIZE,
        flags: 0,
    }
}
