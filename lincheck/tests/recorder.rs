//! End to end: threads record their calls on a shared recorder while working on a real (in-memory)
//! system; the history is checked, and survives a trip through JSON.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lincheck::models::register::{RegisterInput as In, RegisterModel, RegisterOutput as Out};
use lincheck::{check, CheckResult, History, Recorder};

type Store = Arc<Mutex<HashMap<u32, u64>>>;

/// Does one call against `store`, as a linearizable system would (under one lock).
fn serve(store: &Store, input: &In<u32, u64>) -> Out<u64> {
    let mut map = store.lock().unwrap_or_else(|e| e.into_inner());
    match input {
        In::Read(key) => Out::Read(map.get(key).copied()),
        In::Write(key, value) => {
            map.insert(*key, *value);
            Out::WriteOk
        }
        In::Cas(key, expected, new) => {
            let swapped = map.get(key).copied() == *expected;
            if swapped {
                map.insert(*key, *new);
            }
            Out::Cas(swapped)
        }
    }
}

#[test]
fn threads_on_a_locked_map_are_linearizable() {
    let recorder: Recorder<In<u32, u64>, Out<u64>> = Recorder::new();
    let store = Store::default();
    let threads: Vec<_> = (0..4u32)
        .map(|client| {
            let (recorder, store) = (recorder.clone(), store.clone());
            std::thread::spawn(move || {
                for i in 0..300u64 {
                    let key = (i % 3) as u32;
                    let value = u64::from(client) * 1_000 + i;
                    let input = match i % 4 {
                        0 | 1 => In::Read(key),
                        2 => In::Write(key, value),
                        _ => In::Cas(key, Some(value - 1), value),
                    };
                    let id = recorder.invoke(client, input.clone());
                    let output = serve(&store, &input);
                    if i % 50 == 49 {
                        // As if the answer was lost: the call took effect, but nobody knows.
                        recorder.unknown(id);
                    } else {
                        recorder.complete(id, output);
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().ok();
    }
    let history = recorder.finish();
    assert_eq!(history.len(), 1200);
    let result = check(&RegisterModel::new(), &history, Duration::from_secs(60));
    assert!(result.is_ok(), "{result}");
}

#[test]
fn a_stale_cache_is_caught() {
    let recorder: Recorder<In<&str, u32>, Out<u32>> = Recorder::new();
    // Client 2 reads through a cache filled before client 1's write.
    let cache = Some(1);
    let id = recorder.invoke(1, In::Write("f", 1));
    recorder.complete(id, Out::WriteOk);
    let id = recorder.invoke(2, In::Read("f"));
    recorder.complete(id, Out::Read(cache));
    let id = recorder.invoke(1, In::Write("f", 2));
    recorder.complete(id, Out::WriteOk);
    let id = recorder.invoke(2, In::Read("f"));
    recorder.complete(id, Out::Read(cache));
    match check(&RegisterModel::new(), &recorder.finish(), Duration::from_secs(10)) {
        CheckResult::Violation(report) => {
            println!("{report}");
            assert!(report.unplaced.iter().any(|u| u.op.index == 3 && u.blocking));
        }
        other => panic!("{other}"),
    }
}

#[test]
fn histories_round_trip_through_json() {
    let recorder: Recorder<In<String, String>, Out<String>> = Recorder::new();
    let a = recorder.invoke(1, In::Write("k".into(), "v".into()));
    recorder.complete(a, Out::WriteOk);
    let b = recorder.invoke(2, In::Cas("k".into(), None, "w".into()));
    recorder.unknown(b);
    let _pending = recorder.invoke(3, In::Read("k".into()));
    let history = recorder.finish();
    let json = history.to_json().unwrap_or_default();
    let back: History<In<String, String>, Out<String>> = match History::from_json(&json) {
        Ok(history) => history,
        Err(e) => panic!("{e}: {json}"),
    };
    assert_eq!(back, history);
    assert_eq!(back.unknown_count(), 2);
}
