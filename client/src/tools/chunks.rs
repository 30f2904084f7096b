//! `mfsfileinfo`, `mfscheckfile`, `mfsdirinfo`: chunks and their copies.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::SocketAddr;

use proto::client::{ChunkLocation, ReadOp, Reply, FILE_CHUNKS_PAGE};
use proto::meta::{Creds, FileType, Ino, CHUNK_SIZE};

use super::chunk_sums::FileSums;
use super::mount_session::Sessions;
use super::walk::walk_names;
use super::{need_operands, ToolArgs};
use crate::error::ClientError;
use crate::fuse::creds::own_creds;
use crate::master_client::MasterClient;

/// Block size of chunk data on a chunkserver (for `size` in `mfsdirinfo`).
const BLOCK: u64 = 64 << 10;
/// The head of every chunk file before its data (a 4 KiB header and the 4 KiB CRC table, the
/// same 8 KiB as MooseFS's): `mfsdirinfo`'s size counts it, as MooseFS's does.
const CHUNK_FILE_HEAD: u64 = 8 << 10;

/// Every chunk of a file that exists, page by page.
async fn file_chunks(client: &MasterClient, creds: &Creds, ino: Ino) -> Result<Vec<ChunkLocation>, ClientError> {
    let mut all: Vec<ChunkLocation> = Vec::new();
    let mut from = 0u32;
    loop {
        let page = match client.read(creds, ReadOp::FileChunks { ino, from }).await? {
            Reply::Chunks(c) => c,
            other => return Err(ClientError::Protocol(format!("file chunks answered {other:?}"))),
        };
        let full = page.len() >= FILE_CHUNKS_PAGE;
        let next = page.last().and_then(|c| c.index.checked_add(1));
        all.extend(page);
        match next {
            Some(n) if full => from = n,
            _ => return Ok(all),
        }
    }
}

/// Copies in MooseFS's order (by address).
fn sorted_copies(servers: &[String]) -> Vec<String> {
    let mut v = servers.to_vec();
    v.sort_by(|a, b| match (a.parse::<SocketAddr>(), b.parse::<SocketAddr>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    });
    v
}

/// What one copy of a chunk is worth, as `mfsfileinfo` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum CopyStatus {
    /// Every block good.
    Valid,
    /// These 64 KiB blocks are bad; the others serve.
    Damaged(Vec<u32>),
    /// Out of service as a whole (MooseFS's word for a copy the master will not use).
    Invalid,
}

/// Every copy of a chunk with its status, by address.
fn copy_statuses(c: &ChunkLocation) -> Vec<(String, CopyStatus)> {
    let mut addrs: Vec<String> = c.servers.clone();
    addrs.extend(c.damaged.iter().map(|(a, _)| a.clone()));
    let mut addrs = sorted_copies(&addrs);
    addrs.dedup();
    addrs
        .into_iter()
        .map(|a| {
            let status = match c.damaged.iter().find(|(d, _)| *d == a) {
                None => CopyStatus::Valid,
                Some((_, blocks)) if blocks.is_empty() => CopyStatus::Invalid,
                Some((_, blocks)) => CopyStatus::Damaged(blocks.clone()),
            };
            (a, status)
        })
        .collect()
}

/// Blocks bad on every copy that serves data (none if a copy is whole; all unknown, so
/// empty, if no copy serves: that is "no valid copies").
fn lost_blocks(c: &ChunkLocation) -> BTreeSet<u32> {
    let bad_of = |addr: &String| c.damaged.iter().find(|(a, _)| a == addr).map(|(_, b)| b.clone()).unwrap_or_default();
    let mut servers = c.servers.iter();
    let Some(first) = servers.next() else { return BTreeSet::new() };
    let mut lost: BTreeSet<u32> = bad_of(first).into_iter().collect();
    for s in servers {
        let bad = bad_of(s);
        lost.retain(|b| bad.contains(b));
    }
    lost
}

/// Block numbers as a short list: `3, 7-9, 12`.
fn block_list<'a>(blocks: impl IntoIterator<Item = &'a u32>) -> String {
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for &b in blocks {
        match runs.last_mut() {
            Some((_, to)) if b == *to + 1 => *to = b,
            _ => runs.push((b, b)),
        }
    }
    let text: Vec<String> =
        runs.into_iter().map(|(from, to)| if from == to { from.to_string() } else { format!("{from}-{to}") }).collect();
    text.join(", ")
}

