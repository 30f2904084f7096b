//! Hand-written folder histories: exclusive creates, unlinks, renames, lookups and listings.

use std::time::Duration;

use lincheck::models::folder::{FolderInput, FolderModel, FolderOp, FolderOutput as Out};
use lincheck::{check, CheckResult, History, Operation, Report};

type Op = Operation<FolderInput, Out>;

fn input(op: FolderOp) -> FolderInput {
    FolderInput::new("/shared", op)
}

fn ok(client: u32, call: u64, ret: u64, op: FolderOp, output: Out) -> Op {
    Operation::returned(client, input(op), output, call, ret)
}

fn unknown(client: u32, call: u64, op: FolderOp) -> Op {
    Operation::unknown(client, input(op), call)
}

fn create(name: &str) -> FolderOp {
    FolderOp::Create(name.into())
}

fn exists(name: &str) -> FolderOp {
    FolderOp::Exists(name.into())
}

fn rename(from: &str, to: &str) -> FolderOp {
    FolderOp::Rename(from.into(), to.into())
}

fn listed(names: &[&str]) -> Out {
    Out::List(names.iter().map(|n| n.to_string()).collect())
}

fn verdict(ops: Vec<Op>) -> CheckResult {
    check(&FolderModel, &History::new(ops), Duration::from_secs(10))
}

fn assert_linearizable(ops: Vec<Op>) {
    let result = verdict(ops);
    assert!(result.is_ok(), "{result}");
}

fn assert_violation(ops: Vec<Op>) -> Report {
    match verdict(ops) {
        CheckResult::Violation(report) => {
            println!("{report}");
            report
        }
        other => panic!("expected a violation, got {other}"),
    }
}

#[test]
fn sequential_history_passes() {
    assert_linearizable(vec![
        ok(1, 0, 10, create("a"), Out::Created),
        ok(2, 20, 30, create("a"), Out::AlreadyExists),
        ok(1, 40, 50, FolderOp::List, listed(&["a"])),
        ok(2, 60, 70, rename("a", "b"), Out::Renamed),
        ok(1, 80, 90, exists("a"), Out::Exists(false)),
        ok(1, 100, 110, exists("b"), Out::Exists(true)),
        ok(2, 120, 130, FolderOp::Unlink("b".into()), Out::Removed),
        ok(2, 140, 150, FolderOp::Unlink("b".into()), Out::NotFound),
        ok(1, 160, 170, rename("b", "c"), Out::NotFound),
        ok(1, 180, 190, FolderOp::List, listed(&[])),
    ]);
}

#[test]
fn concurrent_exclusive_creates_have_one_winner() {
    assert_linearizable(vec![
        ok(1, 0, 50, create("x"), Out::AlreadyExists),
        ok(2, 10, 40, create("x"), Out::Created),
        ok(3, 20, 30, FolderOp::List, listed(&[])),
    ]);
    let report =
        assert_violation(vec![ok(1, 0, 50, create("x"), Out::Created), ok(2, 10, 40, create("x"), Out::Created)]);
    assert!(report.unplaced.iter().any(|u| u.reason.contains("impossible")), "{report}");
}

#[test]
fn folders_are_independent() {
    assert_linearizable(vec![
        Operation::returned(1, FolderInput::new("/a", create("x")), Out::Created, 0, 10),
        Operation::returned(2, FolderInput::new("/b", create("x")), Out::Created, 0, 10),
        Operation::returned(2, FolderInput::new("/b", FolderOp::List), listed(&["x"]), 20, 30),
    ]);
}

#[test]
fn unknown_create_took_effect_late_or_never() {
    // It took effect after the first listing.
    assert_linearizable(vec![
        unknown(1, 0, create("a")),
        ok(2, 10, 20, FolderOp::List, listed(&[])),
        ok(2, 30, 40, FolderOp::List, listed(&["a"])),
        ok(1, 50, 60, create("a"), Out::AlreadyExists),
    ]);
    // It never did.
    assert_linearizable(vec![
        unknown(1, 0, create("a")),
        ok(1, 50, 60, create("a"), Out::Created),
        ok(2, 70, 80, FolderOp::List, listed(&["a"])),
    ]);
    // It cannot undo itself.
    assert_violation(vec![
        unknown(1, 0, create("a")),
        ok(2, 10, 20, FolderOp::List, listed(&["a"])),
        ok(2, 30, 40, FolderOp::List, listed(&[])),
    ]);
}

#[test]
fn listing_missing_a_completed_create_fails() {
    let report = assert_violation(vec![
        ok(1, 0, 10, create("a"), Out::Created),
        ok(1, 20, 30, create("b"), Out::Created),
        ok(2, 40, 50, FolderOp::List, listed(&["b"])),
    ]);
    assert_eq!(report.partition_name, "folder \"/shared\"");
    assert!(
        report.unplaced.iter().any(|u| u.op.index == 2 && u.blocking && u.reason.contains("impossible")),
        "{report}"
    );
    assert!(report.state.contains("\"a\""), "{report}");
}

#[test]
fn rename_seen_half_done_fails() {
    // A reader sees the new name, then the old one again: the rename cannot be both done and not done.
    let report = assert_violation(vec![
        ok(1, 0, 10, create("a"), Out::Created),
        ok(1, 20, 200, rename("a", "b"), Out::Renamed),
        ok(2, 30, 40, exists("b"), Out::Exists(true)),
        ok(2, 50, 60, exists("a"), Out::Exists(true)),
    ]);
    assert!(report.unplaced.iter().any(|u| u.op.index == 3), "{report}");
    // A listing after the rename returned shows both names.
    assert_violation(vec![
        ok(1, 0, 10, create("a"), Out::Created),
        ok(1, 20, 30, rename("a", "b"), Out::Renamed),
        ok(2, 40, 50, FolderOp::List, listed(&["a", "b"])),
    ]);
    // A listing during the rename shows neither name.
    assert_violation(vec![
        ok(1, 0, 10, create("a"), Out::Created),
        ok(1, 20, 200, rename("a", "b"), Out::Renamed),
        ok(2, 40, 50, FolderOp::List, listed(&[])),
    ]);
}

#[test]
fn rename_replaces_its_target() {
    assert_linearizable(vec![
        ok(1, 0, 10, create("a"), Out::Created),
        ok(1, 20, 30, create("b"), Out::Created),
        ok(1, 40, 50, rename("a", "b"), Out::Renamed),
        ok(2, 60, 70, FolderOp::List, listed(&["b"])),
    ]);
}
