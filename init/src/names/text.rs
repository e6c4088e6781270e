//! udev's string rules, byte for byte (systemd 252): how a value read from a device becomes part
//! of a link name. `udev_replace_whitespace`, `udev_replace_chars`, the `$attr{}` substitution,
//! the `SYMLINK` formatting, and the shell globs of a rule's `KERNEL==`.

/// `WHITESPACE` in systemd: what leading-whitespace skipping and trimming remove.
const WHITESPACE: &[u8] = b" \t\n\r";

/// C's `isspace` in the C locale (also `\v` and `\f`, unlike [`WHITESPACE`]).
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// A C string: what a `char *` sees of these bytes (up to the first NUL).
pub fn c_str(b: &[u8]) -> &[u8] {
    b.iter().position(|&c| c == 0).map_or(b, |n| &b[..n])
}

/// `udev_replace_whitespace(str, to, len)`: at most `len` bytes of `s` are read; leading
/// whitespace dropped, each inner run of whitespace one `_`, trailing whitespace dropped, and
/// the result at most `len` bytes long.
pub fn replace_whitespace(s: &[u8], len: usize) -> Vec<u8> {
    let s = c_str(s);
    let mut i = s.iter().take_while(|c| WHITESPACE.contains(c)).count();
    let mut to = Vec::new();
    let mut pending_space = false;
    while to.len() < len && i < len && i < s.len() {
        let c = s[i];
        i += 1;
        if is_space(c) {
            pending_space = true;
            continue;
        }
        if pending_space {
            if to.len() + 1 >= len {
                break;
            }
            to.push(b'_');
            pending_space = false;
        }
        to.push(c);
    }
    to
}

/// `allow_listed_char_for_devnode`.
fn allowed(c: u8, allow: &[u8]) -> bool {
    c.is_ascii_alphanumeric() || b"#+-.:=@_".contains(&c) || allow.contains(&c)
}

/// The length of the valid UTF-8 character of two bytes or more at the start of `s`, as
/// `utf8_encoded_valid_unichar` accepts it (Rust's UTF-8 rules are the same: no overlong
/// forms, no surrogates, nothing above U+10FFFF).
fn utf8_multibyte(s: &[u8]) -> Option<usize> {
    let n = match s.first()? {
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => return None,
    };
    std::str::from_utf8(s.get(..n)?).ok().map(|_| n)
}

/// `udev_replace_chars(str, allow)`: anything but alphanumerics, `#+-.:=@_`, the `allow` set,
/// `\x` escapes and valid UTF-8 becomes `_` (whitespace becomes a space when a space is
/// allowed).
pub fn replace_chars(s: &[u8], allow: &[u8]) -> Vec<u8> {
    let s = c_str(s);
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if allowed(c, allow) {
            out.push(c);
            i += 1;
        } else if c == b'\\' && s.get(i + 1) == Some(&b'x') {
            out.extend_from_slice(b"\\x");
            i += 2;
        } else if let Some(n) = utf8_multibyte(&s[i..]) {
            out.extend_from_slice(&s[i..i + n]);
            i += n;
        } else {
            out.push(if is_space(c) && allow.contains(&b' ') { b' ' } else { b'_' });
            i += 1;
        }
    }
    out
}

/// `UDEV_NAME_SIZE`: the buffer a property or attribute value lives in (with its NUL).
pub const NAME_SIZE: usize = 512;

/// What `$attr{name}` substitutes for a raw attribute value: trailing whitespace removed,
/// characters outside `UDEV_ALLOWED_CHARS_INPUT` replaced. None when udev's buffer would have
/// truncated it (udev then refuses the property or the link).
pub fn attr_subst(raw: &[u8]) -> Option<Vec<u8>> {
    let v = c_str(raw);
    if v.len() >= NAME_SIZE {
        return None;
    }
    let end = v.iter().rposition(|c| !WHITESPACE.contains(c)).map_or(0, |p| p + 1);
    Some(replace_chars(&v[..end], b"/ $%?,"))
}

