//! Random-mutation fuzzing of every parser PID 1 runs on untrusted input (the command line,
//! what a person types, disk contents, module index files, uevents, kmsg records, mountinfo).
//! Stable Rust, no coverage guidance: inputs are seeds mutated by byte flips, insertions,
//! deletions, splices and dictionary words. A panic is a finding, and so is an input that runs
//! longer than [`TIMEOUT`] (a hang); the input is kept so it can become a regression test. Used
//! by `tests/fuzz_smoke.rs` (CI), `examples/fuzz.rs` and the cargo-fuzz targets in `fuzz/`.
//! Compiled only with the `fuzz` feature: none of this is in PID 1.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::cmdline::Cmdline;
use crate::shell::editor::Editor;
use crate::storage::luks;
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
pub const TARGETS: &[&str] = &[
    "cmdline",
    "shell",
    "editor",
    "probe",
    "kmod",
    "root",
    "uevent",
    "kmsg",
    "mountinfo",
    "names",
    "lvm",
    "md",
    "luks",
];

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
            shell::parse::fuzz_one(data);
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
            let _ = probe_disk(data);
            // Past the checksums too: the same bytes with them made right.
            if let Some(fixed) = with_gpt_checksums(data) {
                let _ = probe_disk(&fixed);
            }
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
            // One pattern against one modalias, as `lookup` matches them: whole files against each
            // other spent seconds in fnmatch's quadratic backtracking, which PID 1 never does.
            for (pattern, text) in alias.lines().zip(dep.lines()).take(8) {
                let _ = kmod::glob_match(pattern.as_bytes(), text.as_bytes());
            }
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
        "lvm" => lvm_pv(data),
        "md" => md_member(data),
        "luks" => {
            luks_device(data);
            // Past the checksums too: the same bytes with both LUKS2 copies' sums made right.
            let mut fixed = data.to_vec();
            for at in [0, 16384] {
                luks::luks2::fix_checksum(&mut fixed, at);
            }
            luks_device(&fixed);
        }
        other => panic!("no fuzz target {other}"),
    }
}

/// The `luks` target: `data` as a whole device, its header read as PID 1 reads it, then the
/// dump, the table and, when every cost the header names is small (a hostile cost is a slow
/// boot, not a crash: the memory check is what is fuzzed), the unlock.
pub fn luks_device(data: &[u8]) {
    let mut read = |off: u64, buf: &mut [u8]| -> std::io::Result<usize> {
        let rest = usize::try_from(off).ok().and_then(|o| data.get(o..)).unwrap_or(&[]);
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        Ok(n)
    };
    let Ok(h) = luks::read_header(&mut read, data.len() as u64) else { return };
    let _ = h.dump();
    let key = luks::VolumeKey::new(zeroize::Zeroizing::new(vec![0; h.key_bytes]));
    let _ = h.crypt_target(&key, "8:1", data.len() as u64 / 512, true);
    let cheap = |iterations: u32| iterations <= 64;
    let ok = h.digests.iter().all(|d| cheap(d.iterations))
        && h.keyslots.iter().all(|k| match &k.kdf {
            luks::Kdf::Pbkdf2 { iterations, .. } => cheap(*iterations),
            luks::Kdf::Argon2 { time, .. } => *time <= 4,
        });
    if ok {
        // 17 MiB "available": Argon2 beyond 1 MiB is refused by the memory check.
        let _ = h.unlock(&mut read, b"passphrase", 17 << 20);
    }
}

/// The `probe` target: `data` as a whole disk of its length, read the way PID 1 reads a block
/// device (`devices::probe_all` → `probe::device` → `probe::Disk::read`); only the positioned
/// read itself is memory instead of pread(2).
pub fn probe_disk(data: &[u8]) -> probe::Found {
    probe::device(&probe::Disk::new(&data, data.len() as u64), true)
}

