//! The search for a linearization of one partition: Wing & Gong's algorithm with Lowe's
//! improvements, as in Porcupine, extended for operations whose outcome is unknown.
//!
//! The search keeps a current configuration: the operations linearized so far (in order, on a stack)
//! and the model state they lead to. The candidates to come next are the operations called before the
//! earliest return among the returned operations not linearized yet (anything called later must come
//! after that one). The search tries them in time order, returned operations first, then the unknown
//! ones; a candidate is taken if the model accepts it in the current state and the configuration it
//! leads to is not dominated by one explored before (see [`crate::visited`]). Taking one lifts its
//! events out of the event list and starts over from the new configuration. When no candidate can be
//! taken, the search backtracks: it undoes the last operation and tries the candidates after it. The
//! partition is linearizable once every returned operation is linearized (unknown ones may be left
//! out), and it is not once there is nothing left to undo.
//!
//! Unknown operations live in a list of their own, by call time: they never return, so they never
//! bound the candidates; they are candidates from their call on, forever. Two rules keep them from
//! multiplying the search: taking one that leaves the state as it is gains nothing, and neither does
//! taking one after a run of unknown operations if taking it alone at the start of the run (or at any
//! point of the run) leads to the same state, because that configuration dominates this one. Both are
//! sound: a configuration that can be completed is never pruned unless one that dominates it, and so
//! can be completed as well with no more unknown operations, is or will be explored.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::bitset::Bitset;
use crate::events::{Event, EventList};
use crate::history::{Operation, Outcome as CallOutcome};
use crate::model::Model;
use crate::visited::Visited;

/// When to give up.
pub(crate) struct Limits<'a> {
    /// Give up at this time, if any.
    pub(crate) deadline: Option<Instant>,
    /// Give up when this is set (another partition already failed).
    pub(crate) stop: &'a AtomicBool,
}

impl Limits<'_> {
    fn exceeded(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || self.deadline.is_some_and(|deadline| Instant::now() >= deadline)
    }
}

/// How the search of one partition ended.
pub(crate) enum Outcome<S> {
    /// A linearization exists.
    Linearizable,
    /// None exists; here is the deepest dead end the search met.
    NotLinearizable(DeadEnd<S>),
    /// The search gave up (time budget, or told to stop).
    Interrupted,
}

/// A point where the search could go no further: the deepest one is the report's core.
pub(crate) struct DeadEnd<S> {
    /// The operations linearized, in order (indices into the partition).
    pub(crate) prefix: Vec<usize>,
    /// The model state after them.
    pub(crate) state: S,
    /// The candidates, none of which could come next: returned ones in time order, then unknown ones.
    pub(crate) pending: Vec<usize>,
    /// The operation with the earliest return among those not linearized.
    pub(crate) blocking: Option<usize>,
}

/// One linearized operation on the search stack.
struct Frame<S> {
    /// Its call event (in the list of its kind).
    call: usize,
    /// Its index in the partition.
    op: usize,
    /// The state before it.
    before: S,
    /// Other states it may leave (unknown outcomes), not tried yet.
    alternatives: Vec<S>,
}

/// Where the walk over candidates is.
#[derive(Clone, Copy)]
enum Cursor {
    /// At this event of the returned operations' list.
    Returned(usize),
    /// At this event of the unknown operations' list; candidates are those called by `bound`.
    Unknown(usize, u64),
}

/// The search's working set.
struct Search<'a, M: Model> {
    model: &'a M,
    ops: &'a [&'a Operation<M::Input, M::Output>],
    /// Calls and returns of the returned operations.
    returned: EventList,
    /// Calls of the unknown operations.
    unknown: EventList,
    /// Each operation's index among those of its kind (for the bitsets).
    slot: Vec<usize>,
    /// For each unknown operation, the unknown operations called earlier with the same input.
    twins_before: Vec<Vec<usize>>,
    returned_done: Bitset,
    unknown_done: Bitset,
    visited: Visited<M::State>,
    state: M::State,
    stack: Vec<Frame<M::State>>,
    /// Returned operations not linearized yet.
    remaining: usize,
    deepest: Option<DeadEnd<M::State>>,
}

