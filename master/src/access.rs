//! What a session may do, and how its requests are seen: the permissions its export rule
//! granted at open time ([`SessionAccess`], stored with the session in the replicated state so
//! every later leader applies them without checking the exports again), and their enforcement
//! on each request.
//!
//! - read-only: every mutation is EROFS (chunk writes too);
//! - `maproot`/`mapall`: the caller's uid/gid are replaced (MooseFS's remap: uid 0 gets the
//!   `maproot` pair, every other uid the `mapall` pair when there is one);
//! - goal and trash time limits: a value outside them is EPERM, as MooseFS answers;
//! - the session root (a subfolder export, `mfsmount -S`): the client's inode 1 is the
//!   subfolder, the subfolder is answered as inode 1, its `..` is itself, and every inode a
//!   request names must be inside it (a directory below it, or a file with a name in one) or be
//!   open in the session: anything else is EPERM, by name or by number.

use proto::client::{ReadOp, Reply, WriteOp};
use proto::meta::{Creds, Ino, ROOT_INODE};
use proto::Errno;
use serde::{Deserialize, Serialize};

use crate::exports::ExportRule;
use crate::namespace::Namespace;

/// The `root` of a meta session (`mfsmount -m`): no inode has number 0, so such a session can
/// reach nothing of the file tree; it may only list and restore the trash
/// ([`SessionAccess::is_meta`]).
pub const META_ROOT: Ino = 0;

/// The permissions of one session, fixed when it opened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionAccess {
    /// The directory the client sees as its root (inode 1 for the whole tree).
    pub root: Ino,
    pub readonly: bool,
    /// uid 0 becomes this uid:gid; (0, 0) leaves root alone.
    pub maproot: (u32, u32),
    /// Every other uid becomes this uid:gid.
    pub mapall: Option<(u32, u32)>,
    /// Group and other bits count together for every caller but the owner.
    pub ignore_gid: bool,
    /// Administrative privileges (nothing needs them yet).
    pub admin: bool,
    pub min_goal: u8,
    pub max_goal: u8,
    pub min_trash: u32,
    pub max_trash: u32,
}

impl SessionAccess {
    /// Everything allowed, the whole tree, root as root: what MooseFS's default rule grants.
    pub fn full() -> SessionAccess {
        SessionAccess {
            root: ROOT_INODE,
            readonly: false,
            maproot: (0, 0),
            mapall: None,
            ignore_gid: false,
            admin: true,
            min_goal: 1,
            max_goal: 9,
            min_trash: 0,
            max_trash: u32::MAX,
        }
    }

    /// What `rule` grants, rooted at the directory `root`.
    pub fn from_rule(rule: &ExportRule, root: Ino) -> SessionAccess {
        SessionAccess {
            root,
            readonly: rule.readonly,
            maproot: rule.maproot,
            mapall: rule.mapall,
            ignore_gid: rule.ignore_gid,
            admin: rule.admin,
            min_goal: rule.min_goal,
            max_goal: rule.max_goal,
            min_trash: rule.min_trash,
            max_trash: rule.max_trash,
        }
    }

    /// The credentials the namespace sees for `c`.
    pub fn creds(&self, c: &Creds) -> Creds {
        let mut out = if c.uid == 0 {
            if self.maproot.0 == 0 {
                Creds::new(0, self.maproot.1, c.groups.clone())
            } else {
                Creds::new(self.maproot.0, self.maproot.1, Vec::new())
            }
        } else if let Some((uid, gid)) = self.mapall {
            Creds::new(uid, gid, Vec::new())
        } else {
            Creds::new(c.uid, c.gid, c.groups.clone())
        };
        out.ignore_gid = self.ignore_gid;
        out
    }

