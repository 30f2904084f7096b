//! `mfsfilerepair`: make files readable again (MooseFS 3.0's tool and output). Each chunk with
//! no valid copy takes the version of the newest copy left, or becomes zeros when there is
//! none: with chunkservers merely disconnected, data is lost to zeros. Use with care.

use proto::client::{Reply, WriteOp};

use super::mount_session::Sessions;
use super::{for_each_target, need_operands, ToolArgs};
use crate::fuse::creds::own_creds;

/// Most chunks the masters change per call (`chunks/file_repair.rs`): a full call is repeated.
const MAX_PER_CALL: u64 = 10_000;

/// The lines MooseFS prints for one file.
pub fn report(path: &str, not_changed: u64, erased: u64, repaired: u64) -> String {
    format!(
        "{path}:\n {:<19}{not_changed:>11}\n {:<19}{erased:>11}\n {:<19}{repaired:>11}\n",
        "chunks not changed:", "chunks erased:", "chunks repaired:"
    )
}

/// `mfsfilerepair FILE...`.
pub async fn filerepair(sessions: &mut Sessions, name: &str, a: &ToolArgs) -> i32 {
    if !need_operands(name, a, 1) {
        return 1;
    }
    let creds = own_creds();
    for_each_target(sessions, name, &a.operands, async |path, t| {
        let (mut erased, mut repaired) = (0, 0);
        loop {
            match t.client.write(&creds, WriteOp::FileRepair { ino: t.ino }).await {
                Ok(Reply::Repaired { not_changed, erased: e, repaired: r }) => {
                    erased += e;
                    repaired += r;
                    if e + r < MAX_PER_CALL {
                        print!("{}", report(path, not_changed, erased, repaired));
                        return Ok(());
                    }
                }
                Ok(other) => return Err(format!("master query: wrong answer ({other:?})")),
                Err(e) => return Err(e.to_string()),
            }
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_report_lines_up_as_moosefs_prints_it() {
        assert_eq!(
            super::report("g", 1, 0, 0),
            "g:\n chunks not changed:          1\n chunks erased:               0\n chunks repaired:             0\n"
        );
    }
}
