//! `mfsexports.cfg`: who may open a session, on which folder, with which permissions.
//!
//! The MooseFS 3.0 format, one rule a line: `ADDRESS DIRECTORY [OPTIONS]`, `#` comments.
//!
//! - ADDRESS: `*`, `a.b.c.d`, `a.b.c.d/bits`, `a.b.c.d/m.m.m.m`, `a.b.c.d-e.f.g.h` (inclusive).
//! - DIRECTORY: `/` or a path from the root (`/` around it optional); `.` is the meta tree.
//! - OPTIONS, comma-separated: `ro`/`readonly` (the default), `rw`/`readwrite`, `alldirs`,
//!   `dynamicip`, `ignoregid`, `admin`, `maproot=USER[:GROUP]` (default 999:999),
//!   `mapall=USER[:GROUP]`, `password=PASS`, `md5pass=HEX`, `minversion=X[.Y[.Z]]`,
//!   `mingoal=N`, `maxgoal=N`, `mintrashtime=TDUR`, `maxtrashtime=TDUR`. USER and GROUP are
//!   names (resolved through the master's passwd/group databases) or numbers; without GROUP,
//!   USER's primary group. TDUR is seconds or `[#w][#d][#h][#m][#s]`, as `2h30m`.
//!
//! As in MooseFS, `mapall` without `maproot` maps root to the `mapall` user too, and the meta
//! tree does not map root unless `maproot` says so. Unlike MooseFS, which warns and skips, a line
//! it cannot read (a bad address, an unknown option, a user that does not exist) is an error that
//! names the file and line: a skipped rule or a dropped option could grant more than intended.
//!
//! Choosing the rule ([`Exports::check`]) follows MooseFS 3.0's `exports_check`, not "first
//! line wins": among every line that matches the address, the version, the folder (exactly, or
//! below it with `alldirs`) and the password, the most permissive is taken (rw before ro, then
//! an unmapped root, then `admin`, then a line with a password, then the longer path).

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

/// The rule MooseFS ships (`mfsexports.cfg.sample`), used when the file does not exist.
pub const DEFAULT_RULE: &str = "* / rw,alldirs,admin,maproot=0:0\n* . rw\n";

/// Where `maproot` and `mapall` map to unless told otherwise (MooseFS's default).
pub const DEFAULT_MAP: (u32, u32) = (999, 999);

/// Smallest and largest goal accepted.
const GOALS: std::ops::RangeInclusive<u8> = 1..=9;

/// Which tree a rule exports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExportPath {
    /// The meta tree (`.`).
    Meta,
    /// A folder, as path components joined by `/` without leading or trailing `/` ("" is the
    /// root).
    Tree(String),
}

/// One line of `mfsexports.cfg`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportRule {
    /// Line number in the file (1-based), for logs.
    pub line: usize,
    /// Addresses matched: `from..=to` as IPv4 numbers.
    pub from: u32,
    pub to: u32,
    pub path: ExportPath,
    /// Any folder below `path` may be mounted too.
    pub alldirs: bool,
    pub readonly: bool,
    /// Recorded only: sessions are not re-attached from another address here.
    pub dynamic_ip: bool,
    /// Group and other permission bits count together, for every caller but the owner.
    pub ignore_gid: bool,
    /// Administrative privileges (MooseFS: quotas, storage classes; nothing here needs it yet).
    pub admin: bool,
    /// uid 0 becomes this uid:gid (0:0 leaves root alone).
    pub maproot: (u32, u32),
    /// Every other uid becomes this uid:gid.
    pub mapall: Option<(u32, u32)>,
    /// MD5 of the password, when one is needed.
    pub password_md5: Option<[u8; 16]>,
    /// Oldest client version accepted ([`proto::client::version_code`]).
    pub min_version: u32,
    pub min_goal: u8,
    pub max_goal: u8,
    /// Trash time limits, seconds.
    pub min_trash: u32,
    pub max_trash: u32,
}

/// The rules of one `mfsexports.cfg`, in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exports {
    pub rules: Vec<ExportRule>,
    /// Where they came from: the file name, or "built-in default".
    pub source: String,
}

/// Why the file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ExportsError {
    #[error("{file}:{line}: {msg}")]
    Line { file: String, line: usize, msg: String },
    #[error("{file}: {source}")]
    Io { file: String, source: std::io::Error },
}

