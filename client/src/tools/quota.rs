//! `mfsgetquota`, `mfssetquota`, `mfsdelquota`, `mfscopyquota`: MooseFS 3.0's folder quotas,
//! with its flags, table and exit codes (`mfstools.c`: `quota_control`).

use proto::client::{ReadOp, Reply, WriteOp};
use proto::quota::{QuotaChange, QuotaInfo, ALL_HARD, ALL_SOFT};

use super::mount_session::Sessions;
use super::snapshot::error_text;
use super::{need_operands, ToolArgs};
use crate::fuse::creds::own_creds;

/// The limits' names, in flag order, as MooseFS's messages name them.
const LIMIT_NAMES: [&str; 8] = [
    "soft inodes",
    "soft length",
    "soft size",
    "soft realsize",
    "hard inodes",
    "hard length",
    "hard size",
    "hard realsize",
];

/// The rows of the table.
const ROWS: [&str; 4] = ["inodes  ", "length  ", "size    ", "realsize"];

/// The quota options of one run: which limits, their values, the grace period.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QuotaArgs {
    pub flags: u8,
    pub limits: [u64; 8],
    pub grace: u32,
}

/// A number as MooseFS's tools read it: digits with an optional fraction, then an optional
/// suffix `k M G T P E` (powers of 1000) or `Ki Mi Gi Ti Pi Ei` (powers of 1024), and for
/// byte limits an optional `B`.
pub fn parse_number(text: &str, bytes: bool) -> Option<u64> {
    let text = if bytes { text.strip_suffix('B').unwrap_or(text) } else { text };
    let end = text.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(text.len());
    let (num, suffix) = text.split_at(end);
    if num.is_empty() || num.starts_with('.') && num.len() == 1 || num.ends_with('.') {
        return None;
    }
    let value: f64 = num.parse().ok()?;
    let scale: f64 = match suffix {
        "" => 1.0,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        _ => return None,
    };
    let v = (value * scale).round();
    (v <= u64::MAX as f64).then_some(v as u64)
}

/// A grace period: a number, then an optional unit `s m h d w`.
pub fn parse_period(text: &str) -> Option<u32> {
    let t = text.trim();
    let end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(end);
    let n: u64 = num.parse().ok()?;
    let mult = match unit.trim() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        "w" => 604800,
        _ => return None,
    };
    Some(u32::try_from(n.saturating_mul(mult)).unwrap_or(u32::MAX))
}

/// Read `-i/-I -l/-L -s/-S -r/-R VALUE` and `-p PERIOD` (`mfssetquota`), or the same letters
/// without values and `-a/-A` (`mfsdelquota`). Returns the options and the rest.
pub fn parse_args(tool: &str, args: &[String]) -> Result<(QuotaArgs, Vec<String>), String> {
    let set = tool == "mfssetquota";
    let mut q = QuotaArgs::default();
    let mut rest = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if !rest.is_empty() || !a.starts_with('-') || a.len() < 2 {
            rest.push(a.clone());
            continue;
        }
        let mut chars = a[1..].chars();
        while let Some(c) = chars.next() {
            let slot = "ilsrILSR".find(c);
            match (c, slot) {
                ('n' | 'h' | 'H' | 'k' | 'm' | 'g', _) => {}
                ('p', _) if set => {
                    let v: String = chars.by_ref().collect();
                    let v = if v.is_empty() { it.next().cloned().ok_or("option -p needs a value")? } else { v };
                    q.grace = parse_period(&v).ok_or("bad grace period")?;
                }
                (_, Some(k)) => {
                    let bit = 1u8 << k;
                    if q.flags & bit != 0 {
                        let what = if set { "quota defined twice" } else { "option given twice" };
                        return Err(format!("'{}' {what}", LIMIT_NAMES[k]));
                    }
                    q.flags |= bit;
                    if set {
                        let v: String = chars.by_ref().collect();
                        let v = if v.is_empty() {
                            it.next().cloned().ok_or(format!("option -{c} needs a value"))?
                        } else {
                            v
                        };
                        let resource = ["inodes", "length", "size", "real size"][k % 4];
                        let n = parse_number(&v, k % 4 != 0).filter(|n| k % 4 != 0 || *n <= u64::from(u32::MAX));
                        q.limits[k] = n.ok_or(format!("bad {resource} limit"))?;
                    }
                }
                ('a', _) if !set => {
                    if q.flags & ALL_SOFT != 0 {
                        return Err("'all soft quotas' defined together with other soft quota options".into());
                    }
                    q.flags |= ALL_SOFT;
                }
                ('A', _) if !set => {
                    if q.flags & ALL_HARD != 0 {
                        return Err("'all hard quotas' defined together with other hard quota options".into());
                    }
                    q.flags |= ALL_HARD;
                }
                _ => return Err(format!("unknown option -{c}")),
            }
        }
    }
    Ok((q, rest))
}

