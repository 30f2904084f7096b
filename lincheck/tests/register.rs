//! Hand-written register histories: linearizable ones pass, known anomalies fail with a useful report.

use std::time::Duration;

use lincheck::models::register::{RegisterInput as In, RegisterModel, RegisterOutput as Out};
use lincheck::{check, CheckResult, History, Operation, Report};

type Op = Operation<In<&'static str, u32>, Out<u32>>;

fn ok(client: u32, call: u64, ret: u64, input: In<&'static str, u32>, output: Out<u32>) -> Op {
    Operation::returned(client, input, output, call, ret)
}

fn unknown(client: u32, call: u64, input: In<&'static str, u32>) -> Op {
    Operation::unknown(client, input, call)
}

fn verdict(ops: Vec<Op>) -> CheckResult {
    check(&RegisterModel::new(), &History::new(ops), Duration::from_secs(10))
}

fn assert_linearizable(ops: Vec<Op>) {
    let result = verdict(ops);
    assert!(result.is_ok(), "{result}");
}

/// Checks that the history fails, prints the report, and returns it.
fn assert_violation(ops: Vec<Op>) -> Report {
    match verdict(ops) {
        CheckResult::Violation(report) => {
            println!("{report}");
            report
        }
        other => panic!("expected a violation, got {other}"),
    }
}

/// Whether operation `index` is among those the report could not place, for the given reason.
fn unplaced(report: &Report, index: usize, reason: &str) -> bool {
    report.unplaced.iter().any(|u| u.op.index == index && u.reason.contains(reason))
}

#[test]
fn sequential_history_passes() {
    assert_linearizable(vec![
        ok(1, 0, 10, In::Read("k"), Out::Read(None)),
        ok(1, 20, 30, In::Write("k", 1), Out::WriteOk),
        ok(2, 40, 50, In::Read("k"), Out::Read(Some(1))),
        ok(2, 60, 70, In::Cas("k", Some(1), 2), Out::Cas(true)),
        ok(1, 80, 90, In::Cas("k", Some(1), 3), Out::Cas(false)),
        ok(1, 100, 110, In::Write("k", 4), Out::WriteFailed),
        ok(2, 120, 130, In::Read("k"), Out::Read(Some(2))),
    ]);
}

#[test]
fn empty_history_and_history_of_unknowns_pass() {
    assert_linearizable(vec![]);
    assert_linearizable(vec![unknown(1, 0, In::Write("k", 1)), unknown(2, 5, In::Read("k"))]);
}

#[test]
fn overlapping_calls_may_take_effect_in_either_order() {
    assert_linearizable(vec![
        // Two concurrent writes; later reads agree that 1 came last.
        ok(1, 0, 100, In::Write("k", 1), Out::WriteOk),
        ok(2, 10, 90, In::Write("k", 2), Out::WriteOk),
        // A read overlapping both sees the first one to take effect.
        ok(3, 20, 80, In::Read("k"), Out::Read(Some(2))),
        ok(3, 110, 120, In::Read("k"), Out::Read(Some(1))),
        ok(2, 130, 140, In::Read("k"), Out::Read(Some(1))),
    ]);
    assert_linearizable(vec![
        // Two concurrent swaps from the same value: exactly one wins.
        ok(1, 0, 10, In::Write("k", 1), Out::WriteOk),
        ok(1, 20, 50, In::Cas("k", Some(1), 2), Out::Cas(false)),
        ok(2, 25, 45, In::Cas("k", Some(1), 3), Out::Cas(true)),
        ok(3, 60, 70, In::Read("k"), Out::Read(Some(3))),
    ]);
}

#[test]
fn keys_are_independent() {
    assert_linearizable(vec![
        ok(1, 0, 10, In::Write("a", 1), Out::WriteOk),
        ok(2, 0, 10, In::Write("b", 2), Out::WriteOk),
        ok(1, 20, 30, In::Read("b"), Out::Read(Some(2))),
        ok(2, 20, 30, In::Read("a"), Out::Read(Some(1))),
    ]);
}

#[test]
fn unknown_write_that_took_effect_passes() {
    assert_linearizable(vec![
        ok(1, 0, 10, In::Write("k", 1), Out::WriteOk),
        unknown(1, 20, In::Write("k", 2)),
        ok(2, 30, 40, In::Read("k"), Out::Read(Some(2))),
    ]);
}

#[test]
fn unknown_write_that_did_not_take_effect_passes() {
    assert_linearizable(vec![
        ok(1, 0, 10, In::Write("k", 1), Out::WriteOk),
        unknown(1, 20, In::Write("k", 2)),
        ok(2, 30, 40, In::Read("k"), Out::Read(Some(1))),
        ok(2, 1_000, 1_010, In::Read("k"), Out::Read(Some(1))),
    ]);
}

