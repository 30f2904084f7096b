//! The leader's soft state about chunkservers: who is connected, their space and load, and
//! which chunk copies each one reported. Lost on a leader change and re-learned from the
//! chunkservers' registrations, as in MooseFS.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use proto::cs::{ChunkReport, DamageReport, SpaceReport};
use proto::data::BLOCK_SIZE;
use proto::meta::CHUNK_SIZE;

use super::link::CsLink;
use super::placement::Candidate;
use crate::namespace::ChunkMeta;

/// Blocks in a chunk: a bad block number must be below this.
pub const CHUNK_BLOCKS: u32 = (CHUNK_SIZE / BLOCK_SIZE as u64) as u32;

/// What its chunkserver reported wrong with a copy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Damage {
    #[default]
    None,
    /// These 64 KiB blocks are bad (sorted, never empty): never served; the copy's other
    /// blocks serve, and the leader has the bad ones rewritten from other copies.
    Blocks(Vec<u32>),
    /// The whole copy is out of service (its fsync failed, its file is missing): nothing of
    /// it is served and it does not count as a copy, but it is kept until the goal is met by
    /// whole copies elsewhere.
    Whole,
}

impl Damage {
    /// The damage a report says: no blocks means the whole copy. `None` for a report naming
    /// only blocks past the end of a chunk (nonsense from the network: ignored).
    pub fn from_report(blocks: &[u32]) -> Option<Damage> {
        if blocks.is_empty() {
            return Some(Damage::Whole);
        }
        let mut v: Vec<u32> = blocks.iter().copied().filter(|b| *b < CHUNK_BLOCKS).collect();
        v.sort_unstable();
        v.dedup();
        (!v.is_empty()).then_some(Damage::Blocks(v))
    }

    /// The damage after a repair that left `bad` blocks bad.
    pub fn after_repair(bad: &[u32]) -> Damage {
        if bad.is_empty() {
            return Damage::None;
        }
        Damage::from_report(bad).unwrap_or_default()
    }

    /// False when nothing of the copy may be read.
    pub fn is_usable(&self) -> bool {
        !matches!(self, Damage::Whole)
    }

    /// Bad blocks of a usable copy (empty when whole and good).
    pub fn bad_blocks(&self) -> &[u32] {
        match self {
            Damage::Blocks(b) => b,
            _ => &[],
        }
    }

    /// Order for readers: whole copies first, then damaged ones, then unusable ones.
    fn rank(&self) -> u8 {
        match self {
            Damage::None => 0,
            Damage::Blocks(_) => 1,
            Damage::Whole => 2,
        }
    }
}

/// One copy of a chunk on a chunkserver.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Copy {
    /// Data address of the chunkserver.
    pub addr: String,
    pub version: u32,
    /// On a disk marked for removal: serves reads, does not count towards the goal.
    pub to_remove: bool,
    /// What its chunkserver reported wrong with it (soft state, re-learned at registration).
    pub damage: Damage,
}

/// Is a copy at `version` on `addr` valid for a chunk whose table entry is `meta`?
///
/// Only holders (chunkservers given this version at its last bump, or a copy by
/// replication since) can have the chunk's data; a holder may still be one version behind
/// when a leader died between committing a bump and telling the chunkserver (the leader
/// repairs it with `SetVersion`). Every other copy is stale: an old version, or a copy that
/// reached the current version without being a holder (a create or version change that
/// answered too late, after the chain had gone on without it).
pub fn is_valid(meta: &ChunkMeta, addr: &str, version: u32) -> bool {
    let current = version == meta.version;
    let one_behind = version != 0 && version.wrapping_add(1) == meta.version;
    (current || one_behind) && meta.holders.iter().any(|h| h == addr)
}

/// One connected chunkserver.
pub struct Server {
    pub data_addr: String,
    pub http_addr: String,
    pub space: SpaceReport,
    pub since: Instant,
    pub link: Arc<CsLink>,
}

/// A chunkserver as the status page shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ServerStatus {
    pub data_addr: String,
    pub http_addr: String,
    pub total: u64,
    pub avail: u64,
    /// Chunk copies it reported (its own count).
    pub chunks: u64,
    pub load: u32,
    /// Seconds since it registered with this leader.
    pub connected_secs: u64,
}

