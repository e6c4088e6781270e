//! A panic must never reach the kernel as "Attempted to kill init!". The hook logs the panic with
//! its location to kmsg and the console, then replaces PID 1 by a fresh `/init --rescue MESSAGE`
//! (exec keeps PID 1, the mounts and the loaded modules), which opens the emergency shell and then
//! resumes the boot.

use std::panic::PanicHookInfo;

/// The flag `main` recognises.
pub const FLAG: &str = "--rescue";

/// The message logged for a panic: what and where.
pub fn describe(info: &PanicHookInfo<'_>) -> String {
    let what = info
        .payload()
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| info.payload().downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    match info.location() {
        Some(l) => format!("rdbreak crashed: {what} (at {}:{}:{})", l.file(), l.line(), l.column()),
        None => format!("rdbreak crashed: {what}"),
    }
}

/// The command that takes over after a panic.
pub fn rescue_command(message: &str) -> (String, Vec<String>) {
    ("/init".to_string(), vec![FLAG.to_string(), message.to_string()])
}

/// Installs the hook. `exec` replaces the process (only returns on failure); tests pass a fake.
pub fn install(exec: fn(&str, &[String]) -> std::io::Error) {
    std::panic::set_hook(Box::new(move |info| {
        let msg = describe(info);
        log::error!("{msg}");
        eprintln!("\n{msg}");
        let (path, args) = rescue_command(&msg);
        let err = exec(&path, &args);
        log::error!("cannot re-exec {path} for the rescue shell: {err}");
        // Nothing else can be done without dying: keep PID 1 alive and reaping.
        loop {
            crate::shell::reap_children();
            std::thread::sleep(std::time::Duration::from_secs(60));
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    static CALLED: std::sync::Mutex<Option<(String, Vec<String>)>> = std::sync::Mutex::new(None);

    fn fake_exec(path: &str, args: &[String]) -> std::io::Error {
        *CALLED.lock().unwrap() = Some((path.to_string(), args.to_vec()));
        // Unwind out of the hook's loop so the test can look: a real exec never returns.
        std::panic::resume_unwind(Box::new("exec replaced the process"));
    }

    #[test]
    fn a_panic_becomes_a_rescue_exec_with_its_location() {
        install(fake_exec);
        let r = std::panic::catch_unwind(|| {
            let v: Vec<u8> = Vec::new();
            let _ = v[3]; // an index out of bounds, as a parser bug would cause
        });
        let _ = std::panic::take_hook();
        assert!(r.is_err());
        let (path, args) = CALLED.lock().unwrap().clone().expect("the hook ran the rescue exec");
        assert_eq!(path, "/init");
        assert_eq!(args[0], "--rescue");
        assert!(args[1].starts_with("rdbreak crashed: index out of bounds"), "{}", args[1]);
        assert!(args[1].contains("rescue.rs:"), "the location is reported: {}", args[1]);
    }
}
