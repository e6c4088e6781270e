//! Formats the init and the `rdbreak` image tool both read, spelt once: compression by its
//! magic number (module images, initramfs segments) and file modes as `ls -l` shows them; and
//! decimals written with integers ([`Ms`], [`hundredths`]), since formatting an `f64` links
//! some 12 KB of float printing into PID 1.

/// A compression, by the magic number its data starts with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
    Xz,
    Lzma,
    Lz4,
    Bzip2,
    Lzo,
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Xz => "xz",
            Compression::Lzma => "lzma",
            Compression::Lz4 => "lz4",
            Compression::Bzip2 => "bzip2",
            Compression::Lzo => "lzo",
        })
    }
}

/// The compression of data that starts with `head`.
pub fn compression(head: &[u8]) -> Compression {
    match head {
        [0x1f, 0x8b, ..] | [0x1f, 0x9e, ..] => Compression::Gzip,
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
        [0xfd, b'7', b'z', b'X', b'Z', 0, ..] => Compression::Xz,
        [0x5d, 0x00, 0x00, ..] => Compression::Lzma,
        [0x02, 0x21, 0x4c, 0x18, ..] | [0x04, 0x22, 0x4d, 0x18, ..] => Compression::Lz4,
        [b'B', b'Z', b'h', ..] => Compression::Bzip2,
        [0x89, b'L', b'Z', b'O', ..] => Compression::Lzo,
        _ => Compression::None,
    }
}

/// `ls -l`'s mode string (`drwxr-xr-x`): the shell's `ls` and the `rdbreak` CLI's listing. The
/// set-user-ID, set-group-ID and sticky bits show as `ls` shows them (`s`/`S`, `t`/`T`: lower
/// case when the execute bit under them is set), so a setuid file never looks like a plain one.
pub fn mode_string(mode: u32) -> String {
    let kind = match mode & 0o170000 {
        0o040000 => 'd',
        0o120000 => 'l',
        0o020000 => 'c',
        0o060000 => 'b',
        0o010000 => 'p',
        0o140000 => 's',
        _ => '-',
    };
    let mut s = String::from(kind);
    // (shift of the rwx triple, the special bit shown in its x place, its letter)
    for (shift, special, letter) in [(6, 0o4000, 's'), (3, 0o2000, 's'), (0, 0o1000, 't')] {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(match (mode & special != 0, bits & 1 != 0) {
            (true, true) => letter,
            (true, false) => letter.to_ascii_uppercase(),
            (false, true) => 'x',
            (false, false) => '-',
        });
    }
    s
}

/// A duration in milliseconds with one decimal, rounded (`12.3`), as the debug lines give it.
pub struct Ms(pub std::time::Duration);

impl std::fmt::Display for Ms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tenths = (self.0.as_micros() + 50) / 100;
        write!(f, "{}.{}", tenths / 10, tenths % 10)
    }
}

/// `n / d` with two decimals, rounded half up (`printf("%.2f")` for what it is used for: sizes).
pub fn hundredths(n: u64, d: u64) -> String {
    let d = u128::from(d.max(1));
    let h = (u128::from(n) * 100 + d / 2) / d;
    format!("{}.{:02}", h / 100, h % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_strings() {
        assert_eq!(mode_string(0o040755), "drwxr-xr-x");
        assert_eq!(mode_string(0o100600), "-rw-------");
        assert_eq!(mode_string(0o120777), "lrwxrwxrwx");
        // Set-id and sticky bits, as GNU ls prints them.
        assert_eq!(mode_string(0o104755), "-rwsr-xr-x");
        assert_eq!(mode_string(0o102755), "-rwxr-sr-x");
        assert_eq!(mode_string(0o104644), "-rwSr--r--");
        assert_eq!(mode_string(0o102640), "-rw-r-S---");
        assert_eq!(mode_string(0o041777), "drwxrwxrwt");
        assert_eq!(mode_string(0o041776), "drwxrwxrwT");
        assert_eq!(mode_string(0o107777), "-rwsrwsrwt");
    }

    #[test]
    fn magic_numbers() {
        assert_eq!(compression(&[0x28, 0xb5, 0x2f, 0xfd, 0]), Compression::Zstd);
        assert_eq!(compression(b"\xfd7zXZ\0rest"), Compression::Xz);
        assert_eq!(compression(&[0x1f, 0x8b, 8]), Compression::Gzip);
        assert_eq!(compression(b"BZh9"), Compression::Bzip2);
        assert_eq!(compression(b"\x7fELF"), Compression::None);
        assert_eq!(compression(&[]), Compression::None);
    }

    #[test]
    fn decimals_by_integers() {
        use std::time::Duration;
        let ms = |us: u64| Ms(Duration::from_micros(us)).to_string();
        assert_eq!(
            [ms(0), ms(49), ms(50), ms(1_234), ms(12_349), ms(12_350)],
            ["0.0", "0.0", "0.1", "1.2", "12.3", "12.4"]
        );
        assert_eq!(Ms(Duration::from_secs(u64::MAX)).to_string(), "18446744073709551615000.0");
        // As %.2f of the quotient: 10 GiB in MiB, 1,5 and a bit, two thirds, rounding up at half.
        assert_eq!(hundredths(10_240, 1024), "10.00");
        assert_eq!(hundredths(1_541, 1024), "1.50");
        assert_eq!(hundredths(2, 3), "0.67");
        assert_eq!(hundredths(1, 200), "0.01");
        assert_eq!(hundredths(u64::MAX, 1), format!("{}.00", u64::MAX));
        assert_eq!(hundredths(5, 0), "5.00", "no division by zero: as by 1");
    }
}
