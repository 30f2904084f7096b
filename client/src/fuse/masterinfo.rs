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
//! tool_ticket = 5f1c...
//! ```
//!
//! A tool joins the mount's session with `session` and `tool_ticket`
//! ([`proto::client::RequestBody::OpenToolSession`]): it gets the mount's permissions without
//! the export's password, as MooseFS's tools register with the session id its `.masterinfo`
//! gives. Like MooseFS's, the file is readable by every local user who can reach the mount
//! root; what the ticket grants (the mount's export, each request under the caller's own
//! uid as the tool sends it) is what a local user already has on an export without a
//! password, where a tool opens a session of its own. It never carries the session secret.

use proto::client::TOOL_TICKET_LEN;
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

/// The text of the file, for the mount's session id and tool ticket.
pub fn render(
    masters: &[String],
    subfolder: &str,
    root_inode: Ino,
    (session, ticket): (u64, [u8; TOOL_TICKET_LEN]),
) -> String {
    let ticket: String = ticket.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "# RaftMFS mount information, read by the mfs* tools\nmasters = {}\nsubfolder = {subfolder}\n\
         root_inode = {root_inode}\nsession = {session}\ntool_ticket = {ticket}\n",
        masters.join(",")
    )
}

fn parse_ticket(v: &str) -> Option<[u8; TOOL_TICKET_LEN]> {
    let v = v.as_bytes();
    if v.len() != 2 * TOOL_TICKET_LEN {
        return None;
    }
    let mut out = [0u8; TOOL_TICKET_LEN];
    for (i, pair) in v.chunks(2).enumerate() {
        let hex = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(hex, 16).ok()?;
    }
    Some(out)
}

/// What a tool needs from the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountInfo {
    pub masters: Vec<String>,
    /// The folder the mount's session was opened on: a tool opens its session on the same one,
    /// so the masters answer the same inode numbers.
    pub subfolder: String,
    pub root_inode: Ino,
    /// The mount's session and its tool ticket, when the mount shows them (a mount older
    /// than tool tickets does not: its tools open sessions of their own).
    pub session: Option<(u64, [u8; TOOL_TICKET_LEN])>,
}

/// Parse the text of the file.
pub fn parse(text: &str) -> Result<MountInfo, String> {
    let mut masters = Vec::new();
    let mut root_inode = proto::meta::ROOT_INODE;
    let mut subfolder = String::from("/");
    let mut session = None;
    let mut ticket = None;
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
            "session" => session = Some(v.trim().parse::<u64>().map_err(|_| format!("bad session {v:?}"))?),
            "tool_ticket" => ticket = Some(parse_ticket(v.trim()).ok_or_else(|| format!("bad tool_ticket {v:?}"))?),
            _ => {}
        }
    }
    if masters.is_empty() {
        return Err("no masters listed".into());
    }
    let session = session.zip(ticket);
    Ok(MountInfo { masters, subfolder, root_inode, session })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let ticket: [u8; TOOL_TICKET_LEN] = std::array::from_fn(|i| (i * 17) as u8);
        let t = render(&["a:1".into(), "b:2".into()], "/x", 9, (3, ticket));
        let want = MountInfo {
            masters: vec!["a:1".into(), "b:2".into()],
            subfolder: "/x".into(),
            root_inode: 9,
            session: Some((3, ticket)),
        };
        assert_eq!(parse(&t).unwrap(), want);
        // Without a ticket (an older mount): no session to join.
        assert_eq!(parse("masters = a\nsession = 3\n").unwrap().session, None);
        assert!(parse("masters = a\ntool_ticket = 0g\n").is_err());
        assert!(parse("# nothing\n").is_err());
        assert!(parse("masters = a\nroot_inode = x\n").is_err());
        assert!(is_name(b".raftmfs") && is_name(b".masterinfo") && !is_name(b".masterinfo2"));
    }
}
