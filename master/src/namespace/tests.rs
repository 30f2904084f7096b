//! Unit tests of the namespace state machine, one module per family of behaviour.
//!
//! Every write goes through [`Fs::write`], which also proves the "a failed operation leaves
//! the namespace unchanged" rule for every failing call in every test.

mod chunks;
mod create;
mod eattr;
mod locks;
mod meta_tree;
mod open_trash;
mod perm;
mod quota;
mod readdir;
mod remove;
mod rename;
mod snapshot;
mod state;
mod xattr;

use proto::client::{OpResult, ReadOp, Reply, WriteOp};
use proto::meta::{
    Attr, Creds, DirEntry, Ino, RenameFlags, SetAttr, SetTime, StatFs, Timestamp, XattrMode, ROOT_INODE,
};
use proto::Errno;

pub use super::chunk_list::ChunkList;
pub use super::inode::{Body, ChunkMeta};
pub use super::{Namespace, OpContext};

pub const ROOT: Ino = ROOT_INODE;

/// `O_RDONLY`, `O_WRONLY`, `O_RDWR`, `O_TRUNC` as Linux numbers them.
pub const O_RDONLY: i32 = 0;
pub const O_WRONLY: i32 = 1;
pub const O_RDWR: i32 = 2;
pub const O_TRUNC: i32 = 0o1000;

/// A time `secs` seconds after the epoch.
pub fn t(secs: i64) -> Timestamp {
    Timestamp::new(secs, 0)
}

/// An unprivileged caller.
pub fn user(uid: u32, gid: u32) -> Creds {
    Creds::new(uid, gid, Vec::new())
}

/// A namespace with a clock that ticks one second per write, a current caller and session.
pub struct Fs {
    pub ns: Namespace,
    pub now: i64,
    pub creds: Creds,
    pub session: u64,
}

impl Fs {
    /// A fresh namespace created at t=1000; the caller is root, the session 1.
    pub fn new() -> Self {
        Fs { ns: Namespace::new(t(1000)), now: 1000, creds: Creds::root(), session: 1 }
    }

    /// The same, with trash disabled on the root (deleted files are freed at once).
    pub fn without_trash() -> Self {
        let mut fs = Fs::new();
        fs.write(WriteOp::SetTrashTime { ino: ROOT, seconds: 0, recursive: false }).unwrap();
        fs
    }

    /// Run `f` as `creds`, then switch back.
    pub fn as_creds<T>(&mut self, creds: Creds, f: impl FnOnce(&mut Fs) -> T) -> T {
        let saved = std::mem::replace(&mut self.creds, creds);
        let out = f(self);
        self.creds = saved;
        out
    }

    /// Run `f` as user `uid` with group `gid`.
    pub fn as_user<T>(&mut self, uid: u32, gid: u32, f: impl FnOnce(&mut Fs) -> T) -> T {
        self.as_creds(user(uid, gid), f)
    }

    /// Run `f` in another client session.
    pub fn in_session<T>(&mut self, session: u64, f: impl FnOnce(&mut Fs) -> T) -> T {
        let saved = std::mem::replace(&mut self.session, session);
        let out = f(self);
        self.session = saved;
        out
    }

    /// The context the next write gets.
    pub fn ctx(&self) -> OpContext {
        OpContext { now: t(self.now), creds: self.creds.clone(), session: self.session }
    }

    /// Apply one write one second after the previous one. A failure must leave the
    /// namespace exactly as it was.
    pub fn write(&mut self, op: WriteOp) -> OpResult {
        self.now += 1;
        let before = self.ns.clone();
        let result = self.ns.apply_write(&self.ctx(), &op);
        if result.is_err() {
            assert!(self.ns == before, "failed {op:?} ({result:?}) changed the namespace");
        }
        result
    }

    pub fn read(&self, op: ReadOp) -> OpResult {
        self.ns.read(&self.creds, &op)
    }

    // ---- Writes ----

    pub fn mkdir(&mut self, parent: Ino, name: &str) -> Result<Attr, Errno> {
        self.mkdir_mode(parent, name, 0o755)
    }

    pub fn mkdir_mode(&mut self, parent: Ino, name: &str, mode: u32) -> Result<Attr, Errno> {
        attr(self.write(WriteOp::MkDir { parent, name: b(name), mode, umask: 0 }))
    }

    /// Create (exclusive) a 0644 file; it stays open for the session.
    pub fn create(&mut self, parent: Ino, name: &str) -> Result<Attr, Errno> {
        self.create_mode(parent, name, 0o644)
    }

