//! `/init`: wires the library to PID 1. Nothing here may return or unwind into the kernel.

// As in lib.rs: every narrowing or sign-changing `as` is a decision.
#![warn(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_possible_wrap, clippy::cast_lossless)]

use rdbreak_init::boot::{Boot, Stop};
use rdbreak_init::cmdline::Cmdline;
use rdbreak_init::{kmsg, mounts, rescue, shell, stages, sys};

/// The panic hook's way back in: the same binary as PID 1, with the environment it has now.
fn exec_init(path: &str, args: &[String]) -> std::io::Error {
    let env: Vec<(String, String)> = std::env::vars().collect();
    sys::exec(path, args, &env)
}

fn main() {
    // From here the hand-off's line can say how long rdbreak ran before dracut's init.
    let started = std::time::Instant::now();
    let args: Vec<String> = std::env::args().collect();
    if !rustix::process::getpid().is_init() {
        // Under the name `sh`, the built-in shell runs scripts (the host's tests compare it
        // with dash this way).
        if args.first().is_some_and(|a| a.rsplit('/').next() == Some("sh")) {
            kmsg::install();
            let status = shell::run_as_sh(&args[1..]);
            let _ = std::io::Write::flush(&mut std::io::stdout());
            std::process::exit(status);
        }
        // Off PID 1 the shell can still be tried out: `rdbreak-init --shell`.
        if args.get(1).map(String::as_str) == Some("--shell") {
            kmsg::install();
            sys::block_job_control_signals();
            let mut sh = shell::Shell::new(None);
            sh.interact("rdbreak");
            return;
        }
        eprintln!("rdbreak-init: this is the initramfs init and must run as PID 1 (try --shell to try the shell)");
        std::process::exit(2);
    }
    rescue::install(exec_init);
    kmsg::install();
    sys::block_job_control_signals();
    // The kernel's environment (HOME, TERM and unknown key=value parameters) goes to the real init.
    let kernel_env: Vec<(String, String)> = std::env::vars().filter(|(k, _)| k != "PATH").collect();
    std::env::set_var("PATH", shell::DEFAULT_PATH);
    // Only what deciding on a hand-off needs: the rest is mounted once rdbreak boots.
    let mount_errors = mounts::mount_first();
    kmsg::LOGGER.open(true, false);
    for e in &mount_errors {
        log::error!("{e}");
    }
    let proc_cmdline = Cmdline::parse(&std::fs::read_to_string("/proc/cmdline").unwrap_or_default());
    if args.get(1).map(String::as_str) == Some(rescue::FLAG) {
        for e in mounts::mount_early() {
            log::error!("{e}");
        }
        let mut boot = Boot::new(Cmdline::from_system(std::path::Path::new("/")));
        let why = args.get(2).cloned().unwrap_or_else(|| "rescue requested".into());
        shell::emergency_shell(&mut boot, Stop::Rescue(&why));
    }
    stages::run(proc_cmdline, kernel_env, started)
}