/// Runs of empty chunks up to this long print one line per chunk, as MooseFS prints them;
/// longer runs (a sparse file of terabytes) print as one line.
const EMPTY_RUN_LINES: u64 = 16;

/// The `mfsfileinfo` text of one file of `size` bytes. As MooseFS 3.0 prints them, each copy
/// carries its status: `VALID`, `INVALID` (out of service as a whole), and ours, `DAMAGED`
/// with its bad 64 KiB blocks (the copy serves every other block). A chunk without a copy that
/// serves says `no valid copies !!!`; blocks bad on every copy are listed as unrecoverable.
pub fn fileinfo_text(path: &str, size: u64, chunks: &[ChunkLocation]) -> String {
    fileinfo_text_with(path, size, chunks, None)
}

/// [`fileinfo_text`], with `-c`/`-s` each copy's checksum answer (`sums`) on its line, the
/// checksum lines after each chunk's copies and the signature at the end, as MooseFS 3.0.
pub fn fileinfo_text_with(path: &str, size: u64, chunks: &[ChunkLocation], sums: Option<&FileSums>) -> String {
    let mut out = format!("{path}:\n");
    let mut chunks: Vec<&ChunkLocation> = chunks.iter().filter(|c| c.chunk_id != 0).collect();
    chunks.sort_by_key(|c| c.index);
    let count = size.div_ceil(CHUNK_SIZE);
    let holes = |out: &mut String, from: u64, to: u64| match to.saturating_sub(from) {
        0 => {}
        n if n <= EMPTY_RUN_LINES => (from..to).for_each(|i| out.push_str(&format!("\tchunk {i}: empty\n"))),
        _ => out.push_str(&format!("\tchunks {from}..{}: empty\n", to - 1)),
    };
    let mut next = 0u64;
    for c in chunks.into_iter().take_while(|c| u64::from(c.index) < count) {
        holes(&mut out, next, u64::from(c.index));
        next = u64::from(c.index) + 1;
        out.push_str(&format!(
            "\tchunk {}: {:016X}_{:08X} / (id:{} ver:{})\n",
            c.index, c.chunk_id, c.version, c.chunk_id, c.version
        ));
        let copies = copy_statuses(c);
        for (i, (s, status)) in copies.iter().enumerate() {
            let status = match status {
                CopyStatus::Valid => "VALID".to_string(),
                CopyStatus::Invalid => "INVALID".to_string(),
                CopyStatus::Damaged(blocks) => format!("DAMAGED ; bad blocks: {}", block_list(blocks)),
            };
            match sums {
                Some(sums) => out.push_str(&sums.copy_line(c.index, i + 1, s, &status)),
                None => out.push_str(&format!("\t\tcopy {}: {s} (status:{status})\n", i + 1)),
            }
        }
        if let Some(sums) = sums {
            let addrs: Vec<&str> = copies.iter().map(|(a, _)| a.as_str()).collect();
            out.push_str(&sums.chunk_trailer(c.index, &addrs));
        }
        if c.servers.is_empty() {
            out.push_str("\t\tno valid copies !!!\n");
        }
        let lost = lost_blocks(c);
        if !lost.is_empty() {
            out.push_str(&format!("\t\tunrecoverable blocks: {} !!!\n", block_list(&lost)));
        }
    }
    holes(&mut out, next, count);
    if let Some(sums) = sums {
        out.push_str(&sums.signature_line(path));
    }
    out
}

/// The `mfscheckfile` text: chunks counted by their number of valid (whole) copies, as in
/// MooseFS; then, when there are any, chunks with a damaged copy and chunks with blocks bad on
/// every copy.
pub fn checkfile_text(path: &str, chunks: &[ChunkLocation]) -> String {
    let mut counts: BTreeMap<usize, u64> = BTreeMap::new();
    let (mut damaged, mut lost) = (0u64, 0u64);
    for c in chunks.iter().filter(|c| c.chunk_id != 0) {
        let whole = copy_statuses(c).iter().filter(|(_, s)| *s == CopyStatus::Valid).count();
        *counts.entry(whole.min(10)).or_default() += 1;
        damaged += u64::from(!c.damaged.is_empty());
        lost += u64::from(!lost_blocks(c).is_empty());
    }
    let mut out = format!("{path}:\n");
    for (copies, n) in counts {
        let label = match copies {
            1 => " chunks with 1 copy:    ".to_string(),
            10 => " chunks with 10+ copies:".to_string(),
            c => format!(" chunks with {c} copies:  "),
        };
        out.push_str(&format!("{label} {n:>10}\n"));
    }
    if damaged > 0 {
        out.push_str(&format!(" damaged chunks:         {damaged:>10}\n"));
    }
    if lost > 0 {
        out.push_str(&format!(" chunks with lost data:  {lost:>10}\n"));
    }
    out
}

