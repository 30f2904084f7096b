//! Readahead per open file.
//!
//! A read that continues the previous one (or starts the file) is served from windows fetched
//! ahead of it in the background: the first window is as large as the read (at least
//! [`MIN_WINDOW`]), each next one twice the size up to the configured maximum, and one window
//! beyond the current read is always in flight. The kernel's own readahead sends reads a little
//! out of order; any read that falls inside a window is a hit. A read far from the last one
//! (random access) drops the windows and goes straight to the chunkservers. Windows carry the
//! inode's data generation: a write or truncate by this mount drops them.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use proto::meta::{Creds, Ino};
use proto::Errno;
use tokio::sync::watch;

use crate::data_path::FileIo;

/// Smallest window fetched.
pub const MIN_WINDOW: u64 = 1 << 20;
/// Windows kept behind the current read (for reads arriving slightly out of order).
const KEEP_BEHIND: usize = 1;

type Fetched = Option<Result<Arc<Vec<u8>>, Errno>>;

/// One range being fetched or fetched.
#[derive(Clone)]
struct Window {
    start: u64,
    len: u64,
    data: watch::Receiver<Fetched>,
}

impl Window {
    fn end(&self) -> u64 {
        self.start + self.len
    }
}

struct State {
    last_end: u64,
    next_len: u64,
    generation: u64,
    windows: VecDeque<Window>,
}

/// Readahead state of one open handle.
pub struct ReadAhead {
    max: u64,
    state: Mutex<State>,
}

impl ReadAhead {
    /// `max`: the largest window (0 turns readahead off).
    pub fn new(max: usize) -> Self {
        ReadAhead {
            max: max as u64,
            state: Mutex::new(State { last_end: 0, next_len: MIN_WINDOW, generation: 0, windows: VecDeque::new() }),
        }
    }

    /// Read `size` bytes at `offset` (fewer at the end of the file). `generation` is the
    /// inode's current data generation.
    pub async fn read(
        &self,
        io: &Arc<FileIo>,
        creds: &Creds,
        ino: Ino,
        generation: u64,
        offset: u64,
        size: u32,
    ) -> Result<Vec<u8>, Errno> {
        let end = offset + size as u64;
        let plan = self.plan(io, creds, ino, generation, offset, end);
        let Some(windows) = plan else {
            return io.read(creds, ino, offset, size as u64).await.map_err(|e| e.errno());
        };
        let mut out = Vec::with_capacity(size as usize);
        for w in windows {
            let data = match wait(w.data.clone()).await {
                Ok(d) => d,
                Err(e) => {
                    // A window reaches past this read and may have failed on bytes it does not
                    // need (a block bad on every copy further on): read just what was asked.
                    self.drop_window(w.start);
                    tracing::debug!(ino, offset, size, errno = ?e, "readahead window failed; reading directly");
                    return io.read(creds, ino, offset, size as u64).await.map_err(|e| e.errno());
                }
            };
            let pos = offset + out.len() as u64;
            let lo = pos.saturating_sub(w.start) as usize;
            let hi = (end.min(w.end()) - w.start) as usize;
            if lo >= data.len() {
                break; // end of file inside this window
            }
            out.extend_from_slice(&data[lo..hi.min(data.len())]);
            if data.len() < w.len as usize || out.len() as u64 >= size as u64 {
                break;
            }
        }
        Ok(out)
    }

    /// Decide how to serve a read: `None` for a direct read, or the windows covering it
    /// (starting the fetches that are needed).
    fn plan(
        &self,
        io: &Arc<FileIo>,
        creds: &Creds,
        ino: Ino,
        generation: u64,
        offset: u64,
        end: u64,
    ) -> Option<Vec<Window>> {
        if self.max == 0 {
            return None;
        }
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.generation != generation {
            st.windows.clear();
            st.generation = generation;
        }
        let covered = st.windows.iter().any(|w| w.start <= offset && offset < w.end());
        if !covered {
            let sequential = offset == st.last_end || offset.abs_diff(st.last_end) <= self.max.max(MIN_WINDOW);
            st.windows.clear();
            if !sequential {
                st.last_end = end;
                st.next_len = MIN_WINDOW.min(self.max);
                return None;
            }
            let len = (end - offset).max(st.next_len).min(self.max.max(end - offset));
            let w = spawn_window(io, creds, ino, offset, len);
            st.windows.push_back(w);
            st.next_len = (len * 2).min(self.max).max(MIN_WINDOW.min(self.max));
        }
        // Keep one window ahead of this read.
        loop {
            let last_end = st.windows.back().map(Window::end).unwrap_or(offset);
            if last_end >= end + self.max / 2 {
                break;
            }
            let len = st.next_len;
            let w = spawn_window(io, creds, ino, last_end, len);
            st.windows.push_back(w);
            st.next_len = (len * 2).min(self.max).max(MIN_WINDOW.min(self.max));
        }
        // Forget windows well behind this read.
        while st.windows.len() > 1 {
            let behind = st.windows.iter().take_while(|w| w.end() <= offset).count();
            if behind > KEEP_BEHIND {
                st.windows.pop_front();
            } else {
                break;
            }
        }
        st.last_end = st.last_end.max(end);
        Some(st.windows.iter().filter(|w| w.start < end && offset < w.end()).cloned().collect())
    }

    fn drop_window(&self, start: u64) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.windows.retain(|w| w.start != start);
    }
}

fn spawn_window(io: &Arc<FileIo>, creds: &Creds, ino: Ino, start: u64, len: u64) -> Window {
    let (tx, rx) = watch::channel(None);
    let io = io.clone();
    let creds = creds.clone();
    tokio::spawn(async move {
        let r = io.read(&creds, ino, start, len).await.map(Arc::new).map_err(|e| e.errno());
        let _ = tx.send(Some(r));
    });
    Window { start, len, data: rx }
}

async fn wait(mut rx: watch::Receiver<Fetched>) -> Result<Arc<Vec<u8>>, Errno> {
    loop {
        if let Some(r) = rx.borrow_and_update().clone() {
            return r;
        }
        if rx.changed().await.is_err() {
            // The fetch task ended without an answer (it panicked or was dropped).
            return rx.borrow().clone().unwrap_or(Err(Errno::EIO));
        }
    }
}