    /// Read-only sessions, goal and trash time limits, the extra attributes only `admin`
    /// exports set: the checks that need no namespace.
    pub fn check_write(&self, op: &WriteOp) -> Result<(), Errno> {
        if self.readonly && op.modifies() {
            return Err(Errno::EROFS);
        }
        match op {
            WriteOp::SetGoal { goal, .. } if !(self.min_goal..=self.max_goal).contains(goal) => Err(Errno::EPERM),
            WriteOp::SetTrashTime { seconds, .. } if !(self.min_trash..=self.max_trash).contains(seconds) => {
                Err(Errno::EPERM)
            }
            // MooseFS looks only at the flags asked for: a plain set without them clears them.
            WriteOp::SetEattr { flags, .. } if !self.admin && flags & proto::eattr::ADMIN_ONLY != 0 => {
                Err(Errno::EPERM)
            }
            // Quotas: root not mapped to root is EACCES, a session without `admin` EPERM (MooseFS).
            WriteOp::SetQuota { change, .. } if change.flags != 0 && self.maproot.0 != 0 => Err(Errno::EACCES),
            WriteOp::SetQuota { change, .. } if change.flags != 0 && !self.admin => Err(Errno::EPERM),
            _ => Ok(()),
        }
    }

    fn confined(&self) -> bool {
        self.root != ROOT_INODE
    }

    /// A session on the meta tree (trash, sustained) rather than the file tree.
    pub fn is_meta(&self) -> bool {
        self.root == META_ROOT
    }

    /// The namespace inode for the client's `ino`: 1 is the session root; any other inode must
    /// be inside it (a directory below it, or a file with a name below it) or be open in this
    /// session (a file unlinked while open). EPERM otherwise; ENOENT for a number that names
    /// nothing, as for any session.
    fn ino_in(&self, ns: &Namespace, session: u64, ino: Ino) -> Result<Ino, Errno> {
        if !self.confined() {
            return Ok(ino);
        }
        let ino = if ino == ROOT_INODE { self.root } else { ino };
        if ns.is_within(self.root, ino) || ns.session_has_open(session, ino) {
            return Ok(ino);
        }
        if !ns.exists(ino) {
            return Err(Errno::ENOENT);
        }
        Err(Errno::EPERM)
    }

    /// Only translate the session root (for `Release`, which must always reach the state
    /// machine: it is also the keepalive).
    fn root_only(&self, ino: Ino) -> Ino {
        if self.confined() && ino == ROOT_INODE {
            self.root
        } else {
            ino
        }
    }

