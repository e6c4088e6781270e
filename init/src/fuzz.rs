//! Random-mutation fuzzing of every parser PID 1 runs on untrusted input (the command line,
//! what a person types, disk contents, module index files, uevents, kmsg records, mountinfo).
//! Stable Rust, no coverage guidance: inputs are seeds mutated by byte flips, insertions,
//! deletions, splices and dictionary words. A panic is a finding; the input is returned so it can
//! be kept as a regression test. Used by `tests/fuzz_smoke.rs` (CI) and `examples/fuzz.rs`.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::cmdline::Cmdline;
use crate::shell::editor::Editor;
use crate::{devices, kmod, mounts, probe, report, root, shell};

/// xorshift64*: small, fast, reproducible from a seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
}

/// Words that make mutations reach deeper (separators and keys the parsers look for).
const DICTIONARY: &[&[u8]] = &[
    b"\"",
    b"=",
    b" ",
    b"\n",
    b"\0",
    b"'",
    b";",
    b"&&",
    b"||",
    b">",
    b">>",
    b"<",
    b"2>&1",
    b"$",
    b"${",
    b"}",
    b"\\",
    b"\x1b[",
    b"\x1b[3~",
    b"\x03",
    b"\x04",
    b"rd.break",
    b"root=",
    b"UUID=",
    b"PARTUUID=",
    b"block:",
    b"/dev/",
    b"alias ",
    b"softdep ",
    b"pre:",
    b"post:",
    b"*",
    b"[",
    b"]",
    b"?",
    b":",
    b"EFI PART",
    b"\xEF\x53",
    b"XFSB",
    b"_BHRfS_M",
    b"070701",
    b" - ",
    b"add@",
    b"MODALIAS=",
    b"\x55\xAA",
    b"FAT32   ",
];

/// One mutation of `input` (seeds from `corpus` may be spliced in).
pub fn mutate(rng: &mut Rng, input: &[u8], corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..=rng.below(4) {
        match rng.below(7) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = rng.next_u64() as u8;
            }
            2 => {
                let i = rng.below(v.len() + 1);
                let w = DICTIONARY[rng.below(DICTIONARY.len())];
                v.splice(i..i, w.iter().copied());
            }
            3 if !v.is_empty() => {
                let a = rng.below(v.len());
                let b = (a + rng.below(64)).min(v.len());
                v.drain(a..b);
            }
            4 if !corpus.is_empty() => {
                let other = &corpus[rng.below(corpus.len())];
                if !other.is_empty() {
                    let a = rng.below(other.len());
                    let b = (a + rng.below(256)).min(other.len());
                    let at = rng.below(v.len() + 1);
                    v.splice(at..at, other[a..b].iter().copied());
                }
            }
            5 if !v.is_empty() => {
                // Interesting integers where numbers live (offsets, sizes, counts).
                let i = rng.below(v.len());
                let n = [0u8, 0xff, 0x7f, 0x80, 1][rng.below(5)];
                let len = (v.len() - i).min(1 + rng.below(8));
                v[i..i + len].fill(n);
            }
            _ => {
                let i = rng.below(v.len() + 1);
                let n = rng.below(16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
                v.splice(i..i, bytes);
            }
        }
    }
    if v.len() > 1 << 20 {
        v.truncate(1 << 20);
    }
    v
}

/// The fuzz targets: each takes arbitrary bytes and must not panic.
pub const TARGETS: &[&str] =
    &["cmdline", "shell", "editor", "probe", "kmod", "root", "uevent", "kmsg", "mountinfo", "names"];

pub fn run_target(name: &str, data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match name {
        "cmdline" => {
            let c = Cmdline::parse(&text);
            for a in c.args().iter().take(8) {
                let _ = (c.get(&a.key), c.flag(&a.key, true), c.number(&a.key, 1, 0, 9), c.list(&a.key));
            }
            let _ = root::init_args(&c);
            let _ = crate::stages::break_stages(&c);
            let _ = root::root_options(&c);
        }
        "shell" => {
            if let Ok(segments) = shell::parse::split_list(&text) {
                for (_, s) in segments {
                    let _ = shell::parse::parse(&s, &|k| (k.len() < 3).then(|| "x y".to_string()));
                }
            }
            let _ = shell::parse::parse(&text, &|_| None);
        }
        "editor" => {
            let mut e = Editor::default();
            e.start("switch_root:/# ");
            let mut out = String::new();
            for &b in data {
                let _ = e.feed(b, &mut out);
                out.clear();
            }
            let _ = shell::editor::complete(&e.before_cursor(), &[e.line(), "chroot".into(), "chown".into()]);
        }
        "probe" => {
            let _ = probe::filesystem(data);
            let _ = probe::partitions(data, &mut |off, len| {
                let off = usize::try_from(off).ok()?;
                data.get(off..off.checked_add(len)?).map(<[u8]>::to_vec)
            });
        }
        "kmod" => {
            // Split one input into the four index files.
            let mut parts = text.splitn(4, "\u{1}");
            let (dep, alias, softdep, builtin) = (
                parts.next().unwrap_or(""),
                parts.next().unwrap_or(""),
                parts.next().unwrap_or(""),
                parts.next().unwrap_or(""),
            );
            let mut ix = kmod::ModuleIndex::from_text(Path::new("/m"), dep, alias, softdep, builtin);
            ix.add_modprobe_conf(softdep);
            let names: Vec<String> =
                dep.lines().take(16).filter_map(|l| l.split(':').next()).map(kmod::name_of_path).collect();
            let _ = kmod::plan(&ix, &names, &HashSet::new());
            for l in alias.lines().take(8) {
                let _ = ix.lookup(l);
            }
            let _ = kmod::glob_match(alias.as_bytes(), dep.as_bytes());
        }
        "root" => {
            if let Ok(spec) = root::RootSpec::parse(&text) {
                let _ = spec.dev_path();
            }
            let _ = root::parse_options(&text);
            let _ = devices::unescape(&text);
            let _ = devices::escape(&text);
        }
        "uevent" => {
            let _ = crate::uevent::parse_datagram(data);
            let _ = crate::uevent::parse_uevent(&text);
        }
        "kmsg" => {
            let _ = report::format_kmsg(&text);
            let _ = report::redact(&text);
            let _ = crate::kmsg::format_record(log::Level::Warn, &text);
        }
        "mountinfo" => {
            let _ = mounts::parse_mountinfo(&text);
        }
        "names" => crate::names::parse_untrusted(data),
        other => panic!("no fuzz target {other}"),
    }
}

