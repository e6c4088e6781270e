//! What the machine looked like when boot failed: `/run/initramfs/rdsosreport.txt`, the kernel
//! log, and the uptime stamps used in messages.

use std::fmt::Write as _;
use std::io::Read;

use crate::boot::Boot;

pub const REPORT: &str = "/run/initramfs/rdsosreport.txt";

/// Seconds since boot, from /proc/uptime (the guest's clock), as `12.34s`.
pub fn uptime() -> String {
    std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(|u| format!("{u}s")))
        .unwrap_or_else(|| "?".into())
}

/// Formats one /dev/kmsg record (`6,339,5140900,-;text`) as dmesg does: `[    5.140900] text`.
pub fn format_kmsg(record: &str) -> Option<String> {
    let (head, text) = record.split_once(';')?;
    let usec: u64 = head.split(',').nth(2)?.parse().ok()?;
    let text = text.lines().next().unwrap_or("");
    Some(format!("[{:5}.{:06}] {text}", usec / 1_000_000, usec % 1_000_000))
}

/// The kernel log so far, read from /dev/kmsg without blocking.
pub fn dmesg() -> String {
    use std::os::unix::fs::OpenOptionsExt;
    let mut out = String::new();
    let Ok(mut f) = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open("/dev/kmsg") else {
        return out;
    };
    let mut buf = vec![0u8; 8192];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if let Some(line) = format_kmsg(&String::from_utf8_lossy(&buf[..n])) {
                    out += &line;
                    out.push('\n');
                }
            }
            // EPIPE: a record was overwritten before we read it; go on with the next.
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
            Err(_) => break,
        }
    }
    out
}

/// Hides passwords dracut also hides (`cifspass=`, `rd.iscsi.password=`, `user:pass@`).
pub fn redact(text: &str) -> String {
    text.split(' ')
        .map(|w| {
            for key in ["cifspass=", "rd.iscsi.password=", "rd.iscsi.in.password="] {
                if let Some(rest) = w.strip_prefix(key) {
                    return format!("{key}{}", "*".repeat(rest.len().clamp(1, 8)));
                }
            }
            if let Some(scheme) = w.find("://") {
                let auth_start = scheme + 3;
                if let Some(at) = w[auth_start..].find('@').map(|i| auth_start + i) {
                    if let Some(colon) = w[auth_start..at].find(':') {
                        return format!("{}:***{}", &w[..auth_start + colon], &w[at..]);
                    }
                }
            }
            w.to_string()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Builds the report's text.
pub fn build(boot: &Boot) -> String {
    let mut r = String::new();
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let _ = writeln!(r, "rdbreak {} report, uptime {}\n", env!("CARGO_PKG_VERSION"), uptime());
    let _ = writeln!(r, "+ cat /proc/cmdline\n{}", redact(read("/proc/cmdline").trim()));
    for entry in std::fs::read_dir("/etc/cmdline.d").into_iter().flatten().flatten() {
        let _ =
            writeln!(r, "+ cat {}\n{}", entry.path().display(), redact(read(&entry.path().to_string_lossy()).trim()));
    }
    let _ = writeln!(r, "\n+ cat /proc/self/mountinfo\n{}", read("/proc/self/mountinfo"));
    let _ = writeln!(r, "+ blkid");
    for d in boot.devices() {
        let _ = writeln!(r, "{}", d.describe());
    }
    let _ = writeln!(r, "\n+ ls -l /dev/disk/by-*");
    for kind in ["by-uuid", "by-label", "by-partuuid", "by-partlabel"] {
        for e in std::fs::read_dir(format!("/dev/disk/{kind}")).into_iter().flatten().flatten() {
            let target = std::fs::read_link(e.path()).map(|t| t.display().to_string()).unwrap_or_default();
            let _ = writeln!(r, "{} -> {target}", e.path().display());
        }
    }
    let _ = writeln!(r, "\n+ cat /proc/modules\n{}", read("/proc/modules"));
    let _ = writeln!(r, "{}", boot.seen_summary().trim_start());
    let _ = writeln!(r, "\n+ dmesg\n{}", dmesg());
    let _ = writeln!(r, "+ cat /run/initramfs/init.log\n{}", read("/run/initramfs/init.log"));
    r
}

/// Writes the report and says where, as dracut's rdsosreport does.
pub fn write(boot: &Boot) -> std::io::Result<()> {
    std::fs::write(REPORT, build(boot))
}

/// One fuzzing run (`rdbreak-fuzzing`, fuzz/; the `kmsg` target with `kmsg::fuzz_one`): any
/// bytes as a `/dev/kmsg` record to show and as text to redact; never panics.
pub fn fuzz_one(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = format_kmsg(&text);
    let _ = redact(&text);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kmsg_records_format_like_dmesg() {
        assert_eq!(
            format_kmsg("6,339,5140900,-;virtio_blk virtio1: [vda] 1 GiB").unwrap(),
            "[    5.140900] virtio_blk virtio1: [vda] 1 GiB"
        );
        assert_eq!(format_kmsg("garbage"), None);
    }

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(redact("root=x cifspass=secret"), "root=x cifspass=******");
        assert_eq!(redact("netroot=ftp://user:pw@host/x"), "netroot=ftp://user:***@host/x");
        // Found by fuzzing: an '@' before the scheme sliced backwards.
        assert_eq!(redact("add@netroot=\u{1e}tp://use:pw"), "add@netroot=\u{1e}tp://use:pw");
        assert_eq!(redact("a@b://c:d@e"), "a@b://c:***@e");
    }
}
