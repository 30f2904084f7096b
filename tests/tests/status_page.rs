//! The status page (`/` on a master's HTTP port) in a real headless browser (Chromium): opened
//! on a follower and on the leader it shows the leader's view (the Raft group with each
//! master's role and term, the chunkservers, their disks, the exports, the mounts and their
//! operations, the chunk matrix); through a failover (the leader killed while a client writes)
//! every load renders, and the page on a follower comes to show the new leader with the old
//! one unreachable, then back as a follower. A session whose self-description is HTML shows as
//! text: nothing a client sends runs in the reader's browser.
//!
//! One cluster on 127.0.105.x.

use std::time::Duration;

use proto::client::ReadOp;
use proto::meta::Creds;
use raftmfs_tests::browser::{cells, dump_dom, rows_of, text_of};
use raftmfs_tests::writer::FileWriter;
use raftmfs_tests::{runtime, wait_for, Cluster};

const BLOCK: u8 = 105;
const LIMIT: Duration = Duration::from_secs(90);
/// What a hostile client calls itself.
const HOSTILE: &str = "<img src=x onerror=\"document.title='owned'\"><b>bold</b>";

/// The page on `addr` as the browser built it, once its script has read the data.
fn load(addr: &str) -> String {
    wait_for(LIMIT, &format!("Chromium loading http://{addr}/"), || {
        let dom = dump_dom(&format!("http://{addr}/"), Duration::from_secs(15), Duration::from_secs(60))?;
        // The script has run: it marks the body "ok" or "error" once the data came or failed.
        (!dom.contains("data-state=\"loading\"")).then_some(dom)
    })
}

/// The master row (`data-role`) of master `id` in the page's Raft table.
fn role_in(dom: &str, id: u64) -> Option<String> {
    let row = rows_of(dom, "masters-table").into_iter().find(|r| r.contains(&format!("data-id=\"{id}\"")))?;
    let at = row.find("data-role=\"")? + "data-role=\"".len();
    Some(row[at..].split('"').next()?.to_string())
}

