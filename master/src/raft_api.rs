//! The Raft-facing calls every server of a master makes besides proposing (`proposer.rs`):
//! confirm leadership before a read, notice a lost quorum, and turn Raft's answers into what
//! a client is told (not leader: try X; no quorum).

use std::time::Duration;

use openraft::error::{CheckIsLeaderError, RaftError};
use proto::client::ResponseBody;

use crate::raft_types::{CommandOutcome, MasterNode, Raft};

/// This master leads in its own view but has heard from no majority for more than `limit`
/// (cut off from its followers while clients and chunkservers still reach it): the time it
/// has gone without, or `None` while it leads with a quorum or does not lead. Such a leader
/// commits nothing, and its followers elect another within an election timeout; it stops
/// acting as leader (clients are told to look elsewhere, chunkservers are let go) rather than
/// hold them until openraft notices a higher term.
pub(crate) fn quorum_lost(raft: &Raft, limit: Duration) -> Option<Duration> {
    let m = raft.metrics().borrow().clone();
    if m.state != openraft::ServerState::Leader {
        return None;
    }
    let silent = Duration::from_millis(m.millis_since_quorum_ack?);
    (silent > limit).then_some(silent)
}

/// The client address (9421) of the leader `leader`, or of the leader this master knows.
pub(crate) fn leader_client_addr(raft: &Raft, leader: Option<u64>) -> Option<String> {
    let m = raft.metrics().borrow().clone();
    let id = leader.or(m.current_leader)?;
    m.membership_config.membership().get_node(&id).map(|n: &MasterNode| n.client_addr.clone())
}

/// The answer for an applied command's outcome.
pub(crate) fn outcome_body(outcome: CommandOutcome) -> ResponseBody {
    match outcome {
        CommandOutcome::Result(r) => ResponseBody::Result(r),
        CommandOutcome::SessionUnknown => ResponseBody::SessionUnknown,
        CommandOutcome::Stale => {
            ResponseBody::Refused { reason: "request below the session's acknowledged window (late duplicate)".into() }
        }
        // Never proposed by the client server (the proposer answers each command of a batch
        // with its own outcome).
        CommandOutcome::Batch(_) => ResponseBody::Unavailable { reason: "internal error: a batch outcome".into() },
    }
}

/// Confirm leadership with a quorum and wait until this master applied everything committed
/// before (at most `timeout`). Err: the answer for the client.
pub(crate) async fn ensure_leader(raft: &Raft, timeout: Duration) -> Result<(), ResponseBody> {
    match tokio::time::timeout(timeout, raft.ensure_linearizable()).await {
        Err(_) => {
            Err(ResponseBody::Unavailable { reason: format!("no quorum: leadership not confirmed within {timeout:?}") })
        }
        Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f)))) => Err(ResponseBody::NotLeader {
            leader: f.leader_node.map(|n| n.client_addr).or_else(|| leader_client_addr(raft, f.leader_id)),
        }),
        Ok(Err(e)) => Err(ResponseBody::Unavailable { reason: e.to_string() }),
        Ok(Ok(_)) => Ok(()),
    }
}
