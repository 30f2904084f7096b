//! Linearizability checking for histories recorded by RaftMFS process tests.
//!
//! Concurrent clients (threads working through FUSE mounts while faults are injected) record each
//! call on a shared [`Recorder`]: what they asked, when, and what came back, or that nobody will ever
//! know. [`check`] then decides whether the [`History`] is *linearizable* with respect to a
//! sequential [`Model`]: whether every call can be given a point in time inside its interval (from
//! its invocation to its return) so that, taken in the order of those points, the calls return what
//! the model says. Two models come with the crate: [`models::register`] (small files read, written
//! and compared-and-set) and [`models::folder`] (names created, unlinked, renamed, looked up and
//! listed in shared folders).
//!
//! ```
//! use std::time::Duration;
//! use lincheck::models::register::{RegisterInput, RegisterModel, RegisterOutput};
//! use lincheck::{check, CheckResult, Recorder};
//!
//! let recorder = Recorder::new(); // clone it into every client thread
//! let id = recorder.invoke(1, RegisterInput::Write("a", 1));
//! // ... the client writes /mnt/a ...
//! recorder.complete(id, RegisterOutput::WriteOk);
//! let id = recorder.invoke(2, RegisterInput::Write("a", 2));
//! // ... the write times out during a failover: it may or may not have happened ...
//! recorder.unknown(id);
//! let id = recorder.invoke(1, RegisterInput::Read("a"));
//! recorder.complete(id, RegisterOutput::Read(Some(2)));
//!
//! match check(&RegisterModel::new(), &recorder.finish(), Duration::from_secs(10)) {
//!     CheckResult::Ok => {}
//!     CheckResult::Violation(report) => panic!("{report}"),
//!     CheckResult::Unknown => eprintln!("undecided within the budget"),
//! }
//! ```
//!
//! # The algorithm
//!
//! It is Porcupine's: Wing & Gong's search with Lowe's improvements.
//!
//! * **Partitions** (P-compositionality): a history is linearizable if and only if each of its
//!   independent parts is, so the model splits it ([`Model::partition`]: one part per key, per
//!   folder) and each part is searched separately, on as many threads as there are cores. The first
//!   violation found stops the others.
//! * **The search** walks the part's call and return events in time order, keeping a current
//!   linearization (a stack) and the model state it leads to. Calls made before the earliest pending
//!   return are the candidates to come next; a candidate is taken if the model accepts its output in
//!   the current state; its events are then *lifted* out of the event list (and put back in place
//!   when the search backtracks). Reaching a return means its call should have been taken already:
//!   a dead end, so the search undoes the last step and tries the next candidate.
//! * **A cache** of configurations (the set of calls linearized and the state) prunes paths that
//!   reach a configuration already explored.
//!
//! **Unknown outcomes** (a timeout, an error that may hide a success, a client that died) are treated
//! as returning at +infinity, and may also never take effect: the part is linearizable once every
//! call that returned is placed. Such calls stay candidates forever, which can multiply the search,
//! so they get special care. They are kept in a list of their own and tried only after every
//! returned candidate. The cache prunes by *dominance*: one configuration dominates another if both
//! placed the same returned calls and reached the same state, and the first placed a subset of the
//! second's unknown calls, because whatever finishes the second also finishes the first. Taking an
//! unknown call is skipped when it leaves the state unchanged, when taking it earlier in the same run
//! of unknown calls reaches the same state, or when an earlier unknown call with an equal input is
//! still pending (they are interchangeable). Each rule only prunes a configuration when one that
//! dominates it is explored, so no linearization is missed.
//!
//! **Reports**: when a part is not linearizable, the [`Report`] describes the deepest dead end the
//! search met: the longest linearizable prefix found, the state after it, and the calls that could
//! not come next (with the one whose return forced the issue, and why each failed).
//!
//! # Limits
//!
//! * Checking linearizability is NP-complete. The search is fast when parts are small or concurrency
//!   is low, and its cost grows with a part's size times the unknown calls in it. Measured in release
//!   builds with 8 clients: 10,000 calls over 50 keys, 1% of them unknown, take a few milliseconds;
//!   10,000 calls in *one* part take about 0.1 s with no unknown calls, 0.3 to 0.9 s with 18, and
//!   5 to 20 s with 111. Give [`check`] a budget; when it runs out the answer is
//!   [`CheckResult::Unknown`], never a guess. Spread load over keys and folders, and keep the number
//!   of unknown calls per part low, by ending clients cleanly rather than abandoning calls.
//! * The cache keeps every configuration explored: tens of megabytes for a part of a few thousand
//!   calls with some unknown ones.
//! * Times come from one monotonic clock, the recorder's, so all clients must record in one process.
//!   Call [`Recorder::invoke`] before issuing a request and [`Recorder::complete`] after the answer
//!   arrived; a wider interval is safe (it only allows more orders), a narrower one is not.
//! * Record a call as failed (e.g. [`models::register::RegisterOutput::WriteFailed`]) only when it
//!   certainly had no effect; otherwise record it as unknown. Likewise record any setup the models
//!   should know about: every key and folder starts out empty.
//! * Models must be deterministic, partitions truly independent, and equal inputs must have equal
//!   effects.
//! * A report describes one failing part (the lowest-numbered one found) and the deepest dead end of
//!   its search, which is where the history stops making sense, not necessarily where the bug is.

mod bitset;
mod check;
mod events;
mod history;
mod model;
pub mod models;
mod recorder;
mod report;
mod search;
mod visited;

pub use check::{check, CheckResult};
pub use history::{History, OpId, Operation, Outcome};
pub use model::Model;
pub use recorder::Recorder;
pub use report::{OpSummary, Report, Unplaced};
