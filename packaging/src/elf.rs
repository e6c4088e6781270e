//! What a dynamically linked program needs, read from its ELF headers rather than by running
//! `ldd`: the interpreter (PT_INTERP), DT_NEEDED libraries, found through DT_RUNPATH/DT_RPATH,
//! ld.so.conf and the default directories, transitively.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Dynamic {
    pub interpreter: Option<String>,
    pub needed: Vec<String>,
    pub runpath: Vec<String>,
    pub rpath: Vec<String>,
}

fn u64_at(b: &[u8], o: usize) -> Result<u64> {
    rdbreak_init::bytes::le64(b, o).context("truncated ELF")
}

fn cstr(b: &[u8], o: usize) -> Result<String> {
    let s = b.get(o..).context("string offset outside the file")?;
    let end = s.iter().position(|&c| c == 0).context("unterminated string")?;
    Ok(String::from_utf8_lossy(&s[..end]).to_string())
}

/// Parses a 64-bit little-endian ELF file. Static binaries give an empty result.
pub fn parse(b: &[u8]) -> Result<Dynamic> {
    use rdbreak_init::elf::{self as headers, PT_DYNAMIC, PT_LOAD};
    let segments = headers::segments(b).map_err(anyhow::Error::msg)?;
    if b.get(4) != Some(&2) {
        bail!("only 64-bit little-endian ELF is supported");
    }
    let mut d = Dynamic { interpreter: headers::interpreter(b).map_err(anyhow::Error::msg)?, ..Default::default() };
    let loads: Vec<(u64, u64, u64)> =
        segments.iter().filter(|s| s.kind == PT_LOAD).map(|s| (s.vaddr, s.offset, s.filesz)).collect();
    let dynamic = segments.iter().find(|s| s.kind == PT_DYNAMIC).map(|s| (s.offset as usize, s.filesz as usize));
    let Some((dyn_off, dyn_size)) = dynamic else { return Ok(d) };
    let to_offset = |vaddr: u64| -> Result<usize> {
        loads
            .iter()
            .find(|(v, _, sz)| vaddr >= *v && vaddr < v + sz)
            .map(|(v, o, _)| (vaddr - v + o) as usize)
            .context("address outside every loaded segment")
    };
    let mut strtab = None;
    let mut entries = Vec::new();
    for i in 0..dyn_size / 16 {
        let tag = u64_at(b, dyn_off + i * 16)?;
        let val = u64_at(b, dyn_off + i * 16 + 8)?;
        match tag {
            0 => break,
            5 => strtab = Some(to_offset(val)?),
            1 | 15 | 29 => entries.push((tag, val as usize)),
            _ => {}
        }
    }
    let strtab = strtab.context("dynamic section without a string table")?;
    for (tag, off) in entries {
        let s = cstr(b, strtab + off)?;
        match tag {
            1 => d.needed.push(s),
            15 => d.rpath.extend(s.split(':').map(str::to_string)),
            _ => d.runpath.extend(s.split(':').map(str::to_string)),
        }
    }
    Ok(d)
}

