//! `mfsfilepaths`: every path of a file (all its hard links) or a folder, relative to the
//! root of the mount, as MooseFS 3.0 prints them. An operand is a path, or an inode number
//! when the tool runs in a folder of a mount.

use proto::client::{ReadOp, Reply};

use super::mount_session::Sessions;
use super::{need_operands, ToolArgs};
use crate::fuse::creds::own_creds;

/// `mfsfilepaths NAME|INODE...`.
pub async fn filepaths(sessions: &mut Sessions, name: &str, a: &ToolArgs) -> i32 {
    if !need_operands(name, a, 1) {
        return 1;
    }
    let creds = own_creds();
    let mut code = 0;
    for operand in &a.operands {
        // A number that names no file here is an inode of the mount around the current folder.
        let by_number = operand.parse::<u64>().ok().filter(|_| std::fs::symlink_metadata(operand).is_err());
        let target = match by_number {
            Some(_) => sessions.target(name, ".").await,
            None => sessions.target(name, operand).await,
        };
        let t = match target {
            Ok(t) => t,
            Err(e) => {
                println!("{operand}: {e}");
                code = 1;
                continue;
            }
        };
        let ino = by_number.unwrap_or(t.ino);
        match t.client.read(&creds, ReadOp::Paths { ino }).await {
            Ok(Reply::Names(paths)) => {
                println!("{operand}:");
                for p in paths {
                    println!("{}", String::from_utf8_lossy(&p));
                }
            }
            Ok(other) => {
                println!("{operand}: master query: wrong answer ({other:?})");
                code = 1;
            }
            Err(e) => {
                println!("{operand}: {e}");
                code = 1;
            }
        }
    }
    code
}
