//! The planning rules, one behaviour per test.

use proto::meta::CHUNK_SIZE;

use super::*;

fn meta(version: u32, holders: &[&str]) -> ChunkMeta {
    ChunkMeta { version, holders: holders.iter().map(|s| s.to_string()).collect() }
}

fn copy(addr: &str, version: u32) -> Copy {
    Copy { addr: addr.into(), version, to_remove: false, damage: Damage::None }
}

fn damaged(addr: &str, version: u32, blocks: &[u32]) -> Copy {
    Copy { damage: Damage::Blocks(blocks.to_vec()), ..copy(addr, version) }
}

fn unusable(addr: &str, version: u32) -> Copy {
    Copy { damage: Damage::Whole, ..copy(addr, version) }
}

fn cand(addr: &str, avail_chunks: u64) -> Candidate {
    Candidate { addr: addr.into(), total: 100 * CHUNK_SIZE, avail: avail_chunks * CHUNK_SIZE, load: 0 }
}

const ALL: Permits = Permits { replicate: true, trim: true, repair: true };

fn facts<'a>(meta: Option<&'a ChunkMeta>, goal: u8, copies: &'a [Copy]) -> ChunkFacts<'a> {
    ChunkFacts { id: 9, meta, goal, to_delete: false, below_next_id: true, copies, repair_failed: &[] }
}

fn del(addr: &str, version: u32, reason: DeleteReason) -> Action {
    Action::Delete { addr: addr.into(), version, reason }
}

#[test]
fn a_chunk_at_goal_needs_nothing() {
    let m = meta(3, &["a", "b"]);
    let copies = [copy("a", 3), copy("b", 3)];
    let (actions, health) = plan(&facts(Some(&m), 2, &copies), &[], ALL);
    assert!(actions.is_empty(), "{actions:?}");
    assert_eq!(health, Health { goal: 2, good: 2, ..Health::default() });
}

#[test]
fn stale_copies_are_deleted_only_while_a_valid_copy_exists() {
    let m = meta(3, &["a", "b"]);
    let copies = [copy("a", 3), copy("b", 1), copy("c", 3)];
    let (actions, _) = plan(&facts(Some(&m), 1, &copies), &[], ALL);
    assert_eq!(actions, vec![del("b", 1, DeleteReason::Stale), del("c", 3, DeleteReason::Stale)]);
    // Without a valid copy nothing is deleted: the stale ones may be all that is left.
    let copies = [copy("b", 1), copy("c", 3)];
    let (actions, health) = plan(&facts(Some(&m), 1, &copies), &[], ALL);
    assert!(actions.is_empty());
    assert!(health.missing);
}

#[test]
fn a_holder_one_version_behind_is_renumbered_and_counts_as_valid() {
    let m = meta(4, &["a", "b"]);
    let copies = [copy("a", 4), copy("b", 3)];
    let (actions, health) = plan(&facts(Some(&m), 2, &copies), &[], ALL);
    assert_eq!(actions, vec![Action::Renumber { addr: "b".into(), from: 3, to: 4 }]);
    assert!(!health.under_goal);
}

#[test]
fn under_goal_asks_for_replication_only_when_permitted() {
    let m = meta(1, &["a"]);
    let copies = [copy("a", 1), copy("x", 7)];
    let (actions, health) = plan(&facts(Some(&m), 3, &copies), &[], ALL);
    assert!(health.under_goal);
    assert!(actions.contains(&Action::Replicate { count: 2, exclude: vec!["a".into(), "x".into()] }));
    let (actions, _) = plan(&facts(Some(&m), 3, &copies), &[], Permits { replicate: false, trim: true, repair: true });
    assert!(!actions.iter().any(|a| matches!(a, Action::Replicate { .. })));
}

#[test]
fn copies_on_removal_disks_do_not_count_and_go_first_when_over_goal() {
    let m = meta(1, &["a", "b", "c"]);
    let mut copies = vec![copy("a", 1), copy("b", 1)];
    copies[1].to_remove = true;
    let (actions, health) = plan(&facts(Some(&m), 2, &copies), &[], ALL);
    assert!(health.under_goal, "b is on a disk being removed");
    assert!(actions.iter().any(|a| matches!(a, Action::Replicate { count: 1, .. })));
    // Once a third copy exists, the one on the removal disk is the extra one.
    copies.push(copy("c", 1));
    let servers = [cand("a", 1), cand("b", 90), cand("c", 50)];
    let (actions, health) = plan(&facts(Some(&m), 2, &copies), &servers, ALL);
    assert!(health.over_goal && !health.under_goal);
    assert_eq!(actions, vec![del("b", 1, DeleteReason::OverGoal)]);
}

