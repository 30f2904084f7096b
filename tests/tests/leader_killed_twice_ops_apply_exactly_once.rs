//! Acceptance (issue 2, item 2): 10,000 mixed metadata operations from several concurrent
//! client-library sessions while the leader is SIGKILLed twice and restarted. Afterwards
//! every acknowledged operation is present exactly once, none is applied twice, and all
//! three masters report the same state digest.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use client::{ClientConfig, ClientError, MasterClient};
use proto::client::{ReadOp, Reply, WriteOp};
use proto::meta::{Creds, FileType, Ino, SetAttr, XattrMode, ROOT_INODE};
use raftmfs_tests::{wait_for, Cluster};
use rand::{Rng, SeedableRng};

const WORKERS: u64 = 4;
const OPS_PER_WORKER: u64 = 2_500;

/// What a worker believes its directory holds, from acknowledged operations only.
#[derive(Default)]
struct Model {
    /// name -> object id
    names: BTreeMap<String, u64>,
    objs: BTreeMap<u64, Obj>,
    next_obj: u64,
}

#[derive(Clone, Debug)]
struct Obj {
    dir: bool,
    perm: u32,
    xattr: Option<Vec<u8>>,
    ino: Ino,
}

impl Model {
    fn nlink(&self, obj: u64) -> u32 {
        if self.objs[&obj].dir {
            2
        } else {
            self.names.values().filter(|&&o| o == obj).count() as u32
        }
    }
    fn pick(&self, rng: &mut impl Rng, dir: bool) -> Option<String> {
        let c: Vec<&String> = self.names.iter().filter(|(_, o)| self.objs[o].dir == dir).map(|(n, _)| n).collect();
        (!c.is_empty()).then(|| c[rng.gen_range(0..c.len())].clone())
    }
}

async fn worker(c: Arc<MasterClient>, w: u64, done: Arc<AtomicU64>) -> Result<(Ino, Model), String> {
    let cr = Creds::root();
    let dir =
        c.mkdir(&cr, ROOT_INODE, format!("w{w}").as_bytes(), 0o755).await.map_err(|e| format!("mkdir w{w}: {e}"))?;
    let d = dir.ino;
    let mut m = Model::default();
    let mut rng = rand::rngs::StdRng::seed_from_u64(w);
    for i in 0..OPS_PER_WORKER {
        let roll = rng.gen_range(0..100);
        let ctx = |what: &str, e: ClientError| format!("worker {w} op {i} {what}: {e}");
        if roll < 25 || m.names.len() < 4 {
            let name = format!("f{i}");
            let a = c.create(&cr, d, name.as_bytes(), 0o644).await.map_err(|e| ctx("create", e))?;
            m.next_obj += 1;
            m.objs.insert(m.next_obj, Obj { dir: false, perm: 0o644, xattr: None, ino: a.ino });
            m.names.insert(name, m.next_obj);
        } else if roll < 35 {
            let name = format!("d{i}");
            let a = c.mkdir(&cr, d, name.as_bytes(), 0o750).await.map_err(|e| ctx("mkdir", e))?;
            m.next_obj += 1;
            m.objs.insert(m.next_obj, Obj { dir: true, perm: 0o750, xattr: None, ino: a.ino });
            m.names.insert(name, m.next_obj);
        } else if roll < 50 {
            let Some(from) = m.pick(&mut rng, false) else { continue };
            let to = format!("r{i}");
            c.rename(&cr, d, from.as_bytes(), d, to.as_bytes()).await.map_err(|e| ctx("rename", e))?;
            let o = m.names.remove(&from).ok_or("model")?;
            m.names.insert(to, o);
        } else if roll < 60 {
            let Some(name) = m.pick(&mut rng, false) else { continue };
            c.unlink(&cr, d, name.as_bytes()).await.map_err(|e| ctx("unlink", e))?;
            m.names.remove(&name);
        } else if roll < 67 {
            let Some(name) = m.pick(&mut rng, false) else { continue };
            let o = m.names[&name];
            let to = format!("l{i}");
            c.write(&cr, WriteOp::Link { ino: m.objs[&o].ino, new_parent: d, new_name: to.clone().into_bytes() })
                .await
                .map_err(|e| ctx("link", e))?;
            m.names.insert(to, o);
        } else if roll < 75 {
            let dir = rng.gen_bool(0.3);
            let Some(name) = m.pick(&mut rng, dir) else { continue };
            let o = m.names[&name];
            let perm = 0o600 | (i as u32 % 64);
            let set = SetAttr { mode: Some(perm), ..Default::default() };
            c.write(&cr, WriteOp::SetAttr { ino: m.objs[&o].ino, set }).await.map_err(|e| ctx("setattr", e))?;
            m.objs.get_mut(&o).ok_or("model")?.perm = perm;
        } else if roll < 80 {
            let Some(name) = m.pick(&mut rng, true) else { continue };
            c.rmdir(&cr, d, name.as_bytes()).await.map_err(|e| ctx("rmdir", e))?;
            m.names.remove(&name);
        } else if roll < 88 {
            let Some(name) = m.pick(&mut rng, false) else { continue };
            let o = m.names[&name];
            let value = format!("v{i}").into_bytes();
            let op = WriteOp::SetXattr {
                ino: m.objs[&o].ino,
                name: b"user.k".to_vec(),
                value: value.clone(),
                mode: XattrMode::Set,
            };
            c.write(&cr, op).await.map_err(|e| ctx("setxattr", e))?;
            m.objs.get_mut(&o).ok_or("model")?.xattr = Some(value);
        } else {
            // Linearizable reads: what was acknowledged is visible, whoever leads now.
            let dir = rng.gen_bool(0.5);
            let Some(name) = m.pick(&mut rng, dir) else { continue };
            let o = m.names[&name];
            let a = c.lookup(&cr, d, name.as_bytes()).await.map_err(|e| ctx("lookup", e))?;
            if a.ino != m.objs[&o].ino || a.nlink != m.nlink(o) {
                return Err(format!("worker {w} op {i}: lookup {name} gave ino {} nlink {}", a.ino, a.nlink));
            }
        }
        done.fetch_add(1, Ordering::Relaxed);
    }
    Ok((d, m))
}

