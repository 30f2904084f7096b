//! How a tool given a path reaches the masters: find the mount root above the path (the folder
//! holding the `.raftmfs` file), read the master list from it, open a session of its own, and
//! name the path by its inode (`st_ino` is the masters' inode).

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use proto::meta::Ino;

use crate::error::ClientError;
use crate::fuse::masterinfo;
use crate::master_client::{ClientConfig, MasterClient};

/// How long a tool waits for the masters per operation.
const TOOL_OP_TIMEOUT: Duration = Duration::from_secs(60);

/// A path inside a mount, resolved.
pub struct Target {
    pub ino: Ino,
    pub is_dir: bool,
    pub client: Arc<MasterClient>,
}

/// MooseFS's words for a path that does not resolve: "realpath error on (/abs/path): ENOENT (No
/// such file or directory)", the path made absolute, as the C library's `realpath` saw it.
fn realpath_error(path: &str, e: &std::io::Error) -> String {
    let abs = std::path::absolute(path).map_or_else(|_| path.to_string(), |p| p.display().to_string());
    match e.raw_os_error() {
        Some(code) => {
            let errno = proto::Errno(code);
            format!("realpath error on ({abs}): {} ({})", errno.name(), super::snapshot::strerror(errno))
        }
        None => format!("realpath error on ({abs}): {e}"),
    }
}

/// Sessions opened by one tool run, one per mount it touched.
#[derive(Default)]
pub struct Sessions {
    by_root: HashMap<PathBuf, Arc<MasterClient>>,
}

impl Sessions {
    /// Resolve `path`; errors read like MooseFS's (`not MFS object`).
    pub async fn target(&mut self, tool: &str, path: &str) -> Result<Target, String> {
        let real = std::fs::canonicalize(path).map_err(|e| realpath_error(path, &e))?;
        let meta = std::fs::symlink_metadata(&real).map_err(|e| format!("lstat error: {e}"))?;
        let (root, info) = find_mount(&real)?;
        let client = match self.by_root.get(&root) {
            Some(c) => c.clone(),
            None => {
                let c = Arc::new(open_session(tool, &root, &info).await?);
                self.by_root.insert(root, c.clone());
                c
            }
        };
        Ok(Target { ino: meta.ino(), is_dir: meta.is_dir(), client })
    }

    /// Close every session.
    pub async fn close(self) {
        for c in self.by_root.values() {
            if let Err(e) = c.close().await {
                tracing::debug!(error = %e, "closing the tool session failed");
            }
        }
    }
}

/// A session for `tool` on the mount at `root`: joined to the mount's own session when its
/// `.masterinfo` shows one (the mount's permissions, no password needed), else one of the
/// tool's own on the mount's folder (a mount from before tool tickets, or one whose session
/// the masters no longer know).
async fn open_session(tool: &str, root: &Path, info: &masterinfo::MountInfo) -> Result<MasterClient, String> {
    let mut cfg = ClientConfig::new(&info.masters.iter().map(String::as_str).collect::<Vec<_>>());
    cfg.op_timeout = TOOL_OP_TIMEOUT;
    cfg.info = format!("{tool} (tools) {}", root.display());
    cfg.subfolder = info.subfolder.clone();
    let mut joined = None;
    if let Some(parent) = info.session {
        let cfg = ClientConfig { tool_of: Some(parent), ..cfg.clone() };
        match MasterClient::connect(cfg).await {
            Ok(c) => return Ok(c),
            Err(ClientError::Refused(reason)) => joined = Some(reason),
            Err(e) => return Err(format!("can't connect to masters: {e}")),
        }
    }
    match MasterClient::connect(cfg).await {
        Ok(c) => Ok(c),
        Err(e) => match joined {
            Some(reason) => Err(format!("can't connect to masters: {reason}; a session of its own: {e}")),
            None => Err(format!("can't connect to masters: {e}")),
        },
    }
}

/// The mount root above `path` and its `.raftmfs` contents.
pub fn find_mount(path: &Path) -> Result<(PathBuf, masterinfo::MountInfo), String> {
    let start = if path.is_dir() { path.to_path_buf() } else { path.parent().unwrap_or(Path::new("/")).to_path_buf() };
    let mut dir = start.as_path();
    loop {
        for name in [masterinfo::NAME, masterinfo::MOOSEFS_NAME] {
            let info = dir.join(name);
            if let Ok(m) = std::fs::symlink_metadata(&info) {
                if m.ino() == masterinfo::INO && m.is_file() {
                    let text =
                        std::fs::read_to_string(&info).map_err(|e| format!("can't read '{}': {e}", info.display()))?;
                    let parsed =
                        masterinfo::parse(&text).map_err(|e| format!("incorrect '{}': {e}", info.display()))?;
                    return Ok((dir.to_path_buf(), parsed));
                }
            }
        }
        match dir.parent() {
            Some(p) => dir = p,
            None => return Err("not MFS object".into()),
        }
    }
}
