//! `mfschunkserver [-c CFG] [-f] [start|stop|restart|reload|status]`, as MooseFS.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use chunkserver::ChunkserverConfig;
use clap::Parser;
use proto::daemon;
use tokio::signal::unix::{signal, SignalKind};
use tracing_subscriber::{reload, EnvFilter};

/// Program name: names the lock and log files in DATA_PATH.
const PROGRAM: &str = "mfschunkserver";

/// RaftMFS chunkserver: stores chunk copies and serves them to clients.
#[derive(Parser, Debug)]
#[command(name = "mfschunkserver", version)]
struct Args {
    /// Configuration file.
    #[arg(short = 'c', long = "config", default_value = "/etc/mfs/mfschunkserver.cfg")]
    config: PathBuf,
    /// Run in the foreground (logs to stderr).
    #[arg(short = 'f', long = "foreground")]
    foreground: bool,
    /// What to do: start, stop, restart, reload or status.
    #[arg(default_value = "start")]
    action: daemon::Action,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let cfg =
        ChunkserverConfig::from_file(&args.config).with_context(|| format!("reading {}", args.config.display()))?;
    let data = cfg.data_path.clone();
    let code = daemon::control(args.action, args.foreground, &data, PROGRAM, &args.config, || {
        run_foreground(cfg, args.config.clone())
    })?;
    std::process::exit(code);
}

fn run_foreground(cfg: ChunkserverConfig, path: PathBuf) -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(filter_for(&cfg.log_level)));
    let (filter, reload_handle) = reload::Layer::new(filter);
    use tracing_subscriber::prelude::*;
    // Colours only on a terminal: a background daemon's stderr is its log file.
    let ansi = std::io::stderr().is_terminal();
    tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::fmt::layer().with_target(false).with_ansi(ansi))
        .init();
    // Parse again now that logging is up, so unknown keys are warned about in the log.
    let cfg = ChunkserverConfig::from_file(&path).unwrap_or(cfg);
    std::fs::create_dir_all(&cfg.data_path).with_context(|| format!("creating {}", cfg.data_path.display()))?;
    let _lock = daemon::lock(&cfg.data_path, PROGRAM)?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let running = chunkserver::run(cfg).await?;
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut hup = signal(SignalKind::hangup())?;
        loop {
            tokio::select! {
                _ = term.recv() => break,
                _ = int.recv() => break,
                _ = hup.recv() => match ChunkserverConfig::from_file(&path) {
                    Ok(new) => {
                        let applied = reload_handle.modify(|f| *f = EnvFilter::new(filter_for(&new.log_level)));
                        tracing::info!(log_level = %new.log_level, ok = applied.is_ok(),
                            "reloaded config (log level, disks and HDD_LEAVE_SPACE_DEFAULT apply now; \
                             ports and masters need a restart)");
                        if let Err(e) = running.reload(&new).await {
                            tracing::error!(error = %e, "reload: mfshdd.cfg rejected, keeping the disks in use");
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "reload: config rejected, keeping the running one"),
                },
            }
        }
        tracing::info!("stopping");
        running.shutdown().await;
        anyhow::Ok(())
    })
}

/// Our crate at the configured level; everything else at warn.
fn filter_for(level: &str) -> String {
    format!("warn,chunkserver={level},mfschunkserver={level}")
}
