//! The MooseFS tools (`mfsgetgoal`, `mfssetgoal`, `mfscopygoal`, `mfsgettrashtime`,
//! `mfssettrashtime`, `mfscopytrashtime`, `mfsfileinfo`, `mfscheckfile`, `mfsdirinfo`,
//! `mfsfilepaths`, `mfsfilerepair`, `mfsmakesnapshot`, `mfsrmsnapshot`, `mfsappendchunks`,
//! `mfsgeteattr`, `mfsseteattr`, `mfsdeleattr`, `mfscopyeattr`, `mfsgetquota`, `mfssetquota`,
//! `mfsdelquota`, `mfscopyquota`) with MooseFS 3.0's flags and output.
//!
//! One binary, `mfstools`, chosen by the name it runs under or by its first argument; each tool
//! also has a small binary of its own name. A tool finds the mount above each path it is given
//! (the `.raftmfs` file in the mount root), opens its own session with the masters listed
//! there, and names the path by its inode.

pub mod chunk_sums;
pub mod chunks;
pub mod eattr;
pub mod goal;
pub mod mount_session;
pub mod paths;
pub mod quota;
pub mod repair;
pub mod snapshot;
pub mod walk;

use mount_session::Sessions;

/// Names of the tools, as installed.
pub const TOOLS: &[&str] = &[
    "mfsgetgoal",
    "mfssetgoal",
    "mfscopygoal",
    "mfsgettrashtime",
    "mfssettrashtime",
    "mfscopytrashtime",
    "mfsfileinfo",
    "mfscheckfile",
    "mfsdirinfo",
    "mfsfilepaths",
    "mfsfilerepair",
    "mfsmakesnapshot",
    "mfsappendchunks",
    "mfsrgetgoal",
    "mfsrsetgoal",
    "mfsrgettrashtime",
    "mfsrsettrashtime",
    "mfsgeteattr",
    "mfsseteattr",
    "mfsdeleattr",
    "mfscopyeattr",
    "mfsrmsnapshot",
    "mfsgetquota",
    "mfssetquota",
    "mfsdelquota",
    "mfscopyquota",
];

/// MooseFS's older names of the recursive forms: `mfsrgetgoal` is `mfsgetgoal -r`.
fn recursive_alias(name: &str) -> Option<&'static str> {
    match name {
        "mfsrgetgoal" => Some("mfsgetgoal"),
        "mfsrsetgoal" => Some("mfssetgoal"),
        "mfsrgettrashtime" => Some("mfsgettrashtime"),
        "mfsrsettrashtime" => Some("mfssettrashtime"),
        _ => None,
    }
}

/// Flags and operands of one tool run.
#[derive(Debug, Default)]
pub struct ToolArgs {
    pub recursive: bool,
    /// `mfsfileinfo -q`: only the number of valid copies per chunk (`mfscheckfile`'s report).
    pub quick: bool,
    /// `mfsfileinfo -c` / `-s`: each copy's checksum digest, the file's signature.
    pub sums: chunk_sums::SumMode,
    /// `mfsmakesnapshot -o`: replace files at the destination.
    pub overwrite: bool,
    /// `mfsmakesnapshot -c`: make the copies as `cp` would (owner, umask, times).
    pub cp_like: bool,
    /// `mfsmakesnapshot -p`: hard links stay links in the copy.
    pub preserve_hardlinks: bool,
    /// `mfsdirinfo -i -d -f -c -l -s -r`: only these values (bits in that order), on one line.
    pub show: u8,
    /// `mfsdirinfo -p`: also count every inode and chunk once (hard links, snapshots).
    pub precise: bool,
    /// `mfsappendchunks -s FROM:TO`: which chunks of each file.
    pub slice: proto::client::ChunkSlice,
    /// `mfsseteattr -f NAME` / `mfsdeleattr -f NAME`: the extra attributes named.
    pub eattr_flags: u8,
    /// `mfsrmsnapshot -f`: remove what may go, keep the rest.
    pub force: bool,
    /// `mfssetquota` / `mfsdelquota`: the limits named.
    pub quota: quota::QuotaArgs,
    pub operands: Vec<String>,
}

