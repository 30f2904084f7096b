//! Helpers shared by the chunkserver's in-process tests: chunkservers in temp folders on
//! 127.0.0.1 with free ports, data connections, and a fake master speaking `proto::cs`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chunkserver::{ChunkserverConfig, Running};
use proto::cs::{ChunkReport, CommandReply, CsCommand, CsError, CsToMaster, DamageReport, MasterToCs};
use proto::data::{DataCall, DataOp, DataResponse};
use proto::rpc::RpcConn;
use proto::token::{DataToken, TokenMode};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpListener;

/// Longest wait for anything in a test.
pub const WAIT: Duration = Duration::from_secs(10);
/// A master address nothing listens on (connections are refused at once).
pub const NO_MASTER: &str = "127.0.0.1:1";
/// The data token key every fake master of these tests hands out, and the helpers sign with.
pub const TEST_KEY_ID: u64 = 0x7e57;
pub const TEST_KEY: [u8; 32] = [0x5a; 32];

pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_test_writer()
        .try_init();
}

/// Write `mfshdd.cfg` and `mfschunkserver.cfg` in `dir` and parse the latter.
pub fn write_config(dir: &Path, disks: &[PathBuf], masters: &str, extra: &str) -> ChunkserverConfig {
    let hdd = dir.join("mfshdd.cfg");
    let lines: Vec<String> = disks.iter().map(|d| d.display().to_string()).collect();
    std::fs::write(&hdd, lines.join("\n") + "\n").unwrap();
    let text = format!(
        "DATA_PATH = {}\nMASTER_HOST = {masters}\nCSSERV_LISTEN_HOST = 127.0.0.1\nCSSERV_LISTEN_PORT = 0\n\
         HTTP_LISTEN_PORT = 0\nHDD_CONF_FILENAME = {}\nHDD_LEAVE_SPACE_DEFAULT = 0\nHEARTBEAT_MS = 200\n\
         MASTER_TIMEOUT = 30\nMASTER_RECONNECTION_DELAY = 1\n{extra}\n",
        dir.display(),
        hdd.display()
    );
    let path = dir.join("mfschunkserver.cfg");
    std::fs::write(&path, text).unwrap();
    ChunkserverConfig::from_file(&path).unwrap()
}

/// A chunkserver in its own temp folder, with one disk (`<dir>/disk1`).
pub struct TestCs {
    pub dir: tempfile::TempDir,
    pub disk: PathBuf,
    pub cfg: ChunkserverConfig,
    pub running: Option<Running>,
}

impl TestCs {
    pub async fn start(masters: &str) -> TestCs {
        Self::start_with(masters, "").await
    }

    pub async fn start_with(masters: &str, extra: &str) -> TestCs {
        init_logs();
        let dir = tempfile::tempdir().unwrap();
        let disk = dir.path().join("disk1");
        std::fs::create_dir(&disk).unwrap();
        let cfg = write_config(dir.path(), std::slice::from_ref(&disk), masters, extra);
        let running = chunkserver::run(cfg.clone()).await.unwrap();
        TestCs { dir, disk, cfg, running: Some(running) }
    }

    /// A chunkserver that serves data: registered with a fake master of its own, which
    /// welcomes it, gives it [`TEST_KEY`] and keeps the link alive (the data port serves no
    /// request without a token signed with a key a leader gave).
    pub async fn start_serving() -> TestCs {
        Self::start_serving_with("").await
    }

