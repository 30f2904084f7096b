//! `mfsmount`: the FUSE client.
//!
//! [`run::main`] parses the MooseFS-style command line ([`mount_opts`]), connects to the
//! masters, resolves the subfolder, mounts through fuser, goes to the background once the mount
//! is up, and serves kernel requests ([`fs`], or [`meta_fs`] for the meta tree of `-m`) until
//! unmounted, then closes its session.

pub mod cache;
pub mod creds;
pub mod fs;
pub mod handles;
pub mod locks;
pub mod masterinfo;
pub mod meta_fs;
pub mod meta_names;
pub mod mount_opts;
pub mod ops;
pub mod readahead;
pub mod releases;
pub mod run;
pub mod shared;
pub mod writeback;