/// What `b` is when it is not a 64-bit little-endian ELF executable (what the kernel can start
/// as /init); None when it is one.
pub fn not_an_executable(b: &[u8]) -> Option<String> {
    let head = &b[..b.len().min(64)];
    if b.is_empty() {
        return Some("an empty file".into());
    }
    if !b.starts_with(b"\x7fELF") {
        let line = head.split(|&c| c == b'\n').next().unwrap_or_default();
        let text = std::str::from_utf8(&b[..b.len().min(4096)])
            .is_ok_and(|t| !t.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r')));
        return Some(if b.starts_with(b"#!") {
            format!("a script ({})", crate::listing::escape(line))
        } else if text {
            format!("text, not a program (it begins \"{}\")", crate::listing::escape(line))
        } else {
            let bytes: Vec<String> = head.iter().take(8).map(|c| format!("{c:02x}")).collect();
            format!("data, not a program (it begins with the bytes {})", bytes.join(" "))
        });
    }
    if b.get(4..6) != Some(&[2, 1]) {
        return Some("an ELF file that is not 64-bit little-endian".into());
    }
    let e_type = b.get(16..18).map(|t| u16::from_le_bytes([t[0], t[1]]));
    match e_type {
        Some(2 | 3) => {}
        Some(1) => return Some("an ELF relocatable object (a .o or a kernel module), not a program".into()),
        Some(4) => return Some("an ELF core dump".into()),
        t => return Some(format!("an ELF file of type {t:?}, not a program")),
    }
    let loads =
        rdbreak_init::elf::segments(b).map(|s| s.iter().filter(|s| s.kind == rdbreak_init::elf::PT_LOAD).count());
    match loads {
        Ok(0) => Some("an ELF file with nothing to load".into()),
        Ok(_) if u64_at(b, 24).unwrap_or(0) == 0 => Some("an ELF shared library (it has no entry point)".into()),
        Ok(_) => None,
        Err(e) => Some(format!("a broken ELF file ({e})")),
    }
}

/// Directories from /etc/ld.so.conf (and its `include`s), as the dynamic loader's cache has them.
pub fn ld_so_conf(root: &Path) -> Vec<PathBuf> {
    fn read(root: &Path, file: &Path, out: &mut Vec<PathBuf>, depth: usize) {
        let Ok(text) = std::fs::read_to_string(root.join(file.strip_prefix("/").unwrap_or(file))) else { return };
        for line in text.lines().map(|l| l.split('#').next().unwrap_or("").trim()) {
            if let Some(pattern) = line.strip_prefix("include ") {
                let pattern = pattern.trim();
                let (dir, glob) = pattern.rsplit_once('/').unwrap_or((".", pattern));
                let suffix = glob.strip_prefix('*').unwrap_or(glob);
                let mut files: Vec<_> = std::fs::read_dir(root.join(dir.trim_start_matches('/')))
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.to_string_lossy().ends_with(suffix))
                    .collect();
                files.sort();
                for f in files {
                    if depth < 8 {
                        let rel = Path::new("/").join(f.strip_prefix(root).unwrap_or(&f));
                        read(root, &rel, out, depth + 1);
                    }
                }
            } else if line.starts_with('/') {
                out.push(PathBuf::from(line));
            }
        }
    }
    let mut out = Vec::new();
    read(root, Path::new("/etc/ld.so.conf"), &mut out, 0);
    out
}

pub const DEFAULT_DIRS: &[&str] =
    &["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"];

