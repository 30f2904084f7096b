//! The client ↔ master protocol (port 9421).
//!
//! A client sends [`ClientRequest`] frames and the master answers each with a
//! [`ClientResponse`] frame carrying the same `id`, so one connection carries many requests
//! at once and answers may come back out of order.
//!
//! Mutations ([`WriteOp`]) are Raft log entries. Each carries the caller's session id, a
//! per-session sequence number, and the lowest sequence number the session still waits for
//! (`first_incomplete`): the state machine keeps the replies of every sequence number at or
//! above it, so a request retried after a failover gets its first reply back instead of being
//! applied twice. Reads ([`ReadOp`]) go to the leader, which answers after confirming it still
//! leads (linearizable reads).
//!
//! A session is opened under an export rule (`mfsexports.cfg` on the masters): the leader
//! checks the client's address, the folder it asks for and, when the rule has one, a password
//! by MooseFS's challenge: [`RequestBody::Challenge`] gets 32 random bytes on this connection,
//! and [`RequestBody::OpenSession`] on the same connection answers
//! [`challenge_answer`]`(rnd, md5(password))`. The password never crosses the wire. What the
//! rule grants (root folder, read-only, uid/gid mapping, goal and trash time limits) is stored
//! with the session in the replicated state and applied to every later request of the session.

use serde::{Deserialize, Serialize};

use crate::errno::Errno;
use crate::meta::{
    Attr, Creds, DirEntry, Ino, RenameFlags, SetAttr, StatFs, XattrMode, CHUNK_SIZE, MAX_FILE_SIZE, MAX_NAME_LEN,
    MAX_SYMLINK_LEN, MAX_XATTR_NAME_LEN, MAX_XATTR_VALUE,
};
use crate::token::DataToken;

/// Version of this protocol; a master refuses a client with another version.
/// 2: export checks (challenge, subfolder, password) and the session on reads.
/// 3: sessions named by id and secret ([`SessionKey`]); paged `FileChunks`.
/// 4: data tokens in chunk locations and on the data port (`DataCall`); `WhoLeads`.
pub const PROTOCOL_VERSION: u32 = 4;

/// Bytes of a session secret.
pub const SESSION_SECRET_LEN: usize = 16;

/// How a request names its session: the id the leader handed out at open, and the secret that
/// came with it. Ids are sequential and easy to guess; the secret (random, from the leader that
/// opened the session, kept in the replicated session record) is what proves the request comes
/// from the client that opened it. A wrong secret is refused like an unknown session.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionKey {
    pub id: u64,
    pub secret: [u8; SESSION_SECRET_LEN],
}

impl std::fmt::Debug for SessionKey {
    /// The id only: a secret never goes into logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "session {}", self.id)
    }
}

impl SessionKey {
    /// The ticket with which tools join this session ([`RequestBody::OpenToolSession`]): an
    /// HMAC of the secret, so whoever holds the ticket cannot recover the secret and act as
    /// the session itself.
    pub fn tool_ticket(&self) -> [u8; TOOL_TICKET_LEN] {
        tool_ticket(self.id, &self.secret)
    }