/// The registry. Guarded by one mutex in `ChunkService`; every method is quick.
#[derive(Default)]
pub struct Registry {
    servers: BTreeMap<String, Server>,
    copies: HashMap<u64, Vec<Copy>>,
    /// When each chunkserver that is gone now disconnected (for `REPLICATIONS_DELAY_DISCONNECT`).
    disconnected: HashMap<String, Instant>,
    /// The highest chunk id any chunkserver reported since this master started. New chunks
    /// get ids above it: after a restore from an older backup the chunkservers may hold
    /// chunks the restored metadata never allocated, and a new chunk must not share an id
    /// with one of them.
    highest_id: u64,
}

impl Registry {
    /// Add a registered chunkserver with the copies it reported and their damage. A live
    /// registration of the same data address is never replaced by a newcomer (that would let
    /// anyone evict a chunkserver by naming its address): `Err` with how long the live one has
    /// been registered. A previous connection whose link already closed is replaced.
    pub fn register(
        &mut self,
        server: Server,
        chunks: &[ChunkReport],
        damaged: &[DamageReport],
    ) -> Result<(), Duration> {
        let addr = server.data_addr.clone();
        if let Some(live) = self.servers.get(&addr).filter(|s| !s.link.is_closed()) {
            return Err(live.since.elapsed());
        }
        self.remove_server_copies(&addr);
        self.disconnected.remove(&addr);
        self.servers.insert(addr.clone(), server);
        for c in chunks {
            self.add_copy(c.id, &addr, c.version, c.to_remove);
        }
        for d in damaged {
            if let Some(damage) = Damage::from_report(&d.blocks) {
                self.set_damage(d.id, &addr, damage);
            }
        }
        Ok(())
    }

    /// A connection closed: forget the server and its copies, remember when. Only when
    /// `conn_id` is still the registered connection (a reconnect may have replaced it).
    pub fn disconnect(&mut self, addr: &str, conn_id: u64) -> bool {
        if self.servers.get(addr).is_none_or(|s| s.link.conn_id != conn_id) {
            return false;
        }
        self.remove_server_copies(addr);
        self.disconnected.insert(addr.to_string(), Instant::now());
        true
    }

    fn remove_server_copies(&mut self, addr: &str) -> Option<Server> {
        let old = self.servers.remove(addr)?;
        self.copies.retain(|_, cs| {
            cs.retain(|c| c.addr != addr);
            !cs.is_empty()
        });
        Some(old)
    }

    /// Forget everything (this master stopped leading); returns every link to close.
    pub fn clear(&mut self) -> Vec<Arc<CsLink>> {
        let links = self.servers.values().map(|s| s.link.clone()).collect();
        self.servers.clear();
        self.copies.clear();
        self.disconnected.clear();
        links
    }

    /// The highest chunk id reported by any chunkserver (0: none).
    pub fn highest_id(&self) -> u64 {
        self.highest_id
    }

    /// A heartbeat: new space and load.
    pub fn heartbeat(&mut self, addr: &str, space: SpaceReport) {
        if let Some(s) = self.servers.get_mut(addr) {
            s.space = space;
        }
    }

    /// Record (or update) a copy. Ignored for a server that is not registered (a command
    /// that finished after its connection closed).
    pub fn add_copy(&mut self, id: u64, addr: &str, version: u32, to_remove: bool) {
        if !self.servers.contains_key(addr) {
            return;
        }
        self.highest_id = self.highest_id.max(id);
        let list = self.copies.entry(id).or_default();
        match list.iter_mut().find(|c| c.addr == addr) {
            // Another version is another copy (created or replicated anew): no damage known.
            Some(c) if c.version != version => {
                *c = Copy { addr: addr.to_string(), version, to_remove, ..Copy::default() }
            }
            Some(c) => c.to_remove = to_remove,
            None => list.push(Copy { addr: addr.to_string(), version, to_remove, damage: Damage::None }),
        }
    }

    /// A copy changed version (a `SetVersion` succeeded): its damage stays with it.
    pub fn set_version(&mut self, id: u64, addr: &str, version: u32) {
        if let Some(c) = self.copies.get_mut(&id).and_then(|l| l.iter_mut().find(|c| c.addr == addr)) {
            c.version = version;
        }
    }