/// `mfstools`: dispatch on the program name, or on the first argument.
pub fn main_from_args() -> i32 {
    let args: Vec<String> = std::env::args().collect();
    let prog = args.first().map(|a| a.rsplit('/').next().unwrap_or(a).to_string()).unwrap_or_default();
    if TOOLS.contains(&prog.as_str()) {
        return run(&prog, &args[1..]);
    }
    match args.get(1) {
        Some(name) if TOOLS.contains(&name.as_str()) => run(name, &args[2..]),
        _ => {
            eprintln!("usage: mfstools TOOL [args...]   (or run it as one of: {})", TOOLS.join(", "));
            1
        }
    }
}

/// Run tool `name` with this process's arguments.
pub fn main_for(name: &str) -> i32 {
    let args: Vec<String> = std::env::args().skip(1).collect();
    run(name, &args)
}

pub(super) fn usage(name: &str) -> String {
    let body = match name {
        "mfsgetgoal" => "[-r] [-n|-h|-H] OBJECT...\n\n -r - do it recursively",
        "mfssetgoal" => "[-r] [-n|-h|-H] GOAL OBJECT...\n\n -r - do it recursively\n GOAL - 1..9 copies",
        "mfsgettrashtime" => "[-r] [-n|-h|-H] OBJECT...\n\n -r - do it recursively",
        "mfssettrashtime" => "[-r] [-n|-h|-H] SECONDS OBJECT...\n\n -r - do it recursively",
        "mfscopygoal" => "[-r] [-n|-h|-H] SRCNAME DSTNAME...\n\n -r - do it recursively",
        "mfscopytrashtime" => "[-r] [-n|-h|-H] SRCNAME DSTNAME...\n\n -r - do it recursively",
        "mfsfilepaths" => {
            "NAME|INODE...\n\n every path of the given files (an inode number needs the tool run in a folder of the mount)"
        }
        "mfsfilerepair" => {
            "[-n|-h|-H] FILE...\n\n chunks with no valid copy take the newest copy left, or become zeros: use with care"
        }
        "mfsmakesnapshot" => {
            "[-ocp] SOURCE... DESTINATION\n\n -o - allow to overwrite existing objects\n -c - 'cp' mode for \
             attributes (create objects using current uid,gid,umask etc.)\n -p - preserve hardlinks"
        }
        "mfsappendchunks" => {
            "[-s FROM:TO] SNAPSHOT_FILE OBJECT...\n\n append the chunks of each OBJECT to SNAPSHOT_FILE (shared, copied \
             on write)\n -s - only chunks FROM (included) to TO (excluded), as Python's slices"
        }
        "mfsfileinfo" => {
            "[-qcs] [-n|-h|-H] FILE...\n\n -q - quick info (show only the number of valid copies)\n -c - receive chunk \
             checksums from chunkservers\n -s - calculate file signature (using checksums)"
        }
        "mfsgeteattr" => "[-nhHkmgr] name [name ...]\n\n -r - do it recursively",
        "mfsseteattr" | "mfsdeleattr" => {
            let what = if name == "mfsseteattr" { "set" } else { "delete" };
            return format!(
                "usage: {name} [-nhHkmgr] -f attrname [-f attrname ...] name [name ...]\n\n -r - do it recursively\n -f attrname - specify attribute to {what}\n{}",
                eattr::attribute_list()
            );
        }
        "mfscopyeattr" => "[-nhHkmgr] srcname dstname [dstname ...]\n\n -r - do it recursively",
        "mfsgetquota" => "[-nhHkmg] dirname [dirname ...]",
        "mfscopyquota" => "[-nhHkmg] srcdir dstdir [dstdir ...]",
        "mfssetquota" => {
            "[-nhHkmg] [-iI inodes] [-p grace_period] [-lL length] [-sS size] [-rR realsize] dirname [dirname ...]\n\n -p - set grace period in seconds for soft quota\n -i/-I - set soft/hard limit for number of filesystem objects\n -l/-L - set soft/hard limit for sum of files lengths\n -s/-S - set soft/hard limit for sum of file sizes (chunk sizes)\n -r/-R - set soft/hard limit for estimated hdd usage (usually size multiplied by goal)\n\nAll numbers can be specified with suffixes: k,M,G,T,P,E (powers of 1000), Ki,Mi,Gi,Ti,Pi,Ei (powers of 1024)"
        }
        "mfsdelquota" => {
            "[-nhHkmgailsrAILSR] dirname [dirname ...]\n\n -i/-I - delete inodes soft/hard quota\n -l/-L - delete length soft/hard quota\n -s/-S - delete size soft/hard quota\n -r/-R - delete real size soft/hard quota\n -a/-A - delete all soft/hard quotas"
        }
        "mfsrmsnapshot" => {
            "[-f] name [name ...]\n\n -f - remove as much as possible (according to access rights and snapshot flags)"
        }
        "mfscheckfile" => "[-n|-h|-H] FILE...",
        "mfsdirinfo" => {
            "[-n|-h|-H] [-i|-d|-f|-c|-l|-s|-r] [-p] OBJECT...\n\n size: bytes of the chunk files (8 KiB head, 64 KiB \
             blocks); realsize: size times the valid copies\n -i -d -f -c -l -s -r - show only inodes, directories, files, chunks, length, size, \
             realsize\n -p - also count every inode and chunk once (hard links, snapshots)"
        }
        _ => "",
    };
    format!("usage: {name} {body}\n")
}

