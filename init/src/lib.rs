//! rdbreak-init: a PID 1 for the initramfs that boots like dracut's init and, on `rd.break`,
//! stops in a built-in recovery shell. The library holds every decision so that it can be tested
//! on the host; `main.rs` only wires it to PID 1.

pub mod cmdline;
pub mod devices;
pub mod elf;
pub mod fuzz;
pub mod hotplug;
pub mod kmod;
pub mod kmsg;
pub mod mounts;
pub mod probe;
pub mod report;
pub mod rescue;
pub mod root;
pub mod shell;
pub mod stages;
pub mod switch_root;
pub mod sys;
