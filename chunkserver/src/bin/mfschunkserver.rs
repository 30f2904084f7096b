//! `mfschunkserver [-c CFG] [-f] [start|stop|restart|reload|status]`, as MooseFS.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use chunkserver::ChunkserverConfig;
use clap::{Parser, ValueEnum};
use proto::daemon;
use tokio::signal::unix::{signal, SignalKind};
use tracing_subscriber::{reload, EnvFilter};

/// Program name: names the lock and log files in DATA_PATH.
const PROGRAM: &str = "mfschunkserver";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Action {
    Start,
    Stop,
    Restart,
    Reload,
    Status,
}

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
    /// What to do.
    #[arg(value_enum, default_value = "start")]
    action: Action,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let cfg =
        ChunkserverConfig::from_file(&args.config).with_context(|| format!("reading {}", args.config.display()))?;
    let data = cfg.data_path.clone();
    let bg_args = vec!["-c".to_string(), args.config.display().to_string(), "start".to_string()];
    match args.action {
        Action::Status => match daemon::running_pid(&data, PROGRAM) {
            Some(pid) => println!("{PROGRAM} pid: {pid}"),
            None => {
                println!("{PROGRAM} is not running");
                std::process::exit(1);
            }
        },
        Action::Stop => match daemon::stop(&data, PROGRAM)? {
            Some(pid) => println!("{PROGRAM} (pid {pid}) stopped"),
            None => println!("{PROGRAM} is not running"),
        },
        Action::Reload => match daemon::signal(&data, PROGRAM, libc::SIGHUP) {
            Some(pid) => println!("reload signal sent to {PROGRAM} (pid {pid})"),
            None => anyhow::bail!("{PROGRAM} is not running"),
        },
        Action::Restart | Action::Start => {
            if args.action == Action::Restart {
                if let Some(pid) = daemon::stop(&data, PROGRAM)? {
                    println!("{PROGRAM} (pid {pid}) stopped");
                }
            }
            if args.foreground {
                run_foreground(cfg, args.config)?;
            } else {
                let pid = daemon::start_background(&data, PROGRAM, &bg_args)?;
                println!("{PROGRAM} started (pid {pid}, log {})", data.join(daemon::log_file(PROGRAM)).display());
            }
        }
    }
    Ok(())
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