    /// True when `secret` is this key's secret, compared in constant time (no early exit a
    /// network timer could measure).
    pub fn secret_is(&self, secret: &[u8; SESSION_SECRET_LEN]) -> bool {
        self.secret.iter().zip(secret).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

/// Bytes of a tool ticket.
pub const TOOL_TICKET_LEN: usize = 16;

/// The tool ticket of session `id` with `secret` (see [`SessionKey::tool_ticket`]).
pub fn tool_ticket(id: u64, secret: &[u8; SESSION_SECRET_LEN]) -> [u8; TOOL_TICKET_LEN] {
    use hmac::{Hmac, Mac};
    let mut mac = match Hmac::<sha2::Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(b"raftmfs tool ticket v1");
    mac.update(&id.to_be_bytes());
    let full = mac.finalize().into_bytes();
    let mut out = [0u8; TOOL_TICKET_LEN];
    out.copy_from_slice(&full[..TOOL_TICKET_LEN]);
    out
}

/// `a == b` without an early exit a network timer could measure.
pub fn same_ticket(a: &[u8; TOOL_TICKET_LEN], b: &[u8; TOOL_TICKET_LEN]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Most chunks one `FileChunks` answer lists (a file may have 2^31).
pub const FILE_CHUNKS_PAGE: usize = 4096;

/// Largest request frame a master's client port reads (port 9421). The largest real
/// request is far smaller: a 64 KiB xattr value, or credentials with 65536 groups.
pub const MAX_REQUEST_FRAME: usize = 1 << 20;

/// Most entries one `ReadDir` answer lists, whatever `max_entries` asks (with attributes and
/// 255-byte names, under 4 MiB).
pub const MAX_READDIR_PAGE: usize = 10_000;

/// Longest session `info` kept (bytes): a longer one is cut at a character boundary. It is
/// free text for operators, stored in the replicated session record.
pub const MAX_SESSION_INFO: usize = 256;

/// Longest session folder (`mfsmount -S`) accepted, as Linux `PATH_MAX`.
pub const MAX_SUBFOLDER_LEN: usize = 4096;

/// Most addresses a `ChunkWrite` may list as `failed`.
pub const MAX_FAILED: usize = 64;

/// Longest chunkserver address accepted in a request (a host name is at most 253 bytes).
pub const MAX_ADDR_LEN: usize = 300;

/// Most items in one [`ReadOp::TrashList`] answer.
pub const MAX_TRASH_PAGE: usize = 1000;

/// Longest path of a file in the trash ([`WriteOp::SetTrashPath`]).
pub const MAX_TRASH_PATH: usize = 4096;

/// Length of the random challenge a master sends before a password check.
pub const CHALLENGE_LEN: usize = 32;

/// MD5 of a password, as `md5pass=` in `mfsexports.cfg` stores it (hex there).
pub fn password_md5(password: &[u8]) -> [u8; 16] {
    use md5::{Digest, Md5};
    Md5::digest(password).into()
}

/// The answer to a challenge, as MooseFS computes it:
/// `md5(rnd[0..16] ++ md5(password) ++ rnd[16..32])`.
pub fn challenge_answer(rnd: &[u8; CHALLENGE_LEN], pass_md5: &[u8; 16]) -> [u8; 16] {
    use md5::{Digest, Md5};
    let mut h = Md5::new();
    h.update(&rnd[..16]);
    h.update(pass_md5);
    h.update(&rnd[16..]);
    h.finalize().into()
}

/// A client version as MooseFS compares them (`minversion=`): `major << 16 | minor << 8 | patch`.
pub fn version_code(major: u32, minor: u32, patch: u32) -> u32 {
    (major.min(255) << 16) | (minor.min(255) << 8) | patch.min(255)
}

/// One request from a client to a master.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClientRequest {
    /// Chosen by the client, echoed in the response.
    pub id: u64,
    pub body: RequestBody,
}

/// What a client asks.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum RequestBody {
    /// Ask for a password challenge. Answered with [`Reply::Challenge`] (32 random bytes),
    /// which the master remembers for this connection until the next `OpenSession` on it.
    Challenge,
    /// Open a new session under the export rule that matches the client's address, `subfolder`
    /// and password. Answered with [`Reply::Session`] (id and secret) once committed, or `Refused` with the
    /// reason ("access denied (wrong password)", ...).
    OpenSession {
        /// Free text for operators: host, mount point, tool name.
        info: String,
        protocol: u32,
        /// The client's version ([`version_code`]), for `minversion=`.
        version: u32,
        /// The folder to use as the session's root (`mfsmount -S`); "/" for the whole tree.
        subfolder: String,
        /// The meta tree (trash, reserved) instead of the file tree (`mfsmount -m`).
        meta: bool,
        /// [`challenge_answer`] to the challenge received on this connection, when the client
        /// has a password.
        password: Option<[u8; 16]>,
    },
    /// Close a session: its open files are released. Answered with [`Reply::Done`].
    CloseSession { session: SessionKey },
    /// A mutation, exactly once per (`session`, `seq`).
    Write {
        session: SessionKey,
        seq: u64,
        /// Lowest sequence number this session has not seen answered yet.
        first_incomplete: u64,
        creds: Creds,
        op: WriteOp,
    },
    /// A linearizable read, under the permissions of `session`.
    Read { session: SessionKey, creds: Creds, op: ReadOp },
    /// Which master leads, as this master knows it: asked of the other masters by a client
    /// whose leader went silent (frozen, cut off), answered by every master, leader or not,
    /// without a session. Answered with [`ResponseBody::Leader`].
    WhoLeads,
    /// Open a session for a tool (`mfsgetgoal`, ...) run on a mount: the new session gets the
    /// same permissions, root folder and export as the mount's session `parent`, without
    /// the export's password, as MooseFS's tools register with the mount's session id
    /// (`.masterinfo`). `ticket` is the parent's [`SessionKey::tool_ticket`], which the mount
    /// shows in its `.masterinfo` file. Answered like `OpenSession`; `Refused` when the
    /// parent is gone or the ticket is not its own. (Last, so the older variants keep their
    /// numbers on the wire.)
    OpenToolSession { info: String, protocol: u32, version: u32, parent: u64, ticket: [u8; TOOL_TICKET_LEN] },
}

/// Mutations: each becomes one Raft log entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WriteOp {
    /// Change attributes (chmod, chown, utimens, truncate). Reply: [`Reply::Attr`].
    SetAttr { ino: Ino, set: SetAttr },
    /// Create a file, fifo, socket or device node. `mode` carries the kind bits
    /// (`S_IFREG` when 0) and the permission bits; `umask` is applied by the master.
    /// Reply: [`Reply::Entry`].
    MkNod { parent: Ino, name: Vec<u8>, mode: u32, umask: u32, rdev: u32 },
    /// Create a regular file and open it (`O_CREAT`); with `exclusive`, EEXIST when it exists.
    /// Reply: [`Reply::Entry`].
    Create { parent: Ino, name: Vec<u8>, mode: u32, umask: u32, exclusive: bool },
    /// Create a directory. Reply: [`Reply::Entry`].
    MkDir { parent: Ino, name: Vec<u8>, mode: u32, umask: u32 },
    /// Remove a non-directory name. Reply: [`Reply::Done`].
    Unlink { parent: Ino, name: Vec<u8> },
    /// Remove an empty directory. Reply: [`Reply::Done`].
    RmDir { parent: Ino, name: Vec<u8> },
    /// Rename, with `renameat2` flags. Reply: [`Reply::Done`].
    Rename { parent: Ino, name: Vec<u8>, new_parent: Ino, new_name: Vec<u8>, flags: RenameFlags },
    /// Make a hard link. Reply: [`Reply::Entry`].
    Link { ino: Ino, new_parent: Ino, new_name: Vec<u8> },
    /// Make a symbolic link. Reply: [`Reply::Entry`].
    Symlink { parent: Ino, name: Vec<u8>, target: Vec<u8> },
    /// Set an extended attribute. Reply: [`Reply::Done`].
    SetXattr {
        ino: Ino,
        name: Vec<u8>,
        #[serde(with = "crate::bytes")]
        value: Vec<u8>,
        mode: XattrMode,
    },
    /// Remove an extended attribute. Reply: [`Reply::Done`].
    RemoveXattr { ino: Ino, name: Vec<u8> },
    /// Open a file: checks access for `flags` (O_ACCMODE, O_TRUNC) and records an open
    /// reference for the session, so the file outlives an unlink until released.
    /// Reply: [`Reply::Attr`].
    Open { ino: Ino, flags: i32 },
    /// Drop one open reference of the session. Reply: [`Reply::Done`].
    Release { ino: Ino },
    /// Set the goal (copies per chunk), of the inode or, with `recursive`, of a whole tree.
    /// Reply: [`Reply::Count`] (inodes changed).
    SetGoal { ino: Ino, goal: u8, recursive: bool },
    /// Set the trash time in seconds, as `SetGoal`. Reply: [`Reply::Count`].
    SetTrashTime { ino: Ino, seconds: u32, recursive: bool },
    /// Open chunk `index` of a file for writing: the leader allocates the chunk (a hole) or
    /// bumps its version through Raft, tells the chunkservers, and answers with the write chain.
    /// `failed` lists data addresses that failed the previous chain (left out this time).
    /// Needs write permission (or an open reference of the session). Reply: [`Reply::Chunk`].
    ChunkWrite { ino: Ino, index: u32, failed: Vec<String> },
    /// Data was written up to `size` bytes: grow the file to at least `size` and set
    /// mtime/ctime (and drop suid/sgid for non-root). Reply: [`Reply::Attr`].
    WriteEnd { ino: Ino, size: u64 },
    /// Meta sessions only: put a file of the trash back at its path, making the folders on
    /// the way that are missing (mode 0755, owned by root). EEXIST when the name is taken.
    /// Reply: [`Reply::Done`].
    Undelete { ino: Ino },
    /// Meta sessions only: remove a file from the trash now (freed, or sustained while it
    /// is open). Reply: [`Reply::Done`].
    Purge { ino: Ino },
    /// Meta sessions only: where a file of the trash will be put back ("dir/name", relative
    /// to the root). Reply: [`Reply::Done`].
    SetTrashPath { ino: Ino, path: Vec<u8> },
    /// Make a file readable again (`mfsfilerepair`; needs write permission): each chunk with no
    /// valid copy takes the version of the newest copy the chunkservers still have, or becomes
    /// a hole (zeros) when none has any. The leader decides from its chunkservers' reports, so
    /// a chunkserver that is only disconnected loses its chunks' data to zeros: use with care.
    /// Reply: [`Reply::Repaired`] (at most 10,000 chunks changed per call: ask again while so).
    FileRepair { ino: Ino },
    /// `mfsmakesnapshot`: copy `src` (a file, or a folder with everything under it) as `name`
    /// in `dst_parent`, at once and lazily: every copied file shares its source's chunks, and
    /// the first write to a shared chunk, on either side, gives the writer a copy of its own.
    /// `umask` applies with [`SnapshotFlags::cp_like`]. Reply: [`Reply::Count`] (objects
    /// made or updated).
    Snapshot { src: Ino, dst_parent: Ino, name: Vec<u8>, flags: SnapshotFlags, umask: u32 },
    /// `mfsappendchunks`: append the chunks of file `src` to file `dst`, shared as a
    /// snapshot shares them; `dst` first grows to a whole number of chunks. `slice` takes
    /// only chunks `from..to` of `src` (Python's slices: a negative index counts from the end,
    /// `None` is the start or the end). Reply: [`Reply::Attr`] of `dst`.
    AppendChunks { dst: Ino, src: Ino, slice: ChunkSlice },
    /// `mfsseteattr`, `mfsdeleattr`, `mfscopyeattr`: combine the extra attributes `flags`
    /// ([`crate::eattr`] bits) with those of `ino`, or with `recursive` of its whole tree, by
    /// `mode`. Reply: [`Reply::Count`] (inodes changed).
    SetEattr { ino: Ino, flags: u8, mode: crate::eattr::EattrMode, recursive: bool },
    /// `mfsrmsnapshot`: remove `name` of `parent` and everything below it, past the trash,
    /// when every object is still marked as a snapshot; with `force`, whatever is (the rest
    /// stays). Reply: [`Reply::Count`] (objects removed).
    RmSnapshot { parent: Ino, name: Vec<u8>, force: bool },
    /// `mfssetquota`, `mfsdelquota`: change the quota of folder `ino` (sessions of `admin`
    /// exports with root mapped to root only). Reply: [`Reply::Quota`] (the result).
    SetQuota { ino: Ino, change: crate::quota::QuotaChange },
    /// Take, change or release a lock of the session's `owner` on bytes `start..=end` of
    /// `ino` (`fcntl(F_SETLK)`, `flock`). EAGAIN when another owner's lock is in the way (the
    /// mount retries while the caller waits). Reply: [`Reply::Done`].
    SetLock { ino: Ino, owner: u64, kind: crate::lock::LockKind, start: u64, end: u64, pid: u32 },
    /// Release every lock of the session's `owner` on `ino` (its file closed). Reply:
    /// [`Reply::Done`].
    ReleaseLocks { ino: Ino, owner: u64 },
}