/// Why a session was refused; the text is what `mfsmount` prints after "mfsmaster: ".
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// A rule would match with its password, and none was given.
    #[error("access denied (password needed)")]
    NoPassword,
    /// A rule would match with its password, and the one given is not it.
    #[error("access denied (wrong password)")]
    BadPassword,
    /// No rule for this address, version and folder.
    #[error("access denied (no export rule for {addr} and {what})")]
    NoRule { addr: String, what: String },
}

/// What a client asks for when it opens a session.
#[derive(Clone, Debug)]
pub struct SessionRequest<'a> {
    pub addr: IpAddr,
    pub version: u32,
    /// The folder ("/" or "" for the root); ignored for `meta`.
    pub subfolder: &'a str,
    pub meta: bool,
    /// The challenge sent on this connection and the client's answer, if both exist.
    pub password: Option<(&'a [u8; proto::client::CHALLENGE_LEN], &'a [u8; 16])>,
}

/// User and group names, as the master's system resolves them.
pub trait Accounts {
    /// uid and primary gid of the user `name`.
    fn user(&self, name: &str) -> Option<(u32, u32)>;
    /// Primary gid of the user with `uid`.
    fn primary_gid(&self, uid: u32) -> Option<u32>;
    /// gid of the group `name`.
    fn group(&self, name: &str) -> Option<u32>;
}

/// The system's passwd and group databases (NSS, through libc).
pub struct SystemAccounts;

/// Room for one passwd/group entry's strings.
const PWBUF: usize = 16384;

impl Accounts for SystemAccounts {
    fn user(&self, name: &str) -> Option<(u32, u32)> {
        let cname = std::ffi::CString::new(name).ok()?;
        let mut buf = vec![0 as libc::c_char; PWBUF];
        // SAFETY: passwd is plain data; getpwnam_r writes into it and `buf` (of the given
        // length) and sets `res` to it or to null.
        unsafe {
            let mut pwd: libc::passwd = std::mem::zeroed();
            let mut res: *mut libc::passwd = std::ptr::null_mut();
            let rc = libc::getpwnam_r(cname.as_ptr(), &mut pwd, buf.as_mut_ptr(), buf.len(), &mut res);
            (rc == 0 && !res.is_null()).then_some((pwd.pw_uid, pwd.pw_gid))
        }
    }

    fn primary_gid(&self, uid: u32) -> Option<u32> {
        let mut buf = vec![0 as libc::c_char; PWBUF];
        // SAFETY: as in `user`.
        unsafe {
            let mut pwd: libc::passwd = std::mem::zeroed();
            let mut res: *mut libc::passwd = std::ptr::null_mut();
            let rc = libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut res);
            (rc == 0 && !res.is_null()).then_some(pwd.pw_gid)
        }
    }

    fn group(&self, name: &str) -> Option<u32> {
        let cname = std::ffi::CString::new(name).ok()?;
        let mut buf = vec![0 as libc::c_char; PWBUF];
        // SAFETY: as in `user`, for struct group.
        unsafe {
            let mut grp: libc::group = std::mem::zeroed();
            let mut res: *mut libc::group = std::ptr::null_mut();
            let rc = libc::getgrnam_r(cname.as_ptr(), &mut grp, buf.as_mut_ptr(), buf.len(), &mut res);
            (rc == 0 && !res.is_null()).then_some(grp.gr_gid)
        }
    }
}

impl Exports {
    /// MooseFS's shipped rules ([`DEFAULT_RULE`]: the whole tree, and the meta tree), for a
    /// master without an exports file.
    pub fn builtin_default() -> Exports {
        match Exports::parse(DEFAULT_RULE, "built-in default", &SystemAccounts) {
            Ok(e) => e,
            // The built-in line parses (a unit test says so); keep a literal fallback anyway.
            Err(_) => Exports {
                rules: vec![ExportRule {
                    readonly: false,
                    alldirs: true,
                    admin: true,
                    maproot: (0, 0),
                    ..ExportRule::new(1)
                }],
                source: "built-in default".into(),
            },
        }
    }

    /// Read `path`. `Ok(None)` when it does not exist.
    pub fn load(path: &Path) -> Result<Option<Exports>, ExportsError> {
        let file = path.display().to_string();
        match std::fs::read(path) {
            Ok(bytes) => Exports::parse(&String::from_utf8_lossy(&bytes), &file, &SystemAccounts).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(ExportsError::Io { file, source }),
        }
    }

