//! MooseFS 3.0's extra attributes (`mfsseteattr`, `mfsgeteattr`): eight flags per inode, with
//! MooseFS's bit values and names, so the tools print and accept what MooseFS users know.
//!
//! On the wire they travel inside [`crate::meta::Attr::perm`], above the mode bits (as MooseFS
//! packs its attribute flags beside the file type): [`crate::meta::Attr::eattr`] reads them.

use serde::{Deserialize, Serialize};

/// Every user acts as the owner of this inode, and sees it as their own.
pub const NOOWNER: u8 = 1;
/// Mounts keep no attributes of this inode in their cache.
pub const NOATTRCACHE: u8 = 2;
/// Mounts keep no name lookups of this inode (or, on a folder, of its entries) in their cache.
pub const NOENTRYCACHE: u8 = 4;
/// Mounts keep no file data of this inode in the page cache.
pub const NODATACACHE: u8 = 8;
/// Marks a snapshot: `mfsrmsnapshot` removes only trees with it.
pub const SNAPSHOT: u8 = 16;
/// No name of this inode can be removed or renamed away.
pub const UNDELETABLE: u8 = 32;
/// A file only grows at its end; a folder only takes new names.
pub const APPENDONLY: u8 = 64;
/// Nothing about this inode changes: data, attributes, names in it.
pub const IMMUTABLE: u8 = 128;

/// Every flag, in MooseFS's order, with its name.
pub const NAMES: [(u8, &str); 8] = [
    (NOOWNER, "noowner"),
    (NOATTRCACHE, "noattrcache"),
    (NOENTRYCACHE, "noentrycache"),
    (NODATACACHE, "nodatacache"),
    (SNAPSHOT, "snapshot"),
    (UNDELETABLE, "undeletable"),
    (APPENDONLY, "appendonly"),
    (IMMUTABLE, "immutable"),
];

/// Flags only root may set or clear (they guard against everyone, the owner included).
pub const ADMIN_ONLY: u8 = UNDELETABLE | APPENDONLY | IMMUTABLE;

/// The flag named `name`, if it is one.
pub fn by_name(name: &str) -> Option<u8> {
    NAMES.iter().find(|(_, n)| *n == name).map(|(bit, _)| *bit)
}

/// The names of the flags set in `eattr`, comma-separated in MooseFS's order; "-" for none.
pub fn describe(eattr: u8) -> String {
    let names: Vec<&str> = NAMES.iter().filter(|(bit, _)| eattr & bit != 0).map(|(_, n)| *n).collect();
    if names.is_empty() {
        "-".to_string()
    } else {
        names.join(",")
    }
}

/// How [`crate::client::WriteOp::SetEattr`] combines its flags with those an inode has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EattrMode {
    /// Add the flags (`mfsseteattr`).
    Add,
    /// Remove the flags (`mfsdeleattr`).
    Remove,
    /// Replace all flags (`mfscopyeattr`).
    Set,
}

impl EattrMode {
    /// The flags after applying `flags` in this mode to `old`.
    pub fn apply(self, old: u8, flags: u8) -> u8 {
        match self {
            EattrMode::Add => old | flags,
            EattrMode::Remove => old & !flags,
            EattrMode::Set => flags,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_in_moosefs_order() {
        assert_eq!(describe(0), "-");
        assert_eq!(describe(IMMUTABLE | NOOWNER), "noowner,immutable");
        for (bit, name) in NAMES {
            assert_eq!(by_name(name), Some(bit));
        }
        assert_eq!(by_name("nosuch"), None);
        assert_eq!(EattrMode::Remove.apply(NOOWNER | SNAPSHOT, SNAPSHOT), NOOWNER);
    }
}