/// Which chunks of a file [`WriteOp::AppendChunks`] takes (`mfsappendchunks -s FROM:TO`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkSlice {
    pub from: Option<i64>,
    pub to: Option<i64>,
}

impl ChunkSlice {
    /// The chunk indexes `from..to` of a file of `chunks` chunks, as Python resolves a slice
    /// (negative counts from the end, out-of-range values clamp); empty when `from >= to`.
    pub fn resolve(&self, chunks: u64) -> (u64, u64) {
        let n = i128::from(chunks);
        let at = |v: Option<i64>, default: i128| -> u64 {
            let v = v.map_or(default, |v| if v < 0 { n + i128::from(v) } else { i128::from(v) });
            v.clamp(0, n) as u64
        };
        let (from, to) = (at(self.from, 0), at(self.to, n));
        (from, to.max(from))
    }
}

/// How [`WriteOp::Snapshot`] treats what it copies (`mfsmakesnapshot`'s flags).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotFlags {
    /// `-o`: a file already at the destination is replaced (it goes to the trash like an
    /// unlinked one); without it, EEXIST.
    pub overwrite: bool,
    /// `-c`: new objects are made as `cp` makes them: owned by the caller, mode less the
    /// umask, goal and trash time from the destination folder, times now, no xattrs.
    pub cp_like: bool,
    /// `-p`: names of one file (hard links) inside the copied tree stay one file in the copy.
    pub preserve_hardlinks: bool,
}

