//! The master link follows `NotLeader` redirects, registers again (full chunk list) when the
//! leader's connection breaks or goes silent for MASTER_TIMEOUT, and refuses a leader from
//! an older term than one it has seen.

mod common;

use common::*;
use proto::cs::{CsCommand, MasterToCs};

#[tokio::test]
async fn a_follower_redirects_to_the_leader() {
    let follower = FakeMaster::bind().await;
    let leader = FakeMaster::bind().await;
    let cs = TestCs::start(&follower.addr).await;
    cs.running().store().create(1, 1).await.unwrap();
    let mut f = follower.accept().await;
    f.registration().await;
    f.send(MasterToCs::NotLeader { leader: Some(leader.addr.clone()) }).await;
    let mut l = leader.accept().await;
    let reg = l.registration().await;
    assert_eq!(reg.chunks.len(), 1);
    l.welcome(2).await;
    l.command(1, 2, CsCommand::Create { id: 2, version: 1 }).await.unwrap();
    assert_eq!(cs.running().link().leader(), Some(leader.addr.clone()));
}

#[tokio::test]
async fn a_lost_leader_means_a_new_registration_with_the_full_list() {
    let a = FakeMaster::bind().await;
    let b = FakeMaster::bind().await;
    let cs = TestCs::start(&format!("{},{}", a.addr, b.addr)).await;
    let mut ma = a.accept().await;
    ma.registration().await;
    ma.welcome(1).await;
    ma.command(1, 1, CsCommand::Create { id: 5, version: 1 }).await.unwrap();
    ma.command(2, 1, CsCommand::Create { id: 6, version: 1 }).await.unwrap();
    // The leader dies; the next master in the list is the new leader.
    drop(ma);
    let mut mb = b.accept().await;
    let reg = mb.registration().await;
    let ids: Vec<u64> = reg.chunks.iter().map(|c| c.id).collect();
    assert_eq!(ids, vec![5, 6]);
    mb.welcome(2).await;
    mb.command(1, 2, CsCommand::Delete { id: 5, version: 1 }).await.unwrap();
    drop(cs);
}

#[tokio::test]
async fn a_silent_master_is_dropped_after_master_timeout() {
    let m = FakeMaster::bind().await;
    let cs = TestCs::start_with(&m.addr, "MASTER_TIMEOUT = 1").await;
    let mut c1 = m.accept().await;
    c1.registration().await;
    c1.send(MasterToCs::Welcome { term: 1 }).await;
    // Say nothing more: within about a second the chunkserver gives up and registers again.
    let started = std::time::Instant::now();
    let mut c2 = m.accept().await;
    assert!(started.elapsed() >= std::time::Duration::from_millis(800), "{:?}", started.elapsed());
    c2.registration().await;
    assert!(c1.closed().await);
    drop(cs);
}

#[tokio::test]
async fn a_leader_of_an_older_term_is_not_followed() {
    let old = FakeMaster::bind().await;
    let new = FakeMaster::bind().await;
    let cs = TestCs::start(&format!("{} {}", new.addr, old.addr)).await;
    let mut n = new.accept().await;
    n.registration().await;
    n.send(MasterToCs::Welcome { term: 9 }).await;
    n.command(1, 9, CsCommand::Create { id: 1, version: 1 }).await.unwrap();
    drop(n);
    // The stranded old leader still thinks it leads: it is refused, and the link moves on.
    let mut o = old.accept().await;
    o.registration().await;
    o.send(MasterToCs::Welcome { term: 4 }).await;
    assert!(o.closed().await);
    let mut n2 = new.accept().await;
    n2.registration().await;
    assert_eq!(cs.running().link().term(), 9);
}