/// Whether `ATTRS{name}=="?*"` matches this raw value: something is left once trailing
/// whitespace is removed.
pub fn attr_nonempty(raw: &[u8]) -> bool {
    c_str(raw).iter().any(|c| !WHITESPACE.contains(c))
}

/// `UDEV_PATH_SIZE`: the longest link path udev makes, `/dev/` and NUL included.
const PATH_SIZE: usize = 1024;

/// A `SYMLINK+=` value: the rule's literal text and its substitutions, in order. Each
/// substitution has its whitespace replaced, then the whole its characters (`/` stays: it
/// makes directories). The link is relative to /dev; None when udev would refuse it (too long)
/// or when it would leave its directory (an empty, `.` or `..` component, which a hostile
/// serial number could otherwise make).
pub fn symlink(parts: &[Part<'_>]) -> Option<String> {
    let mut buf = Vec::new();
    for p in parts {
        match p {
            Part::Text(t) => buf.extend_from_slice(t.as_bytes()),
            Part::Value(v) => buf.extend(replace_whitespace(v, v.len())),
        }
    }
    let buf = replace_chars(&buf, b"/ ");
    // udev splits the value at spaces into several links; none survive the replacing above.
    if buf.is_empty() || buf.contains(&b' ') || "/dev/".len() + buf.len() >= PATH_SIZE {
        return None;
    }
    let s = String::from_utf8(buf).ok()?;
    if s.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return None;
    }
    Some(s)
}

/// A piece of a `SYMLINK` template.
pub enum Part<'a> {
    Text(&'a str),
    Value(&'a [u8]),
}

/// fnmatch(3) without flags, for the patterns of the rules: `*`, `?`, `[…]`, `[!…]`, `|`
/// between alternatives.
pub fn glob(pattern: &str, name: &str) -> bool {
    pattern.split('|').any(|alt| glob_one(alt.as_bytes(), name.as_bytes()))
}

fn glob_one(p: &[u8], s: &[u8]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some(b'*') => (0..=s.len()).any(|i| glob_one(&p[1..], &s[i..])),
        Some(b'?') => !s.is_empty() && glob_one(&p[1..], &s[1..]),
        Some(b'[') => {
            let Some(end) = p.iter().skip(2).position(|&c| c == b']').map(|e| e + 2) else {
                return s.first() == Some(&b'[') && glob_one(&p[1..], &s[1..]);
            };
            let (negate, set) = match p[1] {
                b'!' => (true, &p[2..end]),
                _ => (false, &p[1..end]),
            };
            let Some(&c) = s.first() else { return false };
            let mut hit = false;
            let mut i = 0;
            while i < set.len() {
                if i + 2 < set.len() && set[i + 1] == b'-' {
                    hit |= set[i] <= c && c <= set[i + 2];
                    i += 3;
                } else {
                    hit |= set[i] == c;
                    i += 1;
                }
            }
            hit != negate && glob_one(&p[end + 1..], &s[1..])
        }
        Some(&c) => s.first() == Some(&c) && glob_one(&p[1..], &s[1..]),
    }
}

