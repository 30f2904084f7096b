//! Registers: one value per key (small files read, written and compared-and-set through FUSE).

use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::Hash;
use std::marker::PhantomData;

use serde::{Deserialize, Serialize};

use crate::history::Operation;
use crate::model::Model;

/// A call on a register.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RegisterInput<K, V> {
    /// Read the value of a key.
    Read(K),
    /// Replace the value of a key.
    Write(K, V),
    /// Replace the value of a key with the third field if it is the second (`None`: absent or empty).
    Cas(K, Option<V>, V),
}

impl<K, V> RegisterInput<K, V> {
    /// The key the call is about.
    pub fn key(&self) -> &K {
        match self {
            RegisterInput::Read(key) | RegisterInput::Write(key, _) | RegisterInput::Cas(key, _, _) => key,
        }
    }
}

/// What a call on a register returned.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RegisterOutput<V> {
    /// A read's result: `None` when the file is absent or empty (so never write an empty value).
    Read(Option<V>),
    /// The write took effect.
    WriteOk,
    /// The write certainly did not take effect. If it might have, record the outcome as unknown instead.
    WriteFailed,
    /// A compare-and-set's result: `true` if it swapped, `false` if the value was not the expected one
    /// (and nothing changed).
    Cas(bool),
}

/// Registers keyed by `K` holding values `V`, all absent at first, checked one key at a time.
///
/// The state of a partition is the value of its one key (`None`: absent or empty). Writes and swaps
/// before the recording began are unknown to the model, so record the test's setup too.
pub struct RegisterModel<K, V> {
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> RegisterModel<K, V> {
    /// The model.
    pub fn new() -> Self {
        RegisterModel { _types: PhantomData }
    }
}

impl<K, V> Default for RegisterModel<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K, V> Model for RegisterModel<K, V>
where
    K: Clone + Debug + Eq + Hash,
    V: Clone + Debug + Eq + Hash,
{
    type State = Option<V>;
    type Input = RegisterInput<K, V>;
    type Output = RegisterOutput<V>;

    fn init(&self) -> Option<V> {
        None
    }

    fn step(&self, state: &Option<V>, input: &Self::Input, output: &Self::Output) -> Option<Option<V>> {
        match (input, output) {
            (RegisterInput::Read(_), RegisterOutput::Read(seen)) => (seen == state).then(|| state.clone()),
            (RegisterInput::Write(_, value), RegisterOutput::WriteOk) => Some(Some(value.clone())),
            (RegisterInput::Write(..), RegisterOutput::WriteFailed) => Some(state.clone()),
            (RegisterInput::Cas(_, expected, new), RegisterOutput::Cas(swapped)) => {
                match (expected == state, swapped) {
                    (true, true) => Some(Some(new.clone())),
                    (false, false) => Some(state.clone()),
                    _ => None,
                }
            }
            // An output of the wrong kind for its input: a recording mistake, never possible.
            _ => None,
        }
    }

    fn step_unknown(&self, state: &Option<V>, input: &Self::Input) -> Vec<Option<V>> {
        match input {
            RegisterInput::Read(_) => vec![state.clone()],
            RegisterInput::Write(_, value) => vec![Some(value.clone())],
            RegisterInput::Cas(_, expected, new) if expected == state => vec![Some(new.clone())],
            RegisterInput::Cas(..) => vec![state.clone()],
        }
    }

    /// One partition per key, in order of first appearance.
    fn partition(&self, ops: &[Operation<Self::Input, Self::Output>]) -> Vec<Vec<usize>> {
        let mut by_key: HashMap<&K, usize> = HashMap::new();
        let mut parts: Vec<Vec<usize>> = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            let part = *by_key.entry(op.input.key()).or_insert_with(|| {
                parts.push(Vec::new());
                parts.len() - 1
            });
            parts[part].push(i);
        }
        parts
    }

    fn describe_partition(&self, ops: &[Operation<Self::Input, Self::Output>], part: &[usize]) -> String {
        match part.first().and_then(|&i| ops.get(i)) {
            Some(op) => format!("key {:?}", op.input.key()),
            None => "no operations".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_follow_register_semantics() {
        let m = RegisterModel::<u8, u8>::new();
        use RegisterInput::*;
        use RegisterOutput as O;
        assert_eq!(m.step(&None, &Read(0), &O::Read(None)), Some(None));
        assert_eq!(m.step(&Some(1), &Read(0), &O::Read(None)), None);
        assert_eq!(m.step(&None, &Write(0, 3), &O::WriteOk), Some(Some(3)));
        assert_eq!(m.step(&Some(1), &Write(0, 3), &O::WriteFailed), Some(Some(1)));
        assert_eq!(m.step(&Some(1), &Cas(0, Some(1), 2), &O::Cas(true)), Some(Some(2)));
        assert_eq!(m.step(&Some(1), &Cas(0, Some(1), 2), &O::Cas(false)), None);
        assert_eq!(m.step(&Some(5), &Cas(0, Some(1), 2), &O::Cas(false)), Some(Some(5)));
        assert_eq!(m.step(&None, &Cas(0, None, 2), &O::Cas(true)), Some(Some(2)));
        assert_eq!(m.step(&None, &Read(0), &O::WriteOk), None);
        assert_eq!(m.step_unknown(&Some(5), &Cas(0, Some(1), 2)), vec![Some(5)]);
        assert_eq!(m.step_unknown(&Some(1), &Cas(0, Some(1), 2)), vec![Some(2)]);
    }
}