/// Every file `binary` needs at run time (interpreter and libraries, transitively), as absolute
/// paths on this system. Libraries that cannot be found are an error naming them.
pub fn dependencies(binary: &Path) -> Result<BTreeSet<PathBuf>> {
    let conf = ld_so_conf(Path::new("/"));
    let mut found = BTreeSet::new();
    let mut todo = vec![binary.to_path_buf()];
    let mut seen = BTreeSet::new();
    while let Some(file) = todo.pop() {
        if !seen.insert(file.clone()) {
            continue;
        }
        let data = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
        let d = parse(&data).with_context(|| format!("{}", file.display()))?;
        if let Some(i) = &d.interpreter {
            found.insert(PathBuf::from(i));
        }
        let origin = file.parent().unwrap_or(Path::new("/")).display().to_string();
        // DT_RPATH is only used when there is no DT_RUNPATH.
        let own: Vec<String> = if d.runpath.is_empty() { d.rpath.clone() } else { d.runpath.clone() };
        let own: Vec<PathBuf> =
            own.iter().map(|p| PathBuf::from(p.replace("$ORIGIN", &origin).replace("${ORIGIN}", &origin))).collect();
        for lib in &d.needed {
            let path = if lib.contains('/') {
                Some(PathBuf::from(lib))
            } else {
                own.iter()
                    .chain(conf.iter())
                    .cloned()
                    .chain(DEFAULT_DIRS.iter().map(PathBuf::from))
                    .map(|dir| dir.join(lib))
                    .find(|p| p.exists())
            };
            let Some(path) = path else {
                bail!("{} needs {lib}, which is in none of the library directories", file.display());
            };
            found.insert(path.clone());
            todo.push(path);
        }
    }
    Ok(found)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The smallest static x86-64 program: one PT_LOAD segment whose code calls exit(0).
    pub fn tiny_static_elf() -> Vec<u8> {
        let code = [0xb8, 60, 0, 0, 0, 0x31, 0xff, 0x0f, 0x05];
        let size = (64 + 56 + code.len()) as u64;
        let mut b = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0".to_vec();
        b.extend(2u16.to_le_bytes()); // ET_EXEC
        b.extend(62u16.to_le_bytes()); // x86-64
        b.extend(1u32.to_le_bytes());
        b.extend((0x400000u64 + 120).to_le_bytes()); // entry: the code after the headers
        b.extend(64u64.to_le_bytes()); // program headers right after this one
        b.extend(0u64.to_le_bytes());
        b.extend(0u32.to_le_bytes());
        for h in [64u16, 56, 1, 0, 0, 0] {
            b.extend(h.to_le_bytes());
        }
        b.extend(1u32.to_le_bytes()); // PT_LOAD
        b.extend(5u32.to_le_bytes()); // r-x
        for v in [0, 0x400000, 0x400000, size, size, 0x1000u64] {
            b.extend(v.to_le_bytes());
        }
        b.extend(code);
        b
    }

    #[test]
    fn a_real_dynamic_binary() {
        let bin = Path::new("/usr/bin/passwd");
        if !bin.exists() {
            return;
        }
        let d = parse(&std::fs::read(bin).unwrap()).unwrap();
        assert_eq!(d.interpreter.as_deref(), Some("/lib64/ld-linux-x86-64.so.2"));
        assert!(d.needed.iter().any(|n| n == "libpam.so.0"), "{:?}", d.needed);
        assert!(d.needed.iter().any(|n| n.starts_with("libc.so")));
        let deps = dependencies(bin).unwrap();
        let names: Vec<String> = deps.iter().map(|p| p.file_name().unwrap().to_string_lossy().to_string()).collect();
        // Transitive: libpcre2 comes through libselinux, as ldd shows it.
        for want in ["ld-linux-x86-64.so.2", "libpam.so.0", "libc.so.6", "libselinux.so.1", "libpcre2-8.so.0"] {
            assert!(names.iter().any(|n| n == want), "{want} missing from {names:?}");
        }
    }

    #[test]
    fn matches_ldd_for_bash() {
        let bin = Path::new("/bin/bash");
        let Ok(out) = std::process::Command::new("ldd").arg(bin).output() else { return };
        let ldd: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split("=>").nth(1).or(Some(l)).and_then(|p| p.split_whitespace().next()))
            .filter(|p| p.starts_with('/'))
            .map(|p| Path::new(p).file_name().unwrap().to_string_lossy().to_string())
            .collect();
        let ours: BTreeSet<String> =
            dependencies(bin).unwrap().iter().map(|p| p.file_name().unwrap().to_string_lossy().to_string()).collect();
        assert_eq!(ours, ldd);
    }

    #[test]
    fn what_an_init_that_is_not_a_program_is() {
        let is = |b: &[u8]| not_an_executable(b).unwrap_or_default();
        assert_eq!(is(b""), "an empty file");
        assert_eq!(is(b"myhost\n"), "text, not a program (it begins \"myhost\")");
        assert_eq!(is(b"#!/bin/sh\nexec /sbin/init\n"), "a script (#!/bin/sh)");
        assert_eq!(is(&[0x1f, 0x8b, 8, 0, 0xff]), "data, not a program (it begins with the bytes 1f 8b 08 00 ff)");
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert_eq!(not_an_executable(&me), None, "a program is one");
        let mut object = me.clone();
        object[16] = 1;
        assert!(is(&object).contains("relocatable"));
        let mut elf32 = me;
        elf32[4] = 1;
        assert!(is(&elf32).contains("not 64-bit"));
    }

    #[test]
    fn static_and_invalid() {
        assert!(parse(b"not elf").is_err());
        let me = std::env::current_exe().unwrap();
        let _ = parse(&std::fs::read(me).unwrap()).unwrap();
        let mut broken = std::fs::read("/bin/sh").unwrap_or_default();
        broken.truncate(100);
        if !broken.is_empty() {
            assert!(parse(&broken).is_err());
        }
    }
}
