//! Just enough of ELF to know, before switching root, whether the kernel can start a program:
//! its program headers and its interpreter (PT_INTERP). Also used by the image builder.

/// One program header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub kind: u32,
    pub offset: u64,
    pub vaddr: u64,
    pub filesz: u64,
}

pub const PT_LOAD: u32 = 1;
pub const PT_DYNAMIC: u32 = 2;
pub const PT_INTERP: u32 = 3;

/// The program headers of a little-endian ELF file, 64- or 32-bit. `Err` says why not.
pub fn segments(b: &[u8]) -> Result<Vec<Segment>, &'static str> {
    if b.get(0..4) != Some(b"\x7fELF") {
        return Err("not an ELF file");
    }
    if b.get(5) != Some(&1) {
        return Err("not a little-endian ELF file");
    }
    let wide = match b.get(4) {
        Some(2) => true,
        Some(1) => false,
        _ => return Err("unknown ELF class"),
    };
    let n = |o: usize, len: usize| -> Result<u64, &'static str> {
        let s = b.get(o..o.checked_add(len).ok_or("truncated ELF")?).ok_or("truncated ELF")?;
        Ok(s.iter().rev().fold(0u64, |acc, &x| acc << 8 | u64::from(x)))
    };
    let n32 = |o: usize| -> Result<u32, &'static str> { u32::try_from(n(o, 4)?).map_err(|_| "truncated ELF") };
    let (phoff, phentsize, phnum) =
        if wide { (n(0x20, 8)?, n(0x36, 2)?, n(0x38, 2)?) } else { (n(0x1c, 4)?, n(0x2a, 2)?, n(0x2c, 2)?) };
    let mut out = Vec::new();
    for i in 0..phnum {
        let p = usize::try_from(phoff + i * phentsize).map_err(|_| "truncated ELF")?;
        out.push(if wide {
            Segment { kind: n32(p)?, offset: n(p + 8, 8)?, vaddr: n(p + 16, 8)?, filesz: n(p + 32, 8)? }
        } else {
            Segment { kind: n32(p)?, offset: n(p + 4, 4)?, vaddr: n(p + 8, 4)?, filesz: n(p + 16, 4)? }
        });
    }
    Ok(out)
}

/// The program interpreter (`/lib64/ld-linux-x86-64.so.2`), None for a static binary.
pub fn interpreter(b: &[u8]) -> Result<Option<String>, &'static str> {
    let Some(s) = segments(b)?.into_iter().find(|s| s.kind == PT_INTERP) else { return Ok(None) };
    let start = usize::try_from(s.offset).map_err(|_| "truncated ELF")?;
    let text = b.get(start..).ok_or("PT_INTERP outside the file")?;
    let end = text.iter().position(|&c| c == 0).ok_or("PT_INTERP outside the file")?;
    Ok(Some(String::from_utf8_lossy(&text[..end]).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_interpreter_of_real_programs() {
        let sh = std::fs::read("/bin/sh").unwrap();
        let interp = interpreter(&sh).unwrap().expect("/bin/sh is dynamically linked on the build host");
        assert!(interp.starts_with('/') && interp.contains("ld"), "{interp}");
        assert!(std::path::Path::new(&interp).exists());
    }

    #[test]
    fn static_and_broken_files() {
        // A minimal 64-bit header with no program headers: static, no interpreter.
        let mut h = vec![0u8; 64];
        h[..6].copy_from_slice(b"\x7fELF\x02\x01");
        assert_eq!(interpreter(&h), Ok(None));
        // One PT_INTERP header pointing past the end.
        h[0x20] = 64; // e_phoff
        h[0x36] = 56; // e_phentsize
        h[0x38] = 1; // e_phnum
        h.extend_from_slice(&[0u8; 56]);
        h[64] = 3;
        h[72] = 0xff;
        assert!(interpreter(&h).is_err());
        assert!(interpreter(b"#!/bin/sh\n").is_err());
        assert!(interpreter(b"\x7fELF\x02\x01").is_err());
        assert!(segments(b"\x7fELF\x02\x02").is_err());
    }
}
