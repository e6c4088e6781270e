//! Random-mutation fuzzing of every parser rdbreak runs on untrusted input (the command line,
//! what a person types, disk contents, module index files, uevents, kmsg records, mountinfo,
//! initramfs images), on stable Rust and without coverage guidance: seeds mutated by byte flips,
//! insertions, deletions, splices and dictionary words. A panic is a finding, and so is an input
//! that runs longer than [`TIMEOUT`] (a hang); the input is kept so it can become a regression
//! test.
//!
//! The engine lives here, outside PID 1: each parser room exposes one `fuzz_one(&[u8])` entry
//! (its own contract: never panic on any input), [`TARGETS`] names them, and both this crate's
//! runner (`rdbreak-fuzz`, `./run fuzz` on stable) and the cargo-fuzz targets in `fuzz/` call
//! the same entries. `rdbreak-init` has no fuzzing feature and links none of this.

pub mod crafted;
mod engine;
mod seeds;
mod targets;

pub use engine::{fuzz, mutate, Rng, Stats, TIMEOUT};
pub use targets::{target, Target, TARGETS};
