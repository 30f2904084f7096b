//! Determinism, digests, serialization, goal and trash-time settings, reads dispatch.

use super::*;
use sha2::{Digest, Sha256};

/// A little of everything, so digests cover every part of the state.
fn busy(fs: &mut Fs) {
    let d = fs.mkdir(ROOT, "d").unwrap().ino;
    let f = fs.create(d, "f").unwrap().ino;
    fs.give_chunks(f, &[1, 2]);
    fs.truncate(f, 1 << 27).unwrap();
    fs.link(f, ROOT, "hard").unwrap();
    fs.symlink(d, "l", b"f").unwrap();
    fs.setxattr(f, "user.k", b"v", XattrMode::Set).unwrap();
    let g = fs.file(d, "g").unwrap().ino;
    fs.unlink(d, "g").unwrap(); // trash
    fs.set_trash_time(f, 0, false).unwrap(); // so that, open, it is sustained
    fs.unlink(d, "f").unwrap();
    fs.unlink(ROOT, "hard").unwrap(); // sustained: still open
    fs.truncate(f, 1).unwrap(); // chunk 2 to delete
    fs.rename(ROOT, "d", ROOT, "e").unwrap();
    assert!(fs.in_trash(g) && fs.is_sustained(f));
}

#[test]
fn the_same_operations_give_the_same_digest_on_two_replicas() {
    let mut a = Fs::new();
    let mut b = Fs::new();
    busy(&mut a);
    busy(&mut b);
    assert_eq!(a.ns.digest(), b.ns.digest());
    assert!(a.ns == b.ns);
    // One more operation on one replica only: the digests differ.
    a.file(ROOT, "extra").unwrap();
    assert_ne!(a.ns.digest(), b.ns.digest());
}

#[test]
fn a_different_time_gives_a_different_digest() {
    let a = Namespace::new(t(1));
    let b = Namespace::new(t(2));
    assert_ne!(a.digest(), b.digest());
    assert_eq!(a.digest(), Namespace::new(t(1)).digest());
}

#[test]
fn the_digest_is_the_sha256_of_the_namespace_and_its_sections() {
    let mut fs = Fs::new();
    busy(&mut fs);
    let bytes =
        proto::frame::encode(&(&fs.ns, fs.ns.eattr_section(), fs.ns.quota_section(), fs.ns.lock_section())).unwrap();
    let expected: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(fs.ns.digest(), expected);
    assert_eq!(expected.len(), 64);
}

#[test]
fn a_serialization_round_trip_keeps_state_and_digest() {
    let mut fs = Fs::new();
    busy(&mut fs);
    let bytes = proto::frame::encode(&fs.ns).unwrap();
    let mut back: Namespace = proto::frame::decode(&bytes).unwrap();
    // What loading a snapshot does: the derived counts are not encoded.
    back.rebuild_derived();
    assert!(back == fs.ns);
    assert_eq!(back.digest(), fs.ns.digest());
    // And the decoded copy keeps working identically.
    let mut again = Fs { ns: back, now: fs.now, creds: fs.creds.clone(), session: fs.session };
    fs.file(ROOT, "after").unwrap();
    again.file(ROOT, "after").unwrap();
    assert_eq!(again.ns.digest(), fs.ns.digest());
}

#[test]
fn a_failed_operation_leaves_the_digest_unchanged() {
    let mut fs = Fs::new();
    busy(&mut fs);
    let before = fs.ns.digest();
    let e = fs.ino(ROOT, "e");
    let failing = [
        WriteOp::MkDir { parent: ROOT, name: b("e"), mode: 0o755, umask: 0 },
        WriteOp::RmDir { parent: ROOT, name: b("e") },
        WriteOp::Unlink { parent: e, name: b("nope") },
        WriteOp::Rename { parent: ROOT, name: b("e"), new_parent: e, new_name: b("x"), flags: RenameFlags::default() },
        WriteOp::SetGoal { ino: e, goal: 0, recursive: true },
        WriteOp::SetAttr { ino: e, set: SetAttr { size: Some(0), ..Default::default() } },
        WriteOp::Open { ino: e, flags: O_WRONLY },
        WriteOp::RemoveXattr { ino: e, name: b("user.none") },
        WriteOp::Link { ino: e, new_parent: ROOT, new_name: b("x") },
        WriteOp::Symlink { parent: ROOT, name: b("s"), target: Vec::new() },
    ];
    for op in failing {
        let ctx = fs.ctx();
        assert!(fs.ns.apply_write(&ctx, &op).is_err(), "{op:?} should fail");
        assert_eq!(fs.ns.digest(), before, "{op:?} changed the state");
    }
    // Unprivileged failures too.
    let ctx = OpContext { now: t(1), creds: user(5, 5), session: 3 };
    let op = WriteOp::Create { parent: ROOT, name: b("x"), mode: 0o644, umask: 0, exclusive: true };
    assert_eq!(fs.ns.apply_write(&ctx, &op), Err(Errno::EACCES));
    assert_eq!(fs.ns.digest(), before);
}

#[test]
fn reads_never_change_the_state_and_digest_is_left_to_the_layer_above() {
    let mut fs = Fs::new();
    busy(&mut fs);
    let before = fs.ns.clone();
    assert_eq!(fs.read(ReadOp::Digest), Err(Errno::ENOSYS));
    let _ = fs.readdir(ROOT, 0, 100, true);
    let _ = fs.statfs();
    assert!(fs.ns == before);
}

#[test]
fn set_goal_validates_and_counts_changed_inodes() {
    let mut fs = Fs::new();
    let d = fs.mkdir(ROOT, "d").unwrap().ino;
    let f = fs.file(d, "f").unwrap().ino;
    fs.link(f, d, "f2").unwrap();
    let sub = fs.mkdir(d, "sub").unwrap().ino;
    fs.file(sub, "g").unwrap();
    assert_eq!(fs.set_goal(d, 0, false), Err(Errno::EINVAL));
    assert_eq!(fs.set_goal(d, 10, true), Err(Errno::EINVAL));
    assert_eq!(fs.set_goal(999, 2, false), Err(Errno::ENOENT));
    assert_eq!(fs.set_goal(f, 2, false), Ok(1));
    assert_eq!(fs.getattr(f).unwrap().ctime, t(fs.now));
    assert_eq!(fs.set_goal(f, 2, false), Ok(0), "already 2");
    // d, sub, g change; f (reached twice through its two names) is already 2.
    assert_eq!(fs.set_goal(d, 2, true), Ok(3));
    assert_eq!(fs.getattr(sub).unwrap().goal, 2);
    assert_eq!(fs.getattr(ROOT).unwrap().goal, 1, "above the tree: untouched");
    assert_eq!(fs.set_goal(d, 9, false), Ok(1));
    assert_eq!(fs.getattr(sub).unwrap().goal, 2, "not recursive");
}

#[test]
fn set_trash_time_recursive_changes_the_whole_tree() {
    let mut fs = Fs::new();
    let d = fs.mkdir(ROOT, "d").unwrap().ino;
    let f = fs.file(d, "f").unwrap().ino;
    assert_eq!(fs.set_trash_time(d, 0, true), Ok(2));
    assert_eq!(fs.getattr(f).unwrap().trash_time, 0);
    fs.unlink(d, "f").unwrap();
    assert_eq!(fs.getattr(f), Err(Errno::ENOENT), "trash time 0: freed at once");
    assert_eq!(fs.set_trash_time(ROOT, 7, true), Ok(2));
}
