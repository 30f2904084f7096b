//! Reports to the master outside of commands (`ChunkDamaged`, `ChunkAdded`), queued until
//! the master link is registered with a leader and then sent in order.

use std::sync::Arc;

use proto::cs::{ChunkReport, CsError, CsToMaster};
use tokio::sync::mpsc;

use crate::metrics::Metrics;
use crate::store::Store;

/// Reports queued while no leader is connected; past this, new ones are dropped with a
/// warning (damaged copies are re-reported after every registration anyway).
pub const EVENT_QUEUE: usize = 16_384;

/// The sending side of the event queue.
#[derive(Clone)]
pub struct Events {
    tx: mpsc::Sender<CsToMaster>,
    store: Arc<Store>,
    metrics: Arc<Metrics>,
}

impl Events {
    /// A queue; the receiver goes to the master link.
    pub fn channel(store: Arc<Store>, metrics: Arc<Metrics>) -> (Events, mpsc::Receiver<CsToMaster>) {
        let (tx, rx) = mpsc::channel(EVENT_QUEUE);
        (Events { tx, store, metrics }, rx)
    }

    /// A copy failed a CRC check or an I/O error: log it, remember it, tell the master.
    pub fn damaged(&self, id: u64, version: u32, err: &CsError, during: &str) {
        let path = self.store.path_of(id).map(|p| p.display().to_string()).unwrap_or_default();
        tracing::warn!(chunk = format_args!("{id:016X}"), version, path = %path, error = %err, during, "damaged chunk copy");
        self.metrics.crc_errors.inc();
        let reason = format!("{err} (during {during}, {path})");
        self.store.mark_damaged(id, version, reason.clone());
        self.send(CsToMaster::ChunkDamaged { id, version, reason });
    }

    /// A copy is no longer served (its disk left `mfshdd.cfg`).
    pub fn lost(&self, chunk: &ChunkReport, reason: &str) {
        self.send(CsToMaster::ChunkDamaged { id: chunk.id, version: chunk.version, reason: reason.to_string() });
    }

    /// A copy appeared, or its `to_remove` mark changed.
    pub fn added(&self, chunk: ChunkReport) {
        self.send(CsToMaster::ChunkAdded { chunk });
    }

    fn send(&self, msg: CsToMaster) {
        if let Err(e) = self.tx.try_send(msg) {
            tracing::warn!(error = %e, "master report queue full, report dropped");
        }
    }
}
