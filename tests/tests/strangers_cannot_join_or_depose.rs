//! Issue 10, item 6: the cluster-internal ports trust only members.
//!
//! - 9420: with `AUTH_CODE`, a chunkserver with the wrong code or none is refused (MooseFS's
//!   rule, by challenge: the code never crosses the wire); without it, a stranger may still not
//!   register another server's address, nor evict a live chunkserver by registering its
//!   address.
//! - 9419: only the masters of `RAFT_PEERS`, from their addresses, and with `AUTH_CODE` only
//!   those proving it, may speak Raft: a stranger's vote request with a higher term deposes
//!   nobody.
//!
//! Fails before: `AUTH_CODE` was read and ignored; a `Register` naming a live server's address
//! closed that server's connection and forgot its copies; and a `Vote` from any host with a
//! higher term made the leader step down (checked on the old code: the term went up).

use std::net::SocketAddr;
use std::time::Duration;

use master::peer_proto::{PeerRequest, PeerResponse};
use openraft::raft::VoteRequest;
use openraft::Vote;
use proto::cs::{CsToMaster, MasterToCs, SpaceReport};
use raftmfs_tests::{wait_for, Cluster};
use tokio::net::{TcpSocket, TcpStream};

const WAIT: Duration = Duration::from_secs(10);

/// A TCP connection to `to` from the local address `from_ip`.
async fn connect_from(from_ip: &str, to: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from_ip.parse().unwrap(), 0)).unwrap();
    socket.connect(to.parse().unwrap()).await.expect("connect")
}

/// Register as a chunkserver with `data_addr`, from `from_ip`, without a code; the master's
/// answer to `Register`.
async fn register_as(from_ip: &str, master_cs: &str, data_addr: &str) -> MasterToCs {
    let mut s = connect_from(from_ip, master_cs).await;
    proto::frame::write_frame(&mut s, &CsToMaster::Hello { nonce: [1; 32] }).await.unwrap();
    let hello: MasterToCs = tokio::time::timeout(WAIT, proto::frame::read_frame(&mut s)).await.unwrap().unwrap();
    assert!(matches!(hello, MasterToCs::Hello { .. }), "{hello:?}");
    let reg = CsToMaster::Register {
        proof: None,
        data_addr: data_addr.into(),
        http_addr: format!("{from_ip}:9427"),
        space: SpaceReport { total: 1 << 40, avail: 1 << 40, chunks: 0, load: 0 },
        chunks: vec![],
        damaged: vec![],
    };
    proto::frame::write_frame(&mut s, &reg).await.unwrap();
    tokio::time::timeout(WAIT, proto::frame::read_frame(&mut s)).await.unwrap().unwrap()
}

