//! `mfsmount` arguments, `-o` options and `mfsmount.cfg`, as MooseFS 3.0 reads them.
//!
//! Sources, lowest priority first: built-in defaults, the config file (`-c FILE`, default
//! `/etc/mfs/mfsmount.cfg`; a missing default file is fine), then the command line. A config
//! line is either a mount point (it starts with `/`) or `-o` style options
//! (`mfsmaster=m1,mfsport=9421`); `#` starts a comment.
//!
//! Besides `mfsmount MOUNTPOINT [options]`, the order `mount -t fuse.mfsmount` uses is accepted:
//! `mfsmount SOURCE MOUNTPOINT -o opts`, where SOURCE is `host[:port]`, `mfs#host[:port]`,
//! `-o` style options (`mfsmaster=host`), or a placeholder (`mfsmount`, `mfs`, `none`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use fuser::MountOption;

/// Default client port of a master.
pub const DEFAULT_PORT: u16 = 9421;
/// Where the config file is looked for when `-c` is not given.
pub const DEFAULT_CFG: &str = "/etc/mfs/mfsmount.cfg";
/// Default master host name, as in MooseFS.
pub const DEFAULT_MASTER: &str = "mfsmaster";

/// How the kernel page cache is kept across opens (`mfscachemode=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheMode {
    /// Drop the page cache of a file at every open unless its size and mtime are unchanged.
    Auto,
    /// Keep the page cache across opens (`YES`/`ALWAYS`).
    Yes,
    /// Drop it at every open (`NO`/`NONE`/`NEVER`/`DIRECT`).
    No,
}

/// Everything `mfsmount` was asked for.
#[derive(Clone, Debug)]
pub struct MountOpts {
    /// Where to mount.
    pub mountpoint: Option<PathBuf>,
    /// Master addresses as given (`host` or `host:port`); the default port is added later.
    pub masters: Vec<String>,
    /// Port for masters given without one (`-P`, `mfsport=`).
    pub port: u16,
    /// Folder of the file system to mount as the root (`-S`, `mfssubfolder=`).
    pub subfolder: String,
    /// Password for the export (`-p`, `mfspassword=`), answered to the masters' challenge.
    pub password: Option<String>,
    /// The password's MD5 in hex (`mfsmd5pass=`), instead of the password itself.
    pub md5pass: Option<String>,
    /// `-p`: ask for the password on the terminal.
    pub ask_password: bool,
    /// `-m`/`--meta`/`mfsmeta`: mount the meta tree (trash, sustained).
    pub meta: bool,
    /// `mfsflattrash`: the meta tree's trash as one flat folder, without 000..FFF.
    pub flat_trash: bool,
    /// `-f`: stay in the foreground.
    pub foreground: bool,
    /// `-d`/`mfsdebug`: debug logging (implies `-f`).
    pub debug: bool,
    /// Options handed to the kernel mount.
    pub fuse_opts: Vec<MountOption>,
    /// How long the kernel may cache attributes.
    pub attr_ttl: Duration,
    /// How long the kernel may cache directory entries.
    pub entry_ttl: Duration,
    /// How long an extended attribute answered absent is taken as absent (`mfsxattrcacheto`).
    pub xattr_ttl: Duration,
    /// Write-back buffer per open file, bytes.
    pub write_cache: usize,
    /// Largest readahead window per open file, bytes (0: no readahead).
    pub readahead: usize,
    /// How long one operation may wait for a master before it fails.
    pub op_timeout: Duration,
    /// Where a background mount logs (`mfslogfile=`); stderr in the foreground.
    pub log_file: Option<PathBuf>,
    pub cache_mode: CacheMode,
    /// `fcntl` locks held across mounts by the masters (off: `mfsnoposixlocks`, local only).
    pub posix_locks: bool,
    /// `flock` locks held across mounts by the masters (off: `mfsnobsdlocks`, local only).
    pub bsd_locks: bool,
    /// `-c FILE`/`mfscfgfile=`: the config file; `None` for the default.
    pub config_file: Option<PathBuf>,
    /// `-h`/`--help`.
    pub help: bool,
    /// `-V`/`--version`.
    pub version: bool,
}