    /// What is wrong with `addr`'s copy of `id` now (a report). Ignored when the server holds
    /// no copy of it.
    pub fn set_damage(&mut self, id: u64, addr: &str, damage: Damage) {
        if let Some(c) = self.copies.get_mut(&id).and_then(|l| l.iter_mut().find(|c| c.addr == addr)) {
            c.damage = damage;
        }
    }

    /// As [`Registry::set_damage`], only while the copy is at `version` (the answer to a
    /// repair of that version: a copy replaced meanwhile is another copy).
    pub fn set_damage_at(&mut self, id: u64, addr: &str, version: u32, damage: Damage) {
        if let Some(c) = self.copies.get_mut(&id).and_then(|l| l.iter_mut().find(|c| c.addr == addr)) {
            if c.version == version {
                c.damage = damage;
            }
        }
    }

    /// A copy is gone (deleted or damaged). With `version` set, only that version.
    pub fn remove_copy(&mut self, id: u64, addr: &str, version: Option<u32>) {
        if let Some(list) = self.copies.get_mut(&id) {
            list.retain(|c| c.addr != addr || version.is_some_and(|v| v != c.version));
            if list.is_empty() {
                self.copies.remove(&id);
            }
        }
    }

    /// The copies of chunk `id`.
    pub fn copies(&self, id: u64) -> &[Copy] {
        self.copies.get(&id).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Every chunk id some chunkserver reported.
    pub fn chunk_ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.copies.keys().copied()
    }

    /// Valid copies of chunk `id` (see [`is_valid`]): whole ones first, then those with bad
    /// blocks, then those out of service; least loaded server first within each.
    pub fn valid_copies(&self, id: u64, meta: &ChunkMeta) -> Vec<Copy> {
        let mut v: Vec<Copy> = self.copies(id).iter().filter(|c| is_valid(meta, &c.addr, c.version)).cloned().collect();
        v.sort_by(|a, b| {
            (a.damage.rank(), self.load(&a.addr), &a.addr).cmp(&(b.damage.rank(), self.load(&b.addr), &b.addr))
        });
        v
    }

    /// Data addresses of the valid copies of `id` that serve data (whole ones first, least
    /// loaded first): the readers, the write chain, the replication sources.
    pub fn valid_servers(&self, id: u64, meta: &ChunkMeta) -> Vec<String> {
        self.valid_copies(id, meta).into_iter().filter(|c| c.damage.is_usable()).map(|c| c.addr).collect()
    }

    fn load(&self, addr: &str) -> u32 {
        self.servers.get(addr).map_or(u32::MAX, |s| s.space.load)
    }

    /// The command links of every connected server.
    pub fn links(&self) -> Vec<Arc<CsLink>> {
        self.servers.values().map(|s| s.link.clone()).collect()
    }

    /// The command link of a connected server.
    pub fn link(&self, addr: &str) -> Option<Arc<CsLink>> {
        self.servers.get(addr).map(|s| s.link.clone())
    }

    /// Connected servers as placement candidates.
    pub fn candidates(&self) -> Vec<Candidate> {
        self.servers
            .values()
            .filter(|s| !s.link.is_silent())
            .map(|s| Candidate {
                addr: s.data_addr.clone(),
                total: s.space.total,
                avail: s.space.avail,
                load: s.space.load,
            })
            .collect()
    }

    /// Is `addr` registered but silent (frozen, or off the network, its connection still
    /// open)? See [`CsLink::is_silent`].
    pub fn is_silent(&self, addr: &str) -> bool {
        self.servers.get(addr).is_some_and(|s| s.link.is_silent())
    }

    /// How many chunkservers are connected.
    pub fn server_count(&self) -> usize {
        self.servers.len()
    }

    /// Sum of (total, avail) bytes over connected chunkservers.
    pub fn space(&self) -> (u64, u64) {
        self.servers
            .values()
            .fold((0, 0), |(t, a), s| (t.saturating_add(s.space.total), a.saturating_add(s.space.avail)))
    }

