//! Recording a history from concurrent clients.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use crate::history::{History, OpId, Operation, Outcome};

/// Records calls and their outcomes from any number of threads, with times from one monotonic clock.
///
/// Cheap to clone (the clones share one history); `Send + Sync` when inputs and outputs are `Send`.
/// Call [`invoke`](Recorder::invoke) just before issuing a request and [`complete`](Recorder::complete)
/// just after its answer arrived, or [`unknown`](Recorder::unknown) when the answer will never be known.
pub struct Recorder<I, O> {
    shared: Arc<Shared<I, O>>,
}

/// What the clones of one recorder share.
struct Shared<I, O> {
    /// The clock's zero.
    start: Instant,
    /// Every call so far, indexed by [`OpId`].
    slots: Mutex<Vec<Slot<I, O>>>,
}

/// One call and whether its outcome has been settled (returned or declared unknown).
struct Slot<I, O> {
    op: Operation<I, O>,
    settled: bool,
}

impl<I, O> Clone for Recorder<I, O> {
    fn clone(&self) -> Self {
        Recorder { shared: Arc::clone(&self.shared) }
    }
}

impl<I, O> Default for Recorder<I, O> {
    fn default() -> Self {
        Self::new()
    }
}

impl<I, O> Recorder<I, O> {
    /// A recorder whose clock starts now.
    pub fn new() -> Self {
        Recorder { shared: Arc::new(Shared { start: Instant::now(), slots: Mutex::new(Vec::new()) }) }
    }

    /// Nanoseconds since the recorder was made.
    pub fn now(&self) -> u64 {
        u64::try_from(self.shared.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Records that `client` is about to issue `input`; call it before sending the request.
    pub fn invoke(&self, client: u32, input: I) -> OpId {
        let call = self.now();
        let mut slots = self.slots();
        slots.push(Slot { op: Operation::unknown(client, input, call), settled: false });
        OpId(slots.len() - 1)
    }

    /// Records that call `id` returned `output`; call it after the answer arrived. Ignored if `id` is not
    /// this recorder's or its outcome was already recorded (the first word stands).
    pub fn complete(&self, id: OpId, output: O) {
        let at = self.now();
        if let Some(slot) = self.slots().get_mut(id.0).filter(|slot| !slot.settled) {
            slot.op.outcome = Outcome::Returned { output, at };
            slot.settled = true;
        }
    }

    /// Records that the outcome of call `id` will never be known (timeout, failover error, dead client):
    /// it may have taken effect at any time after its call, or never. Ignored like [`complete`](Self::complete).
    pub fn unknown(&self, id: OpId) {
        let noted = self.now();
        if let Some(slot) = self.slots().get_mut(id.0).filter(|slot| !slot.settled) {
            slot.op.outcome = Outcome::Unknown { noted: Some(noted) };
            slot.settled = true;
        }
    }

    /// How many calls were recorded so far.
    pub fn len(&self) -> usize {
        self.slots().len()
    }

    /// Whether no call was recorded yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The slots, even if a client panicked while holding the lock (each update is a single assignment,
    /// so the data is never half-written).
    fn slots(&self) -> MutexGuard<'_, Vec<Slot<I, O>>> {
        self.shared.slots.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<I: Clone, O: Clone> Recorder<I, O> {
    /// The history recorded so far. Calls still pending count as unknown (their client may have died);
    /// record nothing more once the clients have stopped, or call it again for a later snapshot.
    pub fn finish(&self) -> History<I, O> {
        History::new(self.slots().iter().map(|slot| slot.op.clone()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_returns_unknowns_and_pending_calls() {
        let rec: Recorder<&str, u32> = Recorder::new();
        let a = rec.invoke(1, "a");
        let b = rec.invoke(2, "b");
        let _c = rec.invoke(3, "c");
        rec.complete(a, 7);
        rec.unknown(b);
        rec.complete(b, 9); // too late: b was declared unknown
        rec.complete(OpId(99), 1); // not ours
        let h = rec.finish();
        assert_eq!(h.len(), 3);
        assert_eq!(h.ops()[0].output(), Some(&7));
        assert!(h.ops()[0].return_time() >= Some(h.ops()[0].call));
        assert!(matches!(h.ops()[1].outcome, Outcome::Unknown { noted: Some(_) }));
        assert!(matches!(h.ops()[2].outcome, Outcome::Unknown { noted: None }));
        assert!(h.ops()[0].call <= h.ops()[1].call && h.ops()[1].call <= h.ops()[2].call);
    }

    #[test]
    fn clones_share_one_history_across_threads() {
        let rec: Recorder<u32, u32> = Recorder::new();
        let threads: Vec<_> = (0..4)
            .map(|client| {
                let rec = rec.clone();
                std::thread::spawn(move || {
                    for i in 0..100 {
                        let id = rec.invoke(client, i);
                        rec.complete(id, i);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().ok();
        }
        let h = rec.finish();
        assert_eq!(h.len(), 400);
        assert_eq!(h.unknown_count(), 0);
    }
}
