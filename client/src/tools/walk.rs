//! Walking a tree on the masters (for the recursive tools): every inode below a folder once,
//! with its attributes.

use std::collections::HashSet;

use proto::client::{ReadOp, Reply};
use proto::meta::{Attr, Creds, FileType, Ino};

use crate::error::ClientError;
use crate::master_client::MasterClient;

/// Entries asked at once.
const BATCH: u32 = 1000;

/// Call `f` with the attributes of `top` and, when it is a folder, of every inode below it
/// (hard-linked inodes once).
pub async fn walk(client: &MasterClient, creds: &Creds, top: Ino, f: impl FnMut(&Attr)) -> Result<(), ClientError> {
    walk_with(client, creds, top, false, f).await
}

/// As [`walk`], but `f` sees a hard-linked file once per name (`mfsdirinfo`'s counts).
pub async fn walk_names(
    client: &MasterClient,
    creds: &Creds,
    top: Ino,
    f: impl FnMut(&Attr),
) -> Result<(), ClientError> {
    walk_with(client, creds, top, true, f).await
}

async fn walk_with(
    client: &MasterClient,
    creds: &Creds,
    top: Ino,
    every_name: bool,
    mut f: impl FnMut(&Attr),
) -> Result<(), ClientError> {
    let top_attr = client.getattr(creds, top).await?;
    let mut seen: HashSet<Ino> = HashSet::new();
    seen.insert(top);
    f(&top_attr);
    if top_attr.kind != FileType::Dir {
        return Ok(());
    }
    let mut stack = vec![top];
    while let Some(dir) = stack.pop() {
        let mut offset = 0;
        loop {
            let op = ReadOp::ReadDir { ino: dir, offset, max_entries: BATCH, plus: true };
            let batch = match client.read(creds, op).await? {
                Reply::Dir(d) => d,
                other => return Err(ClientError::Protocol(format!("readdir answered {other:?}"))),
            };
            let Some(last) = batch.last() else { break };
            offset = last.cookie;
            let n = batch.len();
            for e in batch {
                // A folder has one name, so a walk by names cannot loop.
                if e.name == b"." || e.name == b".." || (!seen.insert(e.ino) && !every_name) {
                    continue;
                }
                let attr = match e.attr {
                    Some(a) => a,
                    None => client.getattr(creds, e.ino).await?,
                };
                f(&attr);
                if attr.kind == FileType::Dir {
                    stack.push(attr.ino);
                }
            }
            if n < BATCH as usize {
                break;
            }
        }
    }
    Ok(())
}
