//! Building the status page's view ([`ClusterView`]). The leader builds it from what it holds
//! (the namespace, its chunkserver registry, its chunk loop's judgement, the sessions it
//! serves) and what it asks (each master's `/api/v1/status`, each chunkserver's disks). A
//! follower asks the leader for the leader's view; when no leader answers it builds its own,
//! with what a follower knows (the replicated namespace and sessions, the group) and a notice.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proto::meta::ROOT_INODE;
use serde::Deserialize;

use super::model::*;
use crate::access::SessionAccess;
use crate::admin::http_get;
use crate::exports::{ExportPath, ExportRule, Exports};
use crate::http::{current_status, HttpState, Status};
use crate::metrics::role_name;

/// How long a peer's status or a chunkserver's disks may take.
const PEER_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the leader's whole view may take to fetch (it asks its peers in parallel).
const LEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// The view for a browser on this master: the leader's when this master leads or can ask the
/// leader (`ask_leader`; false on a request forwarded by another master, so none loops), else
/// its own.
pub async fn cluster_view(st: &HttpState, ask_leader: bool) -> ClusterView {
    let m = st.raft.metrics().borrow().clone();
    if m.state == openraft::ServerState::Leader {
        return local_view(st, None).await;
    }
    let leader = m
        .current_leader
        .and_then(|id| m.membership_config.membership().get_node(&id).map(|n| (id, n.http_addr.clone())));
    let notice = match leader {
        None => "No leader is known to this master (an election may be under way): this is its own view. \
                 Servers, disks, mounts and operations are known to the leader only."
            .to_string(),
        Some(_) if !ask_leader => "This master does not lead: its own view.".to_string(),
        Some((id, addr)) => match fetch_view(&addr).await {
            Ok(mut v) => {
                v.served_by = m.id;
                return v;
            }
            Err(e) => format!(
                "The leader (master {id} at {addr}) did not answer ({e}): this is this master's own view. \
                 Servers, disks, mounts and operations are known to the leader only."
            ),
        },
    };
    local_view(st, Some(notice)).await
}

async fn fetch_view(addr: &str) -> Result<ClusterView, String> {
    let (code, body) =
        http_get(addr, "/api/v1/cluster?forwarded=1", LEADER_TIMEOUT).await.map_err(|e| e.to_string())?;
    if code != 200 {
        return Err(format!("HTTP {code}"));
    }
    let v: ClusterView = serde_json::from_str(&body).map_err(|e| format!("unreadable answer: {e}"))?;
    if !v.leader_view {
        return Err(format!("master {} no longer leads", v.view_of));
    }
    Ok(v)
}

/// This master's own view; `notice` set when it is not the leader's.
async fn local_view(st: &HttpState, notice: Option<String>) -> ClusterView {
    let m = st.raft.metrics().borrow().clone();
    let leading = m.state == openraft::ServerState::Leader;
    let (summary, sessions) = {
        let s = st.state.read();
        let sessions: Vec<(u64, String, u64, SessionAccess, String)> = s
            .sessions
            .iter()
            .map(|(id, sess)| {
                let root = root_path(&s.ns, &sess.access);
                (*id, sess.info.clone(), sess.opened.secs.max(0) as u64, sess.access.clone(), root)
            })
            .collect();
        (s.ns.summary(), sessions)
    };
    let masters = masters(st, &m).await;
    let (servers, disks, copies, total, avail, health) = if leading {
        let servers = servers(st);
        let disks = disks(&servers).await;
        let copies = servers.iter().filter(|s| s.connected).map(|s| s.chunks).sum();
        let total = servers.iter().filter(|s| s.connected).map(|s| s.total_bytes).sum();
        let avail = servers.iter().filter(|s| s.connected).map(|s| s.avail_bytes).sum();
        (servers, disks, copies, total, avail, chunk_health(st))
    } else {
        (Vec::new(), Vec::new(), 0, 0, 0, None)
    };
    let activity = if leading {
        let ids: std::collections::BTreeSet<u64> = sessions.iter().map(|s| s.0).collect();
        st.activity.read(m.current_term, |id| ids.contains(&id))
    } else {
        BTreeMap::new()
    };
    let mounts = sessions
        .iter()
        .map(|(id, info, opened, access, root)| {
            let seen = activity.get(id);
            MountRow {
                session: *id,
                info: info.clone(),
                ip: seen.map(|a| a.peer.to_string()),
                root: root.clone(),
                readonly: access.readonly,
                maproot: map_text(access.maproot),
                mapall: access.mapall.map(map_text),
                goals: format!("{}-{}", access.min_goal, access.max_goal),
                trash: trash_text(access.min_trash, access.max_trash),
                opened: *opened,
                idle_secs: seen.map(|a| a.last.elapsed().as_secs()),
            }
        })
        .collect();
    let per_session = sessions
        .iter()
        .filter_map(|(id, info, ..)| {
            let a = activity.get(id)?;
            Some(SessionOps {
                session: *id,
                info: info.clone(),
                ops: a.ops.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            })
        })
        .collect();
    let exports = {
        let e = st.exports.read().unwrap_or_else(|e| e.into_inner());
        exports_view(&e)
    };
    ClusterView {
        served_by: m.id,
        view_of: m.id,
        leader_view: leading,
        notice,
        generated: SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        info: Info {
            version: env!("CARGO_PKG_VERSION").to_string(),
            leader_id: m.current_leader,
            term: m.current_term,
            uptime_secs: st.started.elapsed().as_secs(),
            rss_bytes: rss_bytes(),
            namespace: summary,
            copies,
            total_bytes: total,
            avail_bytes: avail,
            health,
        },
        masters,
        servers,
        disks,
        exports,
        mounts,
        operations: Operations { totals: op_totals(st), sessions: per_session },
    }
}

