//! A writer through a mount for fault tests: creates, writes, fsyncs and closes one small
//! file after another in a folder, counting the files it completed, the longest time one took
//! (the pause a fault caused) and any error. Every file's content is known
//! ([`FileWriter::content`]), so the test can read all of them back afterwards.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Shared {
    done: AtomicU64,
    longest_ms: AtomicU64,
    errors: Mutex<Vec<String>>,
    stop: AtomicBool,
}

/// A running writer thread (stopped and joined by [`FileWriter::stop`] or on drop).
pub struct FileWriter {
    dir: PathBuf,
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FileWriter {
    /// The content of file `f<i>`.
    pub fn content(i: u64) -> Vec<u8> {
        format!("file {i}\n").repeat(100).into_bytes()
    }

    /// Start writing `f0`, `f1`, ... in `dir`. The writer stops at its first error.
    pub fn start(dir: PathBuf) -> FileWriter {
        let shared = Arc::new(Shared {
            done: AtomicU64::new(0),
            longest_ms: AtomicU64::new(0),
            errors: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let thread = {
            let (dir, shared) = (dir.clone(), shared.clone());
            std::thread::spawn(move || {
                let mut i = 0u64;
                while !shared.stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    let r = (|| -> std::io::Result<()> {
                        let path = dir.join(format!("f{i}"));
                        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(path)?;
                        f.write_all(&Self::content(i))?;
                        f.sync_all()
                    })();
                    shared.longest_ms.fetch_max(t.elapsed().as_millis() as u64, Ordering::SeqCst);
                    match r {
                        Ok(()) => {
                            i += 1;
                            shared.done.store(i, Ordering::SeqCst);
                        }
                        Err(e) => {
                            shared.errors.lock().unwrap_or_else(|e| e.into_inner()).push(format!("f{i}: {e}"));
                            return;
                        }
                    }
                }
            })
        };
        FileWriter { dir, shared, thread: Some(thread) }
    }

    /// Files completed so far.
    pub fn done(&self) -> u64 {
        self.shared.done.load(Ordering::SeqCst)
    }

    /// Wait until `more` files beyond `from` are done, at most `limit`: whether they were.
    pub fn wait_past(&self, from: u64, more: u64, limit: Duration) -> bool {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if self.done() >= from + more || !self.errors().is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.done() >= from + more
    }

    /// The longest one file took since the last reset (the pause a fault caused).
    pub fn longest(&self) -> Duration {
        Duration::from_millis(self.shared.longest_ms.load(Ordering::SeqCst))
    }

    /// Start measuring the longest file anew.
    pub fn reset_longest(&self) {
        self.shared.longest_ms.store(0, Ordering::SeqCst);
    }

    /// Errors seen (the writer stops at the first).
    pub fn errors(&self) -> Vec<String> {
        self.shared.errors.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Stop and join the writer; returns the number of files done.
    pub fn stop(&mut self) -> u64 {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.done()
    }

    /// Check that every file done reads back with its content under `dir` (the same folder
    /// seen through another mount, say): the first one missing or different, if any.
    pub fn verify(&self, dir: &std::path::Path) -> Result<u64, String> {
        let n = self.done();
        for i in 0..n {
            match std::fs::read(dir.join(format!("f{i}"))) {
                Ok(b) if b == Self::content(i) => {}
                Ok(b) => return Err(format!("f{i}: {} bytes, not its content", b.len())),
                Err(e) => return Err(format!("f{i}: {e}")),
            }
        }
        Ok(n)
    }

    /// The folder written to.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }
}

impl Drop for FileWriter {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A fault lab with a cluster in it (`Cluster::in_lab`), a client host with a mount, and a
/// [`FileWriter`] already going in the mount: the setup of every "fault while a writer writes"
/// test. Fields drop in order: the writer stops, the mount goes, then the cluster, then the lab.
pub struct LabRig {
    pub writer: FileWriter,
    pub mount: crate::Mount,
    pub client: crate::netns::Host,
    pub cluster: crate::Cluster,
    pub lab: crate::netns::Lab,
}

impl LabRig {
    /// Lab number `id` (its own subnet and namespace names), with the writer past its first
    /// ten files.
    pub fn start(id: u8) -> LabRig {
        let mut lab = crate::netns::Lab::new(id);
        let cluster = crate::Cluster::in_lab(&mut lab, "", "");
        let client = lab.add_host();
        let mount = cluster.mount_on(Some(&client), &["-o", "mfsoptimeout=120"]);
        let writer = FileWriter::start(mount.path(""));
        assert!(writer.wait_past(0, 10, Duration::from_secs(30)), "the writer got going: {:?}", writer.errors());
        LabRig { writer, mount, client, cluster, lab }
    }

    /// The lab host of master `i`.
    pub fn master_host(&self, i: usize) -> crate::netns::Host {
        self.cluster.masters[i].host.clone().expect("a master of a lab cluster has a host")
    }

    /// Stop the writer and check, through a second mount on the client host, that every file
    /// it completed is there with its content.
    pub fn stop_and_verify(&mut self) {
        let total = self.writer.stop();
        assert!(self.writer.errors().is_empty(), "operations failed: {:?}", self.writer.errors());
        let second = self.cluster.mount_on(Some(&self.client), &[]);
        assert_eq!(self.writer.verify(&second.path("")), Ok(total));
    }
}