#[test]
fn the_status_page_shows_the_leaders_view_from_any_master_and_through_a_failover() {
    assert_eq!(unsafe { libc::geteuid() }, 0, "mount tests run as root");
    let mut c = Cluster::with_chunkservers(BLOCK, "", "");
    c.wait_chunkservers(3, LIMIT);
    let m = c.mount(&[]);
    m.goal_files("g2", 2, 4);
    // A session that describes itself in HTML.
    let rt = runtime();
    let addrs = c.client_addrs();
    let addrs: Vec<&str> = addrs.iter().map(String::as_str).collect();
    let mut cfg = client::ClientConfig::new(&addrs);
    cfg.info = HOSTILE.to_string();
    let hostile = rt.block_on(client::MasterClient::connect(cfg)).expect("connect");
    rt.block_on(hostile.read(&Creds::root(), ReadOp::GetAttr { ino: 1 })).expect("getattr");

    let leader = c.wait_leader(LIMIT);
    let ids: Vec<u64> = (0..3).map(|i| c.status(i).expect("status").id).collect();
    let id = |i: usize| ids[i];
    let leader_id = id(leader);
    let follower = (0..3).find(|&i| i != leader).expect("a follower");
    let follower_id = id(follower);

    // From a follower: the leader's view, once its chunk loop judged the four goal-2 chunks.
    let dom = wait_for(LIMIT, "the page showing four chunks at goal 2 with two copies", || {
        let dom = load(&c.masters[follower].http_addr());
        let row = rows_of(&dom, "matrix-table").into_iter().find(|r| r.contains("data-goal=\"2\""))?;
        // The goal, then the counts of 0, 1, 2, ... copies.
        (cells(row).get(3).map(String::as_str) == Some("4")).then_some(dom)
    });
    assert!(dom.contains("data-state=\"ok\""), "the page loaded its data");
    assert_eq!(text_of(&dom, "served-by").as_deref(), Some(follower_id.to_string().as_str()));
    assert_eq!(text_of(&dom, "view-of"), Some(format!("{leader_id} (leader)")), "a follower shows the leader's view");
    assert_eq!(text_of(&dom, "leader"), Some(format!("master {leader_id}")));
    assert_eq!(rows_of(&dom, "masters-table").len(), 4, "a header and three masters");
    for i in 0..3 {
        let want = if i == leader { "leader" } else { "follower" };
        assert_eq!(role_in(&dom, id(i)).as_deref(), Some(want), "master {}", id(i));
    }
    let servers = rows_of(&dom, "servers-table");
    assert_eq!(servers.iter().filter(|r| cells(r).get(1).map(String::as_str) == Some("connected")).count(), 3);
    let disks = rows_of(&dom, "disks-table");
    for cs in &c.chunkservers {
        let hdd = cs.hdd().display().to_string();
        assert!(
            disks.iter().any(|r| cells(r).get(1) == Some(&hdd) && cells(r).get(2).map(String::as_str) == Some("ok")),
            "disk {hdd} in {disks:?}"
        );
    }
    assert!(rows_of(&dom, "exports-table").len() >= 2, "the export rules");
    let mounts = rows_of(&dom, "mounts-table");
    let mountpoint = m.path("").display().to_string();
    let mountpoint = mountpoint.trim_end_matches('/');
    assert!(
        mounts.iter().any(|r| cells(r).get(1).is_some_and(|info| info.contains(mountpoint))),
        "the mount {mountpoint} in {mounts:?}"
    );
    assert!(
        mounts.iter().any(|r| cells(r).get(1).map(String::as_str) == Some(HOSTILE)),
        "the hostile session shown as its text"
    );
    assert!(!dom.contains("<img") && !dom.contains("<b>bold"), "a client's text became markup");
    assert!(dom.contains("<title>RaftMFS status</title>"), "a client's text ran as script");
    let ops = rows_of(&dom, "ops-sessions");
    assert!(ops.len() >= 3, "operations of the sessions: {ops:?}");

    // From the leader: the same view.
    let dom = load(&c.masters[leader].http_addr());
    assert_eq!(text_of(&dom, "served-by").as_deref(), Some(leader_id.to_string().as_str()));
    assert_eq!(text_of(&dom, "view-of"), Some(format!("{leader_id} (leader)")));

    // Failover while a client writes: every load renders; the follower's page comes to show
    // the new leader's view with the old leader unreachable.
    std::fs::create_dir(m.path("w")).expect("mkdir");
    let mut writer = FileWriter::start(m.path("w"));
    assert!(writer.wait_past(0, 10, LIMIT), "the writer runs");
    c.kill(leader);
    let mut loads = 0;
    let (dom, new_leader_id) = wait_for(LIMIT, "the follower's page showing a new leader", || {
        let dom = load(&c.masters[follower].http_addr());
        loads += 1;
        assert!(dom.contains("data-state=\"ok\""), "a load during the failover failed: {dom}");
        let view = text_of(&dom, "view-of")?;
        let new: u64 = view.strip_suffix(" (leader)")?.parse().ok()?;
        (new != leader_id && role_in(&dom, leader_id).as_deref() == Some("unreachable")).then_some((dom, new))
    });
    assert_eq!(role_in(&dom, new_leader_id).as_deref(), Some("leader"));
    let new_leader = (0..3).find(|&i| i != leader && id(i) == new_leader_id).expect("the new leader");
    let dom = load(&c.masters[new_leader].http_addr());
    assert_eq!(text_of(&dom, "view-of"), Some(format!("{new_leader_id} (leader)")));
    assert_eq!(role_in(&dom, leader_id).as_deref(), Some("unreachable"));
    assert!(writer.wait_past(writer.done(), 10, LIMIT), "the writer goes on under the new leader");

    // The old leader back: a follower on the page.
    c.start_master(leader);
    wait_for(LIMIT, "the old leader back as a follower on the page", || {
        let dom = load(&c.masters[follower].http_addr());
        (role_in(&dom, leader_id).as_deref() == Some("follower")).then_some(())
    });
    writer.stop();
    assert!(writer.errors().is_empty(), "writer errors: {:?}", writer.errors());
    writer.verify(&m.path("w")).expect("every file the writer wrote reads back");
    eprintln!("{loads} page loads from master {follower_id} during the failover");
    drop(m);
}
