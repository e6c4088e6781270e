//! Storage stacks between the block devices the kernel announces and the root filesystem:
//! device-mapper devices (`dm`), what is assembled from them (`lvm`), and MD RAID arrays (`md`). Each stack is a pure
//! reader of on-disk formats plus a pure plan, with the system calls kept in a thin layer, so
//! the decisions run in host tests on images the real tools made.

pub mod assemble;
pub mod dm;
pub mod keyfile;
#[cfg(feature = "luks")]
pub mod luks;
pub mod luks_open;
pub mod luks_rules;
pub mod lvm;
pub mod md;
pub mod tpm2;

use std::collections::BTreeSet;

/// Logs a line once, however many scans (the assembler's, md's) find the same thing.
fn say(said: &mut BTreeSet<String>, line: String, warn: bool) {
    if said.insert(line.clone()) {
        if warn {
            log::warn!("{line}");
        } else {
            log::info!("{line}");
        }
    }
}
