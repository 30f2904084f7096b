//! What should happen to one chunk: a pure function ([`plan`]) of its table entry, its goal
//! and the copies the chunkservers reported (with their damage), so every rule is tested
//! without a cluster. The loop ([`super::replication`]) carries the actions out.
//!
//! The rules that keep data (DESIGN.md guarantee 8: the last valid copy of any block is never
//! deleted; a damaged block is repaired from a good one):
//! - without a *usable* valid copy (one that serves data, bad blocks or not) nothing is
//!   deleted, repaired or copied: whatever is left may be all there is;
//! - a copy is deleted (stale, or over the goal) only while every block of the chunk is good on
//!   some usable valid copy. A block bad on every copy (*lost*) keeps every copy of the chunk:
//!   a stale one may still hold it, and repairs try those too;
//! - a copy out of service (its fsync failed) is kept until `goal` whole copies exist;
//! - over the goal, the copies kept are whole ones;
//! - a copy with bad blocks stays a holder and serves its other blocks; its bad blocks are
//!   rewritten from the others (`RepairBlocks`). It does not count as a whole copy, but one
//!   whose every bad block is good elsewhere is not replaced by a new copy while its repair
//!   may still work.

use std::collections::BTreeSet;

use proto::cs::{RepairSource, MAX_SOURCES};

use super::placement::{self, Candidate};
use super::registry::{is_valid, Copy, Damage};
use crate::namespace::ChunkMeta;

/// Why a copy is deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeleteReason {
    /// The chunk was deleted from the namespace (truncate, unlink, trash purge).
    Deleted,
    /// No file will ever refer to this id.
    Orphan,
    /// An old version, or a copy that is not a holder.
    Stale,
    /// More valid copies than the goal.
    OverGoal,
}

impl DeleteReason {
    pub fn name(self) -> &'static str {
        match self {
            DeleteReason::Deleted => "deleted",
            DeleteReason::Orphan => "orphan",
            DeleteReason::Stale => "stale",
            DeleteReason::OverGoal => "over_goal",
        }
    }
}

/// What should happen to one chunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Delete the copy on `addr` (`version` 0: whatever version).
    Delete { addr: String, version: u32, reason: DeleteReason },
    /// A holder one version behind: renumber its copy.
    Renumber { addr: String, from: u32, to: u32 },
    /// Rewrite the bad `blocks` of `addr`'s copy (at the chunk's version) from `sources` (the
    /// other valid copies at that version, whole ones first) or `others` (any other copy,
    /// taken only where it matches the CRC the damaged copy stored).
    RepairBlocks { addr: String, blocks: Vec<u32>, sources: Vec<String>, others: Vec<RepairSource> },
    /// `count` more copies are needed, on servers other than `exclude` (every server with a
    /// copy that serves data; a server whose copy is out of service may take the new one).
    Replicate { count: usize, exclude: Vec<String> },
}

/// What the loop knows of one chunk.
#[derive(Clone, Debug)]
pub struct ChunkFacts<'a> {
    pub id: u64,
    /// Its table entry; `None` when no file refers to it.
    pub meta: Option<&'a ChunkMeta>,
    /// Highest goal of the files referring to it.
    pub goal: u8,
    /// Waiting in `chunks_to_delete`.
    pub to_delete: bool,
    /// Below the namespace's next chunk id: if not in the table now, it never will be.
    pub below_next_id: bool,
    pub copies: &'a [Copy],
    /// Servers whose repair of this chunk failed a short while ago: not asked again yet, and
    /// not counted on to become whole.
    pub repair_failed: &'a [String],
}

/// The state of one chunk, for metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Health {
    /// Fewer whole copies (not on removal disks) than the goal.
    pub under_goal: bool,
    pub over_goal: bool,
    /// In the table without any valid copy that serves data.
    pub missing: bool,
    /// Goal 2 or more, and one valid copy left that serves data.
    pub endangered: bool,
    /// Some valid copy has bad blocks or is out of service.
    pub damaged: bool,
    /// The servers of the valid copies with bad blocks or out of service.
    pub damaged_on: Vec<String>,
    /// Blocks bad on every valid copy that serves data: unreadable until one is repaired.
    pub lost_blocks: usize,
    /// The chunk's goal, 0 for a chunk not judged (no file refers to it).
    pub goal: u8,
    /// Its whole valid copies (undamaged, not on a disk marked for removal).
    pub good: usize,
}

/// What the pass allows for this chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Permits {
    /// Replicate under-goal chunks (delays passed, not being written).
    pub replicate: bool,
    /// Delete copies over the goal.
    pub trim: bool,
    /// Repair bad blocks (not being written).
    pub repair: bool,
}

