//! Issue 4: file data through a real FUSE mount (three masters, chunkservers): real programs
//! (`cp -a`, `diff -r`, `git`, `tar`, `dd`, `sha256sum`) and the chunk tools.

use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use raftmfs_tests::{run_tool, sh, wait_for, Cluster};
use rand::{Rng, RngCore, SeedableRng};

fn cluster(block: u8, chunkservers: usize) -> Cluster {
    let mut c = Cluster::start(block, 3, "REPLICATIONS_DELAY_INIT = 0");
    c.add_chunkservers(block, chunkservers, "");
    c.wait_leader(Duration::from_secs(30));
    c.wait_chunkservers(chunkservers, Duration::from_secs(30));
    c
}

/// A tree of `n` files (0 B .. 200 KiB, a few larger), nested folders and symlinks.
fn generate_tree(root: &Path, n: usize, seed: u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for i in 0..n {
        let dir = root.join(format!("d{}/e{}", i % 17, i % 5));
        std::fs::create_dir_all(&dir).unwrap();
        let size = match i % 100 {
            0 => 3 << 20,
            1..=9 => rng.gen_range(65536..300_000),
            _ => rng.gen_range(0..8192),
        };
        let mut data = vec![0u8; size];
        rng.fill_bytes(&mut data);
        std::fs::write(dir.join(format!("f{i}.bin")), &data).unwrap();
        if i % 250 == 0 {
            std::os::unix::fs::symlink(format!("f{i}.bin"), dir.join(format!("link{i}"))).unwrap();
        }
    }
}

fn drop_caches() {
    let _ = std::fs::write("/proc/sys/vm/drop_caches", "3");
}

#[test]
fn cp_a_of_a_generated_tree_is_identical_by_diff_r() {
    let c = cluster(46, 2);
    let src = tempfile::tempdir().unwrap();
    generate_tree(src.path(), 3000, 46);
    let m = c.mount(&[]);
    let s = src.path().display().to_string();
    sh(&m.dir, &format!("cp -a {s} copy"));
    sh(&m.dir, &format!("diff -r {s} copy"));
    // A second mount (cold caches) sees the same bytes, modes and times.
    let m2 = c.mount(&[]);
    sh(&m2.dir, &format!("diff -r {s} copy"));
    // Names, modes and mtimes of everything; sizes of files (folders have no size here).
    let list = "find . -printf '%p %m %T@\\n' | sort; find . -type f -printf '%p %s\\n' | sort";
    let a = sh(src.path(), list);
    let b = sh(&m2.path("copy"), list);
    let first_diff = a.lines().zip(b.lines()).find(|(x, y)| x != y);
    assert!(first_diff.is_none() && a.lines().count() == b.lines().count(), "cp -a metadata differs: {first_diff:?}");
    sh(&m.dir, "rm -rf copy");
    assert!(!m2.path("copy").exists());
}

#[test]
fn git_and_tar_work_inside_the_mount() {
    let c = cluster(47, 2);
    let m = c.mount(&[]);
    let src = tempfile::tempdir().unwrap();
    generate_tree(src.path(), 300, 47);
    sh(&m.dir, &format!("cp -r {} repo", src.path().display()));
    let repo = m.path("repo");
    sh(
        &repo,
        "git init -q && git config user.email t@t && git config user.name t && git add -A && \
         git commit -q -m first && echo change >> d1/e1/f1.bin && git commit -q -am second && \
         git fsck --full 2>&1 && git log --oneline | wc -l",
    );
    assert_eq!(sh(&repo, "git log --oneline | wc -l").trim(), "2");
    assert_eq!(sh(&repo, "git status --porcelain").trim(), "");
    sh(&m.dir, "git clone -q repo clone && diff -r -x .git repo clone");

    // tar: create an archive in the mount, extract it in the mount, compare.
    sh(&m.dir, "tar czf repo.tgz repo && mkdir x && tar xzf repo.tgz -C x && diff -r repo x/repo");
    // ... and extract outside, from the mount's archive.
    let out = tempfile::tempdir().unwrap();
    sh(&m.dir, &format!("tar xzf repo.tgz -C {}", out.path().display()));
    sh(&m.dir, &format!("diff -r repo {}/repo", out.path().display()));
}