    /// True when some chunkserver disconnected less than `delay` ago and has not come back.
    pub fn recent_disconnect(&mut self, delay: Duration) -> bool {
        self.disconnected.retain(|_, t| t.elapsed() < delay);
        !self.disconnected.is_empty()
    }

    /// Chunkservers that disconnected and have not come back (those still within
    /// `REPLICATIONS_DELAY_DISCONNECT` of it, as `recent_disconnect` last pruned them).
    pub fn recently_lost(&self) -> Vec<String> {
        self.disconnected.keys().filter(|a| !self.servers.contains_key(*a)).cloned().collect()
    }

    /// Status of every connected chunkserver, by data address.
    pub fn status(&self) -> Vec<ServerStatus> {
        self.servers
            .values()
            .map(|s| ServerStatus {
                data_addr: s.data_addr.clone(),
                http_addr: s.http_addr.clone(),
                total: s.space.total,
                avail: s.space.avail,
                chunks: s.space.chunks,
                load: s.space.load,
                connected_secs: s.since.elapsed().as_secs(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc;

    fn meta(version: u32, holders: &[&str]) -> ChunkMeta {
        ChunkMeta { version, holders: holders.iter().map(|s| s.to_string()).collect() }
    }

    fn server(addr: &str, conn_id: u64, load: u32) -> Server {
        let (tx, _rx) = mpsc::channel(1);
        Server {
            data_addr: addr.into(),
            http_addr: format!("{addr}-http"),
            space: SpaceReport { total: 100, avail: 50, chunks: 0, load },
            since: Instant::now(),
            link: Arc::new(CsLink::new(addr.into(), 1, conn_id, tx)),
        }
    }

    fn report(id: u64, version: u32) -> ChunkReport {
        ChunkReport { id, version, to_remove: false }
    }

    fn damage_report(id: u64, version: u32, blocks: &[u32]) -> DamageReport {
        DamageReport { id, version, blocks: blocks.to_vec(), reason: "test".into() }
    }

    #[test]
    fn validity_needs_a_holder_at_the_version_or_one_behind() {
        let m = meta(5, &["a", "b"]);
        assert!(is_valid(&m, "a", 5));
        // A holder that missed the bump (the leader died before telling it).
        assert!(is_valid(&m, "b", 4));
        // Older than that: stale.
        assert!(!is_valid(&m, "a", 3));
        // Newer than the table: never valid.
        assert!(!is_valid(&m, "a", 6));
        // Not a holder: stale even at the current version (a late create or set-version).
        assert!(!is_valid(&m, "c", 5));
        assert!(!is_valid(&m, "c", 4));
        // Version 0 is never "one behind" version 1.
        assert!(!is_valid(&meta(1, &["a"]), "a", 0));
        assert!(is_valid(&meta(1, &["a"]), "a", 1));
    }

    #[test]
    fn valid_copies_are_ordered_least_loaded_first() {
        let mut r = Registry::default();
        r.register(server("a", 1, 9), &[report(7, 3)], &[]).unwrap();
        r.register(server("b", 2, 1), &[report(7, 2)], &[]).unwrap();
        r.register(server("c", 3, 5), &[report(7, 3)], &[]).unwrap();
        r.register(server("d", 4, 0), &[report(7, 1)], &[]).unwrap();
        let m = meta(3, &["a", "b", "c"]);
        assert_eq!(r.valid_servers(7, &m), vec!["b", "c", "a"], "d is stale (v1 for v3)");
    }

    #[test]
    fn a_disconnect_drops_the_servers_copies_and_is_remembered() {
        let mut r = Registry::default();
        r.register(server("a", 1, 0), &[report(1, 1), report(2, 1)], &[]).unwrap();
        r.register(server("b", 2, 0), &[report(1, 1)], &[]).unwrap();
        assert!(!r.disconnect("a", 99), "another connection id: ignored");
        assert!(r.disconnect("a", 1));
        assert!(r.copies(2).is_empty());
        assert_eq!(r.copies(1).len(), 1);
        assert_eq!(r.server_count(), 1);
        assert!(r.recent_disconnect(Duration::from_secs(60)));
        assert!(!r.recent_disconnect(Duration::ZERO));
        // Coming back clears the record.
        r.register(server("a", 3, 0), &[], &[]).unwrap();
        assert!(!r.recent_disconnect(Duration::from_secs(60)));
    }

    #[test]
    fn a_live_registration_is_never_replaced_but_a_closed_one_is() {
        let mut r = Registry::default();
        // `server()` drops its link's receiver (a closed link); this one stays open.
        let (tx, _rx) = mpsc::channel(1);
        let live = Server { link: Arc::new(CsLink::new("a".into(), 1, 1, tx)), ..server("a", 1, 0) };
        assert!(r.register(live, &[report(1, 1)], &[]).is_ok());
        assert!(r.register(server("a", 2, 0), &[report(2, 4)], &[]).is_err(), "a newcomer cannot evict it");
        assert_eq!(r.copies(1).len(), 1, "its copies are kept");
        assert!(r.copies(2).is_empty());
        // Once its connection is gone (a restart), the same address registers again.
        r.link("a").unwrap().close();
        assert!(r.register(server("a", 2, 0), &[report(2, 4)], &[]).is_ok());
        assert!(r.copies(1).is_empty());
        assert_eq!(r.copies(2)[0].version, 4);
        assert!(!r.disconnect("a", 1), "the old connection closing later changes nothing");
        assert_eq!(r.server_count(), 1);
    }

    #[test]
    fn copies_change_version_and_go_away() {
        let mut r = Registry::default();
        r.register(server("a", 1, 0), &[report(1, 1)], &[]).unwrap();
        r.set_version(1, "a", 2);
        assert_eq!(r.copies(1)[0].version, 2);
        r.remove_copy(1, "a", Some(1));
        assert_eq!(r.copies(1).len(), 1, "another version: kept");
        r.remove_copy(1, "a", None);
        assert!(r.copies(1).is_empty());
        assert_eq!(r.chunk_ids().count(), 0);
        assert_eq!(r.space(), (100, 50));
        assert_eq!(r.clear().len(), 1);
        assert_eq!(r.server_count(), 0);
    }

    #[test]
    fn damage_is_learned_kept_across_versions_and_orders_the_readers() {
        let mut r = Registry::default();
        r.register(server("a", 1, 0), &[report(7, 3)], &[damage_report(7, 3, &[9, 2, 9, 5000])]).unwrap();
        r.register(server("b", 2, 9), &[report(7, 3)], &[]).unwrap();
        r.register(server("c", 3, 0), &[report(7, 3)], &[damage_report(7, 3, &[])]).unwrap();
        assert_eq!(r.copies(7)[0].damage, Damage::Blocks(vec![2, 9]), "sorted, deduplicated, in range");
        let m = meta(3, &["a", "b", "c"]);
        let order: Vec<(String, Damage)> = r.valid_copies(7, &m).into_iter().map(|c| (c.addr, c.damage)).collect();
        assert_eq!(
            order,
            vec![("b".into(), Damage::None), ("a".into(), Damage::Blocks(vec![2, 9])), ("c".into(), Damage::Whole)],
            "the whole copy first though busier; the one out of service last"
        );
        assert_eq!(r.valid_servers(7, &m), vec!["b", "a"], "nothing is read from an unusable copy");
        // Renumbered, a copy keeps its damage; reported at another version, it is a new copy.
        r.set_version(7, "a", 4);
        assert_eq!(r.copies(7)[0].damage, Damage::Blocks(vec![2, 9]));
        r.add_copy(7, "a", 4, true);
        assert_eq!(r.copies(7)[0].damage, Damage::Blocks(vec![2, 9]), "a new mark keeps the damage");
        r.add_copy(7, "c", 1, false);
        assert_eq!(r.copies(7)[2].damage, Damage::None);
        r.set_damage(7, "a", Damage::after_repair(&[]));
        assert_eq!(r.copies(7)[0].damage, Damage::None);
        r.set_damage(7, "zz", Damage::Whole);
        assert_eq!(r.copies(7).len(), 3, "no copy on that server: ignored");
        assert_eq!(Damage::from_report(&[CHUNK_BLOCKS]), None, "nonsense is ignored, not taken for the whole copy");
        assert_eq!(Damage::after_repair(&[3]), Damage::Blocks(vec![3]));
    }
}
