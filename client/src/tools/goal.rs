//! `mfsgetgoal`, `mfssetgoal`, `mfsgettrashtime`, `mfssettrashtime`.

use std::collections::BTreeMap;

use proto::client::{Reply, WriteOp};
use proto::meta::{Attr, FileType};

use super::mount_session::Sessions;
use super::walk::walk;
use super::{need_operands, ToolArgs};
use crate::fuse::creds::own_creds;

/// Which per-inode setting a tool handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Goal,
    TrashTime,
}

impl Kind {
    fn value(self, a: &Attr) -> u32 {
        match self {
            Kind::Goal => a.goal as u32,
            Kind::TrashTime => a.trash_time,
        }
    }
}

/// Lines of `mfsgetgoal -r` / `mfsgettrashtime -r` for counts by value.
pub fn recursive_report(kind: Kind, files: &BTreeMap<u32, u64>, dirs: &BTreeMap<u32, u64>) -> String {
    let mut out = String::new();
    for (v, n) in files {
        match kind {
            Kind::Goal => out.push_str(&format!(" files with goal        {v} : {n:>10}\n")),
            Kind::TrashTime => out.push_str(&format!(" files with trashtime        {v:>10} : {n:>10}\n")),
        }
    }
    for (v, n) in dirs {
        match kind {
            Kind::Goal => out.push_str(&format!(" directories with goal  {v} : {n:>10}\n")),
            Kind::TrashTime => out.push_str(&format!(" directories with trashtime  {v:>10} : {n:>10}\n")),
        }
    }
    out
}

/// Lines of `mfssetgoal -r` / `mfssettrashtime -r`.
pub fn set_report(kind: Kind, changed: u64, not_changed: u64, denied: u64) -> String {
    match kind {
        Kind::Goal => format!(
            " inodes with goal changed:      {changed:>10}\n inodes with goal not changed:  {not_changed:>10}\n \
             inodes with permission denied: {denied:>10}\n"
        ),
        Kind::TrashTime => format!(
            " inodes with trashtime changed:     {changed:>10}\n inodes with trashtime not changed: \
             {not_changed:>10}\n inodes with permission denied:     {denied:>10}\n"
        ),
    }
}

/// `mfsgetgoal` / `mfsgettrashtime`.
pub async fn get(sessions: &mut Sessions, name: &str, a: &ToolArgs, kind: Kind) -> i32 {
    if !need_operands(name, a, 1) {
        return 1;
    }
    let creds = own_creds();
    let mut code = 0;
    for path in &a.operands {
        let t = match sessions.target(name, path).await {
            Ok(t) => t,
            Err(e) => {
                println!("{path}: {e}");
                code = 1;
                continue;
            }
        };
        if !a.recursive {
            match t.client.getattr(&creds, t.ino).await {
                Ok(attr) => println!("{path}: {}", kind.value(&attr)),
                Err(e) => {
                    println!("{path}: {e}");
                    code = 1;
                }
            }
            continue;
        }
        let mut files: BTreeMap<u32, u64> = BTreeMap::new();
        let mut dirs: BTreeMap<u32, u64> = BTreeMap::new();
        let r = walk(&t.client, &creds, t.ino, |attr| match attr.kind {
            FileType::Dir => *dirs.entry(kind.value(attr)).or_default() += 1,
            FileType::File => *files.entry(kind.value(attr)).or_default() += 1,
            _ => {}
        })
        .await;
        match r {
            Ok(()) => print!("{path}:\n{}", recursive_report(kind, &files, &dirs)),
            Err(e) => {
                println!("{path}: {e}");
                code = 1;
            }
        }
    }
    code
}

