//! The kernel command line, read with dracut's rules.
//!
//! Tokens are split the way the kernel's `next_arg()` (and dracut's `dracut-util`) split them, the
//! sources are merged in dracut's order, and look-ups follow `getarg`/`getargs`: the last occurrence
//! wins for single values, any occurrence matches for repeatable keys.

use std::path::Path;

/// One `key[=value]` token. `value` is `None` for a bare key such as `rd.break`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arg {
    pub key: String,
    pub value: Option<String>,
}

/// The merged command line: every token of every source, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cmdline {
    args: Vec<Arg>,
}

fn kernel_isspace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// Splits one string into tokens exactly as the kernel's `next_arg()` does: a token may be wrapped
/// in quotes, `"` toggles quoting anywhere, the key ends at the first `=`, and a quote opening the
/// value (and the one closing the token) is dropped.
pub fn split(text: &str) -> Vec<Arg> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() && kernel_isspace(bytes[pos]) {
        pos += 1;
    }
    while pos < bytes.len() {
        let mut start = pos;
        let mut in_quote = false;
        let mut quoted = false;
        if bytes[start] == b'"' {
            start += 1;
            in_quote = true;
            quoted = true;
        }
        let mut i = start;
        let mut equals = None;
        while i < bytes.len() {
            let b = bytes[i];
            if kernel_isspace(b) && !in_quote {
                break;
            }
            if equals.is_none() && b == b'=' {
                equals = Some(i);
            }
            if b == b'"' {
                in_quote = !in_quote;
            }
            i += 1;
        }
        // `end` is where the token's text stops once a closing quote is dropped.
        let mut end = i;
        let arg = match equals {
            None => {
                if quoted && end > start && bytes[end - 1] == b'"' {
                    end -= 1;
                }
                Arg { key: text[start..end].to_string(), value: None }
            }
            Some(eq) => {
                let mut vstart = eq + 1;
                if vstart < bytes.len() && bytes[vstart] == b'"' {
                    vstart += 1;
                    if end > eq + 1 && bytes[end - 1] == b'"' {
                        end -= 1;
                    }
                } else if quoted && end > start && bytes[end - 1] == b'"' {
                    end -= 1;
                }
                let vend = end.max(vstart);
                Arg { key: text[start..eq].to_string(), value: Some(text[vstart..vend].to_string()) }
            }
        };
        out.push(arg);
        pos = i;
        while pos < bytes.len() && kernel_isspace(bytes[pos]) {
            pos += 1;
        }
    }
    out
}

/// Interprets a value as dracut's `getargbool` does: `0`, `no` and `off` are false, anything else
/// (a bare key included) is true.
fn truthy(value: Option<&str>) -> bool {
    !matches!(value, Some("0" | "no" | "off"))
}

impl Cmdline {
    pub fn parse(text: &str) -> Self {
        Cmdline { args: split(text) }
    }

    /// Merges the sources in dracut's order (`getcmdline`): `/etc/cmdline.d/*.conf`,
    /// `/etc/cmdline`, `/proc/cmdline`, then `/run/initramfs/cmdline.d/*.conf`. Later wins.
    pub fn from_system(root: &Path) -> Self {
        let mut text = String::new();
        let mut add = |path: &Path| {
            if let Ok(s) = std::fs::read_to_string(path) {
                text.push_str(&s);
                text.push('\n');
            }
        };
        for path in conf_files(&root.join("etc/cmdline.d")) {
            add(&path);
        }
        add(&root.join("etc/cmdline"));
        add(&root.join("proc/cmdline"));
        for path in conf_files(&root.join("run/initramfs/cmdline.d")) {
            add(&path);
        }
        Cmdline::parse(&text)
    }

    pub fn args(&self) -> &[Arg] {
        &self.args
    }

    /// The last occurrence of `key`: `Some(None)` if it was bare, `Some(Some(v))` with a value.
    pub fn last(&self, key: &str) -> Option<Option<&str>> {
        self.args.iter().rev().find(|a| a.key == key).map(|a| a.value.as_deref())
    }

    /// `getarg key`: the last value; a bare key gives the empty string.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.last(key).map(|v| v.unwrap_or(""))
    }

    /// `getarg key=val`: whether the last occurrence of `key` has exactly this value.
    pub fn last_is(&self, key: &str, value: &str) -> bool {
        self.last(key) == Some(Some(value))
    }

    /// `getargs key`: every value in order; a bare occurrence yields the key itself, as dracut does.
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.args.iter().filter(move |a| a.key == key).map(|a| a.value.as_deref().unwrap_or(&a.key))
    }

    /// `getargs key=val`: whether any occurrence has this value.
    pub fn any_is(&self, key: &str, value: &str) -> bool {
        self.args.iter().any(|a| a.key == key && a.value.as_deref() == Some(value))
    }

    /// `getargbool default key`.
    pub fn flag(&self, key: &str, default: bool) -> bool {
        self.last(key).map_or(default, truthy)
    }

    /// `getargnum default min max key`: digits only and within range, else the default.
    pub fn number(&self, key: &str, default: u64, min: u64, max: u64) -> u64 {
        match self.get(key) {
            Some(v) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => match v.parse::<u64>() {
                Ok(n) if (min..=max).contains(&n) => n,
                _ => default,
            },
            _ => default,
        }
    }

    /// Every value of a comma-separated repeatable key (`rd.driver.pre=a,b rd.driver.pre=c`).
    pub fn list(&self, key: &str) -> Vec<String> {
        self.args
            .iter()
            .filter(|a| a.key == key)
            .filter_map(|a| a.value.as_deref())
            .flat_map(|v| v.split(','))
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }
}