    /// The request as the namespace must see it: checks ([`SessionAccess::check_write`]) and
    /// inode translation.
    pub fn write_op(&self, ns: &Namespace, session: u64, op: WriteOp) -> Result<WriteOp, Errno> {
        self.check_write(&op)?;
        let on_trash = op.on_trash();
        if self.is_meta() {
            // The meta tree: the trash operations, and the release that keeps it alive.
            return match op {
                WriteOp::Release { ino } => Ok(WriteOp::Release { ino: self.root_only(ino) }),
                op if on_trash => Ok(op),
                _ => Err(Errno::EPERM),
            };
        }
        if on_trash {
            return Err(Errno::EPERM);
        }
        if !self.confined() {
            return Ok(op);
        }
        let i = |ino| self.ino_in(ns, session, ino);
        Ok(match op {
            WriteOp::SetAttr { ino, set } => WriteOp::SetAttr { ino: i(ino)?, set },
            WriteOp::MkNod { parent, name, mode, umask, rdev } => {
                WriteOp::MkNod { parent: i(parent)?, name, mode, umask, rdev }
            }
            WriteOp::Create { parent, name, mode, umask, exclusive } => {
                WriteOp::Create { parent: i(parent)?, name, mode, umask, exclusive }
            }
            WriteOp::MkDir { parent, name, mode, umask } => WriteOp::MkDir { parent: i(parent)?, name, mode, umask },
            WriteOp::Unlink { parent, name } => WriteOp::Unlink { parent: i(parent)?, name },
            WriteOp::RmDir { parent, name } => WriteOp::RmDir { parent: i(parent)?, name },
            WriteOp::Rename { parent, name, new_parent, new_name, flags } => {
                WriteOp::Rename { parent: i(parent)?, name, new_parent: i(new_parent)?, new_name, flags }
            }
            WriteOp::Link { ino, new_parent, new_name } => {
                WriteOp::Link { ino: i(ino)?, new_parent: i(new_parent)?, new_name }
            }
            WriteOp::Symlink { parent, name, target } => WriteOp::Symlink { parent: i(parent)?, name, target },
            WriteOp::SetXattr { ino, name, value, mode } => WriteOp::SetXattr { ino: i(ino)?, name, value, mode },
            WriteOp::RemoveXattr { ino, name } => WriteOp::RemoveXattr { ino: i(ino)?, name },
            WriteOp::Open { ino, flags } => WriteOp::Open { ino: i(ino)?, flags },
            WriteOp::Release { ino } => WriteOp::Release { ino: self.root_only(ino) },
            WriteOp::SetGoal { ino, goal, recursive } => WriteOp::SetGoal { ino: i(ino)?, goal, recursive },
            WriteOp::SetTrashTime { ino, seconds, recursive } => {
                WriteOp::SetTrashTime { ino: i(ino)?, seconds, recursive }
            }
            WriteOp::ChunkWrite { ino, index, failed } => WriteOp::ChunkWrite { ino: i(ino)?, index, failed },
            WriteOp::WriteEnd { ino, size } => WriteOp::WriteEnd { ino: i(ino)?, size },
            WriteOp::FileRepair { ino } => WriteOp::FileRepair { ino: i(ino)? },
            WriteOp::Snapshot { src, dst_parent, name, flags, umask } => {
                WriteOp::Snapshot { src: i(src)?, dst_parent: i(dst_parent)?, name, flags, umask }
            }
            WriteOp::AppendChunks { dst, src, slice } => WriteOp::AppendChunks { dst: i(dst)?, src: i(src)?, slice },
            WriteOp::SetEattr { ino, flags, mode, recursive } => {
                WriteOp::SetEattr { ino: i(ino)?, flags, mode, recursive }
            }
            WriteOp::RmSnapshot { parent, name, force } => WriteOp::RmSnapshot { parent: i(parent)?, name, force },
            WriteOp::SetQuota { ino, change } => WriteOp::SetQuota { ino: i(ino)?, change },
            WriteOp::SetLock { ino, owner, kind, start, end, pid } => {
                WriteOp::SetLock { ino: i(ino)?, owner, kind, start, end, pid }
            }
            WriteOp::ReleaseLocks { ino, owner } => WriteOp::ReleaseLocks { ino: self.root_only(ino), owner },
            op @ (WriteOp::Undelete { .. } | WriteOp::Purge { .. } | WriteOp::SetTrashPath { .. }) => op,
        })
    }

    /// The read as the namespace must see it: inode translation; `..` of the session root is
    /// the root itself.
    pub fn read_op(&self, ns: &Namespace, session: u64, op: ReadOp) -> Result<ReadOp, Errno> {
        let on_trash = matches!(op, ReadOp::TrashList { .. } | ReadOp::TrashItem { .. });
        if self.is_meta() {
            return match op {
                op @ (ReadOp::StatFs | ReadOp::TrashList { .. } | ReadOp::TrashItem { .. }) => Ok(op),
                _ => Err(Errno::EPERM),
            };
        }
        if on_trash {
            return Err(Errno::EPERM);
        }
        if !self.confined() {
            return Ok(op);
        }
        let i = |ino| self.ino_in(ns, session, ino);
        Ok(match op {
            ReadOp::Lookup { parent, name } => {
                let parent = i(parent)?;
                let name = if parent == self.root && name == b".." { b".".to_vec() } else { name };
                ReadOp::Lookup { parent, name }
            }
            ReadOp::GetAttr { ino } => ReadOp::GetAttr { ino: i(ino)? },
            ReadOp::ReadDir { ino, offset, max_entries, plus } => {
                ReadOp::ReadDir { ino: i(ino)?, offset, max_entries, plus }
            }
            ReadOp::ReadLink { ino } => ReadOp::ReadLink { ino: i(ino)? },
            ReadOp::GetXattr { ino, name } => ReadOp::GetXattr { ino: i(ino)?, name },
            ReadOp::ListXattr { ino } => ReadOp::ListXattr { ino: i(ino)? },
            ReadOp::Access { ino, mask } => ReadOp::Access { ino: i(ino)?, mask },
            ReadOp::ChunkRead { ino, index } => ReadOp::ChunkRead { ino: i(ino)?, index },
            ReadOp::FileChunks { ino, from } => ReadOp::FileChunks { ino: i(ino)?, from },
            ReadOp::Paths { ino } => ReadOp::Paths { ino: i(ino)? },
            ReadOp::GetQuota { ino } => ReadOp::GetQuota { ino: i(ino)? },
            ReadOp::GetLock { ino, owner, write, start, end } => {
                ReadOp::GetLock { ino: i(ino)?, owner, write, start, end }
            }
            op @ (ReadOp::StatFs
            | ReadOp::Digest
            | ReadOp::TrashList { .. }
            | ReadOp::TrashItem { .. }
            | ReadOp::Masters) => op,
        })
    }