/// `mfssetgoal` / `mfssettrashtime`.
pub async fn set(sessions: &mut Sessions, name: &str, a: &ToolArgs, kind: Kind) -> i32 {
    if !need_operands(name, a, 2) {
        return 1;
    }
    let value_arg = &a.operands[0];
    let value: u32 = match value_arg.parse() {
        Ok(v) => v,
        Err(_) if value_arg.ends_with(['+', '-']) => {
            eprintln!("{name}: {value_arg}: increase-only/decrease-only modes are not supported yet");
            return 1;
        }
        Err(_) => {
            eprintln!("{name}: bad value {value_arg:?}");
            return 1;
        }
    };
    if kind == Kind::Goal && !(1..=9).contains(&value) {
        eprintln!("{name}: goal should be given as a number from 1 to 9");
        return 1;
    }
    // MooseFS 3.0 keeps trash time in hours: seconds are rounded up to whole hours.
    let value = if kind == Kind::TrashTime { round_up_to_hours(value) } else { value };
    let creds = own_creds();
    let mut code = 0;
    for path in &a.operands[1..] {
        let t = match sessions.target(name, path).await {
            Ok(t) => t,
            Err(e) => {
                println!("{path}: {e}");
                code = 1;
                continue;
            }
        };
        // Count the tree first, for MooseFS's "not changed" and "permission denied" lines.
        let (mut total, mut denied) = (0u64, 0u64);
        if a.recursive {
            let r = walk(&t.client, &creds, t.ino, |attr| {
                total += 1;
                let owner = creds.is_root() || attr.uid == creds.uid || attr.eattr() & proto::eattr::NOOWNER != 0;
                if !owner || attr.eattr() & proto::eattr::IMMUTABLE != 0 {
                    denied += 1;
                }
            })
            .await;
            if let Err(e) = r {
                println!("{path}: {e}");
                code = 1;
                continue;
            }
        }
        let op = match kind {
            Kind::Goal => WriteOp::SetGoal { ino: t.ino, goal: value as u8, recursive: a.recursive },
            Kind::TrashTime => WriteOp::SetTrashTime { ino: t.ino, seconds: value, recursive: a.recursive },
        };
        match t.client.write(&creds, op).await {
            Ok(Reply::Count(changed)) => {
                if a.recursive {
                    let not_changed = total.saturating_sub(changed).saturating_sub(denied);
                    print!("{path}:\n{}", set_report(kind, changed, not_changed, denied));
                } else {
                    println!("{}", set_line(kind, path, value));
                }
            }
            Ok(other) => {
                println!("{path}: master query: wrong answer ({other:?})");
                code = 1;
            }
            Err(e) => {
                println!("{path}: {e}");
                code = 1;
            }
        }
    }
    code
}

/// A trash time as MooseFS 3.0 stores it: seconds rounded up to whole hours (0 stays 0).
pub fn round_up_to_hours(seconds: u32) -> u32 {
    let hours = u64::from(seconds).div_ceil(3600);
    u32::try_from(hours * 3600).unwrap_or(u32::MAX / 3600 * 3600)
}

/// `mfscopygoal` / `mfscopytrashtime`: the source's value (printed as `mfsgetgoal` does), then
/// set on every other operand as `mfssetgoal` / `mfssettrashtime` would.
pub async fn copy(sessions: &mut Sessions, name: &str, a: &ToolArgs, kind: Kind) -> i32 {
    if !need_operands(name, a, 2) {
        return 1;
    }
    let src = &a.operands[0];
    let value = match sessions.target(name, src).await {
        Ok(t) => match t.client.getattr(&own_creds(), t.ino).await {
            Ok(attr) => kind.value(&attr),
            Err(e) => {
                println!("{src}: {e}");
                return 1;
            }
        },
        Err(e) => {
            println!("{src}: {e}");
            return 1;
        }
    };
    println!("{src}: {value}");
    let mut operands = vec![value.to_string()];
    operands.extend(a.operands[1..].iter().cloned());
    let set_args = ToolArgs { recursive: a.recursive, operands, ..ToolArgs::default() };
    set(sessions, name, &set_args, kind).await
}

/// What `mfssetgoal` / `mfssettrashtime` print for one object: MooseFS 3.0.117 says
/// "path: goal: N" for a goal and "path: N" for a trash time.
fn set_line(kind: Kind, path: &str, value: u32) -> String {
    match kind {
        Kind::Goal => format!("{path}: goal: {value}"),
        Kind::TrashTime => format!("{path}: {value}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_lines_read_as_moosefs_3_0_117_prints_them() {
        assert_eq!(set_line(Kind::Goal, "g1", 2), "g1: goal: 2");
        assert_eq!(set_line(Kind::TrashTime, "g1", 3600), "g1: 3600");
    }

    #[test]
    fn output_shapes_match_moosefs() {
        let files = BTreeMap::from([(2, 5)]);
        let dirs = BTreeMap::from([(2, 1)]);
        assert_eq!(
            recursive_report(Kind::Goal, &files, &dirs),
            " files with goal        2 :          5\n directories with goal  2 :          1\n"
        );
        assert_eq!(
            set_report(Kind::Goal, 10, 0, 0),
            " inodes with goal changed:              10\n inodes with goal not changed:           0\n \
             inodes with permission denied:          0\n"
        );
        assert_eq!((round_up_to_hours(0), round_up_to_hours(1), round_up_to_hours(3600)), (0, 3600, 3600));
        assert_eq!((round_up_to_hours(3601), round_up_to_hours(u32::MAX)), (7200, u32::MAX / 3600 * 3600));
        assert!(recursive_report(Kind::TrashTime, &files, &BTreeMap::new())
            .starts_with(" files with trashtime                 2 :          5"));
    }
}
