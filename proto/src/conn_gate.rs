//! A cap on the open connections of one listening port.
//!
//! Every accept loop asks its port's [`ConnGate`] to admit a new connection before serving it;
//! over the cap the connection is closed at once, counted, and reported by a warning at most
//! every [`WARN_EVERY`] (with how many were refused since the last one), so a flood of
//! connections costs neither memory nor a log line each. An admitted connection holds a
//! [`ConnSlot`] until it ends.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Shortest time between two warnings about refused connections on one port.
pub const WARN_EVERY: Duration = Duration::from_secs(10);

/// The connection cap of one port.
pub struct ConnGate {
    /// The port's name in logs and metrics ("client", "data", "http", ...).
    port: &'static str,
    /// The config key that sets the cap, named in the warning.
    key: &'static str,
    max: usize,
    open: AtomicUsize,
    refused: AtomicU64,
    on_refuse: Box<dyn Fn() + Send + Sync>,
    warned: Mutex<Warned>,
}

#[derive(Default)]
struct Warned {
    last: Option<Instant>,
    since: u64,
}

/// An admitted connection's place under the cap, given back when dropped.
pub struct ConnSlot(Arc<ConnGate>);

impl Drop for ConnSlot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

impl std::fmt::Debug for ConnSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ConnSlot({})", self.0.port)
    }
}

impl ConnGate {
    /// A cap of `max` open connections on `port` (set by config key `key`); `on_refuse` is
    /// called for each refused connection (a metric).
    pub fn new(
        port: &'static str,
        key: &'static str,
        max: usize,
        on_refuse: impl Fn() + Send + Sync + 'static,
    ) -> Arc<ConnGate> {
        Arc::new(ConnGate {
            port,
            key,
            max,
            open: AtomicUsize::new(0),
            refused: AtomicU64::new(0),
            on_refuse: Box::new(on_refuse),
            warned: Mutex::new(Warned::default()),
        })
    }

    /// A slot for a new connection from `peer`, or `None` when the port is at its cap: the
    /// caller then drops the connection at once.
    pub fn admit(self: &Arc<Self>, peer: SocketAddr) -> Option<ConnSlot> {
        let admitted = self.open.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n < self.max).then_some(n + 1));
        if admitted.is_ok() {
            return Some(ConnSlot(self.clone()));
        }
        self.refused.fetch_add(1, Ordering::Relaxed);
        (self.on_refuse)();
        let mut w = self.warned.lock().unwrap_or_else(|e| e.into_inner());
        w.since += 1;
        if w.last.is_none_or(|t| t.elapsed() >= WARN_EVERY) {
            tracing::warn!(
                port = self.port,
                %peer,
                refused = w.since,
                "{} port at its cap of {} open connections ({}): new connections are closed at once \
                 ({} refused since the last warning)",
                self.port,
                self.max,
                self.key,
                w.since
            );
            w.last = Some(Instant::now());
            w.since = 0;
        }
        None
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    /// Connections refused since start.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// The cap.
    pub fn max(&self) -> usize {
        self.max
    }

    /// The port's name.
    pub fn port(&self) -> &'static str {
        self.port
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_up_to_the_cap_and_frees_slots_on_drop() {
        let hits = Arc::new(AtomicU64::new(0));
        let h = hits.clone();
        let gate = ConnGate::new("test", "TEST_MAX", 2, move || {
            h.fetch_add(1, Ordering::SeqCst);
        });
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let a = gate.admit(peer).expect("first");
        let _b = gate.admit(peer).expect("second");
        assert!(gate.admit(peer).is_none());
        assert!(gate.admit(peer).is_none());
        assert_eq!((gate.open(), gate.refused(), hits.load(Ordering::SeqCst)), (2, 2, 2));
        drop(a);
        assert_eq!(gate.open(), 1);
        assert!(gate.admit(peer).is_some(), "a freed slot is available again");
    }
}
