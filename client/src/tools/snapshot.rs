//! `mfsmakesnapshot` and `mfsappendchunks`: lazy copies made by the masters (the copies share
//! the sources' chunks until either side writes), with MooseFS 3.0's operands, messages and
//! exit codes (`mfstools.c`: `make_snapshot`, `append_file`).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use proto::client::{SnapshotFlags, WriteOp};
use proto::Errno;

use super::mount_session::Sessions;
use super::{need_operands, ToolArgs};
use crate::error::ClientError;
use crate::fuse::creds::own_creds;

/// MooseFS's `make_snapshot` returns -1 on any failure, which `main` passes to `exit`.
const SNAPSHOT_FAILED: i32 = 255;

/// The C library's text for an errno ("File exists"), as MooseFS's tools print it.
pub fn strerror(e: Errno) -> String {
    let text = std::io::Error::from_raw_os_error(e.0).to_string();
    match text.find(" (os error") {
        Some(cut) => text[..cut].to_string(),
        None => text,
    }
}

pub(super) fn error_text(e: &ClientError) -> String {
    match e {
        ClientError::Errno(errno) => strerror(*errno),
        other => other.to_string(),
    }
}

/// The last component of `path` as given ("a/b/" → "b").
fn base_name(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
    Path::new(trimmed).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| trimmed.to_string())
}

/// Where one source goes: folder `dir` (a real path) and `name` in it.
struct Destination {
    dir: PathBuf,
    name: String,
}

/// `mfsmakesnapshot [-o] [-c] [-p] SOURCE... DESTINATION`.
pub async fn makesnapshot(sessions: &mut Sessions, tool: &str, a: &ToolArgs) -> i32 {
    if !need_operands(tool, a, 2) {
        return 1;
    }
    let (sources, dst) = a.operands.split_at(a.operands.len() - 1);
    let dst = &dst[0];
    let flags = SnapshotFlags { overwrite: a.overwrite, cp_like: a.cp_like, preserve_hardlinks: a.preserve_hardlinks };
    let dst_meta = std::fs::metadata(dst);
    let dst_is_dir = dst_meta.as_ref().is_ok_and(|m| m.is_dir());
    if !dst_is_dir && sources.len() > 1 {
        println!("can snapshot multiple elements only into existing directory");
        return SNAPSHOT_FAILED;
    }
    let mut code = 0;
    for src in sources {
        if let Err(msg) = snapshot_one(sessions, tool, src, dst, dst_is_dir, flags).await {
            println!("{msg}");
            code = SNAPSHOT_FAILED;
        }
    }
    code
}

async fn snapshot_one(
    sessions: &mut Sessions,
    tool: &str,
    src: &str,
    dst: &str,
    dst_is_dir: bool,
    flags: SnapshotFlags,
) -> Result<(), String> {
    let src_meta = std::fs::symlink_metadata(src).map_err(|e| format!("{src}: lstat error: {e}"))?;
    let target = destination(src, &src_meta, dst, dst_is_dir)?;
    let dir_meta = std::fs::metadata(&target.dir).map_err(|e| format!("{}: stat error: {e}", target.dir.display()))?;
    if dir_meta.dev() != src_meta.dev() {
        return Err(format!("({dst},{src}): both elements must be on the same device"));
    }
    if target.name.len() > proto::meta::MAX_NAME_LEN {
        return Err(format!("{dst}: name too long"));
    }
    // The source is named by its inode (a symlink as itself: `lstat`), the folder by its own.
    let folder = sessions.target(tool, &target.dir.to_string_lossy()).await.map_err(|e| format!("{dst}: {e}"))?;
    let op = WriteOp::Snapshot {
        src: src_meta.ino(),
        dst_parent: folder.ino,
        name: target.name.clone().into_bytes(),
        flags,
        umask: current_umask(),
    };
    match folder.client.write(&own_creds(), op).await {
        Ok(_) => Ok(()),
        Err(e) => Err(format!("{src}->{}/{}: {}", target.dir.display(), target.name, error_text(&e))),
    }
}

/// Where `src` goes, as MooseFS's `make_snapshot` decides: into an existing folder under its
/// own name (a folder given with a trailing `/` merges into the destination itself), or as the
/// destination path.
fn destination(src: &str, src_meta: &std::fs::Metadata, dst: &str, dst_is_dir: bool) -> Result<Destination, String> {
    let split = split_path;
    if !dst_is_dir {
        if dst.ends_with('/') && !src_meta.is_dir() {
            return Err(format!("directory {dst} does not exist"));
        }
        return split(dst);
    }
    if src_meta.is_dir() && src.ends_with('/') {
        // "SRC/" into an existing folder: its contents merge into the folder itself.
        let real = std::fs::canonicalize(dst).map_err(|e| format!("{dst}: realpath error on {dst}: {e}"))?;
        return split(&real.to_string_lossy());
    }
    let name = if src_meta.file_type().is_symlink() {
        base_name(src)
    } else {
        let real = std::fs::canonicalize(src).map_err(|e| format!("{src}: realpath error on {src}: {e}"))?;
        base_name(&real.to_string_lossy())
    };
    let dir = std::fs::canonicalize(dst).map_err(|e| format!("{dst}: realpath error on {dst}: {e}"))?;
    Ok(Destination { dir, name })
}

