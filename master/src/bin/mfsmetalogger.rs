//! `mfsmetalogger [-c CFG] [-f] [start|stop|restart|reload|status]`: MooseFS's metalogger role
//! as a non-voting Raft learner. It is a master node that never votes or leads until promoted:
//! it keeps a full, current copy of the metadata (its log and snapshot files in `DATA_PATH`,
//! the backup `mfsmetarestore` reads) on another host. Its configuration is an
//! `mfsmaster.cfg` whose `RAFT_NODE_ID` is its own id and whose `RAFT_PEERS` lists the masters
//! and itself; the group takes it in with `mfscli -c mfsmaster.cfg add-learner ID@HOST` (on a
//! master host), and `mfscli ... promote ID` makes it a voter.

fn main() -> anyhow::Result<()> {
    master::service::main("mfsmetalogger", "/etc/mfs/mfsmetalogger.cfg", true)
}
