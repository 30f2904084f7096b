//! Test helpers: a small PRNG and simulators of linearizable systems that produce histories.
//!
//! A simulation gives each client a sequence of back-to-back calls with random durations, picks a
//! linearization point inside each call's interval (anywhere after the call for unknown outcomes, even
//! after every other operation; or none at all when the unknown call never took effect), applies the
//! calls in the order of those points to a plain reference implementation, and records what each call
//! returned. The result is linearizable by construction.

#![allow(dead_code)]

use std::collections::{BTreeSet, HashMap};

use lincheck::models::folder::{FolderInput, FolderOp, FolderOutput};
use lincheck::models::register::{RegisterInput, RegisterOutput};
use lincheck::{History, Operation};

/// SplitMix64: tiny, good enough for test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True with probability `per_mille / 1000`.
    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
}

/// The shape of a simulated run.
#[derive(Clone, Copy, Debug)]
pub struct Sim {
    pub seed: u64,
    pub clients: u32,
    pub ops: usize,
    /// Keys (registers) or names (folders).
    pub keys: u32,
    /// How often a call's outcome is unknown, in 1/1000.
    pub unknown_per_mille: u64,
}

/// What happened to a planned call.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fate {
    Returned,
    UnknownTookEffect,
    UnknownNoEffect,
}

/// A call's place in time.
struct Slot {
    client: u32,
    call: u64,
    ret: u64,
    /// Linearization point.
    at: u64,
    fate: Fate,
}

/// Times for `sim.ops` calls of `sim.clients` clients running side by side.
fn schedule(sim: &Sim, rng: &mut Rng) -> Vec<Slot> {
    let clients = sim.clients.max(1);
    let mut next_free: Vec<u64> = (0..clients).map(|_| rng.below(50)).collect();
    let mut slots = Vec::with_capacity(sim.ops);
    for i in 0..sim.ops {
        let client = (i as u32) % clients;
        let call = next_free[client as usize];
        let duration = if rng.chance(50) { 200 + rng.below(2000) } else { 1 + rng.below(200) };
        let ret = call + duration;
        let fate = if rng.chance(sim.unknown_per_mille) {
            if rng.chance(500) {
                Fate::UnknownTookEffect
            } else {
                Fate::UnknownNoEffect
            }
        } else {
            Fate::Returned
        };
        let at = match fate {
            // Possibly long after the client gave up, even after everything else.
            Fate::UnknownTookEffect => call + rng.below(20 * duration + 5000),
            _ => call + rng.below(duration + 1),
        };
        slots.push(Slot { client, call, ret, at, fate });
        next_free[client as usize] = ret + rng.below(20);
    }
    slots
}

/// Runs planned calls against a reference implementation, in linearization order, and records them.
fn run<I: Clone, O, S>(
    slots: &[Slot],
    inputs: &[I],
    state: &mut S,
    mut apply: impl FnMut(&mut S, &I) -> O,
) -> History<I, O> {
    let mut order: Vec<usize> = (0..slots.len()).filter(|&i| slots[i].fate != Fate::UnknownNoEffect).collect();
    order.sort_by_key(|&i| (slots[i].at, i));
    let mut outputs: Vec<Option<O>> = (0..slots.len()).map(|_| None).collect();
    for i in order {
        outputs[i] = Some(apply(state, &inputs[i]));
    }
    let ops = slots
        .iter()
        .zip(inputs)
        .zip(outputs)
        .map(|((slot, input), output)| match (slot.fate, output) {
            (Fate::Returned, Some(output)) => {
                Operation::returned(slot.client, input.clone(), output, slot.call, slot.ret)
            }
            _ => Operation::unknown(slot.client, input.clone(), slot.call),
        })
        .collect();
    History::new(ops)
}

pub type RegHistory = History<RegisterInput<u32, u64>, RegisterOutput<u64>>;

/// A value no simulated write ever writes.
pub const NEVER_WRITTEN: u64 = u64::MAX;

/// A linearizable register history: reads, writes of unique values (a few failing for sure),
/// compare-and-sets expecting one of the last values written (or absence).
pub fn register_history(sim: &Sim) -> RegHistory {
    let mut rng = Rng::new(sim.seed);
    let slots = schedule(sim, &mut rng);
    let keys = u64::from(sim.keys.max(1));
    let mut written: HashMap<u32, Vec<u64>> = HashMap::new();
    let mut next_value = 0u64;
    // (input, whether a write fails for sure)
    let inputs: Vec<(RegisterInput<u32, u64>, bool)> = (0..slots.len())
        .map(|_| {
            let key = rng.below(keys) as u32;
            let values = written.entry(key).or_default();
            next_value += 1;
            match rng.below(10) {
                0..=3 => (RegisterInput::Read(key), false),
                4..=7 => {
                    values.push(next_value);
                    (RegisterInput::Write(key, next_value), rng.chance(30))
                }
                _ => {
                    let expected = match values.len() {
                        0 => None,
                        n => Some(values[n - 1 - rng.below(n.min(3) as u64) as usize]),
                    };
                    values.push(next_value);
                    (RegisterInput::Cas(key, expected, next_value), false)
                }
            }
        })
        .collect();
    let mut state: HashMap<u32, u64> = HashMap::new();
    let history = run(&slots, &inputs, &mut state, |state, (input, fails)| match input {
        RegisterInput::Read(key) => RegisterOutput::Read(state.get(key).copied()),
        RegisterInput::Write(..) if *fails => RegisterOutput::WriteFailed,
        RegisterInput::Write(key, value) => {
            state.insert(*key, *value);
            RegisterOutput::WriteOk
        }
        RegisterInput::Cas(key, expected, new) => {
            let swapped = state.get(key).copied() == *expected;
            if swapped {
                state.insert(*key, *new);
            }
            RegisterOutput::Cas(swapped)
        }
    });
    let ops = history
        .into_ops()
        .into_iter()
        .map(|op| Operation { client: op.client, input: op.input.0, call: op.call, outcome: op.outcome })
        .collect();
    History::new(ops)
}

