//! Folders: the set of names in each shared folder (exclusive creates, unlinks, renames, lookups and
//! listings through FUSE).

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::history::Operation;
use crate::model::Model;

/// A call on a folder: which folder, and what.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FolderInput {
    /// The folder (its path, or any name that identifies it).
    pub folder: String,
    /// What was done in it.
    pub op: FolderOp,
}

impl FolderInput {
    /// `op` in `folder`.
    pub fn new(folder: impl Into<String>, op: FolderOp) -> Self {
        FolderInput { folder: folder.into(), op }
    }
}

/// What was done in a folder.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FolderOp {
    /// Create a name exclusively (`O_CREAT | O_EXCL`): [`FolderOutput::Created`] or
    /// [`FolderOutput::AlreadyExists`].
    Create(String),
    /// Remove a name: [`FolderOutput::Removed`] or [`FolderOutput::NotFound`].
    Unlink(String),
    /// Rename a name to another in the same folder, replacing the target if it exists (POSIX
    /// `rename`): [`FolderOutput::Renamed`] or [`FolderOutput::NotFound`] (no such source).
    Rename(String, String),
    /// Rename without replacing (`renameat2(RENAME_NOREPLACE)`): [`FolderOutput::Renamed`],
    /// [`FolderOutput::NotFound`] (no such source) or [`FolderOutput::AlreadyExists`] (the target
    /// is there). Through a kernel, each failure may come from its own lookup of one name, so
    /// either answer is right whenever its own condition holds.
    ///
    /// Plain [`FolderOp::Rename`] between two clients of a shared folder is not atomic through
    /// the Linux VFS: it looks both names up first and returns success without asking the file
    /// system when both name the same inode (`vfs_rename`: `source == target`). A client whose
    /// lookup of the target came after another client's rename of the same source onto it is
    /// told success for a rename that never happened, as over NFS. Record `RenameNoReplace`
    /// where renames race on one name.
    RenameNoReplace(String, String),
    /// Look a name up: [`FolderOutput::Exists`].
    Exists(String),
    /// List the folder: [`FolderOutput::List`].
    List,
}

/// What a call on a folder returned.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FolderOutput {
    /// The create made the name.
    Created,
    /// The create found the name there already (`EEXIST`).
    AlreadyExists,
    /// The unlink removed the name.
    Removed,
    /// The rename moved the name.
    Renamed,
    /// The unlink's name or the rename's source was not there (`ENOENT`).
    NotFound,
    /// Whether the looked-up name is there.
    Exists(bool),
    /// The names listed, in any order; each must appear once.
    List(Vec<String>),
}

/// Folders holding sets of names, all empty at first, checked one folder at a time (a listing or a
/// rename ties every name of a folder together). Renames across folders are not modelled.
#[derive(Clone, Copy, Debug, Default)]
pub struct FolderModel;

impl FolderModel {
    /// The model.
    pub fn new() -> Self {
        FolderModel
    }
}

/// The names in a folder, sorted, each once. Names are shared between the states the search keeps,
/// so copying a state costs one allocation whatever the length of the names.
pub type Names = Vec<Arc<str>>;

/// Where `name` is in `names`: `Ok(index)` if there, `Err(insertion point)` if not.
fn find(names: &Names, name: &str) -> Result<usize, usize> {
    names.binary_search_by(|n| (**n).cmp(name))
}

/// Whether `name` is in `names`.
fn has(names: &Names, name: &str) -> bool {
    find(names, name).is_ok()
}

/// `names` with `name` added.
fn with(names: &Names, name: &str) -> Names {
    let mut names = names.clone();
    if let Err(at) = find(&names, name) {
        names.insert(at, name.into());
    }
    names
}

/// `names` without `name`.
fn without(names: &Names, name: &str) -> Names {
    let mut names = names.clone();
    if let Ok(at) = find(&names, name) {
        names.remove(at);
    }
    names
}

/// `names` with `from` renamed to `to` (which it replaces).
fn renamed(names: &Names, from: &str, to: &str) -> Names {
    with(&without(names, from), to)
}

/// Whether `listed` holds exactly `names`, each once, in any order.
fn same_names(listed: &[String], names: &Names) -> bool {
    if listed.len() != names.len() {
        return false;
    }
    if listed.windows(2).all(|w| w[0] < w[1]) {
        return listed.iter().zip(names).all(|(a, b)| a.as_str() == &**b);
    }
    let mut sorted: Vec<&String> = listed.iter().collect();
    sorted.sort_unstable();
    sorted.windows(2).all(|w| w[0] != w[1]) && sorted.into_iter().zip(names).all(|(a, b)| a.as_str() == &**b)
}

impl Model for FolderModel {
    type State = Names;
    type Input = FolderInput;
    type Output = FolderOutput;

    fn init(&self) -> Names {
        Names::new()
    }