/// Totals of `mfsdirinfo`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DirInfo {
    pub inodes: u64,
    pub dirs: u64,
    pub files: u64,
    pub chunks: u64,
    pub length: u64,
    pub size: u64,
    pub realsize: u64,
}

impl DirInfo {
    /// Count one file's chunks: `size` is the bytes of a chunk file on a chunkserver (its head,
    /// then the data in whole 64 KiB blocks); `realsize` that times the copies.
    pub fn add_chunks(&mut self, file_len: u64, chunks: &[ChunkLocation]) {
        for c in chunks.iter().filter(|c| c.chunk_id != 0) {
            let start = c.index as u64 * CHUNK_SIZE;
            let bytes = file_len.saturating_sub(start).min(CHUNK_SIZE);
            let size = CHUNK_FILE_HEAD + bytes.div_ceil(BLOCK) * BLOCK;
            self.chunks += 1;
            self.size += size;
            self.realsize += size * c.servers.len() as u64;
        }
    }

    /// The report: the whole block, or with `show` bits (`mfsdirinfo -i -d -f -c -l -s -r`)
    /// only those values, tab-separated before the name, as MooseFS prints them.
    pub fn render(&self, path: &str, show: u8) -> String {
        if show == 0 {
            return self.text(path);
        }
        let values = [self.inodes, self.dirs, self.files, self.chunks, self.length, self.size, self.realsize];
        let mut out = String::new();
        for (bit, v) in values.iter().enumerate() {
            if show & (1 << bit) != 0 {
                out.push_str(&format!("{v}\t"));
            }
        }
        format!("{out}{path}\n")
    }

    pub fn text(&self, path: &str) -> String {
        format!(
            "{path}:\n inodes:       {:>10}\n  directories: {:>10}\n  files:       {:>10}\n chunks:       {:>10}\n \
             length:       {:>20}\n size:         {:>20}\n realsize:     {:>20}\n",
            self.inodes, self.dirs, self.files, self.chunks, self.length, self.size, self.realsize
        )
    }
}

/// `mfsfileinfo`; with `-c`/`-s` every copy of every chunk is asked for its CRC table
/// ([`FileSums::gather`]).
pub async fn fileinfo(sessions: &mut Sessions, name: &str, a: &ToolArgs) -> i32 {
    let mode = a.sums;
    per_file(sessions, name, a, async |f: File<'_>| {
        if !mode.any() {
            return Ok(fileinfo_text(f.path, f.size, f.chunks));
        }
        let listed: Vec<(&ChunkLocation, Vec<String>)> =
            f.chunks.iter().map(|c| (c, copy_statuses(c).into_iter().map(|(a, _)| a).collect())).collect();
        let sums = FileSums::gather(mode, f.client, f.creds, f.ino, f.size, &listed).await?;
        Ok(fileinfo_text_with(f.path, f.size, f.chunks, Some(&sums)))
    })
    .await
}

/// `mfscheckfile`.
pub async fn checkfile(sessions: &mut Sessions, name: &str, a: &ToolArgs) -> i32 {
    per_file(sessions, name, a, async |f: File<'_>| Ok(checkfile_text(f.path, f.chunks))).await
}

/// One file of [`per_file`], for its report.
struct File<'a> {
    client: &'a MasterClient,
    creds: &'a Creds,
    ino: Ino,
    path: &'a str,
    size: u64,
    chunks: &'a [ChunkLocation],
}

