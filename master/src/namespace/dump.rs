//! The namespace as text, one record per line (`mfsmetadump`). Fields are `key:value`, split by
//! `|`; names, paths, link targets and extended attributes are escaped (`%XX` for `%`, `|`,
//! bytes below 0x21 and above 0x7E), so every record is one line whatever the names hold.
//!
//! ```text
//! N|i:2|t:f|m:0644|u:0|g:0|a:1796300000.0|m:..|c:..|n:1|s:6|goal:2|trash:86400   an inode (then
//!   |rdev:N for a device, |eattr:noowner,immutable for extra attributes)
//! E|p:1|c:2|n:f.txt                                                             a name
//! L|i:5|target:a/b                                                              a symlink target
//! C|i:2|idx:0|id:1                                                              a file's chunk
//! X|i:2|n:user.k|v:value                                                        an xattr
//! T|i:4|path:d1/d2/f.txt|exp:1796386400.0                                       in the trash
//! S|i:7                                                                         sustained
//! K|id:1|v:1|h:127.0.0.21:9422,127.0.0.22:9422                                  the chunk table
//! D|id:9                                                                        to delete
//! O|s:1|i:7|n:1                                                                 open references
//! ```

use std::io::{self, Write};

use proto::meta::{FileType, Timestamp};

use super::inode::Body;
use super::Namespace;

/// `bytes` escaped for one field of a record.
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b == b'%' || b == b'|' || !(0x21..=0x7e).contains(&b) {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    out
}

fn time(t: Timestamp) -> String {
    format!("{}.{:09}", t.secs, t.nsecs)
}

fn kind_letter(k: FileType) -> char {
    match k {
        FileType::File => 'f',
        FileType::Dir => 'd',
        FileType::Symlink => 'l',
        FileType::Fifo => 'q',
        FileType::Socket => 's',
        FileType::BlockDev => 'b',
        FileType::CharDev => 'c',
    }
}

impl Namespace {
    /// Write every record of the namespace to `w`, in inode order, then the trash, the chunk
    /// table and the open references.
    pub fn dump(&self, w: &mut impl Write) -> io::Result<()> {
        for (&ino, i) in &self.inodes {
            writeln!(
                w,
                "N|i:{ino}|t:{}|m:{:04o}|u:{}|g:{}|a:{}|m:{}|c:{}|n:{}|s:{}|goal:{}|trash:{}{}{}",
                kind_letter(i.kind()),
                i.perm,
                i.uid,
                i.gid,
                time(i.atime),
                time(i.mtime),
                time(i.ctime),
                i.nlink,
                i.size,
                i.goal,
                i.trash_time,
                if i.rdev != 0 { format!("|rdev:{}", i.rdev) } else { String::new() },
                if i.eattr != 0 { format!("|eattr:{}", proto::eattr::describe(i.eattr)) } else { String::new() },
            )?;
            for (name, value) in &i.xattrs {
                writeln!(w, "X|i:{ino}|n:{}|v:{}", escape(name), escape(value))?;
            }
            match &i.body {
                Body::Dir(d) => {
                    for (name, slot) in &d.entries {
                        writeln!(w, "E|p:{ino}|c:{}|n:{}", slot.ino, escape(name))?;
                    }
                }
                Body::File { chunks } => {
                    for (index, id) in chunks.iter() {
                        writeln!(w, "C|i:{ino}|idx:{index}|id:{id}")?;
                    }
                }
                Body::Symlink { target } => writeln!(w, "L|i:{ino}|target:{}", escape(target))?,
                Body::Special { .. } => {}
            }
        }
        for (ino, e) in &self.trash {
            writeln!(w, "T|i:{ino}|path:{}|exp:{}", escape(&e.path), time(e.expires))?;
        }
        for ino in &self.sustained {
            writeln!(w, "S|i:{ino}")?;
        }
        for (id, m) in &self.chunks {
            writeln!(w, "K|id:{id}|v:{}|h:{}", m.version, m.holders.join(","))?;
        }
        for id in &self.chunks_to_delete {
            writeln!(w, "D|id:{id}")?;
        }
        for ((session, ino), n) in &self.open_refs {
            writeln!(w, "O|s:{session}|i:{ino}|n:{n}")?;
        }
        Ok(())
    }
}
