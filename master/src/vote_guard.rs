//! A master that lost its disk must not vote until the group has taken it back.
//!
//! Raft keeps a master's vote (and the entries it acknowledged) on its disk. A master that
//! comes back on an empty disk under its old node id has forgotten both: it could vote a second
//! time in a term it voted in (two leaders), or vote for a master lacking entries it had
//! acknowledged (a committed entry lost). So every data folder has an id (`DISK_ID`, made once),
//! the group records the disk each master is on (`MetaState::disks`, `member_disks.rs`), and a
//! master whose folder held no Raft state at start withholds its vote, and does not stand for
//! election, until it knows it may vote:
//! - the masters answer that the group has no disk on record for it (a new group's first start,
//!   or a master never seen before: it never voted), or
//! - its own copy of the state records this very disk for it (the leader recorded it once this
//!   master's log had caught up with its own: `member_disks.rs`).
//!
//! Meanwhile vote requests are refused (`peer_server.rs`) and `mfsmaster_raft_vote_withheld` is 1.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::config::MasterConfig;
use crate::metrics::Metrics;
use crate::peer_auth::PeerIdentity;
use crate::peer_proto::{PeerRequest, PeerResponse};
use crate::raft_types::Raft;
use crate::sm_store::SharedState;

/// The file holding a data folder's id (32 hex digits).
pub const DISK_ID_FILE: &str = "DISK_ID";
/// Pause between two rounds of asking while the vote is withheld.
const ASK_EVERY: Duration = Duration::from_millis(500);

/// This master's disk and whether it may vote.
#[derive(Debug)]
pub struct VoteGuard {
    /// The data folder's id.
    pub disk: [u8; 16],
    withheld: AtomicBool,
    /// A refused vote request was logged (once per withholding).
    refusal_logged: AtomicBool,
}

fn is_empty_dir(p: &Path) -> bool {
    match std::fs::read_dir(p) {
        Ok(mut it) => it.next().is_none(),
        Err(_) => true,
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn parse_hex(s: &str) -> Option<[u8; 16]> {
    let s = s.trim().as_bytes();
    if s.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, pair) in s.chunks(2).enumerate() {
        out[i] = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(out)
}

/// A disk id as text, for logs.
pub fn disk_name(d: &[u8; 16]) -> String {
    hex(&d[..4])
}

impl VoteGuard {
    /// Before Raft opens the storage: read (or make) the folder's id; a folder without Raft
    /// state (no log, no snapshot) starts with its vote withheld.
    pub fn at_start(data_path: &Path) -> std::io::Result<Arc<VoteGuard>> {
        let empty = is_empty_dir(&data_path.join("changelog")) && is_empty_dir(&data_path.join("snapshots"));
        let file = data_path.join(DISK_ID_FILE);
        let disk = match std::fs::read_to_string(&file) {
            Ok(text) => parse_hex(&text).ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: not a disk id", file.display()))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let disk: [u8; 16] = rand::random();
                let tmp = data_path.join(format!("{DISK_ID_FILE}.tmp"));
                std::fs::write(&tmp, format!("{}\n", hex(&disk)))?;
                std::fs::File::open(&tmp)?.sync_all()?;
                std::fs::rename(&tmp, &file)?;
                std::fs::File::open(data_path)?.sync_all()?;
                disk
            }
            Err(e) => return Err(e),
        };
        Ok(Arc::new(VoteGuard { disk, withheld: AtomicBool::new(empty), refusal_logged: AtomicBool::new(false) }))
    }

    /// True while this master must not vote.
    pub fn withheld(&self) -> bool {
        self.withheld.load(Ordering::Acquire)
    }

    /// A vote request arrived while the vote is withheld (logged once).
    pub fn note_refused(&self, candidate: u64) {
        if !self.refusal_logged.swap(true, Ordering::AcqRel) {
            tracing::warn!(candidate, "refused a vote request: this master withholds its vote (empty disk)");
        }
    }

    fn release(&self, why: &str) {
        if self.withheld.swap(false, Ordering::AcqRel) {
            tracing::info!(why, "this master votes");
        }
    }
}

/// What the masters said of this master's disk in one round of asking.
enum Told {
    /// The group records another disk for it: it must be taken back first.
    OtherDisk(u64),
    /// Enough masters answered, none records a disk for it.
    NoneOnRecord,
    /// Not enough answers to tell.
    Unsure,
}

/// While the vote is withheld: do not stand, and find out when this master may vote.
pub async fn run(
    raft: Raft,
    cfg: Arc<MasterConfig>,
    me: Arc<PeerIdentity>,
    guard: Arc<VoteGuard>,
    state: SharedState,
    metrics: Arc<Metrics>,
) {
    if !guard.withheld() {
        return;
    }
    raft.runtime_config().elect(false);
    metrics.vote_withheld.set(1);
    tracing::info!(disk = %disk_name(&guard.disk), "empty data folder: this master withholds its vote until it knows it never voted in this group, or has been taken back");
    let mut told_other = false;
    while guard.withheld() {
        // Its own copy of the state records this disk: taken back (or recorded when new).
        if state.read().disks.get(&cfg.node_id) == Some(&guard.disk) {
            guard.release("the group records this disk for this master");
            break;
        }
        match ask_disks(&me, &cfg, &raft, &guard).await {
            Told::NoneOnRecord => {
                guard.release("no master records a disk for this one: it never took part");
                break;
            }
            Told::OtherDisk(from) if !told_other => {
                told_other = true;
                tracing::warn!(
                    master = from,
                    "the group knows this master on another disk: it lost its votes, and votes again once the leader has recorded its new disk (after it caught up)"
                );
            }
            _ => {}
        }
        tokio::time::sleep(ASK_EVERY).await;
    }
    raft.runtime_config().elect(true);
    metrics.vote_withheld.set(0);
}

/// Ask the other masters (of `RAFT_PEERS` and of the membership) what disk the group records
/// for this one: a majority of the group saying "none" (this master counting as one) tells it
/// never took part; one naming another disk tells it lost its disk.
async fn ask_disks(me: &PeerIdentity, cfg: &MasterConfig, raft: &Raft, guard: &VoteGuard) -> Told {
    let mut addrs: Vec<String> = cfg.peers.iter().filter(|p| p.id != cfg.node_id).map(|p| p.raft_addr()).collect();
    let m = raft.metrics().borrow().clone();
    for (id, n) in m.membership_config.membership().nodes() {
        if *id != cfg.node_id && !addrs.contains(&n.raft_addr) {
            addrs.push(n.raft_addr.clone());
        }
    }
    let group = addrs.len() + 1;
    let mut none = 1;
    let req = PeerRequest::Disk { node: cfg.node_id };
    for addr in &addrs {
        let mut conn = None;
        match crate::raft_net::call_once(&mut conn, me, addr, &req, Duration::from_secs(2)).await {
            Ok(PeerResponse::Disk { recorded: Some(d), from, .. }) if d != guard.disk => return Told::OtherDisk(from),
            Ok(PeerResponse::Disk { recorded: None, .. }) => none += 1,
            _ => {}
        }
    }
    if none > group / 2 {
        Told::NoneOnRecord
    } else {
        Told::Unsure
    }
}
