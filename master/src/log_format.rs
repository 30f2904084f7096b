//! The format version of log entries and snapshots: the first step of rolling upgrades.
//!
//! Every log entry's payload is stored and shipped as `(format, bytes)`: the [`LOG_FORMAT`]
//! the writer used, then the encoded [`Command`]. A master reads the format before the bytes,
//! so an entry written by a newer RaftMFS is stored and passed on intact ([`LogCommand::Foreign`])
//! but never applied: applying it stops this master with an error that names both formats,
//! instead of misreading bytes whose meaning changed. Snapshots (the encoded state) start with
//! [`SNAPSHOT_MAGIC`] and [`SNAPSHOT_FORMAT`] for the same reason.
//!
//! Formats are numbered from 1000 up. In bincode's varint encoding a format ≥ 251 starts with
//! the byte 0xFB, while an entry written before formats existed started with its command's
//! variant index (below 16): such an entry is recognised and refused with an explanation
//! rather than decoded as garbage.

use std::fmt;

use serde::de::{Error as _, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::raft_types::Command;

/// The log entry format this build writes; it applies every format from [`FIRST_FORMAT`] up
/// to this one (each only added commands).
/// 1000: the first versioned format (session secrets, per-file sparse chunk tables).
/// 1001: `Command::Batch` (commands proposed together).
/// 1002: the meta tree's writes (`Undelete`, `Purge`, `SetTrashPath`), `Command::FileRepair`.
/// 1003: snapshots (`WriteOp::Snapshot`, `WriteOp::AppendChunks`, `Command::ChunkCow`).
/// 1004: extra attributes (`WriteOp::SetEattr`), `WriteOp::RmSnapshot`.
/// 1005: quotas (`WriteOp::SetQuota`, `Reply::Quota` in the reply caches).
/// 1006: file locks (`WriteOp::SetLock`, `WriteOp::ReleaseLocks`).
/// 1007: the disk each master is on (`Command::MemberDisk`).
pub const LOG_FORMAT: u16 = 1007;

/// Lowest format number: anything below was written before entries carried a format.
pub const FIRST_FORMAT: u16 = 1000;

/// The first bytes of an encoded snapshot.
pub const SNAPSHOT_MAGIC: [u8; 8] = *b"RMFSMETA";

/// The snapshot (state encoding) format this build writes and reads.
/// 1000: the first versioned format (sparse chunk tables, session secrets, parent links, chunk
/// locations in the sessions' reply caches listing their damaged copies).
/// 1001: chunk locations in the reply caches carry a (always empty there) data token field.
/// 1002: replies in the reply caches may be `Reply::Repaired` (1001 reads the same otherwise).
/// 1003: a section after the state holds the extra attributes (`mfsseteattr`); older formats
/// read as having none.
/// 1004: a second section holds the quotas (limits, and since when a soft one is passed).
/// 1005: a third section holds the file locks.
/// 1006: a fourth section holds the disk each master of the group is on (`MetaState::disks`).
pub const SNAPSHOT_FORMAT: u16 = 1006;

/// The first snapshot format with the extra attributes' section.
pub const FIRST_EATTR_FORMAT: u16 = 1003;

/// The first snapshot format with the quotas' section.
pub const FIRST_QUOTA_FORMAT: u16 = 1004;

/// The first snapshot format with the locks' section.
pub const FIRST_LOCK_FORMAT: u16 = 1005;

/// The first snapshot format with the masters' disks section.
pub const FIRST_DISKS_FORMAT: u16 = 1006;

/// The oldest snapshot format this build reads (each later one only added reply variants).
pub const FIRST_SNAPSHOT_FORMAT: u16 = 1001;

/// What a data folder written before formats existed needs, in every error about it.
pub const PRE_FORMAT_HELP: &str = "it was written by a RaftMFS from before log and snapshot formats existed \
     (before format 1000); this version cannot read it: start the new version on empty data folders and copy \
     the files over through a mount of each cluster";

/// One log entry's command, as stored in the Raft log and sent to followers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogCommand {
    /// A command in this build's format.
    Known(Command),
    /// A command in a format this build does not know (written by a newer version): kept
    /// byte for byte, never applied.
    Foreign { format: u16, bytes: Vec<u8> },
}

impl From<Command> for LogCommand {
    fn from(cmd: Command) -> Self {
        LogCommand::Known(cmd)
    }
}

