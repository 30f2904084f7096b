//! Checking a whole history: split it into partitions, search each within the time budget, and sum up.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::history::{History, Operation};
use crate::model::Model;
use crate::report::Report;
use crate::search::{search, Limits, Outcome};

/// The verdict on a history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckResult {
    /// The history is linearizable.
    Ok,
    /// It is not; the report says where the search got stuck.
    Violation(Report),
    /// The time budget ran out before every partition was decided, and none decided so far failed.
    Unknown,
}

impl CheckResult {
    /// Whether the history was found linearizable.
    pub fn is_ok(&self) -> bool {
        matches!(self, CheckResult::Ok)
    }

    /// The report, if the history was found not linearizable.
    pub fn violation(&self) -> Option<&Report> {
        match self {
            CheckResult::Violation(report) => Some(report),
            _ => None,
        }
    }
}

impl fmt::Display for CheckResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckResult::Ok => write!(f, "linearizable"),
            CheckResult::Violation(report) => write!(f, "{report}"),
            CheckResult::Unknown => write!(f, "unknown: the time budget ran out"),
        }
    }
}

/// How one partition's check ended.
enum PartResult {
    Ok,
    Violation(Report),
    Interrupted,
}

/// Checks that `history` is linearizable with respect to `model`, giving up after `budget` (measured
/// from this call, for all partitions together).
///
/// Partitions are checked independently, on up to as many threads as the machine has cores; the
/// first violation found stops the others. Never panics on any history (as long as the model does not).
pub fn check<M>(model: &M, history: &History<M::Input, M::Output>, budget: Duration) -> CheckResult
where
    M: Model + Sync,
    M::Input: Sync,
    M::Output: Sync,
{
    let ops = history.ops();
    let parts = partitions(model, ops);
    let limits_stop = AtomicBool::new(false);
    let limits = Limits { deadline: Instant::now().checked_add(budget), stop: &limits_stop };
    let check_part = |index: usize| -> PartResult {
        let part = &parts[index];
        let part_ops: Vec<&Operation<M::Input, M::Output>> = part.iter().map(|&i| &ops[i]).collect();
        match search(model, &part_ops, &limits) {
            Outcome::Linearizable => PartResult::Ok,
            Outcome::Interrupted => PartResult::Interrupted,
            Outcome::NotLinearizable(dead_end) => {
                limits_stop.store(true, Ordering::Relaxed);
                PartResult::Violation(Report::new(model, ops, index, part, &dead_end))
            }
        }
    };

    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(parts.len());
    let mut results: Vec<(usize, PartResult)> = Vec::with_capacity(parts.len());
    if threads <= 1 {
        for index in 0..parts.len() {
            let result = check_part(index);
            let failed = matches!(result, PartResult::Violation(_));
            results.push((index, result));
            if failed {
                break;
            }
        }
    } else {
        let next = AtomicUsize::new(0);
        let shared = Mutex::new(Vec::with_capacity(parts.len()));
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= parts.len() || limits_stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let result = check_part(index);
                    shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push((index, result));
                });
            }
        });
        results = shared.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner());
    }

    // The lowest-numbered violation found, so that the verdict is as repeatable as the threads allow.
    results.sort_by_key(|(index, _)| *index);
    let mut decided = 0;
    for (_, result) in results {
        match result {
            PartResult::Violation(report) => return CheckResult::Violation(report),
            PartResult::Ok => decided += 1,
            PartResult::Interrupted => {}
        }
    }
    if decided == parts.len() {
        CheckResult::Ok
    } else {
        CheckResult::Unknown
    }
}

/// The model's partitions, each sorted, without indices out of range or repeated, and without empty ones.
fn partitions<M: Model>(model: &M, ops: &[Operation<M::Input, M::Output>]) -> Vec<Vec<usize>> {
    let mut parts = model.partition(ops);
    for part in &mut parts {
        part.retain(|&i| i < ops.len());
        part.sort_unstable();
        part.dedup();
    }
    parts.retain(|part| !part.is_empty());
    parts
}