impl Default for MountOpts {
    fn default() -> Self {
        MountOpts {
            mountpoint: None,
            masters: Vec::new(),
            port: DEFAULT_PORT,
            subfolder: "/".into(),
            password: None,
            md5pass: None,
            ask_password: false,
            meta: false,
            flat_trash: false,
            foreground: false,
            debug: false,
            fuse_opts: Vec::new(),
            attr_ttl: Duration::from_secs(1),
            entry_ttl: Duration::from_secs(1),
            xattr_ttl: Duration::from_secs(1),
            write_cache: 8 << 20,
            readahead: 4 << 20,
            op_timeout: Duration::from_secs(300),
            log_file: None,
            cache_mode: CacheMode::Auto,
            posix_locks: true,
            bsd_locks: true,
            config_file: None,
            help: false,
            version: false,
        }
    }
}

/// Options of `/etc/fstab` and mount(8) that mean nothing to a FUSE file system.
const IGNORED: &[&str] = &[
    "defaults",
    "auto",
    "noauto",
    "user",
    "users",
    "nouser",
    "owner",
    "_netdev",
    "nofail",
    "relatime",
    "norelatime",
    "strictatime",
    "nodiratime",
    "diratime",
    "lazytime",
    "nonempty",
    "big_writes",
    "hard_remove",
    "use_ino",
    "readdir_ino",
];

/// MooseFS tuning options we accept and do not act on (yet).
const MFS_IGNORED: &[&str] = &[
    "mfsdirentrycacheto",
    "mfsnegentrycacheto",
    "mfssymlinkcacheto",
    "mfsgroupscacheto",
    "mfsnice",
    "mfsmemlock",
    "mfsmkdircopysgid",
    "mfssugidclearmode",
    "mfsioretries",
    "mfsdelayedinit",
    "mfsrlimitnofile",
    "mfsbind",
    "mfsproxy",
    "mfsfsyncbeforeclose",
    "mfsfsyncmintime",
    "mfsnoxattrs",
    "mfsaclcacheto",
    "mfsmaxreadaheadrequests",
    "mfserrorontimeout",
];

