//! Metadata value types: attributes, directory entries, credentials, file-system totals.

use serde::{Deserialize, Serialize};

/// Inode number. The root directory is [`ROOT_INODE`].
pub type Ino = u64;

/// Inode of the root directory, as in MooseFS and FUSE.
pub const ROOT_INODE: Ino = 1;

/// Longest file name accepted (bytes), as on Linux.
pub const MAX_NAME_LEN: usize = 255;

/// Longest symlink target accepted (bytes), as on Linux (`PATH_MAX`).
pub const MAX_SYMLINK_LEN: usize = 4096;

/// Largest xattr value (bytes), as on Linux.
pub const MAX_XATTR_VALUE: usize = 65536;

/// Longest xattr name (bytes), as Linux `XATTR_NAME_MAX`.
pub const MAX_XATTR_NAME_LEN: usize = 255;

/// Most supplementary groups a caller may carry, as Linux `NGROUPS_MAX`.
pub const MAX_GROUPS: usize = 65536;

/// Size of one chunk: files are sequences of 64 MiB chunks.
pub const CHUNK_SIZE: u64 = 64 << 20;

/// Largest file size we accept (as MooseFS: 2^57 bytes would need more chunk indexes than we
/// store; we keep the same 128 PiB limit).
pub const MAX_FILE_SIZE: u64 = 1 << 57;

/// The kind of an inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FileType {
    File,
    Dir,
    Symlink,
    Fifo,
    Socket,
    BlockDev,
    CharDev,
}

impl FileType {
    /// The `S_IFMT` bits of this kind.
    pub fn mode_bits(self) -> u32 {
        match self {
            FileType::File => 0o100000,
            FileType::Dir => 0o040000,
            FileType::Symlink => 0o120000,
            FileType::Fifo => 0o010000,
            FileType::Socket => 0o140000,
            FileType::BlockDev => 0o060000,
            FileType::CharDev => 0o020000,
        }
    }

    /// The kind named by the `S_IFMT` bits of a mode, if any.
    pub fn from_mode(mode: u32) -> Option<FileType> {
        Some(match mode & 0o170000 {
            0o100000 | 0 => FileType::File,
            0o040000 => FileType::Dir,
            0o120000 => FileType::Symlink,
            0o010000 => FileType::Fifo,
            0o140000 => FileType::Socket,
            0o060000 => FileType::BlockDev,
            0o020000 => FileType::CharDev,
            _ => return None,
        })
    }
}

/// A point in time: seconds and nanoseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp {
    pub secs: i64,
    pub nsecs: u32,
}

impl Timestamp {
    pub fn new(secs: i64, nsecs: u32) -> Self {
        Timestamp { secs, nsecs }
    }

    /// The current wall-clock time. Only the leader calls this, and puts the value in the log.
    pub fn now() -> Self {
        let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Timestamp { secs: d.as_secs() as i64, nsecs: d.subsec_nanos() }
    }

    /// This time plus whole seconds (saturating).
    pub fn plus_secs(self, secs: u64) -> Self {
        Timestamp { secs: self.secs.saturating_add(secs as i64), nsecs: self.nsecs }
    }
}

/// Attributes of one inode, as `stat(2)` reports them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attr {
    pub ino: Ino,
    pub kind: FileType,
    /// Permission bits and suid/sgid/sticky (`mode & 0o7777`); bits 16 to 23 carry the extra
    /// attributes ([`crate::eattr`], read them with [`Attr::eattr`]) and bit 24
    /// [`Attr::ENTRY_NOCACHE`], as MooseFS packs its attribute flags beside the mode. Users of
    /// the mode mask them off ([`Attr::mode`]).
    pub perm: u32,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub rdev: u32,
    pub atime: Timestamp,
    pub mtime: Timestamp,
    pub ctime: Timestamp,
    /// Number of copies each chunk of this inode should have.
    pub goal: u8,
    /// Seconds a deleted file stays in the trash.
    pub trash_time: u32,
}

impl Attr {
    /// Where [`Attr::perm`] holds the extra attributes.
    pub const EATTR_SHIFT: u32 = 16;