    /// Read `path`, or the built-in default rule (with a warning) when it does not exist.
    pub fn load_or_default(path: &Path) -> Result<Exports, ExportsError> {
        match Exports::load(path)? {
            Some(e) => Ok(e),
            None => {
                tracing::warn!(
                    file = %path.display(),
                    rule = DEFAULT_RULE,
                    "exports file not found: every client may mount everything, read-write, as root \
                     (MooseFS's sample rule); create the file to restrict access"
                );
                Ok(Exports::builtin_default())
            }
        }
    }

    /// Parse the text of an exports file named `file` (for error messages).
    pub fn parse(text: &str, file: &str, accounts: &dyn Accounts) -> Result<Exports, ExportsError> {
        let mut rules = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let content = raw.split('#').next().unwrap_or("").trim();
            if content.is_empty() {
                continue;
            }
            let rule = parse_line(content, line, accounts).map_err(|msg| ExportsError::Line {
                file: file.to_string(),
                line,
                msg,
            })?;
            rules.push(rule);
        }
        Ok(Exports { rules, source: file.to_string() })
    }

    /// The rule a session gets, chosen as MooseFS does (see the module doc).
    pub fn check(&self, req: &SessionRequest<'_>) -> Result<&ExportRule, Denied> {
        let ip = match req.addr {
            IpAddr::V4(a) => Some(u32::from(a)),
            IpAddr::V6(a) => a.to_ipv4_mapped().map(u32::from),
        };
        let want = normalize(req.subfolder);
        let mut password_failed = false;
        let mut best: Option<&ExportRule> = None;
        for e in &self.rules {
            let addr_ok = match ip {
                Some(ip) => (e.from..=e.to).contains(&ip),
                None => e.from == 0 && e.to == u32::MAX,
            };
            if !addr_ok || req.version < e.min_version {
                continue;
            }
            let path_ok = match (&e.path, req.meta) {
                (ExportPath::Meta, true) => true,
                (ExportPath::Tree(p), false) => {
                    want == *p
                        || (e.alldirs
                            && (p.is_empty()
                                || (want.len() > p.len()
                                    && want.starts_with(p.as_str())
                                    && want.as_bytes()[p.len()] == b'/')))
                }
                _ => false,
            };
            if !path_ok {
                continue;
            }
            if let Some(md5) = &e.password_md5 {
                let good = req.password.is_some_and(|(rnd, answer)| {
                    rnd.iter().any(|b| *b != 0) && proto::client::challenge_answer(rnd, md5) == *answer
                });
                if !good {
                    password_failed = true;
                    continue;
                }
            }
            best = Some(match best {
                None => e,
                Some(f) if prefer(e, f) => e,
                Some(f) => f,
            });
        }
        match best {
            Some(e) => Ok(e),
            None if password_failed && req.password.is_none() => Err(Denied::NoPassword),
            None if password_failed => Err(Denied::BadPassword),
            None => Err(Denied::NoRule {
                addr: req.addr.to_string(),
                what: if req.meta { "the meta tree".into() } else { format!("folder /{want}") },
            }),
        }
    }
}

/// MooseFS's order between two matching lines: does `e` replace the chosen `f`?
fn prefer(e: &ExportRule, f: &ExportRule) -> bool {
    let plen = |r: &ExportRule| match &r.path {
        ExportPath::Tree(p) => p.len(),
        ExportPath::Meta => 0,
    };
    // MooseFS's chain of `else if`s, each of which picks `e`.
    (!e.readonly && f.readonly)
        || (e.maproot.0 == 0 && f.maproot.0 != 0)
        || (e.admin && !f.admin)
        || (e.password_md5.is_some() && f.password_md5.is_none())
        || plen(e) > plen(f)
}

/// A folder as path components joined by `/`, without leading, trailing or doubled `/`.
pub fn normalize(path: &str) -> String {
    path.split('/').filter(|c| !c.is_empty()).collect::<Vec<_>>().join("/")
}

