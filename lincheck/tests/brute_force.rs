//! The checker agrees with a brute-force search over every order on small random histories, most of
//! them not linearizable: its pruning (cache, dominance, runs, twins) neither invents violations nor
//! hides them.

mod common;

use std::time::Duration;

use common::Rng;
use lincheck::models::folder::{FolderInput, FolderModel, FolderOp, FolderOutput};
use lincheck::models::register::{RegisterInput, RegisterModel, RegisterOutput};
use lincheck::{check, CheckResult, History, Model, Operation};
use proptest::prelude::*;

/// Whether some order of the operations respecting real time (and leaving out any unknown ones it
/// likes) is accepted by the model. Exponential; for a handful of operations only.
fn brute_force<M: Model>(model: &M, ops: &[Operation<M::Input, M::Output>]) -> bool {
    fn go<M: Model>(
        model: &M,
        ops: &[Operation<M::Input, M::Output>],
        left: &mut Vec<usize>,
        state: &M::State,
    ) -> bool {
        if left.iter().all(|&i| ops[i].is_unknown()) {
            return true;
        }
        for pos in 0..left.len() {
            let x = left[pos];
            // x may come next unless a returned operation left returned before x was called.
            let blocked = left.iter().any(|&y| y != x && ops[y].return_time().is_some_and(|ret| ret < ops[x].call));
            if blocked {
                continue;
            }
            let next: Vec<M::State> = match ops[x].output() {
                Some(output) => model.step(state, &ops[x].input, output).into_iter().collect(),
                None => model.step_unknown(state, &ops[x].input),
            };
            left.swap_remove(pos);
            let found = next.iter().any(|s| go(model, ops, left, s));
            left.push(x);
            let last = left.len() - 1;
            left.swap(pos, last);
            if found {
                return true;
            }
        }
        false
    }
    let mut left: Vec<usize> = (0..ops.len()).collect();
    go(model, ops, &mut left, &model.init())
}

/// Random intervals for `n` calls of 3 clients; `None` for unknown outcomes.
fn intervals(rng: &mut Rng, n: usize, unknown_per_mille: u64) -> Vec<(u32, u64, Option<u64>)> {
    let mut free = [0u64; 3];
    (0..n)
        .map(|i| {
            let client = (i % 3) as u32;
            let call = free[client as usize] + rng.below(3);
            let ret = call + rng.below(6);
            free[client as usize] = ret + 1;
            (client, call, (!rng.chance(unknown_per_mille)).then_some(ret))
        })
        .collect()
}

/// Checks one history both ways.
fn agree<M>(model: &M, ops: Vec<Operation<M::Input, M::Output>>) -> Result<bool, TestCaseError>
where
    M: Model + Sync,
    M::Input: Sync,
    M::Output: Sync,
{
    let expected = brute_force(model, &ops);
    let history = History::new(ops);
    let got = check(model, &history, Duration::from_secs(60));
    prop_assert!(
        matches!((&got, expected), (CheckResult::Ok, true) | (CheckResult::Violation(_), false)),
        "brute force says {expected}, the checker says {got}\n{history:#?}"
    );
    Ok(expected)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn register_checker_agrees_with_brute_force(seed in any::<u64>(), n in 1usize..10, unknown in prop_oneof![Just(0u64), 0u64..500]) {
        let mut rng = Rng::new(seed);
        let value = |rng: &mut Rng| rng.below(3);
        let ops = intervals(&mut rng, n, unknown)
            .into_iter()
            .map(|(client, call, ret)| {
                let (input, output) = match rng.below(3) {
                    0 => {
                        let seen = value(&mut rng);
                        (RegisterInput::Read(0), RegisterOutput::Read((seen > 0).then_some(seen)))
                    }
                    1 => (RegisterInput::Write(0, 1 + value(&mut rng)), RegisterOutput::WriteOk),
                    _ => {
                        let expected = value(&mut rng);
                        let input = RegisterInput::Cas(0, (expected > 0).then_some(expected), 1 + value(&mut rng));
                        (input, RegisterOutput::Cas(rng.chance(500)))
                    }
                };
                match ret {
                    Some(ret) => Operation::returned(client, input, output, call, ret),
                    None => Operation::unknown(client, input, call),
                }
            })
            .collect();
        agree(&RegisterModel::<u8, u64>::new(), ops)?;
    }

    #[test]
    fn folder_checker_agrees_with_brute_force(seed in any::<u64>(), n in 1usize..10, unknown in prop_oneof![Just(0u64), 0u64..500]) {
        let mut rng = Rng::new(seed);
        let name = |rng: &mut Rng| ["a", "b"][rng.below(2) as usize].to_string();
        let ops = intervals(&mut rng, n, unknown)
            .into_iter()
            .map(|(client, call, ret)| {
                let yes = rng.chance(500);
                let (op, output) = match rng.below(5) {
                    0 => (FolderOp::Create(name(&mut rng)), if yes { FolderOutput::Created } else { FolderOutput::AlreadyExists }),
                    1 => (FolderOp::Unlink(name(&mut rng)), if yes { FolderOutput::Removed } else { FolderOutput::NotFound }),
                    2 => (FolderOp::Rename(name(&mut rng), name(&mut rng)), if yes { FolderOutput::Renamed } else { FolderOutput::NotFound }),
                    3 => (FolderOp::Exists(name(&mut rng)), FolderOutput::Exists(yes)),
                    _ => {
                        let listed = [("a", rng.chance(500)), ("b", rng.chance(500))];
                        (FolderOp::List, FolderOutput::List(listed.iter().filter(|l| l.1).map(|l| l.0.to_string()).collect()))
                    }
                };
                let input = FolderInput::new("d", op);
                match ret {
                    Some(ret) => Operation::returned(client, input, output, call, ret),
                    None => Operation::unknown(client, input, call),
                }
            })
            .collect();
        agree(&FolderModel, ops)?;
    }
}