/// Decide what to do with one chunk. `servers` gives space for choosing which extra copy
/// to delete.
pub fn plan(f: &ChunkFacts<'_>, servers: &[Candidate], permits: Permits) -> (Vec<Action>, Health) {
    let mut actions = Vec::new();
    let delete_all = |reason| {
        f.copies.iter().map(|c| Action::Delete { addr: c.addr.clone(), version: 0, reason }).collect::<Vec<_>>()
    };
    let Some(meta) = f.meta else {
        if f.to_delete {
            return (delete_all(DeleteReason::Deleted), Health::default());
        }
        if f.below_next_id {
            return (delete_all(DeleteReason::Orphan), Health::default());
        }
        // Maybe an allocation in progress: not ours to judge yet.
        return (actions, Health::default());
    };
    let (valid, stale): (Vec<&Copy>, Vec<&Copy>) = f.copies.iter().partition(|c| is_valid(meta, &c.addr, c.version));
    let goal = usize::from(f.goal.max(1));
    let usable: Vec<&Copy> = valid.iter().copied().filter(|c| c.damage.is_usable()).collect();
    let good = valid.iter().filter(|c| c.damage == Damage::None && !c.to_remove).count();
    let lost = lost_blocks(&usable);
    let health = Health {
        under_goal: !usable.is_empty() && good < goal,
        over_goal: valid.len() > goal,
        missing: usable.is_empty(),
        endangered: goal >= 2 && usable.len() == 1,
        damaged: valid.iter().any(|c| c.damage != Damage::None),
        damaged_on: valid.iter().filter(|c| c.damage != Damage::None).map(|c| c.addr.clone()).collect(),
        lost_blocks: lost.as_ref().map_or(0, BTreeSet::len),
        goal: f.goal.max(1),
        good,
    };
    let Some(lost) = lost else {
        // Never destroy the last data: without a copy that serves, everything stays.
        return (actions, health);
    };
    // Every block of the chunk is good on some usable valid copy.
    let complete = lost.is_empty();
    let goal_met = good >= goal;
    for c in &stale {
        if complete && (c.damage.is_usable() || goal_met) {
            actions.push(Action::Delete { addr: c.addr.clone(), version: c.version, reason: DeleteReason::Stale });
        }
    }
    for c in valid.iter().filter(|c| c.version != meta.version) {
        actions.push(Action::Renumber { addr: c.addr.clone(), from: c.version, to: meta.version });
    }
    // Bad blocks good on another copy: rewrite them from there.
    let mut repairable = 0;
    for c in valid.iter().filter(|c| c.version == meta.version && !c.to_remove) {
        let bad = c.damage.bad_blocks();
        if bad.is_empty() {
            continue;
        }
        let failed = f.repair_failed.contains(&c.addr);
        let blocks: Vec<u32> = bad.iter().copied().filter(|b| !lost.contains(b)).collect();
        if blocks.len() == bad.len() && !failed {
            repairable += 1;
        }
        if !blocks.is_empty() && !failed && permits.repair {
            let (sources, others) = repair_sources(meta, f.copies, &c.addr);
            actions.push(Action::RepairBlocks { addr: c.addr.clone(), blocks, sources, others });
        }
    }
    if complete && good + repairable < goal && permits.replicate {
        let exclude = f.copies.iter().filter(|c| c.damage.is_usable()).map(|c| c.addr.clone()).collect();
        actions.push(Action::Replicate { count: goal - good - repairable, exclude });
    }
    if goal_met && valid.len() > goal && permits.trim {
        // Keep `goal` whole copies, dropping those on the fullest servers first. Every other
        // valid copy goes: on a disk marked for removal, damaged, out of service, or extra.
        let mut extra: Vec<&Copy> = valid.iter().copied().filter(|c| c.to_remove || c.damage != Damage::None).collect();
        let mut keep: Vec<&str> =
            valid.iter().filter(|c| c.damage == Damage::None && !c.to_remove).map(|c| c.addr.as_str()).collect();
        while keep.len() > goal {
            let Some(addr) = placement::fullest(servers, &keep) else { break };
            keep.retain(|a| *a != addr);
            if let Some(c) = valid.iter().find(|c| c.addr == addr) {
                extra.push(c);
            }
        }
        for c in extra {
            actions.push(Action::Delete { addr: c.addr.clone(), version: c.version, reason: DeleteReason::OverGoal });
        }
    }
    (actions, health)
}

/// Blocks bad on every copy in `usable`; `None` when there is none.
fn lost_blocks(usable: &[&Copy]) -> Option<BTreeSet<u32>> {
    let (first, rest) = usable.split_first()?;
    let mut lost: BTreeSet<u32> = first.damage.bad_blocks().iter().copied().collect();
    for c in rest {
        if lost.is_empty() {
            break;
        }
        let bad = c.damage.bad_blocks();
        lost.retain(|b| bad.binary_search(b).is_ok());
    }
    Some(lost)
}

/// Where `addr`'s copy is repaired from: the other valid copies at the chunk's version that
/// serve data (whole ones first, then by fewest bad blocks), and any other copy that serves
/// data (a holder one version behind, a stale copy, which may hold an old block a failed
/// write left behind).
fn repair_sources(meta: &ChunkMeta, copies: &[Copy], addr: &str) -> (Vec<String>, Vec<RepairSource>) {
    let mut others: Vec<&Copy> = copies.iter().filter(|c| c.addr != addr && c.damage.is_usable()).collect();
    others.sort_by_key(|c| c.damage.bad_blocks().len());
    let (same, others): (Vec<&Copy>, Vec<&Copy>) =
        others.into_iter().partition(|c| c.version == meta.version && is_valid(meta, &c.addr, c.version));
    let same: Vec<String> = same.into_iter().take(MAX_SOURCES).map(|c| c.addr.clone()).collect();
    let others = others
        .into_iter()
        .take(MAX_SOURCES - same.len())
        .map(|c| RepairSource { addr: c.addr.clone(), version: c.version })
        .collect();
    (same, others)
}

#[cfg(test)]
mod tests;