impl MountOpts {
    /// Parse a command line (without the program name) and the config file it names (or the
    /// default one, if present).
    pub fn from_args(args: &[String]) -> Result<MountOpts, String> {
        let cfg = prescan_config(args);
        let mut o = MountOpts::default();
        match &cfg {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("can't read config file {}: {e}", path.display()))?;
                o.apply_config(&text, path)?;
            }
            None => {
                if let Ok(text) = std::fs::read_to_string(DEFAULT_CFG) {
                    o.apply_config(&text, Path::new(DEFAULT_CFG))?;
                }
            }
        }
        o.config_file = cfg;
        o.apply_args(args)?;
        if o.debug {
            o.foreground = true;
        }
        Ok(o)
    }

    /// Apply the lines of a config file.
    pub fn apply_config(&mut self, text: &str, path: &Path) -> Result<(), String> {
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let res = if line.starts_with('/') {
                self.mountpoint = Some(PathBuf::from(line));
                Ok(())
            } else {
                self.apply_opts(line)
            };
            res.map_err(|e| format!("{}:{}: {e}", path.display(), n + 1))?;
        }
        Ok(())
    }

    /// Apply command-line arguments (without the program name).
    pub fn apply_args(&mut self, args: &[String]) -> Result<(), String> {
        let mut positional: Vec<String> = Vec::new();
        let mut i = 0;
        let value = |i: &mut usize, flag: &str| -> Result<String, String> {
            *i += 1;
            args.get(*i).cloned().ok_or_else(|| format!("option {flag} needs a value"))
        };
        while i < args.len() {
            let a = args[i].as_str();
            match a {
                "-h" | "--help" => self.help = true,
                "-V" | "--version" => self.version = true,
                "-f" => self.foreground = true,
                "-d" => self.debug = true,
                "-s" | "-n" => {} // single-threaded / no-default-cfg flags of libfuse and MooseFS
                "-m" | "--meta" => self.meta = true,
                "-p" => self.ask_password = true,
                "-H" => {
                    let v = value(&mut i, "-H")?;
                    self.masters = split_hosts(&v);
                }
                "-P" => {
                    let v = value(&mut i, "-P")?;
                    self.port = parse_port(&v)?;
                }
                "-S" => self.subfolder = value(&mut i, "-S")?,
                "-c" => {
                    value(&mut i, "-c")?; // read by prescan_config
                }
                "-o" => {
                    let v = value(&mut i, "-o")?;
                    self.apply_opts(&v)?;
                }
                _ if a.starts_with("-o") && a.len() > 2 => self.apply_opts(&a[2..])?,
                _ if a.starts_with("-H") && a.len() > 2 => self.masters = split_hosts(&a[2..]),
                _ if a.starts_with("-P") && a.len() > 2 => self.port = parse_port(&a[2..])?,
                _ if a.starts_with("-S") && a.len() > 2 => self.subfolder = a[2..].to_string(),
                _ if a.starts_with("-c") && a.len() > 2 => {}
                _ if a.starts_with('-') && a.len() > 1 => return Err(format!("unknown option {a}")),
                _ => positional.push(a.to_string()),
            }
            i += 1;
        }
        match positional.len() {
            0 => {}
            1 => self.mountpoint = Some(PathBuf::from(&positional[0])),
            2 => {
                self.apply_source(&positional[0])?;
                self.mountpoint = Some(PathBuf::from(&positional[1]));
            }
            _ => return Err(format!("too many arguments: {}", positional.join(" "))),
        }
        Ok(())
    }

    /// The source argument of `mount -t fuse.mfsmount SOURCE MOUNTPOINT`.
    fn apply_source(&mut self, src: &str) -> Result<(), String> {
        let src = src.strip_prefix("mfs#").unwrap_or(src);
        if matches!(src, "" | "mfsmount" | "mfs" | "none" | "raftmfs") {
            return Ok(());
        }
        if src.contains('=') {
            return self.apply_opts(src);
        }
        self.masters = split_hosts(src);
        Ok(())
    }

    /// Apply one `-o` argument: comma-separated `name[=value]` options.
    pub fn apply_opts(&mut self, list: &str) -> Result<(), String> {
        let mut after_master = false;
        for opt in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, val) = match opt.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (opt, None),
            };
            // `mfsmaster=m1:9421,m2:9421`: the commas of a master list look like option
            // separators; an item after it that is a host (has a ':' or '.') belongs to it.
            if after_master && val.is_none() && name.contains([':', '.']) {
                self.masters.push(name.to_string());
                continue;
            }
            self.apply_opt(name, val)?;
            after_master = name == "mfsmaster";
        }
        Ok(())
    }

    fn apply_opt(&mut self, name: &str, val: Option<&str>) -> Result<(), String> {
        let need = |v: Option<&str>| v.map(str::to_string).ok_or_else(|| format!("option {name} needs a value"));
        match name {
            "mfsmaster" => self.masters = split_hosts(&need(val)?),
            "mfsport" => self.port = parse_port(&need(val)?)?,
            "mfssubfolder" => self.subfolder = need(val)?,
            "mfspassword" => self.password = Some(need(val)?),
            "mfsmd5pass" => self.md5pass = Some(need(val)?),
            "askpassword" => self.ask_password = true,
            "mfsmeta" => self.meta = true,
            "mfsflattrash" => self.flat_trash = true,
            "mfsnoposixlocks" => self.posix_locks = false,
            "mfsnobsdlocks" => self.bsd_locks = false,
            "mfsdebug" => self.debug = true,
            "mfscfgfile" => {} // read by prescan_config
            "mfsattrcacheto" => self.attr_ttl = parse_secs(name, &need(val)?)?,
            "mfsentrycacheto" => self.entry_ttl = parse_secs(name, &need(val)?)?,
            "mfsxattrcacheto" => self.xattr_ttl = parse_secs(name, &need(val)?)?,
            "mfswritecachesize" => self.write_cache = parse_mib(name, &need(val)?)?,
            "mfsreadaheadsize" => self.readahead = parse_mib(name, &need(val)?)?,
            "mfsoptimeout" => self.op_timeout = parse_secs(name, &need(val)?)?,
            "mfslogfile" => self.log_file = Some(PathBuf::from(need(val)?)),
            "mfscachemode" => {
                self.cache_mode = match need(val)?.to_ascii_uppercase().as_str() {
                    "AUTO" => CacheMode::Auto,
                    "YES" | "ALWAYS" => CacheMode::Yes,
                    "NO" | "NONE" | "NEVER" | "DIRECT" => CacheMode::No,
                    other => return Err(format!("mfscachemode: unknown mode {other}")),
                }
            }
            "fsname" => self.push_fuse(MountOption::FSName(need(val)?)),
            "subtype" => self.push_fuse(MountOption::Subtype(need(val)?)),
            "allow_other" => self.push_fuse(MountOption::AllowOther),
            "allow_root" => self.push_fuse(MountOption::AllowRoot),
            "auto_unmount" => self.push_fuse(MountOption::AutoUnmount),
            "default_permissions" => self.push_fuse(MountOption::DefaultPermissions),
            "ro" => self.push_fuse(MountOption::RO),
            "rw" => self.push_fuse(MountOption::RW),
            "dev" => self.push_fuse(MountOption::Dev),
            "nodev" => self.push_fuse(MountOption::NoDev),
            "suid" => self.push_fuse(MountOption::Suid),
            "nosuid" => self.push_fuse(MountOption::NoSuid),
            "exec" => self.push_fuse(MountOption::Exec),
            "noexec" => self.push_fuse(MountOption::NoExec),
            "atime" => self.push_fuse(MountOption::Atime),
            "noatime" => self.push_fuse(MountOption::NoAtime),
            "sync" => self.push_fuse(MountOption::Sync),
            "async" => self.push_fuse(MountOption::Async),
            "dirsync" => self.push_fuse(MountOption::DirSync),
            _ if IGNORED.contains(&name) || name.starts_with("x-") || name == "max_read" || name == "blksize" => {}
            _ if MFS_IGNORED.contains(&name) => {
                tracing::debug!(option = name, "MooseFS option accepted and not used");
            }
            _ => return Err(format!("unknown option {name}")),
        }
        Ok(())
    }

    /// Add a kernel mount option, dropping an earlier one it conflicts with (`ro` after `rw`).
    fn push_fuse(&mut self, opt: MountOption) {
        use MountOption::*;
        let opposite = match &opt {
            RO => Some(RW),
            RW => Some(RO),
            Dev => Some(NoDev),
            NoDev => Some(Dev),
            Suid => Some(NoSuid),
            NoSuid => Some(Suid),
            Exec => Some(NoExec),
            NoExec => Some(Exec),
            Atime => Some(NoAtime),
            NoAtime => Some(Atime),
            Sync => Some(Async),
            Async => Some(Sync),
            AllowOther => Some(AllowRoot),
            AllowRoot => Some(AllowOther),
            _ => None,
        };
        self.fuse_opts.retain(|o| Some(o) != opposite.as_ref() && *o != opt);
        if matches!(opt, FSName(_) | Subtype(_)) {
            let same_kind = std::mem::discriminant(&opt);
            self.fuse_opts.retain(|o| std::mem::discriminant(o) != same_kind);
        }
        self.fuse_opts.push(opt);
    }

    /// True when mounted read-only.
    pub fn read_only(&self) -> bool {
        self.fuse_opts.contains(&MountOption::RO)
    }

    /// Master addresses with ports: the default port added where none was given.
    pub fn master_addrs(&self) -> Vec<String> {
        let list = if self.masters.is_empty() { vec![DEFAULT_MASTER.to_string()] } else { self.masters.clone() };
        list.iter().map(|h| with_port(h, self.port)).collect()
    }

    /// The MD5 of the export password to answer the masters' challenge with: from
    /// `mfsmd5pass=` (32 hex digits) or from the password (`-p`, `mfspassword=`).
    pub fn password_md5(&self) -> Result<Option<[u8; 16]>, String> {
        if let Some(hex) = &self.md5pass {
            let bad = || format!("mfsmd5pass: expected 32 hexadecimal digits, got {} characters", hex.len());
            if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad());
            }
            let mut out = [0u8; 16];
            for (i, b) in out.iter_mut().enumerate() {
                *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
            }
            return Ok(Some(out));
        }
        Ok(self.password.as_ref().map(|p| proto::client::password_md5(p.as_bytes())))
    }

    /// The subfolder as path components, validated (no `..`).
    pub fn subfolder_parts(&self) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        for part in self.subfolder.split('/') {
            match part {
                "" | "." => {}
                ".." => return Err(format!("subfolder {}: '..' is not allowed", self.subfolder)),
                p => out.push(p.to_string()),
            }
        }
        Ok(out)
    }
}

