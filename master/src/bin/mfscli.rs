//! `mfscli`: print every master's Raft role, term and indexes.
//!
//! `mfscli -H 127.0.0.11:9425,127.0.0.12:9425` or `mfscli -c /etc/mfs/mfsmaster.cfg`
//! (which lists the peers); `-j` prints the raw JSON.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use master::config::MasterConfig;
use master::http::Status;

/// Show the state of the master group.
#[derive(Parser, Debug)]
#[command(name = "mfscli", version)]
struct Args {
    /// HTTP addresses of the masters, comma-separated (host:port; port defaults to 9425).
    #[arg(short = 'H', long = "hosts")]
    hosts: Option<String>,
    /// Take the masters from this mfsmaster.cfg's RAFT_PEERS.
    #[arg(short = 'c', long = "config")]
    config: Option<PathBuf>,
    /// Print JSON lines instead of a table.
    #[arg(short = 'j', long = "json")]
    json: bool,
}

fn fmt_idx(i: Option<u64>) -> String {
    i.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let hosts: Vec<String> = if let Some(h) = &args.hosts {
        h.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| if s.contains(':') { s.to_string() } else { format!("{s}:9425") })
            .collect()
    } else if let Some(c) = &args.config {
        MasterConfig::from_file(c)?.peers.iter().map(|p| p.http_addr()).collect()
    } else {
        anyhow::bail!("give the masters with -H host:port,... or -c mfsmaster.cfg");
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let mut failures = 0;
    if !args.json {
        println!(
            "{:<22} {:>3} {:<10} {:>6} {:>7} {:>10} {:>10} {:>10} {:>10} {:>9} {:>8}",
            "master",
            "id",
            "role",
            "term",
            "leader",
            "last_log",
            "committed",
            "applied",
            "snapshot",
            "inodes",
            "health"
        );
    }
    for h in &hosts {
        match rt.block_on(master::admin::http_get(h, "/api/v1/status", Duration::from_secs(3))) {
            Ok((200, body)) => {
                if args.json {
                    println!("{}", body.trim());
                    continue;
                }
                let s: Status = serde_json::from_str(&body)?;
                println!(
                    "{:<22} {:>3} {:<10} {:>6} {:>7} {:>10} {:>10} {:>10} {:>10} {:>9} {:>8}",
                    h,
                    s.id,
                    s.role,
                    s.term,
                    fmt_idx(s.leader_id),
                    fmt_idx(s.last_log_index),
                    fmt_idx(s.committed_index),
                    fmt_idx(s.applied_index),
                    fmt_idx(s.snapshot_index),
                    s.inodes,
                    if s.healthy { "ok" } else { "NO QUORUM" }
                );
            }
            Ok((code, _)) => {
                failures += 1;
                println!("{h:<22} HTTP {code}");
            }
            Err(e) => {
                failures += 1;
                println!("{h:<22} unreachable: {e}");
            }
        }
    }
    if failures == hosts.len() {
        std::process::exit(1);
    }
    Ok(())
}
