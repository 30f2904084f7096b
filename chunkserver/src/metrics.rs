//! Prometheus metrics of a chunkserver, served on `/metrics` with the prefix `mfschunkserver_`.

use std::sync::{Arc, Mutex};

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};
use proto::conn_gate::ConnGate;

use crate::master_link::LinkState;
use crate::store::Store;

/// Every metric a chunkserver exports.
pub struct Metrics {
    pub registry: Registry,
    /// Chunk copies held.
    pub chunks: IntGauge,
    /// Bytes each disk offers, by disk path.
    pub disk_total: IntGaugeVec,
    /// Bytes free for new chunks on each disk.
    pub disk_avail: IntGaugeVec,
    /// Bytes of chunk files on each disk.
    pub disk_used: IntGaugeVec,
    pub disk_chunks: IntGaugeVec,
    pub disk_damaged: IntGaugeVec,
    pub disk_removal: IntGaugeVec,
    pub disk_error: IntGaugeVec,
    /// Data requests by operation (read, write, truncate, sync, info) and outcome.
    pub data_requests: IntCounterVec,
    /// Data request latency by operation, seconds (including the chain).
    pub data_latency: HistogramVec,
    /// Bytes returned by reads.
    pub read_bytes: IntCounter,
    /// Bytes written by writes.
    pub write_bytes: IntCounter,
    /// Data requests in progress (the `load` of the space report).
    pub load: IntGauge,
    /// Bad blocks (CRC mismatch or unreadable) and copies taken out of service found since the
    /// start, by reads, writes, syncs or the scrubber (from the store's damage book).
    pub crc_errors: IntCounter,
    /// Bad blocks held now, over every copy (never served; the leader has them repaired).
    pub bad_blocks: IntGauge,
    /// Copies held now with a bad block or out of service.
    pub damaged_copies: IntGauge,
    /// Copies held now that are out of service as a whole (failed fsync, missing file).
    pub unusable_copies: IntGauge,
    /// Requests and commands refused for lack of resources (descriptors, memory): not damage.
    pub busy: IntCounter,
    /// Data requests refused for their data token, by why (missing, bad_mac, expired, ...).
    pub token_refusals: IntCounterVec,
    /// Bad blocks rewritten from other copies by `RepairBlocks`, by result (ok, failed).
    pub block_repairs: IntCounterVec,
    /// Chunks checked by the scrubber.
    pub scrubbed: IntCounter,
    /// Replications by outcome.
    pub replications: IntCounterVec,
    /// Master commands by name and outcome.
    pub commands: IntCounterVec,
    /// Frames on the data port that could not be read (connection closed).
    pub bad_frames: IntCounter,
    /// 1 while registered with a leader.
    pub master_connected: IntGauge,
    /// Registrations that failed a proof of `AUTH_CODE` (either side's) or were refused.
    pub master_refusals: IntCounter,
    /// Times the leader went silent and the other masters named a new one (`leader_probe.rs`).
    pub master_silent_moves: IntCounter,
    /// Highest Raft term seen.
    pub term: IntGauge,
    /// Open connections by port (data, http), against each port's cap.
    pub connections: IntGaugeVec,
    /// Connections closed at once because their port was at its cap, by port.
    pub connections_refused: IntCounterVec,
    /// The ports' connection caps, read for `connections` at each render.
    gates: Mutex<Vec<Arc<ConnGate>>>,
}

