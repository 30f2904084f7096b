//! Proposals to the Raft group, batched: commands proposed while earlier ones are still being
//! committed travel together as one log entry ([`Command::Batch`]).
//!
//! openraft 0.9 appends and fsyncs each `client_write` on its own before it replicates the
//! next, so N concurrent proposals used to cost N leader fsyncs, N replication round trips
//! and N applies in a row. Here one task takes proposals from a queue: while fewer than
//! `in_flight` batches are on their way it takes everything queued (up to
//! `RAFT_BATCH_MAX_COMMANDS` commands or [`MAX_BATCH_BYTES`]) as one entry: one encode, one append, one fsync, one
//! message to each follower, one apply under the state lock. A lone proposal goes out at once
//! as a plain entry, so a single client waits no longer than before; the queue only forms
//! when proposals arrive faster than entries commit, which is when sharing them pays.
//!
//! Each command in a batch keeps its own exactly-once identity (`session`, `seq`) and gets
//! its own outcome; the batch is committed, or not, as a whole.

use std::sync::Arc;
use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use proto::client::ResponseBody;
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::log_format::LogCommand;
use crate::metrics::Metrics;
use crate::raft_api::leader_client_addr;
use crate::raft_types::{Command, CommandOutcome, Raft};

/// Most encoded bytes of commands in one entry (a single larger command still goes alone).
pub const MAX_BATCH_BYTES: usize = 1 << 20;
/// Proposals waiting for a batch; senders wait when it is full.
const QUEUE: usize = 4096;

type Answer = Result<CommandOutcome, ResponseBody>;

struct Pending {
    cmd: Command,
    size: usize,
    reply: oneshot::Sender<Answer>,
}

/// The way into the Raft log for every command of this master. Cheap to clone.
#[derive(Clone)]
pub struct Proposer {
    tx: mpsc::Sender<Pending>,
    timeout: Duration,
}

impl Proposer {
    /// Start the batching task for `raft`: at most `in_flight` entries of at most
    /// `max_batch` proposals on their way at once, each given up (answered `Unavailable`)
    /// after `timeout`.
    pub fn start(raft: Raft, in_flight: usize, max_batch: usize, timeout: Duration, metrics: Arc<Metrics>) -> Proposer {
        let (tx, rx) = mpsc::channel(QUEUE);
        let limits = Limits { in_flight: in_flight.max(1), max_batch: max_batch.max(1), timeout };
        tokio::spawn(run(raft, rx, limits, metrics));
        Proposer { tx, timeout }
    }

    /// Propose `cmd` and wait until it is committed and applied, or the commit timeout.
    /// Err: the answer for the client (not leader, no quorum).
    pub async fn propose(&self, cmd: Command) -> Result<CommandOutcome, ResponseBody> {
        let (reply, answer) = oneshot::channel();
        let size = encoded_len(&cmd);
        let unavailable = |what: &str| ResponseBody::Unavailable { reason: format!("no quorum: {what}") };
        // Waiting for room in the queue and for the batch ahead both count against the
        // deadline: a caller is answered within about twice the commit timeout whatever
        // happens to the Raft group.
        let queued = tokio::time::timeout(self.timeout, self.tx.send(Pending { cmd, size, reply })).await;
        match queued {
            Err(_) => return Err(unavailable("proposals queued beyond the commit timeout")),
            Ok(Err(_)) => return Err(unavailable("this master is shutting down")),
            Ok(Ok(())) => {}
        }
        match tokio::time::timeout(2 * self.timeout, answer).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err(unavailable("this master is shutting down")),
            Err(_) => Err(unavailable(&format!("the entry was not committed within {:?}", 2 * self.timeout))),
        }
    }
}

/// The encoded size of `cmd` (bincode's standard configuration, as the log stores it).
fn encoded_len(cmd: &Command) -> usize {
    let mut w = bincode::enc::write::SizeWriter::default();
    match bincode::serde::encode_into_writer(cmd, &mut w, bincode::config::standard()) {
        Ok(()) => w.bytes_written,
        // Cannot be encoded: it fails on its own when proposed, in a batch of one.
        Err(_) => MAX_BATCH_BYTES,
    }
}

struct Limits {
    in_flight: usize,
    max_batch: usize,
    timeout: Duration,
}

async fn run(raft: Raft, mut rx: mpsc::Receiver<Pending>, limits: Limits, metrics: Arc<Metrics>) {
    let Limits { in_flight, max_batch, timeout } = limits;
    let slots = Arc::new(Semaphore::new(in_flight));
    let mut carry: Option<Pending> = None;
    loop {
        // While every slot is taken, proposals gather in the queue.
        let Ok(slot) = slots.clone().acquire_owned().await else { return };
        let first = match carry.take() {
            Some(p) => p,
            None => match rx.recv().await {
                Some(p) => p,
                None => return,
            },
        };
        let mut bytes = first.size;
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(p) if bytes + p.size > MAX_BATCH_BYTES => {
                    carry = Some(p);
                    break;
                }
                Ok(p) => {
                    bytes += p.size;
                    batch.push(p);
                }
                Err(_) => break,
            }
        }
        // A caller that gave up was answered "unavailable" and retries with the same
        // (session, seq): its command need not be committed now.
        batch.retain(|p| !p.reply.is_closed());
        if batch.is_empty() {
            continue;
        }
        metrics.proposals.inc_by(batch.len() as u64);
        metrics.proposal_entries.inc();
        let (raft, metrics) = (raft.clone(), metrics.clone());
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            commit(&raft, batch, timeout).await;
            metrics.commit_latency.observe(started.elapsed().as_secs_f64());
            drop(slot);
        });
    }
}

/// Commit one entry holding `batch` and answer each proposal.
async fn commit(raft: &Raft, mut batch: Vec<Pending>, timeout: Duration) {
    if batch.len() == 1 {
        let p = batch.remove(0);
        let _ = p.reply.send(write(raft, p.cmd, timeout).await);
        return;
    }
    let (cmds, replies): (Vec<Command>, Vec<oneshot::Sender<Answer>>) =
        batch.into_iter().map(|p| (p.cmd, p.reply)).unzip();
    let n = cmds.len();
    match write(raft, Command::Batch(cmds), timeout).await {
        Ok(CommandOutcome::Batch(outcomes)) if outcomes.len() == n => {
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                let _ = reply.send(Ok(outcome));
            }
        }
        Ok(other) => {
            // Cannot happen: a batch applies to one outcome per command.
            tracing::error!(commands = n, outcome = ?other, "a batch entry applied to the wrong outcome");
            let reason = "internal error: a batch entry applied to the wrong outcome".to_string();
            for reply in replies {
                let _ = reply.send(Err(ResponseBody::Unavailable { reason: reason.clone() }));
            }
        }
        Err(body) => {
            for reply in replies {
                let _ = reply.send(Err(body.clone()));
            }
        }
    }
}

/// One `client_write`, waited for at most `timeout`.
async fn write(raft: &Raft, cmd: Command, timeout: Duration) -> Result<CommandOutcome, ResponseBody> {
    match tokio::time::timeout(timeout, raft.client_write(LogCommand::from(cmd))).await {
        Err(_) => Err(ResponseBody::Unavailable {
            reason: format!("no quorum: the entry was not committed within {timeout:?}"),
        }),
        Ok(Ok(resp)) => Ok(resp.data),
        Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => Err(ResponseBody::NotLeader {
            leader: f.leader_node.map(|n| n.client_addr).or_else(|| leader_client_addr(raft, f.leader_id)),
        }),
        Ok(Err(e)) => Err(ResponseBody::Unavailable { reason: e.to_string() }),
    }
}
