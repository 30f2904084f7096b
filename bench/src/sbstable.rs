//! `sbstable`: turns the side-by-side harness's results into one Markdown table of medians and
//! ratios, and optionally writes it into the marked section of `BENCHMARKS.md`.
//!
//! Input (`--results`): one measurement per line, tab-separated:
//! `target  key  label  unit  value` where target is `raftmfs`, `moosefs` or `local`. Rows keep the
//! order in which their key first appears; each cell is the median of the key's values for that
//! target; the ratios are RaftMFS/MooseFS and RaftMFS/local of those medians, turned over for a
//! unit that says "lower is better" (MooseFS/RaftMFS), so every ratio reads one way: above 1
//! means RaftMFS is better.

use anyhow::{bail, Context, Result};
use clap::Parser;
use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;

const BEGIN: &str = "<!-- side-by-side:begin -->";
const END: &str = "<!-- side-by-side:end -->";
const TARGETS: [&str; 3] = ["raftmfs", "moosefs", "local"];

#[derive(Parser)]
#[command(about = "Median table of the side-by-side benchmark; writes BENCHMARKS.md's section")]
struct Args {
    /// the measurements (target, key, label, unit, value; tab-separated)
    #[arg(long)]
    results: PathBuf,
    /// Markdown put before the table
    #[arg(long)]
    preamble: Option<PathBuf>,
    /// Markdown put after the table
    #[arg(long)]
    notes: Option<PathBuf>,
    /// replace the text between the side-by-side markers of this file (appended if absent)
    #[arg(long)]
    write_md: Option<PathBuf>,
}

struct Row {
    key: String,
    label: String,
    unit: String,
    values: [Vec<f64>; 3],
}

fn median(v: &[f64]) -> Option<f64> {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(s[n / 2]),
        _ => Some((s[n / 2 - 1] + s[n / 2]) / 2.0),
    }
}

fn fmt_value(v: Option<f64>) -> String {
    match v {
        None => "–".into(),
        Some(v) if v.abs() >= 100.0 => format!("{v:.0}"),
        Some(v) if v.abs() >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.2}"),
    }
}

/// RaftMFS's figure `a` against another's `b`, above 1 when RaftMFS is better: `a / b`, or
/// `b / a` when lower is better.
fn fmt_ratio(unit: &str, a: Option<f64>, b: Option<f64>) -> String {
    let (a, b) = if unit.contains("lower is better") { (b, a) } else { (a, b) };
    match (a, b) {
        (Some(a), Some(b)) if b != 0.0 => {
            let r = a / b;
            if r >= 10.0 {
                format!("{r:.0}×")
            } else if r >= 0.1 {
                format!("{r:.2}×")
            } else {
                format!("{r:.3}×")
            }
        }
        _ => "–".into(),
    }
}

fn parse(text: &str) -> Result<Vec<Row>> {
    let mut rows: Vec<Row> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != 5 {
            bail!("results line {}: expected 5 tab-separated fields, got {:?}", n + 1, line);
        }
        let t =
            TARGETS.iter().position(|t| *t == f[0]).with_context(|| format!("line {}: target {:?}", n + 1, f[0]))?;
        let value: f64 = f[4].trim().parse().with_context(|| format!("line {}: value {:?}", n + 1, f[4]))?;
        let i = match rows.iter().position(|r| r.key == f[1]) {
            Some(i) => i,
            None => {
                rows.push(Row { key: f[1].into(), label: f[2].into(), unit: f[3].into(), values: Default::default() });
                rows.len() - 1
            }
        };
        rows[i].values[t].push(value);
    }
    Ok(rows)
}

fn table(rows: &[Row]) -> String {
    let mut s = String::new();
    s.push_str("| workload | unit | RaftMFS | MooseFS | local | RaftMFS/MooseFS | RaftMFS/local |\n");
    s.push_str("|---|---|---:|---:|---:|---:|---:|\n");
    for r in rows {
        let m: Vec<Option<f64>> = r.values.iter().map(|v| median(v)).collect();
        let cell = |v: Option<f64>| {
            if r.unit == "count" {
                v.map_or("–".into(), |v| format!("{v:.0}"))
            } else {
                fmt_value(v)
            }
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.label,
            r.unit,
            cell(m[0]),
            cell(m[1]),
            cell(m[2]),
            fmt_ratio(&r.unit, m[0], m[1]),
            fmt_ratio(&r.unit, m[0], m[2])
        );
    }
    s
}

fn main() -> Result<()> {
    let args = Args::parse();
    let text = fs::read_to_string(&args.results).with_context(|| format!("reading {}", args.results.display()))?;
    let rows = parse(&text)?;
    let read = |p: &Option<PathBuf>| -> Result<String> {
        match p {
            Some(p) => fs::read_to_string(p).with_context(|| format!("reading {}", p.display())),
            None => Ok(String::new()),
        }
    };
    let mut section = read(&args.preamble)?;
    if !section.is_empty() && !section.ends_with("\n\n") {
        section.push('\n');
    }
    section.push_str(&table(&rows));
    let notes = read(&args.notes)?;
    if !notes.is_empty() {
        section.push('\n');
        section.push_str(&notes);
    }
    if !section.ends_with('\n') {
        section.push('\n');
    }
    print!("{section}");
    if let Some(md) = &args.write_md {
        let old = fs::read_to_string(md).with_context(|| format!("reading {}", md.display()))?;
        let new = match (old.find(BEGIN), old.find(END)) {
            (Some(b), Some(e)) if b < e => format!("{}{BEGIN}\n{section}{}", &old[..b], &old[e..]),
            _ => format!("{}\n{BEGIN}\n{section}{END}\n", old.trim_end_matches('\n').to_string() + "\n"),
        };
        fs::write(md, new).with_context(|| format!("writing {}", md.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_ratios() {
        let rows = parse(
            "raftmfs\tk\tK\tops/s\t1\nraftmfs\tk\tK\tops/s\t3\nraftmfs\tk\tK\tops/s\t2\nmoosefs\tk\tK\tops/s\t4\n",
        )
        .unwrap();
        let t = table(&rows);
        assert!(t.contains("| K | ops/s | 2.00 | 4.00 | – | 0.50× | – |"), "{t}");
    }

    #[test]
    fn a_lower_is_better_ratio_is_turned_over() {
        // A pause of 0.5 s against 5 s: RaftMFS is ten times better, and the ratio says 10×.
        let rows = parse(
            "raftmfs	p	P	s (lower is better)	0.5
moosefs	p	P	s (lower is better)	5
",
        )
        .unwrap();
        let t = table(&rows);
        assert!(t.contains("| P | s (lower is better) | 0.50 | 5.00 | – | 10× | – |"), "{t}");
    }
}