impl WriteOp {
    /// A short name for metrics and logs.
    pub fn name(&self) -> &'static str {
        match self {
            WriteOp::SetAttr { .. } => "setattr",
            WriteOp::MkNod { .. } => "mknod",
            WriteOp::Create { .. } => "create",
            WriteOp::MkDir { .. } => "mkdir",
            WriteOp::Unlink { .. } => "unlink",
            WriteOp::RmDir { .. } => "rmdir",
            WriteOp::Rename { .. } => "rename",
            WriteOp::Link { .. } => "link",
            WriteOp::Symlink { .. } => "symlink",
            WriteOp::SetXattr { .. } => "setxattr",
            WriteOp::RemoveXattr { .. } => "removexattr",
            WriteOp::Open { .. } => "open",
            WriteOp::Release { .. } => "release",
            WriteOp::SetGoal { .. } => "setgoal",
            WriteOp::SetTrashTime { .. } => "settrashtime",
            WriteOp::ChunkWrite { .. } => "chunk_write",
            WriteOp::WriteEnd { .. } => "write_end",
            WriteOp::Undelete { .. } => "undelete",
            WriteOp::Purge { .. } => "purge",
            WriteOp::SetTrashPath { .. } => "set_trash_path",
            WriteOp::FileRepair { .. } => "file_repair",
            WriteOp::Snapshot { .. } => "snapshot",
            WriteOp::AppendChunks { .. } => "append_chunks",
            WriteOp::SetEattr { .. } => "seteattr",
            WriteOp::RmSnapshot { .. } => "rmsnapshot",
            WriteOp::SetQuota { .. } => "setquota",
            WriteOp::SetLock { .. } => "setlock",
            WriteOp::ReleaseLocks { .. } => "releaselocks",
        }
    }

    /// Limits a request must respect before a leader proposes it: what the state machine
    /// would refuse anyway, refused before it costs a log entry on every master, with the
    /// errno the namespace answers (a file size past [`MAX_FILE_SIZE`] is EFBIG, a name past
    /// [`MAX_NAME_LEN`] ENAMETOOLONG, ...). Every variable-length field is bounded here.
    pub fn check_bounds(&self) -> Result<(), Errno> {
        let size_ok = |size: u64| if size > MAX_FILE_SIZE { Err(Errno::EFBIG) } else { Ok(()) };
        match self {
            WriteOp::SetAttr { set, .. } => set.size.map_or(Ok(()), size_ok),
            WriteOp::WriteEnd { size, .. } => size_ok(*size),
            WriteOp::ChunkWrite { index, failed, .. } => {
                size_ok(u64::from(*index) * CHUNK_SIZE + 1)?;
                if failed.len() > MAX_FAILED || failed.iter().any(|a| a.len() > MAX_ADDR_LEN) {
                    return Err(Errno::EINVAL);
                }
                Ok(())
            }
            WriteOp::MkNod { name, .. }
            | WriteOp::Create { name, .. }
            | WriteOp::MkDir { name, .. }
            | WriteOp::Unlink { name, .. }
            | WriteOp::RmDir { name, .. }
            | WriteOp::Link { new_name: name, .. }
            | WriteOp::Snapshot { name, .. }
            | WriteOp::RmSnapshot { name, .. } => name_ok(name),
            WriteOp::Rename { name, new_name, .. } => name_ok(name).and_then(|()| name_ok(new_name)),
            WriteOp::Symlink { name, target, .. } => {
                name_ok(name)?;
                if target.len() > MAX_SYMLINK_LEN {
                    return Err(Errno::ENAMETOOLONG);
                }
                Ok(())
            }
            WriteOp::SetXattr { name, value, .. } => {
                xattr_name_ok(name)?;
                if value.len() > MAX_XATTR_VALUE {
                    return Err(Errno::E2BIG);
                }
                Ok(())
            }
            WriteOp::RemoveXattr { name, .. } => xattr_name_ok(name),
            WriteOp::SetTrashPath { path, .. } => trash_path_ok(path),
            WriteOp::Open { .. }
            | WriteOp::Release { .. }
            | WriteOp::SetGoal { .. }
            | WriteOp::SetTrashTime { .. }
            | WriteOp::Undelete { .. }
            | WriteOp::Purge { .. }
            | WriteOp::FileRepair { .. }
            | WriteOp::AppendChunks { .. }
            | WriteOp::SetEattr { .. }
            | WriteOp::SetQuota { .. }
            | WriteOp::SetLock { .. }
            | WriteOp::ReleaseLocks { .. } => Ok(()),
        }
    }

    /// True for the meta tree's operations (`mfsmount -m`), which only meta sessions may send.
    pub fn on_trash(&self) -> bool {
        matches!(self, WriteOp::Undelete { .. } | WriteOp::Purge { .. } | WriteOp::SetTrashPath { .. })
    }

    /// True when the operation may change the file system: refused (EROFS) in a read-only
    /// session. `Release` only drops an open reference; `Open` changes nothing unless it asks
    /// for write access or truncation.
    pub fn modifies(&self) -> bool {
        match self {
            // Locks change no file: a read-only mount may lock too.
            WriteOp::Release { .. } | WriteOp::SetLock { .. } | WriteOp::ReleaseLocks { .. } => false,
            WriteOp::Open { flags, .. } => flags & libc::O_ACCMODE != libc::O_RDONLY || flags & libc::O_TRUNC != 0,
            _ => true,
        }
    }
}

