//! `mfsfilerepair`: make a file readable again, chunk by chunk, as the leader decided from the
//! copies its chunkservers report (`chunks/file_repair.rs`): a chunk with no valid copy takes the
//! version of the newest copy left, or, with none left, becomes a hole (reads as zeros).

use proto::client::{OpResult, Reply};
use proto::meta::Ino;
use serde::{Deserialize, Serialize};

use super::inode::Body;
use super::{Namespace, OpContext};

/// One chunk of a file to repair, as the leader saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepairStep {
    pub index: u32,
    pub id: u64,
    /// The chunk's version when the leader decided: a chunk written since is left alone.
    pub from_version: u32,
    pub fix: RepairFix,
}

/// What becomes of a chunk with no valid copy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RepairFix {
    /// No copy at all: the chunk goes, the file has a hole there.
    Erase,
    /// Copies of another version remain: the chunk takes that version, they become its holders.
    Version { version: u32, holders: Vec<String> },
}

impl Namespace {
    /// The chunks of file `ino` that exist, as (index, id); empty for anything else.
    pub fn file_chunk_ids(&self, ino: Ino) -> Vec<(u32, u64)> {
        match self.inodes.get(&ino).map(|i| &i.body) {
            Some(Body::File { chunks }) => chunks.iter().collect(),
            _ => Vec::new(),
        }
    }

    /// Apply the leader's repair of `ino` (needs write permission, as a write). Reply:
    /// [`Reply::Repaired`] with the chunks left as they were, erased and repaired.
    pub fn apply_file_repair(&mut self, ctx: &OpContext, ino: Ino, steps: &[RepairStep]) -> OpResult {
        if !self.inode(ino)?.is_file() {
            return Err(proto::Errno::EPERM);
        }
        let inode = self.writable_file(&ctx.creds, ctx.session, ino)?;
        let Body::File { chunks } = &inode.body else {
            return Err(proto::Errno::EINVAL);
        };
        let present: Vec<(u32, u64)> = chunks.iter().collect();
        let (mut erased, mut repaired) = (0u64, 0u64);
        for step in steps {
            let still = present.binary_search(&(step.index, step.id)).is_ok()
                && self.chunks.get(&step.id).is_some_and(|m| m.version == step.from_version);
            if !still {
                continue;
            }
            match &step.fix {
                RepairFix::Erase => {
                    let before = self.file_usage_now(ino);
                    self.with_inode(ino, |i| {
                        if let Body::File { chunks } = &mut i.body {
                            chunks.clear(step.index);
                        }
                    });
                    self.forget_chunks([step.id]);
                    self.charge_file(ino, before, ctx.now);
                    self.settle_quota_clocks();
                    erased += 1;
                }
                RepairFix::Version { version, holders } => {
                    if let Some(m) = self.chunks.get_mut(&step.id) {
                        let mut h = holders.clone();
                        h.sort();
                        h.dedup();
                        m.version = *version;
                        m.holders = h;
                    }
                    repaired += 1;
                }
            }
        }
        let not_changed = (present.len() as u64).saturating_sub(erased + repaired);
        Ok(Reply::Repaired { not_changed, erased, repaired })
    }
}
