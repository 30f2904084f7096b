//! The operations a history is made of: who called what, when, and what came back.
//!
//! Times are nanoseconds since the start of one monotonic clock (the [`Recorder`](crate::Recorder)'s), so
//! they can be compared across clients. A call's time is taken before the client issues the request and
//! a return's time after the answer arrived, so the real operation lies inside `[call, return]`.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Names one call recorded by a [`Recorder`](crate::Recorder): the index of its operation in the history.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OpId(pub usize);

/// How a call ended, as far as the client knows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome<O> {
    /// The call returned `output` at time `at` (ns). It took effect exactly once, somewhere in `[call, at]`.
    Returned {
        /// What the call returned.
        output: O,
        /// When the answer arrived (ns since the clock's start).
        at: u64,
    },
    /// Nobody knows how the call ended: it timed out, failed in a way that may hide a success (a failover
    /// error), or its client died. It may have taken effect once at any point after its call (even after
    /// every other operation), or never. The checker treats its return time as +infinity.
    Unknown {
        /// When the client gave up on it, if it did (for reports only; the checker ignores it).
        noted: Option<u64>,
    },
}

/// One call in a history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation<I, O> {
    /// Which client (thread, mount, process) made the call; only used in reports.
    pub client: u32,
    /// What was asked.
    pub input: I,
    /// When the call was made (ns since the clock's start).
    pub call: u64,
    /// How it ended.
    pub outcome: Outcome<O>,
}

impl<I, O> Operation<I, O> {
    /// A call made at `call` that returned `output` at `ret`.
    pub fn returned(client: u32, input: I, output: O, call: u64, ret: u64) -> Self {
        Operation { client, input, call, outcome: Outcome::Returned { output, at: ret } }
    }

    /// A call made at `call` whose outcome is unknown.
    pub fn unknown(client: u32, input: I, call: u64) -> Self {
        Operation { client, input, call, outcome: Outcome::Unknown { noted: None } }
    }

    /// The output, if the call returned.
    pub fn output(&self) -> Option<&O> {
        match &self.outcome {
            Outcome::Returned { output, .. } => Some(output),
            Outcome::Unknown { .. } => None,
        }
    }

    /// The return time, if the call returned. Never earlier than the call time: a malformed history with
    /// a return before its call is read as returning at its call.
    pub fn return_time(&self) -> Option<u64> {
        match &self.outcome {
            Outcome::Returned { at, .. } => Some((*at).max(self.call)),
            Outcome::Unknown { .. } => None,
        }
    }

    /// Whether the outcome is unknown.
    pub fn is_unknown(&self) -> bool {
        matches!(self.outcome, Outcome::Unknown { .. })
    }
}

/// A finished history: every call recorded, in the order the calls were recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct History<I, O> {
    ops: Vec<Operation<I, O>>,
}

impl<I, O> History<I, O> {
    /// A history made of these operations (any order; times say what overlaps).
    pub fn new(ops: Vec<Operation<I, O>>) -> Self {
        History { ops }
    }

    /// The operations, in recording order; reports name them by their index here.
    pub fn ops(&self) -> &[Operation<I, O>] {
        &self.ops
    }

    /// Takes the operations out.
    pub fn into_ops(self) -> Vec<Operation<I, O>> {
        self.ops
    }

    /// How many operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// How many operations have an unknown outcome.
    pub fn unknown_count(&self) -> usize {
        self.ops.iter().filter(|op| op.is_unknown()).count()
    }
}

impl<I: Serialize, O: Serialize> History<I, O> {
    /// The history as JSON, to keep next to a failed test's logs.
    pub fn to_json(&self) -> serde_json::Result<String> {
        serde_json::to_string(self)
    }
}

impl<I: DeserializeOwned, O: DeserializeOwned> History<I, O> {
    /// Reads a history saved by [`History::to_json`].
    pub fn from_json(json: &str) -> serde_json::Result<Self> {
        serde_json::from_str(json)
    }
}
