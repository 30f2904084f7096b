//! Extra attributes (`mfsseteattr`): who may set them, what each refuses, what new inodes and
//! snapshots take, and `mfsrmsnapshot`.

use super::*;
use proto::client::SnapshotFlags;
use proto::eattr::*;

const R: u32 = 4;
const W: u32 = 2;

const ALICE: u32 = 1000;
const BOB: u32 = 2000;

impl Fs {
    fn eattr_op(&mut self, ino: Ino, flags: u8, mode: EattrMode, recursive: bool) -> Result<u64, Errno> {
        count(self.write(WriteOp::SetEattr { ino, flags, mode, recursive }))
    }

    fn add_eattr(&mut self, ino: Ino, flags: u8) -> Result<u64, Errno> {
        self.eattr_op(ino, flags, EattrMode::Add, false)
    }

    fn eattr_of(&self, ino: Ino) -> u8 {
        self.getattr(ino).unwrap().eattr()
    }

    fn rmsnapshot(&mut self, parent: Ino, name: &str, force: bool) -> Result<u64, Errno> {
        count(self.write(WriteOp::RmSnapshot { parent, name: b(name), force }))
    }

    fn snap(&mut self, src: Ino, dst_parent: Ino, name: &str) {
        let flags = SnapshotFlags::default();
        count(self.write(WriteOp::Snapshot { src, dst_parent, name: b(name), flags, umask: 0o022 })).unwrap();
    }
}

#[test]
fn flags_are_set_added_and_removed_by_their_owner_and_shown_in_the_attributes() {
    let mut fs = Fs::new();
    let d = fs.mkdir_mode(ROOT, "d", 0o777).unwrap().ino;
    let f = fs.as_user(ALICE, ALICE, |fs| fs.file(d, "f").unwrap().ino);
    assert_eq!(fs.as_user(ALICE, ALICE, |fs| fs.add_eattr(f, NOATTRCACHE | SNAPSHOT)), Ok(1));
    assert_eq!(fs.eattr_of(f), NOATTRCACHE | SNAPSHOT);
    let a = fs.getattr(f).unwrap();
    assert_eq!((a.mode() & 0o7777, a.attr_nocache()), (0o644, true), "the mode is untouched");
    assert_eq!(fs.as_user(ALICE, ALICE, |fs| fs.add_eattr(f, SNAPSHOT)), Ok(0), "nothing new");
    assert_eq!(fs.as_user(BOB, BOB, |fs| fs.add_eattr(f, NODATACACHE)), Err(Errno::EPERM), "not the owner");
    assert_eq!(fs.eattr_op(f, SNAPSHOT, EattrMode::Remove, false), Ok(1), "root may");
    assert_eq!(fs.eattr_of(f), NOATTRCACHE);
    assert_eq!(fs.eattr_op(f, NOOWNER, EattrMode::Set, false), Ok(1));
    assert_eq!(fs.eattr_of(f), NOOWNER);
    // noentrycache means nothing on a file: not kept there.
    assert_eq!(fs.add_eattr(f, NOENTRYCACHE), Ok(0));
    assert_eq!(fs.eattr_of(f), NOOWNER);
    // Recursive: the tree's inodes the caller acts as the owner of.
    fs.as_user(BOB, BOB, |fs| fs.file(d, "g").unwrap());
    let n = fs.as_user(ALICE, ALICE, |fs| fs.eattr_op(d, NODATACACHE, EattrMode::Add, true));
    assert_eq!(n, Ok(1), "only f: d is root's and g bob's (f has noowner, so anyone is its owner)");
}

#[test]
fn noowner_makes_every_user_the_owner() {
    let mut fs = Fs::new();
    let d = fs.mkdir_mode(ROOT, "d", 0o777).unwrap().ino;
    let f = fs.as_user(ALICE, ALICE, |fs| fs.create_mode(d, "f", 0o600).unwrap().ino);
    fs.as_user(BOB, BOB, |fs| {
        assert_eq!(fs.access(f, R), Err(Errno::EACCES));
        assert_eq!(fs.chmod(f, 0o666).err(), Some(Errno::EPERM));
    });
    fs.as_user(ALICE, ALICE, |fs| fs.add_eattr(f, NOOWNER)).unwrap();
    fs.as_user(BOB, BOB, |fs| {
        assert_eq!(fs.access(f, R | W), Ok(()));
        assert_eq!(fs.chmod(f, 0o640).map(|a| a.mode() & 0o777), Ok(0o640));
        // chown to oneself takes the file; to anyone else is still root's.
        assert_eq!(fs.chown(f, Some(ALICE + 5), None).err(), Some(Errno::EPERM));
        assert_eq!(fs.chown(f, Some(BOB), None).map(|a| a.uid), Ok(BOB));
    });
}