/// Makes one completed read (chosen by `pick`) return a value never written; its index, if any read
/// completed.
pub fn corrupt_a_read(history: &mut RegHistory, pick: u64) -> Option<usize> {
    let mut ops = std::mem::replace(history, History::new(Vec::new())).into_ops();
    let reads: Vec<usize> =
        (0..ops.len()).filter(|&i| matches!(ops[i].input, RegisterInput::Read(_)) && !ops[i].is_unknown()).collect();
    let chosen = (!reads.is_empty()).then(|| reads[(pick % reads.len() as u64) as usize]);
    if let Some(i) = chosen {
        if let lincheck::Outcome::Returned { output, .. } = &mut ops[i].outcome {
            *output = RegisterOutput::Read(Some(NEVER_WRITTEN));
        }
    }
    *history = History::new(ops);
    chosen
}

pub type DirHistory = History<FolderInput, FolderOutput>;

/// A name no simulated call ever uses.
pub const NEVER_CREATED: &str = "never-created";

/// A linearizable history of creates, unlinks, renames, lookups and listings over `sim.keys` names in
/// `folders` folders.
pub fn folder_history(sim: &Sim, folders: u32) -> DirHistory {
    let mut rng = Rng::new(sim.seed);
    let slots = schedule(sim, &mut rng);
    let names = u64::from(sim.keys.max(1));
    let inputs: Vec<FolderInput> = (0..slots.len())
        .map(|_| {
            let folder = format!("d{}", rng.below(u64::from(folders.max(1))));
            let kind = rng.below(20);
            let mut name = || format!("n{}", rng.below(names));
            let op = match kind {
                0..=5 => FolderOp::Create(name()),
                6..=9 => FolderOp::Unlink(name()),
                10..=11 => FolderOp::Rename(name(), name()),
                12 => FolderOp::RenameNoReplace(name(), name()),
                13..=16 => FolderOp::Exists(name()),
                _ => FolderOp::List,
            };
            FolderInput::new(folder, op)
        })
        .collect();
    let mut state: HashMap<String, BTreeSet<String>> = HashMap::new();
    run(&slots, &inputs, &mut state, |state, input| {
        let names = state.entry(input.folder.clone()).or_default();
        match &input.op {
            FolderOp::Create(name) if names.insert(name.clone()) => FolderOutput::Created,
            FolderOp::Create(_) => FolderOutput::AlreadyExists,
            FolderOp::Unlink(name) if names.remove(name) => FolderOutput::Removed,
            FolderOp::Unlink(_) => FolderOutput::NotFound,
            FolderOp::Rename(from, to) if names.remove(from) => {
                names.insert(to.clone());
                FolderOutput::Renamed
            }
            FolderOp::Rename(..) => FolderOutput::NotFound,
            FolderOp::RenameNoReplace(from, _) if !names.contains(from) => FolderOutput::NotFound,
            FolderOp::RenameNoReplace(_, to) if names.contains(to) => FolderOutput::AlreadyExists,
            FolderOp::RenameNoReplace(from, to) => {
                names.remove(from);
                names.insert(to.clone());
                FolderOutput::Renamed
            }
            FolderOp::Exists(name) => FolderOutput::Exists(names.contains(name)),
            FolderOp::List => {
                // Listings come back in no particular order.
                let mut listed: Vec<String> = names.iter().cloned().collect();
                listed.reverse();
                FolderOutput::List(listed)
            }
        }
    })
}

/// Makes one completed listing (chosen by `pick`) show a name never created; its index, if any
/// listing completed.
pub fn corrupt_a_listing(history: &mut DirHistory, pick: u64) -> Option<usize> {
    let mut ops = std::mem::replace(history, History::new(Vec::new())).into_ops();
    let lists: Vec<usize> =
        (0..ops.len()).filter(|&i| ops[i].input.op == FolderOp::List && !ops[i].is_unknown()).collect();
    let chosen = (!lists.is_empty()).then(|| lists[(pick % lists.len() as u64) as usize]);
    if let Some(i) = chosen {
        if let lincheck::Outcome::Returned { output: FolderOutput::List(names), .. } = &mut ops[i].outcome {
            names.push(NEVER_CREATED.to_owned());
        }
    }
    *history = History::new(ops);
    chosen
}