/// Parse MooseFS tool flags: `-r` (where it applies); number formats `-n -h -H -k -m -g`
/// are accepted and print plain numbers.
fn parse(name: &str, args: &[String]) -> Result<ToolArgs, String> {
    let recursive_ok = matches!(
        name,
        "mfsgetgoal"
            | "mfssetgoal"
            | "mfscopygoal"
            | "mfsgettrashtime"
            | "mfssettrashtime"
            | "mfscopytrashtime"
            | "mfsgeteattr"
            | "mfsseteattr"
            | "mfsdeleattr"
            | "mfscopyeattr"
    );
    let eattr_names = matches!(name, "mfsseteattr" | "mfsdeleattr");
    let mut out = ToolArgs::default();
    let mut flags_done = false;
    let mut args = args.iter();
    while let Some(a) = args.next() {
        if !flags_done && a == "--" {
            flags_done = true;
        } else if !flags_done && name == "mfsappendchunks" && (a == "-s" || a.starts_with("-s")) {
            let spec = if a == "-s" { args.next().ok_or("option -s needs FROM:TO")?.as_str() } else { &a[2..] };
            out.slice = parse_slice(spec).ok_or_else(|| "bad slice indexes".to_string())?;
        } else if !flags_done && eattr_names && a.starts_with("-f") {
            let flag =
                if a == "-f" { args.next().ok_or("option -f needs an attribute name")?.as_str() } else { &a[2..] };
            out.eattr_flags |= proto::eattr::by_name(flag).ok_or_else(|| "unknown flag".to_string())?;
        } else if !flags_done && a.len() > 1 && a.starts_with('-') && !a[1..].starts_with(|c: char| c.is_ascii_digit())
        {
            for c in a[1..].chars() {
                match c {
                    'r' if recursive_ok => out.recursive = true,
                    'q' if name == "mfsfileinfo" => out.quick = true,
                    'c' if name == "mfsfileinfo" => out.sums.crc = true,
                    's' if name == "mfsfileinfo" => out.sums.signature = true,
                    'p' if name == "mfsdirinfo" => out.precise = true,
                    c if name == "mfsdirinfo" && "idfclsr".contains(c) => {
                        out.show |= 1 << "idfclsr".find(c).unwrap_or(0);
                    }
                    'o' if name == "mfsmakesnapshot" => out.overwrite = true,
                    'c' if name == "mfsmakesnapshot" => out.cp_like = true,
                    'p' if name == "mfsmakesnapshot" => out.preserve_hardlinks = true,
                    'f' if name == "mfsrmsnapshot" => out.force = true,
                    'n' | 'h' | 'H' | 'k' | 'm' | 'g' => {}
                    '?' => return Err(String::new()),
                    _ => return Err(format!("unknown option -{c}")),
                }
            }
        } else {
            flags_done = true;
            out.operands.push(a.clone());
        }
    }
    Ok(out)
}