#[test]
fn unknown_write_may_take_effect_after_its_clients_later_calls() {
    assert_linearizable(vec![
        unknown(1, 0, In::Write("k", 1)),
        // The client gave up and went on; its unknown write lands late, over this one.
        ok(1, 10, 20, In::Write("k", 2), Out::WriteOk),
        ok(2, 30, 40, In::Read("k"), Out::Read(Some(2))),
        ok(2, 50, 60, In::Read("k"), Out::Read(Some(1))),
        ok(2, 70, 80, In::Read("k"), Out::Read(Some(1))),
    ]);
}

#[test]
fn unknown_swap_took_effect_or_not() {
    let base = || {
        vec![
            ok(1, 0, 10, In::Write("k", 1), Out::WriteOk),
            unknown(1, 20, In::Cas("k", Some(1), 2)),
            unknown(2, 20, In::Cas("k", Some(2), 3)),
        ]
    };
    for seen in [1, 2, 3] {
        let mut ops = base();
        ops.push(ok(3, 40, 50, In::Read("k"), Out::Read(Some(seen))));
        assert_linearizable(ops);
    }
}

#[test]
fn stale_read_after_acknowledged_write_fails() {
    let report = assert_violation(vec![
        ok(1, 0, 10, In::Write("k", 1), Out::WriteOk),
        ok(1, 20, 30, In::Write("k", 2), Out::WriteOk),
        ok(2, 40, 50, In::Read("k"), Out::Read(Some(1))),
    ]);
    assert_eq!(report.partition_name, "key \"k\"");
    assert_eq!(report.prefix.len(), 2);
    assert!(unplaced(&report, 2, "impossible"), "{report}");
    assert!(report.unplaced.iter().any(|u| u.blocking && u.op.index == 2));
    let text = report.to_string();
    assert!(text.contains("Read(\"k\") -> Read(Some(1))") && text.contains("state after it: Some(2)"), "{text}");
}

#[test]
fn lost_swap_fails() {
    // Both swaps from 1 claim success: one of them was lost.
    let report = assert_violation(vec![
        ok(1, 0, 10, In::Write("k", 1), Out::WriteOk),
        ok(1, 20, 50, In::Cas("k", Some(1), 2), Out::Cas(true)),
        ok(2, 25, 45, In::Cas("k", Some(1), 3), Out::Cas(true)),
    ]);
    assert!(unplaced(&report, 1, "impossible") || unplaced(&report, 2, "impossible"), "{report}");
    // A successful swap followed by a read of the old value.
    assert_violation(vec![
        ok(1, 0, 10, In::Write("k", 1), Out::WriteOk),
        ok(1, 20, 30, In::Cas("k", Some(1), 2), Out::Cas(true)),
        ok(2, 40, 50, In::Read("k"), Out::Read(Some(1))),
    ]);
}

#[test]
fn read_of_a_value_never_written_fails() {
    let report = assert_violation(vec![
        ok(1, 0, 10, In::Write("k", 1), Out::WriteOk),
        ok(2, 5, 50, In::Read("k"), Out::Read(Some(9))),
        ok(1, 20, 30, In::Write("k", 2), Out::WriteOk),
    ]);
    assert!(unplaced(&report, 1, "impossible"), "{report}");
}

#[test]
fn unknown_calls_excuse_nothing_they_could_not_do() {
    // An unknown write of 2 cannot explain a read of 3.
    assert_violation(vec![unknown(1, 0, In::Write("k", 2)), ok(2, 10, 20, In::Read("k"), Out::Read(Some(3)))]);
    // Once a read saw the unknown write's value, the old value cannot come back.
    let report = assert_violation(vec![
        ok(1, 0, 10, In::Write("k", 1), Out::WriteOk),
        unknown(1, 20, In::Write("k", 2)),
        ok(2, 30, 40, In::Read("k"), Out::Read(Some(2))),
        ok(2, 50, 60, In::Read("k"), Out::Read(Some(1))),
    ]);
    assert!(unplaced(&report, 3, "impossible"), "{report}");
    // A failed write never takes effect.
    assert_violation(vec![
        ok(1, 0, 10, In::Write("k", 1), Out::WriteFailed),
        ok(2, 20, 30, In::Read("k"), Out::Read(Some(1))),
    ]);
}

#[test]
fn mismatched_output_kind_fails_without_panicking() {
    assert_violation(vec![ok(1, 0, 10, In::Read("k"), Out::WriteOk)]);
}

#[test]
fn return_before_call_is_read_as_an_instant_call() {
    assert_linearizable(vec![
        ok(1, 50, 10, In::Write("k", 1), Out::WriteOk),
        ok(2, 60, 70, In::Read("k"), Out::Read(Some(1))),
    ]);
}

#[test]
fn zero_budget_gives_up_or_decides() {
    let ops: Vec<Op> =
        (0..5000).map(|i| ok(i % 4, i as u64 * 10, i as u64 * 10 + 5, In::Read("k"), Out::Read(None))).collect();
    let result = check(&RegisterModel::new(), &History::new(ops), Duration::ZERO);
    assert!(matches!(result, CheckResult::Unknown | CheckResult::Ok), "{result}");
}