/// Every member of the group with the status it reports (asked in parallel).
async fn masters(st: &HttpState, m: &openraft::RaftMetrics<u64, crate::raft_types::MasterNode>) -> Vec<MasterRow> {
    let membership = m.membership_config.membership().clone();
    let voters: std::collections::BTreeSet<u64> = membership.voter_ids().collect();
    let leading = m.state == openraft::ServerState::Leader;
    let last = m.last_log_index.unwrap_or(0);
    let replicated: BTreeMap<u64, u64> =
        m.replication.iter().flatten().map(|(id, matched)| (*id, matched.map_or(0, |l| l.index))).collect();
    let mut asks = Vec::new();
    for (id, node) in membership.nodes() {
        let (id, node) = (*id, node.clone());
        let mine = (id == m.id).then(|| current_status(st));
        asks.push(async move {
            let status = match mine {
                Some(s) => Ok(s),
                None => peer_status(&node.http_addr).await,
            };
            (id, node, status)
        });
    }
    let mut rows = Vec::new();
    for (id, node, status) in futures_join_all(asks).await {
        let lag = if !leading {
            None
        } else if id == m.id {
            Some(0)
        } else {
            Some(last.saturating_sub(replicated.get(&id).copied().unwrap_or(0)))
        };
        let mut row = MasterRow {
            id,
            client_addr: node.client_addr.clone(),
            http_addr: node.http_addr.clone(),
            voter: voters.contains(&id),
            lag_entries: lag,
            ..MasterRow::default()
        };
        match status {
            Ok(s) => {
                row.reachable = true;
                row.role = Some(s.role);
                row.term = Some(s.term);
                row.last_log_index = s.last_log_index;
                row.applied_index = s.applied_index;
                row.snapshot_index = s.snapshot_index;
                row.healthy = Some(s.healthy);
            }
            Err(e) => row.error = Some(e),
        }
        rows.push(row);
    }
    rows.sort_by_key(|r| r.id);
    if leading {
        if let Some(me) = rows.iter_mut().find(|r| r.id == m.id) {
            me.role = Some(role_name(m.state).to_string());
        }
    }
    rows
}

/// Run every future at once; results in the order given.
async fn futures_join_all<F>(futs: Vec<F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        match h.await {
            Ok(v) => out.push(v),
            Err(e) => tracing::warn!(error = %e, "status page: a lookup task failed"),
        }
    }
    out
}

async fn peer_status(addr: &str) -> Result<Status, String> {
    let (code, body) = http_get(addr, "/api/v1/status", PEER_TIMEOUT).await.map_err(|e| e.to_string())?;
    if code != 200 {
        return Err(format!("HTTP {code}"));
    }
    serde_json::from_str(&body).map_err(|e| format!("unreadable status: {e}"))
}

/// The registered chunkservers and those lost lately (leader only).
fn servers(st: &HttpState) -> Vec<ServerRow> {
    let lm = &st.metrics.leader;
    let damaged = |addr: &str| lm.server_damaged.get_metric_with_label_values(&[addr]).map_or(0, |g| g.get());
    let mut rows: Vec<ServerRow> = st
        .chunks
        .status()
        .into_iter()
        .map(|s| ServerRow {
            damaged: damaged(&s.data_addr),
            data_addr: s.data_addr,
            http_addr: s.http_addr,
            connected: true,
            chunks: s.chunks,
            total_bytes: s.total,
            avail_bytes: s.avail,
            load: s.load,
            connected_secs: s.connected_secs,
        })
        .collect();
    for addr in st.chunks.recently_lost() {
        rows.push(ServerRow { data_addr: addr, connected: false, ..ServerRow::default() });
    }
    rows.sort_by(|a, b| a.data_addr.cmp(&b.data_addr));
    rows
}

/// What the page reads of a chunkserver's `/api/v1/status`.
#[derive(Deserialize)]
struct CsStatus {
    disks: Vec<CsDisk>,
}

#[derive(Deserialize)]
struct CsDisk {
    path: String,
    to_remove: bool,
    total: u64,
    avail: u64,
    used: u64,
    chunks: u64,
    damaged: u64,
    error: Option<String>,
}

