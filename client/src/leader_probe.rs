//! Telling a silent leader from a slow one: ask the other masters who leads.
//!
//! A master that died with its kernel (SIGKILL, a crash) resets its connections and the
//! client moves on at once. One that froze (SIGSTOP, a stalled VM, a stuck disk) or whose
//! host dropped off the network sends nothing: its socket stays open and a request waits for
//! its whole deadline. So while a request has waited [`SUSPECT_AFTER`] without an answer, the
//! client asks every other master `WhoLeads` (each within [`PROBE_TIMEOUT`]). When the answer
//! of the highest term names another master, a new leader was elected behind the silent one:
//! the request is abandoned there and sent again to the new leader with the same sequence
//! number (exactly once either way: a write the old leader committed is answered from the
//! reply cache). When the others still name the silent master, or nobody answers, the
//! request keeps waiting: a busy leader is not deposed by a client.

use std::sync::Arc;
use std::time::{Duration, Instant};

use proto::client::{RequestBody, ResponseBody};

use crate::conn::MasterConn;

/// How long a request waits for an answer before the client asks the other masters who leads
/// (and again every this long while it still waits). An election takes about one second
/// (650-800 ms after the last heartbeat, then a round of votes), so a probe at one second
/// usually finds the new leader, and one a second later surely does.
pub const SUSPECT_AFTER: Duration = Duration::from_millis(700);

/// How long one master may take to answer a probe (connection included).
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

/// How long a probe's result is reused by other requests that wait on the same master.
const PROBE_REUSE: Duration = Duration::from_millis(200);

/// The last probe: when it finished, which master was suspected, what it found.
struct Probed {
    at: Instant,
    suspect: String,
    found: Option<String>,
}

/// Asks the masters who leads; shared by every request of one client.
pub struct LeaderProbe {
    masters: std::sync::Mutex<Vec<String>>,
    last: tokio::sync::Mutex<Option<Probed>>,
}

impl LeaderProbe {
    pub fn new(masters: Vec<String>) -> Self {
        LeaderProbe { masters: std::sync::Mutex::new(masters), last: tokio::sync::Mutex::new(None) }
    }

    /// Ask these masters from now on.
    pub fn set_masters(&self, masters: Vec<String>) {
        *self.masters.lock().unwrap_or_else(|e| e.into_inner()) = masters;
    }

    /// The client address of a leader other than `suspect`, as the masters other than
    /// `suspect` report it in the highest term any of them knows; `None` when they name
    /// `suspect`, nobody, or do not answer. One probe runs at a time; requests waiting on
    /// the same master share its result.
    pub async fn leader_elsewhere(&self, suspect: &str) -> Option<String> {
        let mut last = self.last.lock().await;
        if let Some(p) = last.as_ref() {
            if p.suspect == suspect && p.at.elapsed() < PROBE_REUSE {
                return p.found.clone();
            }
        }
        let found = self.probe(suspect).await;
        if let Some(leader) = &found {
            tracing::info!(silent = %suspect, %leader, "the leader went silent; another master leads now");
        }
        *last = Some(Probed { at: Instant::now(), suspect: suspect.to_string(), found: found.clone() });
        found
    }

    async fn probe(&self, suspect: &str) -> Option<String> {
        let mut asks = tokio::task::JoinSet::new();
        let masters = self.masters.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for addr in masters.iter().filter(|a| a.as_str() != suspect) {
            let addr = addr.clone();
            asks.spawn(async move { tokio::time::timeout(PROBE_TIMEOUT, who_leads(&addr)).await.ok().flatten() });
        }
        let mut best: Option<(u64, Option<String>)> = None;
        while let Some(answer) = asks.join_next().await {
            if let Ok(Some((term, leader))) = answer {
                if best.as_ref().is_none_or(|(t, _)| term > *t) {
                    best = Some((term, leader));
                }
            }
        }
        best.and_then(|(_, leader)| leader).filter(|l| l != suspect)
    }
}

/// One master's answer to `WhoLeads`: its term and the leader it knows.
async fn who_leads(addr: &str) -> Option<(u64, Option<String>)> {
    let conn: Arc<MasterConn> = MasterConn::connect(addr, PROBE_TIMEOUT).await.ok()?;
    match conn.call(RequestBody::WhoLeads, PROBE_TIMEOUT).await {
        Ok(ResponseBody::Leader { term, leader }) => Some((term, leader)),
        _ => None,
    }
}