fn must<T>(r: Result<T, prometheus::Error>) -> T {
    match r {
        Ok(v) => v,
        // Only reachable through a programming error in the fixed metric definitions below.
        Err(e) => panic!("metric definition: {e}"),
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("mfschunkserver".into()), None).unwrap_or_default();
        let g = |n: &str, h: &str| must(IntGauge::new(n, h));
        let c = |n: &str, h: &str| must(IntCounter::new(n, h));
        let gv = |n: &str, h: &str, l: &[&str]| must(IntGaugeVec::new(Opts::new(n, h), l));
        let cv = |n: &str, h: &str, l: &[&str]| must(IntCounterVec::new(Opts::new(n, h), l));
        let m = Metrics {
            chunks: g("chunks", "Chunk copies held"),
            disk_total: gv("disk_total_bytes", "Bytes a disk offers for chunks", &["disk"]),
            disk_avail: gv("disk_avail_bytes", "Bytes free for new chunks on a disk", &["disk"]),
            disk_used: gv("disk_used_bytes", "Bytes of chunk files on a disk", &["disk"]),
            disk_chunks: gv("disk_chunks", "Chunk copies on a disk", &["disk"]),
            disk_damaged: gv("disk_damaged_copies", "Copies on a disk with bad blocks or out of service", &["disk"]),
            disk_removal: gv(
                "disk_marked_for_removal",
                "1 for a disk marked for removal (`*` in mfshdd.cfg)",
                &["disk"],
            ),
            disk_error: gv(
                "disk_error",
                "1 while a disk's space cannot be read (the disk failed or is gone)",
                &["disk"],
            ),
            data_requests: cv("data_requests_total", "Data requests", &["op", "result"]),
            data_latency: must(HistogramVec::new(
                HistogramOpts::new("data_request_duration_seconds", "Data request latency")
                    .buckets(vec![0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0]),
                &["op"],
            )),
            read_bytes: c("read_bytes_total", "Bytes returned by reads"),
            write_bytes: c("write_bytes_total", "Bytes written"),
            load: g("load", "Data requests in progress"),
            crc_errors: c(
                "crc_errors_total",
                "Bad blocks and unusable copies found (CRC mismatch, read or fsync errors)",
            ),
            bad_blocks: g("bad_blocks", "Bad blocks held (never served, to be repaired)"),
            damaged_copies: g("damaged_copies", "Copies with a bad block or out of service"),
            unusable_copies: g("unusable_copies", "Copies out of service as a whole"),
            busy: c("busy_total", "Requests refused for lack of resources (not damage)"),
            token_refusals: cv("token_refusals_total", "Data requests refused for their data token", &["reason"]),
            block_repairs: cv("block_repairs_total", "Bad blocks rewritten from other copies", &["result"]),
            scrubbed: c("scrubbed_chunks_total", "Chunks checked by the background scrubber"),
            replications: cv("replications_total", "Replications", &["result"]),
            commands: cv("commands_total", "Master commands", &["cmd", "result"]),
            bad_frames: c("bad_frames_total", "Malformed frames on the data port"),
            master_connected: g("master_connected", "1 while registered with a leader"),
            master_refusals: c(
                "master_refusals_total",
                "Registrations refused by a master or of a master that failed AUTH_CODE",
            ),
            master_silent_moves: c(
                "master_silent_moves_total",
                "Times the leader went silent and the other masters named a new one",
            ),
            term: g("term", "Highest Raft term seen"),
            connections: gv("connections", "Open connections by port", &["port"]),
            connections_refused: cv(
                "connections_refused_total",
                "Connections closed at once: their port was at its cap",
                &["port"],
            ),
            gates: Mutex::new(Vec::new()),
            registry,
        };
        let collectors: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(m.chunks.clone()),
            Box::new(m.disk_total.clone()),
            Box::new(m.disk_avail.clone()),
            Box::new(m.disk_used.clone()),
            Box::new(m.disk_chunks.clone()),
            Box::new(m.disk_damaged.clone()),
            Box::new(m.disk_removal.clone()),
            Box::new(m.disk_error.clone()),
            Box::new(m.data_requests.clone()),
            Box::new(m.data_latency.clone()),
            Box::new(m.read_bytes.clone()),
            Box::new(m.write_bytes.clone()),
            Box::new(m.load.clone()),
            Box::new(m.crc_errors.clone()),
            Box::new(m.bad_blocks.clone()),
            Box::new(m.damaged_copies.clone()),
            Box::new(m.unusable_copies.clone()),
            Box::new(m.busy.clone()),
            Box::new(m.token_refusals.clone()),
            Box::new(m.block_repairs.clone()),
            Box::new(m.scrubbed.clone()),
            Box::new(m.replications.clone()),
            Box::new(m.commands.clone()),
            Box::new(m.bad_frames.clone()),
            Box::new(m.master_connected.clone()),
            Box::new(m.master_refusals.clone()),
            Box::new(m.master_silent_moves.clone()),
            Box::new(m.term.clone()),
            Box::new(m.connections.clone()),
            Box::new(m.connections_refused.clone()),
        ];
        for c in collectors {
            must(m.registry.register(c));
        }
        // Series a dashboard or an alert takes a rate of exist from the start, at 0.
        for result in ["ok", "failed"] {
            m.block_repairs.with_label_values(&[result]);
            m.replications.with_label_values(&[result]);
        }
        m
    }

    /// The connection cap of `port` (named `key` in the config file): refusals are counted in
    /// `connections_refused_total`, open connections shown in `connections`.
    pub fn conn_gate(&self, port: &'static str, key: &'static str, max: usize) -> Arc<ConnGate> {
        let refused = self.connections_refused.with_label_values(&[port]);
        let gate = ConnGate::new(port, key, max, move || refused.inc());
        self.gates.lock().unwrap_or_else(|e| e.into_inner()).push(gate.clone());
        gate
    }

    /// Count a data request in progress until the guard is dropped.
    pub fn in_progress(&self) -> LoadGuard<'_> {
        self.load.inc();
        LoadGuard(&self.load)
    }

    /// Refresh the gauges from the store and the master link, then render the text format.
    /// Blocking (statvfs per disk).
    pub fn render(&self, store: &Store, link: &LinkState) -> String {
        self.chunks.set(store.chunk_count() as i64);
        let damage = store.damage().stats();
        self.bad_blocks.set(damage.bad_blocks as i64);
        self.damaged_copies.set(damage.damaged_copies as i64);
        self.unusable_copies.set(damage.unusable_copies as i64);
        // Counted by the store; mirrored here (counters only ever go up there too).
        self.crc_errors.reset();
        self.crc_errors.inc_by(damage.found);
        self.busy.reset();
        self.busy.inc_by(store.busy_count());
        let per_disk = [
            &self.disk_total,
            &self.disk_avail,
            &self.disk_used,
            &self.disk_chunks,
            &self.disk_damaged,
            &self.disk_removal,
            &self.disk_error,
        ];
        for v in per_disk {
            v.reset();
        }
        for d in store.disk_status() {
            let l = [d.path.as_str()];
            self.disk_total.with_label_values(&l).set(d.total as i64);
            self.disk_avail.with_label_values(&l).set(d.avail as i64);
            self.disk_used.with_label_values(&l).set(d.used as i64);
            self.disk_chunks.with_label_values(&l).set(d.chunks as i64);
            self.disk_damaged.with_label_values(&l).set(d.damaged as i64);
            self.disk_removal.with_label_values(&l).set(i64::from(d.to_remove));
            self.disk_error.with_label_values(&l).set(i64::from(d.error.is_some()));
        }
        self.master_connected.set(i64::from(link.leader().is_some()));
        self.term.set(link.term() as i64);
        for gate in self.gates.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            self.connections.with_label_values(&[gate.port()]).set(gate.open() as i64);
        }
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::warn!(error = %e, "encoding metrics failed");
        }
        String::from_utf8_lossy(&buf).into_owned()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Decrements the load gauge when dropped.
pub struct LoadGuard<'a>(&'a IntGauge);

impl Drop for LoadGuard<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}