#[test]
fn over_goal_deletes_from_the_fullest_server_and_only_when_permitted() {
    let m = meta(2, &["a", "b", "c"]);
    let copies = [copy("a", 2), copy("b", 2), copy("c", 2)];
    let servers = [cand("a", 50), cand("b", 5), cand("c", 70)];
    let (actions, _) = plan(&facts(Some(&m), 1, &copies), &servers, ALL);
    assert_eq!(actions, vec![del("b", 2, DeleteReason::OverGoal), del("a", 2, DeleteReason::OverGoal)]);
    let (actions, health) =
        plan(&facts(Some(&m), 1, &copies), &servers, Permits { replicate: true, trim: false, repair: true });
    assert!(actions.is_empty());
    assert!(health.over_goal);
}

#[test]
fn deleted_and_orphan_chunks_are_deleted_everywhere_and_pending_ids_left_alone() {
    let copies = [copy("a", 1), copy("b", 2)];
    let mut f = facts(None, 1, &copies);
    f.to_delete = true;
    let (actions, _) = plan(&f, &[], ALL);
    assert_eq!(actions, vec![del("a", 0, DeleteReason::Deleted), del("b", 0, DeleteReason::Deleted)]);
    f.to_delete = false;
    let (actions, _) = plan(&f, &[], ALL);
    assert_eq!(actions, vec![del("a", 0, DeleteReason::Orphan), del("b", 0, DeleteReason::Orphan)]);
    // At or above the next id: maybe an allocation not committed yet.
    f.below_next_id = false;
    assert!(plan(&f, &[], ALL).0.is_empty());
}

// ---- Damage ----

/// A planned repair: server, blocks, sources, other copies.
type Repair<'a> = (&'a str, Vec<u32>, Vec<String>, Vec<RepairSource>);

fn repairs(actions: &[Action]) -> Vec<Repair<'_>> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::RepairBlocks { addr, blocks, sources, others } => {
                Some((addr.as_str(), blocks.clone(), sources.clone(), others.clone()))
            }
            _ => None,
        })
        .collect()
}