/// A path to restore a file of the trash to: "a/b/name", at most [`MAX_TRASH_PATH`] bytes,
/// every part a valid name ("." and ".." refused).
pub fn trash_path_ok(path: &[u8]) -> Result<(), Errno> {
    if path.len() > MAX_TRASH_PATH {
        return Err(Errno::ENAMETOOLONG);
    }
    let mut parts = path.split(|&b| b == b'/').filter(|p| !p.is_empty()).peekable();
    if parts.peek().is_none() {
        return Err(Errno::EINVAL);
    }
    for part in parts {
        name_ok(part)?;
        if part == b"." || part == b".." || part.contains(&0) {
            return Err(Errno::EINVAL);
        }
    }
    Ok(())
}

fn name_ok(name: &[u8]) -> Result<(), Errno> {
    if name.len() > MAX_NAME_LEN {
        return Err(Errno::ENAMETOOLONG);
    }
    Ok(())
}

fn xattr_name_ok(name: &[u8]) -> Result<(), Errno> {
    if name.len() > MAX_XATTR_NAME_LEN {
        return Err(Errno::ERANGE);
    }
    Ok(())
}

/// Reads: answered from the leader's state machine after a leadership check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReadOp {
    /// Find a name in a directory (needs search permission). Reply: [`Reply::Entry`].
    Lookup { parent: Ino, name: Vec<u8> },
    /// Reply: [`Reply::Attr`].
    GetAttr { ino: Ino },
    /// List a directory from a cookie (0 = start; "." and ".." come first), at most
    /// `max_entries`; with `plus`, attributes too. Reply: [`Reply::Dir`].
    ReadDir { ino: Ino, offset: u64, max_entries: u32, plus: bool },
    /// Reply: [`Reply::Data`].
    ReadLink { ino: Ino },
    /// Reply: [`Reply::Data`] (ENODATA when absent).
    GetXattr { ino: Ino, name: Vec<u8> },
    /// Reply: [`Reply::Names`].
    ListXattr { ino: Ino },
    /// Reply: [`Reply::StatFs`].
    StatFs,
    /// `access(2)`: `mask` of R_OK=4, W_OK=2, X_OK=1. Reply: [`Reply::Done`].
    Access { ino: Ino, mask: u32 },
    /// Where chunk `index` of a file is: id, version and the chunkservers holding a valid copy
    /// (chunk id 0 = a hole, read as zeros). Needs read permission (or an open reference).
    /// Reply: [`Reply::Chunk`].
    ChunkRead { ino: Ino, index: u32 },
    /// The chunks of a file that exist (holes left out), from chunk index `from` on, at most
    /// [`FILE_CHUNKS_PAGE`] of them, with their copies: for `mfsfileinfo`/`mfscheckfile`. A
    /// full page means there may be more: ask again from the last index + 1.
    /// Reply: [`Reply::Chunks`].
    FileChunks { ino: Ino, from: u32 },
    /// A hash of the whole replicated namespace and the log index it reflects, for checking
    /// that replicas agree. Reply: [`Reply::Digest`].
    Digest,
    /// Meta sessions only (`mfsmount -m`): deleted files in the trash (or, with `sustained`,
    /// those deleted while open), inode numbers above `after`, at most `max` (up to
    /// [`MAX_TRASH_PAGE`]) in inode order. Reply: [`Reply::Trash`].
    TrashList { after: Ino, max: u32, sustained: bool },
    /// Meta sessions only: one file of the trash or of the sustained set. Reply:
    /// [`Reply::Trash`] with one item; ENOENT when it is in neither.
    TrashItem { ino: Ino },
    /// Every path of an inode below the session root, "a/b/name" ("" for the root itself),
    /// sorted, at most 1,000 (`mfsfilepaths`). Reply: [`Reply::Names`]; empty for a file with
    /// no name (in the trash), ENOENT for no such inode.
    Paths { ino: Ino },
    /// `mfsgetquota`: the quota of folder `ino` (all zero without one) and what its contents
    /// use. Reply: [`Reply::Quota`]; EPERM for a non-folder.
    GetQuota { ino: Ino },
    /// `fcntl(F_GETLK)`: a lock of another owner (or session) in the way of a `write` (or
    /// read) lock of the session's `owner` on `start..=end`. Reply: [`Reply::Lock`].
    GetLock { ino: Ino, owner: u64, write: bool, start: u64, end: u64 },
    /// The client addresses (9421) of every member of the master group, so a client finds
    /// masters added since its `-H` list was written. Reply: [`Reply::Masters`].
    Masters,
}

