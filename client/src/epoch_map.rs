//! A per-inode map whose every removal bumps an epoch, for the mount's caches.
//!
//! An answer can be older than a drop that lands while it is on its way (a `getattr` or a
//! chunk location racing this mount's own write): kept, it would serve stale data for a whole
//! TTL. So a request takes a [`Ticket`] before it is sent, and its answer goes in only if no
//! removal happened since ([`EpochMap::insert_space`]).

use std::collections::HashMap;

use proto::meta::Ino;

/// The map's epoch when a request was sent: its answer may be kept only in that epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ticket(u64);

/// Values by inode, with an epoch bumped by every removal.
pub(crate) struct EpochMap<V> {
    epoch: u64,
    map: HashMap<Ino, V>,
}

impl<V> Default for EpochMap<V> {
    fn default() -> Self {
        EpochMap { epoch: 0, map: HashMap::new() }
    }
}

impl<V> EpochMap<V> {
    pub fn ticket(&self) -> Ticket {
        Ticket(self.epoch)
    }

    pub fn get(&self, ino: Ino) -> Option<&V> {
        self.map.get(&ino)
    }

    /// The map, to add an answer to a request sent with `ticket`; `None` when something was
    /// removed since (the answer may predate it).
    pub fn insert_space(&mut self, ticket: Ticket) -> Option<&mut HashMap<Ino, V>> {
        (ticket.0 == self.epoch).then_some(&mut self.map)
    }

    pub fn remove(&mut self, ino: Ino) {
        self.epoch += 1;
        self.map.remove(&ino);
    }

    pub fn clear(&mut self) {
        self.epoch += 1;
        self.map.clear();
    }
}
