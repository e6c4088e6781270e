//! Storage stacks between the block devices the kernel announces and the root filesystem:
//! device-mapper devices (`dm`) and what is assembled from them (`lvm`). Each stack is a pure
//! reader of on-disk formats plus a pure plan, with the system calls kept in a thin layer, so
//! the decisions run in host tests on images the real tools made.

pub mod assemble;
pub mod crypt;
pub mod dm;
#[cfg(feature = "luks")]
pub mod luks;
pub mod lvm;
pub mod md;
pub mod unlock;