/// `-c FILE` or `mfscfgfile=FILE` on the command line, read before everything else.
fn prescan_config(args: &[String]) -> Option<PathBuf> {
    let mut found = None;
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "-c" {
            found = args.get(i + 1).map(PathBuf::from);
            i += 1;
        } else if let Some(rest) = a.strip_prefix("-c").filter(|r| !r.is_empty()) {
            found = Some(PathBuf::from(rest));
        } else if a == "-o" || a.starts_with("-o") {
            let list = if a == "-o" { args.get(i + 1).cloned().unwrap_or_default() } else { a[2..].to_string() };
            for opt in list.split(',') {
                if let Some(v) = opt.trim().strip_prefix("mfscfgfile=") {
                    found = Some(PathBuf::from(v));
                }
            }
            if a == "-o" {
                i += 1;
            }
        }
        i += 1;
    }
    found
}

/// Split a master list: commas (and spaces) separate hosts.
fn split_hosts(v: &str) -> Vec<String> {
    v.split([',', ' ', ';']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

/// `host` → `host:port`; `host:p` and `[v6]:p` stay as they are.
fn with_port(host: &str, port: u16) -> String {
    let has_port = host.rsplit_once(':').is_some_and(|(h, p)| p.parse::<u16>().is_ok() && !h.ends_with(':'));
    let bare_v6 = host.matches(':').count() > 1 && !host.starts_with('[');
    if has_port && !bare_v6 {
        host.to_string()
    } else if bare_v6 {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn parse_port(v: &str) -> Result<u16, String> {
    v.trim().parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| format!("bad port {v:?}"))
}

fn parse_secs(name: &str, v: &str) -> Result<Duration, String> {
    let s: f64 = v.trim().parse().map_err(|_| format!("{name}: bad number of seconds {v:?}"))?;
    if !(0.0..=1e7).contains(&s) {
        return Err(format!("{name}: {v} seconds is out of range"));
    }
    Ok(Duration::from_secs_f64(s))
}

fn parse_mib(name: &str, v: &str) -> Result<usize, String> {
    let m: usize = v.trim().parse().map_err(|_| format!("{name}: bad size in MiB {v:?}"))?;
    if m > 4096 {
        return Err(format!("{name}: {m} MiB is too large (at most 4096)"));
    }
    Ok(m << 20)
}

/// The `--help` text.
pub fn usage(prog: &str) -> String {
    format!(
        "usage: {prog} [-f] [-d] [-m] [-p] [-H HOSTS] [-P PORT] [-S PATH] [-c CFGFILE] [-o OPT[,OPT...]] MOUNTPOINT
       {prog} SOURCE MOUNTPOINT -o OPTS      (as run by mount -t fuse.mfsmount)

RaftMFS client: mounts the file system held by a group of RaftMFS masters.

general options:
    -h, --help              print this help and exit
    -V, --version           print the version and exit
    -f                      stay in the foreground (default: go to the background once mounted)
    -d                      debug logging (implies -f)
    -c CFGFILE              read options from CFGFILE (default {DEFAULT_CFG}, if present);
                            each line is a mount point or -o style options; '#' comments

MooseFS options:
    -H HOSTS                masters, comma separated, host[:port] (default {DEFAULT_MASTER});
                            equivalent to '-o mfsmaster=HOSTS'
    -P PORT                 default master port (default {DEFAULT_PORT}); '-o mfsport=PORT'
    -S PATH                 mount this folder of the file system; '-o mfssubfolder=PATH'
    -p                      ask for the export password on the terminal ('-o askpassword');
                            the masters check it by challenge (it never crosses the wire)
    -m, --meta              mount the meta tree (trash, sustained): restore or purge deleted files
                            ('-o mfsmeta'); '-o mfsflattrash': the trash as one folder, no 000..FFF
    -o mfsmaster=H1,H2:P    masters as an -o option (hosts after the first need a ':' or a '.')
    -o mfspassword=PASS     the export password (as -p)
    -o mfsmd5pass=MD5       the export password given as its MD5 (32 hex digits)
    -o mfsattrcacheto=SEC   attribute cache timeout (default 1.0)
    -o mfsentrycacheto=SEC  directory entry cache timeout (default 1.0)
    -o mfsxattrcacheto=SEC  how long an absent extended attribute is cached (default 1.0)
    -o mfswritecachesize=N  write-back buffer per open file, MiB (default 8)
    -o mfsreadaheadsize=N   largest readahead window per open file, MiB (default 4; 0: off)
    -o mfscachemode=MODE    AUTO (default), YES or NO: keep file pages cached across opens
    -o mfsoptimeout=SEC     how long an operation waits for a master leader (default 300)
    -o mfslogfile=PATH      log file of a background mount (default: none)

FUSE options (passed to the kernel):
    allow_other, allow_root, default_permissions, auto_unmount, ro, rw, nosuid, suid,
    nodev, dev, noexec, exec, noatime, atime, sync, async, dirsync, fsname=NAME, subtype=NAME
    (fstab-only options such as defaults, _netdev, nofail, noauto, x-* are ignored)

Unmount with 'umount MOUNTPOINT' or 'fusermount3 -u MOUNTPOINT'.
"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn moosefs_style_command_line() {
        let mut o = MountOpts::default();
        o.apply_args(&args("/mnt/mfs -H m1,m2:9500,m3 -P 9999 -S /sub/dir -f -o allow_other,mfswritecachesize=16"))
            .unwrap();
        assert_eq!(o.mountpoint.as_deref(), Some(Path::new("/mnt/mfs")));
        assert_eq!(o.master_addrs(), vec!["m1:9999", "m2:9500", "m3:9999"]);
        assert_eq!(o.subfolder_parts().unwrap(), vec!["sub", "dir"]);
        assert!(o.foreground);
        assert!(o.fuse_opts.contains(&MountOption::AllowOther));
        assert_eq!(o.write_cache, 16 << 20);
    }

    #[test]
    fn mount_helper_order_and_o_options() {
        let mut o = MountOpts::default();
        o.apply_args(&args("mfsmaster=10.0.0.1,mfsport=9500 /mnt/x -o rw,nosuid,nodev,_netdev,mfssubfolder=/a"))
            .unwrap();
        assert_eq!(o.master_addrs(), vec!["10.0.0.1:9500"]);
        assert_eq!(o.mountpoint.as_deref(), Some(Path::new("/mnt/x")));
        assert_eq!(o.subfolder, "/a");
        assert!(o.fuse_opts.contains(&MountOption::NoSuid));

        let mut o = MountOpts::default();
        o.apply_args(&args("mfs#h1:9421 /mnt/y")).unwrap();
        assert_eq!(o.master_addrs(), vec!["h1:9421"]);
        let mut o = MountOpts::default();
        o.apply_args(&args("mfsmount /mnt/z -o mfsmaster=h2")).unwrap();
        assert_eq!(o.master_addrs(), vec!["h2:9421"]);
        let mut o = MountOpts::default();
        o.apply_args(&args("/m -o mfsmaster=10.0.0.1,10.0.0.2:9500,h3:1,ro")).unwrap();
        assert_eq!(o.master_addrs(), vec!["10.0.0.1:9421", "10.0.0.2:9500", "h3:1"]);
        assert!(o.read_only());
    }

    #[test]
    fn config_file_lines_and_priority() {
        let mut o = MountOpts::default();
        o.apply_config("# comment\nmfsmaster=cfghost\n/mnt/fromcfg\nmfsport=9500 # trailing\n", Path::new("x.cfg"))
            .unwrap();
        assert_eq!(o.mountpoint.as_deref(), Some(Path::new("/mnt/fromcfg")));
        o.apply_args(&args("-H cli")).unwrap();
        assert_eq!(o.master_addrs(), vec!["cli:9500"]);
        let err = MountOpts::default().apply_config("bogus_option\n", Path::new("x.cfg")).unwrap_err();
        assert!(err.contains("x.cfg:1"), "{err}");
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert!(MountOpts::default().apply_args(&args("-H")).is_err());
        assert!(MountOpts::default().apply_args(&args("/m -P 0")).is_err());
        assert!(MountOpts::default().apply_args(&args("/m -P notaport")).is_err());
        assert!(MountOpts::default().apply_args(&args("/m -o nosuchoption")).is_err());
        assert!(MountOpts::default().apply_args(&args("/m -o mfsattrcacheto=-1")).is_err());
        assert!(MountOpts::default().apply_args(&args("/m -o mfscachemode=WHAT")).is_err());
        assert!(MountOpts::default().apply_args(&args("a b c")).is_err());
        let o = MountOpts { password: Some("secret".into()), ..Default::default() };
        assert_eq!(o.password_md5().unwrap(), Some(proto::client::password_md5(b"secret")));
        let mut o = MountOpts::default();
        o.apply_opts("mfsmd5pass=5ebe2294ecd0e0f08eab7690d2a6ee69").unwrap();
        assert_eq!(o.password_md5().unwrap(), Some(proto::client::password_md5(b"secret")));
        o.apply_opts("mfsmd5pass=xyz").unwrap();
        assert!(o.password_md5().is_err());
        assert_eq!(MountOpts::default().password_md5().unwrap(), None);
        let o = MountOpts { subfolder: "/a/../b".into(), ..Default::default() };
        assert!(o.subfolder_parts().is_err());
    }

    #[test]
    fn conflicting_fuse_options_keep_the_last() {
        let mut o = MountOpts::default();
        o.apply_args(&args("/m -o rw -o ro,fsname=a,fsname=b")).unwrap();
        assert!(o.read_only());
        assert!(!o.fuse_opts.contains(&MountOption::RW));
        assert_eq!(o.fuse_opts.iter().filter(|x| matches!(x, MountOption::FSName(_))).count(), 1);
    }

    #[test]
    fn prescan_finds_config() {
        assert_eq!(prescan_config(&args("/m -c /x.cfg")), Some(PathBuf::from("/x.cfg")));
        assert_eq!(prescan_config(&args("/m -o a,mfscfgfile=/y.cfg")), Some(PathBuf::from("/y.cfg")));
        assert_eq!(prescan_config(&args("/m")), None);
    }
}
