//! GRUB's menu editor on the serial console, used as a person does: `e` on the entry, down to a
//! line by watching where GRUB puts the cursor, add to the end of it, Ctrl-X to boot.

use std::time::Duration;

use crate::vm::Vm;

/// A grub.cfg with one menu entry, GRUB on the serial console the tests drive, and a timeout
/// long enough to reach the menu under TCG. `lines` are the entry's commands.
pub fn serial_menu(title: &str, lines: &[&str]) -> String {
    let mut cfg = format!(
        "serial --unit=0 --speed=115200\nterminal_input serial\nterminal_output serial\nset timeout=60\nmenuentry '{title}' {{\n"
    );
    for l in lines {
        cfg.push('\t');
        cfg.push_str(l);
        cfg.push('\n');
    }
    cfg.push_str("}\n");
    cfg
}

impl Vm {
    /// At GRUB's menu (the default entry highlighted): edits the entry, appends `text` to the
    /// line that starts with `line` (`linux16 /boot/vmlinuz`), and boots it.
    pub fn grub_edit_and_boot(&mut self, line: &str, text: &str) {
        self.send(b"e");
        // Look at the editor screen: the cursor starts on the first line (row 5); find the row
        // the line is drawn on and go down that many lines.
        let screen = self.expect(line, 30);
        let at = screen.rfind(line).expect("the line on screen");
        let row_start = screen[..at].rfind("\x1b[").expect("cursor position before the line") + 2;
        let row: usize = screen[row_start..].split(';').next().and_then(|r| r.parse().ok()).expect("row number");
        // Ctrl-N moves down one line; GRUB answers by placing the cursor (`ESC[<row>;3H`). Watch
        // where it lands until it is on the line (long lines wrap, so rows are not lines).
        let initial = self.expect(";3H\x1b[?25h", 10); // where the editor put the cursor first
        assert!(initial.ends_with("\x1b[5;3H\x1b[?25h"), "the cursor starts on the first line");
        let mut cursor_row = 5;
        for _ in 0..20 {
            if cursor_row == row {
                break;
            }
            self.send(b"\x0e");
            let moved = self.expect(";3H\x1b[?25h", 10);
            let start = moved.rfind("\x1b[").map_or(0, |i| i + 2);
            let start = moved[..start.saturating_sub(2)].rfind("\x1b[").map_or(start, |i| i + 2);
            cursor_row = moved[start..].split(';').next().and_then(|r| r.parse().ok()).unwrap_or(0);
        }
        assert_eq!(cursor_row, row, "the cursor reached the {line} line");
        self.send(b"\x05"); // Ctrl-E: end of line
        std::thread::sleep(Duration::from_millis(300));
        self.send(text.as_bytes());
        std::thread::sleep(Duration::from_millis(500));
        self.send(b"\x18"); // Ctrl-X: boot the edited entry
    }
}
