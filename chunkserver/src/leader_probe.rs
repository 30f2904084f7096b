//! Telling a silent leader from a slow one: ask the other masters who leads.
//!
//! The leader answers every heartbeat (one a second) with `Welcome`. A leader that froze
//! (SIGSTOP, a stalled VM) or whose host dropped off the network sends nothing, and its
//! socket stays open, so waiting for `MASTER_TIMEOUT` (10 s) would leave the new leader
//! without chunkservers, and every client write waiting, for that long. So once the link has
//! been silent a little longer than a heartbeat interval, the chunkserver asks the other
//! masters (`CsToMaster::WhoLeads` on 9420, each within [`PROBE_TIMEOUT`]) and moves when the
//! answer of the highest term names another leader in a term above the one it registered in.
//! A leader that is only slow is named by the others and kept.

use std::time::Duration;

use proto::cs::{CsToMaster, MasterToCs};
use proto::frame::FrameLimits;
use tokio::net::TcpStream;

/// How long one master may take to answer (connection included).
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

/// Extra silence, beyond one heartbeat interval, before the other masters are asked.
pub const SUSPECT_SLACK: Duration = Duration::from_millis(300);

/// How often the other masters are asked while the leader stays silent.
pub const PROBE_EVERY: Duration = Duration::from_millis(500);

/// The chunkserver address of a leader other than `current`, elected in a term above `term`,
/// as the masters other than `current` report it; `None` when they name `current`, nobody,
/// an older term, or do not answer.
pub async fn leader_elsewhere(masters: &[String], current: &str, term: u64) -> Option<String> {
    let mut asks = tokio::task::JoinSet::new();
    for addr in masters.iter().filter(|a| a.as_str() != current) {
        let addr = addr.clone();
        asks.spawn(async move { tokio::time::timeout(PROBE_TIMEOUT, who_leads(&addr)).await.ok().flatten() });
    }
    let mut best: Option<(u64, Option<String>)> = None;
    while let Some(answer) = asks.join_next().await {
        if let Ok(Some((t, leader))) = answer {
            if best.as_ref().is_none_or(|(b, _)| t > *b) {
                best = Some((t, leader));
            }
        }
    }
    match best {
        Some((t, Some(leader))) if t > term && leader != current => Some(leader),
        _ => None,
    }
}

/// One master's answer: its term and the leader it knows.
async fn who_leads(addr: &str) -> Option<(u64, Option<String>)> {
    let mut stream = TcpStream::connect(addr).await.ok()?;
    proto::frame::write_frame(&mut stream, &CsToMaster::WhoLeads).await.ok()?;
    let limits = FrameLimits { max_frame: 64 << 10, frame_timeout: PROBE_TIMEOUT };
    match proto::frame::read_frame_limited::<_, MasterToCs>(&mut stream, &limits).await {
        Ok(MasterToCs::Leader { term, leader }) => Some((term, leader)),
        _ => None,
    }
}
