//! The machine's own screen and keyboard, as a person at it has them: keys pressed on the PS/2
//! keyboard through the QEMU monitor's `sendkey`, and the VGA text screen read back from the
//! card's memory (`pmemsave` of the 80×25 text buffer at 0xb8000), never the serial line.

use std::time::{Duration, Instant};

use crate::vm::{scale, Vm};

/// The VGA card of a screen scenario (`Scenario::screen`).
pub const VGA: &[&str] = &["-device", "VGA"];

/// The `sendkey` name of a character on a US keyboard, with shift where it needs it.
pub fn key(c: char) -> Option<String> {
    let plain = |k: &str| Some(k.to_string());
    let shift = |k: &str| Some(format!("shift-{k}"));
    match c {
        'a'..='z' | '0'..='9' => plain(&c.to_string()),
        'A'..='Z' => shift(&c.to_ascii_lowercase().to_string()),
        ' ' => plain("spc"),
        '\n' | '\r' => plain("ret"),
        '-' => plain("minus"),
        '_' => shift("minus"),
        '=' => plain("equal"),
        '+' => shift("equal"),
        '/' => plain("slash"),
        '?' => shift("slash"),
        '.' => plain("dot"),
        '>' => shift("dot"),
        ',' => plain("comma"),
        '<' => shift("comma"),
        ';' => plain("semicolon"),
        ':' => shift("semicolon"),
        '\'' => plain("apostrophe"),
        '"' => shift("apostrophe"),
        '!' => shift("1"),
        '@' => shift("2"),
        '#' => shift("3"),
        '$' => shift("4"),
        '%' => shift("5"),
        '&' => shift("7"),
        '*' => shift("8"),
        '(' => shift("9"),
        ')' => shift("0"),
        '|' => shift("backslash"),
        '\\' => plain("backslash"),
        _ => None,
    }
}

/// Presses the keys that type `text` on the machine's keyboard (a newline is Enter).
pub fn type_text(vm: &mut Vm, text: &str) {
    for c in text.chars() {
        let k = key(c).unwrap_or_else(|| panic!("no key for {c:?} on a US keyboard"));
        let answer = vm.monitor(&format!("sendkey {k}"));
        assert!(!answer.contains("rror"), "sendkey {k}: {answer}");
    }
}

/// The text on the VGA screen now: 25 lines of 80 characters, trailing blanks dropped.
pub fn read(vm: &mut Vm, scratch: &std::path::Path) -> String {
    let _ = std::fs::remove_file(scratch);
    // Quoted: HMP would read `4000 /path` as a division.
    vm.monitor(&format!("pmemsave 0xb8000 4000 \"{}\"", scratch.display()));
    let cells = std::fs::read(scratch).unwrap_or_default();
    // Even bytes are the characters, odd ones their colours.
    let chars: Vec<u8> =
        cells.iter().step_by(2).map(|&b| if b.is_ascii_graphic() || b == b' ' { b } else { b' ' }).collect();
    chars.chunks(80).map(|l| String::from_utf8_lossy(l).trim_end().to_string()).collect::<Vec<_>>().join("\n")
}

/// Waits until the screen shows `pattern`; returns the screen then.
pub fn wait_for(vm: &mut Vm, scratch: &std::path::Path, pattern: &str, secs: u64) -> String {
    let deadline = Instant::now() + scale(secs);
    loop {
        let screen = read(vm, scratch);
        if screen.contains(pattern) {
            return screen;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {:?} waiting for {pattern:?} on the screen; it shows:\n{screen}",
            scale(secs)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Waits until the screen's last non-blank line (where the cursor is) satisfies `done`, as a
/// person waits for a prompt; returns that line. `what` names the wait in a failure.
pub fn wait_last_line(
    vm: &mut Vm,
    scratch: &std::path::Path,
    what: &str,
    secs: u64,
    done: &dyn Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + scale(secs);
    loop {
        let screen = read(vm, scratch);
        let last = screen.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").to_string();
        if done(&last) {
            return last;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {:?} waiting for {what} on the screen:\n{screen}",
            scale(secs)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[cfg(test)]
mod tests {
    use super::key;

    #[test]
    fn every_character_of_the_walkthrough_has_a_key() {
        let typed = "mount -o remount,rw /sysroot\nchroot /sysroot\npasswd\nRdbreak-Recovery-2026!\ntouch /.autorelabel\nexit\n";
        for c in typed.chars() {
            assert!(key(c).is_some(), "{c:?}");
        }
        assert_eq!(key('R').as_deref(), Some("shift-r"));
        assert_eq!(key('/').as_deref(), Some("slash"));
        assert_eq!(key('é'), None);
    }
}
