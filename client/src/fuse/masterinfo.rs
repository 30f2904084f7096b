//! The `.raftmfs` file in the mount root (also answered as `.masterinfo`, MooseFS's name): a
//! read-only virtual file, hidden from directory listings, whose text tells the tools how to
//! reach the masters.
//!
//! ```text
//! # RaftMFS mount information, read by the mfs* tools
//! masters = 127.0.0.11:9421,127.0.0.12:9421,127.0.0.13:9421
//! subfolder = /
//! root_inode = 1
//! session = 7
//! ```

use proto::meta::Ino;

/// Name of the file in the mount root.
pub const NAME: &str = ".raftmfs";
/// The same file under MooseFS's name, for scripts that look for it.
pub const MOOSEFS_NAME: &str = ".masterinfo";

/// True for either name of the file.
pub fn is_name(name: &[u8]) -> bool {
    name == NAME.as_bytes() || name == MOOSEFS_NAME.as_bytes()
}
/// Its inode number: outside what a master allocates (they count up from 2).
pub const INO: Ino = u64::MAX >> 1;

/// The text of the file.
pub fn render(masters: &[String], subfolder: &str, root_inode: Ino, session: u64) -> String {
    format!(
        "# RaftMFS mount information, read by the mfs* tools\nmasters = {}\nsubfolder = {subfolder}\n\
         root_inode = {root_inode}\nsession = {session}\n",
        masters.join(",")
    )
}

/// What a tool needs from the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountInfo {
    pub masters: Vec<String>,
    /// The folder the mount's session was opened on: a tool opens its session on the same one,
    /// so the masters answer the same inode numbers.
    pub subfolder: String,
    pub root_inode: Ino,
}

/// Parse the text of the file.
pub fn parse(text: &str) -> Result<MountInfo, String> {
    let mut masters = Vec::new();
    let mut root_inode = proto::meta::ROOT_INODE;
    let mut subfolder = String::from("/");
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else { continue };
        match k.trim() {
            "masters" => {
                masters = v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect();
            }
            "subfolder" => subfolder = v.trim().to_string(),
            "root_inode" => root_inode = v.trim().parse().map_err(|_| format!("bad root_inode {v:?}"))?,
            _ => {}
        }
    }
    if masters.is_empty() {
        return Err("no masters listed".into());
    }
    Ok(MountInfo { masters, subfolder, root_inode })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let t = render(&["a:1".into(), "b:2".into()], "/x", 9, 3);
        let want = MountInfo { masters: vec!["a:1".into(), "b:2".into()], subfolder: "/x".into(), root_inode: 9 };
        assert_eq!(parse(&t).unwrap(), want);
        assert!(parse("# nothing\n").is_err());
        assert!(parse("masters = a\nroot_inode = x\n").is_err());
        assert!(is_name(b".raftmfs") && is_name(b".masterinfo") && !is_name(b".masterinfo2"));
    }
}
