//! `mfsfilerepair` on the leader: which chunks of a file have no valid copy, and what to do with
//! each, from the copies the chunkservers reported. The state machine applies the plan
//! (`namespace/repair.rs`), skipping any chunk written since.

use proto::meta::Ino;

use super::registry::Registry;
use super::ChunkService;
use crate::namespace::{Namespace, RepairFix, RepairStep};

/// Most chunks one repair command changes; the tool asks again while a repair is full.
pub const MAX_REPAIR_STEPS: usize = 10_000;

impl ChunkService {
    /// The repair of `ino` as this master sees it now (empty when nothing needs it).
    pub fn repair_plan(&self, ino: Ino) -> Vec<RepairStep> {
        let st = self.state.read();
        let reg = self.registry();
        plan(&st.ns, &reg, ino)
    }
}

/// For each chunk of `ino` with no usable valid copy: the newest usable copy of another version
/// (its version and every server holding it), else erase.
pub fn plan(ns: &Namespace, reg: &Registry, ino: Ino) -> Vec<RepairStep> {
    let mut steps = Vec::new();
    for (index, id) in ns.file_chunk_ids(ino) {
        let Some(meta) = ns.chunk_meta(id) else { continue };
        if reg.valid_copies(id, meta).iter().any(|c| c.damage.is_usable()) {
            continue;
        }
        let usable: Vec<_> = reg.copies(id).iter().filter(|c| c.damage.is_usable() && c.version != 0).collect();
        let fix = match usable.iter().map(|c| c.version).max() {
            Some(v) => RepairFix::Version {
                version: v,
                holders: usable.iter().filter(|c| c.version == v).map(|c| c.addr.clone()).collect(),
            },
            None => RepairFix::Erase,
        };
        steps.push(RepairStep { index, id, from_version: meta.version, fix });
        if steps.len() == MAX_REPAIR_STEPS {
            break;
        }
    }
    steps
}