/// Searches for a linearization of `ops` (one partition).
pub(crate) fn search<M: Model>(
    model: &M,
    ops: &[&Operation<M::Input, M::Output>],
    limits: &Limits<'_>,
) -> Outcome<M::State> {
    // Slots in call order, so that linearized sets pack well (see `crate::bitset`).
    let mut by_call: Vec<usize> = (0..ops.len()).collect();
    by_call.sort_by_key(|&i| ops[i].call);
    let mut returned = Vec::new();
    let mut unknown = Vec::new();
    let mut slot = vec![0; ops.len()];
    for i in by_call {
        let op = ops[i];
        match op.return_time() {
            Some(ret) => {
                slot[i] = returned.len();
                returned.push((i, op.call, Some(ret)));
            }
            None => {
                slot[i] = unknown.len();
                unknown.push((i, op.call, None));
            }
        }
    }
    let twins_before = twins_before(ops, &unknown);
    let mut s = Search {
        model,
        ops,
        twins_before,
        returned: EventList::new(&returned),
        unknown: EventList::new(&unknown),
        slot,
        returned_done: Bitset::new(returned.len()),
        unknown_done: Bitset::new(unknown.len()),
        visited: Visited::new(),
        state: model.init(),
        stack: Vec::new(),
        remaining: returned.len(),
        deepest: None,
    };
    if s.remaining == 0 {
        return Outcome::Linearizable;
    }

    let mut cursor = Cursor::Returned(s.returned.first());
    let mut steps: u32 = 0;
    loop {
        steps = steps.wrapping_add(1);
        if steps & 1023 == 0 && limits.exceeded() {
            return Outcome::Interrupted;
        }
        cursor = match cursor {
            Cursor::Returned(entry) => match s.returned.event(entry) {
                Event::Call { op, .. } => {
                    let candidates = s.successors(op);
                    if s.descend(entry, op, candidates) {
                        if s.remaining == 0 {
                            return Outcome::Linearizable;
                        }
                        Cursor::Returned(s.returned.first())
                    } else {
                        Cursor::Returned(s.returned.next(entry))
                    }
                }
                Event::Return { .. } | Event::End => Cursor::Unknown(s.unknown.first(), s.returned.time(entry)),
            },
            Cursor::Unknown(entry, bound) => match s.unknown.event(entry) {
                Event::Call { op, .. } if s.unknown.time(entry) <= bound => {
                    let candidates = if s.twin_pending(op) { Vec::new() } else { s.successors(op) };
                    if s.descend(entry, op, candidates) {
                        Cursor::Returned(s.returned.first())
                    } else {
                        Cursor::Unknown(s.unknown.next(entry), bound)
                    }
                }
                _ => {
                    s.note_dead_end(bound);
                    match s.backtrack() {
                        Some(cursor) => cursor,
                        None => {
                            let here = s.dead_end(bound);
                            return Outcome::NotLinearizable(s.deepest.unwrap_or(here));
                        }
                    }
                }
            },
        };
    }
}

/// For each operation, the unknown ones called before it with the same input (empty for returned
/// operations); `unknown` lists the unknown operations as `(op, call, _)`.
fn twins_before<I: PartialEq, O>(ops: &[&Operation<I, O>], unknown: &[(usize, u64, Option<u64>)]) -> Vec<Vec<usize>> {
    let mut by_call: Vec<(u64, usize)> = unknown.iter().map(|&(op, call, _)| (call, op)).collect();
    by_call.sort_unstable();
    let mut twins = vec![Vec::new(); ops.len()];
    // Classes of equal inputs, each with its members so far (in call order).
    let mut classes: Vec<Vec<usize>> = Vec::new();
    for (_, op) in by_call {
        match classes.iter_mut().find(|class| ops[class[0]].input == ops[op].input) {
            Some(class) => {
                twins[op] = class.clone();
                class.push(op);
            }
            None => classes.push(vec![op]),
        }
    }
    twins
}

