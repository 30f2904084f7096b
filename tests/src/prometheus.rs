//! A real Prometheus (Debian's package, `scripts/install-test-tools.sh`) scraping a test
//! cluster, with the shipped alert rules (`deploy/prometheus/raftmfs.rules.yml`) whose `for:`
//! durations are cut to two seconds, and its HTTP API for the tests.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::Cluster;

/// A running Prometheus, killed when dropped.
pub struct Prometheus {
    child: Child,
    pub addr: String,
    rt: tokio::runtime::Runtime,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The shipped rules with every `for: ...` cut to two seconds.
pub fn quick_rules(shipped: &str) -> String {
    shipped
        .lines()
        .map(|l| {
            let indent = &l[..l.len() - l.trim_start().len()];
            match l.trim_start().strip_prefix("for: ") {
                Some(_) => format!("{indent}for: 2s"),
                None => l.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The repository's root.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repository")
}

impl Prometheus {
    /// Start Prometheus on `addr` (a loopback address of the test's block), its files in
    /// `dir`, scraping every master and chunkserver of `c` each second.
    pub fn start(dir: &Path, addr: &str, c: &Cluster) -> Prometheus {
        let shipped =
            std::fs::read_to_string(repo().join("deploy/prometheus/raftmfs.rules.yml")).expect("shipped rules");
        std::fs::write(dir.join("raftmfs.rules.yml"), quick_rules(&shipped)).expect("write rules");
        let list = |v: Vec<String>| v.iter().map(|a| format!("\"{a}\"")).collect::<Vec<_>>().join(", ");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - raftmfs.rules.yml\n\
             scrape_configs:\n  - job_name: mfsmaster\n    static_configs:\n      - targets: [{}]\n\
             \x20 - job_name: mfschunkserver\n    static_configs:\n      - targets: [{}]\n",
            list(c.masters.iter().map(|m| m.http_addr()).collect()),
            list(c.chunkservers.iter().map(|s| s.http_addr()).collect()),
        );
        std::fs::write(dir.join("prometheus.yml"), config).expect("write prometheus.yml");
        let log = std::fs::File::create(dir.join("prometheus.log")).expect("log");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("tsdb").display()))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start prometheus (Debian package `prometheus`: scripts/install-test-tools.sh)");
        Prometheus { child, addr: addr.to_string(), rt: crate::runtime() }
    }

    /// GET `path` of the API, as JSON.
    pub fn get(&self, path: &str) -> Option<serde_json::Value> {
        match self.rt.block_on(master::admin::http_get(&self.addr, path, Duration::from_secs(5))) {
            Ok((_, body)) => serde_json::from_str(&body).ok(),
            Err(_) => None,
        }
    }

    /// An instant query: its JSON answer (`status` is "success" when it parsed and ran).
    pub fn query_json(&self, q: &str) -> Option<serde_json::Value> {
        self.get(&format!("/api/v1/query?query={}", url_encode(q)))
    }

    /// The value of an instant query's first sample.
    pub fn query(&self, q: &str) -> Option<f64> {
        let v = self.query_json(q)?;
        v["data"]["result"].as_array()?.first()?["value"][1].as_str()?.parse().ok()
    }

    /// State of alert `name` ("firing", "pending"); `Some(None)` when it is not active,
    /// `None` when Prometheus did not answer.
    pub fn alert_state(&self, name: &str) -> Option<Option<String>> {
        let v = self.get("/api/v1/alerts")?;
        let alerts = v["data"]["alerts"].as_array()?;
        Some(
            alerts
                .iter()
                .find(|a| a["labels"]["alertname"] == name)
                .and_then(|a| a["state"].as_str().map(str::to_string)),
        )
    }
}

/// Percent-encode a query for a URL.
fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
