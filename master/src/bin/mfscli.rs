//! `mfscli`: print every master's Raft role, term and indexes, and change the group.
//!
//! `mfscli -H 127.0.0.11:9425,127.0.0.12:9425` or `mfscli -c /etc/mfs/mfsmaster.cfg`
//! (which lists the peers); `-j` prints the raw JSON. With `-c` on a master host, the group
//! can be changed online (`membership.rs`), speaking as that master:
//!
//! ```text
//! mfscli -c /etc/mfs/mfsmaster.cfg add-master 4@host4          # learner, catches up, votes
//! mfscli -c /etc/mfs/mfsmaster.cfg remove-master 3
//! mfscli -c /etc/mfs/mfsmaster.cfg replace-master 3 4@host4    # a dead master by a new one
//! mfscli -c /etc/mfs/mfsmaster.cfg add-learner 9@host9         # an mfsmetalogger
//! mfscli -c /etc/mfs/mfsmaster.cfg promote 9                   # a learner becomes a voter
//! ```

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use master::config::MasterConfig;
use master::http::Status;
use master::membership::{self, Change};

/// Show the state of the master group, or change it.
#[derive(Parser, Debug)]
#[command(name = "mfscli", version)]
struct Args {
    /// HTTP addresses of the masters, comma-separated (host:port; port defaults to 9425).
    #[arg(short = 'H', long = "hosts")]
    hosts: Option<String>,
    /// Take the masters from this mfsmaster.cfg's RAFT_PEERS (and speak as this master for
    /// changes of the group).
    #[arg(short = 'c', long = "config")]
    config: Option<PathBuf>,
    /// Print JSON lines instead of a table.
    #[arg(short = 'j', long = "json")]
    json: bool,
    #[command(subcommand)]
    change: Option<Cmd>,
}

/// Changes of the group (need `-c`, run on a master host).
#[derive(Subcommand, Debug)]
enum Cmd {
    /// Add a master (ID@HOST[:RAFTPORT[:CLIENTPORT[:HTTPPORT[:CSPORT]]]]): it joins as a learner,
    /// catches up by snapshot, then votes.
    AddMaster { node: String },
    /// Remove a master (or a learner) from the group.
    RemoveMaster { id: u64 },
    /// Replace master ID (dead, or to retire) by a new one, which catches up first.
    ReplaceMaster { id: u64, node: String },
    /// Add a non-voting learner that keeps a full copy (an mfsmetalogger).
    AddLearner { node: String },
    /// Make a learner a voter once it has caught up.
    Promote { id: u64 },
}

fn fmt_idx(i: Option<u64>) -> String {
    i.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    if let Some(cmd) = &args.change {
        let Some(path) = &args.config else {
            anyhow::bail!("changing the group needs -c mfsmaster.cfg (run on a master host: the command speaks as it)");
        };
        let cfg = MasterConfig::from_file(path)?;
        let change = match cmd {
            Cmd::AddMaster { node } => {
                let (id, node) = membership::parse_node(node).map_err(anyhow::Error::msg)?;
                Change::AddMaster { id, node }
            }
            Cmd::RemoveMaster { id } => Change::Remove { id: *id },
            Cmd::ReplaceMaster { id, node } => {
                let (new_id, node) = membership::parse_node(node).map_err(anyhow::Error::msg)?;
                Change::Replace { id: *id, new_id, node }
            }
            Cmd::AddLearner { node } => {
                let (id, node) = membership::parse_node(node).map_err(anyhow::Error::msg)?;
                Change::AddLearner { id, node }
            }
            Cmd::Promote { id } => Change::Promote { id: *id },
        };
        match rt.block_on(membership::request(&cfg, change)) {
            Ok(line) => {
                println!("{line}");
                return Ok(());
            }
            Err(e) => {
                eprintln!("mfscli: {e}");
                std::process::exit(1);
            }
        }
    }
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
    let mut group = None;
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
                if s.role == "leader" || group.is_none() {
                    group = Some((s.voters.clone(), s.learners.clone()));
                }
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
    if let Some((voters, learners)) = group {
        println!("voters: {voters:?}  learners: {learners:?}");
    }
    if failures == hosts.len() {
        std::process::exit(1);
    }
    Ok(())
}
