//! `mfshdd.cfg`: the disks a chunkserver stores chunks on, as MooseFS writes it.
//!
//! One path per line, `#` comments and blank lines ignored. A leading `*` marks the disk for
//! removal: its chunks are still served and reported (with `to_remove`) so the master copies
//! them elsewhere, and it takes no new chunks and counts in no space total. An optional space
//! option follows the path: `10GiB` caps the space used for chunks, `-10GiB` keeps that much
//! free; either may be a percentage of the device (`90%`, `-5%`). MooseFS's other prefixes
//! (`<`, `>`, `~`) and the `=` option are accepted and ignored with a warning.

use std::path::{Path, PathBuf};

use crate::config::{parse_size, ConfigError};

/// An amount of space: bytes, or a percentage of the device's size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Amount {
    Bytes(u64),
    Percent(f64),
}

impl Amount {
    /// Resolve against a device of `device_total` bytes.
    pub fn bytes(self, device_total: u64) -> u64 {
        match self {
            Amount::Bytes(b) => b,
            Amount::Percent(p) => (device_total as f64 * p / 100.0) as u64,
        }
    }
}

/// A disk's own space rule.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SpaceLimit {
    /// Use at most this much space for chunks (`/mnt/hdd1 10GiB`).
    Max(Amount),
    /// Always leave this much free (`/mnt/hdd1 -10GiB`), instead of `HDD_LEAVE_SPACE_DEFAULT`.
    LeaveFree(Amount),
}

/// One line of `mfshdd.cfg`.
#[derive(Clone, Debug, PartialEq)]
pub struct HddEntry {
    pub path: PathBuf,
    /// Marked for removal (`*`).
    pub to_remove: bool,
    pub limit: Option<SpaceLimit>,
}

/// Read and parse `mfshdd.cfg`.
pub fn read_hdd_file(path: &Path) -> Result<Vec<HddEntry>, ConfigError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
    parse_hdd(&text, &path.display().to_string())
}

/// Parse the text of `mfshdd.cfg` (`file` names it in errors).
pub fn parse_hdd(text: &str, file: &str) -> Result<Vec<HddEntry>, ConfigError> {
    let mut out: Vec<HddEntry> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let err = |msg: String| ConfigError::Line { file: file.to_string(), line: i + 1, msg };
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut rest = line;
        let mut to_remove = false;
        while let Some(c) = rest.chars().next().filter(|c| matches!(c, '*' | '<' | '>' | '~')) {
            if c == '*' {
                to_remove = true;
            } else {
                tracing::warn!(file, line = i + 1, prefix = %c, "mfshdd.cfg prefix not supported, ignored");
            }
            rest = &rest[1..];
        }
        let mut words = rest.split_whitespace();
        let Some(path) = words.next() else {
            return Err(err("a disk line needs a path".into()));
        };
        if !path.starts_with('/') {
            return Err(err(format!("{path:?} is not an absolute path")));
        }
        let limit = match words.next() {
            None => None,
            Some(opt) => parse_space_option(opt, file, i + 1).map_err(err)?,
        };
        if let Some(extra) = words.next() {
            return Err(err(format!("unexpected {extra:?} after the space option")));
        }
        let path = PathBuf::from(path.trim_end_matches('/'));
        let path = if path.as_os_str().is_empty() { PathBuf::from("/") } else { path };
        if out.iter().any(|e| e.path == path) {
            return Err(err(format!("{} is listed twice", path.display())));
        }
        out.push(HddEntry { path, to_remove, limit });
    }
    Ok(out)
}

fn parse_space_option(opt: &str, file: &str, line: usize) -> Result<Option<SpaceLimit>, String> {
    let opt = match opt.strip_prefix('=') {
        Some(rest) => {
            tracing::warn!(file, line, "mfshdd.cfg '=' (shared disk) is not supported, ignored");
            if rest.is_empty() {
                return Ok(None);
            }
            rest
        }
        None => opt,
    };
    let (negative, value) = match opt.strip_prefix('-') {
        Some(v) => (true, v),
        None => (false, opt),
    };
    let amount = match value.strip_suffix('%') {
        Some(p) => {
            let p: f64 = p.parse().map_err(|_| format!("bad percentage {opt:?}"))?;
            if !(0.0..=100.0).contains(&p) {
                return Err(format!("percentage {opt:?} is outside 0..100"));
            }
            Amount::Percent(p)
        }
        None => Amount::Bytes(parse_size(value)?),
    };
    Ok(Some(if negative { SpaceLimit::LeaveFree(amount) } else { SpaceLimit::Max(amount) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<HddEntry>, ConfigError> {
        parse_hdd(text, "mfshdd.cfg")
    }

    #[test]
    fn parses_paths_marks_and_limits() {
        let disks = parse(
            "# disks\n\n/mnt/hdd1\n*/mnt/hdd2\n/mnt/hdd3 10GiB\n/mnt/hdd4   -10GiB  \n  /mnt/hdd5/ 90%\n\
             * /mnt/hdd6 -5%\n",
        )
        .unwrap();
        assert_eq!(disks.len(), 6);
        assert_eq!(disks[0], HddEntry { path: "/mnt/hdd1".into(), to_remove: false, limit: None });
        assert_eq!(disks[1], HddEntry { path: "/mnt/hdd2".into(), to_remove: true, limit: None });
        assert_eq!(disks[2].limit, Some(SpaceLimit::Max(Amount::Bytes(10 << 30))));
        assert_eq!(disks[3].limit, Some(SpaceLimit::LeaveFree(Amount::Bytes(10 << 30))));
        assert_eq!(disks[4].path, PathBuf::from("/mnt/hdd5"));
        assert_eq!(disks[4].limit, Some(SpaceLimit::Max(Amount::Percent(90.0))));
        assert!(disks[5].to_remove);
        assert_eq!(disks[5].limit, Some(SpaceLimit::LeaveFree(Amount::Percent(5.0))));
        assert_eq!(Amount::Percent(5.0).bytes(1000), 50);
    }

    #[test]
    fn other_moosefs_prefixes_are_accepted() {
        let disks = parse("~/mnt/a\n<*/mnt/b =\n>/mnt/c =1GiB\n").unwrap();
        assert!(!disks[0].to_remove);
        assert!(disks[1].to_remove);
        assert_eq!(disks[1].limit, None);
        assert_eq!(disks[2].limit, Some(SpaceLimit::Max(Amount::Bytes(1 << 30))));
    }

    #[test]
    fn errors_name_the_line() {
        for (text, line) in [
            ("/mnt/a\nrelative/path\n", 2),
            ("/mnt/a lots\n", 1),
            ("/mnt/a 1GiB 2GiB\n", 1),
            ("\n*\n", 2),
            ("/mnt/a\n/mnt/a/\n", 2),
            ("/mnt/a 120%\n", 1),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(&format!("line {line}")), "{text:?}: {e}");
        }
    }
}
