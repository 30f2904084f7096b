//! The shipped Grafana dashboard (`deploy/grafana/raftmfs-dashboard.json`): a dashboard Grafana
//! imports (its JSON model: uid, schema version, a Prometheus datasource input, panels with
//! unique ids on the 24-column grid, each with queries), and every query both runs in a real
//! Prometheus scraping a live cluster and names only metrics the daemons export there.
//!
//! One cluster on 127.0.101.x; Prometheus on 127.0.101.1:9090.

use std::collections::BTreeSet;
use std::time::Duration;

use raftmfs_tests::prometheus::{repo, Prometheus};
use raftmfs_tests::{run_tool, wait_for, Cluster};

const BLOCK: u8 = 101;
const LIMIT: Duration = Duration::from_secs(90);

/// The `mfsmaster_*` / `mfschunkserver_*` names in a query.
fn metric_names(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'"' {
            // A label value, not a metric: skip to the closing quote.
            i += 1;
            while i < bytes.len() && bytes[i] != b'"' {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            continue;
        }
        let starts_word = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if starts_word && expr[i..].starts_with("mfs") {
            let end = expr[i..].find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).map_or(expr.len(), |e| i + e);
            out.push(expr[i..end].to_string());
            i = end;
        } else {
            i += 1;
        }
    }
    out
}

/// Sample names in a `/metrics` text.
fn sample_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next().map(str::to_string))
        .collect()
}

#[test]
fn every_dashboard_query_runs_and_names_exported_metrics() {
    assert_eq!(unsafe { libc::geteuid() }, 0, "mount tests run as root");
    let text = std::fs::read_to_string(repo().join("deploy/grafana/raftmfs-dashboard.json")).expect("dashboard");
    let d: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is valid JSON");
    assert!(d["uid"].as_str().is_some_and(|u| !u.is_empty() && u.len() <= 40), "a uid Grafana accepts");
    assert!(d["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(d["schemaVersion"].as_u64().is_some_and(|v| v >= 30), "a current schema version");
    assert_eq!(d["__inputs"][0]["pluginId"], "prometheus", "imports ask for a Prometheus datasource");
    let panels = d["panels"].as_array().expect("panels");
    let mut ids = BTreeSet::new();
    let mut exprs = Vec::new();
    for p in panels {
        assert!(ids.insert(p["id"].as_u64().expect("panel id")), "panel ids are unique");
        let g = &p["gridPos"];
        let (x, w) = (g["x"].as_u64().expect("x"), g["w"].as_u64().expect("w"));
        assert!(x + w <= 24 && g["h"].as_u64().is_some() && g["y"].as_u64().is_some(), "on the grid: {p}");
        if p["type"] == "row" {
            continue;
        }
        assert!(p["title"].as_str().is_some_and(|t| !t.is_empty()), "a title: {p}");
        assert_eq!(p["datasource"]["uid"], "${DS_PROMETHEUS}", "{}", p["title"]);
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{} has queries", p["title"]);
        for t in targets {
            exprs.push((p["title"].as_str().unwrap_or("").to_string(), t["expr"].as_str().expect("expr").to_string()));
        }
    }
    assert!(exprs.len() >= 30, "cluster health, replication, servers, Raft and clients: {}", exprs.len());

    // A live cluster doing a bit of everything the dashboard shows.
    let c = Cluster::with_chunkservers(BLOCK, "REPLICATIONS_DELAY_INIT = 0", "");
    let m = c.mount(&[]);
    for i in 0..4 {
        std::fs::write(m.path(&format!("f{i}")), vec![i as u8; 1 << 20]).expect("write");
    }
    let f0 = m.path("f0");
    assert!(run_tool("mfssetgoal", &["2", f0.to_str().expect("utf-8")]).0, "mfssetgoal");
    let leader = c.wait_leader(LIMIT);
    let mut exported = BTreeSet::new();
    wait_for(LIMIT, "the leader's view of the chunks and a replication done", || {
        let t = c.metrics(leader)?;
        let replicated = t
            .lines()
            .filter_map(|l| l.strip_prefix("mfsmaster_chunk_replications_total{result=\"ok\"} "))
            .any(|v| v.trim() != "0");
        (t.contains("\nmfsmaster_chunks_under_goal 0") && replicated).then_some(())
    });
    exported.extend(sample_names(&c.metrics(leader).expect("leader /metrics")));
    for i in 0..3 {
        exported.extend(sample_names(&c.cs_metrics(i).expect("chunkserver /metrics")));
    }

    let dir = tempfile::Builder::new().prefix("raftmfs-grafana-").tempdir().expect("tempdir");
    let p = Prometheus::start(dir.path(), &format!("127.0.{BLOCK}.1:9090"), &c);
    wait_for(LIMIT, "Prometheus scraping", || p.query("count(up == 1)").filter(|n| *n >= 6.0));
    for (title, expr) in &exprs {
        for name in metric_names(expr) {
            assert!(exported.contains(&name), "panel {title:?}: {name} is not exported ({expr})");
        }
        let v = p.query_json(expr).unwrap_or_else(|| panic!("panel {title:?}: no answer to {expr}"));
        assert_eq!(v["status"], "success", "panel {title:?}: {expr}: {v}");
    }
    drop(m);
}

#[test]
fn metric_names_are_found_in_queries() {
    assert_eq!(
        metric_names("sum by (le) (rate(mfsmaster_x_bucket[5m])) / mfschunkserver_y{a=\"mfsmaster\"} + notmfs_z"),
        vec!["mfsmaster_x_bucket".to_string(), "mfschunkserver_y".to_string()]
    );
}