/// The `lvm` target: `data` as a PV read the way the assembler reads one, every VG found planned
/// against all its PVs present; and `data` as metadata text on its own (past the checksums).
fn lvm_pv(data: &[u8]) {
    use crate::storage::lvm;
    let mut vgs = Vec::new();
    if let Ok(pv) = lvm::read_pv(data) {
        vgs.extend(pv.vg);
    }
    vgs.extend(lvm::metadata::parse(data).ok());
    let _ = lvm::config::parse(data);
    for vg in &vgs {
        let present: Vec<lvm::PresentPv> = vg
            .pvs
            .iter()
            .take(16)
            .enumerate()
            .map(|(i, p)| lvm::PresentPv {
                uuid: p.id,
                major: 254,
                minor: i as u32,
                device: format!("/dev/vd{i}"),
                size_sectors: 1 << 21,
            })
            .collect();
        for p in lvm::plan(&[vg], &present, &lvm::Filter::All) {
            let _ = p.to_string();
        }
    }
}

/// The `md` target: `data` as both ends of a member of [`MD_DEVICE`] bytes (zeros between, as
/// the fixtures are made), examined as the assembler examines one, then planned and named with
/// a second copy of itself as another member.
fn md_member(data: &[u8]) {
    use crate::storage::md;
    let mut read = |off: u64, buf: &mut [u8]| md_read(data, off, buf);
    let Some(sb) = md::examine(MD_DEVICE.max(data.len() as u64), &mut read).superblock else { return };
    let found: Vec<md::Found> =
        (0..2).map(|i| md::Found { name: format!("vd{i}"), major: 254, minor: i, sb: sb.clone() }).collect();
    let mut namer = md::Namer { homehost: Some("host".into()), ..Default::default() };
    for plan in md::plan(&found) {
        let _ = plan.describe();
        if let Some(naming) = namer.name(&plan) {
            let _ = md::names::sysfs_writes(&plan, &naming);
        }
    }
}

/// The size of the md fuzz target's device: that of the members mdadm made for the fixtures.
pub const MD_DEVICE: u64 = 12 << 20;

/// A read of the md target's device: `data` at its start and at its end, zeros between.
pub fn md_read(data: &[u8], off: u64, buf: &mut [u8]) -> std::io::Result<usize> {
    let size = MD_DEVICE.max(data.len() as u64);
    let tail_at = size - data.len() as u64;
    for (i, b) in buf.iter_mut().enumerate() {
        let at = off.saturating_add(i as u64);
        *b = if at < data.len() as u64 {
            data[at as usize]
        } else if at >= tail_at && at < size {
            data[(at - tail_at) as usize]
        } else {
            0
        };
    }
    Ok(buf.len().min(usize::try_from(size.saturating_sub(off)).unwrap_or(usize::MAX)))
}

/// A fixture compressed in the tree, trimmed to its first `keep` bytes or its last `-keep`.
#[cfg(feature = "zstd")]
fn fixture(z: &[u8], keep: isize) -> Vec<u8> {
    let Ok(all) = crate::kmod::decompress(z, "fixture.zst") else { return Vec::new() };
    let n = keep.unsigned_abs().min(all.len());
    if keep >= 0 {
        all[..n].to_vec()
    } else {
        all[all.len() - n..].to_vec()
    }
}

