//! Hosts as network namespaces, for faults that loopback cannot show: a host that drops off
//! the network (no reset ever comes), a partition between some hosts and not others, one-way
//! loss.
//!
//! A lab is a private switch (a bridge inside its own namespace) and any number of hosts,
//! each a namespace with one veth into the switch and an address `10.L.0.H/24` (`L` the lab's
//! number, `H` from 10 up). The test process reaches every host through one more veth from its
//! own namespace (`10.L.0.1`), so status pages and metrics work as on one machine; traffic only
//! ever goes to addresses inside namespaces the lab made. Faults are nftables rules inside a
//! host's namespace. Processes run in a host's namespace through `nsenter --net` (mounts stay
//! shared, so a FUSE mount made by a client host is visible to the test).
//!
//! Everything the lab made is removed when it is dropped (and, should a test be killed, by
//! the next lab of the same number before it starts).

use std::process::{Command, Stdio};

/// Run a command; panic with its output if it fails (lab setup must not half-work).
fn run(args: &[&str]) {
    let out = Command::new(args[0]).args(&args[1..]).stdin(Stdio::null()).output().unwrap_or_else(|e| {
        panic!("run {args:?}: {e} (is iproute2/nftables installed? scripts/install-deps.sh installs them)")
    });
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Run a command whose failure does not matter (cleanup).
fn run_quiet(args: &[&str]) {
    let _ = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Run `args` inside namespace `ns`.
fn in_ns(ns: &str, args: &[&str]) {
    let mut v = vec!["ip", "netns", "exec", ns];
    v.extend_from_slice(args);
    run(&v);
}

/// One host of a lab.
#[derive(Clone, Debug)]
pub struct Host {
    /// Its namespace (`/run/netns/<ns>`).
    pub ns: String,
    /// Its address.
    pub ip: String,
}

impl Host {
    /// The `nsenter` arguments that run a program inside this host's network namespace.
    pub fn nsenter(&self) -> Vec<String> {
        vec!["nsenter".into(), format!("--net=/run/netns/{}", self.ns), "--".into()]
    }
}

/// A switch and its hosts.
pub struct Lab {
    /// The lab's number: names and the `10.L.0.0/24` subnet.
    pub id: u8,
    switch: String,
    hosts: Vec<Host>,
}

impl Lab {
    fn switch_name(id: u8) -> String {
        format!("rmfs{id}sw")
    }

    fn host_name(id: u8, k: usize) -> String {
        format!("rmfs{id}h{k}")
    }

    /// Remove whatever an earlier lab of this number left behind.
    fn clean(id: u8) {
        let list = Command::new("ip").args(["netns", "list"]).output().map(|o| o.stdout).unwrap_or_default();
        let prefix = format!("rmfs{id}");
        for line in String::from_utf8_lossy(&list).lines() {
            let name = line.split_whitespace().next().unwrap_or("");
            if name == Self::switch_name(id) || name.strip_prefix(&prefix).is_some_and(|r| r.starts_with('h')) {
                run_quiet(&["ip", "netns", "del", name]);
            }
        }
        run_quiet(&["ip", "link", "del", &format!("rmfs{id}r0")]);
    }

    /// A new lab with its switch, reachable from the test at `10.id.0.1`.
    pub fn new(id: u8) -> Lab {
        Self::clean(id);
        let switch = Self::switch_name(id);
        run(&["ip", "netns", "add", &switch]);
        in_ns(&switch, &["ip", "link", "add", "br0", "type", "bridge"]);
        in_ns(&switch, &["ip", "link", "set", "br0", "up"]);
        in_ns(&switch, &["ip", "link", "set", "lo", "up"]);
        // The test's own way in.
        let (outside, inside) = (format!("rmfs{id}r0"), format!("rmfs{id}r1"));
        run(&["ip", "link", "add", &outside, "type", "veth", "peer", "name", &inside]);
        run(&["ip", "link", "set", &inside, "netns", &switch]);
        in_ns(&switch, &["ip", "link", "set", &inside, "master", "br0"]);
        in_ns(&switch, &["ip", "link", "set", &inside, "up"]);
        run(&["ip", "addr", "add", &format!("10.{id}.0.1/24"), "dev", &outside]);
        run(&["ip", "link", "set", &outside, "up"]);
        Lab { id, switch, hosts: Vec::new() }
    }

    /// Add a host; it gets the next address from `10.id.0.10` up.
    pub fn add_host(&mut self) -> Host {
        let k = self.hosts.len();
        let ns = Self::host_name(self.id, k);
        let ip = format!("10.{}.0.{}", self.id, 10 + k);
        run(&["ip", "netns", "add", &ns]);
        let (a, b) = (format!("rmfs{}v{k}a", self.id), format!("rmfs{}v{k}b", self.id));
        run(&["ip", "link", "add", &a, "type", "veth", "peer", "name", &b]);
        run(&["ip", "link", "set", &a, "netns", &ns]);
        run(&["ip", "link", "set", &b, "netns", &self.switch]);
        in_ns(&self.switch, &["ip", "link", "set", &b, "master", "br0"]);
        in_ns(&self.switch, &["ip", "link", "set", &b, "up"]);
        in_ns(&ns, &["ip", "link", "set", "lo", "up"]);
        in_ns(&ns, &["ip", "link", "set", &a, "name", "eth0"]);
        in_ns(&ns, &["ip", "addr", "add", &format!("{ip}/24"), "dev", "eth0"]);
        in_ns(&ns, &["ip", "link", "set", "eth0", "up"]);
        // One table per host for faults: input and output chains, empty until a fault.
        in_ns(&ns, &["nft", "add", "table", "inet", "fault"]);
        for (chain, hook) in [("in", "input"), ("out", "output")] {
            let spec = format!("{{ type filter hook {hook} priority 0; policy accept; }}");
            in_ns(&ns, &["nft", "add", "chain", "inet", "fault", chain, &spec]);
        }
        let host = Host { ns, ip };
        self.hosts.push(host.clone());
        host
    }

    /// Every host, in the order they were added.
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    // ---- Faults ----

    /// `host` drops every packet in and out (as a pulled cable or a powered-off machine:
    /// its peers see silence, never a reset). Loopback inside the host still works.
    pub fn isolate(&self, host: &Host) {
        in_ns(&host.ns, &["nft", "add", "rule", "inet", "fault", "in", "iifname", "eth0", "drop"]);
        in_ns(&host.ns, &["nft", "add", "rule", "inet", "fault", "out", "oifname", "eth0", "drop"]);
    }

    /// `a` and `b` no longer reach each other (both directions); every other pair still does.
    pub fn cut(&self, a: &Host, b: &Host) {
        self.cut_one_way(a, b);
        self.cut_one_way(b, a);
    }

    /// Packets from `from` no longer arrive at `to` (the other direction still works).
    pub fn cut_one_way(&self, from: &Host, to: &Host) {
        in_ns(&to.ns, &["nft", "add", "rule", "inet", "fault", "in", "ip", "saddr", &from.ip, "drop"]);
    }

    /// Remove every fault of `host` (its own rules; a cut made in the peer's namespace stays
    /// until that peer is healed).
    pub fn heal(&self, host: &Host) {
        in_ns(&host.ns, &["nft", "flush", "chain", "inet", "fault", "in"]);
        in_ns(&host.ns, &["nft", "flush", "chain", "inet", "fault", "out"]);
    }

    /// Remove every fault of every host.
    pub fn heal_all(&self) {
        for h in &self.hosts {
            self.heal(h);
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        Self::clean(self.id);
    }
}

/// Run `f` on a thread that has entered `host`'s network namespace: sockets it makes belong
/// to that host (and keep belonging to it when handed back).
pub fn in_host<T: Send>(host: &Host, f: impl FnOnce() -> T + Send) -> T {
    let path = format!("/run/netns/{}", host.ns);
    std::thread::scope(|s| {
        s.spawn(|| {
            let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
            use std::os::fd::AsRawFd;
            // SAFETY: setns(2) on a namespace file we opened; it changes only this thread.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns into {path}: {}", std::io::Error::last_os_error());
            f()
        })
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
    })
}

/// Freeze a process (SIGSTOP): it keeps its sockets open and answers nothing, as a stuck VM.
pub fn freeze(pid: u32) {
    // SAFETY: kill(2) on a pid the test started.
    unsafe { libc::kill(pid as i32, libc::SIGSTOP) };
}

/// Let a frozen process run again (SIGCONT).
pub fn thaw(pid: u32) {
    // SAFETY: kill(2) on a pid the test started.
    unsafe { libc::kill(pid as i32, libc::SIGCONT) };
}