    pub fn create_mode(&mut self, parent: Ino, name: &str, mode: u32) -> Result<Attr, Errno> {
        let op = WriteOp::Create { parent, name: b(name), mode, umask: 0, exclusive: true };
        attr(self.write(op))
    }

    /// A 0644 regular file made with mknod (not open).
    pub fn file(&mut self, parent: Ino, name: &str) -> Result<Attr, Errno> {
        self.mknod(parent, name, 0o100644, 0)
    }

    pub fn mknod(&mut self, parent: Ino, name: &str, mode: u32, rdev: u32) -> Result<Attr, Errno> {
        attr(self.write(WriteOp::MkNod { parent, name: b(name), mode, umask: 0, rdev }))
    }

    pub fn symlink(&mut self, parent: Ino, name: &str, target: &[u8]) -> Result<Attr, Errno> {
        attr(self.write(WriteOp::Symlink { parent, name: b(name), target: target.to_vec() }))
    }

    pub fn link(&mut self, ino: Ino, new_parent: Ino, new_name: &str) -> Result<Attr, Errno> {
        attr(self.write(WriteOp::Link { ino, new_parent, new_name: b(new_name) }))
    }

    pub fn unlink(&mut self, parent: Ino, name: &str) -> Result<(), Errno> {
        done(self.write(WriteOp::Unlink { parent, name: b(name) }))
    }

    pub fn rmdir(&mut self, parent: Ino, name: &str) -> Result<(), Errno> {
        done(self.write(WriteOp::RmDir { parent, name: b(name) }))
    }

    pub fn rename(&mut self, p: Ino, n: &str, np: Ino, nn: &str) -> Result<(), Errno> {
        self.rename_flags(p, n, np, nn, RenameFlags::default())
    }

    pub fn rename_flags(
        &mut self,
        parent: Ino,
        name: &str,
        new_parent: Ino,
        new_name: &str,
        flags: RenameFlags,
    ) -> Result<(), Errno> {
        done(self.write(WriteOp::Rename { parent, name: b(name), new_parent, new_name: b(new_name), flags }))
    }

    pub fn setattr(&mut self, ino: Ino, set: SetAttr) -> Result<Attr, Errno> {
        attr(self.write(WriteOp::SetAttr { ino, set }))
    }

    pub fn chmod(&mut self, ino: Ino, mode: u32) -> Result<Attr, Errno> {
        self.setattr(ino, SetAttr { mode: Some(mode), ..Default::default() })
    }

    pub fn chown(&mut self, ino: Ino, uid: Option<u32>, gid: Option<u32>) -> Result<Attr, Errno> {
        self.setattr(ino, SetAttr { uid, gid, ..Default::default() })
    }

    pub fn truncate(&mut self, ino: Ino, size: u64) -> Result<Attr, Errno> {
        self.setattr(ino, SetAttr { size: Some(size), ..Default::default() })
    }

    pub fn utimens(&mut self, ino: Ino, atime: Option<SetTime>, mtime: Option<SetTime>) -> Result<Attr, Errno> {
        self.setattr(ino, SetAttr { atime, mtime, ..Default::default() })
    }

    pub fn open(&mut self, ino: Ino, flags: i32) -> Result<Attr, Errno> {
        attr(self.write(WriteOp::Open { ino, flags }))
    }

    pub fn release(&mut self, ino: Ino) -> Result<(), Errno> {
        done(self.write(WriteOp::Release { ino }))
    }

    pub fn setxattr(&mut self, ino: Ino, name: &str, value: &[u8], mode: XattrMode) -> Result<(), Errno> {
        done(self.write(WriteOp::SetXattr { ino, name: b(name), value: value.to_vec(), mode }))
    }

    pub fn removexattr(&mut self, ino: Ino, name: &str) -> Result<(), Errno> {
        done(self.write(WriteOp::RemoveXattr { ino, name: b(name) }))
    }

    pub fn set_goal(&mut self, ino: Ino, goal: u8, recursive: bool) -> Result<u64, Errno> {
        count(self.write(WriteOp::SetGoal { ino, goal, recursive }))
    }

    pub fn set_trash_time(&mut self, ino: Ino, seconds: u32, recursive: bool) -> Result<u64, Errno> {
        count(self.write(WriteOp::SetTrashTime { ino, seconds, recursive }))
    }

    // ---- Reads ----