/// The trailing number of a device name (`%n`, sd_device's sysnum): `sda12` → `12`; none for a
/// name that is only digits.
pub fn sysnum(name: &str) -> Option<&str> {
    let digits = name.bytes().rev().take_while(u8::is_ascii_digit).count();
    (digits > 0 && digits < name.len()).then(|| &name[name.len() - digits..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: Vec<u8>) -> String {
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn whitespace_as_udev_replaces_it() {
        assert_eq!(s(replace_whitespace(b"  QEMU HARDDISK   ", 40)), "QEMU_HARDDISK");
        assert_eq!(s(replace_whitespace(b"a \t b", 40)), "a_b");
        // At most len bytes are read, and written.
        assert_eq!(s(replace_whitespace(b"abcdef", 4)), "abcd");
        assert_eq!(s(replace_whitespace(b"abc def", 4)), "abc");
        // Leading \v is not in WHITESPACE but is a space inside: it becomes an underscore.
        assert_eq!(s(replace_whitespace(b"\x0bab", 40)), "_ab");
        assert_eq!(s(replace_whitespace(b"ab\0cd", 40)), "ab");
        assert_eq!(s(replace_whitespace(b"   ", 40)), "");
    }

    #[test]
    fn chars_as_udev_replaces_them() {
        assert_eq!(s(replace_chars(b"QEMU HARDDISK", b"")), "QEMU_HARDDISK");
        assert_eq!(s(replace_chars(b"a/b c", b"/ ")), "a/b c");
        assert_eq!(s(replace_chars(b"a\tb", b"/ ")), "a b");
        assert_eq!(s(replace_chars(b"a\\x20b\\", b"")), "a\\x20b_");
        assert_eq!(s(replace_chars("wörk".as_bytes(), b"")), "wörk");
        assert_eq!(s(replace_chars(b"a\xffb\xc3", b"")), "a_b_");
        assert_eq!(s(replace_chars(b"x*y\"z", b"")), "x_y_z");
    }

    #[test]
    fn attr_substitution() {
        assert_eq!(attr_subst(b"serial 1   \n").map(s).as_deref(), Some("serial 1"));
        assert_eq!(attr_subst(b"a$b%c?d,e/f*g").map(s).as_deref(), Some("a$b%c?d,e/f_g"));
        assert_eq!(attr_subst(&[b'a'; NAME_SIZE]), None);
        assert!(attr_nonempty(b" x "));
        assert!(!attr_nonempty(b"  \n"));
        assert!(!attr_nonempty(b""));
    }

    #[test]
    fn symlinks_refuse_escapes_and_overlong_names() {
        use Part::*;
        assert_eq!(
            symlink(&[Text("disk/by-id/virtio-"), Value(b" my  disk ")]).as_deref(),
            Some("disk/by-id/virtio-my_disk")
        );
        assert_eq!(symlink(&[Text("disk/by-id/virtio-"), Value(b"a/b")]).as_deref(), Some("disk/by-id/virtio-a/b"));
        assert_eq!(symlink(&[Text("disk/by-id/virtio-"), Value(b"x/../../../etc")]), None);
        assert_eq!(symlink(&[Text("disk/by-id/virtio-"), Value(b"x/")]), None);
        assert_eq!(symlink(&[Text("disk/by-id/virtio-"), Value(&[b'a'; 1100])]), None);
    }

    #[test]
    fn globs_of_the_rules() {
        assert!(glob("sd*[!0-9]|sr*", "sda"));
        assert!(glob("sd*[!0-9]|sr*", "sr0"));
        assert!(!glob("sd*[!0-9]|sr*", "sda1"));
        assert!(glob("nvme*[0-9]n*[0-9]", "nvme0n1"));
        assert!(glob("nvme*[0-9]n*[0-9]p*[0-9]", "nvme0n1p2"));
        assert!(!glob("nvme*[0-9]n*[0-9]p*[0-9]", "nvme0n1"));
        assert!(glob("mmcblk[0-9]boot[0-9]", "mmcblk0boot1"));
        assert!(glob("[6-9]*", "6"));
        assert!(!glob("[6-9]*", "5"));
        assert!(glob("vd*[!0-9]", "vdaa"));
        assert!(!glob("vd*[!0-9]", "vda1"));
    }

    #[test]
    fn kernel_numbers() {
        assert_eq!(sysnum("sda12"), Some("12"));
        assert_eq!(sysnum("nvme0n1p3"), Some("3"));
        assert_eq!(sysnum("sda"), None);
        assert_eq!(sysnum("123"), None);
    }
}
