//! What an I/O error means for a chunk copy, decided where the error is made: a shortage of
//! resources (`Busy`) says nothing about the data; a full disk (`NoSpace`) changed nothing; a
//! failure after stored bytes may have changed, or a failed fsync, makes the copy `Unusable`.

use std::fs::File;
use std::io::ErrorKind;
use std::path::Path;

use proto::cs::CsError;

/// True for an error that says the chunkserver is short of something (file descriptors,
/// memory, buffers) or was interrupted: it says nothing about the data, and trying again later
/// may work.
pub fn is_resource_error(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOMEM | libc::EAGAIN | libc::EINTR | libc::ENOBUFS)
    ) || matches!(e.kind(), ErrorKind::Interrupted | ErrorKind::WouldBlock | ErrorKind::OutOfMemory)
}

/// Map an I/O error to the protocol error: a full disk is `NoSpace`, a shortage of resources
/// `Busy`, the rest `Io`.
pub fn io_error(e: &std::io::Error, what: &str, path: &Path) -> CsError {
    if e.raw_os_error() == Some(libc::ENOSPC) || e.raw_os_error() == Some(libc::EDQUOT) {
        CsError::NoSpace
    } else if is_resource_error(e) {
        CsError::Busy(format!("{what} {}: {e}", path.display()))
    } else {
        CsError::Io(format!("{what} {}: {e}", path.display()))
    }
}

/// An error of an attempt that changed nothing when it failed: a full disk and a shortage of
/// resources stay what they are; anything else (the device refusing the I/O) makes the copy
/// unusable.
pub(super) fn failed_change(e: &std::io::Error, what: &str, path: &Path) -> CsError {
    match io_error(e, what, path) {
        CsError::Io(m) => CsError::Unusable(m),
        other => other,
    }
}

/// An error after stored bytes (data, CRCs, the length) may have changed: whatever the
/// cause, the copy is no longer known to be consistent.
pub(super) fn broken(e: &std::io::Error, what: &str, path: &Path) -> CsError {
    CsError::Unusable(format!("{what} {}: {e}", path.display()))
}

/// Opening or reading the header of a copy failed: a shortage of resources is `Busy`,
/// anything else means the copy cannot be served (missing, unreadable, not ours).
pub(super) fn unopenable(e: &std::io::Error, what: &str, path: &Path) -> CsError {
    if is_resource_error(e) {
        return io_error(e, what, path);
    }
    match e.kind() {
        ErrorKind::NotFound => CsError::Unusable(format!("{}: the chunk file is missing", path.display())),
        _ => CsError::Unusable(format!("{what} {}: {e}", path.display())),
    }
}

/// fsync a directory, so a create or rename in it survives a crash. Failing to open it for
/// lack of descriptors is `Busy`; a failed fsync is `Unusable` (the entry may not survive).
pub fn sync_dir(dir: &Path) -> Result<(), CsError> {
    let d = File::open(dir).map_err(|e| failed_change(&e, "open folder", dir))?;
    d.sync_all().map_err(|e| broken(&e, "fsync folder", dir))
}
