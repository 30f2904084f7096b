//! The MooseFS tools (`mfsgetgoal`, `mfssetgoal`, `mfscopygoal`, `mfsgettrashtime`,
//! `mfssettrashtime`, `mfscopytrashtime`, `mfsfileinfo`, `mfscheckfile`, `mfsdirinfo`,
//! `mfsfilepaths`, `mfsfilerepair`) with MooseFS 3.0's flags and output.
//!
//! One binary, `mfstools`, chosen by the name it runs under or by its first argument; each tool
//! also has a small binary of its own name. A tool finds the mount above each path it is given
//! (the `.raftmfs` file in the mount root), opens its own session with the masters listed
//! there, and names the path by its inode.

pub mod chunks;
pub mod goal;
pub mod mount_session;
pub mod paths;
pub mod repair;
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
];

/// Flags and operands of one tool run.
#[derive(Debug, Default)]
pub struct ToolArgs {
    pub recursive: bool,
    /// `mfsfileinfo -q`: only the number of valid copies per chunk (`mfscheckfile`'s report).
    pub quick: bool,
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

fn usage(name: &str) -> String {
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
        "mfsfileinfo" => "[-q] [-n|-h|-H] FILE...\n\n -q - quick info (show only the number of valid copies)",
        "mfscheckfile" => "[-n|-h|-H] FILE...",
        "mfsdirinfo" => {
            "[-n|-h|-H] OBJECT...\n\n size: bytes in 64 KiB blocks per chunk; realsize: size times the valid copies"
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
        "mfsgetgoal" | "mfssetgoal" | "mfscopygoal" | "mfsgettrashtime" | "mfssettrashtime" | "mfscopytrashtime"
    );
    let mut out = ToolArgs::default();
    let mut flags_done = false;
    for a in args {
        if !flags_done && a == "--" {
            flags_done = true;
        } else if !flags_done && a.len() > 1 && a.starts_with('-') && !a[1..].starts_with(|c: char| c.is_ascii_digit())
        {
            for c in a[1..].chars() {
                match c {
                    'r' if recursive_ok => out.recursive = true,
                    'q' if name == "mfsfileinfo" => out.quick = true,
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

fn run(name: &str, args: &[String]) -> i32 {
    if args.iter().any(|a| a == "--help") {
        print!("{}", usage(name));
        return 0;
    }
    let parsed = match parse(name, args) {
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
            // MooseFS 3.0's `mfsfileinfo -q` prints what `mfscheckfile` does.
            "mfsfileinfo" if parsed.quick => chunks::checkfile(&mut sessions, name, &parsed).await,
            "mfsfileinfo" => chunks::fileinfo(&mut sessions, name, &parsed).await,
            "mfscheckfile" => chunks::checkfile(&mut sessions, name, &parsed).await,
            "mfsdirinfo" => chunks::dirinfo(&mut sessions, name, &parsed).await,
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
        assert!(parse("mfscheckfile", &v("-q /a")).is_err());
        assert!(parse("mfsgetgoal", &v("-x /a")).is_err());
        let a = parse("mfsgetgoal", &v("/a -r")).unwrap();
        assert_eq!(a.operands, v("/a -r"));
    }
}
