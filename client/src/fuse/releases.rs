//! Releases (the last close of a handle) sent to the masters in batches.
//!
//! A release only drops an open reference the masters keep for this session (so that a file
//! unlinked while open lives until it is closed); nothing waits for it: the kernel sends
//! RELEASE after `close` has returned. Yet each is a Raft entry, and sent at once it takes the
//! place of the next operation in the commit pipeline: a loop of create + close paid two
//! quorum commits per file. So releases wait here up to [`RELEASE_DELAY`] and then go out
//! together, which the leader commits in one append. A file unlinked while open is freed that
//! much later. At unmount `CloseSession` drops every reference of the session, including those
//! still waiting here; a mount that dies has its session (and references) expire.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use proto::client::WriteOp;
use proto::meta::{Creds, Ino};
use tokio::task::JoinSet;

use crate::master_client::MasterClient;

/// Longest time a release waits for others to go out with.
pub const RELEASE_DELAY: Duration = Duration::from_millis(50);
/// Most releases sent at once (the rest go in the next batch, at once).
const MAX_BATCH: usize = 256;

#[derive(Default)]
struct Queue {
    pending: Vec<(Creds, Ino)>,
    /// True while a sender task exists (it exits when it finds the queue empty).
    sending: bool,
}

/// The releases of one mount waiting to be sent.
pub struct Releases {
    meta: Arc<MasterClient>,
    queue: Mutex<Queue>,
}

impl Releases {
    pub fn new(meta: Arc<MasterClient>) -> Arc<Releases> {
        Arc::new(Releases { meta, queue: Mutex::new(Queue::default()) })
    }

    /// Queue the release of one open reference of `ino`. Needs a Tokio runtime.
    pub fn push(self: &Arc<Self>, creds: Creds, ino: Ino) {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        q.pending.push((creds, ino));
        if !q.sending {
            q.sending = true;
            tokio::spawn(self.clone().send_loop());
        }
    }

    async fn send_loop(self: Arc<Self>) {
        let mut wait = true;
        loop {
            if wait {
                tokio::time::sleep(RELEASE_DELAY).await;
            }
            let batch: Vec<(Creds, Ino)> = {
                let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
                if q.pending.is_empty() {
                    q.sending = false;
                    return;
                }
                let n = q.pending.len().min(MAX_BATCH);
                q.pending.drain(..n).collect()
            };
            wait = batch.len() < MAX_BATCH;
            let mut sends = JoinSet::new();
            for (creds, ino) in batch {
                let meta = self.meta.clone();
                sends.spawn(async move { (ino, meta.write(&creds, WriteOp::Release { ino }).await) });
            }
            while let Some(done) = sends.join_next().await {
                match done {
                    Ok((_, Ok(_))) => {}
                    Ok((ino, Err(e))) => tracing::warn!(ino, error = %e, "release not recorded by the masters"),
                    Err(e) => tracing::error!(error = %e, "release task failed"),
                }
            }
        }
    }
}
