//! Changing the master group online: add a master (it joins as a learner, catches up by
//! snapshot, then becomes a voter), remove one, replace one (a dead master whose disk is gone
//! by a new one), add a non-voting learner (`mfsmetalogger`) and promote it.
//!
//! An operator asks from a master host (`mfsmaster -c mfsmaster.cfg add-master 4@host4`): the
//! command speaks as that master on the Raft port (its address and `AUTH_CODE`, the handshake of
//! `peer_auth.rs`), finds the leader, and the leader runs the change through openraft's joint
//! consensus ([`run`]); clients and chunkservers keep working meanwhile.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use openraft::ChangeMembers;
use serde::{Deserialize, Serialize};

use crate::raft_types::{MasterNode, Raft};

/// How long a new master may take to catch up before it becomes a voter.
pub const CATCH_UP_LIMIT: Duration = Duration::from_secs(600);

/// One change of the group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    /// A new voter: a learner first, a voter once it has caught up.
    AddMaster { id: u64, node: MasterNode },
    /// A non-voting member that keeps a full copy (`mfsmetalogger`).
    AddLearner { id: u64, node: MasterNode },
    /// A learner becomes a voter.
    Promote { id: u64 },
    /// A voter or learner leaves the group.
    Remove { id: u64 },
    /// `id` (dead, or to retire) replaced by the new voter `new_id` at `node`, which catches up
    /// as a learner first.
    Replace { id: u64, new_id: u64, node: MasterNode },
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::AddMaster { id, node } => write!(f, "add master {id} at {}", node.raft_addr),
            Change::AddLearner { id, node } => write!(f, "add learner {id} at {}", node.raft_addr),
            Change::Promote { id } => write!(f, "promote learner {id} to voter"),
            Change::Remove { id } => write!(f, "remove master {id}"),
            Change::Replace { id, new_id, node } => write!(f, "replace master {id} by {new_id} at {}", node.raft_addr),
        }
    }
}

/// The group as this master knows it: voters and learners (node ids).
pub fn members(raft: &Raft) -> (BTreeSet<u64>, BTreeSet<u64>) {
    let m = raft.metrics().borrow().clone();
    let mem = m.membership_config.membership();
    let voters: BTreeSet<u64> = mem.voter_ids().collect();
    let learners: BTreeSet<u64> = mem.learner_ids().collect();
    (voters, learners)
}

fn raft_err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Run `change` on this master, which must lead. Returns a line for the operator.
pub async fn run(raft: &Raft, change: Change) -> Result<String, String> {
    let (voters, learners) = members(raft);
    let known = |id: u64| voters.contains(&id) || learners.contains(&id);
    tracing::info!(%change, "membership change asked");
    match change {
        Change::AddMaster { id, node } => {
            if voters.contains(&id) {
                return Err(format!("master {id} is a voter already"));
            }
            add_learner(raft, id, node, true).await?;
            raft.change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false).await.map_err(raft_err)?;
            Ok(format!("master {id} caught up and votes: voters now {:?}", members(raft).0))
        }
        Change::AddLearner { id, node } => {
            if known(id) {
                return Err(format!("node {id} is a member already"));
            }
            add_learner(raft, id, node, false).await?;
            Ok(format!("learner {id} added; it catches up by snapshot"))
        }
        Change::Promote { id } => {
            if !learners.contains(&id) {
                return Err(format!("node {id} is not a learner"));
            }
            wait_caught_up(raft, id).await?;
            raft.change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false).await.map_err(raft_err)?;
            Ok(format!("learner {id} promoted: voters now {:?}", members(raft).0))
        }
        Change::Remove { id } => {
            if !known(id) {
                return Err(format!("node {id} is not a member"));
            }
            if voters.contains(&id) {
                if voters.len() <= 1 {
                    return Err("the last voter cannot be removed".into());
                }
                raft.change_membership(ChangeMembers::RemoveVoters(BTreeSet::from([id])), false)
                    .await
                    .map_err(raft_err)?;
            } else {
                raft.change_membership(ChangeMembers::RemoveNodes(BTreeSet::from([id])), false)
                    .await
                    .map_err(raft_err)?;
            }
            Ok(format!("node {id} removed: voters now {:?}", members(raft).0))
        }
        Change::Replace { id, new_id, node } => {
            if !voters.contains(&id) {
                return Err(format!("master {id} is not a voter"));
            }
            if voters.contains(&new_id) {
                return Err(format!("master {new_id} is a voter already"));
            }
            add_learner(raft, new_id, node, true).await?;
            let mut next: BTreeSet<u64> = voters.clone();
            next.remove(&id);
            next.insert(new_id);
            raft.change_membership(ChangeMembers::ReplaceAllVoters(next), false).await.map_err(raft_err)?;
            Ok(format!("master {id} replaced by {new_id}: voters now {:?}", members(raft).0))
        }
    }
}