#[test]
fn one_gib_dd_with_fsync_reads_back_with_the_same_sha256() {
    let c = cluster(48, 2);
    let m = c.mount(&[]);
    let local = tempfile::tempdir().unwrap();
    let src = local.path().join("src.bin");
    sh(local.path(), &format!("head -c 1073741824 /dev/urandom > {}", src.display()));
    let want = sh(local.path(), "sha256sum src.bin | cut -d' ' -f1");
    sh(&m.dir, &format!("dd if={} of=big.bin bs=1M conv=fsync status=none", src.display()));
    assert_eq!(std::fs::metadata(m.path("big.bin")).unwrap().len(), 1 << 30);
    drop_caches();
    assert_eq!(sh(&m.dir, "sha256sum big.bin | cut -d' ' -f1"), want);
    let m2 = c.mount(&[]);
    assert_eq!(sh(&m2.dir, "dd if=big.bin bs=4M status=none | sha256sum | cut -d' ' -f1"), want);
    // Random reads agree with the local copy.
    let mut a = std::fs::File::open(&src).unwrap();
    let mut b = std::fs::File::open(m2.path("big.bin")).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(48);
    for _ in 0..50 {
        let off = rng.gen_range(0..(1u64 << 30) - 70_000);
        let len = rng.gen_range(1..70_000);
        let (mut x, mut y) = (vec![0u8; len], vec![0u8; len]);
        a.seek(SeekFrom::Start(off)).unwrap();
        a.read_exact(&mut x).unwrap();
        b.seek(SeekFrom::Start(off)).unwrap();
        b.read_exact(&mut y).unwrap();
        assert!(x == y, "bytes at {off}+{len} differ");
    }
}

#[test]
fn append_truncate_fallocate_and_overwrite() {
    let c = cluster(49, 2);
    let m = c.mount(&[]);
    let p = m.path("f");
    std::fs::write(&p, b"hello").unwrap();
    // O_APPEND writes land at the end, even from two handles.
    let mut a1 = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
    let mut a2 = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
    a1.write_all(b" world").unwrap();
    a2.write_all(b"!").unwrap();
    drop((a1, a2));
    assert_eq!(std::fs::read(&p).unwrap(), b"hello world!");
    // O_TRUNC empties the file.
    std::fs::OpenOptions::new().write(true).truncate(true).open(&p).unwrap().write_all(b"abc").unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), b"abc");
    // ftruncate up (zeros) and down.
    let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
    f.set_len(100_000).unwrap();
    drop(f);
    let d = std::fs::read(&p).unwrap();
    assert_eq!(d.len(), 100_000);
    assert_eq!(&d[..3], b"abc");
    assert!(d[3..].iter().all(|b| *b == 0));
    sh(&m.dir, "truncate -s 2 f");
    assert_eq!(std::fs::read(&p).unwrap(), b"ab");
    // Overwrite in the middle, then read back while still open for writing (flushes first).
    let mut f = std::fs::OpenOptions::new().read(true).write(true).open(&p).unwrap();
    f.seek(SeekFrom::Start(1)).unwrap();
    f.write_all(b"XYZ").unwrap();
    assert_eq!(f.metadata().unwrap().len(), 4, "size seen while data is buffered");
    let mut back = String::new();
    f.seek(SeekFrom::Start(0)).unwrap();
    f.read_to_string(&mut back).unwrap();
    assert_eq!(back, "aXYZ");
    f.sync_all().unwrap();
    drop(f);
    // fallocate mode 0 extends; other modes are not supported.
    sh(&m.dir, "fallocate -l 1000000 f");
    assert_eq!(std::fs::metadata(&p).unwrap().len(), 1_000_000);
    let out = std::process::Command::new("fallocate").args(["-p", "-o", "0", "-l", "10"]).arg(&p).output().unwrap();
    assert!(!out.status.success(), "punch hole should fail");
    // O_EXCL create.
    let r = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(m.path("f"));
    assert!(r.is_err());
    // A file removed while open stays readable until closed.
    std::fs::write(m.path("g"), b"still here").unwrap();
    let mut g = std::fs::File::open(m.path("g")).unwrap();
    std::fs::remove_file(m.path("g")).unwrap();
    let mut s = String::new();
    g.read_to_string(&mut s).unwrap();
    assert_eq!(s, "still here");
}

