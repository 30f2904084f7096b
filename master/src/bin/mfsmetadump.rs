//! `mfsmetadump [-c CFG | DIR]`: the metadata of a master as text (MooseFS has `mfsmetadump`),
//! from the newest snapshot in its data folder: `DIR` is the data folder (or its `snapshots`
//! folder); with `-c`, the `DATA_PATH` of that `mfsmaster.cfg`. Safe beside a running master
//! (it only reads). The dump shows the state at the snapshot's log index, named in its header;
//! the record format is described in `master/src/namespace/dump.rs`. Session secrets are never
//! printed.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Parser;
use master::config::MasterConfig;
use master::raft_types::TypeConfig;
use raft_store::SnapshotFiles;

#[derive(Parser)]
#[command(name = "mfsmetadump", about = "Print a master's metadata (its newest snapshot) as text")]
struct Args {
    /// mfsmaster.cfg whose DATA_PATH to read
    #[arg(short = 'c')]
    config: Option<PathBuf>,
    /// the data folder, or its snapshots folder
    dir: Option<PathBuf>,
}

fn main() {
    if let Err(e) = run(Args::parse()) {
        eprintln!("mfsmetadump: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let dir = match (&args.config, &args.dir) {
        (Some(cfg), None) => {
            MasterConfig::from_file(cfg).with_context(|| format!("reading {}", cfg.display()))?.data_path
        }
        (None, Some(d)) => d.clone(),
        _ => bail!("give either -c mfsmaster.cfg or the data folder"),
    };
    let snaps = if dir.join("snapshots").is_dir() { dir.join("snapshots") } else { dir };
    let files =
        SnapshotFiles::open_read_only(&snaps).with_context(|| format!("no snapshots in {}", snaps.display()))?;
    let Some((meta, data)) = files.load_latest::<TypeConfig>()? else {
        bail!("{}: no snapshot yet (a master writes one after RAFT_SNAPSHOT_LOGS entries)", snaps.display());
    };
    let state = master::sm_store::decode_state(&data).context("decoding the snapshot")?;
    let mut out = BufWriter::new(std::io::stdout().lock());
    writeln!(out, "# snapshot {} of {}", meta.snapshot_id, snaps.display())?;
    state.dump(&mut out)?;
    out.flush()?;
    Ok(())
}
