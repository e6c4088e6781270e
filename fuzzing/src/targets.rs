//! The fuzz targets: one row per target, its name, the parser rooms' `fuzz_one` entries it runs
//! and its seeds. `fuzz/fuzz_targets/NAME.rs` runs the same entries under libFuzzer.

use rdbreak_init::storage::{luks, lvm, md, tpm2};
use rdbreak_init::{cmdline, kmod, kmsg, mounts, names, probe, report, root, shell, stages, uevent};

use crate::seeds;

/// A fuzz target: `run` takes arbitrary bytes and must not panic; `seeds` are realistic inputs
/// the mutations start from.
pub struct Target {
    pub name: &'static str,
    pub run: fn(&[u8]),
    pub seeds: fn() -> Vec<Vec<u8>>,
}

const fn t(name: &'static str, run: fn(&[u8]), seeds: fn() -> Vec<Vec<u8>>) -> Target {
    Target { name, run, seeds }
}

/// Every target, in `./run fuzz`'s order.
pub const TARGETS: &[Target] = &[
    t("cmdline", cmdline_and_its_readers, seeds::cmdline),
    t("shell", shell::parse::fuzz_one, seeds::shell),
    t("editor", shell::editor::fuzz_one, seeds::shell),
    t("probe", probe::fuzz_one, seeds::probe),
    t("kmod", kmod::fuzz_one, seeds::kmod),
    t("root", root::fuzz_one, seeds::root),
    t("uevent", uevent::fuzz_one, seeds::uevent),
    t("kmsg", kmsg_and_its_report, seeds::kmsg),
    t("mountinfo", mounts::fuzz_one, seeds::mountinfo),
    t("cpio", rdbreak::listing::fuzz_one, seeds::cpio),
    t("names", names::fuzz_one, seeds::names),
    t("lvm", lvm::fuzz_one, seeds::lvm),
    t("md", md::fuzz_one, seeds::md),
    t("luks", luks::fuzz_one, seeds::luks),
    t("tpm2", tpm2::fuzz_one, seeds::tpm2),
];

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// The command line as parsed, and as the rooms above `cmdline` read it (the stages to break
/// at, init's arguments, the root's options).
fn cmdline_and_its_readers(data: &[u8]) {
    cmdline::fuzz_one(data);
    stages::fuzz_one(data);
}

/// A kmsg record as PID 1 logs it, and as the report shows and redacts it.
fn kmsg_and_its_report(data: &[u8]) {
    kmsg::fuzz_one(data);
    report::fuzz_one(data);
}