impl ExportRule {
    /// The defaults of a line without options: read-only, root mapped to 999:999.
    fn new(line: usize) -> ExportRule {
        ExportRule {
            line,
            from: 0,
            to: u32::MAX,
            path: ExportPath::Tree(String::new()),
            alldirs: false,
            readonly: true,
            dynamic_ip: false,
            ignore_gid: false,
            admin: false,
            maproot: DEFAULT_MAP,
            mapall: None,
            password_md5: None,
            min_version: 0,
            min_goal: *GOALS.start(),
            max_goal: *GOALS.end(),
            min_trash: 0,
            max_trash: u32::MAX,
        }
    }
}

fn parse_line(content: &str, line: usize, accounts: &dyn Accounts) -> Result<ExportRule, String> {
    let mut fields = content.split_whitespace();
    let addr = fields.next().unwrap_or("");
    let Some(dir) = fields.next() else {
        return Err(format!("incomplete rule {content:?}: expected ADDRESS DIRECTORY [OPTIONS]"));
    };
    let opts = fields.collect::<Vec<_>>().join("");
    let mut r = ExportRule::new(line);
    (r.from, r.to) = parse_addr(addr)?;
    if dir == "." {
        r.path = ExportPath::Meta;
    } else if dir.starts_with('/') {
        let p = normalize(dir);
        if p.split('/').any(|c| c == "." || c == "..") {
            return Err(format!("directory {dir:?}: '.' and '..' are not allowed in a path"));
        }
        r.path = ExportPath::Tree(p);
    } else {
        return Err(format!("directory {dir:?}: expected '/', a path starting with '/', or '.' (meta)"));
    }
    let mut maproot_given = false;
    for opt in opts.split(',').filter(|o| !o.is_empty()) {
        let (name, val) = match opt.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (opt, None),
        };
        let need = || val.filter(|v| !v.is_empty()).ok_or_else(|| format!("option {name} needs a value"));
        const FLAGS: [&str; 9] =
            ["ro", "readonly", "rw", "readwrite", "alldirs", "dynamicip", "ignoregid", "admin", "canchangequota"];
        if val.is_some() && FLAGS.contains(&name) {
            return Err(format!("option {name} takes no value"));
        }
        match name {
            "ro" | "readonly" => r.readonly = true,
            "rw" | "readwrite" => r.readonly = false,
            "alldirs" => r.alldirs = true,
            "dynamicip" => r.dynamic_ip = true,
            "ignoregid" => r.ignore_gid = true,
            "admin" | "canchangequota" => r.admin = true,
            "maproot" => {
                r.maproot = parse_ugid(need()?, accounts).map_err(|e| format!("maproot: {e}"))?;
                maproot_given = true;
            }
            "mapall" => r.mapall = Some(parse_ugid(need()?, accounts).map_err(|e| format!("mapall: {e}"))?),
            "password" => r.password_md5 = Some(proto::client::password_md5(need()?.as_bytes())),
            "md5pass" => r.password_md5 = Some(parse_md5(need()?)?),
            "minversion" => r.min_version = parse_version(need()?)?,
            "mingoal" => r.min_goal = parse_goal(name, need()?)?,
            "maxgoal" => r.max_goal = parse_goal(name, need()?)?,
            "mintrashtime" => r.min_trash = parse_tdur(name, need()?)?,
            "maxtrashtime" => r.max_trash = parse_tdur(name, need()?)?,
            _ => return Err(format!("unknown option {opt:?}")),
        }
    }
    if r.min_goal > r.max_goal {
        return Err(format!("mingoal {} is above maxgoal {}", r.min_goal, r.max_goal));
    }
    if r.min_trash > r.max_trash {
        return Err(format!("mintrashtime {} s is above maxtrashtime {} s", r.min_trash, r.max_trash));
    }
    if !maproot_given {
        if let Some(all) = r.mapall {
            r.maproot = all;
        } else if r.path == ExportPath::Meta {
            r.maproot = (0, 0);
        }
    }
    Ok(r)
}

fn parse_ipv4(s: &str) -> Result<u32, String> {
    let a: Ipv4Addr = s.parse().map_err(|_| format!("bad IPv4 address {s:?}"))?;
    Ok(u32::from(a))
}