impl ReadOp {
    /// A short name for metrics and logs.
    pub fn name(&self) -> &'static str {
        match self {
            ReadOp::Lookup { .. } => "lookup",
            ReadOp::GetAttr { .. } => "getattr",
            ReadOp::ReadDir { .. } => "readdir",
            ReadOp::ReadLink { .. } => "readlink",
            ReadOp::GetXattr { .. } => "getxattr",
            ReadOp::ListXattr { .. } => "listxattr",
            ReadOp::StatFs => "statfs",
            ReadOp::Access { .. } => "access",
            ReadOp::ChunkRead { .. } => "chunk_read",
            ReadOp::FileChunks { .. } => "file_chunks",
            ReadOp::Digest => "digest",
            ReadOp::TrashList { .. } => "trash_list",
            ReadOp::TrashItem { .. } => "trash_item",
            ReadOp::Paths { .. } => "paths",
            ReadOp::GetQuota { .. } => "getquota",
            ReadOp::GetLock { .. } => "getlock",
            ReadOp::Masters => "masters",
        }
    }

    /// Limits a read must respect before a leader does any work for it, as
    /// [`WriteOp::check_bounds`].
    pub fn check_bounds(&self) -> Result<(), Errno> {
        match self {
            ReadOp::Lookup { name, .. } => name_ok(name),
            ReadOp::GetXattr { name, .. } => xattr_name_ok(name),
            ReadOp::GetAttr { .. }
            | ReadOp::ReadDir { .. }
            | ReadOp::ReadLink { .. }
            | ReadOp::ListXattr { .. }
            | ReadOp::StatFs
            | ReadOp::Access { .. }
            | ReadOp::ChunkRead { .. }
            | ReadOp::FileChunks { .. }
            | ReadOp::Digest
            | ReadOp::TrashItem { .. }
            | ReadOp::Paths { .. }
            | ReadOp::GetQuota { .. }
            | ReadOp::GetLock { .. }
            | ReadOp::Masters => Ok(()),
            ReadOp::TrashList { max, .. } => {
                if *max as usize > MAX_TRASH_PAGE {
                    return Err(Errno::EINVAL);
                }
                Ok(())
            }
        }
    }
}