/// `FROM:TO` of `mfsappendchunks -s` (either side may be empty or negative).
fn parse_slice(spec: &str) -> Option<proto::client::ChunkSlice> {
    let (from, to) = spec.split_once(':')?;
    let side = |v: &str| -> Option<Option<i64>> {
        if v.is_empty() {
            Some(None)
        } else {
            v.parse::<i64>().ok().map(Some)
        }
    };
    Some(proto::client::ChunkSlice { from: side(from)?, to: side(to)? })
}

fn run(name: &str, args: &[String]) -> i32 {
    if let Some(base) = recursive_alias(name) {
        let mut with_r = vec!["-r".to_string()];
        with_r.extend(args.iter().cloned());
        return run(base, &with_r);
    }
    if args.iter().any(|a| a == "--help") {
        print!("{}", usage(name));
        return 0;
    }
    let quota_change = matches!(name, "mfssetquota" | "mfsdelquota");
    // SAFETY: getuid cannot fail and touches no memory.
    if quota_change && unsafe { libc::getuid() } != 0 {
        eprintln!("only root can change quota");
        eprint!("{}", usage(name));
        return 1;
    }
    let parsed = if quota_change {
        match quota::parse_args(name, args) {
            Ok((q, operands)) if q.flags == 0 && !operands.is_empty() => Err("quota options not defined".to_string()),
            Ok((q, operands)) => Ok(ToolArgs { quota: q, operands, ..ToolArgs::default() }),
            Err(e) => Err(e),
        }
    } else {
        parse(name, args)
    };
    let parsed = match parsed {
        Ok(p) => p,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("{name}: {e}");
            }
            eprint!("{}", usage(name));
            return 1;
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{name}: can't start: {e}");
            return 1;
        }
    };
    rt.block_on(async {
        let mut sessions = Sessions::default();
        let code = match name {
            "mfsgetgoal" => goal::get(&mut sessions, name, &parsed, goal::Kind::Goal).await,
            "mfsgettrashtime" => goal::get(&mut sessions, name, &parsed, goal::Kind::TrashTime).await,
            "mfssetgoal" => goal::set(&mut sessions, name, &parsed, goal::Kind::Goal).await,
            "mfssettrashtime" => goal::set(&mut sessions, name, &parsed, goal::Kind::TrashTime).await,
            "mfscopygoal" => goal::copy(&mut sessions, name, &parsed, goal::Kind::Goal).await,
            "mfscopytrashtime" => goal::copy(&mut sessions, name, &parsed, goal::Kind::TrashTime).await,
            "mfsfilepaths" => paths::filepaths(&mut sessions, name, &parsed).await,
            "mfsfilerepair" => repair::filerepair(&mut sessions, name, &parsed).await,
            "mfsmakesnapshot" => snapshot::makesnapshot(&mut sessions, name, &parsed).await,
            "mfsappendchunks" => snapshot::appendchunks(&mut sessions, name, &parsed).await,
            // MooseFS 3.0's `mfsfileinfo -q` prints what `mfscheckfile` does.
            "mfsfileinfo" if parsed.quick => chunks::checkfile(&mut sessions, name, &parsed).await,
            "mfsfileinfo" => chunks::fileinfo(&mut sessions, name, &parsed).await,
            "mfscheckfile" => chunks::checkfile(&mut sessions, name, &parsed).await,
            "mfsdirinfo" => chunks::dirinfo(&mut sessions, name, &parsed).await,
            "mfsgeteattr" => eattr::get(&mut sessions, name, &parsed).await,
            "mfsseteattr" | "mfsdeleattr" => eattr::set(&mut sessions, name, &parsed).await,
            "mfscopyeattr" => eattr::copy(&mut sessions, name, &parsed).await,
            "mfsrmsnapshot" => snapshot::rmsnapshot(&mut sessions, name, &parsed).await,
            "mfsgetquota" | "mfssetquota" | "mfsdelquota" | "mfscopyquota" => {
                quota::run(&mut sessions, name, &parsed).await
            }
            _ => {
                eprintln!("unknown tool {name}");
                1
            }
        };
        sessions.close().await;
        code
    })
}

