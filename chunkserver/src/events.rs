//! Reports to the master about copies appearing or going away outside of commands (a disk
//! added to or removed from `mfshdd.cfg`), queued until the master link is registered with a
//! leader and then sent in order. Damage is not reported here: the store's damage book keeps
//! it until the master link sends it (nothing is ever dropped), see `store::damage`.

use proto::cs::{ChunkReport, CsToMaster};
use tokio::sync::mpsc;

/// Reports queued while no leader is connected; past this, new ones are dropped with a
/// warning (the next registration lists every copy held anyway).
pub const EVENT_QUEUE: usize = 16_384;

/// The sending side of the event queue.
#[derive(Clone)]
pub struct Events {
    tx: mpsc::Sender<CsToMaster>,
}

impl Events {
    /// A queue; the receiver goes to the master link.
    pub fn channel() -> (Events, mpsc::Receiver<CsToMaster>) {
        let (tx, rx) = mpsc::channel(EVENT_QUEUE);
        (Events { tx }, rx)
    }

    /// A copy is no longer served (its disk left `mfshdd.cfg`).
    pub fn lost(&self, chunk: &ChunkReport, reason: &str) {
        self.send(CsToMaster::ChunkLost { id: chunk.id, version: chunk.version, reason: reason.to_string() });
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