/// Every disk of every registered chunkserver, asked of the chunkservers in parallel.
async fn disks(servers: &[ServerRow]) -> Vec<DiskRow> {
    let asks: Vec<_> = servers
        .iter()
        .filter(|s| s.connected)
        .map(|s| {
            let (server, http) = (s.data_addr.clone(), s.http_addr.clone());
            async move {
                let got = async {
                    let (code, body) =
                        http_get(&http, "/api/v1/status", PEER_TIMEOUT).await.map_err(|e| e.to_string())?;
                    if code != 200 {
                        return Err(format!("HTTP {code}"));
                    }
                    serde_json::from_str::<CsStatus>(&body).map_err(|e| format!("unreadable status: {e}"))
                }
                .await;
                (server, got)
            }
        })
        .collect();
    let mut rows = Vec::new();
    for (server, got) in futures_join_all(asks).await {
        match got {
            Ok(cs) => rows.extend(cs.disks.into_iter().map(|d| DiskRow {
                server: server.clone(),
                path: d.path,
                chunks: d.chunks,
                damaged: d.damaged,
                used_bytes: d.used,
                total_bytes: d.total,
                avail_bytes: d.avail,
                marked_for_removal: d.to_remove,
                error: d.error,
            })),
            Err(e) => rows.push(DiskRow {
                server,
                error: Some(format!("chunkserver did not answer: {e}")),
                ..DiskRow::default()
            }),
        }
    }
    rows
}

fn chunk_health(st: &HttpState) -> Option<ChunkHealth> {
    let lm = &st.metrics.leader;
    let matrix = lm.matrix()?;
    Some(ChunkHealth {
        under_goal: lm.chunks_under_goal.get(),
        over_goal: lm.chunks_over_goal.get(),
        missing: lm.chunks_missing.get(),
        endangered: lm.chunks_endangered.get(),
        damaged: lm.chunks_damaged.get(),
        blocks_unrecoverable: lm.blocks_lost.get(),
        replication_queue: lm.replication_queue.get(),
        replications_in_flight: lm.replications_in_flight.get(),
        matrix: matrix.rows(),
    })
}

/// Requests this master answered, by operation (every outcome).
fn op_totals(st: &HttpState) -> Vec<(String, u64)> {
    let mut by_op: BTreeMap<String, u64> = BTreeMap::new();
    for family in prometheus::core::Collector::collect(&st.metrics.requests) {
        for metric in family.get_metric() {
            let op = metric.get_label().iter().find(|l| l.name() == "op").map(|l| l.value().to_string());
            if let Some(op) = op {
                *by_op.entry(op).or_insert(0) += metric.get_counter().get_value() as u64;
            }
        }
    }
    by_op.into_iter().filter(|(_, n)| *n > 0).collect()
}

fn root_path(ns: &crate::namespace::Namespace, access: &SessionAccess) -> String {
    if access.is_meta() {
        return ".".to_string();
    }
    if access.root == ROOT_INODE {
        return "/".to_string();
    }
    match ns.paths(ROOT_INODE, access.root).into_iter().next() {
        Some(p) => format!("/{}", String::from_utf8_lossy(&p)),
        None => format!("(inode {}, no name)", access.root),
    }
}

/// A trash time range, "unlimited" for MooseFS's largest.
fn trash_text(min: u32, max: u32) -> String {
    let one = |t: u32| if t == u32::MAX { "unlimited".to_string() } else { t.to_string() };
    format!("{}-{}", one(min), one(max))
}

fn map_text((uid, gid): (u32, u32)) -> String {
    format!("{uid}:{gid}")
}

fn exports_view(e: &Exports) -> ExportsView {
    ExportsView { source: e.source.clone(), rules: e.rules.iter().map(export_row).collect() }
}

fn export_row(r: &ExportRule) -> ExportRow {
    let (from, to) = (Ipv4Addr::from(r.from), Ipv4Addr::from(r.to));
    let ips = if r.from == 0 && r.to == u32::MAX {
        "*".to_string()
    } else if r.from == r.to {
        from.to_string()
    } else {
        format!("{from} - {to}")
    };
    let v = r.min_version;
    ExportRow {
        line: r.line,
        ips,
        path: match &r.path {
            ExportPath::Meta => ".".to_string(),
            ExportPath::Tree(p) => format!("/{p}"),
        },
        alldirs: r.alldirs,
        readonly: r.readonly,
        maproot: map_text(r.maproot),
        mapall: r.mapall.map(map_text),
        password: r.password_md5.is_some(),
        admin: r.admin,
        ignore_gid: r.ignore_gid,
        min_version: format!("{}.{}.{}", v >> 16, (v >> 8) & 0xff, v & 0xff),
        goals: format!("{}-{}", r.min_goal, r.max_goal),
        trash: trash_text(r.min_trash, r.max_trash),
    }
}

/// The resident memory of this process (Linux `/proc/self/status`).
fn rss_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = text.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