/// Run `each` on every operand, resolved to its mount. An operand that fails prints
/// "OPERAND: error" (MooseFS's form) and makes the exit code 1; the others still run.
async fn for_each_target(
    sessions: &mut Sessions,
    name: &str,
    operands: &[String],
    mut each: impl AsyncFnMut(&str, mount_session::Target) -> Result<(), String>,
) -> i32 {
    let mut code = 0;
    for path in operands {
        let r = match sessions.target(name, path).await {
            Ok(t) => each(path, t).await,
            Err(e) => Err(e),
        };
        if let Err(e) = r {
            println!("{path}: {e}");
            code = 1;
        }
    }
    code
}

/// No operand given: print the usage, fail.
fn need_operands(name: &str, a: &ToolArgs, min: usize) -> bool {
    if a.operands.len() < min {
        eprint!("{}", usage(name));
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn flags_and_operands() {
        let a = parse("mfssetgoal", &v("-r 2 /a /b")).unwrap();
        assert!(a.recursive);
        assert_eq!(a.operands, v("2 /a /b"));
        let a = parse("mfsgetgoal", &v("-rn /a")).unwrap();
        assert!(a.recursive);
        assert!(parse("mfsfileinfo", &v("-r /a")).is_err());
        assert!(parse("mfsfileinfo", &v("-q /a")).unwrap().quick);
        let a = parse("mfsfileinfo", &v("-cs /a")).unwrap();
        assert!(a.sums.crc && a.sums.signature && !a.quick);
        assert!(!parse("mfsfileinfo", &v("-s /a")).unwrap().sums.crc);
        assert!(parse("mfscheckfile", &v("-c /a")).is_err());
        assert!(parse("mfscheckfile", &v("-q /a")).is_err());
        assert!(parse("mfsgetgoal", &v("-x /a")).is_err());
        let a = parse("mfsgetgoal", &v("/a -r")).unwrap();
        assert_eq!(a.operands, v("/a -r"));
        let a = parse("mfsmakesnapshot", &v("-o -cp /a /b")).unwrap();
        assert!(a.overwrite && a.cp_like && a.preserve_hardlinks);
        assert!(parse("mfssetgoal", &v("-o 2 /a")).is_err());
        let a = parse("mfsdirinfo", &v("-p -ir -c /a")).unwrap();
        assert!(a.precise);
        assert_eq!(a.show, 1 | 8 | 64);
    }

    #[test]
    fn slices_read_as_python_writes_them() {
        use proto::client::ChunkSlice;
        let a = parse("mfsappendchunks", &v("-s -4:-2 /d /s")).unwrap();
        assert_eq!(a.slice, ChunkSlice { from: Some(-4), to: Some(-2) });
        assert_eq!(a.operands, v("/d /s"));
        assert_eq!(parse("mfsappendchunks", &v("-s3: /d /s")).unwrap().slice, ChunkSlice { from: Some(3), to: None });
        assert!(parse("mfsappendchunks", &v("-s x /d /s")).is_err());
        assert_eq!(ChunkSlice { from: Some(-4), to: Some(-2) }.resolve(10), (6, 8));
        assert_eq!(ChunkSlice { from: None, to: Some(-1) }.resolve(10), (0, 9));
        assert_eq!(ChunkSlice { from: Some(5), to: Some(2) }.resolve(10), (5, 5));
        assert_eq!(ChunkSlice::default().resolve(3), (0, 3));
    }
}
