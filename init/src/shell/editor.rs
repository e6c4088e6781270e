//! A line editor for a raw serial console with no terminfo: plain VT100 sequences only, never a
//! cursor-position query. Output processing stays on (ONLCR), so a newline is just `\n`. The editor is a pure state machine (`feed` a byte, get back what to
//! print and what happened), so it is tested without a terminal.

/// What a key did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Keep reading; print `echo` (may be empty).
    Continue,
    /// Enter: the line is done.
    Submit(String),
    /// Ctrl-C: the line is dropped.
    Cancel,
    /// Ctrl-D on an empty line.
    Eof,
    /// Tab: the caller completes the word before the cursor.
    Complete,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Esc {
    None,
    Start,
    Csi,
    Ss3,
}

#[derive(Clone, Debug)]
pub struct Editor {
    buf: Vec<char>,
    cursor: usize,
    history: Vec<String>,
    /// Index into history while browsing with the arrows; None when editing a new line.
    browsing: Option<usize>,
    draft: Vec<char>,
    esc: Esc,
    csi_param: String,
    utf8: Vec<u8>,
    prompt: String,
    /// The line reached LINE_MAX and the person was told (once per line).
    told_full: bool,
}

const HISTORY_MAX: usize = 200;
/// The longest line, in characters (the kernel's own tty line is 4095 bytes). Without a limit,
/// noise or a runaway paste on the console grows PID 1's memory and every redraw.
pub const LINE_MAX: usize = 4096;

impl Default for Editor {
    fn default() -> Self {
        Editor {
            buf: Vec::new(),
            cursor: 0,
            history: Vec::new(),
            browsing: None,
            draft: Vec::new(),
            esc: Esc::None,
            csi_param: String::new(),
            utf8: Vec::new(),
            prompt: String::new(),
            told_full: false,
        }
    }
}

impl Editor {
    /// Starts a new line after `prompt` (which the caller has printed).
    pub fn start(&mut self, prompt: &str) {
        self.buf.clear();
        self.cursor = 0;
        self.browsing = None;
        self.esc = Esc::None;
        self.prompt = prompt.to_string();
        self.told_full = false;
    }

    pub fn line(&self) -> String {
        self.buf.iter().collect()
    }

    pub fn before_cursor(&self) -> String {
        self.buf[..self.cursor].iter().collect()
    }

    pub fn history(&self) -> &[String] {
        &self.history
    }

    pub fn remember(&mut self, line: &str) {
        if line.trim().is_empty() || self.history.last().is_some_and(|l| l == line) {
            return;
        }
        self.history.push(line.to_string());
        if self.history.len() > HISTORY_MAX {
            self.history.remove(0);
        }
    }

    /// Redraws the whole line: carriage return, prompt, text, clear to end, cursor back.
    fn redraw(&self, out: &mut String) {
        out.push('\r');
        out.push_str(&self.prompt);
        out.extend(self.buf.iter());
        out.push_str("\x1b[K");
        let back = self.buf.len() - self.cursor;
        if back > 0 {
            out.push_str(&format!("\x1b[{back}D"));
        }
    }

    fn insert(&mut self, c: char, out: &mut String) {
        if self.buf.len() >= LINE_MAX {
            // A bell and a line saying why, once: a paste that goes on is dropped in silence
            // (a bell per character would flood a 115200-baud console).
            if !self.told_full {
                self.told_full = true;
                out.push_str(&format!("\x07\nline too long: at most {LINE_MAX} characters; the rest was dropped\n"));
                self.redraw(out);
            }
            return;
        }
        self.buf.insert(self.cursor, c);
        self.cursor += 1;
        out.push(c); // the common case, at the end: plain echo, no redraw noise on the console
                     // In the middle, only the rest of the line moves (as readline does): a paste there costs
                     // the tail per character, not the prompt and the whole line.
        let tail = self.buf.len() - self.cursor;
        if tail > 0 {
            out.extend(&self.buf[self.cursor..]);
            out.push_str(&format!("\x1b[{tail}D"));
        }
    }

    /// Inserts text at the cursor (used by completion).
    pub fn insert_str(&mut self, s: &str, out: &mut String) {
        for c in s.chars() {
            self.insert(c, out);
        }
    }

