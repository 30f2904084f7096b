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

/// Choose up to `count` distinct servers for new copies, leaving out `exclude` (servers
/// that failed the client, or already hold a copy) and servers without room. Most free
/// space first, then least load, then address (so equal servers are chosen the same way
/// every time). Fewer than `count` when not enough qualify.
pub fn choose(candidates: &[Candidate], count: usize, exclude: &[String]) -> Vec<String> {
    let mut ok: Vec<&Candidate> = candidates.iter().filter(|c| c.has_room() && !exclude.contains(&c.addr)).collect();
    ok.sort_by(|a, b| b.avail.cmp(&a.avail).then(a.load.cmp(&b.load)).then_with(|| a.addr.cmp(&b.addr)));
    let mut out: Vec<String> = Vec::with_capacity(count);
    for c in ok {
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
