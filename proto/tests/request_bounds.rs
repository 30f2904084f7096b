//! Every variable-length field of a request is bounded before a leader or a chunkserver works
//! on it (`RequestBody::bounded`, `WriteOp::check_bounds`, `ReadOp::check_bounds`,
//! `DataOp::check_bounds`), with the errno the namespace would answer.

use proto::client::{ReadOp, RequestBody, ResponseBody, SessionKey, WriteOp, MAX_FAILED, MAX_SESSION_INFO};
use proto::cs::CsError;
use proto::data::{DataOp, MAX_CHAIN, MAX_IO};
use proto::meta::{Creds, XattrMode, MAX_GROUPS, MAX_NAME_LEN, MAX_SYMLINK_LEN, MAX_XATTR_VALUE};
use proto::Errno;

fn key() -> SessionKey {
    SessionKey { id: 1, secret: [0; 16] }
}

#[test]
fn write_fields_are_bounded_with_the_namespaces_errno() {
    let long = vec![b'n'; MAX_NAME_LEN + 1];
    let ok = vec![b'n'; MAX_NAME_LEN];
    let mk = |name: Vec<u8>| WriteOp::MkDir { parent: 1, name, mode: 0o755, umask: 0 };
    assert_eq!(mk(ok.clone()).check_bounds(), Ok(()));
    assert_eq!(mk(long.clone()).check_bounds(), Err(Errno::ENAMETOOLONG));
    let rename = WriteOp::Rename {
        parent: 1,
        name: ok.clone(),
        new_parent: 1,
        new_name: long.clone(),
        flags: Default::default(),
    };
    assert_eq!(rename.check_bounds(), Err(Errno::ENAMETOOLONG));
    let link = WriteOp::Link { ino: 5, new_parent: 1, new_name: long.clone() };
    assert_eq!(link.check_bounds(), Err(Errno::ENAMETOOLONG));
    let sym = |target: Vec<u8>| WriteOp::Symlink { parent: 1, name: ok.clone(), target };
    assert_eq!(sym(vec![b't'; MAX_SYMLINK_LEN]).check_bounds(), Ok(()));
    assert_eq!(sym(vec![b't'; MAX_SYMLINK_LEN + 1]).check_bounds(), Err(Errno::ENAMETOOLONG));
    let xattr = |name: Vec<u8>, value: Vec<u8>| WriteOp::SetXattr { ino: 5, name, value, mode: XattrMode::Set };
    assert_eq!(xattr(b"user.a".to_vec(), vec![0; MAX_XATTR_VALUE]).check_bounds(), Ok(()));
    assert_eq!(xattr(b"user.a".to_vec(), vec![0; MAX_XATTR_VALUE + 1]).check_bounds(), Err(Errno::E2BIG));
    assert_eq!(xattr(long.clone(), vec![]).check_bounds(), Err(Errno::ERANGE));
    assert_eq!(WriteOp::RemoveXattr { ino: 5, name: long }.check_bounds(), Err(Errno::ERANGE));
    let cw = |failed: Vec<String>| WriteOp::ChunkWrite { ino: 5, index: 0, failed };
    assert_eq!(cw(vec!["127.0.0.1:9422".into(); MAX_FAILED]).check_bounds(), Ok(()));
    assert_eq!(cw(vec!["127.0.0.1:9422".into(); MAX_FAILED + 1]).check_bounds(), Err(Errno::EINVAL));
    assert_eq!(cw(vec!["a".repeat(1000)]).check_bounds(), Err(Errno::EINVAL));
}

#[test]
fn a_long_session_info_is_cut_and_other_request_fields_refused() {
    // Cut at a character boundary, never refused: it is free text for operators.
    let info = "é".repeat(MAX_SESSION_INFO);
    let open = |info: String, subfolder: String| RequestBody::OpenSession {
        info,
        protocol: 3,
        version: 1,
        subfolder,
        meta: false,
        password: None,
    };
    match open(info, "/".into()).bounded() {
        Ok(RequestBody::OpenSession { info, .. }) => {
            assert!(info.len() <= MAX_SESSION_INFO && info.len() >= MAX_SESSION_INFO - 1, "{}", info.len());
            assert!(info.chars().all(|c| c == 'é'));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(open("x".into(), "/".repeat(5000)).bounded(), Err(ResponseBody::Refused { .. })));
    // Credentials with more groups than Linux allows.
    let creds = Creds::new(1, 1, vec![7; MAX_GROUPS + 1]);
    let w = RequestBody::Write {
        session: key(),
        seq: 1,
        first_incomplete: 1,
        creds: creds.clone(),
        op: WriteOp::Release { ino: 1 },
    };
    assert!(matches!(w.bounded(), Err(ResponseBody::Result(Err(Errno::EINVAL)))));
    let r = RequestBody::Read { session: key(), creds, op: ReadOp::StatFs };
    assert!(matches!(r.bounded(), Err(ResponseBody::Result(Err(Errno::EINVAL)))));
    // Read ops' names.
    let lookup = ReadOp::Lookup { parent: 1, name: vec![b'x'; MAX_NAME_LEN + 1] };
    let r = RequestBody::Read { session: key(), creds: Creds::root(), op: lookup };
    assert!(matches!(r.bounded(), Err(ResponseBody::Result(Err(Errno::ENAMETOOLONG)))));
    let get = ReadOp::GetXattr { ino: 1, name: vec![b'x'; 300] };
    assert_eq!(get.check_bounds(), Err(Errno::ERANGE));
    let fine = RequestBody::Read { session: key(), creds: Creds::root(), op: ReadOp::GetAttr { ino: 1 } };
    assert!(fine.bounded().is_ok());
}

#[test]
fn data_requests_are_bounded() {
    let chain = |n: usize, addr: &str| vec![addr.to_string(); n];
    let write = |data: Vec<u8>, chain: Vec<String>| DataOp::Write { chunk_id: 1, version: 1, offset: 0, data, chain };
    assert!(write(vec![0; MAX_IO as usize], chain(MAX_CHAIN, "127.0.0.1:9422")).check_bounds().is_ok());
    assert!(matches!(write(vec![0; MAX_IO as usize + 1], vec![]).check_bounds(), Err(CsError::BadRequest(_))));
    let sync = |chain| DataOp::Sync { chunk_id: 1, version: 1, chain };
    assert!(matches!(sync(chain(MAX_CHAIN + 1, "127.0.0.1:9422")).check_bounds(), Err(CsError::BadRequest(_))));
    assert!(matches!(sync(chain(1, &"h".repeat(400))).check_bounds(), Err(CsError::BadRequest(_))));
    assert!(matches!(sync(chain(1, "")).check_bounds(), Err(CsError::BadRequest(_))));
    assert!(DataOp::Read { chunk_id: 1, version: 1, offset: 0, size: 10 }.check_bounds().is_ok());
}