/// `path` as its folder (a real path) and its last name.
fn split_path(path: &str) -> Result<Destination, String> {
    let trimmed = path.trim_end_matches('/');
    let p = Path::new(if trimmed.is_empty() { "/" } else { trimmed });
    let parent = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let dir =
        std::fs::canonicalize(&parent).map_err(|e| format!("{path}: realpath error on {}: {e}", parent.display()))?;
    Ok(Destination { dir, name: base_name(path) })
}

/// `mfsrmsnapshot [-f] OBJECT...`: remove snapshots (every object still marked as one) past
/// the trash; with `-f`, whatever of each tree is still marked. Prints nothing on success.
pub async fn rmsnapshot(sessions: &mut Sessions, tool: &str, a: &ToolArgs) -> i32 {
    if !need_operands(tool, a, 1) {
        return 1;
    }
    let mut code = 0;
    for path in &a.operands {
        let target = match split_path(path) {
            Ok(t) => t,
            Err(msg) => {
                println!("{msg}");
                code = 1;
                continue;
            }
        };
        if target.name.len() > proto::meta::MAX_NAME_LEN {
            println!("{}: name too long", target.name);
            code = 1;
            continue;
        }
        let shown = format!("{}/{}", target.dir.display(), target.name);
        let folder = match sessions.target(tool, &target.dir.to_string_lossy()).await {
            Ok(f) => f,
            Err(e) => {
                println!("{shown}: {e}");
                code = 1;
                continue;
            }
        };
        let op = WriteOp::RmSnapshot { parent: folder.ino, name: target.name.into_bytes(), force: a.force };
        if let Err(e) = folder.client.write(&own_creds(), op).await {
            println!("{shown}: {}", error_text(&e));
            code = 1;
        }
    }
    code
}

/// This process's umask (read by setting it and putting it back).
fn current_umask() -> u32 {
    // SAFETY: umask only swaps the process's file creation mask; it is put back at once and
    // the tool runs no other thread that creates files meanwhile.
    let old = unsafe { libc::umask(0o022) };
    unsafe { libc::umask(old) };
    old as u32
}

/// `mfsappendchunks [-s FROM:TO] SNAPSHOT_FILE OBJECT...`: append the chunks of each OBJECT
/// (or the slice of them) to SNAPSHOT_FILE (made when missing).
pub async fn appendchunks(sessions: &mut Sessions, tool: &str, a: &ToolArgs) -> i32 {
    if !need_operands(tool, a, 2) {
        return 1;
    }
    let dst = &a.operands[0];
    let opened = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(dst);
    let dst_meta = match opened.and_then(|f| f.metadata()) {
        Ok(m) => m,
        Err(e) => {
            println!("can't create/open file: {dst}: {e}");
            return 1;
        }
    };
    let target = match sessions.target(tool, dst).await {
        Ok(t) => t,
        Err(e) => {
            println!("{dst}: {e}");
            return 1;
        }
    };
    let creds = own_creds();
    let mut code = 0;
    for src in &a.operands[1..] {
        let meta = match std::fs::metadata(src) {
            Ok(m) if m.is_file() => m,
            Ok(_) => {
                println!("{src}: not a file");
                code = 1;
                continue;
            }
            Err(e) => {
                println!("{src}: stat error: {e}");
                code = 1;
                continue;
            }
        };
        if meta.dev() != dst_meta.dev() {
            println!("{src}: different device");
            code = 1;
            continue;
        }
        let op = WriteOp::AppendChunks { dst: target.ino, src: meta.ino(), slice: a.slice };
        if let Err(e) = target.client.write(&creds, op).await {
            println!("{dst}: {}", error_text(&e));
            code = 1;
        }
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_as_the_c_library_prints_them() {
        assert_eq!(strerror(Errno::EEXIST), "File exists");
        assert_eq!(strerror(Errno::EACCES), "Permission denied");
    }

    #[test]
    fn base_names_ignore_trailing_slashes() {
        assert_eq!(base_name("a/b/"), "b");
        assert_eq!(base_name("b"), "b");
        assert_eq!(base_name("/"), "/");
    }
}
