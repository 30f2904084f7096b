//! Starting and stopping a chunkserver: [`run`] opens the disks, binds the data and HTTP
//! ports, and starts the master link, the scrubber and the idle-file closer; the returned
//! [`Running`] reloads the disk list and shuts it all down.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::commands::Commands;
use crate::config::ChunkserverConfig;
use crate::conn_pool::ConnPool;
use crate::data_server::DataServer;
use crate::error::Error;
use crate::events::Events;
use crate::hdd::read_hdd_file;
use crate::http::HttpState;
use crate::master_link::{LinkConfig, LinkState, MasterLink};
use crate::metrics::Metrics;
use crate::store::{ReloadReport, Store};

/// How long a connection to another chunkserver may take to open.
const PEER_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A chunk file unused this long is fsync'd and closed (open descriptors are bounded by
/// the chunks in active use).
const OPEN_FILE_IDLE: Duration = Duration::from_secs(30);
/// How often idle files are looked for.
const IDLE_SWEEP: Duration = Duration::from_secs(5);

/// A running chunkserver.
pub struct Running {
    /// Where the data port listens.
    pub data_addr: SocketAddr,
    /// Where the HTTP port listens.
    pub http_addr: SocketAddr,
    store: Arc<Store>,
    link: Arc<LinkState>,
    events: Events,
    tasks: Vec<JoinHandle<()>>,
}

/// Start a chunkserver: open and scan the disks of `cfg.hdd_conf`, bind the data and HTTP
/// ports, and connect to the masters in the background.
pub async fn run(cfg: ChunkserverConfig) -> Result<Running, Error> {
    let entries = read_hdd_file(&cfg.hdd_conf)?;
    let leave = cfg.leave_space_default;
    let store = tokio::task::spawn_blocking(move || Store::open(&entries, leave))
        .await
        .map_err(|e| Error::Disks(format!("disk scan task failed: {e}")))?
        .map_err(Error::Disks)?;
    let store = Arc::new(store);
    let metrics = Arc::new(Metrics::new());
    let (events, events_rx) = Events::channel();
    let pool = Arc::new(ConnPool::new(PEER_CONNECT_TIMEOUT));

    let data_listen = cfg.data_listen();
    let data_listener = TcpListener::bind(&data_listen).await.map_err(|source| Error::Listen {
        addr: data_listen.clone(),
        what: "data",
        source,
    })?;
    let http_listen = cfg.http_listen();
    let http_listener = TcpListener::bind(&http_listen).await.map_err(|source| Error::Listen {
        addr: http_listen.clone(),
        what: "HTTP",
        source,
    })?;
    let data_addr = data_listener.local_addr()?;
    let http_addr = http_listener.local_addr()?;
    tracing::info!(data = %data_addr, http = %http_addr, chunks = store.chunk_count(), "chunkserver listening");

    let link = Arc::new(LinkState::default());
    let keys = Arc::new(crate::tokens::KeyRing::default());
    let mut tasks = Vec::new();
    let data_server = Arc::new(DataServer {
        store: store.clone(),
        metrics: metrics.clone(),
        pool: pool.clone(),
        limits: cfg.net.clone(),
        keys: keys.clone(),
        link: link.clone(),
    });
    tasks.push(tokio::spawn(data_server.serve(data_listener)));

    let commands = Arc::new(Commands { store: store.clone(), pool, metrics: metrics.clone(), keys: keys.clone() });
    let master_link = MasterLink {
        cfg: LinkConfig {
            masters: cfg.masters.clone(),
            reconnection_delay: cfg.master_reconnection_delay,
            timeout: cfg.master_timeout,
            heartbeat: cfg.heartbeat,
            bind_host: cfg.bind_host.clone(),
            data_host: cfg.data_listen_host.clone(),
            http_host: cfg.http_listen_host.clone(),
            data_port: data_addr.port(),
            http_port: http_addr.port(),
            auth_code: cfg.auth_code.clone(),
        },
        store: store.clone(),
        metrics: metrics.clone(),
        commands,
        state: link.clone(),
        keys: keys.clone(),
    };
    tasks.push(tokio::spawn(master_link.run(events_rx)));

    if let Some(every) = cfg.hdd_test_freq {
        tasks.push(tokio::spawn(crate::scrub::run(store.clone(), metrics.clone(), every)));
    }
    {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(IDLE_SWEEP);
            loop {
                tick.tick().await;
                store.close_idle(OPEN_FILE_IDLE).await;
            }
        }));
    }
    let http_state =
        HttpState { store: store.clone(), metrics, link: link.clone(), data_listen: data_addr.to_string() };
    tasks.push(tokio::spawn(crate::http::serve(http_listener, http_state, cfg.net.http_max_connections)));

    Ok(Running { data_addr, http_addr, store, link, events, tasks })
}

impl Running {
    /// The disks and chunks.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The master link's state (leader, term, advertised address).
    pub fn link(&self) -> &Arc<LinkState> {
        &self.link
    }

    /// Re-read `mfshdd.cfg` (from `cfg`) and apply it: added disks are scanned in and their
    /// copies reported (`ChunkAdded`), removed disks' copies are reported lost (`ChunkLost`),
    /// copies whose `*` mark changed are reported again (`ChunkAdded`).
    pub async fn reload(&self, cfg: &ChunkserverConfig) -> Result<ReloadReport, Error> {
        let entries = read_hdd_file(&cfg.hdd_conf)?;
        self.store.set_leave_default(cfg.leave_space_default);
        let report = self.store.reload(entries).await;
        for c in &report.removed {
            self.events.lost(c, "its disk was removed from mfshdd.cfg");
        }
        for c in report.added.iter().chain(&report.changed) {
            self.events.added(c.clone());
        }
        tracing::info!(
            disks_added = report.disks_added.len(),
            disks_removed = report.disks_removed.len(),
            chunks_added = report.added.len(),
            chunks_removed = report.removed.len(),
            chunks_remarked = report.changed.len(),
            "mfshdd.cfg reloaded"
        );
        Ok(report)
    }

    /// Stop: close the ports and the master link, fsync and close every open chunk file,
    /// release the disks.
    pub async fn shutdown(mut self) {
        for t in &self.tasks {
            t.abort();
        }
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
        self.store.close_all().await;
        tracing::info!("chunkserver stopped");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