/// `*.conf` files of a directory in shell-glob (byte) order (cmdline.d, modprobe.d).
pub fn conf_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    crate::sort::sort(&mut files);
    files
}

/// One fuzzing run (`rdbreak-fuzzing`, fuzz/): any bytes as a command line, parsed and queried
/// the ways the boot queries one; never panics.
pub fn fuzz_one(data: &[u8]) {
    let c = Cmdline::parse(&String::from_utf8_lossy(data));
    for a in c.args().iter().take(8) {
        let _ = (c.get(&a.key), c.flag(&a.key, true), c.number(&a.key, 1, 0, 9), c.list(&a.key));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The command line of dracut-ng's own parser test, `test/TEST-80-GETARG`, trailing
    /// unbalanced quote included.
    const DRACUT_CASE: &str = "key1=0 key2=val key2=val2 key3=\"  val  3  \" \"  key 4  =\"val4 \"key  5=val  5\" \"key 6=\"\"val  6\" key7=\"foo\"bar\" baz=\"end \"  key8  =  val 8  \"\n\"key 9\"=\"val 9\" \"";

    #[test]
    fn dracut_getarg_oracle() {
        let c = Cmdline::parse(DRACUT_CASE);
        let expect = [
            ("key1", "0"),
            ("key2", "val2"),
            ("key3", "  val  3  "),
            ("  key 4  ", "val4"),
            ("key  5", "val  5"),
            ("key 6", "\"val  6"),
            ("key7", "foo\"bar\" baz=\"end"),
            ("  key8  ", "  val 8  "),
            ("key 9\"", "val 9"),
        ];
        for (k, v) in expect {
            assert_eq!(c.get(k), Some(v), "key {k:?}");
        }
        for k in ["key", "4", "5", "6", "key8", "9", "\"", "baz"] {
            assert_eq!(c.get(k), None, "key {k:?} must not be found");
        }
        assert_eq!(c.all("key2").collect::<Vec<_>>(), ["val", "val2"]);
        assert!(!c.last_is("key2", "val"));
        assert!(c.last_is("key2", "val2"));
    }

    #[test]
    fn dracut_lib_cases() {
        let c = Cmdline::parse("rd.break=cmdline rd.lvm rd.auto=0 rd.auto rd.retry=10");
        assert_eq!(c.get("rd.retry"), Some("10"));
        assert!(c.last_is("rd.break", "cmdline"));
        assert!(c.flag("rd.lvm", true));
        assert!(c.flag("rd.auto", false));

        let c = Cmdline::parse("rd.break=cmdlined rd.lvm=0 rd.auto rd.auto=1 rd.auto=0");
        assert!(!c.any_is("rd.break", "cmdline"));
        assert!(!c.flag("rd.lvm", true));
        assert!(!c.flag("rd.auto", false));

        let c = Cmdline::parse("ip=a ip=b ip=dhcp6");
        assert!(c.any_is("ip", "dhcp6"));
        assert_eq!(c.all("ip").collect::<Vec<_>>(), ["a", "b", "dhcp6"]);

        let c = Cmdline::parse("bridge bridge=val");
        assert_eq!(c.all("bridge").collect::<Vec<_>>(), ["bridge", "val"]);
    }

    #[test]
    fn bare_and_empty_values() {
        let c = Cmdline::parse("rd.break root= quiet");
        assert_eq!(c.last("rd.break"), Some(None));
        assert_eq!(c.get("rd.break"), Some(""));
        assert_eq!(c.get("root"), Some(""));
        assert_eq!(c.get("absent"), None);
    }

    #[test]
    fn numbers_and_lists() {
        let c = Cmdline::parse("rd.retry=5 a=x1 rd.driver.pre=a,b rd.driver.pre=c,,d big=99999999999999999999999");
        assert_eq!(c.number("rd.retry", 180, 0, 3600), 5);
        assert_eq!(c.number("a", 180, 0, 3600), 180);
        assert_eq!(c.number("big", 180, 0, 3600), 180);
        assert_eq!(c.number("none", 7, 0, 10), 7);
        assert_eq!(c.list("rd.driver.pre"), ["a", "b", "c", "d"]);
    }

    #[test]
    fn merges_sources_in_dracut_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("etc/cmdline.d")).unwrap();
        std::fs::create_dir_all(root.join("proc")).unwrap();
        std::fs::write(root.join("etc/cmdline.d/20-root.conf"), "root=UUID=baked rd.retry=3\n").unwrap();
        std::fs::write(root.join("etc/cmdline.d/10-a.conf"), "rd.retry=1").unwrap();
        std::fs::write(root.join("etc/cmdline.d/ignored.txt"), "root=wrong").unwrap();
        std::fs::write(root.join("proc/cmdline"), "root=LABEL=given quiet\n").unwrap();
        let c = Cmdline::from_system(root);
        assert_eq!(c.get("root"), Some("LABEL=given"));
        assert_eq!(c.get("rd.retry"), Some("3"));
        assert!(c.flag("quiet", false));
    }

    #[test]
    fn never_panics_on_odd_input() {
        for s in ["\"", "=", "\"=\"", "a=\"", "\"a", " \t\n", "é=ü \"ñ", "==\"\"=="] {
            let _ = Cmdline::parse(s);
        }
    }
}
