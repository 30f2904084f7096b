//! `mfsfileinfo`, `mfscheckfile`, `mfsdirinfo`: chunks and their copies.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

use proto::client::{ChunkLocation, ReadOp, Reply};
use proto::meta::{Creds, FileType, Ino, CHUNK_SIZE};

use super::mount_session::Sessions;
use super::walk::walk;
use super::{need_operands, ToolArgs};
use crate::error::ClientError;
use crate::fuse::creds::own_creds;
use crate::master_client::MasterClient;

/// Block size of chunk data on a chunkserver (for `size` in `mfsdirinfo`).
const BLOCK: u64 = 64 << 10;

async fn file_chunks(client: &MasterClient, creds: &Creds, ino: Ino) -> Result<Vec<ChunkLocation>, ClientError> {
    match client.read(creds, ReadOp::FileChunks { ino }).await? {
        Reply::Chunks(c) => Ok(c),
        other => Err(ClientError::Protocol(format!("file chunks answered {other:?}"))),
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

/// The `mfsfileinfo` text of one file of `size` bytes.
pub fn fileinfo_text(path: &str, size: u64, chunks: &[ChunkLocation]) -> String {
    let mut out = format!("{path}:\n");
    let by_index: HashMap<u32, &ChunkLocation> = chunks.iter().map(|c| (c.index, c)).collect();
    let count = size.div_ceil(CHUNK_SIZE);
    for index in 0..count {
        let index = index as u32;
        match by_index.get(&index).filter(|c| c.chunk_id != 0) {
            None => out.push_str(&format!("\tchunk {index}: empty\n")),
            Some(c) => {
                out.push_str(&format!(
                    "\tchunk {index}: {:016X}_{:08X} / (id:{} ver:{})\n",
                    c.chunk_id, c.version, c.chunk_id, c.version
                ));
                if c.servers.is_empty() {
                    out.push_str("\t\tno valid copies !!!\n");
                }
                for (i, s) in sorted_copies(&c.servers).iter().enumerate() {
                    out.push_str(&format!("\t\tcopy {}: {s}\n", i + 1));
                }
            }
        }
    }
    out
}

/// The `mfscheckfile` text: chunks counted by their number of valid copies.
pub fn checkfile_text(path: &str, chunks: &[ChunkLocation]) -> String {
    let mut counts: BTreeMap<usize, u64> = BTreeMap::new();
    for c in chunks.iter().filter(|c| c.chunk_id != 0) {
        *counts.entry(c.servers.len().min(10)).or_default() += 1;
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
    /// Count one file's chunks: `size` is the bytes of data on a chunkserver, in 64 KiB blocks.
    pub fn add_chunks(&mut self, file_len: u64, chunks: &[ChunkLocation]) {
        for c in chunks.iter().filter(|c| c.chunk_id != 0) {
            let start = c.index as u64 * CHUNK_SIZE;
            let bytes = file_len.saturating_sub(start).min(CHUNK_SIZE);
            let size = bytes.div_ceil(BLOCK) * BLOCK;
            self.chunks += 1;
            self.size += size;
            self.realsize += size * c.servers.len() as u64;
        }
    }

    pub fn text(&self, path: &str) -> String {
        format!(
            "{path}:\n inodes:       {:>10}\n  directories: {:>10}\n  files:       {:>10}\n chunks:       {:>10}\n \
             length:       {:>20}\n size:         {:>20}\n realsize:     {:>20}\n",
            self.inodes, self.dirs, self.files, self.chunks, self.length, self.size, self.realsize
        )
    }
}

/// `mfsfileinfo`.
pub async fn fileinfo(sessions: &mut Sessions, name: &str, a: &ToolArgs) -> i32 {
    per_file(sessions, name, a, fileinfo_text).await
}

/// `mfscheckfile`.
pub async fn checkfile(sessions: &mut Sessions, name: &str, a: &ToolArgs) -> i32 {
    per_file(sessions, name, a, |path, _size, chunks| checkfile_text(path, chunks)).await
}

async fn per_file(
    sessions: &mut Sessions,
    name: &str,
    a: &ToolArgs,
    render: impl Fn(&str, u64, &[ChunkLocation]) -> String,
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
            Ok::<_, ClientError>(render(path, attr.size, &chunks))
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
        let mut files: Vec<(Ino, u64)> = Vec::new();
        let r = walk(&t.client, &creds, t.ino, |attr| {
            info.inodes += 1;
            match attr.kind {
                FileType::Dir => info.dirs += 1,
                FileType::File => {
                    info.files += 1;
                    info.length += attr.size;
                    files.push((attr.ino, attr.size));
                }
                _ => {}
            }
        })
        .await;
        let r = match r {
            Ok(()) => {
                let mut res = Ok(());
                for (ino, len) in files {
                    match file_chunks(&t.client, &creds, ino).await {
                        Ok(chunks) => info.add_chunks(len, &chunks),
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
            Ok(()) => print!("{}", info.text(path)),
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
        }
    }

    #[test]
    fn fileinfo_matches_moosefs() {
        let chunks = vec![loc(0, 1, &["127.0.31.22:9422", "127.0.31.21:9422"]), loc(2, 5, &[])];
        let t = fileinfo_text("f", 2 * CHUNK_SIZE + 1, &chunks);
        assert_eq!(
            t,
            "f:\n\tchunk 0: 0000000000000001_00000001 / (id:1 ver:1)\n\t\tcopy 1: 127.0.31.21:9422\n\t\t\
             copy 2: 127.0.31.22:9422\n\tchunk 1: empty\n\tchunk 2: 0000000000000005_00000001 / (id:5 ver:1)\n\t\t\
             no valid copies !!!\n"
        );
        assert_eq!(fileinfo_text("e", 0, &[]), "e:\n");
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
        assert_eq!((d.chunks, d.size, d.realsize), (1, 2 * BLOCK, 4 * BLOCK));
        assert!(d.text("x").contains(" chunks:                1\n"));
    }
}