#[test]
fn undeletable_keeps_a_name_appendonly_folders_only_grow_and_immutable_changes_nothing() {
    let mut fs = Fs::without_trash();
    let d = fs.mkdir(ROOT, "d").unwrap().ino;
    let f = fs.file(d, "f").unwrap().ino;
    fs.give_chunks(f, &[7]);
    fs.add_eattr(f, UNDELETABLE).unwrap();
    assert_eq!(fs.unlink(d, "f"), Err(Errno::EPERM), "root too");
    fs.file(d, "g").unwrap();
    assert_eq!(fs.rename(d, "g", d, "f"), Err(Errno::EPERM), "nor replaced");
    assert_eq!(fs.rename(d, "f", d, "f2"), Ok(()), "it may move");
    assert!(fs.chmod(f, 0o600).is_ok());
    fs.eattr_op(f, UNDELETABLE, EattrMode::Remove, false).unwrap();

    // appendonly folder: new names yes, removals and renames out no.
    fs.add_eattr(d, APPENDONLY).unwrap();
    assert!(fs.file(d, "h").is_ok());
    assert_eq!(fs.unlink(d, "h"), Err(Errno::EPERM));
    assert_eq!(fs.rename(d, "h", ROOT, "h"), Err(Errno::EPERM));
    assert_eq!(fs.rmdir(ROOT, "d"), Err(Errno::EPERM), "an appendonly folder is not removed either");
    fs.eattr_op(d, APPENDONLY, EattrMode::Remove, false).unwrap();

    // appendonly file: no truncate, writes only at or past its last chunk.
    fs.truncate(f, 3 * proto::meta::CHUNK_SIZE).unwrap();
    fs.add_eattr(f, APPENDONLY).unwrap();
    assert_eq!(fs.truncate(f, 10).err(), Some(Errno::EPERM));
    assert_eq!(fs.open(f, O_WRONLY | O_TRUNC).err(), Some(Errno::EPERM));
    assert!(fs.open(f, O_WRONLY).is_ok());
    assert_eq!(fs.ns.chunk_write_slot(&fs.creds, fs.session, f, 0).err(), Some(Errno::EPERM));
    assert!(fs.ns.chunk_write_slot(&fs.creds, fs.session, f, 3).is_ok());
    fs.eattr_op(f, APPENDONLY, EattrMode::Remove, false).unwrap();

    // immutable: nothing changes, reading is fine.
    fs.add_eattr(f, IMMUTABLE).unwrap();
    assert_eq!(fs.chmod(f, 0o600).err(), Some(Errno::EPERM));
    assert_eq!(fs.setxattr(f, "user.a", b"1", XattrMode::Set), Err(Errno::EPERM));
    assert_eq!(fs.open(f, O_RDWR).err(), Some(Errno::EPERM));
    assert!(fs.open(f, O_RDONLY).is_ok());
    assert_eq!(fs.access(f, W), Err(Errno::EPERM));
    assert_eq!(fs.ns.chunk_write_slot(&fs.creds, fs.session, f, 3).err(), Some(Errno::EPERM));
    assert_eq!(fs.link(f, ROOT, "l").err(), Some(Errno::EPERM));
    assert_eq!(fs.rename(d, "f2", ROOT, "x"), Err(Errno::EPERM));
    assert_eq!(fs.set_goal(f, 3, false), Err(Errno::EPERM));
    assert_eq!(fs.add_eattr(f, NOOWNER), Err(Errno::EPERM), "noowner is refused on an immutable inode");
    assert_eq!(fs.eattr_op(f, IMMUTABLE, EattrMode::Remove, false), Ok(1), "the flag itself comes off");
    fs.add_eattr(d, IMMUTABLE).unwrap();
    assert_eq!(fs.file(d, "new").err(), Some(Errno::EPERM));
    assert_eq!(fs.mkdir(d, "new").err(), Some(Errno::EPERM));
    assert_eq!(fs.unlink(d, "f2"), Err(Errno::EPERM));
}

#[test]
fn new_inodes_take_the_cache_and_owner_flags_of_their_folder() {
    let mut fs = Fs::new();
    let d = fs.mkdir(ROOT, "d").unwrap().ino;
    let all = NOOWNER | NOATTRCACHE | NOENTRYCACHE | NODATACACHE | SNAPSHOT | UNDELETABLE;
    fs.add_eattr(d, all).unwrap();
    let f = fs.file(d, "f").unwrap();
    assert_eq!(f.eattr(), NOOWNER | NOATTRCACHE | NODATACACHE);
    assert!(f.entry_nocache(), "a name in a noentrycache folder is not cached");
    let sub = fs.mkdir(d, "sub").unwrap();
    assert_eq!(sub.eattr(), NOOWNER | NOATTRCACHE | NOENTRYCACHE | NODATACACHE);
    assert!(fs.lookup(d, "f").unwrap().entry_nocache());
    assert!(!fs.lookup(ROOT, "d").unwrap().entry_nocache());
    let listed = fs.readdir(d, 0, 100, true).unwrap();
    assert!(listed.iter().all(|e| e.attr.as_ref().is_some_and(|a| a.entry_nocache())));
}