    /// The answer as the client must see it: the session root is inode 1. `listed` is the
    /// directory a `ReadDir` listed (after translation), whose `..` stays at the root when it
    /// is the session root.
    pub fn reply(&self, listed: Option<Ino>, mut r: Reply) -> Reply {
        if !self.confined() || self.is_meta() {
            return r;
        }
        let out = |ino: &mut Ino| {
            if *ino == self.root {
                *ino = ROOT_INODE;
            }
        };
        match &mut r {
            Reply::Entry(a) | Reply::Attr(a) => out(&mut a.ino),
            Reply::Dir(entries) => {
                if listed == Some(self.root) {
                    let dot = entries.iter().find(|e| e.name == b".").and_then(|e| e.attr.clone());
                    for e in entries.iter_mut().filter(|e| e.name == b"..") {
                        e.ino = self.root;
                        if e.attr.is_some() {
                            e.attr.clone_from(&dot);
                        }
                    }
                }
                for e in entries.iter_mut() {
                    out(&mut e.ino);
                    if let Some(a) = &mut e.attr {
                        out(&mut a.ino);
                    }
                }
            }
            _ => {}
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::namespace::OpContext;
    use proto::meta::Timestamp;

    fn ctx() -> OpContext {
        OpContext { now: Timestamp::new(1, 0), creds: Creds::root(), session: 1 }
    }

    fn mkdir(ns: &mut Namespace, parent: Ino, name: &str) -> Ino {
        let op = WriteOp::MkDir { parent, name: name.into(), mode: 0o755, umask: 0 };
        match ns.apply_write(&ctx(), &op) {
            Ok(Reply::Entry(a)) => a.ino,
            other => panic!("{other:?}"),
        }
    }

    fn confined(root: Ino) -> SessionAccess {
        SessionAccess { root, ..SessionAccess::full() }
    }

    #[test]
    fn creds_are_mapped_as_moosefs_remaps_them() {
        let user = Creds::new(1000, 1000, vec![5]);
        let full = SessionAccess::full();
        assert_eq!(full.creds(&user), user);
        assert_eq!(full.creds(&Creds::root()), Creds::root());
        let squash = SessionAccess { maproot: (999, 999), ..SessionAccess::full() };
        assert_eq!(squash.creds(&Creds::root()), Creds::new(999, 999, vec![]));
        assert_eq!(squash.creds(&user), user);
        let all = SessionAccess { maproot: (7, 7), mapall: Some((8, 9)), ..SessionAccess::full() };
        assert_eq!(all.creds(&user), Creds::new(8, 9, vec![]));
        assert_eq!(all.creds(&Creds::root()).uid, 7);
        // A client cannot claim ignoregid; the session's rule decides.
        let claims = Creds { ignore_gid: true, ..user.clone() };
        assert!(!full.creds(&claims).ignore_gid);
        let ig = SessionAccess { ignore_gid: true, ..SessionAccess::full() };
        assert!(ig.creds(&user).ignore_gid);
    }

    #[test]
    fn ignoregid_adds_group_and_other_bits_for_non_owners() {
        let mut ns = Namespace::new(Timestamp::default());
        let op = WriteOp::MkDir { parent: ROOT_INODE, name: b"g".to_vec(), mode: 0o770, umask: 0 };
        let Ok(Reply::Entry(g)) = ns.apply_write(&ctx(), &op) else { panic!() };
        let user = Creds::new(1000, 1000, vec![]);
        let mk = WriteOp::MkDir { parent: g.ino, name: b"x".to_vec(), mode: 0o755, umask: 0 };
        let as_user = |a: &SessionAccess| OpContext { creds: a.creds(&user), ..ctx() };
        let plain = SessionAccess::full();
        assert_eq!(ns.apply_write(&as_user(&plain), &mk), Err(Errno::EACCES));
        let ig = SessionAccess { ignore_gid: true, ..SessionAccess::full() };
        assert!(ns.apply_write(&as_user(&ig), &mk).is_ok());
    }

    #[test]
    fn meta_sessions_reach_only_the_trash_and_others_never_do() {
        let ns = Namespace::new(Timestamp::default());
        let meta = SessionAccess { root: META_ROOT, ..SessionAccess::full() };
        let full = SessionAccess::full();
        let sub = SessionAccess { root: 7, ..SessionAccess::full() };
        let trash_ops = [
            WriteOp::Undelete { ino: 5 },
            WriteOp::Purge { ino: 5 },
            WriteOp::SetTrashPath { ino: 5, path: b"a".to_vec() },
        ];
        for op in trash_ops {
            assert_eq!(meta.write_op(&ns, 1, op.clone()), Ok(op.clone()));
            assert_eq!(full.write_op(&ns, 1, op.clone()), Err(Errno::EPERM));
            assert_eq!(sub.write_op(&ns, 1, op), Err(Errno::EPERM));
        }
        let mk = WriteOp::MkDir { parent: 1, name: b"a".to_vec(), mode: 0o755, umask: 0 };
        assert_eq!(meta.write_op(&ns, 1, mk), Err(Errno::EPERM));
        assert!(meta.write_op(&ns, 1, WriteOp::Release { ino: 1 }).is_ok(), "the keepalive");
        let list = ReadOp::TrashList { after: 0, max: 10, sustained: false };
        assert_eq!(meta.read_op(&ns, 1, list.clone()), Ok(list.clone()));
        assert_eq!(full.read_op(&ns, 1, list.clone()), Err(Errno::EPERM));
        assert_eq!(sub.read_op(&ns, 1, list), Err(Errno::EPERM));
        assert_eq!(meta.read_op(&ns, 1, ReadOp::GetAttr { ino: 1 }), Err(Errno::EPERM));
        let ro_meta = SessionAccess { readonly: true, ..meta };
        assert_eq!(ro_meta.write_op(&ns, 1, WriteOp::Purge { ino: 5 }), Err(Errno::EROFS));
    }

    #[test]
    fn read_only_and_limits() {
        let ro = SessionAccess { readonly: true, ..SessionAccess::full() };
        let ns = Namespace::new(Timestamp::default());
        let mk = WriteOp::MkDir { parent: 1, name: b"a".to_vec(), mode: 0o755, umask: 0 };
        assert_eq!(ro.write_op(&ns, 1, mk), Err(Errno::EROFS));
        let cw = WriteOp::ChunkWrite { ino: 2, index: 0, failed: vec![] };
        assert_eq!(ro.check_write(&cw), Err(Errno::EROFS));
        assert!(ro.check_write(&WriteOp::Open { ino: 2, flags: libc::O_RDONLY }).is_ok());
        assert_eq!(ro.check_write(&WriteOp::Open { ino: 2, flags: libc::O_RDWR }), Err(Errno::EROFS));
        assert_eq!(ro.check_write(&WriteOp::Open { ino: 2, flags: libc::O_RDONLY | libc::O_TRUNC }), Err(Errno::EROFS));
        assert!(ro.check_write(&WriteOp::Release { ino: 0 }).is_ok(), "the keepalive");
        let lim = SessionAccess { min_goal: 2, max_goal: 3, min_trash: 60, max_trash: 3600, ..SessionAccess::full() };
        let goal = |goal| WriteOp::SetGoal { ino: 1, goal, recursive: false };
        assert_eq!(lim.check_write(&goal(1)), Err(Errno::EPERM));
        assert!(lim.check_write(&goal(2)).is_ok());
        assert_eq!(lim.check_write(&goal(4)), Err(Errno::EPERM));
        let tt = |seconds| WriteOp::SetTrashTime { ino: 1, seconds, recursive: false };
        assert_eq!(lim.check_write(&tt(59)), Err(Errno::EPERM));
        assert!(lim.check_write(&tt(600)).is_ok());
        assert_eq!(lim.check_write(&tt(3601)), Err(Errno::EPERM));
    }

    #[test]
    fn a_subfolder_session_sees_its_folder_as_root_and_nothing_above() {
        let mut ns = Namespace::new(Timestamp::default());
        let sub = mkdir(&mut ns, ROOT_INODE, "sub");
        let inner = mkdir(&mut ns, sub, "inner");
        let outside = mkdir(&mut ns, ROOT_INODE, "outside");
        let a = confined(sub);
        // Inode 1 is the subfolder; its ".." stays there.
        let op = a.read_op(&ns, 1, ReadOp::Lookup { parent: ROOT_INODE, name: b"..".to_vec() }).unwrap();
        assert_eq!(op, ReadOp::Lookup { parent: sub, name: b".".to_vec() });
        let r = a.reply(None, ns.read(&Creds::root(), &op).unwrap());
        assert!(matches!(r, Reply::Entry(ref at) if at.ino == ROOT_INODE), "{r:?}");
        // "inner/.." is the subfolder, answered as inode 1.
        let op = a.read_op(&ns, 1, ReadOp::Lookup { parent: inner, name: b"..".to_vec() }).unwrap();
        let r = a.reply(None, ns.read(&Creds::root(), &op).unwrap());
        assert!(matches!(r, Reply::Entry(ref at) if at.ino == ROOT_INODE), "{r:?}");
        // Listing the root: "." and ".." are both inode 1.
        let op =
            a.read_op(&ns, 1, ReadOp::ReadDir { ino: ROOT_INODE, offset: 0, max_entries: 10, plus: true }).unwrap();
        let Reply::Dir(entries) = a.reply(Some(sub), ns.read(&Creds::root(), &op).unwrap()) else { panic!() };
        let dots: Vec<_> = entries.iter().filter(|e| e.name == b"." || e.name == b"..").collect();
        assert!(dots.iter().all(|e| e.ino == ROOT_INODE && e.attr.as_ref().map(|a| a.ino) == Some(ROOT_INODE)));
        assert!(entries.iter().any(|e| e.name == b"inner" && e.ino == inner));
        // A directory outside is refused, by number too.
        assert_eq!(a.read_op(&ns, 1, ReadOp::GetAttr { ino: outside }), Err(Errno::EPERM));
        let mk = WriteOp::MkDir { parent: outside, name: b"x".to_vec(), mode: 0o755, umask: 0 };
        assert_eq!(a.write_op(&ns, 1, mk), Err(Errno::EPERM));
        let mv = WriteOp::Rename {
            parent: ROOT_INODE,
            name: b"inner".to_vec(),
            new_parent: outside,
            new_name: b"i".to_vec(),
            flags: Default::default(),
        };
        assert_eq!(a.write_op(&ns, 1, mv), Err(Errno::EPERM));
        assert!(a.read_op(&ns, 1, ReadOp::GetAttr { ino: inner }).is_ok());
        // A file outside, by number: refused for every operation that names it; one inside is
        // fine, and so is a hard link of an outside file made inside by a whole-tree session.
        // (The files are made by session 1, which keeps them open; the confined session is 7.)
        let ctx = ctx();
        let create = |ns: &mut Namespace, parent, name: &str| match ns
            .apply_write(&ctx, &WriteOp::Create { parent, name: name.into(), mode: 0o644, umask: 0, exclusive: true })
        {
            Ok(Reply::Entry(a)) => a.ino,
            other => panic!("{other:?}"),
        };
        let secret = create(&mut ns, outside, "secret");
        let mine = create(&mut ns, inner, "mine");
        for op in [
            ReadOp::GetAttr { ino: secret },
            ReadOp::ChunkRead { ino: secret, index: 0 },
            ReadOp::GetXattr { ino: secret, name: b"user.x".to_vec() },
            ReadOp::FileChunks { ino: secret, from: 0 },
        ] {
            assert_eq!(a.read_op(&ns, 7, op.clone()), Err(Errno::EPERM), "{op:?}");
        }
        for op in [
            WriteOp::Open { ino: secret, flags: libc::O_RDONLY },
            WriteOp::ChunkWrite { ino: secret, index: 0, failed: vec![] },
            WriteOp::WriteEnd { ino: secret, size: 1 },
            WriteOp::SetAttr { ino: secret, set: Default::default() },
            WriteOp::Link { ino: secret, new_parent: ROOT_INODE, new_name: b"stolen".to_vec() },
        ] {
            assert_eq!(a.write_op(&ns, 7, op.clone()), Err(Errno::EPERM), "{op:?}");
        }
        assert!(a.read_op(&ns, 7, ReadOp::GetAttr { ino: mine }).is_ok());
        assert_eq!(a.read_op(&ns, 7, ReadOp::GetAttr { ino: 9999 }), Err(Errno::ENOENT));
        let link = WriteOp::Link { ino: secret, new_parent: inner, new_name: b"shared".to_vec() };
        ns.apply_write(&ctx, &link).unwrap();
        assert!(a.read_op(&ns, 7, ReadOp::GetAttr { ino: secret }).is_ok(), "linked inside");
        ns.apply_write(&ctx, &WriteOp::Unlink { parent: inner, name: b"shared".to_vec() }).unwrap();
        assert_eq!(a.read_op(&ns, 7, ReadOp::GetAttr { ino: secret }), Err(Errno::EPERM), "link removed");
        // Moved inside by rename, then out again.
        let mv = |from, fname: &str, to, tname: &str| WriteOp::Rename {
            parent: from,
            name: fname.into(),
            new_parent: to,
            new_name: tname.into(),
            flags: Default::default(),
        };
        ns.apply_write(&ctx, &mv(outside, "secret", inner, "s")).unwrap();
        assert!(a.read_op(&ns, 7, ReadOp::GetAttr { ino: secret }).is_ok());
        ns.apply_write(&ctx, &mv(inner, "s", outside, "secret")).unwrap();
        assert_eq!(a.read_op(&ns, 7, ReadOp::GetAttr { ino: secret }), Err(Errno::EPERM));
        // A file of the session's own, open and then unlinked, stays reachable by this
        // session only.
        let s = OpContext { session: 7, ..ctx.clone() };
        ns.apply_write(&s, &WriteOp::Open { ino: mine, flags: libc::O_RDONLY }).unwrap();
        ns.apply_write(&ctx, &WriteOp::Unlink { parent: inner, name: b"mine".to_vec() }).unwrap();
        assert!(a.read_op(&ns, 7, ReadOp::GetAttr { ino: mine }).is_ok(), "open in this session");
        assert_eq!(a.read_op(&ns, 2, ReadOp::GetAttr { ino: mine }), Err(Errno::EPERM), "not open in session 2");
        // The whole-tree session translates nothing.
        let full = SessionAccess::full();
        assert_eq!(full.read_op(&ns, 1, ReadOp::GetAttr { ino: outside }), Ok(ReadOp::GetAttr { ino: outside }));
    }
}