    fn set_line(&mut self, chars: Vec<char>, out: &mut String) {
        self.buf = chars;
        self.cursor = self.buf.len();
        self.redraw(out);
    }

    fn history_move(&mut self, up: bool, out: &mut String) {
        if self.history.is_empty() {
            return;
        }
        let next = match (self.browsing, up) {
            (None, true) => {
                self.draft = self.buf.clone();
                Some(self.history.len() - 1)
            }
            (None, false) => return,
            (Some(0), true) => Some(0),
            (Some(i), true) => Some(i - 1),
            (Some(i), false) if i + 1 < self.history.len() => Some(i + 1),
            (Some(_), false) => None,
        };
        self.browsing = next;
        let chars = match next {
            Some(i) => self.history[i].chars().collect(),
            None => self.draft.clone(),
        };
        self.set_line(chars, out);
    }

    fn delete_back(&mut self, n: usize, out: &mut String) {
        let n = n.min(self.cursor);
        if n == 0 {
            return;
        }
        let at_end = self.cursor == self.buf.len();
        self.buf.drain(self.cursor - n..self.cursor);
        self.cursor -= n;
        if at_end && n == 1 {
            out.push_str("\x08 \x08");
        } else {
            self.redraw(out);
        }
    }

    fn escape_final(&mut self, b: u8, out: &mut String) {
        let param = std::mem::take(&mut self.csi_param);
        self.esc = Esc::None;
        match (b, param.as_str()) {
            (b'A', _) => self.history_move(true, out),
            (b'B', _) => self.history_move(false, out),
            (b'C', _) if self.cursor < self.buf.len() => {
                self.cursor += 1;
                out.push_str("\x1b[C");
            }
            (b'D', _) if self.cursor > 0 => {
                self.cursor -= 1;
                out.push_str("\x1b[D");
            }
            (b'H', _) | (b'~', "1" | "7") => {
                self.cursor = 0;
                self.redraw(out);
            }
            (b'F', _) | (b'~', "4" | "8") => {
                self.cursor = self.buf.len();
                self.redraw(out);
            }
            (b'~', "3") if self.cursor < self.buf.len() => {
                self.buf.remove(self.cursor);
                self.redraw(out);
            }
            _ => {}
        }
    }

    /// Feeds one input byte; appends what to print to `out`.
    pub fn feed(&mut self, b: u8, out: &mut String) -> Outcome {
        match self.esc {
            Esc::Start => {
                self.esc = match b {
                    b'[' => Esc::Csi,
                    b'O' => Esc::Ss3,
                    _ => Esc::None,
                };
                return Outcome::Continue;
            }
            Esc::Csi if b.is_ascii_digit() || b == b';' => {
                if self.csi_param.len() < 8 {
                    self.csi_param.push(b as char);
                }
                return Outcome::Continue;
            }
            Esc::Csi | Esc::Ss3 => {
                self.escape_final(b, out);
                return Outcome::Continue;
            }
            Esc::None => {}
        }
        if b >= 0x80 {
            self.utf8.push(b);
            loop {
                match std::str::from_utf8(&self.utf8) {
                    Ok(s) => {
                        let s = s.to_string();
                        self.utf8.clear();
                        self.insert_str(&s, out);
                        break;
                    }
                    // Bytes that can never become UTF-8 (line noise) are dropped.
                    Err(e) if e.error_len().is_some() => {
                        let bad = e.valid_up_to() + e.error_len().unwrap_or(1);
                        self.utf8.drain(..bad);
                    }
                    Err(_) => break, // an incomplete character: wait for the rest
                }
            }
            return Outcome::Continue;
        }
        self.utf8.clear();
        match b {
            b'\r' | b'\n' => {
                out.push('\n');
                let line = self.line();
                self.remember(&line);
                self.buf.clear();
                self.cursor = 0;
                self.browsing = None;
                self.told_full = false;
                return Outcome::Submit(line);
            }
            0x03 => {
                out.push_str("^C\n");
                self.buf.clear();
                self.cursor = 0;
                self.told_full = false;
                return Outcome::Cancel;
            }
            0x04 => {
                if self.buf.is_empty() {
                    out.push('\n');
                    return Outcome::Eof;
                }
                if self.cursor < self.buf.len() {
                    self.buf.remove(self.cursor);
                    self.redraw(out);
                }
            }
            0x7f | 0x08 => self.delete_back(1, out),
            0x01 => {
                self.cursor = 0;
                self.redraw(out);
            }
            0x05 => {
                self.cursor = self.buf.len();
                self.redraw(out);
            }
            0x02 => self.escape_final(b'D', out),
            0x06 => self.escape_final(b'C', out),
            0x10 => self.history_move(true, out),
            0x0e => self.history_move(false, out),
            0x0b => {
                self.buf.truncate(self.cursor);
                self.redraw(out);
            }
            0x15 => {
                self.buf.drain(..self.cursor);
                self.cursor = 0;
                self.redraw(out);
            }
            0x17 => {
                let mut start = self.cursor;
                while start > 0 && self.buf[start - 1] == ' ' {
                    start -= 1;
                }
                while start > 0 && self.buf[start - 1] != ' ' {
                    start -= 1;
                }
                let n = self.cursor - start;
                self.delete_back(n, out);
            }
            0x0c => {
                out.push_str("\x1b[H\x1b[2J");
                self.redraw(out);
            }
            b'\t' => return Outcome::Complete,
            0x1b => self.esc = Esc::Start,
            0x20..=0x7e => self.insert(b as char, out),
            _ => {} // other control bytes (garbage on a serial line) are ignored
        }
        Outcome::Continue
    }

