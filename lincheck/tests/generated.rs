//! Property tests: histories of simulated linearizable systems pass; the same histories with one
//! completed read changed to something no linearization allows fail.

mod common;

use std::time::Duration;

use common::{corrupt_a_listing, corrupt_a_read, folder_history, register_history, Sim};
use lincheck::models::folder::FolderModel;
use lincheck::models::register::RegisterModel;
use lincheck::{check, CheckResult};
use proptest::prelude::*;

const BUDGET: Duration = Duration::from_secs(60);

/// Up to 8 clients, 300 calls, 4 keys or 5 names, and 6% unknown outcomes: with more, a corrupted
/// history of one busy folder can take seconds to refute (the search must rule out every place for
/// every unknown call), which makes the suite slow without testing anything new.
fn sims() -> impl Strategy<Value = Sim> {
    (any::<u64>(), 1u32..=8, 1usize..300, 1u32..=4, 0u64..=60)
        .prop_map(|(seed, clients, ops, keys, unknown_per_mille)| Sim { seed, clients, ops, keys, unknown_per_mille })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn simulated_register_histories_pass(sim in sims()) {
        let history = register_history(&sim);
        let result = check(&RegisterModel::new(), &history, BUDGET);
        prop_assert!(result.is_ok(), "{:?}\n{}", sim, result);
    }

    #[test]
    fn register_read_of_a_value_never_written_fails(sim in sims(), pick in any::<u64>()) {
        let mut history = register_history(&sim);
        let Some(corrupted) = corrupt_a_read(&mut history, pick) else { return Ok(()) };
        match check(&RegisterModel::new(), &history, BUDGET) {
            CheckResult::Violation(report) => {
                prop_assert!(report.partition_ops.contains(&corrupted), "{:?}\n{}", sim, report);
            }
            other => prop_assert!(false, "{:?}: corrupted #{} but got {}", sim, corrupted, other),
        }
    }

    #[test]
    fn simulated_folder_histories_pass(sim in sims(), folders in 1u32..=2) {
        let sim = Sim { keys: sim.keys + 1, ..sim };
        let history = folder_history(&sim, folders);
        let result = check(&FolderModel, &history, BUDGET);
        prop_assert!(result.is_ok(), "{:?}\n{}", sim, result);
    }

    #[test]
    fn folder_listing_of_a_name_never_created_fails(sim in sims(), folders in 1u32..=2, pick in any::<u64>()) {
        let sim = Sim { keys: sim.keys + 1, ..sim };
        let mut history = folder_history(&sim, folders);
        let Some(corrupted) = corrupt_a_listing(&mut history, pick) else { return Ok(()) };
        match check(&FolderModel, &history, BUDGET) {
            CheckResult::Violation(report) => {
                prop_assert!(report.partition_ops.contains(&corrupted), "{:?}\n{}", sim, report);
            }
            other => prop_assert!(false, "{:?}: corrupted #{} but got {}", sim, corrupted, other),
        }
    }
}
