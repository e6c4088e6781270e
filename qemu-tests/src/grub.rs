//! GRUB's menu editor on the serial console, used as a person does: `e` on the entry, down to a
//! line by watching where GRUB puts the cursor, add to the end of it, Ctrl-X to boot.

use std::time::Duration;

use crate::vm::Vm;

/// A grub.cfg with one menu entry, GRUB on the serial console the tests drive, and a timeout
/// long enough to reach the menu under TCG. `lines` are the entry's commands.
pub fn serial_menu(title: &str, lines: &[&str]) -> String {
    format!("serial --unit=0 --speed=115200\nterminal_input serial\nterminal_output serial\n{}", menu(title, lines))
}

/// A grub.cfg with one menu entry on GRUB's default terminal (under UEFI the firmware's console,
/// which OVMF shows on the serial line too).
pub fn menu(title: &str, lines: &[&str]) -> String {
    let mut cfg = format!("set timeout=60\nmenuentry '{title}' {{\n");
    for l in lines {
        cfg.push('\t');
        cfg.push_str(l);
        cfg.push('\n');
    }
    cfg.push_str("}\n");
    cfg
}

/// The row of the last cursor placement (`ESC[<row>;<col>H`, zero-padded by OVMF's terminal) in
/// `text`.
fn last_row(text: &str) -> Option<usize> {
    let at = text.rfind("\x1b[")? + 2;
    text[at..].split(';').next()?.parse().ok()
}

impl Vm {
    /// Waits for GRUB to place the cursor at the start of a line (column 3) and returns its row.
    fn grub_cursor_row(&mut self) -> usize {
        let (_, text) = self.expect_any(&[";3H", ";03H"], 10);
        last_row(&text).expect("a cursor placement")
    }

    /// At GRUB's menu (the default entry highlighted): edits the entry, appends `text` to the
    /// line that starts with `line` (`linux16 /boot/vmlinuz`), and boots it. Works on GRUB's
    /// own serial terminal and on a UEFI firmware's console alike.
    pub fn grub_edit_and_boot(&mut self, line: &str, text: &str) {
        self.send(b"e");
        // Look at the editor screen: find the row the line is drawn on.
        let screen = self.expect(line, 30);
        let at = screen.rfind(line).expect("the line on screen");
        let row = last_row(&screen[..at]).expect("the line's row");
        // The editor draws its scroll marks at column 80, then puts the cursor on the first line.
        self.expect(";80H", 10);
        self.expect(";80H", 10);
        let mut cursor_row = self.grub_cursor_row();
        // Ctrl-N moves down one line; watch where GRUB puts the cursor until it is on the line
        // (long lines wrap, so rows are not lines).
        for _ in 0..20 {
            if cursor_row == row {
                break;
            }
            self.send(b"\x0e");
            cursor_row = self.grub_cursor_row();
        }
        assert_eq!(cursor_row, row, "the cursor reached the {line} line");
        self.send(b"\x05"); // Ctrl-E: end of line
        std::thread::sleep(Duration::from_millis(300));
        self.send(text.as_bytes());
        std::thread::sleep(Duration::from_millis(500));
        self.send(b"\x18"); // Ctrl-X: boot the edited entry
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rows_of_cursor_placements_as_grub_and_ovmf_write_them() {
        assert_eq!(super::last_row("x\x1b[?25l\x1b[6;3H"), Some(6));
        assert_eq!(super::last_row("\x1b[42;80H \x1b[05;03H"), Some(5));
        assert_eq!(super::last_row("no escape"), None);
    }
}
