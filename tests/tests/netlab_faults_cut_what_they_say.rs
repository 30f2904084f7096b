//! The fault lab itself (`raftmfs_tests::netns`): hosts reach each other and the test; an
//! isolated host is reached by nobody and reaches nobody; a cut between two hosts leaves every
//! other path open; a one-way cut drops one direction only; healing restores all of it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use raftmfs_tests::netns::{in_host, Host, Lab};

const PORT: u16 = 5000;

/// A listener on `host` that answers every connection with one byte, forever.
fn echo_server(host: &Host) {
    let l: TcpListener = in_host(host, || TcpListener::bind((host.ip.as_str(), PORT)).expect("bind"));
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let _ = s.write_all(b"!");
        }
    });
}

/// Can `from` (None: the test itself) open a connection to `to` and get its byte?
fn reaches(from: Option<&Host>, to: &Host) -> bool {
    let addr = format!("{}:{PORT}", to.ip).parse().unwrap();
    let attempt = || {
        let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else { return false };
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        let mut b = [0u8; 1];
        s.read_exact(&mut b).is_ok()
    };
    match from {
        None => attempt(),
        Some(h) => in_host(h, attempt),
    }
}

#[test]
fn isolation_cuts_and_heals() {
    let mut lab = Lab::new(90);
    let (a, b, c) = (lab.add_host(), lab.add_host(), lab.add_host());
    for h in [&a, &b, &c] {
        echo_server(h);
    }
    assert!(reaches(None, &a) && reaches(Some(&a), &b) && reaches(Some(&c), &a));

    lab.isolate(&a);
    assert!(!reaches(None, &a), "the test cannot reach an isolated host");
    assert!(!reaches(Some(&b), &a) && !reaches(Some(&a), &b), "nor can its peers, either way");
    assert!(reaches(Some(&b), &c), "the others still talk");
    lab.heal(&a);
    assert!(reaches(Some(&b), &a) && reaches(None, &a));

    lab.cut(&a, &b);
    assert!(!reaches(Some(&a), &b) && !reaches(Some(&b), &a));
    assert!(reaches(Some(&a), &c) && reaches(Some(&c), &b) && reaches(None, &a));
    lab.heal_all();
    assert!(reaches(Some(&a), &b));

    // One way: b's packets no longer arrive at a, so neither direction's TCP connects (the
    // handshake needs both), but a's packets still arrive at b (seen as b's listener
    // accepting a connection that never completes on a's side).
    lab.cut_one_way(&b, &a);
    assert!(!reaches(Some(&a), &b) && !reaches(Some(&b), &a));
    assert!(reaches(Some(&c), &a) && reaches(Some(&c), &b));
    lab.heal_all();
    assert!(reaches(Some(&b), &a));
}
