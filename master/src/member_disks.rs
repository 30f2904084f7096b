//! The leader's side of `vote_guard.rs`: record the disk each master of the group is on, and
//! take back a master that came back on another disk (it lost its votes and the entries it had
//! acknowledged): once its log has caught up with the leader's, its new disk is recorded in the
//! group's state, and that entry, applied on the master itself, lets it vote again. It is not
//! removed from the voters meanwhile: a group of three would run on two voters, and one more
//! failure would stop it; it only does not count as a vote until recorded.

use std::sync::Arc;
use std::time::Duration;

use crate::log_format::LogCommand;
use crate::peer_auth::PeerIdentity;
use crate::peer_proto::{PeerRequest, PeerResponse};
use crate::raft_types::{Command, Raft};
use crate::sm_store::SharedState;
use crate::vote_guard::{disk_name, VoteGuard};

/// How often the leader looks at its members' disks.
const EVERY: Duration = Duration::from_secs(1);

/// Run for as long as the master runs; works only while it leads.
pub async fn run(raft: Raft, state: SharedState, me: Arc<PeerIdentity>, guard: Arc<VoteGuard>, my_id: u64) {
    let mut tick = tokio::time::interval(EVERY);
    loop {
        tick.tick().await;
        let m = raft.metrics().borrow().clone();
        if m.state != openraft::ServerState::Leader {
            continue;
        }
        let membership = m.membership_config.membership().clone();
        for (id, node) in membership.nodes() {
            let disk = if *id == my_id {
                Some(guard.disk)
            } else {
                let mut conn = None;
                let req = PeerRequest::Disk { node: *id };
                match crate::raft_net::call_once(&mut conn, &me, &node.raft_addr, &req, Duration::from_secs(2)).await {
                    Ok(PeerResponse::Disk { mine, from, .. }) if from == *id => Some(mine),
                    _ => None,
                }
            };
            let Some(disk) = disk else { continue };
            let recorded = state.read().disks.get(id).copied();
            if recorded == Some(disk) {
                continue;
            }
            if let Some(old) = recorded {
                tracing::warn!(
                    master = id,
                    old = %disk_name(&old),
                    new = %disk_name(&disk),
                    "master came back on another disk (it lost its votes): it votes again once it has caught up"
                );
                if let Err(e) = crate::membership::wait_caught_up(&raft, *id).await {
                    tracing::warn!(master = id, error = %e, "the master did not catch up; trying again");
                    continue;
                }
                tracing::info!(master = id, disk = %disk_name(&disk), "master caught up on its new disk: recording it");
            } else {
                tracing::info!(master = id, disk = %disk_name(&disk), "recording the disk of a master");
            }
            let cmd = LogCommand::from(Command::MemberDisk { node: *id, disk });
            if let Err(e) = tokio::time::timeout(Duration::from_secs(10), raft.client_write(cmd)).await {
                tracing::debug!(error = %e, "member disk entry not committed in time");
            }
        }
    }
}
