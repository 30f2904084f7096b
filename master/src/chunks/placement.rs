//! Where new copies go: distinct connected chunkservers with room for a whole chunk, most
//! free space first, then least loaded.

use proto::meta::CHUNK_SIZE;

/// A chunkserver that could take a copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub addr: String,
    pub total: u64,
    pub avail: u64,
    pub load: u32,
}

impl Candidate {
    /// Room for one more chunk of the largest size.
    pub fn has_room(&self) -> bool {
        self.avail >= CHUNK_SIZE
    }
}

/// Servers whose used share of their space is within this many percentage points of the
/// emptiest one's count as equally empty (MooseFS's `ACCEPTABLE_PERCENTAGE_DIFFERENCE`).
pub const ACCEPTABLE_PERCENTAGE_DIFFERENCE: f64 = 1.0;

impl Candidate {
    /// The share of its space in use, in percent.
    fn used_percent(&self) -> f64 {
        if self.total == 0 {
            100.0
        } else {
            100.0 * (self.total.saturating_sub(self.avail)) as f64 / self.total as f64
        }
    }
}

/// Choose up to `count` distinct servers for new copies, leaving out `exclude` (servers
/// that failed the client, or already hold a copy) and servers without room. The servers
/// about as empty as the emptiest (by the share of their space in use, within
/// [`ACCEPTABLE_PERCENTAGE_DIFFERENCE`]) come first, least loaded first and in random order
/// among equals, so equal servers share the new copies evenly (MooseFS picks among them at
/// random too); then the others, emptiest first. Fewer than `count` when not enough qualify.
pub fn choose(candidates: &[Candidate], count: usize, exclude: &[String]) -> Vec<String> {
    use rand::seq::SliceRandom;
    let ok: Vec<&Candidate> = candidates.iter().filter(|c| c.has_room() && !exclude.contains(&c.addr)).collect();
    let emptiest = ok.iter().map(|c| c.used_percent()).fold(f64::INFINITY, f64::min);
    let (mut even, mut rest): (Vec<&Candidate>, Vec<&Candidate>) =
        ok.into_iter().partition(|c| c.used_percent() <= emptiest + ACCEPTABLE_PERCENTAGE_DIFFERENCE);
    even.shuffle(&mut rand::thread_rng());
    even.sort_by_key(|c| c.load); // stable: the random order stays among equal loads
    rest.sort_by(|a, b| {
        a.used_percent().total_cmp(&b.used_percent()).then(a.load.cmp(&b.load)).then_with(|| a.addr.cmp(&b.addr))
    });
    let mut out: Vec<String> = Vec::with_capacity(count);
    for c in even.into_iter().chain(rest) {
        if out.len() == count {
            break;
        }
        if !out.contains(&c.addr) {
            out.push(c.addr.clone());
        }
    }
    out
}

/// Of `candidates` (addresses), the fullest one: least free space relative to its size.
/// Used to pick which extra copy to delete.
pub fn fullest<'a>(candidates: &'a [Candidate], among: &[&'a str]) -> Option<&'a str> {
    among.iter().copied().min_by(|a, b| {
        let fill = |addr: &str| {
            candidates.iter().find(|c| c.addr == addr).map_or(0.0, |c| {
                if c.total == 0 {
                    0.0
                } else {
                    c.avail as f64 / c.total as f64
                }
            })
        };
        fill(a).total_cmp(&fill(b)).then_with(|| a.cmp(b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(addr: &str, avail_chunks: u64, load: u32) -> Candidate {
        Candidate { addr: addr.into(), total: 100 * CHUNK_SIZE, avail: avail_chunks * CHUNK_SIZE, load }
    }

    #[test]
    fn equally_empty_servers_share_new_copies_evenly() {
        let cs = [cand("a", 50, 0), cand("b", 50, 0), cand("c", 50, 0)];
        let mut firsts = std::collections::HashMap::new();
        for _ in 0..3000 {
            let got = choose(&cs, 2, &[]);
            assert_eq!(got.len(), 2);
            assert_ne!(got[0], got[1]);
            for g in got {
                *firsts.entry(g).or_insert(0) += 1;
            }
        }
        // Each server in about two thirds of the chains (2000 of 3000).
        for (addr, n) in &firsts {
            assert!((1700..=2300).contains(n), "{addr} chosen {n} times of 3000: {firsts:?}");
        }
    }

    #[test]
    fn prefers_free_space_then_low_load_and_gives_distinct_servers() {
        let cs = [cand("a", 10, 0), cand("b", 50, 9), cand("c", 50, 1), cand("d", 20, 0), cand("c", 50, 1)];
        assert_eq!(choose(&cs, 3, &[]), vec!["c", "b", "d"]);
        assert_eq!(choose(&cs, 10, &[]), vec!["c", "b", "d", "a"], "distinct, fewer than asked");
    }

    #[test]
    fn skips_full_and_failed_servers() {
        let mut full = cand("full", 0, 0);
        full.avail = CHUNK_SIZE - 1;
        let cs = [full, cand("bad", 90, 0), cand("ok", 5, 0)];
        assert_eq!(choose(&cs, 3, &["bad".to_string()]), vec!["ok"]);
        assert!(choose(&cs, 3, &["bad".to_string(), "ok".to_string()]).is_empty());
        assert!(choose(&[], 1, &[]).is_empty());
    }

    #[test]
    fn fullest_is_the_one_with_least_free_fraction() {
        let cs = [cand("a", 10, 0), cand("b", 5, 0), cand("c", 50, 0)];
        assert_eq!(fullest(&cs, &["a", "b", "c"]), Some("b"));
        assert_eq!(fullest(&cs, &["a", "c"]), Some("a"));
        assert_eq!(fullest(&cs, &[]), None);
    }
}
