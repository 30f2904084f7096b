//! What the checker checks against: a sequential specification of the system.

use std::fmt::Debug;
use std::hash::Hash;

use crate::history::Operation;

/// A sequential specification in the Porcupine style: a state machine whose steps say which outputs are
/// possible. Must be deterministic: the same state, input and output always give the same result.
pub trait Model {
    /// The state of one partition. Hashed and compared to prune the search, so keep it small.
    type State: Clone + Eq + Hash + Debug;
    /// What a client asks. Equal inputs must mean equal effects (unknown-outcome calls with equal
    /// inputs are interchangeable, and the search tries only one of them).
    type Input: Clone + Debug + PartialEq;
    /// What a client gets back.
    type Output: Clone + Debug;

    /// The state of every partition before the history began.
    fn init(&self) -> Self::State;

    /// The state after `input` returned `output`, or `None` if that output is impossible from `state`.
    fn step(&self, state: &Self::State, input: &Self::Input, output: &Self::Output) -> Option<Self::State>;

    /// The states an operation with an unknown outcome may leave when it takes effect in `state` (one for
    /// each output it could have had; duplicates are fine). Not taking effect at all is always allowed by
    /// the checker, so do not list `state` itself unless taking effect can leave it unchanged.
    fn step_unknown(&self, state: &Self::State, input: &Self::Input) -> Vec<Self::State>;

    /// Splits a history into parts that can be checked independently (P-compositionality: the history
    /// is linearizable if and only if each part is), e.g. one part per key. Each part lists indices into
    /// `ops`; every index should appear in exactly one part (out-of-range indices are ignored). Default:
    /// one part with everything.
    fn partition(&self, ops: &[Operation<Self::Input, Self::Output>]) -> Vec<Vec<usize>> {
        vec![(0..ops.len()).collect()]
    }

    /// A name for a part in reports, e.g. its key. `part` holds indices into `ops`.
    fn describe_partition(&self, ops: &[Operation<Self::Input, Self::Output>], part: &[usize]) -> String {
        let _ = ops;
        format!("{} operations", part.len())
    }

    /// One operation in reports; `output` is `None` for an unknown outcome.
    fn describe_op(&self, input: &Self::Input, output: Option<&Self::Output>) -> String {
        match output {
            Some(output) => format!("{input:?} -> {output:?}"),
            None => format!("{input:?} -> ?"),
        }
    }

    /// A state in reports.
    fn describe_state(&self, state: &Self::State) -> String {
        format!("{state:?}")
    }
}
