//! MooseFS 3.0's folder quotas (`mfssetquota`): soft and hard limits on the inodes, length,
//! size and realsize under a folder, with MooseFS's flag bits.

use serde::{Deserialize, Serialize};

/// Flag bits of the eight limits, in the order of [`QuotaInfo::limits`]: soft inodes, length,
/// size, realsize, then the hard ones.
pub const SOFT_INODES: u8 = 0x01;
pub const SOFT_LENGTH: u8 = 0x02;
pub const SOFT_SIZE: u8 = 0x04;
pub const SOFT_REALSIZE: u8 = 0x08;
pub const HARD_INODES: u8 = 0x10;
pub const HARD_LENGTH: u8 = 0x20;
pub const HARD_SIZE: u8 = 0x40;
pub const HARD_REALSIZE: u8 = 0x80;
/// Every soft limit (`mfsdelquota -a`) and every hard one (`-A`).
pub const ALL_SOFT: u8 = 0x0F;
pub const ALL_HARD: u8 = 0xF0;

/// Grace period of a quota that names none: MooseFS's documented default
/// (`QUOTA_DEFAULT_GRACE_PERIOD`), seven days.
pub const DEFAULT_GRACE: u32 = 7 * 24 * 3600;

/// What a folder's contents use: objects below it (each name of a hard-linked file counts),
/// the files' lengths, their chunk files' sizes (MooseFS's rule: a full chunk 64 MiB + 8 KiB, the
/// last one rounded up to 64 KiB plus 8 KiB), and size times the goal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub inodes: u64,
    pub length: u64,
    pub size: u64,
    pub realsize: u64,
}

impl Usage {
    /// The four values in limit order.
    pub fn values(&self) -> [u64; 4] {
        [self.inodes, self.length, self.size, self.realsize]
    }
}

/// A folder's quota and what its contents use, as the tools print it. `flags` says which of
/// the eight `limits` are set; `grace` 0 means [`DEFAULT_GRACE`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaInfo {
    pub flags: u8,
    pub limits: [u64; 8],
    pub grace: u32,
    pub usage: Usage,
}

/// A change of a quota ([`crate::client::WriteOp::SetQuota`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaChange {
    /// The limits named.
    pub flags: u8,
    /// Without `delete`: the new values of the limits named (others are ignored).
    pub limits: [u64; 8],
    /// Without `delete`: a new grace period in seconds (0 keeps the current one).
    pub grace: u32,
    /// Remove the limits named (the quota goes with its last limit).
    pub delete: bool,
}