fn deletes(actions: &[Action]) -> Vec<&str> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Delete { addr, .. } => Some(addr.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_damaged_only_copy_is_kept_and_its_lost_blocks_counted() {
    // Goal 1, one copy with a bad block: no other copy to repair from, nothing deleted.
    let m = meta(2, &["a"]);
    let copies = [damaged("a", 2, &[3])];
    let (actions, health) = plan(&facts(Some(&m), 1, &copies), &[], ALL);
    assert!(actions.is_empty(), "{actions:?}");
    let want = Health {
        under_goal: true,
        over_goal: false,
        missing: false,
        endangered: false,
        damaged: true,
        damaged_on: vec!["a".into()],
        lost_blocks: 1,
        goal: 1,
        good: 0,
    };
    assert_eq!(health, want);
    // Not even a stale copy goes: it may hold block 3 as it was before the last write.
    let copies = [damaged("a", 2, &[3]), copy("s", 1)];
    let (actions, _) = plan(&facts(Some(&m), 1, &copies), &[], ALL);
    assert!(deletes(&actions).is_empty(), "{actions:?}");
}

#[test]
fn copies_bad_in_different_blocks_repair_each_other_and_are_not_replaced() {
    let m = meta(4, &["a", "b"]);
    let copies = [damaged("a", 4, &[3]), damaged("b", 4, &[7, 9])];
    let (actions, health) = plan(&facts(Some(&m), 2, &copies), &[], ALL);
    assert_eq!(
        repairs(&actions),
        vec![("a", vec![3], vec!["b".to_string()], vec![]), ("b", vec![7, 9], vec!["a".to_string()], vec![])]
    );
    assert!(!actions.iter().any(|a| matches!(a, Action::Replicate { .. })), "both can become whole: {actions:?}");
    assert!(health.under_goal && health.damaged && !health.missing);
    assert_eq!(health.lost_blocks, 0);
    // Not while the chunk is being written.
    let (actions, _) =
        plan(&facts(Some(&m), 2, &copies), &[], Permits { replicate: false, trim: false, repair: false });
    assert!(actions.is_empty());
    // A copy whose repair just failed is not counted on: a new copy is made meanwhile.
    let failed = ["a".to_string()];
    let f = ChunkFacts { repair_failed: &failed, ..facts(Some(&m), 2, &copies) };
    let (actions, _) = plan(&f, &[], ALL);
    assert_eq!(repairs(&actions).len(), 1, "a is not asked again yet");
    assert!(actions.contains(&Action::Replicate { count: 1, exclude: vec!["a".into(), "b".into()] }));
}

#[test]
fn a_block_bad_on_every_copy_stays_and_keeps_every_copy() {
    let m = meta(5, &["a", "b"]);
    // Block 2 is lost (bad on both); a stale copy and an extra copy stay.
    let copies = [damaged("a", 5, &[2, 6]), damaged("b", 5, &[2]), copy("s", 4), copy("x", 5)];
    let (actions, health) = plan(&facts(Some(&m), 1, &copies), &[], ALL);
    assert_eq!(health.lost_blocks, 1);
    assert!(deletes(&actions).is_empty(), "{actions:?}");
    assert!(!actions.iter().any(|a| matches!(a, Action::Replicate { .. })), "no copy could be whole");
    // a repairs what b has (block 6), from b first and the stale copy and non-holder after:
    // they may still hold block 2 as it was.
    let want_others =
        vec![RepairSource { addr: "s".into(), version: 4 }, RepairSource { addr: "x".into(), version: 5 }];
    assert_eq!(repairs(&actions), vec![("a", vec![6], vec!["b".to_string()], want_others)]);
}

#[test]
fn a_stale_copy_is_deleted_once_every_block_is_good_somewhere() {
    let m = meta(5, &["a", "b"]);
    let copies = [damaged("a", 5, &[2]), damaged("b", 5, &[4]), copy("s", 3)];
    let (actions, _) = plan(&facts(Some(&m), 2, &copies), &[], ALL);
    assert_eq!(deletes(&actions), vec!["s"]);
}

#[test]
fn a_copy_out_of_service_is_kept_until_the_goal_is_met_by_whole_copies() {
    // Goal 1, the only copy's fsync failed: kept (an operator can look at it), not served.
    let m = meta(3, &["a"]);
    let copies = [unusable("a", 3)];
    let (actions, health) = plan(&facts(Some(&m), 1, &copies), &[], ALL);
    assert!(actions.is_empty());
    assert!(health.missing && health.damaged);
    // Goal 2 with one whole copy: replicated (its server may take the new copy), kept.
    let m = meta(3, &["a", "b"]);
    let copies = [copy("a", 3), unusable("b", 3)];
    let (actions, health) = plan(&facts(Some(&m), 2, &copies), &[], ALL);
    assert_eq!(actions, vec![Action::Replicate { count: 1, exclude: vec!["a".into()] }]);
    assert!(health.under_goal);
    // The goal met elsewhere: it goes.
    let m = meta(3, &["a", "b", "c"]);
    let copies = [copy("a", 3), unusable("b", 3), copy("c", 3)];
    let (actions, _) = plan(&facts(Some(&m), 2, &copies), &[], ALL);
    assert_eq!(actions, vec![del("b", 3, DeleteReason::OverGoal)]);
    // The same out of the holders (a write went on without it): stale, same rule.
    let m = meta(4, &["a"]);
    let copies = [copy("a", 4), unusable("b", 3)];
    let (actions, _) = plan(&facts(Some(&m), 2, &copies), &[], ALL);
    assert!(deletes(&actions).is_empty(), "{actions:?}");
    let (actions, _) = plan(&facts(Some(&m), 1, &copies), &[], ALL);
    assert_eq!(deletes(&actions), vec!["b"]);
}

#[test]
fn over_the_goal_whole_copies_are_kept() {
    let m = meta(2, &["a", "b", "c"]);
    let copies = [damaged("a", 2, &[1]), copy("b", 2), copy("c", 2)];
    // b's server is fuller, but a is the damaged one: a goes, both whole ones stay.
    let servers = [cand("a", 90), cand("b", 1), cand("c", 50)];
    let (actions, _) = plan(&facts(Some(&m), 2, &copies), &servers, ALL);
    assert_eq!(deletes(&actions), vec!["a"]);
    assert!(repairs(&actions).len() == 1, "repaired meanwhile; deleted anyway once trimmed");
    // Goal 2 with only one whole copy among three: nothing goes.
    let copies = [damaged("a", 2, &[1]), copy("b", 2), damaged("c", 2, &[5])];
    let (actions, _) = plan(&facts(Some(&m), 2, &copies), &servers, ALL);
    assert!(deletes(&actions).is_empty(), "{actions:?}");
}

#[test]
fn a_damaged_copy_on_a_removal_disk_is_not_repaired() {
    let m = meta(1, &["a", "b"]);
    let mut copies = [damaged("a", 1, &[0]), copy("b", 1)];
    copies[0].to_remove = true;
    let (actions, _) = plan(&facts(Some(&m), 1, &copies), &[], ALL);
    assert!(repairs(&actions).is_empty());
    assert_eq!(deletes(&actions), vec!["a"]);
}

#[test]
fn one_copy_left_of_a_goal_of_two_or_more_is_endangered() {
    let m = meta(3, &["a", "b"]);
    let endangered = |goal: u8, copies: &[Copy]| plan(&facts(Some(&m), goal, copies), &[], ALL).1.endangered;
    assert!(endangered(2, &[copy("a", 3)]), "goal 2, one copy");
    assert!(endangered(3, &[copy("a", 3), copy("s", 1)]), "goal 3, one valid copy and a stale one");
    assert!(!endangered(2, &[copy("a", 3), copy("b", 3)]), "goal 2, two copies");
    assert!(!endangered(1, &[copy("a", 3)]), "goal 1 has nothing to spare");
    assert!(!endangered(2, &[]), "no copy: missing, not endangered");
}

#[test]
fn every_delete_reason_has_its_metric_series() {
    for r in [DeleteReason::Deleted, DeleteReason::Orphan, DeleteReason::Stale, DeleteReason::OverGoal] {
        assert!(crate::metrics::DELETE_REASONS.contains(&r.name()), "{}", r.name());
    }
}