impl RequestBody {
    /// Bound the variable-length fields of a request before a leader works on it: a session's
    /// `info` is cut to [`MAX_SESSION_INFO`] bytes, and a folder, credentials or a read op
    /// out of bounds gets the answer to send instead (the write op itself is checked by
    /// [`WriteOp::check_bounds`] once the session's access has mapped it).
    // The refusal is the answer itself, built once per refused request: its size costs nothing.
    #[allow(clippy::result_large_err)]
    pub fn bounded(self) -> Result<RequestBody, ResponseBody> {
        let refuse = |e: Errno| Err(ResponseBody::Result(Err(e)));
        match self {
            RequestBody::OpenSession { info, protocol, version, subfolder, meta, password } => {
                if subfolder.len() > MAX_SUBFOLDER_LEN {
                    return Err(ResponseBody::Refused {
                        reason: format!("session folder of {} bytes; at most {MAX_SUBFOLDER_LEN}", subfolder.len()),
                    });
                }
                Ok(RequestBody::OpenSession { info: cut_info(info), protocol, version, subfolder, meta, password })
            }
            RequestBody::OpenToolSession { info, protocol, version, parent, ticket } => {
                Ok(RequestBody::OpenToolSession { info: cut_info(info), protocol, version, parent, ticket })
            }
            RequestBody::Write { ref creds, .. } => match creds.check_bounds() {
                Ok(()) => Ok(self),
                Err(e) => refuse(e),
            },
            RequestBody::Read { ref creds, ref op, .. } => {
                match creds.check_bounds().and_then(|()| op.check_bounds()) {
                    Ok(()) => Ok(self),
                    Err(e) => refuse(e),
                }
            }
            other => Ok(other),
        }
    }
}

