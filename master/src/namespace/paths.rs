//! Every path of an inode (`mfsfilepaths`): a directory has one, a file one per name it has.

use proto::meta::Ino;

use super::Namespace;

/// Most paths answered for one inode (a file may have up to 65,000 names).
pub const MAX_PATHS: usize = 1000;
/// Most bytes of paths answered for one inode.
pub const MAX_PATHS_BYTES: usize = 1 << 20;

impl Namespace {
    /// The paths of `ino` below `root` ("a/b/name", relative to `root`; "" is `root` itself),
    /// sorted, at most [`MAX_PATHS`] of them and [`MAX_PATHS_BYTES`] in all. Empty for an
    /// inode with no name below `root` (in the trash, sustained, elsewhere).
    pub fn paths(&self, root: Ino, ino: Ino) -> Vec<Vec<u8>> {
        let Some(inode) = self.inodes.get(&ino) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if inode.is_dir() {
            out.extend(self.dir_path(root, ino));
        } else {
            let mut parents: Vec<Ino> = std::iter::once(inode.parent)
                .chain(self.extra_parents.get(&ino).into_iter().flatten().copied())
                .filter(|&p| p != 0)
                .collect();
            parents.sort_unstable();
            parents.dedup();
            for p in parents {
                let (Some(prefix), Some(dir)) = (self.dir_path(root, p), self.inodes.get(&p).and_then(|i| i.as_dir()))
                else {
                    continue;
                };
                for (name, _) in dir.entries.iter().filter(|(_, slot)| slot.ino == ino) {
                    let mut path = prefix.clone();
                    if !path.is_empty() {
                        path.push(b'/');
                    }
                    path.extend_from_slice(name);
                    out.push(path);
                }
            }
        }
        out.sort();
        let mut bytes = 0;
        out.into_iter()
            .take(MAX_PATHS)
            .take_while(|p| {
                bytes += p.len() + 1;
                bytes <= MAX_PATHS_BYTES
            })
            .collect()
    }

    /// The path of directory `dir` relative to `root`, `None` when it is not below `root`.
    fn dir_path(&self, root: Ino, dir: Ino) -> Option<Vec<u8>> {
        let mut parts: Vec<&[u8]> = Vec::new();
        let mut cur = dir;
        // The bound only guards against a corrupted tree looping forever.
        for _ in 0..=self.inodes.len() {
            if cur == root {
                parts.reverse();
                return Some(parts.join(&b'/'));
            }
            let d = self.inodes.get(&cur).filter(|i| i.nlink > 0)?.as_dir()?;
            if d.parent == cur {
                return None; // the tree's root, and `root` was not on the way
            }
            parts.push(&d.name);
            cur = d.parent;
        }
        None
    }
}