    pub fn lookup(&self, parent: Ino, name: &str) -> Result<Attr, Errno> {
        attr(self.read(ReadOp::Lookup { parent, name: b(name) }))
    }

    /// The inode `name` names in `parent`; panics when absent.
    pub fn ino(&self, parent: Ino, name: &str) -> Ino {
        self.lookup(parent, name).unwrap().ino
    }

    pub fn getattr(&self, ino: Ino) -> Result<Attr, Errno> {
        attr(self.read(ReadOp::GetAttr { ino }))
    }

    pub fn readdir(&self, ino: Ino, offset: u64, max_entries: u32, plus: bool) -> Result<Vec<DirEntry>, Errno> {
        match self.read(ReadOp::ReadDir { ino, offset, max_entries, plus })? {
            Reply::Dir(entries) => Ok(entries),
            other => panic!("readdir answered {other:?}"),
        }
    }

    /// The names in a directory, without "." and "..", in readdir order.
    pub fn names(&self, ino: Ino) -> Vec<String> {
        self.readdir(ino, 2, u32::MAX, false).unwrap().into_iter().map(|e| String::from_utf8(e.name).unwrap()).collect()
    }

    pub fn readlink(&self, ino: Ino) -> Result<Vec<u8>, Errno> {
        data(self.read(ReadOp::ReadLink { ino }))
    }

    pub fn getxattr(&self, ino: Ino, name: &str) -> Result<Vec<u8>, Errno> {
        data(self.read(ReadOp::GetXattr { ino, name: b(name) }))
    }

    pub fn listxattr(&self, ino: Ino) -> Result<Vec<String>, Errno> {
        match self.read(ReadOp::ListXattr { ino })? {
            Reply::Names(n) => Ok(n.into_iter().map(|n| String::from_utf8(n).unwrap()).collect()),
            other => panic!("listxattr answered {other:?}"),
        }
    }

    pub fn access(&self, ino: Ino, mask: u32) -> Result<(), Errno> {
        done(self.read(ReadOp::Access { ino, mask }))
    }

    pub fn statfs(&self) -> StatFs {
        match self.read(ReadOp::StatFs) {
            Ok(Reply::StatFs(s)) => s,
            other => panic!("statfs answered {other:?}"),
        }
    }

    // ---- Internal state, for what only later issues can do through operations ----

    /// Give regular file `ino` these chunk ids (0 = hole), registered in the chunk table.
    pub fn give_chunks(&mut self, ino: Ino, ids: &[u64]) {
        for &id in ids.iter().filter(|&&id| id != 0) {
            self.ns.chunks.insert(id, ChunkMeta { version: 1, holders: Vec::new() });
        }
        match &mut self.ns.inodes.get_mut(&ino).unwrap().body {
            Body::File { chunks } => *chunks = ChunkList::from_ids(ids),
            other => panic!("not a file: {other:?}"),
        }
    }

    /// The chunk ids of regular file `ino`.
    pub fn chunks_of(&self, ino: Ino) -> Vec<u64> {
        match &self.ns.inodes[&ino].body {
            Body::File { chunks } => {
                let mut ids = Vec::new();
                for (i, id) in chunks.iter() {
                    ids.resize(i as usize, 0);
                    ids.push(id);
                }
                ids
            }
            other => panic!("not a file: {other:?}"),
        }
    }

    pub fn in_trash(&self, ino: Ino) -> bool {
        self.ns.trash.contains_key(&ino)
    }

    pub fn is_sustained(&self, ino: Ino) -> bool {
        self.ns.sustained.contains(&ino)
    }
}

/// The bytes of a string.
pub fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

/// The attributes of an `Entry` or `Attr` reply.
pub fn attr(r: OpResult) -> Result<Attr, Errno> {
    match r? {
        Reply::Entry(a) | Reply::Attr(a) => Ok(a),
        other => panic!("expected attributes, got {other:?}"),
    }
}

/// A `Done` reply.
pub fn done(r: OpResult) -> Result<(), Errno> {
    match r? {
        Reply::Done => Ok(()),
        other => panic!("expected Done, got {other:?}"),
    }
}

/// A `Count` reply.
pub fn count(r: OpResult) -> Result<u64, Errno> {
    match r? {
        Reply::Count(n) => Ok(n),
        other => panic!("expected Count, got {other:?}"),
    }
}

/// A `Data` reply.
pub fn data(r: OpResult) -> Result<Vec<u8>, Errno> {
    match r? {
        Reply::Data(d) => Ok(d),
        other => panic!("expected Data, got {other:?}"),
    }
}
