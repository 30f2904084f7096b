//! What a failed check tells a human: where the search got stuck and on what.

use std::fmt;

use crate::history::Operation;
use crate::model::Model;
use crate::search::DeadEnd;

/// How many operations of the prefix [`Report`]'s `Display` shows (the last ones).
const PREFIX_SHOWN: usize = 12;
/// How many unplaced operations [`Report`]'s `Display` shows (the first ones, and the blocking one).
const UNPLACED_SHOWN: usize = 20;

/// Why a partition is not linearizable, from the deepest dead end the search met: the longest
/// linearizable prefix it found, and the operations none of which could come next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The partition's index, in the order the model's `partition` returned them.
    pub partition: usize,
    /// The model's name for it (e.g. its key).
    pub partition_name: String,
    /// Its operations (indices into the history).
    pub partition_ops: Vec<usize>,
    /// The longest linearizable prefix found, in linearization order.
    pub prefix: Vec<OpSummary>,
    /// The model state after that prefix.
    pub state: String,
    /// The operations called before the blocking return that could not be placed next, in call order.
    pub unplaced: Vec<Unplaced>,
}

/// One operation as reports show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpSummary {
    /// Its index in the history.
    pub index: usize,
    /// Its client.
    pub client: u32,
    /// When it was called (ns).
    pub call: u64,
    /// When it returned (ns), `None` for an unknown outcome.
    pub ret: Option<u64>,
    /// Input and output, as the model describes them.
    pub text: String,
}

/// An operation that could not be placed after the prefix, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unplaced {
    /// The operation.
    pub op: OpSummary,
    /// True for the operation whose return the search reached before placing it: it had to be placed
    /// before anything called after that return.
    pub blocking: bool,
    /// Why it could not come next.
    pub reason: String,
}

impl Report {
    /// Builds the report of partition `partition` (indices `part` into `ops`) from its deepest dead end,
    /// whose operation indices are positions in `part`.
    pub(crate) fn new<M: Model>(
        model: &M,
        ops: &[Operation<M::Input, M::Output>],
        partition: usize,
        part: &[usize],
        dead_end: &DeadEnd<M::State>,
    ) -> Report {
        let summary = |local: usize| {
            let index = part.get(local).copied().unwrap_or(usize::MAX);
            ops.get(index).map(|op| OpSummary {
                index,
                client: op.client,
                call: op.call,
                ret: op.return_time(),
                text: model.describe_op(&op.input, op.output()),
            })
        };
        let unplaced = dead_end
            .pending
            .iter()
            .filter_map(|&local| {
                let op = ops.get(*part.get(local)?)?;
                let reason = match op.output() {
                    Some(output) => match model.step(&dead_end.state, &op.input, output) {
                        None => "its output is impossible in this state",
                        Some(_) => "placing it here leads to a dead end later",
                    },
                    None if model.step_unknown(&dead_end.state, &op.input).iter().all(|s| *s == dead_end.state) => {
                        "unknown outcome; taking effect here would change nothing"
                    }
                    None => "unknown outcome; taking effect here leads to a dead end later",
                };
                Some(Unplaced {
                    op: summary(local)?,
                    blocking: dead_end.blocking == Some(local),
                    reason: reason.into(),
                })
            })
            .collect();
        Report {
            partition,
            partition_name: model.describe_partition(ops, part),
            partition_ops: part.to_vec(),
            prefix: dead_end.prefix.iter().filter_map(|&local| summary(local)).collect(),
            state: model.describe_state(&dead_end.state),
            unplaced,
        }
    }
}

/// Nanoseconds as milliseconds with microseconds.
struct Ms(u64);

impl fmt::Display for Ms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06} ms", self.0 / 1_000_000, self.0 % 1_000_000)
    }
}

impl fmt::Display for OpSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{} client {} [{}, ", self.index, self.client, Ms(self.call))?;
        match self.ret {
            Some(ret) => write!(f, "{}]", Ms(ret))?,
            None => write!(f, "unknown)")?,
        }
        write!(f, " {}", self.text)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "not linearizable: partition {} ({}, {} operations; times in ms since the recorder started)",
            self.partition,
            self.partition_name,
            self.partition_ops.len()
        )?;
        let skipped = self.prefix.len().saturating_sub(PREFIX_SHOWN);
        write!(f, "longest linearizable prefix found: {} of them", self.prefix.len())?;
        if skipped > 0 {
            write!(f, ", the last {PREFIX_SHOWN} shown")?;
        }
        writeln!(f)?;
        for op in &self.prefix[skipped..] {
            writeln!(f, "    {op}")?;
        }
        writeln!(f, "state after it: {}", self.state)?;
        match self.unplaced.iter().find(|u| u.blocking) {
            Some(blocking) => writeln!(
                f,
                "then stuck: #{} had to take effect before it returned, but no call pending by then can come next:",
                blocking.op.index
            )?,
            None => writeln!(f, "then stuck: no pending call can come next:")?,
        }
        let mut hidden = 0;
        for (i, u) in self.unplaced.iter().enumerate() {
            if i >= UNPLACED_SHOWN && !u.blocking {
                hidden += 1;
                continue;
            }
            let mark = if u.blocking { "  <- returned first" } else { "" };
            writeln!(f, "    {}{mark}\n        {}", u.op, u.reason)?;
        }
        if hidden > 0 {
            writeln!(f, "    and {hidden} more")?;
        }
        Ok(())
    }
}
