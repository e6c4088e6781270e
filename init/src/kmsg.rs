//! Logging to `/dev/kmsg` (`<30>rdbreak: …`) and, as dracut does, to the console.
//!
//! Info lines reach the console only when not quiet (dracut's `check_quiet`: quiet unless `rd.info`
//! or `rd.debug`); warnings and errors always do. Everything is also kept in `/run/initramfs/init.log`
//! once /run exists, for `rdsosreport.txt`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::Mutex;

use log::{Level, LevelFilter, Log, Metadata, Record};

/// Longest record we hand to the kernel; longer ones are cut (the kernel's limit is ~1 KiB).
const MAX_RECORD: usize = 900;

pub struct Logger {
    state: Mutex<State>,
}

struct State {
    kmsg: Option<File>,
    /// Opened at the first line the kernel would not show itself: opening a serial console
    /// starts its UART, a cost a boot whose console shows kmsg itself (or a hand-off) need not pay.
    console: Option<File>,
    console_tried: bool,
    file: Option<File>,
    console_info: bool,
    /// The kernel prints records below this level to the console itself (`/proc/sys/kernel/printk`).
    kernel_console_level: u8,
}

pub static LOGGER: Logger = Logger {
    state: Mutex::new(State {
        kmsg: None,
        console: None,
        console_tried: false,
        file: None,
        console_info: false,
        kernel_console_level: 0,
    }),
};

/// Whether we must write a record to the console ourselves: only when the kernel, which already
/// echoes kmsg records below its console level, would not show it (no duplicate lines).
pub fn needs_console(level: Level, console_info: bool, kernel_console_level: u8) -> bool {
    let severity = priority(level) & 7;
    let wanted = match level {
        Level::Error | Level::Warn => true,
        Level::Info => console_info,
        _ => false,
    };
    wanted && severity >= kernel_console_level
}

/// Syslog priority: facility user (the kernel rewrites 0 anyway) plus severity.
fn priority(level: Level) -> u8 {
    match level {
        Level::Error => 27,
        Level::Warn => 28,
        Level::Info => 30,
        Level::Debug | Level::Trace => 31,
    }
}

/// The text of one kmsg record, as dracut spells its own (`dracut Warning: …`).
pub fn format_record(level: Level, msg: &str) -> String {
    let tag = match level {
        Level::Error => "rdbreak Error: ",
        Level::Warn => "rdbreak Warning: ",
        _ => "rdbreak: ",
    };
    let mut line = format!("<{}>{}{}", priority(level), tag, msg.replace('\n', " "));
    if line.len() > MAX_RECORD {
        let mut cut = MAX_RECORD;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        line.truncate(cut);
    }
    line.push('\n');
    line
}

impl Logger {
    /// Holds the logger's lock (the shell takes it around a fork, so a child never finds it
    /// held by a thread it does not have).
    pub fn hold(&self) -> impl Drop + '_ {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens /dev/kmsg and the console. Called again after /dev is mounted; harmless before.
    pub fn open(&self, console_info: bool, debug: bool) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if s.kmsg.is_none() {
            s.kmsg = OpenOptions::new().write(true).open("/dev/kmsg").ok();
        }
        s.console_info = console_info;
        s.kernel_console_level = std::fs::read_to_string("/proc/sys/kernel/printk")
            .ok()
            .and_then(|p| p.split_whitespace().next().and_then(|l| l.parse().ok()))
            .unwrap_or(0);
        log::set_max_level(if debug { LevelFilter::Debug } else { LevelFilter::Info });
    }

    /// Starts keeping a copy of every record in `path` (under /run, which must exist).
    pub fn keep_file(&self, path: &str) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.file = OpenOptions::new().create(true).append(true).open(path).ok();
    }

    /// Closes our descriptors so nothing of the initramfs stays open across switch_root.
    pub fn close(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.kmsg = None;
        s.console = None;
        s.console_tried = false;
        s.file = None;
    }
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let msg = record.args().to_string();
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let line = format_record(record.level(), &msg);
        if let Some(k) = s.kmsg.as_mut() {
            let _ = k.write_all(line.as_bytes());
        }
        if let Some(f) = s.file.as_mut() {
            let _ = f.write_all(line.as_bytes());
        }
        if needs_console(record.level(), s.console_info, s.kernel_console_level) {
            // The console line omits the priority, exactly as dracut prints it.
            let text = &line[line.find('>').map_or(0, |i| i + 1)..];
            if !s.console_tried && s.kmsg.is_some() {
                // Only once the log is open (after /dev is mounted), and tried once.
                s.console_tried = true;
                s.console = OpenOptions::new().write(true).open("/dev/console").ok();
            }
            if let Some(c) = s.console.as_mut() {
                let _ = c.write_all(text.as_bytes());
            } else {
                let _ = std::io::stderr().write_all(text.as_bytes());
            }
        }
    }

    fn flush(&self) {}
}

/// Installs the logger; safe to call more than once.
pub fn install() {
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(LevelFilter::Info);
}

/// One fuzzing run (`rdbreak-fuzzing`, fuzz/; the `kmsg` target with `report::fuzz_one`): any
/// bytes as a message to log; never panics.
pub fn fuzz_one(data: &[u8]) {
    let _ = format_record(Level::Warn, &String::from_utf8_lossy(data));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_carry_priority_and_prefix() {
        assert_eq!(format_record(Level::Info, "Mounted root"), "<30>rdbreak: Mounted root\n");
        assert_eq!(format_record(Level::Warn, "x"), "<28>rdbreak Warning: x\n");
        assert_eq!(format_record(Level::Error, "a\nb"), "<27>rdbreak Error: a b\n");
    }

    #[test]
    fn console_only_when_the_kernel_stays_silent() {
        // `quiet` (console level 4): warnings (4) are ours to print, errors (3) the kernel shows.
        assert!(needs_console(Level::Warn, false, 4));
        assert!(!needs_console(Level::Error, false, 4));
        // Default level 7: the kernel shows warnings and info already.
        assert!(!needs_console(Level::Warn, true, 7));
        assert!(!needs_console(Level::Info, true, 7));
        // Not verbose: info stays in kmsg.
        assert!(!needs_console(Level::Info, false, 0));
        assert!(needs_console(Level::Info, true, 0));
    }

    #[test]
    fn long_records_are_cut_on_a_char_boundary() {
        let msg = "é".repeat(1000);
        let line = format_record(Level::Info, &msg);
        assert!(line.len() <= MAX_RECORD + 1);
        assert!(line.ends_with('\n'));
    }
}
