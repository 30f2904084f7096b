//! readdir: cookies, pagination, stability under concurrent changes, readdirplus.

use super::*;
use proto::meta::FileType;
use std::collections::BTreeSet;

#[test]
fn an_empty_directory_lists_dot_and_dotdot_with_cookies_1_and_2() {
    let mut fs = Fs::new();
    let d = fs.mkdir(ROOT, "d").unwrap().ino;
    let list = fs.readdir(d, 0, 100, false).unwrap();
    let got: Vec<_> = list.iter().map(|e| (e.cookie, e.name.clone(), e.ino, e.kind)).collect();
    assert_eq!(got, [(1, b("."), d, FileType::Dir), (2, b(".."), ROOT, FileType::Dir)]);
    let root = fs.readdir(ROOT, 0, 100, false).unwrap();
    assert_eq!(root[1].ino, ROOT, "the root's .. is itself");
}

#[test]
fn entries_come_in_insertion_order_with_increasing_cookies_from_3() {
    let mut fs = Fs::new();
    for name in ["zeta", "alpha", "mid"] {
        fs.file(ROOT, name).unwrap();
    }
    fs.mkdir(ROOT, "dir").unwrap();
    let list = fs.readdir(ROOT, 0, 100, false).unwrap();
    let cookies: Vec<u64> = list.iter().map(|e| e.cookie).collect();
    assert_eq!(cookies, [1, 2, 3, 4, 5, 6]);
    assert_eq!(fs.names(ROOT), ["zeta", "alpha", "mid", "dir"]);
    assert_eq!(list[5].kind, FileType::Dir);
    assert_eq!(list[2].kind, FileType::File);
    assert!(list.iter().all(|e| e.attr.is_none()));
}

#[test]
fn pages_continue_from_the_last_cookie() {
    let mut fs = Fs::new();
    for i in 0..10 {
        fs.file(ROOT, &format!("f{i}")).unwrap();
    }
    let mut seen = Vec::new();
    let mut offset = 0;
    loop {
        let page = fs.readdir(ROOT, offset, 3, false).unwrap();
        assert!(page.len() <= 3);
        let Some(last) = page.last() else { break };
        offset = last.cookie;
        seen.extend(page.into_iter().map(|e| String::from_utf8(e.name).unwrap()));
    }
    let mut expected = vec![".".to_string(), "..".to_string()];
    expected.extend((0..10).map(|i| format!("f{i}")));
    assert_eq!(seen, expected);
    assert!(fs.readdir(ROOT, 0, 0, false).unwrap().is_empty(), "max_entries 0");
    assert_eq!(fs.readdir(ROOT, 1, 1, false).unwrap()[0].name, b(".."));
    assert!(fs.readdir(ROOT, u64::MAX, 10, false).unwrap().is_empty());
}

#[test]
fn pagination_is_stable_under_concurrent_inserts_and_removes() {
    let mut fs = Fs::without_trash();
    for i in 0..20 {
        fs.file(ROOT, &format!("f{i:02}")).unwrap();
    }
    let mut seen: Vec<String> = Vec::new();
    let mut offset = 2;
    let mut round = 0;
    loop {
        let page = fs.readdir(ROOT, offset, 4, false).unwrap();
        let Some(last) = page.last() else { break };
        offset = last.cookie;
        seen.extend(page.into_iter().map(|e| String::from_utf8(e.name).unwrap()));
        // Between the first pages: remove one listed and one unlisted entry, add a new one.
        if round < 3 {
            fs.unlink(ROOT, &seen[seen.len() - 1]).unwrap();
            let unlisted = format!("f{:02}", 19 - round);
            assert!(!seen.contains(&unlisted));
            fs.unlink(ROOT, &unlisted).unwrap();
            fs.file(ROOT, &format!("new{round}")).unwrap();
        }
        round += 1;
    }
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no entry twice: {seen:?}");
    // Every entry that existed at the start and was never removed was listed.
    let survivors = fs.names(ROOT);
    for name in &survivors {
        assert!(seen.contains(name), "{name} skipped: {seen:?}");
    }
    assert_eq!(survivors.len(), 20 - 6 + 3);
    assert_eq!(seen.len(), 20 - 3 + 3, "listed: all but the 3 removed before being reached");
}

#[test]
fn a_removed_entry_frees_no_cookie_for_reuse() {
    let mut fs = Fs::without_trash();
    fs.file(ROOT, "a").unwrap();
    fs.file(ROOT, "b").unwrap();
    let before = fs.readdir(ROOT, 0, 10, false).unwrap();
    fs.unlink(ROOT, "b").unwrap();
    fs.file(ROOT, "b").unwrap();
    let after = fs.readdir(ROOT, 0, 10, false).unwrap();
    assert_eq!(before[3].cookie, 4);
    assert_eq!(after[3].cookie, 5, "a new entry, a new cookie");
    assert_eq!(fs.readdir(ROOT, 4, 10, false).unwrap()[0].name, b("b"));
}

#[test]
fn readdirplus_fills_attributes_of_every_entry() {
    let mut fs = Fs::new();
    let d = fs.mkdir(ROOT, "d").unwrap().ino;
    let f = fs.file(d, "f").unwrap();
    let list = fs.readdir(d, 0, 10, true).unwrap();
    assert_eq!(list[0].attr, Some(fs.getattr(d).unwrap()));
    assert_eq!(list[1].attr, Some(fs.getattr(ROOT).unwrap()));
    assert_eq!(list[2].attr, Some(f));
}

#[test]
fn readdir_errors() {
    let mut fs = Fs::new();
    let f = fs.file(ROOT, "f").unwrap().ino;
    assert_eq!(fs.readdir(f, 0, 10, false), Err(Errno::ENOTDIR));
    assert_eq!(fs.readdir(999, 0, 10, false), Err(Errno::ENOENT));
}
