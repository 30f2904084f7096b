//! The daemon's entry point shared by `mfsmaster` and `mfsmetalogger` (the same node, run as a
//! non-voting learner): `-c CFG [-f] [start|stop|restart|reload|status]`, as MooseFS's.

use std::path::PathBuf;

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches, Parser};
use proto::daemon;
use tokio::signal::unix::{signal, SignalKind};
use tracing_subscriber::{reload, EnvFilter};

use crate::config::MasterConfig;
use crate::node::Master;

/// A metadata master: one member of the Raft group.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Configuration file.
    #[arg(short = 'c', long = "config", default_value = "/etc/mfs/mfsmaster.cfg")]
    config: PathBuf,
    /// Run in the foreground (logs to stderr).
    #[arg(short = 'f', long = "foreground")]
    foreground: bool,
    /// What to do: start, stop, restart, reload or status.
    #[arg(default_value = "start")]
    action: daemon::Action,
}

/// Run `program` (`mfsmaster`, or `mfsmetalogger` with `learner`) from the command line;
/// `default_cfg` is its configuration file when `-c` is not given. Never returns.
pub fn main(program: &'static str, default_cfg: &'static str, learner: bool) -> anyhow::Result<()> {
    let cmd = Args::command().name(program).mut_arg("config", |a| a.default_value(default_cfg));
    let args = Args::from_arg_matches(&cmd.get_matches())?;
    let mut cfg =
        MasterConfig::from_file(&args.config).with_context(|| format!("reading {}", args.config.display()))?;
    cfg.learner = learner;
    let data = cfg.data_path.clone();
    let code = daemon::control(args.action, args.foreground, &data, program, &args.config, || {
        run_foreground(cfg, args.config.clone(), program)
    })?;
    std::process::exit(code);
}

fn run_foreground(cfg: MasterConfig, path: PathBuf, program: &str) -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(filter_for(&cfg.log_level)));
    let (filter, reload_handle) = reload::Layer::new(filter);
    use tracing_subscriber::prelude::*;
    tracing_subscriber::registry().with(filter).with(tracing_subscriber::fmt::layer().with_target(false)).init();
    let _lock = daemon::lock(&cfg.data_path, program)?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let master = Master::start(cfg).await?;
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut hup = signal(SignalKind::hangup())?;
        loop {
            tokio::select! {
                reason = master.fatal() => {
                    tracing::error!(%reason, "raft stopped: mfsmaster exits");
                    master.shutdown().await;
                    anyhow::bail!("raft stopped: {reason}");
                }
                _ = term.recv() => break,
                _ = int.recv() => break,
                _ = hup.recv() => {
                    match MasterConfig::from_file(&path) {
                        Ok(new) => {
                            let applied = reload_handle.modify(|f| *f = EnvFilter::new(filter_for(&new.log_level)));
                            tracing::info!(log_level = %new.log_level, ok = applied.is_ok(), "reloaded config");
                            master.reload_config(&new);
                        }
                        Err(e) => tracing::error!(error = %e, "reload: config rejected, keeping the running one"),
                    }
                    master.reload_exports();
                    master.reload_topology();
                }
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