/// `*`, `ip`, `ip/bits`, `ip/mask`, `from-to` → the inclusive range.
pub(crate) fn parse_addr(s: &str) -> Result<(u32, u32), String> {
    if s == "*" {
        return Ok((0, u32::MAX));
    }
    if let Some((ip, net)) = s.split_once('/') {
        let ip = parse_ipv4(ip)?;
        let mask = if !net.contains('.') {
            let bits: u32 = net.parse().map_err(|_| format!("bad network bits {net:?} in {s:?}"))?;
            if bits > 32 {
                return Err(format!("network bits {bits} in {s:?}: at most 32"));
            }
            if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            }
        } else {
            parse_ipv4(net)?
        };
        let from = ip & mask;
        return Ok((from, from | !mask));
    }
    if let Some((a, b)) = s.split_once('-') {
        let (from, to) = (parse_ipv4(a)?, parse_ipv4(b)?);
        if from > to {
            return Err(format!("address range {s:?} ends before it starts"));
        }
        return Ok((from, to));
    }
    let ip = parse_ipv4(s).map_err(|e| format!("{e}: expected *, IP, IP/BITS, IP/NETMASK or IP-IP"))?;
    Ok((ip, ip))
}

/// `USER[:GROUP]`: names or numbers; without GROUP, USER's primary group.
fn parse_ugid(s: &str, accounts: &dyn Accounts) -> Result<(u32, u32), String> {
    let (user, group) = match s.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (s, None),
    };
    if user.is_empty() || group.is_some_and(str::is_empty) {
        return Err(format!("bad USER[:GROUP] {s:?}"));
    }
    let numeric = |v: &str| v.bytes().all(|b| b.is_ascii_digit()).then(|| v.parse::<u32>().ok()).flatten();
    let gid = match group {
        Some(g) => Some(match numeric(g) {
            Some(n) => n,
            None => accounts.group(g).ok_or_else(|| format!("no group named {g:?} on this master"))?,
        }),
        None => None,
    };
    let (uid, primary) = match numeric(user) {
        Some(uid) => (uid, None),
        None => {
            let (uid, gid) = accounts.user(user).ok_or_else(|| format!("no user named {user:?} on this master"))?;
            (uid, Some(gid))
        }
    };
    match (gid, primary) {
        (Some(g), _) => Ok((uid, g)),
        (None, Some(p)) => Ok((uid, p)),
        (None, None) => match accounts.primary_gid(uid) {
            Some(g) => Ok((uid, g)),
            None => Err(format!("no user with uid {uid} on this master to take the group from; give UID:GID")),
        },
    }
}

fn parse_md5(s: &str) -> Result<[u8; 16], String> {
    let bad = || format!("md5pass {s:?}: expected 32 hexadecimal digits");
    if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let mut out = [0u8; 16];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(out)
}

/// `X`, `X.Y` or `X.Y.Z`, each at most 255.
fn parse_version(s: &str) -> Result<u32, String> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.is_empty() || parts.len() > 3 {
        return Err(format!("minversion {s:?}: expected X, X.Y or X.Y.Z"));
    }
    let mut v = [0u32; 3];
    for (i, p) in parts.iter().enumerate() {
        v[i] = p
            .parse::<u32>()
            .ok()
            .filter(|n| *n <= 255 && p.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| format!("minversion {s:?}: each part must be a number from 0 to 255"))?;
    }
    Ok(proto::client::version_code(v[0], v[1], v[2]))
}

fn parse_goal(name: &str, s: &str) -> Result<u8, String> {
    s.parse::<u8>()
        .ok()
        .filter(|g| GOALS.contains(g) && s.len() == 1)
        .ok_or_else(|| format!("{name} {s:?}: expected a goal from 1 to 9"))
}