fn connected(cluster: &Cluster, leader: usize) -> u64 {
    let m = cluster.metrics(leader).unwrap_or_default();
    m.lines()
        .find_map(|l| l.strip_prefix("mfsmaster_chunkservers_connected "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn refused(cluster: &Cluster, i: usize, port: &str, reason: &str) -> bool {
    let m = cluster.metrics(i).unwrap_or_default();
    let label = format!("port=\"{port}\",reason=\"{reason}\"");
    m.lines().any(|l| l.starts_with("mfsmaster_auth_refused_total") && l.contains(&label))
}

#[test]
fn chunkservers_prove_the_auth_code_and_cannot_take_each_others_place() {
    let block = 83;
    let code = "AUTH_CODE = correct horse";
    let mut cluster = Cluster::with_chunkservers(block, code, code);
    let leader = cluster.wait_leader(WAIT);
    assert_eq!(connected(&cluster, leader), 3);
    // A chunkserver with another code, and one with none: never registered, and told why.
    cluster.add_chunkservers(block, 1, "AUTH_CODE = battery staple");
    cluster.add_chunkservers(block, 1, "");
    for k in [3, 4] {
        wait_for(Duration::from_secs(30), "the refusal in the chunkserver's log", || {
            let log = std::fs::read_to_string(cluster.chunkservers[k].log()).unwrap_or_default();
            (log.contains("refused") || log.contains("did not prove")).then_some(())
        });
    }
    let leader = cluster.wait_leader(WAIT);
    assert_eq!(connected(&cluster, leader), 3, "only the chunkservers with the code are in");
    // Whichever master the one without a code asked refused it (before any leader check).
    assert!((0..3).any(|i| refused(&cluster, i, "cs", "auth_code")));
}

#[test]
fn a_stranger_cannot_evict_a_chunkserver_or_claim_its_address() {
    let block = 84;
    let cluster = Cluster::with_chunkservers(block, "", "");
    let leader = cluster.wait_leader(WAIT);
    let master_cs = format!("{}:9420", cluster.masters[leader].ip);
    let victim = cluster.chunkservers[0].data_addr();
    let victim_ip = cluster.chunkservers[0].ip.clone();
    let rt = raftmfs_tests::runtime();
    // From the victim's own address (a second process on its host), naming its address while
    // it is connected: refused, the live one stays.
    let r = rt.block_on(register_as(&victim_ip, &master_cs, &victim));
    assert!(matches!(r, MasterToCs::Refused { ref reason } if reason.contains("connected")), "{r:?}");
    // From another address, naming the victim's: refused.
    let stranger = format!("127.0.{block}.99");
    let r = rt.block_on(register_as(&stranger, &master_cs, &victim));
    assert!(matches!(r, MasterToCs::Refused { ref reason } if reason.contains("not the address")), "{r:?}");
    assert!(refused(&cluster, leader, "cs", "address_in_use"));
    assert!(refused(&cluster, leader, "cs", "address"));
    // The victim never lost its registration.
    assert_eq!(connected(&cluster, leader), 3);
    let log = std::fs::read_to_string(cluster.chunkservers[0].log()).unwrap_or_default();
    assert!(!log.contains("lost the leader"), "the victim's link was not touched");
}

#[test]
fn a_stranger_cannot_speak_raft_or_depose_the_leader() {
    let block = 85;
    let mut cluster = Cluster::start(block, 3, "AUTH_CODE = raft secret");
    let leader = cluster.wait_leader(Duration::from_secs(30));
    let term = cluster.status(leader).expect("status").term;
    let raft_addr = cluster.masters[leader].raft_addr();
    let rt = raftmfs_tests::runtime();
    let vote = |term: u64, from: u64| PeerRequest::Vote(VoteRequest { vote: Vote::new(term, from), last_log_id: None });

    // A stranger's address: a vote request straight away is not even read.
    let r = rt.block_on(async {
        let mut s = connect_from(&format!("127.0.{block}.99"), &raft_addr).await;
        proto::frame::write_frame(&mut s, &vote(term + 10, 2)).await.unwrap();
        tokio::time::timeout(WAIT, proto::frame::read_frame::<_, PeerResponse>(&mut s)).await.unwrap()
    });
    assert!(r.is_err(), "the connection must close without an answer: {r:?}");
    // A stranger naming a member's id: refused at Hello.
    let r = rt.block_on(async {
        let mut s = connect_from(&format!("127.0.{block}.99"), &raft_addr).await;
        proto::frame::write_frame(&mut s, &PeerRequest::Hello { from: 2, nonce: [3; 32] }).await.unwrap();
        tokio::time::timeout(WAIT, proto::frame::read_frame::<_, PeerResponse>(&mut s)).await.unwrap()
    });
    assert!(matches!(r, Ok(PeerResponse::Refused { .. })), "{r:?}");
    // From a member's own address (that member stopped), without the code: refused at Prove.
    let other = (leader + 1) % 3;
    cluster.kill(other);
    let from_id = cluster.masters[other].id;
    let r = rt.block_on(async {
        let mut s = connect_from(&cluster.masters[other].ip, &raft_addr).await;
        proto::frame::write_frame(&mut s, &PeerRequest::Hello { from: from_id, nonce: [3; 32] }).await.unwrap();
        let hello = tokio::time::timeout(WAIT, proto::frame::read_frame::<_, PeerResponse>(&mut s)).await.unwrap();
        assert!(matches!(hello, Ok(PeerResponse::Hello { proof: Some(_), .. })), "{hello:?}");
        proto::frame::write_frame(&mut s, &PeerRequest::Prove { proof: None }).await.unwrap();
        let r = tokio::time::timeout(WAIT, proto::frame::read_frame::<_, PeerResponse>(&mut s)).await.unwrap();
        // And whatever it sends next is not read as Raft.
        let _ = proto::frame::write_frame(&mut s, &vote(term + 10, from_id)).await;
        r
    });
    assert!(matches!(r, Ok(PeerResponse::Refused { .. })), "{r:?}");
    assert!(refused(&cluster, leader, "raft", "unknown_peer"));
    assert!(refused(&cluster, leader, "raft", "auth_code"));
    // The same leader, in the same term: nobody was deposed.
    let st = cluster.status(leader).expect("status");
    assert_eq!((st.role.as_str(), st.term), ("leader", term), "{st:?}");
    // The members themselves still work with the code: the stopped one rejoins.
    cluster.start_master(other);
    let ds = cluster.wait_converged(Duration::from_secs(30));
    assert!(ds.iter().all(|d| d.digest == ds[0].digest));
}
