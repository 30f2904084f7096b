//! The layout of the meta tree (`mfsmount -m`), as MooseFS 3.0.64+ shows it:
//!
//! ```text
//! /trash/000 .. /trash/FFF   deleted files, by the last three hex digits of their inode
//! /trash/XXX/undel           rename a file of XXX here to put it back where it was
//! /trash/undel               the same for the flat layout: `mv 'NNNNNNNN|name' undel` in trash/
//! /sustained                 files deleted while still open (`reserved` too, its older name)
//! ```
//!
//! With `-o mfsflattrash` the files are straight in `/trash`, beside `undel`.
//!
//! A deleted file is named `%08X|path` with its path's `/` shown as `|`; only the hex number
//! counts when a name is looked up, so a name cut to fit 255 bytes still finds its file. Its
//! node id is its own inode number; the folders use numbers from `0x7FFE_0000` up, above any
//! inode the tree shows (MooseFS keeps inodes below 2^31 the same way).

use proto::meta::{Ino, MAX_NAME_LEN};

/// Subfolders of the trash (000..FFF).
pub const SUBFOLDERS: u64 = 4096;
/// The first node id of the meta tree's own folders; inodes from here up are not shown.
pub const FIRST_FOLDER: u64 = 0x7FFE_0000;
const SUB_UNDEL_BASE: u64 = 0x7FFE_0000;
const SUB_BASE: u64 = 0x7FFF_0000;
const TRASH: u64 = 0x7FFF_FFF8;
const TRASH_UNDEL: u64 = 0x7FFF_FFF9;
const SUSTAINED: u64 = 0x7FFF_FFFA;
const RESERVED: u64 = 0x7FFF_FFFB;

/// What a node id of the meta tree is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Node {
    Root,
    Trash,
    /// `trash/undel`.
    TrashUndel,
    /// `trash/XXX`.
    Sub(u16),
    /// `trash/XXX/undel`.
    SubUndel(u16),
    Sustained,
    /// `reserved`: the same files as `sustained`.
    Reserved,
    /// A deleted file: its inode.
    File(Ino),
}

impl Node {
    pub fn from_id(id: u64) -> Node {
        match id {
            1 => Node::Root,
            TRASH => Node::Trash,
            TRASH_UNDEL => Node::TrashUndel,
            SUSTAINED => Node::Sustained,
            RESERVED => Node::Reserved,
            id if (SUB_BASE..SUB_BASE + SUBFOLDERS).contains(&id) => Node::Sub((id - SUB_BASE) as u16),
            id if (SUB_UNDEL_BASE..SUB_UNDEL_BASE + SUBFOLDERS).contains(&id) => {
                Node::SubUndel((id - SUB_UNDEL_BASE) as u16)
            }
            id => Node::File(id),
        }
    }

    pub fn id(self) -> u64 {
        match self {
            Node::Root => 1,
            Node::Trash => TRASH,
            Node::TrashUndel => TRASH_UNDEL,
            Node::Sustained => SUSTAINED,
            Node::Reserved => RESERVED,
            Node::Sub(i) => SUB_BASE + u64::from(i),
            Node::SubUndel(i) => SUB_UNDEL_BASE + u64::from(i),
            Node::File(ino) => ino,
        }
    }

    /// True for the folders a rename into puts a file back.
    pub fn is_undel(self) -> bool {
        matches!(self, Node::TrashUndel | Node::SubUndel(_))
    }

    /// The folder's mode bits (MooseFS's: the root 0555, the trash 0700, undel 0200 (write
    /// only), sustained 0500).
    pub fn dir_perm(self) -> Option<u16> {
        match self {
            Node::Root => Some(0o555),
            Node::Trash | Node::Sub(_) => Some(0o700),
            Node::TrashUndel | Node::SubUndel(_) => Some(0o200),
            Node::Sustained | Node::Reserved => Some(0o500),
            Node::File(_) => None,
        }
    }
}

/// The trash subfolder of inode `ino`.
pub fn subfolder_of(ino: Ino) -> u16 {
    (ino % SUBFOLDERS) as u16
}

/// "0AB" for subfolder 0xAB.
pub fn subfolder_name(i: u16) -> String {
    format!("{i:03X}")
}

/// The subfolder a name "000".."FFF" (either case) names.
pub fn parse_subfolder(name: &[u8]) -> Option<u16> {
    if name.len() != 3 {
        return None;
    }
    let s = std::str::from_utf8(name).ok()?;
    u16::from_str_radix(s, 16).ok().filter(|&i| u64::from(i) < SUBFOLDERS)
}

/// `%08X|a|b|name` for a file of inode `ino` deleted from "a/b/name", cut to 255 bytes.
pub fn entry_name(ino: Ino, path: &[u8]) -> Vec<u8> {
    let mut name = format!("{ino:08X}|").into_bytes();
    name.extend(path.iter().map(|&b| if b == b'/' { b'|' } else { b }));
    name.truncate(MAX_NAME_LEN);
    name
}

/// The inode an entry name names: the hex digits before the first `|` (or the whole name).
pub fn parse_entry_name(name: &[u8]) -> Option<Ino> {
    let hex = name.split(|&b| b == b'|').next()?;
    if hex.is_empty() || hex.len() > 16 {
        return None;
    }
    let ino = u64::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
    (ino > 1 && ino < FIRST_FOLDER).then_some(ino)
}

/// The path written into a trash file: one line, surrounding whitespace and newlines dropped.
pub fn path_from_written(data: &[u8]) -> Vec<u8> {
    let line = data.split(|&b| b == b'\n').next().unwrap_or_default();
    let start = line.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(line.len());
    let end = line.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(start, |e| e + 1);
    line[start..end].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_round_trip_and_never_meet_a_shown_inode() {
        let nodes = [
            Node::Root,
            Node::Trash,
            Node::TrashUndel,
            Node::Sub(0),
            Node::Sub(0xFFF),
            Node::SubUndel(0),
            Node::SubUndel(0xFFF),
            Node::Sustained,
            Node::Reserved,
            Node::File(2),
            Node::File(FIRST_FOLDER - 1),
        ];
        for n in nodes {
            assert_eq!(Node::from_id(n.id()), n);
        }
        assert_eq!(parse_entry_name(b"7FFE0000|x"), None, "folders' ids are not files");
    }

    #[test]
    fn names_as_moosefs_writes_them() {
        assert_eq!(entry_name(0x4, b"d1/d2/f.txt"), b"00000004|d1|d2|f.txt");
        assert_eq!(entry_name(0x1_0000_0000, b"a"), b"100000000|a");
        let long = entry_name(5, &[b'x'; 400]);
        assert_eq!(long.len(), 255);
        assert_eq!(parse_entry_name(&long), Some(5), "a cut name still finds its file");
        assert_eq!(parse_entry_name(b"0000000F|name"), Some(15));
        assert_eq!(parse_entry_name(b"0000000f"), Some(15));
        for bad in [&b""[..], b"|x", b"zz|x", b"00000001|root", b"11111111111111111|x"] {
            assert_eq!(parse_entry_name(bad), None, "{bad:?}");
        }
        assert_eq!(subfolder_of(0x1234), 0x234);
        assert_eq!(subfolder_name(0x2a), "02A");
        assert_eq!(parse_subfolder(b"02a"), Some(0x2a));
        assert_eq!(parse_subfolder(b"undel"), None);
        assert_eq!(path_from_written(b"  new/dir/f.txt\n"), b"new/dir/f.txt");
        assert_eq!(path_from_written(b"a\nb"), b"a");
    }
}