    /// In [`Attr::perm`], on the attributes of a name found in (or added to) a folder with the
    /// noentrycache attribute (MooseFS's `MATTR_NOECACHE`): mounts keep no lookup of the name.
    pub const ENTRY_NOCACHE: u32 = 1 << 24;

    /// True when mounts must not cache the name these attributes came with.
    pub fn entry_nocache(&self) -> bool {
        self.perm & Self::ENTRY_NOCACHE != 0
    }

    /// True when mounts must not cache these attributes (noattrcache, or noowner: each user
    /// sees the inode as their own).
    pub fn attr_nocache(&self) -> bool {
        self.eattr() & (crate::eattr::NOATTRCACHE | crate::eattr::NOOWNER) != 0
    }

    /// `perm` for permission bits `perm` (`mode & 0o7777`) and extra attributes `eattr`.
    pub fn pack_perm(perm: u32, eattr: u8) -> u32 {
        (perm & 0o7777) | (u32::from(eattr) << Self::EATTR_SHIFT)
    }

    /// The extra attributes ([`crate::eattr`] bits).
    pub fn eattr(&self) -> u8 {
        (self.perm >> Self::EATTR_SHIFT) as u8
    }

    /// Full `st_mode`: kind bits and permission bits.
    pub fn mode(&self) -> u32 {
        self.kind.mode_bits() | (self.perm & 0o7777)
    }
}

/// Who is asking: the caller's uid, primary gid and supplementary groups.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Creds {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    /// Permission checks add the group and other bits for every caller but the owner, instead
    /// of testing group membership (`ignoregid` in `mfsexports.cfg`). Set by the master from
    /// the session's export rule; what a client sends here is ignored.
    pub ignore_gid: bool,
}

impl Creds {
    /// The superuser.
    pub fn root() -> Self {
        Creds::new(0, 0, Vec::new())
    }

    /// A caller with a uid, primary gid and supplementary groups.
    pub fn new(uid: u32, gid: u32, groups: Vec<u32>) -> Self {
        Creds { uid, gid, groups, ignore_gid: false }
    }

    pub fn is_root(&self) -> bool {
        self.uid == 0
    }

    /// At most [`MAX_GROUPS`] supplementary groups (EINVAL otherwise), checked before a
    /// request that carries them is proposed.
    pub fn check_bounds(&self) -> Result<(), crate::Errno> {
        if self.groups.len() > MAX_GROUPS {
            return Err(crate::Errno::EINVAL);
        }
        Ok(())
    }

    /// True when `gid` is the caller's primary or a supplementary group.
    pub fn in_group(&self, gid: u32) -> bool {
        self.gid == gid || self.groups.contains(&gid)
    }
}

/// How to set a time in `setattr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SetTime {
    /// The time the leader applies the change (`UTIME_NOW`).
    Now,
    /// A given time.
    At(Timestamp),
}

/// Fields to change in `setattr`; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetAttr {
    /// New permission bits (`mode & 0o7777`).
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// New size: truncate down or extend with a hole.
    pub size: Option<u64>,
    pub atime: Option<SetTime>,
    pub mtime: Option<SetTime>,
}

/// One directory entry as `readdir` returns it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirEntry {
    /// Cookie to pass as `offset` to continue after this entry.
    pub cookie: u64,
    pub name: Vec<u8>,
    pub ino: Ino,
    pub kind: FileType,
    /// Attributes, filled for `readdirplus`.
    pub attr: Option<Attr>,
}

/// File-system totals for `statfs`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatFs {
    pub total_bytes: u64,
    pub avail_bytes: u64,
    /// Bytes held by files in the trash.
    pub trash_bytes: u64,
    /// Bytes held by deleted but still open files.
    pub sustained_bytes: u64,
    pub inodes: u64,
}

/// Flags of `rename` (Linux `renameat2`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenameFlags {
    /// `RENAME_NOREPLACE`: fail with EEXIST when the target exists.
    pub noreplace: bool,
    /// `RENAME_EXCHANGE`: swap source and target atomically; both must exist.
    pub exchange: bool,
}

/// Mode of `setxattr`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum XattrMode {
    /// Create or replace.
    #[default]
    Set,
    /// `XATTR_CREATE`: fail with EEXIST when it exists.
    Create,
    /// `XATTR_REPLACE`: fail with ENODATA when it does not exist.
    Replace,
}
