//! The image tooling behind the `rdbreak` command, as a library so that the fuzz targets and
//! tests can reach the initramfs reader directly.

pub mod atomic;
pub mod beneath;
pub mod cli;
pub mod compress;
pub mod cpio;
pub mod elf;
pub mod image;
pub mod initramfs;
pub mod inspect;
pub mod listing;
pub mod lz4;
pub mod pattern;
pub mod source;
pub mod unpack;
pub mod zstd_match;