#[test]
fn setgoal_2_then_fileinfo_shows_two_copies_on_two_servers() {
    let c = cluster(50, 2);
    let m = c.mount(&[]);
    std::fs::create_dir(m.path("g")).unwrap();
    let mut data = vec![0u8; 3 << 20];
    rand::thread_rng().fill_bytes(&mut data);
    std::fs::write(m.path("g/file"), &data).unwrap();
    let file = m.path("g/file");
    let fs = file.to_str().unwrap();
    let (ok, out, _) = run_tool("mfscheckfile", &[fs]);
    assert!(ok);
    assert_eq!(out, format!("{fs}:\n chunks with 1 copy:              1\n"));

    let g = m.path("g");
    let (ok, out, err) = run_tool("mfssetgoal", &["-r", "2", g.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    let servers: Vec<String> = c.chunkservers.iter().map(|s| s.data_addr()).collect();
    let out = wait_for(Duration::from_secs(90), "a second copy after mfssetgoal -r 2", || {
        let (ok, out, _) = run_tool("mfsfileinfo", &[fs]);
        (ok && out.contains("\t\tcopy 2: ")).then_some(out)
    });
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], format!("{fs}:"));
    assert!(lines[1].starts_with("\tchunk 0: ") && lines[1].contains(" / (id:"), "{out}");
    let mut copies: Vec<String> = lines[2..]
        .iter()
        .map(|l| {
            let copy = l.trim_start_matches("\t\tcopy ").split_once(": ").unwrap().1;
            copy.strip_suffix(" (status:VALID)").unwrap_or_else(|| panic!("not a valid copy: {l}")).to_string()
        })
        .collect();
    copies.sort();
    let mut want = servers.clone();
    want.sort();
    assert_eq!(copies, want, "two copies on the two servers:\n{out}");
    let (ok, out, _) = run_tool("mfscheckfile", &[fs]);
    assert!(ok);
    assert_eq!(out, format!("{fs}:\n chunks with 2 copies:            1\n"));
    assert_eq!(std::fs::read(&file).unwrap(), data);

    // A new file under a goal-2 folder is written with two copies at once.
    std::fs::write(m.path("g/new"), &data[..1000]).unwrap();
    let newf = m.path("g/new");
    let (ok, out, _) = run_tool("mfsfileinfo", &[newf.to_str().unwrap()]);
    assert!(ok && out.contains("\t\tcopy 2: "), "{out}");
    let (ok, out, _) = run_tool("mfsdirinfo", &[g.to_str().unwrap()]);
    assert!(ok);
    assert!(out.contains(" chunks:                2\n"), "{out}");
    assert!(out.contains(&format!(" length:       {:>20}\n", data.len() + 1000)), "{out}");
}

#[test]
fn another_mounts_overwrite_is_read_after_open() {
    // Each mount keeps chunk locations for reads a short while; an overwrite elsewhere bumps the
    // chunk's version, and a later `open` must read the new bytes (close-to-open).
    let c = cluster(57, 2);
    let a = c.mount(&[]);
    // No kernel attribute cache on b: its own idea of the size comes from the masters at once,
    // so what this test sees is the mount's location cache, not the kernel's 1 s attributes.
    let b = c.mount(&["-o", "mfsattrcacheto=0"]);
    let first = vec![0x11u8; 300_000];
    std::fs::write(a.path("shared.bin"), &first).unwrap();
    assert_eq!(std::fs::read(b.path("shared.bin")).unwrap(), first, "b reads a's file (and caches where it is)");
    for round in 0..3u8 {
        let next = vec![0x20 + round; 300_000];
        let mut f = std::fs::OpenOptions::new().write(true).open(a.path("shared.bin")).unwrap();
        f.write_all(&next).unwrap();
        f.sync_all().unwrap();
        drop(f);
        // A fresh open on b: no stale page cache (the mtime changed), no stale location.
        let got = std::fs::read(b.path("shared.bin")).unwrap();
        assert_eq!(got.len(), next.len());
        assert!(got == next, "round {round}: b read old bytes after a's overwrite and its own open");
    }
    // The case only `open` catches: a grows the file in another chunk, so chunk 0 keeps its
    // version and b's cached location for it still works, but with the old file size.
    let mut f = std::fs::OpenOptions::new().write(true).open(a.path("shared.bin")).unwrap();
    f.seek(SeekFrom::Start(64 << 20)).unwrap();
    f.write_all(b"!").unwrap();
    f.sync_all().unwrap();
    drop(f);
    let mut g = std::fs::File::open(b.path("shared.bin")).unwrap();
    let mut head = vec![0u8; 1 << 20];
    g.read_exact(&mut head).expect("b reads past the old end: the file is 64 MiB now");
    assert!(head[..300_000].iter().all(|&x| x == 0x22), "the last overwrite's bytes");
    assert!(head[300_000..].iter().all(|&x| x == 0), "then the hole");
}