/// Seeds for a target: realistic inputs the mutations start from.
pub fn seeds(name: &str) -> Vec<Vec<u8>> {
    let s = |v: &[&str]| v.iter().map(|x| x.as_bytes().to_vec()).collect::<Vec<_>>();
    match name {
        "cmdline" => s(&[
            "BOOT_IMAGE=/vmlinuz-6.1.0 root=UUID=0b4e2f1e-7d1c-4c8e-9a55-1f2e3d4c5b6a ro quiet rd.break",
            "key1=0 key2=val key3=\"  val  3  \" \"  key 4  =\"val4 \"key  5=val  5\" \"key 6=\"\"val  6\" key7=\"foo\"bar\" baz=\"end \"",
            "root=LABEL=x rd.break=pre-mount rd.break rd.driver.pre=a,b init=/sbin/init a b console=ttyS0 break=top,init",
        ]),
        "shell" | "editor" => s(&[
            "mount -o remount,rw /sysroot && chroot /sysroot; echo \"$HOME\" > /tmp/x 2>&1 || cat < /in",
            "ls -l '/a b' \\; ${PATH} $? # comment",
            "abc\x1b[D\x1b[DX\x01Y\x05\x7f\x17\x15\x0b\x1b[A\x1b[B\t\r\x03\x04",
        ]),
        "probe" => vec![vec![0u8; 4096]],
        "kmod" => s(&["kernel/a.ko: kernel/b.ko.zst\nkernel/b.ko.zst:\n\u{1}alias pci:v1234d*sv*[0-9]* a\nalias fs-x b\n\u{1}softdep a pre: fs-x post: b\n\u{1}kernel/c.ko\n"]),
        "root" => s(&["UUID=abc", "/dev/disk/by-label/my\\x20root", "block:/dev/vda1", "254:1", "defaults,noatime,data=journal,ro,rw"]),
        "uevent" => vec![b"add@/devices/pci0000:00/0000:00:04.0/virtio1\0ACTION=add\0MODALIAS=virtio:d00000002v00001AF4\0SEQNUM=9\0".to_vec()],
        "kmsg" => s(&["6,339,5140900,-;virtio_blk virtio1: [vda] 1 GiB", "netroot=ftp://user:pw@host/x cifspass=secret"]),
        "mountinfo" => s(&["22 1 0:21 / / rw,relatime - rootfs rootfs rw\n30 22 254:1 / /sysroot ro,relatime shared:1 - ext4 /dev/vda1 ro,errors=remount-ro\n"]),
        "names" => vec![
            // A VPD page 0x83: a vendor-specific ASCII and an NAA 5 identifier.
            b"\0\x83\0\x14\x02\x00\0\x04abcd\x01\x03\0\x08\x50\x01\x40\x50\xde\xad\xbe\xef".to_vec(),
            b"0040 3fff c837 0010 0000 0000 003f 0000\n".repeat(32),
            b" QEMU HARDDISK   \t/../x\\x20\xff".to_vec(),
        ],
        _ => vec![Vec::new()],
    }
}

#[derive(Debug, Default)]
pub struct Stats {
    pub runs: u64,
    /// The first input that panicked, with the panic message.
    pub crash: Option<(Vec<u8>, String)>,
}

/// Fuzzes a target for `budget`, from `corpus` (its seeds plus any real data given).
pub fn fuzz(name: &str, corpus: &[Vec<u8>], budget: Duration, seed: u64) -> Stats {
    let mut rng = Rng::new(seed);
    let mut stats = Stats::default();
    let start = Instant::now();
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {})); // findings are reported below, not printed per crash
    let mut inputs: Vec<Vec<u8>> = corpus.to_vec();
    if inputs.is_empty() {
        inputs.push(Vec::new());
    }
    while start.elapsed() < budget {
        let base = &inputs[rng.below(inputs.len())];
        let input = if stats.runs < inputs.len() as u64 { base.clone() } else { mutate(&mut rng, base, corpus) };
        stats.runs += 1;
        let result = std::panic::catch_unwind(|| run_target(name, &input));
        if let Err(e) = result {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            stats.crash = Some((input, msg));
            break;
        }
        // Keep a few mutants as new bases, so mutations accumulate.
        if rng.below(64) == 0 && inputs.len() < 256 {
            inputs.push(input);
        }
    }
    std::panic::set_hook(prev);
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutation_is_reproducible() {
        let a = mutate(&mut Rng::new(7), b"root=UUID=x", &[]);
        let b = mutate(&mut Rng::new(7), b"root=UUID=x", &[]);
        assert_eq!(a, b);
    }

    #[test]
    fn a_crashing_target_is_reported_with_its_input() {
        // The harness itself must catch a panic and hand back the input.
        let stats = fuzz("no-such-target", &[b"x".to_vec()], Duration::from_millis(50), 1);
        let (input, msg) = stats.crash.expect("found");
        assert_eq!(input, b"x");
        assert!(msg.contains("no fuzz target"));
    }
}
