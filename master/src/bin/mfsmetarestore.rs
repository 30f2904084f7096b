//! `mfsmetarestore -c mfsmaster.cfg [-s] [-k] [-n] BACKUP`: make a new master group's state
//! from a backup of a master's data folder (`master/src/restore.rs`). `BACKUP` is a master's
//! `DATA_PATH` (a running master's is read without disturbing it), a copy of one, or its
//! `snapshots` folder; the state goes into the `DATA_PATH` of `mfsmaster.cfg`, which must be
//! empty, as the first state of the group its `RAFT_PEERS` lists. Start that master, then the
//! others with empty data folders: they catch up from it.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use master::config::MasterConfig;
use master::restore;
use proto::meta::Timestamp;

#[derive(Parser)]
#[command(
    name = "mfsmetarestore",
    about = "Make a new master group's metadata from a backup of a master's data folder"
)]
struct Args {
    /// mfsmaster.cfg of the master to restore into (its DATA_PATH must be empty)
    #[arg(short = 'c')]
    config: PathBuf,
    /// restore the newest snapshot alone, without the log entries after it
    #[arg(short = 's')]
    snapshot_only: bool,
    /// keep the old group's client sessions (its mounts carry on when the new masters answer at
    /// their addresses); by default they are closed
    #[arg(short = 'k')]
    keep_sessions: bool,
    /// only read the backup and say what it holds
    #[arg(short = 'n')]
    dry_run: bool,
    /// a master's data folder, a copy of one, or its snapshots folder
    backup: PathBuf,
}

fn main() {
    if let Err(e) = run(Args::parse()) {
        eprintln!("mfsmetarestore: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let cfg = MasterConfig::from_file(&args.config).with_context(|| format!("reading {}", args.config.display()))?;
    let mut r = restore::read_backup(&args.backup, args.snapshot_only)?;
    let from = match &r.snapshot {
        Some(s) => format!("snapshot {s} and {} log entries after it", r.entries),
        None => format!("{} log entries", r.entries),
    };
    println!(
        "{}: the state at log index {} ({from}): {} inodes, {} sessions",
        args.backup.display(),
        r.index,
        r.state.ns.inode_count(),
        r.state.sessions.len()
    );
    if args.dry_run {
        return Ok(());
    }
    if !args.keep_sessions {
        let closed = restore::close_sessions(&mut r.state, Timestamp::now());
        if closed > 0 {
            println!("closed the {closed} sessions of the old group (their mounts must mount again)");
        }
    }
    let members = master::bootstrap::members(&cfg);
    let others: Vec<String> = members.keys().filter(|id| **id != cfg.node_id).map(u64::to_string).collect();
    let id = restore::write_new(&cfg.data_path, r.state, members, r.index)?;
    println!(
        "wrote snapshot {id} into {}: start this master (id {}), then the others ({}) with empty data folders, \
         then restart the chunkservers (the new group counts its Raft terms from the start, and a running \
         chunkserver refuses a leader of a term lower than it has seen)",
        cfg.data_path.display(),
        cfg.node_id,
        if others.is_empty() { "none".to_string() } else { others.join(", ") }
    );
    Ok(())
}