impl<M: Model> Search<'_, M> {
    /// Whether an unknown operation with the same input as unknown operation `op`, called no later,
    /// is not linearized yet. Taking `op` then is no better than taking that twin (which is a candidate
    /// as well, and stays one for good), so only the earliest twin is tried.
    fn twin_pending(&self, op: usize) -> bool {
        self.twins_before[op].iter().any(|&twin| !self.unknown_done.contains(self.slot[twin]))
    }

    /// The states operation `op` may leave if linearized now: none if its output is impossible. An
    /// unknown outcome that leaves the state as it is gains nothing over not taking effect at all
    /// (which stays possible until the end), so such states are left out.
    fn successors(&self, op: usize) -> Vec<M::State> {
        let operation = self.ops[op];
        match &operation.outcome {
            CallOutcome::Returned { output, .. } => {
                self.model.step(&self.state, &operation.input, output).into_iter().collect()
            }
            CallOutcome::Unknown { .. } => {
                let mut states = self.model.step_unknown(&self.state, &operation.input);
                states.retain(|s| *s != self.state);
                states
            }
        }
    }

    /// Linearizes `op` (call event `call`) into the first of `candidates` worth exploring, keeping the
    /// others for backtracking. False if none is.
    fn descend(&mut self, call: usize, op: usize, mut candidates: Vec<M::State>) -> bool {
        let unknown = self.ops[op].is_unknown();
        self.set_done(op, true);
        while let Some(next) = candidates.pop() {
            if unknown && self.run_reaches(op, &next) {
                continue;
            }
            if self.visited.insert(&self.returned_done, &self.unknown_done, &next) {
                let before = std::mem::replace(&mut self.state, next);
                self.stack.push(Frame { call, op, before, alternatives: candidates });
                if unknown {
                    self.unknown.lift(call);
                } else {
                    self.returned.lift(call);
                    self.remaining -= 1;
                }
                return true;
            }
        }
        self.set_done(op, false);
        false
    }

    /// Whether unknown operation `op` would lead to `next` if taken instead at an earlier point of the
    /// current run of unknown operations (the linearized operations since the last returned one).
    fn run_reaches(&self, op: usize, next: &M::State) -> bool {
        let input = &self.ops[op].input;
        self.stack
            .iter()
            .rev()
            .take_while(|frame| self.ops[frame.op].is_unknown())
            .any(|frame| self.model.step_unknown(&frame.before, input).contains(next))
    }

    /// Undoes the last linearized operation and says where to go on from, or `None` if there is
    /// nothing to undo.
    fn backtrack(&mut self) -> Option<Cursor> {
        let frame = self.stack.pop()?;
        let unknown = self.ops[frame.op].is_unknown();
        if unknown {
            self.unknown.unlift(frame.call);
        } else {
            self.returned.unlift(frame.call);
            self.remaining += 1;
        }
        self.set_done(frame.op, false);
        self.state = frame.before;
        Some(if self.descend(frame.call, frame.op, frame.alternatives) {
            Cursor::Returned(self.returned.first())
        } else if unknown {
            Cursor::Unknown(self.unknown.next(frame.call), self.returned.time(self.returned.first_return()))
        } else {
            Cursor::Returned(self.returned.next(frame.call))
        })
    }

    /// Marks operation `op` linearized or not.
    fn set_done(&mut self, op: usize, done: bool) {
        let bits = if self.ops[op].is_unknown() { &mut self.unknown_done } else { &mut self.returned_done };
        if done {
            bits.set(self.slot[op]);
        } else {
            bits.clear(self.slot[op]);
        }
    }

    /// Keeps the current dead end if it is the deepest so far.
    fn note_dead_end(&mut self, bound: u64) {
        if self.deepest.as_ref().is_none_or(|d| self.stack.len() > d.prefix.len()) {
            self.deepest = Some(self.dead_end(bound));
        }
    }

    /// Describes the current dead end; `bound` is the earliest return among returned operations not
    /// linearized.
    fn dead_end(&self, bound: u64) -> DeadEnd<M::State> {
        let mut pending = Vec::new();
        let mut blocking = None;
        let mut i = self.returned.first();
        loop {
            match self.returned.event(i) {
                Event::Call { op, .. } => pending.push(op),
                Event::Return { op } => {
                    blocking = Some(op);
                    break;
                }
                Event::End => break,
            }
            i = self.returned.next(i);
        }
        let mut i = self.unknown.first();
        while let Event::Call { op, .. } = self.unknown.event(i) {
            if self.unknown.time(i) > bound {
                break;
            }
            pending.push(op);
            i = self.unknown.next(i);
        }
        DeadEnd {
            prefix: self.stack.iter().map(|frame| frame.op).collect(),
            state: self.state.clone(),
            pending,
            blocking,
        }
    }
}