/// When `data` has a GPT header, a copy with its entries' and its header's CRC-32 recomputed:
/// random mutations almost never keep a checksum right, so without this the entries and every
/// check after the checksums would never be fuzzed.
pub fn with_gpt_checksums(data: &[u8]) -> Option<Vec<u8>> {
    // The whole 92-byte header must be there: its checksum fields are written below.
    if data.get(512..512 + 92)?[..8] != *b"EFI PART" {
        return None;
    }
    let mut d = data.to_vec();
    let word = |d: &[u8], off: usize| d.get(off..off + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let lba = d.get(512 + 72..512 + 80).map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))?;
    let len = u64::from(word(&d, 512 + 80)?) * u64::from(word(&d, 512 + 84)?);
    let entries = lba.checked_mul(512).and_then(|s| Some(s..s.checked_add(len)?));
    if let Some(r) = entries.and_then(|r| Some(usize::try_from(r.start).ok()?..usize::try_from(r.end).ok()?)) {
        if let Some(table) = d.get(r) {
            let crc = probe::crc32(table);
            d[512 + 88..512 + 92].copy_from_slice(&crc.to_le_bytes());
        }
    }
    let hdr_size = word(&d, 512 + 12)?.clamp(92, 512) as usize;
    d[512 + 16..512 + 20].fill(0);
    let crc = probe::crc32(d.get(512..512 + hdr_size)?);
    d[512 + 16..512 + 20].copy_from_slice(&crc.to_le_bytes());
    Some(d)
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
        "probe" => {
            let mut v = vec![vec![0u8; 4096]];
            v.extend(probe::crafted::all(64 * 1024).into_iter().map(|(_, d)| d));
            v
        }
        "kmod" => s(&["kernel/a.ko: kernel/b.ko.zst\nkernel/b.ko.zst:\n\u{1}alias pci:v1234d*sv*[0-9]* a\nalias fs-x b\n\u{1}softdep a pre: fs-x post: b\n\u{1}kernel/c.ko\n"]),
        "root" => s(&["UUID=abc", "/dev/disk/by-label/my\\x20root", "block:/dev/vda1", "254:1", "defaults,noatime,data=journal,ro,rw"]),
        "uevent" => vec![b"add@/devices/pci0000:00/0000:00:04.0/virtio1\0ACTION=add\0MODALIAS=virtio:d00000002v00001AF4\0SEQNUM=9\0".to_vec()],
        "kmsg" => s(&["6,339,5140900,-;virtio_blk virtio1: [vda] 1 GiB", "netroot=ftp://user:pw@host/x cifspass=secret"]),
        "luks" => {
            let luks2 = luks::luks2::craft(luks::luks2::SAMPLE_JSON, 16384, 40 << 10);
            let mut luks1 = luks2[..1024].to_vec();
            luks1[6..8].copy_from_slice(&[0, 1]);
            vec![luks2, luks1]
        }
        "mountinfo" => s(&["22 1 0:21 / / rw,relatime - rootfs rootfs rw\n30 22 254:1 / /sysroot ro,relatime shared:1 - ext4 /dev/vda1 ro,errors=remount-ro\n"]),
        "names" => vec![
            // A VPD page 0x83: a vendor-specific ASCII and an NAA 5 identifier.
            b"\0\x83\0\x14\x02\x00\0\x04abcd\x01\x03\0\x08\x50\x01\x40\x50\xde\xad\xbe\xef".to_vec(),
            b"0040 3fff c837 0010 0000 0000 003f 0000\n".repeat(32),
            b" QEMU HARDDISK   \t/../x\\x20\xff".to_vec(),
        ],
        // PVs made by lvm2 up to the end of their metadata text, and the texts alone.
        #[cfg(feature = "zstd")]
        "lvm" => {
            let pv = |z: &[u8]| fixture(z, 9216);
            let mut v = vec![
                pv(include_bytes!("storage/testdata/centos.pv0.img.zst")),
                pv(include_bytes!("storage/testdata/stripes.pv0.img.zst")),
            ];
            v.extend(v.clone().iter().filter_map(|p| Some(p.get(4608..)?.split(|b| *b == 0).next()?.to_vec())));
            v
        }
        // Members made by mdadm: 1.2's superblock at 4 KiB of the head, 1.0's and 0.90's at the end.
        #[cfg(feature = "zstd")]
        "md" => vec![
            fixture(include_bytes!("storage/testdata/md/members/r1-1.2-0.head.zst"), 8192),
            fixture(include_bytes!("storage/testdata/md/members/r1-1.0-0.tail.zst"), -16384),
            fixture(include_bytes!("storage/testdata/md/members/r1-0.90-0.tail.zst"), -131072),
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

/// How long one input may run before it is a finding (libFuzzer's `-timeout`): a loop over
/// on-disk links that never ends is a hung boot, as bad as a crash.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Fuzzes a target for `budget`, from `corpus` (its seeds plus any real data given). An input
/// that runs longer than [`TIMEOUT`] is written to `findings/TARGET-hang` and the process aborts
/// (the hung run cannot be stopped from inside); a panic is returned in [`Stats::crash`].
pub fn fuzz(name: &str, corpus: &[Vec<u8>], budget: Duration, seed: u64, findings: &Path) -> Stats {
    let mut rng = Rng::new(seed);
    let mut stats = Stats::default();
    let start = Instant::now();
    let watch = Watchdog::start(name, findings);
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
        watch.running(&input);
        let result = std::panic::catch_unwind(|| run_target(name, &input));
        watch.idle();
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

/// A thread that watches the run in progress and keeps its input when it hangs.
struct Watchdog {
    state: Arc<WatchState>,
}

struct WatchState {
    epoch: Instant,
    /// Milliseconds since `epoch` when the current run started; 0 between runs.
    started: AtomicU64,
    stop: AtomicBool,
    input: Mutex<Vec<u8>>,
}

impl WatchState {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }
}

impl Watchdog {
    fn start(name: &str, findings: &Path) -> Watchdog {
        let state = Arc::new(WatchState {
            epoch: Instant::now(),
            started: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            input: Mutex::new(Vec::new()),
        });
        let (s, name, path) = (state.clone(), name.to_string(), findings.join(format!("{name}-hang")));
        std::thread::spawn(move || {
            while !s.stop.load(Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                let started = s.started.load(Relaxed);
                if started == 0 || s.now_ms().saturating_sub(started) < TIMEOUT.as_millis() as u64 {
                    continue;
                }
                let input = s.input.lock().map(|i| i.clone()).unwrap_or_default();
                let saved = std::fs::create_dir_all(findings_dir(&path)).and_then(|()| std::fs::write(&path, &input));
                let saved = match saved {
                    Ok(()) => format!("saved in {}", path.display()),
                    Err(e) => format!("could not be saved in {}: {e}", path.display()),
                };
                eprintln!("{name}: an input ran longer than {TIMEOUT:?} (a hang); its {} bytes {saved}", input.len());
                std::process::abort();
            }
        });
        Watchdog { state }
    }

    fn running(&self, input: &[u8]) {
        if let Ok(mut i) = self.state.input.lock() {
            i.clear();
            i.extend_from_slice(input);
        }
        self.state.started.store(self.state.now_ms().max(1), Relaxed);
    }

    fn idle(&self) {
        self.state.started.store(0, Relaxed);
    }
}

fn findings_dir(file: &Path) -> &Path {
    file.parent().unwrap_or(Path::new("."))
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.state.stop.store(true, Relaxed);
    }
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
    fn gpt_checksums_are_made_right_for_the_probe() {
        let mut d = probe::crafted::gpt_declaring(64 * 1024, 128, 128);
        d[512 + 80] = 4; // 4 entries now: the header's checksum no longer matches
        let problem = |d: &[u8]| probe_disk(d).table.and_then(|t| t.problem);
        assert!(matches!(problem(&d), Some(probe::ProbeError::GptHeaderCrc { .. })));
        assert_eq!(problem(&with_gpt_checksums(&d).unwrap()), None);
        // A header cut short (a finding of the harness itself): nothing to fix, no panic.
        assert_eq!(with_gpt_checksums(&d[..603]), None);
    }

    #[test]
    fn a_crashing_target_is_reported_with_its_input() {
        // The harness itself must catch a panic and hand back the input.
        let dir = tempfile::tempdir().unwrap();
        let stats = fuzz("no-such-target", &[b"x".to_vec()], Duration::from_millis(50), 1, dir.path());
        let (input, msg) = stats.crash.expect("found");
        assert_eq!(input, b"x");
        assert!(msg.contains("no fuzz target"));
    }
}