async fn verify(c: &MasterClient, w: u64, d: Ino, m: &Model) -> Result<(), String> {
    let cr = Creds::root();
    let entries = c.readdir_all(&cr, d).await.map_err(|e| e.to_string())?;
    // readdir lists in creation (cookie) order; compare as sorted lists, which keeps duplicates.
    let mut got: Vec<String> = entries.iter().map(|e| String::from_utf8_lossy(&e.name).into_owned()).collect();
    got.sort();
    let want: Vec<String> = m.names.keys().cloned().collect();
    if got != want {
        let extra: Vec<_> = got.iter().filter(|n| !m.names.contains_key(*n)).collect();
        let missing: Vec<_> = want.iter().filter(|n| !got.contains(n)).collect();
        let mut dups = got.clone();
        dups.dedup();
        return Err(format!(
            "worker {w}: directory differs from acknowledged ops: extra {extra:?} missing {missing:?} ({} duplicates)",
            got.len() - dups.len()
        ));
    }
    for (name, o) in &m.names {
        let obj = &m.objs[o];
        let a = c.lookup(&cr, d, name.as_bytes()).await.map_err(|e| format!("{name}: {e}"))?;
        let kind = if obj.dir { FileType::Dir } else { FileType::File };
        if a.ino != obj.ino || a.kind != kind || a.perm != obj.perm || a.nlink != m.nlink(*o) {
            return Err(format!("worker {w} {name}: got {a:?}, want {obj:?} nlink {}", m.nlink(*o)));
        }
        let x = c.read(&cr, ReadOp::GetXattr { ino: a.ino, name: b"user.k".to_vec() }).await;
        match (&obj.xattr, x) {
            (Some(v), Ok(Reply::Data(got))) if *v == got => {}
            (None, Err(ClientError::Errno(e))) if e == proto::Errno::ENODATA => {}
            (want, got) => return Err(format!("worker {w} {name}: xattr {got:?}, want {want:?}")),
        }
    }
    Ok(())
}

#[test]
fn leader_killed_twice_mixed_ops_apply_exactly_once() {
    let mut cluster = Cluster::start(21, 3, "");
    cluster.wait_leader(Duration::from_secs(30));
    let rt = raftmfs_tests::runtime();
    let addrs = cluster.client_addrs();
    let done = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for w in 0..WORKERS {
        let mut cfg = ClientConfig::new(&addrs.iter().map(String::as_str).collect::<Vec<_>>());
        cfg.info = format!("exactly-once worker {w}");
        let c = Arc::new(rt.block_on(MasterClient::connect(cfg)).expect("connect"));
        handles.push(rt.spawn(worker(c.clone(), w, done.clone())));
    }
    let total = WORKERS * OPS_PER_WORKER;
    for (n, at) in [total / 5, total * 3 / 5].into_iter().enumerate() {
        wait_for(Duration::from_secs(300), "workers to make progress", || {
            (done.load(Ordering::Relaxed) >= at || handles.iter().all(|h| h.is_finished())).then_some(())
        });
        let leader = cluster.wait_leader(Duration::from_secs(30));
        eprintln!("kill {}: SIGKILL leader m{} after {} ops", n + 1, leader + 1, done.load(Ordering::Relaxed));
        cluster.kill(leader);
        let new_leader = cluster.wait_leader(Duration::from_secs(30));
        assert_ne!(new_leader, leader);
        cluster.start_master(leader);
    }
    let mut results = Vec::new();
    for h in handles {
        results.push(rt.block_on(h).expect("worker task"));
    }
    assert!(done.load(Ordering::Relaxed) >= total * 9 / 10, "workers skipped too many ops");
    let mut cfg = ClientConfig::new(&addrs.iter().map(String::as_str).collect::<Vec<_>>());
    cfg.info = "verifier".into();
    let verifier = rt.block_on(MasterClient::connect(cfg)).expect("connect verifier");
    for (w, r) in results.into_iter().enumerate() {
        let (d, m) = r.unwrap_or_else(|e| panic!("{e}\nleader log:\n{}", cluster.log_tail(0, 30)));
        rt.block_on(verify(&verifier, w as u64, d, &m)).unwrap_or_else(|e| panic!("{e}"));
    }
    let ds = cluster.wait_converged(Duration::from_secs(60));
    assert_eq!(ds.len(), 3);
    assert!(ds.iter().all(|d| d.digest == ds[0].digest), "digests differ at the same index: {ds:?}");
    eprintln!("all three masters at index {:?} with digest {}", ds[0].applied_index, ds[0].digest);
}