/// MooseFS time durations: seconds, or `[#w][#d][#h][#m][#s]` in that order (any case), the
/// last number without a unit meaning seconds.
pub fn parse_tdur(name: &str, s: &str) -> Result<u32, String> {
    let bad = |why: &str| format!("{name} {s:?}: {why} (expected seconds or [#w][#d][#h][#m][#s], e.g. 2h30m)");
    let mut total: u64 = 0;
    let mut last_unit = 0usize; // index into UNITS + 1 of the last unit used
    const UNITS: [(char, u64); 5] = [('w', 604800), ('d', 86400), ('h', 3600), ('m', 60), ('s', 1)];
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err(bad("empty"));
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad("a number must come before each unit"));
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad("number too large"))?;
        rest = &rest[digits..];
        let mult = match rest.chars().next() {
            None => {
                if last_unit == UNITS.len() {
                    return Err(bad("seconds given twice"));
                }
                1
            }
            Some(c) => {
                let lc = c.to_ascii_lowercase();
                let Some(pos) = UNITS.iter().position(|(u, _)| *u == lc) else {
                    return Err(bad(&format!("unknown unit {c:?}")));
                };
                if pos < last_unit {
                    return Err(bad("units must come once each, largest first"));
                }
                last_unit = pos + 1;
                rest = &rest[c.len_utf8()..];
                UNITS[pos].1
            }
        };
        total = total.saturating_add(n.saturating_mul(mult));
        if total > u64::from(u32::MAX) {
            return Err(bad("too long"));
        }
    }
    u32::try_from(total).map_err(|_| bad("too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// alice 1000:1000, bob 1001:100, group staff 50.
    struct Fake;
    impl Accounts for Fake {
        fn user(&self, name: &str) -> Option<(u32, u32)> {
            match name {
                "alice" => Some((1000, 1000)),
                "bob" => Some((1001, 100)),
                _ => None,
            }
        }
        fn primary_gid(&self, uid: u32) -> Option<u32> {
            match uid {
                1000 => Some(1000),
                1001 => Some(100),
                0 => Some(0),
                _ => None,
            }
        }
        fn group(&self, name: &str) -> Option<u32> {
            (name == "staff").then_some(50)
        }
    }

    fn parse(text: &str) -> Result<Exports, ExportsError> {
        Exports::parse(text, "mfsexports.cfg", &Fake)
    }

    fn one(line: &str) -> ExportRule {
        parse(line).unwrap_or_else(|e| panic!("{line}: {e}")).rules.remove(0)
    }

    fn err(text: &str) -> String {
        parse(text).expect_err(text).to_string()
    }

    fn ip(s: &str) -> u32 {
        u32::from(s.parse::<Ipv4Addr>().unwrap())
    }

    fn req<'a>(addr: &str, sub: &'a str) -> SessionRequest<'a> {
        SessionRequest { addr: addr.parse().unwrap(), version: 0x010000, subfolder: sub, meta: false, password: None }
    }

    #[test]
    fn every_address_form() {
        let r = one("* / rw");
        assert_eq!((r.from, r.to), (0, u32::MAX));
        let r = one("10.1.2.3 / rw");
        assert_eq!((r.from, r.to), (ip("10.1.2.3"), ip("10.1.2.3")));
        let r = one("10.1.2.3/16 /");
        assert_eq!((r.from, r.to), (ip("10.1.0.0"), ip("10.1.255.255")));
        let r = one("10.1.2.3/255.255.255.0 /");
        assert_eq!((r.from, r.to), (ip("10.1.2.0"), ip("10.1.2.255")));
        let r = one("10.0.0.5-10.0.0.9 /");
        assert_eq!((r.from, r.to), (ip("10.0.0.5"), ip("10.0.0.9")));
        let r = one("0.0.0.0/0 /");
        assert_eq!((r.from, r.to), (0, u32::MAX));
        let r = one("1.2.3.4/32 /");
        assert_eq!((r.from, r.to), (ip("1.2.3.4"), ip("1.2.3.4")));
    }

    #[test]
    fn defaults_are_read_only_with_root_mapped_to_999() {
        let r = one("* /");
        assert!(r.readonly && !r.alldirs && !r.admin && !r.ignore_gid && !r.dynamic_ip);
        assert_eq!(r.maproot, (999, 999));
        assert_eq!(r.mapall, None);
        assert_eq!(r.password_md5, None);
        assert_eq!((r.min_goal, r.max_goal, r.min_trash, r.max_trash), (1, 9, 0, u32::MAX));
        assert_eq!(r.path, ExportPath::Tree(String::new()));
        // The meta tree leaves root alone unless told.
        let m = one("* .");
        assert_eq!((m.path, m.maproot), (ExportPath::Meta, (0, 0)));
        assert_eq!(one("* . maproot=5:6").maproot, (5, 6));
    }

    #[test]
    fn every_option() {
        let r = one("* /a/b/ rw,alldirs,dynamicip,ignoregid,admin,maproot=alice,mapall=bob:staff");
        assert!(!r.readonly && r.alldirs && r.dynamic_ip && r.ignore_gid && r.admin);
        assert_eq!(r.path, ExportPath::Tree("a/b".into()));
        assert_eq!(r.maproot, (1000, 1000));
        assert_eq!(r.mapall, Some((1001, 50)));
        assert!(one("* / readwrite,readonly").readonly);
        assert!(!one("* / ro,readwrite").readonly);
        assert_eq!(one("* / maproot=0:0").maproot, (0, 0));
        assert_eq!(one("* / maproot=1001").maproot, (1001, 100), "numeric uid: its primary group");
        assert_eq!(one("* / maproot=7:staff").maproot, (7, 50));
        // mapall without maproot maps root too.
        assert_eq!(one("* / mapall=alice").maproot, (1000, 1000));
        assert_eq!(one("* / mapall=alice,maproot=0:0").maproot, (0, 0));
        assert_eq!(one("* / password=secret").password_md5, Some(proto::client::password_md5(b"secret")));
        // md5("secret") = 5ebe2294ecd0e0f08eab7690d2a6ee69, either case.
        assert_eq!(
            one("* / md5pass=5EBE2294ecd0e0f08eab7690d2a6ee69").password_md5,
            Some(proto::client::password_md5(b"secret"))
        );
        assert_eq!(one("* / minversion=3").min_version, 0x030000);
        assert_eq!(one("* / minversion=3.0.105").min_version, 0x030069);
        let g = one("* / mingoal=2,maxgoal=3");
        assert_eq!((g.min_goal, g.max_goal), (2, 3));
        let t = one("* / mintrashtime=2h30m,maxtrashtime=1w");
        assert_eq!((t.min_trash, t.max_trash), (9000, 604800));
        assert!(one("* / canchangequota").admin);
        // Options may be split by spaces after the first comma, as MooseFS's tokenizer allows.
        assert!(one("* / rw, alldirs").alldirs);
    }

    #[test]
    fn time_durations() {
        assert_eq!(parse_tdur("t", "86400"), Ok(86400));
        assert_eq!(parse_tdur("t", "1w2d3h4m5s"), Ok(604800 + 2 * 86400 + 3 * 3600 + 4 * 60 + 5));
        assert_eq!(parse_tdur("t", "1H30"), Ok(3630), "a last number without a unit is seconds");
        assert_eq!(parse_tdur("t", "0"), Ok(0));
        for bad in ["", "h", "1x", "1m1h", "1h1h", "99999999999", "1s2"] {
            assert!(parse_tdur("t", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn comments_blank_lines_and_line_numbers() {
        let e = parse("# comment\n\n10.0.0.1 /a ro # trailing\n   \n* / rw\n").unwrap();
        assert_eq!(e.rules.len(), 2);
        assert_eq!((e.rules[0].line, e.rules[1].line), (3, 5));
    }

    #[test]
    fn bad_lines_name_file_and_line() {
        let cases = [
            ("* / rw\n10.0.0.256 / rw\n", ":2:", "bad IPv4"),
            ("# x\n*\n", ":2:", "incomplete"),
            ("10.0.0.1/33 /\n", ":1:", "at most 32"),
            ("10.0.0.9-10.0.0.1 /\n", ":1:", "ends before"),
            ("* sub\n", ":1:", "directory"),
            ("* /a/../b\n", ":1:", "'..'"),
            ("\n\n* / rw,bogus\n", ":3:", "unknown option"),
            ("* / maproot=nosuchuser\n", ":1:", "no user named"),
            ("* / mapall=alice:nosuchgroup\n", ":1:", "no group named"),
            ("* / maproot=4242\n", ":1:", "no user with uid"),
            ("* / maproot=\n", ":1:", "needs a value"),
            ("* / md5pass=abc\n", ":1:", "32 hexadecimal"),
            ("* / minversion=1.256\n", ":1:", "minversion"),
            ("* / mingoal=0\n", ":1:", "mingoal"),
            ("* / mingoal=10\n", ":1:", "mingoal"),
            ("* / mingoal=5,maxgoal=4\n", ":1:", "above maxgoal"),
            ("* / mintrashtime=1h,maxtrashtime=1m\n", ":1:", "above maxtrashtime"),
            ("* / maxtrashtime=1q\n", ":1:", "unknown unit"),
            ("* / rw=1\n", ":1:", "takes no value"),
        ];
        for (text, at, what) in cases {
            let e = err(text);
            assert!(e.starts_with("mfsexports.cfg") && e.contains(at) && e.contains(what), "{text:?} -> {e}");
        }
    }

    #[test]
    fn builtin_default_is_mooses_sample_rule() {
        let e = Exports::builtin_default();
        let r = &e.rules[0];
        assert!(!r.readonly && r.alldirs && r.admin);
        assert_eq!(r.maproot, (0, 0));
        assert!(e.check(&req("192.168.7.7", "/any/where")).is_ok());
        let meta = SessionRequest { meta: true, ..req("192.168.7.7", "/") };
        assert!(e.check(&meta).is_ok(), "the meta tree too, as MooseFS's sample file");
    }

    #[test]
    fn folder_matching_exact_or_below_with_alldirs() {
        let e = parse("* /sub rw\n* /all rw,alldirs\n").unwrap();
        assert!(e.check(&req("1.2.3.4", "/sub")).is_ok());
        assert!(e.check(&req("1.2.3.4", "sub/")).is_ok());
        assert!(matches!(e.check(&req("1.2.3.4", "/")), Err(Denied::NoRule { .. })));
        assert!(e.check(&req("1.2.3.4", "/sub/deeper")).is_err());
        assert!(e.check(&req("1.2.3.4", "/all/deeper/x")).is_ok());
        assert!(e.check(&req("1.2.3.4", "/allx")).is_err(), "a prefix is not a parent folder");
        let meta = SessionRequest { meta: true, ..req("1.2.3.4", "/") };
        assert!(e.check(&meta).is_err());
        let m = parse("* .\n").unwrap();
        assert!(m.check(&meta).is_ok());
        assert!(m.check(&req("1.2.3.4", "/")).is_err());
    }

    #[test]
    fn address_and_version_must_match() {
        let e = parse("10.0.0.0/8 / rw\n* /v rw,minversion=2.0\n").unwrap();
        assert!(e.check(&req("10.9.8.7", "/")).is_ok());
        let denied = e.check(&req("127.0.0.1", "/")).unwrap_err();
        assert_eq!(denied.to_string(), "access denied (no export rule for 127.0.0.1 and folder /)");
        assert!(e.check(&req("::ffff:10.1.1.1", "/")).is_ok(), "IPv4-mapped IPv6");
        assert!(e.check(&req("127.0.0.1", "/v")).is_err(), "client 1.0 is below minversion 2.0");
    }

    #[test]
    fn passwords_by_challenge() {
        let e = parse("* / rw,password=secret\n").unwrap();
        let rnd = [7u8; 32];
        let good = proto::client::challenge_answer(&rnd, &proto::client::password_md5(b"secret"));
        let bad = proto::client::challenge_answer(&rnd, &proto::client::password_md5(b"guess"));
        assert_eq!(e.check(&req("1.1.1.1", "/")).unwrap_err(), Denied::NoPassword);
        let with = |a| SessionRequest { password: Some((&rnd, a)), ..req("1.1.1.1", "/") };
        assert!(e.check(&with(&good)).is_ok());
        assert_eq!(e.check(&with(&bad)).unwrap_err(), Denied::BadPassword);
        assert_eq!(Denied::BadPassword.to_string(), "access denied (wrong password)");
        // An all-zero challenge never counts (MooseFS: the client did not ask for one).
        let zero = [0u8; 32];
        let z = proto::client::challenge_answer(&zero, &proto::client::password_md5(b"secret"));
        assert!(e.check(&SessionRequest { password: Some((&zero, &z)), ..req("1.1.1.1", "/") }).is_err());
    }

    #[test]
    fn the_most_permissive_matching_line_wins_as_in_moosefs() {
        let e = parse("* / ro\n* / rw,password=secret\n* / rw,maproot=0:0\n").unwrap();
        // Without the password: lines 1 and 3 match; rw beats ro.
        let r = e.check(&req("1.1.1.1", "/")).unwrap();
        assert_eq!(r.line, 3);
        // A wrong password falls back to the lines without one.
        let rnd = [1u8; 32];
        let bad = proto::client::challenge_answer(&rnd, &proto::client::password_md5(b"x"));
        assert_eq!(e.check(&SessionRequest { password: Some((&rnd, &bad)), ..req("1.1.1.1", "/") }).unwrap().line, 3);
        // The longer path wins between otherwise equal lines.
        let e = parse("* / rw,alldirs\n* /a rw\n").unwrap();
        assert_eq!(e.check(&req("1.1.1.1", "/a")).unwrap().line, 2);
    }
}
