//! The leader's read lease: linearizable reads without a quorum round trip each.
//!
//! A read is linearizable when the master answering it is still the leader and has applied
//! everything committed before the read began. `Raft::ensure_linearizable` proves both with a
//! heartbeat round to a quorum, which costs every `lookup` and `getattr` a network round trip
//! through the followers. The lease lets one such proof cover the reads that follow it:
//!
//! * openraft 0.9 has a follower refuse to vote for anyone for `leader_lease` (=
//!   `election_timeout_max`) after it last accepted an append or heartbeat from its leader
//!   (`Engine::handle_vote_req`; every append touches the vote's time). A proof started at
//!   `t0` was answered by a quorum after `t0`, so no other master can be elected before
//!   `t0 + election_timeout_max`: until then no write can commit anywhere but here.
//! * Every write this leader acknowledges is applied here before its answer goes out, and the
//!   proof waited until the leader's first entry of its term was applied: so the state machine
//!   holds every acknowledged write while the lease holds.
//! * Each read still checks, inside the Raft core (ordered with vote handling), that this
//!   master is leader in the lease's term: a vote it granted to a candidate ends the lease at
//!   once.
//!
//! The lease is `LEASE_SHARE` of the election window, leaving the rest as margin for a slow
//! scheduler and for clock rates that differ between hosts.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use openraft::ServerState;
use proto::client::ResponseBody;

use crate::raft_api::ensure_leader;
use crate::raft_types::Raft;

/// Share of `election_timeout_max` a proof of leadership covers.
const LEASE_SHARE: u32 = 2; // one half

/// The current lease: the term it was proven in and when it ends.
#[derive(Clone, Copy, Debug)]
struct Lease {
    term: u64,
    until: Instant,
}

/// Read lease of one master (see the module documentation).
pub struct ReadLease {
    window: Duration,
    current: Mutex<Option<Lease>>,
}

impl ReadLease {
    pub fn new(election_timeout_max: Duration) -> Self {
        ReadLease { window: election_timeout_max / LEASE_SHARE, current: Mutex::new(None) }
    }

    /// Ok when a read may be answered from this master's state machine now: under a valid
    /// lease, or after a fresh quorum proof (which starts a new lease). Err: the answer for
    /// the client (not leader, no quorum), as [`ensure_leader`].
    ///
    /// Ok carries the instant the lease ends. The caller reads the state, then checks that
    /// this instant has not passed ([`ReadLease::held_at`]): a master frozen (SIGSTOP, a
    /// stalled VM) between this check and its read of the state may wake after another
    /// master was elected and acknowledged writes, and must not answer from the state it
    /// holds. The lease covering the moment of the read is what makes the answer current.
    pub async fn ensure(&self, raft: &Raft, timeout: Duration) -> Result<Instant, ResponseBody> {
        let held = *self.current.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(lease) = held {
            if Instant::now() < lease.until && leader_in(raft, lease.term).await {
                return Ok(lease.until);
            }
        }
        let started = Instant::now();
        let term_before = leader_term(raft).await;
        ensure_leader(raft, timeout).await?;
        let term_after = leader_term(raft).await;
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let until = started + self.window;
        match (term_before, term_after) {
            (Some(a), Some(b)) if a == b => *current = Some(Lease { term: a, until }),
            // Leadership changed around the proof: prove again on the next read.
            _ => *current = None,
        }
        Ok(until)
    }

    /// Does a lease that ends at `until` still hold now? Asked after a read of the state: a
    /// yes means the lease held when the state was read (before now), so no other master
    /// could have acknowledged a write the state lacks.
    pub fn held_at(until: Instant) -> bool {
        Instant::now() < until
    }
}

/// The term this master leads in, asked inside the Raft core; None when it is not the leader.
async fn leader_term(raft: &Raft) -> Option<u64> {
    raft.with_raft_state(|st| {
        let vote = st.vote_ref();
        (st.server_state == ServerState::Leader && vote.is_committed()).then(|| vote.leader_id().get_term())
    })
    .await
    .ok()
    .flatten()
}

async fn leader_in(raft: &Raft, term: u64) -> bool {
    leader_term(raft).await == Some(term)
}
