//! `mfsmaster [-c CFG] [-f] [start|stop|restart|reload|status]`, as MooseFS.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use master::config::MasterConfig;
use master::node::Master;
use proto::daemon;
use tokio::signal::unix::{signal, SignalKind};
use tracing_subscriber::{reload, EnvFilter};

/// Program name: names the lock and log files in DATA_PATH.
const PROGRAM: &str = "mfsmaster";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Action {
    Start,
    Stop,
    Restart,
    Reload,
    Status,
}

/// RaftMFS metadata master: one member of the Raft group.
#[derive(Parser, Debug)]
#[command(name = "mfsmaster", version)]
struct Args {
    /// Configuration file.
    #[arg(short = 'c', long = "config", default_value = "/etc/mfs/mfsmaster.cfg")]
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
    let cfg = MasterConfig::from_file(&args.config).with_context(|| format!("reading {}", args.config.display()))?;
    let data = cfg.data_path.clone();
    let bg_args = vec!["-c".to_string(), args.config.display().to_string(), "start".to_string()];
    match args.action {
        Action::Status => match daemon::running_pid(&data, PROGRAM) {
            Some(pid) => println!("mfsmaster pid: {pid}"),
            None => {
                println!("mfsmaster is not running");
                std::process::exit(1);
            }
        },
        Action::Stop => match daemon::stop(&data, PROGRAM)? {
            Some(pid) => println!("mfsmaster (pid {pid}) stopped"),
            None => println!("mfsmaster is not running"),
        },
        Action::Reload => match daemon::signal(&data, PROGRAM, libc::SIGHUP) {
            Some(pid) => println!("reload signal sent to mfsmaster (pid {pid})"),
            None => anyhow::bail!("mfsmaster is not running"),
        },
        Action::Restart | Action::Start => {
            if args.action == Action::Restart {
                if let Some(pid) = daemon::stop(&data, PROGRAM)? {
                    println!("mfsmaster (pid {pid}) stopped");
                }
            }
            if args.foreground {
                run_foreground(cfg, args.config)?;
            } else {
                let pid = daemon::start_background(&data, PROGRAM, &bg_args)?;
                println!("mfsmaster started (pid {pid}, log {})", data.join(daemon::log_file(PROGRAM)).display());
            }
        }
    }
    Ok(())
}

fn run_foreground(cfg: MasterConfig, path: PathBuf) -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(filter_for(&cfg.log_level)));
    let (filter, reload_handle) = reload::Layer::new(filter);
    use tracing_subscriber::prelude::*;
    tracing_subscriber::registry().with(filter).with(tracing_subscriber::fmt::layer().with_target(false)).init();
    let _lock = daemon::lock(&cfg.data_path, PROGRAM)?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let master = Master::start(cfg).await?;
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut hup = signal(SignalKind::hangup())?;
        loop {
            tokio::select! {
                _ = term.recv() => break,
                _ = int.recv() => break,
                _ = hup.recv() => match MasterConfig::from_file(&path) {
                    Ok(new) => {
                        let applied = reload_handle.modify(|f| *f = EnvFilter::new(filter_for(&new.log_level)));
                        tracing::info!(log_level = %new.log_level, ok = applied.is_ok(),
                            "reloaded config (log level applies now; listen addresses and peers need a restart)");
                    }
                    Err(e) => tracing::error!(error = %e, "reload: config rejected, keeping the running one"),
                },
            }
        }
        tracing::info!("stopping");
        master.shutdown().await;
        anyhow::Ok(())
    })
}

/// Our crates at the configured level; openraft one level quieter (it is chatty at info).
fn filter_for(level: &str) -> String {
    format!("warn,master={level},raft_store={level},openraft=warn")
}
