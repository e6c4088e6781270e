//! fnmatch(3) for `modules.alias` patterns.

/// fnmatch(3) without flags: `*`, `?` and `[...]` (with `!`/`^` negation and ranges).
pub fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let (mut star_p, mut star_t) = (usize::MAX, 0);
    while t < text.len() {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    star_p = p;
                    star_t = t;
                    p += 1;
                    continue;
                }
                b'?' => {
                    p += 1;
                    t += 1;
                    continue;
                }
                b'[' => {
                    if let Some((matched, next)) = match_class(pattern, p, text[t]) {
                        if matched {
                            p = next;
                            t += 1;
                            continue;
                        }
                    } else if text[t] == b'[' {
                        p += 1;
                        t += 1;
                        continue;
                    }
                }
                c if c == text[t] => {
                    p += 1;
                    t += 1;
                    continue;
                }
                _ => {}
            }
        }
        if star_p == usize::MAX {
            return false;
        }
        p = star_p + 1;
        star_t += 1;
        t = star_t;
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Matches one byte against the class starting at `pattern[start] == b'['`. Returns whether it
/// matched and the index after `]`, or None when the class is unterminated.
fn match_class(pattern: &[u8], start: usize, c: u8) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = matches!(pattern.get(i), Some(b'!' | b'^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let &lo = pattern.get(i)?;
        if lo == b']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        if pattern.get(i + 1) == Some(&b'-') && pattern.get(i + 2).is_some_and(|&h| h != b']') {
            let hi = pattern[i + 2];
            matched |= (lo..=hi).contains(&c);
            i += 3;
        } else {
            matched |= lo == c;
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_like_fnmatch() {
        assert!(glob_match(b"pci:v00001AF4d*sv*sd*bc*sc*i*", b"pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00"));
        assert!(!glob_match(b"pci:v00001AF4d*", b"pci:v00008086d00001234"));
        assert!(glob_match(b"a?c", b"abc"));
        assert!(glob_match(b"usb:v*p*d*dc[0-9]*", b"usb:v1p2d3dc7x"));
        assert!(!glob_match(b"x[!a-c]", b"xb"));
        assert!(glob_match(b"x[!a-c]", b"xd"));
        assert!(glob_match(b"*", b""));
        assert!(glob_match(b"a[", b"a["));
    }
}