async fn per_file(
    sessions: &mut Sessions,
    name: &str,
    a: &ToolArgs,
    render: impl AsyncFn(File<'_>) -> Result<String, ClientError>,
) -> i32 {
    if !need_operands(name, a, 1) {
        return 1;
    }
    let creds = own_creds();
    let mut code = 0;
    for path in &a.operands {
        let t = match sessions.target(name, path).await {
            Ok(t) => t,
            Err(e) => {
                println!("{path}: {e}");
                code = 1;
                continue;
            }
        };
        if t.is_dir {
            println!("{path}: not a file");
            code = 1;
            continue;
        }
        let r = async {
            let attr = t.client.getattr(&creds, t.ino).await?;
            let chunks = file_chunks(&t.client, &creds, t.ino).await?;
            let file = File { client: &t.client, creds: &creds, ino: t.ino, path, size: attr.size, chunks: &chunks };
            render(file).await
        }
        .await;
        match r {
            Ok(text) => print!("{text}"),
            Err(e) => {
                println!("{path}: {e}");
                code = 1;
            }
        }
    }
    code
}

/// `mfsdirinfo`.
pub async fn dirinfo(sessions: &mut Sessions, name: &str, a: &ToolArgs) -> i32 {
    if !need_operands(name, a, 1) {
        return 1;
    }
    let creds = own_creds();
    let mut code = 0;
    for path in &a.operands {
        let t = match sessions.target(name, path).await {
            Ok(t) => t,
            Err(e) => {
                println!("{path}: {e}");
                code = 1;
                continue;
            }
        };
        let mut info = DirInfo::default();
        // `-p`: every inode and every chunk once (hard links and snapshots share them).
        let mut precise = DirInfo::default();
        let mut seen_inodes: HashSet<Ino> = HashSet::new();
        let mut seen_chunks: HashSet<u64> = HashSet::new();
        let mut files: Vec<(Ino, u64, bool)> = Vec::new();
        let r = walk_names(&t.client, &creds, t.ino, |attr| {
            let first = seen_inodes.insert(attr.ino);
            for (i, once) in [(&mut info, true), (&mut precise, first)] {
                if !once {
                    continue;
                }
                i.inodes += 1;
                match attr.kind {
                    FileType::Dir => i.dirs += 1,
                    FileType::File => {
                        i.files += 1;
                        i.length += attr.size;
                    }
                    _ => {}
                }
            }
            if attr.kind == FileType::File {
                files.push((attr.ino, attr.size, first));
            }
        })
        .await;
        let r = match r {
            Ok(()) => {
                let mut res = Ok(());
                for (ino, len, first) in files {
                    match file_chunks(&t.client, &creds, ino).await {
                        Ok(chunks) => {
                            info.add_chunks(len, &chunks);
                            if first {
                                let new: Vec<ChunkLocation> =
                                    chunks.into_iter().filter(|c| seen_chunks.insert(c.chunk_id)).collect();
                                precise.add_chunks(len, &new);
                            }
                        }
                        Err(e) => {
                            res = Err(e);
                            break;
                        }
                    }
                }
                res
            }
            Err(e) => Err(e),
        };
        match r {
            Ok(()) => {
                print!("{}", info.render(path, a.show));
                if a.precise {
                    print!("{}", precise.render(&format!("{path} (precise data)"), a.show));
                }
            }
            Err(e) => {
                println!("{path}: {e}");
                code = 1;
            }
        }
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(index: u32, id: u64, servers: &[&str]) -> ChunkLocation {
        ChunkLocation {
            index,
            chunk_id: id,
            version: 1,
            file_size: 0,
            servers: servers.iter().map(|s| s.to_string()).collect(),
            goal: 2,
            damaged: vec![],
            token: None,
        }
    }

    fn with_damage(mut l: ChunkLocation, damaged: &[(&str, &[u32])]) -> ChunkLocation {
        l.damaged = damaged.iter().map(|(a, b)| (a.to_string(), b.to_vec())).collect();
        l
    }

    #[test]
    fn fileinfo_matches_moosefs() {
        let chunks = vec![loc(0, 1, &["127.0.31.22:9422", "127.0.31.21:9422"]), loc(2, 5, &[])];
        let t = fileinfo_text("f", 2 * CHUNK_SIZE + 1, &chunks);
        assert_eq!(
            t,
            "f:\n\tchunk 0: 0000000000000001_00000001 / (id:1 ver:1)\n\t\tcopy 1: 127.0.31.21:9422 (status:VALID)\n\t\t\
             copy 2: 127.0.31.22:9422 (status:VALID)\n\tchunk 1: empty\n\tchunk 2: 0000000000000005_00000001 / (id:5 ver:1)\n\t\t\
             no valid copies !!!\n"
        );
        assert_eq!(fileinfo_text("e", 0, &[]), "e:\n");
    }

    #[test]
    fn fileinfo_of_a_huge_sparse_file_is_short() {
        let last = (1u64 << 31) - 1;
        let chunks = vec![loc(0, 1, &["a:1"]), loc(last as u32, 2, &["a:1"])];
        let t = fileinfo_text("s", (last + 1) * CHUNK_SIZE, &chunks);
        assert_eq!(
            t,
            format!(
                "s:\n\tchunk 0: 0000000000000001_00000001 / (id:1 ver:1)\n\t\tcopy 1: a:1 (status:VALID)\n\tchunks 1..{}: \
                 empty\n\tchunk {last}: 0000000000000002_00000001 / (id:2 ver:1)\n\t\tcopy 1: a:1 (status:VALID)\n",
                last - 1
            )
        );
        // A trailing run of holes.
        assert_eq!(
            fileinfo_text("t", 3 * CHUNK_SIZE, &[]),
            "t:\n\tchunk 0: empty\n\tchunk 1: empty\n\tchunk 2: empty\n"
        );
    }

    #[test]
    fn checkfile_counts_copies() {
        let chunks = vec![loc(0, 1, &["a:1", "b:1"]), loc(1, 2, &["a:1"]), loc(2, 3, &["a:1", "b:1"]), loc(3, 0, &[])];
        assert_eq!(
            checkfile_text("f", &chunks),
            "f:\n chunks with 1 copy:              1\n chunks with 2 copies:            2\n"
        );
    }

    #[test]
    fn dirinfo_sizes() {
        let mut d = DirInfo::default();
        d.add_chunks(100_000, &[loc(0, 1, &["a:1", "b:1"])]);
        let one = CHUNK_FILE_HEAD + 2 * BLOCK;
        assert_eq!((d.chunks, d.size, d.realsize), (1, one, 2 * one));
        assert!(d.text("x").contains(" chunks:                1\n"));
    }

    #[test]
    fn fileinfo_marks_damaged_and_invalid_copies_and_lost_blocks() {
        // Two copies bad in different blocks: every block still has a good copy.
        let c = with_damage(loc(0, 7, &["b:1", "a:1"]), &[("a:1", &[3]), ("b:1", &[7, 8, 9])]);
        let t = fileinfo_text("f", 100, std::slice::from_ref(&c));
        assert_eq!(
            t,
            "f:\n\tchunk 0: 0000000000000007_00000001 / (id:7 ver:1)\n\t\tcopy 1: a:1 (status:DAMAGED ; bad blocks: \
             3)\n\t\tcopy 2: b:1 (status:DAMAGED ; bad blocks: 7-9)\n"
        );
        // One copy, a bad block: that block is lost; the copy still serves the others.
        let c = with_damage(loc(0, 7, &["a:1"]), &[("a:1", &[5])]);
        let t = fileinfo_text("f", 100, std::slice::from_ref(&c));
        assert!(
            t.ends_with("\t\tcopy 1: a:1 (status:DAMAGED ; bad blocks: 5)\n\t\tunrecoverable blocks: 5 !!!\n"),
            "{t}"
        );
        // A copy out of service is listed, not counted; with no other copy nothing serves.
        let c = with_damage(loc(0, 7, &["b:1"]), &[("a:1", &[])]);
        let t = fileinfo_text("f", 100, std::slice::from_ref(&c));
        assert!(t.contains("\t\tcopy 1: a:1 (status:INVALID)\n\t\tcopy 2: b:1 (status:VALID)\n"), "{t}");
        let c = with_damage(loc(0, 7, &[]), &[("a:1", &[])]);
        let t = fileinfo_text("f", 100, std::slice::from_ref(&c));
        assert!(t.ends_with("\t\tcopy 1: a:1 (status:INVALID)\n\t\tno valid copies !!!\n"), "{t}");
    }

    #[test]
    fn checkfile_counts_whole_copies_and_says_what_is_damaged_or_lost() {
        let chunks = vec![
            with_damage(loc(0, 1, &["a:1", "b:1"]), &[("b:1", &[2])]),
            with_damage(loc(1, 2, &["a:1"]), &[("a:1", &[4])]),
            loc(2, 3, &["a:1", "b:1"]),
        ];
        assert_eq!(
            checkfile_text("f", &chunks),
            concat!(
                "f:\n",
                " chunks with 0 copies:            1\n",
                " chunks with 1 copy:              1\n",
                " chunks with 2 copies:            1\n",
                " damaged chunks:                  2\n",
                " chunks with lost data:           1\n",
            )
        );
    }
}