#[test]
fn a_snapshot_marks_its_copies_and_changes_unmark_them() {
    let mut fs = Fs::new();
    let src = fs.mkdir(ROOT, "src").unwrap().ino;
    let f = fs.file(src, "f").unwrap().ino;
    fs.add_eattr(f, IMMUTABLE | NODATACACHE).unwrap();
    fs.file(src, "g").unwrap();
    fs.snap(src, ROOT, "copy");
    let copy = fs.ino(ROOT, "copy");
    let (cf, cg) = (fs.ino(copy, "f"), fs.ino(copy, "g"));
    assert_eq!(fs.eattr_of(copy), SNAPSHOT);
    assert_eq!(fs.eattr_of(cf), IMMUTABLE | NODATACACHE | SNAPSHOT, "a copy keeps every flag");
    assert_eq!(fs.eattr_of(cg), SNAPSHOT);
    assert_eq!(fs.eattr_of(src), 0, "the source is no snapshot");
    fs.truncate(cg, 5).unwrap();
    assert_eq!(fs.eattr_of(cg), 0, "a changed length un-marks a file");
    fs.file(copy, "new").unwrap();
    assert_eq!(fs.eattr_of(copy), 0, "a new name un-marks a folder");
}

#[test]
fn rmsnapshot_removes_a_whole_snapshot_past_the_trash_or_nothing() {
    let mut fs = Fs::new();
    let src = fs.mkdir(ROOT, "src").unwrap().ino;
    let sub = fs.mkdir(src, "sub").unwrap().ino;
    let f = fs.file(sub, "f").unwrap().ino;
    fs.give_chunks(f, &[9]);
    fs.file(src, "g").unwrap();
    fs.snap(src, ROOT, "copy");
    let copy = fs.ino(ROOT, "copy");
    let copied_f = fs.ino(fs.ino(copy, "sub"), "f");

    // Not a snapshot: refused, nothing removed.
    assert_eq!(fs.rmsnapshot(ROOT, "src", false), Err(Errno::EPERM));
    // One unmarked object inside: all or nothing.
    fs.eattr_op(copied_f, SNAPSHOT, EattrMode::Remove, false).unwrap();
    assert_eq!(fs.rmsnapshot(ROOT, "copy", false), Err(Errno::EPERM));
    assert_eq!(fs.names(copy), ["g", "sub"]);
    // A user who may not write the folders: EACCES.
    fs.add_eattr(copied_f, SNAPSHOT).unwrap();
    fs.chmod(fs.ino(copy, "sub"), 0o555).unwrap();
    assert_eq!(fs.as_user(ALICE, ALICE, |fs| fs.rmsnapshot(ROOT, "copy", false)), Err(Errno::EACCES));
    fs.chmod(fs.ino(copy, "sub"), 0o755).unwrap();
    fs.add_eattr(fs.ino(copy, "sub"), SNAPSHOT).unwrap();

    assert_eq!(fs.rmsnapshot(ROOT, "copy", false), Ok(4));
    assert!(fs.lookup(ROOT, "copy").is_err());
    assert!(!fs.in_trash(copied_f), "past the trash");
    assert_eq!(fs.chunks_of(f), [9], "the source keeps its chunk");
}

#[test]
fn rmsnapshot_force_removes_what_qualifies_and_keeps_the_rest() {
    let mut fs = Fs::new();
    let src = fs.mkdir(ROOT, "src").unwrap().ino;
    fs.file(src, "a").unwrap();
    fs.file(src, "b").unwrap();
    fs.snap(src, ROOT, "copy");
    let copy = fs.ino(ROOT, "copy");
    fs.eattr_op(fs.ino(copy, "b"), SNAPSHOT, EattrMode::Remove, false).unwrap();
    assert_eq!(fs.rmsnapshot(ROOT, "copy", true), Ok(1));
    assert_eq!(fs.names(copy), ["b"], "the folder stays with what could not go");
}

#[test]
fn extra_attributes_survive_a_state_snapshot_and_count_in_the_digest() {
    let mut fs = Fs::new();
    let f = fs.file(ROOT, "f").unwrap().ino;
    let before = fs.ns.digest();
    fs.add_eattr(f, IMMUTABLE | NOOWNER).unwrap();
    assert_ne!(fs.ns.digest(), before);
    let mut back = fs.ns.clone();
    back.restore_eattr_section(Vec::new());
    assert_eq!(back.eattr_section(), fs.ns.eattr_section(), "restoring nothing changes nothing");
    let mut fresh = Namespace::new(t(1000));
    fresh.restore_eattr_section(vec![(f, IMMUTABLE), (999, NOOWNER)]);
    assert_eq!(fresh.eattr_section(), Vec::<(Ino, u8)>::new(), "inodes that do not exist are not invented");
}