    fn step(&self, names: &Names, input: &FolderInput, output: &FolderOutput) -> Option<Names> {
        use FolderOp as Op;
        use FolderOutput as Out;
        match (&input.op, output) {
            (Op::Create(name), Out::Created) => (!has(names, name)).then(|| with(names, name)),
            (Op::Create(name), Out::AlreadyExists) => has(names, name).then(|| names.clone()),
            (Op::Unlink(name), Out::Removed) => has(names, name).then(|| without(names, name)),
            (Op::Unlink(name), Out::NotFound) => (!has(names, name)).then(|| names.clone()),
            (Op::Rename(from, to), Out::Renamed) => has(names, from).then(|| renamed(names, from, to)),
            (Op::Rename(from, _), Out::NotFound) => (!has(names, from)).then(|| names.clone()),
            (Op::RenameNoReplace(from, to), Out::Renamed) => {
                (has(names, from) && !has(names, to)).then(|| renamed(names, from, to))
            }
            (Op::RenameNoReplace(from, _), Out::NotFound) => (!has(names, from)).then(|| names.clone()),
            (Op::RenameNoReplace(_, to), Out::AlreadyExists) => has(names, to).then(|| names.clone()),
            (Op::Exists(name), Out::Exists(there)) => (has(names, name) == *there).then(|| names.clone()),
            (Op::List, Out::List(listed)) => same_names(listed, names).then(|| names.clone()),
            // An output of the wrong kind for its input: a recording mistake, never possible.
            _ => None,
        }
    }

    fn step_unknown(&self, names: &Names, input: &FolderInput) -> Vec<Names> {
        let effect = match &input.op {
            FolderOp::Create(name) if !has(names, name) => with(names, name),
            FolderOp::Unlink(name) if has(names, name) => without(names, name),
            FolderOp::Rename(from, to) if has(names, from) => renamed(names, from, to),
            FolderOp::RenameNoReplace(from, to) if has(names, from) && !has(names, to) => renamed(names, from, to),
            _ => names.clone(),
        };
        vec![effect]
    }

    /// One partition per folder, in order of first appearance.
    fn partition(&self, ops: &[Operation<FolderInput, FolderOutput>]) -> Vec<Vec<usize>> {
        let mut by_folder: HashMap<&str, usize> = HashMap::new();
        let mut parts: Vec<Vec<usize>> = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            let part = *by_folder.entry(op.input.folder.as_str()).or_insert_with(|| {
                parts.push(Vec::new());
                parts.len() - 1
            });
            parts[part].push(i);
        }
        parts
    }

    fn describe_partition(&self, ops: &[Operation<FolderInput, FolderOutput>], part: &[usize]) -> String {
        match part.first().and_then(|&i| ops.get(i)) {
            Some(op) => format!("folder {:?}", op.input.folder),
            None => "no operations".into(),
        }
    }

    fn describe_op(&self, input: &FolderInput, output: Option<&FolderOutput>) -> String {
        match output {
            Some(output) => format!("{:?} -> {output:?}", input.op),
            None => format!("{:?} -> ?", input.op),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> Names {
        let mut names: Names = names.iter().map(|&n| n.into()).collect();
        names.sort();
        names
    }

    fn input(op: FolderOp) -> FolderInput {
        FolderInput::new("d", op)
    }

    #[test]
    fn steps_follow_posix_semantics() {
        let m = FolderModel;
        let s = set(&["a", "b"]);
        let name = |n: &str| n.to_string();
        assert_eq!(
            m.step(&s, &input(FolderOp::Create(name("c"))), &FolderOutput::Created),
            Some(set(&["a", "b", "c"]))
        );
        assert_eq!(m.step(&s, &input(FolderOp::Create(name("a"))), &FolderOutput::Created), None);
        assert_eq!(m.step(&s, &input(FolderOp::Create(name("a"))), &FolderOutput::AlreadyExists), Some(s.clone()));
        assert_eq!(m.step(&s, &input(FolderOp::Unlink(name("a"))), &FolderOutput::Removed), Some(set(&["b"])));
        assert_eq!(m.step(&s, &input(FolderOp::Unlink(name("z"))), &FolderOutput::NotFound), Some(s.clone()));
        assert_eq!(
            m.step(&s, &input(FolderOp::Rename(name("a"), name("b"))), &FolderOutput::Renamed),
            Some(set(&["b"]))
        );
        assert_eq!(m.step(&s, &input(FolderOp::Rename(name("a"), name("a"))), &FolderOutput::Renamed), Some(s.clone()));
        assert_eq!(m.step(&s, &input(FolderOp::Rename(name("z"), name("y"))), &FolderOutput::Renamed), None);
        // Without replacing: either failure is right whenever its own condition holds.
        let no_replace = |a: &str, b: &str| input(FolderOp::RenameNoReplace(name(a), name(b)));
        assert_eq!(m.step(&s, &no_replace("a", "a"), &FolderOutput::Renamed), None);
        assert_eq!(m.step(&s, &no_replace("a", "a"), &FolderOutput::AlreadyExists), Some(s.clone()));
        assert_eq!(m.step(&s, &no_replace("z", "a"), &FolderOutput::NotFound), Some(s.clone()));
        assert_eq!(m.step(&s, &no_replace("z", "a"), &FolderOutput::AlreadyExists), Some(s.clone()));
        assert_eq!(m.step(&s, &no_replace("a", "z"), &FolderOutput::AlreadyExists), None);
        assert_eq!(m.step(&s, &input(FolderOp::Exists(name("b"))), &FolderOutput::Exists(true)), Some(s.clone()));
        let list = |names: &[&str]| FolderOutput::List(names.iter().map(|n| n.to_string()).collect());
        assert_eq!(m.step(&s, &input(FolderOp::List), &list(&["b", "a"])), Some(s.clone()));
        assert_eq!(m.step(&s, &input(FolderOp::List), &list(&["a", "a"])), None);
        assert_eq!(m.step(&s, &input(FolderOp::List), &list(&["a"])), None);
        assert_eq!(m.step(&s, &input(FolderOp::List), &FolderOutput::Created), None);
    }
}
