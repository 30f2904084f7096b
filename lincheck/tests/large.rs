//! Large histories complete; the times are printed (run with `--nocapture`), not asserted.

mod common;

use std::time::{Duration, Instant};

use common::{corrupt_a_listing, corrupt_a_read, folder_history, register_history, Sim};
use lincheck::models::folder::FolderModel;
use lincheck::models::register::RegisterModel;
use lincheck::{check, CheckResult, Model};

const BUDGET: Duration = Duration::from_secs(120);

/// Checks and prints how long it took.
fn timed<M>(what: &str, model: &M, history: &lincheck::History<M::Input, M::Output>) -> CheckResult
where
    M: Model + Sync,
    M::Input: Sync,
    M::Output: Sync,
{
    let start = Instant::now();
    let result = check(model, history, BUDGET);
    let verdict = match &result {
        CheckResult::Ok => "linearizable",
        CheckResult::Violation(_) => "violation",
        CheckResult::Unknown => "unknown",
    };
    println!(
        "{what}: {} ops ({} unknown), {} partitions: {verdict} in {:?}",
        history.len(),
        history.unknown_count(),
        model.partition(history.ops()).len(),
        start.elapsed()
    );
    result
}

const REGISTERS: Sim = Sim { seed: 0x5eed, clients: 8, ops: 10_000, keys: 50, unknown_per_mille: 10 };

#[test]
fn ten_thousand_register_ops_check() {
    let history = register_history(&REGISTERS);
    let result = timed("registers", &RegisterModel::new(), &history);
    assert!(result.is_ok(), "{result}");
}

#[test]
fn ten_thousand_register_ops_with_one_bad_read_fail() {
    let mut history = register_history(&REGISTERS);
    let corrupted = corrupt_a_read(&mut history, 4242);
    let result = timed("registers, one bad read", &RegisterModel::new(), &history);
    match result {
        CheckResult::Violation(report) => {
            println!("{report}");
            assert!(corrupted.is_some_and(|i| report.partition_ops.contains(&i)));
        }
        other => panic!("{other}"),
    }
}

/// One partition of 10,000 operations. The search's cost grows with the partition's size times the
/// unknown operations in it (each stays a candidate forever), so this one has few.
#[test]
fn ten_thousand_register_ops_on_one_key_check() {
    let sim = Sim { keys: 1, unknown_per_mille: 2, ..REGISTERS };
    let result = timed("one register", &RegisterModel::new(), &register_history(&sim));
    assert!(result.is_ok(), "{result}");
}

const FOLDERS: Sim = Sim { seed: 0xf01d, clients: 8, ops: 10_000, keys: 8, unknown_per_mille: 10 };

#[test]
fn ten_thousand_folder_ops_check() {
    let result = timed("folders", &FolderModel, &folder_history(&FOLDERS, 10));
    assert!(result.is_ok(), "{result}");
}

/// One folder with 10,000 operations (as [`ten_thousand_register_ops_on_one_key_check`]).
#[test]
fn ten_thousand_ops_in_one_folder_check() {
    let sim = Sim { unknown_per_mille: 2, ..FOLDERS };
    let result = timed("one folder", &FolderModel, &folder_history(&sim, 1));
    assert!(result.is_ok(), "{result}");
}

#[test]
fn ten_thousand_folder_ops_with_one_bad_listing_fail() {
    let mut history = folder_history(&FOLDERS, 10);
    corrupt_a_listing(&mut history, 77);
    let result = timed("folders, one bad listing", &FolderModel, &history);
    assert!(result.violation().is_some(), "{result}");
}
