//! `mfsgeteattr`, `mfsseteattr`, `mfsdeleattr`, `mfscopyeattr`: MooseFS 3.0's extra attributes,
//! with its flags, lines and exit codes (`mfstools.c`: `get_eattr`, `set_eattr`).

use proto::client::{Reply, WriteOp};
use proto::eattr::{self, EattrMode, IMMUTABLE, NOENTRYCACHE, NOOWNER};
use proto::meta::{Attr, Creds, FileType};

use super::mount_session::Sessions;
use super::snapshot::error_text;
use super::walk::walk;
use super::{for_each_target, need_operands, ToolArgs};
use crate::fuse::creds::own_creds;

/// The flags' descriptions, as MooseFS's usage lists them.
pub const DESCRIPTIONS: [&str; 8] = [
    "every user (except root) sees object as his (her) own",
    "prevent standard object attributes from being stored in kernel cache",
    "prevent directory entries from being stored in kernel cache",
    "prevent file data from being kept in kernel cache",
    "node was created using makesnapshot command (or inside snapshot)",
    "prevent unlinking",
    "only appending to file and adding new nodes to directory is allowed",
    "prevent any change to object",
];

/// The usage's list of attributes (after " -f attrname - ...").
pub fn attribute_list() -> String {
    let mut out = String::from("\nattributes:\n");
    for ((_, name), text) in eattr::NAMES.iter().zip(DESCRIPTIONS) {
        out.push_str(&format!(" {name} - {text}\n"));
    }
    out
}

/// True when `creds` may change the extra attributes of `attr` by `flags` (the master's rule:
/// its owner, root, or anyone on noowner; noowner never on an immutable inode).
fn may_change(creds: &Creds, attr: &Attr, flags: u8) -> bool {
    let e = attr.eattr();
    (creds.is_root() || attr.uid == creds.uid || e & NOOWNER != 0) && !(e & IMMUTABLE != 0 && flags & NOOWNER != 0)
}

/// The lines of `mfsgeteattr -r`: for each flag, the non-folders then the folders that have it.
pub fn recursive_report(files: &[u64; 8], dirs: &[u64; 8]) -> String {
    let mut out = String::new();
    for (j, (_, name)) in eattr::NAMES.iter().enumerate() {
        out.push_str(&format!(" not directory nodes with attribute {name:>16} : {:>10}\n", files[j]));
        out.push_str(&format!(" directories with attribute         {name:>16} : {:>10}\n", dirs[j]));
    }
    out
}

/// `mfsgeteattr [-r] OBJECT...`.
pub async fn get(sessions: &mut Sessions, tool: &str, a: &ToolArgs) -> i32 {
    if !need_operands(tool, a, 1) {
        return 1;
    }
    let creds = own_creds();
    for_each_target(sessions, tool, &a.operands, async |path, t| {
        if !a.recursive {
            let attr = t.client.getattr(&creds, t.ino).await.map_err(|e| error_text(&e))?;
            println!("{path}: {}", eattr::describe(attr.eattr()));
            return Ok(());
        }
        let (mut files, mut dirs) = ([0u64; 8], [0u64; 8]);
        walk(&t.client, &creds, t.ino, |attr| {
            let (table, e) = match attr.kind {
                FileType::Dir => (&mut dirs, attr.eattr()),
                _ => (&mut files, attr.eattr() & !NOENTRYCACHE),
            };
            for (j, (bit, _)) in eattr::NAMES.iter().enumerate() {
                if e & bit != 0 {
                    table[j] += 1;
                }
            }
        })
        .await
        .map_err(|e| error_text(&e))?;
        print!("{path}:\n{}", recursive_report(&files, &dirs));
        Ok(())
    })
    .await
}

/// `mfsseteattr` / `mfsdeleattr` `[-r] -f NAME... OBJECT...`.
pub async fn set(sessions: &mut Sessions, tool: &str, a: &ToolArgs) -> i32 {
    if a.eattr_flags == 0 && !a.operands.is_empty() {
        let what = if tool == "mfsdeleattr" { "delete" } else { "set" };
        eprintln!("no attribute(s) to {what}");
        eprint!("{}", super::usage(tool));
        return 1;
    }
    if !need_operands(tool, a, 1) {
        return 1;
    }
    let mode = if tool == "mfsdeleattr" { EattrMode::Remove } else { EattrMode::Add };
    let mut code = 0;
    for path in &a.operands {
        code |= set_one(sessions, tool, path, a.eattr_flags, mode, a.recursive).await;
    }
    code
}

/// `mfscopyeattr [-r] SOURCE OBJECT...`: the source's attributes (printed as `mfsgeteattr`
/// prints them), then set as they are on each object.
pub async fn copy(sessions: &mut Sessions, tool: &str, a: &ToolArgs) -> i32 {
    if !need_operands(tool, a, 2) {
        return 1;
    }
    let src = &a.operands[0];
    let flags = match sessions.target(tool, src).await {
        Ok(t) => match t.client.getattr(&own_creds(), t.ino).await {
            Ok(attr) => attr.eattr(),
            Err(e) => {
                println!("{src}: {}", error_text(&e));
                return 1;
            }
        },
        Err(e) => {
            println!("{src}: {e}");
            return 1;
        }
    };
    println!("{src}: {}", eattr::describe(flags));
    let mut code = 0;
    for path in &a.operands[1..] {
        code |= set_one(sessions, tool, path, flags, EattrMode::Set, a.recursive).await;
    }
    code
}

/// Change one object (or its tree) and print MooseFS's lines. Returns the exit code.
async fn set_one(sessions: &mut Sessions, tool: &str, path: &str, flags: u8, mode: EattrMode, recursive: bool) -> i32 {
    let creds = own_creds();
    let t = match sessions.target(tool, path).await {
        Ok(t) => t,
        Err(e) => {
            println!("{path}: {e}");
            return 1;
        }
    };
    // Counted first, for MooseFS's "not changed" and "permission denied" lines.
    let (mut total, mut denied) = (0u64, 0u64);
    if recursive {
        let r = walk(&t.client, &creds, t.ino, |attr| {
            total += 1;
            if !may_change(&creds, attr, flags) {
                denied += 1;
            }
        })
        .await;
        if let Err(e) = r {
            println!("{path}: {}", error_text(&e));
            return 1;
        }
    }
    match t.client.write(&creds, WriteOp::SetEattr { ino: t.ino, flags, mode, recursive }).await {
        Ok(Reply::Count(changed)) if recursive => {
            let not_changed = total.saturating_sub(changed).saturating_sub(denied);
            println!(
                "{path}:\n inodes with attributes changed:     {changed:>10}\n inodes with attributes not changed: \
                 {not_changed:>10}\n inodes with permission denied:      {denied:>10}"
            );
            0
        }
        Ok(Reply::Count(changed)) => {
            let what = if changed > 0 { "changed" } else { "not changed" };
            println!("{path}: attribute(s) {what}");
            0
        }
        Ok(other) => {
            println!("{path}: master query: wrong answer ({other:?})");
            1
        }
        Err(e) => {
            println!("{path}: {}", error_text(&e));
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recursive_report_has_two_lines_per_flag_in_moosefs_columns() {
        let mut files = [0u64; 8];
        files[0] = 3;
        let out = recursive_report(&files, &[0; 8]);
        assert_eq!(out.lines().count(), 16);
        assert_eq!(out.lines().next(), Some(" not directory nodes with attribute          noowner :          3"));
        assert_eq!(out.lines().nth(1), Some(" directories with attribute                  noowner :          0"));
    }
}