/// Add `id` as a learner (or update its address), waiting until it caught up when `wait`.
async fn add_learner(raft: &Raft, id: u64, node: MasterNode, wait: bool) -> Result<(), String> {
    raft.add_learner(id, node, false).await.map_err(raft_err)?;
    if wait {
        wait_caught_up(raft, id).await?;
    }
    Ok(())
}

/// Wait until the leader has replicated its log to `id` up to what it had when asked.
pub async fn wait_caught_up(raft: &Raft, id: u64) -> Result<(), String> {
    let target = raft.metrics().borrow().last_log_index.unwrap_or(0);
    let deadline = tokio::time::Instant::now() + CATCH_UP_LIMIT;
    let mut rx = raft.metrics();
    loop {
        let matched = {
            let m = rx.borrow_and_update();
            m.replication.as_ref().and_then(|r: &BTreeMap<u64, Option<crate::raft_types::LogId>>| r.get(&id).copied())
        };
        if matched.flatten().is_some_and(|l| l.index >= target) {
            return Ok(());
        }
        match tokio::time::timeout_at(deadline, rx.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err("this master is shutting down".into()),
            Err(_) => {
                return Err(format!(
                    "node {id} did not catch up within {CATCH_UP_LIMIT:?} (is it running and reachable?)"
                ))
            }
        }
    }
}

/// The operator's side: ask the group for `change`, speaking as the master that `cfg`
/// configures (its Raft address, node id and `AUTH_CODE`). Asks that master first and follows
/// it to the leader.
pub async fn request(cfg: &crate::config::MasterConfig, change: Change) -> Result<String, String> {
    // An election may be under way (the leader just died): ask again for a while.
    let deadline = tokio::time::Instant::now() + ELECTION_WAIT;
    loop {
        match request_once(cfg, &change).await {
            Err(Ask::NoLeader(e)) if tokio::time::Instant::now() < deadline => {
                tracing::debug!(error = %e, "no leader yet; asking again");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(Ask::NoLeader(e)) | Err(Ask::Refused(e)) => return Err(e),
            Ok(r) => return r,
        }
    }
}

/// How long an operator's request waits for a leader.
const ELECTION_WAIT: Duration = Duration::from_secs(30);

/// Why one round of asking gave no answer.
enum Ask {
    NoLeader(String),
    Refused(String),
}

async fn request_once(cfg: &crate::config::MasterConfig, change: &Change) -> Result<Result<String, String>, Ask> {
    use crate::peer_proto::{PeerRequest, PeerResponse};
    let me = crate::peer_auth::PeerIdentity::from_config(cfg);
    let mut targets: Vec<String> = cfg.peers.iter().filter(|p| p.id == cfg.node_id).map(|p| p.raft_addr()).collect();
    targets.extend(cfg.peers.iter().filter(|p| p.id != cfg.node_id).map(|p| p.raft_addr()));
    let req = PeerRequest::Membership(change.clone());
    let mut tried = Vec::new();
    let mut errors = Vec::new();
    let mut hops = 0;
    while let Some(addr) = targets.first().cloned() {
        targets.remove(0);
        if tried.contains(&addr) {
            continue;
        }
        tried.push(addr.clone());
        let mut conn = None;
        match crate::raft_net::call_once(&mut conn, &me, &addr, &req, CATCH_UP_LIMIT + Duration::from_secs(60)).await {
            Ok(PeerResponse::Membership(r)) => return Ok(r),
            Ok(PeerResponse::NotLeader { leader: Some(l) }) if hops < 5 => {
                hops += 1;
                targets.insert(0, l);
            }
            Ok(PeerResponse::Refused { reason }) => return Err(Ask::Refused(format!("{addr} refused us: {reason}"))),
            Ok(_) => errors.push(format!("{addr}: knows no leader")),
            Err(e) => errors.push(format!("{addr}: {e}")),
        }
    }
    Err(Ask::NoLeader(format!("no leader answered ({})", errors.join("; "))))
}

/// The node a `ID@HOST[:RAFTPORT[:CLIENTPORT[:HTTPPORT[:CSPORT]]]]` names (as in `RAFT_PEERS`).
pub fn parse_node(s: &str) -> Result<(u64, MasterNode), String> {
    let peers = crate::config::parse_peers(s)?;
    match peers.as_slice() {
        [p] => Ok((
            p.id,
            MasterNode {
                raft_addr: p.raft_addr(),
                client_addr: p.client_addr(),
                http_addr: p.http_addr(),
                cs_addr: p.cs_addr(),
            },
        )),
        _ => Err(format!("{s:?}: one ID@HOST[:PORTS]")),
    }
}
