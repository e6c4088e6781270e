//! Which entries `rdbreak ls`, `unpack` and `cat` take: shell patterns as cpio and lsinitrd
//! take them (`*`, `?`, `[...]`; `*` crosses `/`), on the path made relative (`/etc/x`, `./etc/x`
//! and `etc/x` are one path). A pattern that names a directory takes what is under it too.

/// Which entries to take, by relative path (built from patterns by the CLI).
pub type Select<'p> = &'p dyn Fn(&[u8]) -> bool;

/// `path` without leading `/` and `./`, and without a trailing `/`.
pub fn relative(path: &[u8]) -> &[u8] {
    let mut p = path;
    loop {
        if let Some(rest) = p.strip_prefix(b"/") {
            p = rest;
        } else if let Some(rest) = p.strip_prefix(b"./") {
            p = rest;
        } else {
            break;
        }
    }
    p.strip_suffix(b"/").unwrap_or(p)
}

/// An archive name as a relative path: empty and `.` components dropped (`./a//./b` is `a/b`).
pub fn normalize(name: &[u8]) -> Vec<u8> {
    let parts: Vec<&[u8]> = name.split(|&b| b == b'/').filter(|c| !c.is_empty() && *c != b".").collect();
    parts.join(&b'/')
}

/// Whether `path` (relative) is taken by `pattern`: matched whole, or one of its parent
/// directories is.
pub fn selects(pattern: &[u8], path: &[u8]) -> bool {
    let pattern = relative(pattern);
    let path = relative(path);
    if glob(pattern, path) {
        return true;
    }
    path.iter().enumerate().filter(|&(_, &b)| b == b'/').any(|(i, _)| glob(pattern, &path[..i]))
}

/// fnmatch(3) without FNM_PATHNAME: `*` any bytes, `?` one byte, `[a-z]`/`[!x]` a class,
/// `\` quotes. Iterative, with one backtrack point: linear in practice, never exponential.
pub fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        let step = match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
                continue;
            }
            Some(b'?') => Some(p + 1),
            Some(b'[') => {
                class(&pattern[p..], text[t]).map(|(hit, len)| (hit, p + len)).and_then(|(hit, n)| hit.then_some(n))
            }
            Some(b'\\') if p + 1 < pattern.len() => (pattern[p + 1] == text[t]).then_some(p + 2),
            Some(&c) => (c == text[t]).then_some(p + 1),
            None => None,
        };
        match (step, star) {
            (Some(next), _) => {
                p = next;
                t += 1;
            }
            (None, Some((sp, st))) => {
                p = sp + 1;
                t = st + 1;
                star = Some((sp, st + 1));
            }
            (None, None) => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// A `[...]` class at the front of `pattern` against `c`: (matched, length of the class), or
/// when the bracket is not closed, `[` as an ordinary byte.
fn class(pattern: &[u8], c: u8) -> Option<(bool, usize)> {
    // (Option so the caller's chain reads the same for every arm.)
    let mut i = 1;
    let negate = matches!(pattern.get(i), Some(b'!' | b'^'));
    if negate {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    while let Some(&b) = pattern.get(i) {
        if b == b']' && !first {
            return Some((hit != negate, i + 1));
        }
        first = false;
        if pattern.get(i + 1) == Some(&b'-') && pattern.get(i + 2).is_some_and(|&e| e != b']') {
            let e = pattern[i + 2];
            hit |= (b..=e).contains(&c);
            i += 3;
        } else {
            hit |= b == c;
            i += 1;
        }
    }
    // Not closed: `[` stands for itself.
    Some((c == b'[', 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_patterns_as_cpio_takes_them() {
        assert!(glob(b"*.ko", b"usr/lib/modules/6.1/kernel/virtio_blk.ko"), "* crosses /");
        assert!(glob(b"etc/?ostname", b"etc/hostname"));
        assert!(glob(b"etc/[a-h]ostname", b"etc/hostname"));
        assert!(!glob(b"etc/[!h]ostname", b"etc/hostname"));
        assert!(glob(b"a\\*", b"a*") && !glob(b"a\\*", b"ab"));
        assert!(!glob(b"*.ko", b"usr/lib/modules/6.1/modules.dep"));
        assert!(glob(b"[", b"[") && !glob(b"[ab", b"a"));
        assert!(!glob(&[b'*'; 64].iter().chain(b"x").copied().collect::<Vec<_>>(), &[b'a'; 200]));
    }

    #[test]
    fn a_directory_takes_what_is_under_it_and_spellings_agree() {
        assert!(selects(b"/etc", b"etc/cmdline.d/a.conf"));
        assert!(selects(b"./etc/", b"./etc"));
        assert!(selects(b"usr/lib/modules", b"usr/lib/modules/6.1/kernel/a.ko"));
        assert!(!selects(b"etc/cmdline", b"etc/cmdline.d/a.conf"));
        assert!(!selects(b"usr", b"usrx/y"));
        assert_eq!(normalize(b"./a//./b/"), b"a/b");
    }
}