impl fmt::Display for LogCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogCommand::Known(cmd) => fmt::Display::fmt(cmd, f),
            LogCommand::Foreign { format, bytes } => write!(f, "entry of format {format} ({} bytes)", bytes.len()),
        }
    }
}

/// The error for an entry this master must not apply.
pub fn foreign_entry_error(format: u16) -> String {
    format!(
        "a committed log entry has format {format}, and this mfsmaster reads format {LOG_FORMAT}: it was written \
         by a newer RaftMFS. This master stops rather than misread it: upgrade it to the version the other \
         masters run"
    )
}

#[derive(Serialize)]
struct Out<'a>(u16, #[serde(with = "proto::bytes")] &'a [u8]);

/// The bytes of an entry, as a tuple element.
struct Bytes(Vec<u8>);

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        proto::bytes::deserialize(d).map(Bytes)
    }
}

impl Serialize for LogCommand {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            LogCommand::Known(cmd) => {
                let bytes = raft_store::codec::encode("log command", cmd).map_err(serde::ser::Error::custom)?;
                Out(LOG_FORMAT, &bytes).serialize(s)
            }
            LogCommand::Foreign { format, bytes } => Out(*format, bytes).serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for LogCommand {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_tuple(2, EntryVisitor)
    }
}

struct EntryVisitor;

impl<'de> Visitor<'de> for EntryVisitor {
    type Value = LogCommand;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a log entry: format, then bytes")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<LogCommand, A::Error> {
        // The format first: an entry from before formats is refused before its bytes are
        // read as something they are not.
        let format: u16 = seq.next_element()?.ok_or_else(|| A::Error::invalid_length(0, &self))?;
        if format < FIRST_FORMAT {
            return Err(A::Error::custom(format!("log entry without a format: {PRE_FORMAT_HELP}")));
        }
        let Bytes(bytes) = seq.next_element()?.ok_or_else(|| A::Error::invalid_length(1, &self))?;
        if format > LOG_FORMAT {
            return Ok(LogCommand::Foreign { format, bytes });
        }
        raft_store::codec::decode("log command", &bytes).map(LogCommand::Known).map_err(A::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::meta::Timestamp;

    #[test]
    fn a_command_round_trips_and_a_newer_format_is_kept_intact_but_not_decoded() {
        let cmd = LogCommand::from(Command::PurgeTrash { now: Timestamp::new(5, 0) });
        let bytes = raft_store::codec::encode("t", &cmd).unwrap();
        assert_eq!(raft_store::codec::decode::<LogCommand>("t", &bytes).unwrap(), cmd);
        // The same entry as a newer master would write it: a format above ours, bytes this
        // build cannot know the meaning of.
        let newer_format = LOG_FORMAT + 1;
        let newer = Out(newer_format, &[9, 9, 9]);
        let raw = raft_store::codec::encode("t", &newer).unwrap();
        let got: LogCommand = raft_store::codec::decode("t", &raw).unwrap();
        assert_eq!(got, LogCommand::Foreign { format: newer_format, bytes: vec![9, 9, 9] });
        // Stored and shipped on unchanged.
        assert_eq!(raft_store::codec::encode("t", &got).unwrap(), raw);
        assert!(foreign_entry_error(newer_format).contains(&format!("format {newer_format}")));
    }

    #[test]
    fn an_entry_of_an_older_format_is_still_applied() {
        // Format 1000 had no batches; its commands encode as they did.
        let cmd = Command::PurgeTrash { now: Timestamp::new(5, 0) };
        let body = raft_store::codec::encode("t", &cmd).unwrap();
        let raw = raft_store::codec::encode("t", &Out(1000, &body)).unwrap();
        assert_eq!(raft_store::codec::decode::<LogCommand>("t", &raw).unwrap(), LogCommand::Known(cmd));
    }

    #[test]
    fn an_entry_from_before_formats_is_refused_with_an_explanation() {
        // Before formats, an entry was the bare command: its first byte is a variant index.
        let old = raft_store::codec::encode("t", &Command::PurgeTrash { now: Timestamp::new(5, 0) }).unwrap();
        assert!(old[0] < 16);
        let err = raft_store::codec::decode::<LogCommand>("t", &old).unwrap_err().to_string();
        assert!(err.contains("before log and snapshot formats existed"), "{err}");
    }
}
