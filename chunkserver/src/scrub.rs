//! The background scrubber: every `HDD_TEST_FREQ` seconds it checks every block of one chunk
//! (round robin by id); the bad blocks it finds go into the damage book and from there to the
//! leader, as a read's would. A copy out of service is skipped; a shortage of resources skips
//! a turn.

use std::sync::Arc;
use std::time::Duration;

use proto::cs::CsError;

use crate::metrics::Metrics;
use crate::store::Store;

/// Check one chunk every `every`, forever (until the task is dropped).
pub async fn run(store: Arc<Store>, metrics: Arc<Metrics>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let mut cursor: Option<u64> = None;
    loop {
        tick.tick().await;
        let Some(id) = store.next_chunk_after(cursor) else { continue };
        cursor = Some(id);
        match store.verify(id).await {
            Ok(_) => metrics.scrubbed.inc(),
            // Found out of service meanwhile (the store recorded it): checked.
            Err(CsError::Unusable(_)) => metrics.scrubbed.inc(),
            // Deleted or renumbered meanwhile: nothing to check.
            Err(CsError::NoChunk | CsError::WrongVersion { .. }) => {}
            Err(e) => tracing::debug!(chunk = format_args!("{id:016X}"), error = %e, "scrub skipped"),
        }
    }
}