/// The table MooseFS prints for a folder's quota.
pub fn table(path: &str, q: &QuotaInfo) -> String {
    let grace = if q.grace > 0 { format!("{} seconds", q.grace) } else { "default".to_string() };
    let mut out = format!("{path}: (current values | soft quota | hard quota) ; soft quota grace period: {grace}\n");
    let usage = q.usage.values();
    for (k, row) in ROWS.iter().enumerate() {
        let lim = |j: usize| if q.flags & (1 << j) != 0 { q.limits[j].to_string() } else { "-".to_string() };
        out.push_str(&format!(" {row} | {:>20} | {:>20} | {:>20} |\n", usage[k], lim(k), lim(4 + k)));
    }
    out
}

/// Run the quota tools.
pub async fn run(sessions: &mut Sessions, tool: &str, a: &ToolArgs) -> i32 {
    match tool {
        "mfsgetquota" => {
            if !need_operands(tool, a, 1) {
                return 1;
            }
            each(sessions, tool, &a.operands, None).await
        }
        "mfscopyquota" => {
            if !need_operands(tool, a, 2) {
                return 1;
            }
            let src = &a.operands[0];
            let info = match one(sessions, tool, src, None).await {
                Ok(info) => info,
                Err(msg) => {
                    println!("{src}: {msg}");
                    return 1;
                }
            };
            print!("{}", table(src, &info));
            let change = QuotaChange { flags: info.flags, limits: info.limits, grace: info.grace, delete: false };
            each(sessions, tool, &a.operands[1..], Some(change)).await
        }
        _ => {
            if !need_operands(tool, a, 1) {
                return 1;
            }
            let q = &a.quota;
            let change =
                QuotaChange { flags: q.flags, limits: q.limits, grace: q.grace, delete: tool == "mfsdelquota" };
            each(sessions, tool, &a.operands, Some(change)).await
        }
    }
}

async fn each(sessions: &mut Sessions, tool: &str, paths: &[String], change: Option<QuotaChange>) -> i32 {
    let mut code = 0;
    for path in paths {
        match one(sessions, tool, path, change.clone()).await {
            Ok(info) => print!("{}", table(path, &info)),
            Err(msg) => {
                println!("{path}: {msg}");
                code = 1;
            }
        }
    }
    code
}

/// Ask (or change, then print) the quota of one folder.
async fn one(
    sessions: &mut Sessions,
    tool: &str,
    path: &str,
    change: Option<QuotaChange>,
) -> Result<QuotaInfo, String> {
    let t = sessions.target(tool, path).await?;
    let creds = own_creds();
    let answer = match change {
        Some(change) => t.client.write(&creds, WriteOp::SetQuota { ino: t.ino, change }).await,
        None => t.client.read(&creds, ReadOp::GetQuota { ino: t.ino }).await,
    };
    match answer {
        Ok(Reply::Quota(info)) => Ok(info),
        Ok(other) => Err(format!("master query: wrong answer ({other:?})")),
        Err(e) => Err(error_text(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_periods_read_as_moosefs_reads_them() {
        assert_eq!(parse_number("10", false), Some(10));
        assert_eq!(parse_number("1.5k", false), Some(1500));
        assert_eq!(parse_number("2Ki", false), Some(2048));
        assert_eq!(parse_number("10GiB", true), Some(10 << 30));
        assert_eq!(parse_number("10B", false), None);
        assert_eq!(parse_number("5.", false), None);
        assert_eq!(parse_number("x", false), None);
        assert_eq!(parse_period("2d"), Some(172800));
        assert_eq!(parse_period("90"), Some(90));
        assert_eq!(parse_period("3y"), None);
    }

    #[test]
    fn options_and_the_table() {
        let v = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        let (q, rest) = parse_args("mfssetquota", &v("-i 10 -L 1Mi -p 1h d")).unwrap();
        assert_eq!((q.flags, q.limits[0], q.limits[5], q.grace, rest), (0x21, 10, 1 << 20, 3600, vec!["d".into()]));
        assert!(parse_args("mfssetquota", &v("-i 1 -i 2 d"))
            .unwrap_err()
            .contains("'soft inodes' quota defined twice"));
        let (q, _) = parse_args("mfsdelquota", &v("-a -R d")).unwrap();
        assert_eq!(q.flags, ALL_SOFT | 0x80);
        let info = QuotaInfo { flags: 0x10, limits: [0, 0, 0, 0, 10, 0, 0, 0], ..QuotaInfo::default() };
        let t = table("d", &info);
        assert!(t.starts_with("d: (current values | soft quota | hard quota) ; soft quota grace period: default\n"));
        assert!(
            t.contains(" inodes   |                    0 |                    - |                   10 |\n"),
            "{t}"
        );
    }
}