    pub async fn start_serving_with(extra: &str) -> TestCs {
        let master = FakeMaster::bind().await;
        let addr = master.addr.clone();
        tokio::spawn(async move {
            loop {
                let Ok(Ok((s, _))) = tokio::time::timeout(Duration::from_secs(3600), master.listener.accept()).await
                else {
                    return;
                };
                let (rd, wr) = s.into_split();
                let mut m = MasterConn { rd, wr };
                tokio::spawn(async move {
                    let Ok(_) = tokio::time::timeout(WAIT, m.registration()).await else { return };
                    m.welcome(1).await;
                    // Keep the link alive: a welcome now and then, whatever comes in read.
                    loop {
                        let got = tokio::time::timeout(
                            Duration::from_secs(1),
                            proto::frame::read_frame::<_, CsToMaster>(&mut m.rd),
                        )
                        .await;
                        match got {
                            Ok(Ok(_)) => {}
                            Ok(Err(_)) => return,
                            Err(_) => {
                                if proto::frame::write_frame(&mut m.wr, &MasterToCs::Welcome { term: 1 }).await.is_err()
                                {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
        });
        let cs = Self::start_with(&addr, extra).await;
        cs.wait_keyed().await;
        cs
    }

    /// Wait until the chunkserver holds [`TEST_KEY`] (a master welcomed it with
    /// [`MasterConn::welcome`]): until then its data port refuses every token.
    pub async fn wait_keyed(&self) {
        let conn = connect(&self.data_addr()).await;
        let deadline = tokio::time::Instant::now() + WAIT;
        while matches!(
            call(&conn, DataOp::Info { chunk_id: 1, version: 1 }).await,
            DataResponse::Error(CsError::Token(_))
        ) {
            assert!(tokio::time::Instant::now() < deadline, "the chunkserver never got the test key");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn running(&self) -> &Running {
        self.running.as_ref().unwrap()
    }

    pub fn data_addr(&self) -> String {
        self.running().data_addr.to_string()
    }

    pub fn http_addr(&self) -> String {
        self.running().http_addr.to_string()
    }

    /// Path of a chunk file on the first disk.
    pub fn chunk_file(&self, id: u64, version: u32) -> PathBuf {
        chunkserver::chunk_file::chunk_path(&self.disk, id, version)
    }

    pub async fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
    }

    pub async fn restart(&mut self) {
        self.stop().await;
        self.running = Some(chunkserver::run(self.cfg.clone()).await.unwrap());
    }
}

pub type DataConn = RpcConn<DataCall, DataResponse>;

pub async fn connect(addr: &str) -> Arc<DataConn> {
    RpcConn::connect(addr, WAIT).await.unwrap()
}

/// The token a leader holding [`TEST_KEY`] would give for `op` sent to the chunkserver at
/// `addr`: its chunk and version, its mode, and for a write the chain `addr` then `op`'s.
pub fn token_for(addr: &str, op: &DataOp) -> DataToken {
    let (chunk_id, version, mode) = DataCall { token: None, op: op.clone() }.needs().unwrap_or((0, 0, TokenMode::Read));
    let chain = match op {
        DataOp::Write { chain, .. } | DataOp::Truncate { chain, .. } | DataOp::Sync { chain, .. } => {
            std::iter::once(addr.to_string()).chain(chain.iter().cloned()).collect()
        }
        DataOp::Read { .. } | DataOp::Info { .. } | DataOp::Ping => Vec::new(),
    };
    let expires = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 3600;
    let mode = if mode == TokenMode::Write { TokenMode::Write } else { TokenMode::Read };
    DataToken::sign(TEST_KEY_ID, &TEST_KEY, chunk_id, version, mode, expires, chain)
}

/// Send `op` with the token a leader would give for it.
pub async fn call(conn: &DataConn, op: DataOp) -> DataResponse {
    let token = token_for(&conn.addr, &op);
    conn.call(DataCall { token: Some(token), op }, WAIT).await.unwrap()
}

/// Call and expect `Done` or an error.
pub async fn done(conn: &DataConn, op: DataOp) -> Result<(), CsError> {
    match call(conn, op).await {
        DataResponse::Done => Ok(()),
        DataResponse::Error(e) => Err(e),
        other => panic!("expected Done, got {other:?}"),
    }
}

pub async fn read(conn: &DataConn, chunk_id: u64, version: u32, offset: u32, size: u32) -> Result<Vec<u8>, CsError> {
    match call(conn, DataOp::Read { chunk_id, version, offset, size }).await {
        DataResponse::Data(d) => Ok(d),
        DataResponse::Error(e) => Err(e),
        other => panic!("expected Data, got {other:?}"),
    }
}

pub async fn write(
    conn: &DataConn,
    chunk_id: u64,
    version: u32,
    offset: u32,
    data: &[u8],
    chain: &[String],
) -> Result<(), CsError> {
    done(conn, DataOp::Write { chunk_id, version, offset, data: data.to_vec(), chain: chain.to_vec() }).await
}

pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    use rand::{Rng, SeedableRng};
    let mut v = vec![0u8; len];
    rand::rngs::StdRng::seed_from_u64(seed).fill(&mut v[..]);
    v
}

/// An address on 127.0.0.1 where nothing listens.
pub async fn dead_addr() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap().to_string();
    drop(l);
    a
}

/// A plain HTTP GET; returns (status, body).
pub async fn http_get(addr: &str, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut buf)).await.unwrap().unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// A fake master: a listener on 127.0.0.1 that speaks `proto::cs` frames.
pub struct FakeMaster {
    listener: TcpListener,
    pub addr: String,
}

impl FakeMaster {
    pub async fn bind() -> FakeMaster {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        FakeMaster { listener, addr }
    }

    pub async fn accept(&self) -> MasterConn {
        let (s, _) = tokio::time::timeout(WAIT, self.listener.accept()).await.expect("no chunkserver came").unwrap();
        let (rd, wr) = s.into_split();
        MasterConn { rd, wr }
    }
}

/// What `Register` carried.
#[derive(Debug)]
pub struct Registration {
    pub data_addr: String,
    pub http_addr: String,
    pub chunks: Vec<ChunkReport>,
    pub damaged: Vec<DamageReport>,
}

/// One chunkserver connection at the fake master.
pub struct MasterConn {
    rd: OwnedReadHalf,
    wr: OwnedWriteHalf,
}

impl MasterConn {
    pub async fn recv(&mut self) -> CsToMaster {
        tokio::time::timeout(WAIT, proto::frame::read_frame(&mut self.rd)).await.expect("nothing came").unwrap()
    }

    /// The next frame that is not a heartbeat.
    pub async fn recv_event(&mut self) -> CsToMaster {
        loop {
            match self.recv().await {
                CsToMaster::Heartbeat { .. } => continue,
                m => return m,
            }
        }
    }

    pub async fn send(&mut self, msg: MasterToCs) {
        proto::frame::write_frame(&mut self.wr, &msg).await.unwrap();
    }

    /// Welcome the chunkserver as the leader of `term` and give it [`TEST_KEY`] (sent plain:
    /// these fake masters have no `AUTH_CODE`).
    pub async fn welcome(&mut self, term: u64) {
        self.send(MasterToCs::Welcome { term }).await;
        self.send(MasterToCs::TokenKey { key_id: TEST_KEY_ID, key: TEST_KEY.to_vec() }).await;
    }

    /// The nonce exchange (answered without a proof: this fake master has no `AUTH_CODE`),
    /// then the `Register` that follows it.
    pub async fn registration(&mut self) -> Registration {
        match self.recv().await {
            CsToMaster::Hello { .. } => self.send(MasterToCs::Hello { nonce: [9; 32], proof: None }).await,
            other => panic!("expected Hello, got {other:?}"),
        }
        match self.recv().await {
            CsToMaster::Register { data_addr, http_addr, chunks, damaged, .. } => {
                Registration { data_addr, http_addr, chunks, damaged }
            }
            other => panic!("expected Register, got {other:?}"),
        }
    }

    /// Send a command and wait for its `CommandDone` (other frames are skipped).
    pub async fn command(&mut self, req_id: u64, term: u64, cmd: CsCommand) -> Result<(), CsError> {
        self.command_reply(req_id, term, cmd).await.map(|_| ())
    }

    /// As [`MasterConn::command`], with what the command answered.
    pub async fn command_reply(&mut self, req_id: u64, term: u64, cmd: CsCommand) -> Result<CommandReply, CsError> {
        self.send(MasterToCs::Command { req_id, term, cmd }).await;
        loop {
            match self.recv().await {
                CsToMaster::CommandDone { req_id: r, result } if r == req_id => return result,
                _ => continue,
            }
        }
    }

    /// The next `ChunkDamaged` report (other frames are skipped).
    pub async fn damage_report(&mut self) -> DamageReport {
        loop {
            if let CsToMaster::ChunkDamaged(r) = self.recv().await {
                return r;
            }
        }
    }

    /// True when the chunkserver closed the connection (within `WAIT`).
    pub async fn closed(&mut self) -> bool {
        loop {
            match tokio::time::timeout(WAIT, proto::frame::read_frame::<_, CsToMaster>(&mut self.rd)).await {
                Err(_) => return false,
                Ok(Ok(_)) => continue,
                Ok(Err(_)) => return true,
            }
        }
    }
}