    /// After a completion listing, prints the prompt and line again.
    pub fn reprint(&self, out: &mut String) {
        self.redraw(out);
    }
}

/// Completes `word` from `candidates`: the text to insert, and the list to show when ambiguous.
pub fn complete(word: &str, candidates: &[String]) -> (String, Vec<String>) {
    let matches: Vec<&String> = candidates.iter().filter(|c| c.starts_with(word)).collect();
    match matches.as_slice() {
        [] => (String::new(), Vec::new()),
        [one] => {
            let mut rest = one[word.len()..].to_string();
            if !one.ends_with('/') {
                rest.push(' ');
            }
            (rest, Vec::new())
        }
        many => {
            let first = many[0];
            let mut common = first.len();
            for m in &many[1..] {
                common = common.min(first.bytes().zip(m.bytes()).take_while(|(a, b)| a == b).count());
            }
            while !first.is_char_boundary(common) {
                common -= 1;
            }
            let mut list: Vec<String> = many.iter().map(|s| s.to_string()).collect();
            crate::sort::sort(&mut list);
            (first[word.len()..common].to_string(), list)
        }
    }
}

/// One fuzzing run (`rdbreak-fuzzing`, fuzz/): any bytes as keys typed at the prompt, then the
/// completion of what is left of the line; never panics.
pub fn fuzz_one(data: &[u8]) {
    let mut e = Editor::default();
    e.start("switch_root:/# ");
    let mut out = String::new();
    for &b in data {
        let _ = e.feed(b, &mut out);
        out.clear();
    }
    let _ = complete(&e.before_cursor(), &[e.line(), "chroot".into(), "chown".into()]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn type_in(e: &mut Editor, input: &[u8]) -> (Vec<Outcome>, String) {
        let mut out = String::new();
        let mut outcomes = Vec::new();
        for &b in input {
            let o = e.feed(b, &mut out);
            if o != Outcome::Continue {
                outcomes.push(o);
            }
        }
        (outcomes, out)
    }

    #[test]
    fn plain_typing_echoes_without_redraw() {
        let mut e = Editor::default();
        e.start("switch_root:/# ");
        let (o, out) = type_in(&mut e, b"exit\r");
        assert_eq!(o, [Outcome::Submit("exit".into())]);
        assert_eq!(out, "exit\n");
    }

    #[test]
    fn inserting_mid_line_rewrites_only_the_tail() {
        let mut e = Editor::default();
        e.start("switch_root:/# ");
        type_in(&mut e, b"mount /sysroot\x01");
        let (_, out) = type_in(&mut e, b"u");
        // The character, the 14 characters after it, then the cursor back over them.
        assert_eq!(out, "umount /sysroot\x1b[14D");
        let (o, _) = type_in(&mut e, b"\r");
        assert_eq!(o, [Outcome::Submit("umount /sysroot".into())]);
    }

    #[test]
    fn editing_keys() {
        let mut e = Editor::default();
        e.start("> ");
        // Left twice, insert, Home, insert, End, backspace.
        let (o, _) = type_in(&mut e, b"abcd\x1b[D\x1b[DX\x01Y\x05\x7f\n");
        assert_eq!(o, [Outcome::Submit("YabXc".into())]);
        e.start("> ");
        let (o, _) = type_in(&mut e, b"one two three\x17\x17x\r");
        assert_eq!(o, [Outcome::Submit("one x".into())]);
        e.start("> ");
        let (o, _) = type_in(&mut e, b"abc\x01\x1b[3~\x0b\rhello\x01\x1b[C\x15\r");
        assert_eq!(o, [Outcome::Submit("".into()), Outcome::Submit("ello".into())]);
    }

    #[test]
    fn history_browsing() {
        let mut e = Editor::default();
        e.start("> ");
        type_in(&mut e, b"first\rsecond\r");
        e.start("> ");
        let (o, _) = type_in(&mut e, b"dr\x1b[A\x1b[A\x1b[B\r");
        assert_eq!(o, [Outcome::Submit("second".into())]);
        e.start("> ");
        let (o, _) = type_in(&mut e, b"dr\x1b[A\x1b[B\r");
        assert_eq!(o, [Outcome::Submit("dr".into())]);
        assert_eq!(e.history(), ["first", "second", "dr"]);
    }

    #[test]
    fn control_keys_and_garbage() {
        let mut e = Editor::default();
        e.start("> ");
        let (o, _) = type_in(&mut e, b"partial\x03");
        assert_eq!(o, [Outcome::Cancel]);
        let (o, _) = type_in(&mut e, b"\x04");
        assert_eq!(o, [Outcome::Eof]);
        let (o, _) = type_in(&mut e, b"a\x04\x00\x1a\x1c\x7f\xff\xfe\xc3\xa9\r");
        assert_eq!(o, [Outcome::Submit("é".into())]);
        let (o, _) = type_in(&mut e, b"\t");
        assert_eq!(o, [Outcome::Complete]);
    }

    /// rdbreak issue 14 #5: the line had no limit. At LINE_MAX characters the rest is dropped,
    /// with one bell and one notice, and the line still works.
    #[test]
    fn a_line_stops_at_line_max_with_one_notice() {
        let mut e = Editor::default();
        e.start("> ");
        let (_, out) = type_in(&mut e, &vec![b'x'; LINE_MAX + 10_000]);
        assert_eq!(e.line().len(), LINE_MAX);
        assert_eq!(out.matches('\x07').count(), 1);
        assert_eq!(out.matches("line too long: at most 4096 characters").count(), 1);
        let (_, more) = type_in(&mut e, "é".repeat(100).as_bytes());
        assert!(more.is_empty(), "nothing more is echoed: {more:?}");
        // Editing still works: delete five, type "echo" at the start, submit.
        let (o, _) = type_in(&mut e, b"\x7f\x7f\x7f\x7f\x7f\x01echo\r");
        let Outcome::Submit(line) = &o[0] else { panic!("{o:?}") };
        assert!(line.starts_with("echoxxx") && line.len() == LINE_MAX - 1, "{}", line.len());
        // The next line starts empty, and may warn again.
        e.start("> ");
        let (_, out) = type_in(&mut e, &vec![b'y'; LINE_MAX + 1]);
        assert_eq!(out.matches('\x07').count(), 1);
    }

    #[test]
    fn completion() {
        let c = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(complete("chr", &c(&["chroot", "cat"])), ("oot ".into(), vec![]));
        assert_eq!(complete("x", &c(&["sysroot/", "sync"])), ("".into(), vec![]));
        let (ins, list) = complete("mo", &c(&["modprobe", "mount", "mv"]));
        assert_eq!(ins, "");
        assert_eq!(list, ["modprobe", "mount"]);
        let (ins, _) = complete("s", &c(&["sysroot/", "sysctl"]));
        assert_eq!(ins, "ys");
        assert_eq!(complete("sysr", &c(&["sysroot/"])).0, "oot/");
    }
}