/// `info` cut to at most [`MAX_SESSION_INFO`] bytes, at a character boundary.
fn cut_info(mut info: String) -> String {
    if info.len() > MAX_SESSION_INFO {
        let mut end = MAX_SESSION_INFO;
        while !info.is_char_boundary(end) {
            end -= 1;
        }
        info.truncate(end);
    }
    info
}

/// A successful answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    Done,
    /// A new or found directory entry: the inode's attributes.
    Entry(Attr),
    Attr(Attr),
    Dir(Vec<DirEntry>),
    Data(#[serde(with = "crate::bytes")] Vec<u8>),
    Names(Vec<Vec<u8>>),
    StatFs(StatFs),
    Count(u64),
    /// A new session: its id and secret, for every later request of it.
    Session(SessionKey),
    /// The random bytes of a password challenge ([`CHALLENGE_LEN`] of them).
    Challenge(Vec<u8>),
    Chunk(ChunkLocation),
    Chunks(Vec<ChunkLocation>),
    Digest {
        applied_index: u64,
        digest: String,
    },
    /// Files of the trash or sustained ones (the meta tree).
    Trash(Vec<TrashItem>),
    /// What a [`WriteOp::FileRepair`] did, in chunks.
    Repaired {
        not_changed: u64,
        erased: u64,
        repaired: u64,
    },
    /// A folder's quota and usage.
    Quota(crate::quota::QuotaInfo),
    /// A lock in the way, if any.
    Lock(Option<crate::lock::LockHolder>),
    /// Addresses (of the master group's members).
    Masters(Vec<String>),
}

/// A deleted file as the meta tree shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrashItem {
    /// Its attributes (link count 0).
    pub attr: Attr,
    /// Where it will be put back ("dir/name"); for a sustained file, where it was when deleted
    /// if it went through the trash, else empty.
    #[serde(with = "crate::bytes")]
    pub path: Vec<u8>,
}

/// Where one chunk of a file lives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkLocation {
    /// Chunk index in the file (offset / `CHUNK_SIZE`).
    pub index: u32,
    /// 0 for a hole (no chunk: reads as zeros).
    pub chunk_id: u64,
    pub version: u32,
    /// The file's size when this was answered, so a reader needs no extra getattr.
    pub file_size: u64,
    /// Data addresses (9422) of chunkservers with a valid copy; for `ChunkWrite`, the write
    /// chain in order.
    pub servers: Vec<String>,
    /// The file's goal (copies wanted).
    pub goal: u8,
    /// Copies of the chunk known damaged, with their bad 64 KiB blocks (data address, sorted
    /// blocks). A copy with blocks listed is also in `servers` (after the whole copies): its
    /// other blocks serve. A copy with no blocks listed is unusable as a whole and is not in
    /// `servers`. Empty in a `ChunkWrite` answer.
    pub damaged: Vec<(String, Vec<u32>)>,
    /// The leader's permission to use the chunk on its chunkservers: to read it (a
    /// `ChunkRead` answer) or to write it down `servers` (a `ChunkWrite` answer). Added by the
    /// leader to its answer, never kept in the replicated state; `None` elsewhere (the
    /// chunk lists of `mfsfileinfo`).
    pub token: Option<DataToken>,
}

/// The outcome of an operation: a reply or a POSIX error.
pub type OpResult = Result<Reply, Errno>;

/// One response from a master.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClientResponse {
    /// The `id` of the request answered.
    pub id: u64,
    pub body: ResponseBody,
}

/// How a master answers.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ResponseBody {
    /// The operation ran (or had run before: an exactly-once replay).
    Result(OpResult),
    /// This master does not lead. `leader` is the client address of the leader it knows, if any.
    NotLeader { leader: Option<String> },
    /// This master leads but could not commit or confirm leadership in time (no quorum).
    /// The operation may still commit later; retry with the same session and sequence number.
    Unavailable { reason: String },
    /// The session is unknown (expired, never opened, or named with the wrong secret): open a
    /// new one.
    SessionUnknown,
    /// The request was malformed or not allowed (a protocol version mismatch, or no export
    /// rule lets this client open the session: `reason` says why, for the user).
    Refused { reason: String },
    /// The answer to `WhoLeads`: this master's current term and the client address of the
    /// leader it knows in that term (itself when it leads), if any.
    Leader { term: u64, leader: Option<String> },
}
