//! Models of the things RaftMFS clients touch through FUSE.

pub mod folder;
pub mod register;
