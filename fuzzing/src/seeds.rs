//! Each target's built-in seeds: realistic inputs the mutations start from, written by hand or
//! made by the real tools (the fixtures in init/src/storage/testdata, compressed in the tree).
//! `fuzz/seeds.sh` adds real data from this machine for cargo fuzz.

use rdbreak::compress::{self, Format};
use rdbreak::cpio::{self, Entry};

use crate::crafted;

fn texts(v: &[&str]) -> Vec<Vec<u8>> {
    v.iter().map(|x| x.as_bytes().to_vec()).collect()
}

/// A fixture compressed in the tree, trimmed to its first `keep` bytes or its last `-keep`.
fn fixture(z: &[u8], keep: isize) -> Vec<u8> {
    let Ok(all) = rdbreak_init::kmod::decompress(z, "fixture.zst") else { return Vec::new() };
    let n = keep.unsigned_abs().min(all.len());
    if keep >= 0 {
        all[..n].to_vec()
    } else {
        all[all.len() - n..].to_vec()
    }
}

macro_rules! testdata {
    ($path:literal) => {
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../init/src/storage/testdata/", $path))
    };
}

pub fn cmdline() -> Vec<Vec<u8>> {
    texts(&[
        "BOOT_IMAGE=/vmlinuz-6.1.0 root=UUID=0b4e2f1e-7d1c-4c8e-9a55-1f2e3d4c5b6a ro quiet rd.break",
        "key1=0 key2=val key3=\"  val  3  \" \"  key 4  =\"val4 \"key  5=val  5\" \"key 6=\"\"val  6\" key7=\"foo\"bar\" baz=\"end \"",
        "root=LABEL=x rd.break=pre-mount rd.break rd.driver.pre=a,b init=/sbin/init a b console=ttyS0 break=top,init",
    ])
}

/// For the shell's parser and its line editor alike.
pub fn shell() -> Vec<Vec<u8>> {
    texts(&[
        "mount -o remount,rw /sysroot && chroot /sysroot; echo \"$HOME\" > /tmp/x 2>&1 || cat < /in",
        "ls -l '/a b' \\; ${PATH} $? # comment",
        "abc\x1b[D\x1b[DX\x01Y\x05\x7f\x17\x15\x0b\x1b[A\x1b[B\t\r\x03\x04",
    ])
}

pub fn probe() -> Vec<Vec<u8>> {
    let mut v = vec![vec![0u8; 4096]];
    v.extend(crafted::all(64 * 1024).into_iter().map(|(_, d)| d));
    v
}

pub fn kmod() -> Vec<Vec<u8>> {
    texts(&["kernel/a.ko: kernel/b.ko.zst\nkernel/b.ko.zst:\n\u{1}alias pci:v1234d*sv*[0-9]* a\nalias fs-x b\n\u{1}softdep a pre: fs-x post: b\n\u{1}kernel/c.ko\n"])
}

pub fn root() -> Vec<Vec<u8>> {
    texts(&[
        "UUID=abc",
        "/dev/disk/by-label/my\\x20root",
        "block:/dev/vda1",
        "254:1",
        "defaults,noatime,data=journal,ro,rw",
    ])
}

pub fn uevent() -> Vec<Vec<u8>> {
    vec![b"add@/devices/pci0000:00/0000:00:04.0/virtio1\0ACTION=add\0MODALIAS=virtio:d00000002v00001AF4\0SEQNUM=9\0"
        .to_vec()]
}

pub fn kmsg() -> Vec<Vec<u8>> {
    texts(&["6,339,5140900,-;virtio_blk virtio1: [vda] 1 GiB", "netroot=ftp://user:pw@host/x cifspass=secret"])
}

pub fn mountinfo() -> Vec<Vec<u8>> {
    texts(&["22 1 0:21 / / rw,relatime - rootfs rootfs rw\n30 22 254:1 / /sysroot ro,relatime shared:1 - ext4 /dev/vda1 ro,errors=remount-ro\n"])
}

/// An archive made by the CLI's own writer, alone and followed by its compressed copy (an early
/// cpio and the main one, as dracut writes an image).
pub fn cpio() -> Vec<Vec<u8>> {
    let plain = cpio::write(
        &[Entry::dir("a", 0o755), Entry::file("a/b", 0o644, b"data".to_vec()), Entry::symlink("l", "a/b")],
        0,
    );
    let mut seeds = vec![plain.clone()];
    for f in [Format::Gzip, Format::Zstd, Format::Xz] {
        if let Ok(z) = compress::compress(&plain, f) {
            seeds.push([plain.as_slice(), &z].concat());
        }
    }
    seeds
}

pub fn names() -> Vec<Vec<u8>> {
    vec![
        // A VPD page 0x83: a vendor-specific ASCII and an NAA 5 identifier.
        b"\0\x83\0\x14\x02\x00\0\x04abcd\x01\x03\0\x08\x50\x01\x40\x50\xde\xad\xbe\xef".to_vec(),
        b"0040 3fff c837 0010 0000 0000 003f 0000\n".repeat(32),
        b" QEMU HARDDISK   \t/../x\\x20\xff".to_vec(),
    ]
}

/// PVs made by lvm2 up to the end of their metadata text, and the texts alone.
pub fn lvm() -> Vec<Vec<u8>> {
    let pv = |z: &[u8]| fixture(z, 9216);
    let mut v = vec![pv(testdata!("centos.pv0.img.zst")), pv(testdata!("stripes.pv0.img.zst"))];
    v.extend(v.clone().iter().filter_map(|p| Some(p.get(4608..)?.split(|b| *b == 0).next()?.to_vec())));
    v
}

/// Members made by mdadm: 1.2's superblock at 4 KiB of the head, 1.0's and 0.90's at the end.
pub fn md() -> Vec<Vec<u8>> {
    vec![
        fixture(testdata!("md/members/r1-1.2-0.head.zst"), 8192),
        fixture(testdata!("md/members/r1-1.0-0.tail.zst"), -16384),
        fixture(testdata!("md/members/r1-0.90-0.tail.zst"), -131072),
    ]
}

/// Containers made by cryptsetup, cut short so that a run takes a fraction of a millisecond:
/// LUKS2's two header copies (64 KiB), and LUKS1's header with its first keyslot's material
/// (256 KiB: 4000 stripes of a 512-bit key), the payload offset moved to that end (a LUKS1
/// header whose data lies past the device is refused at once).
pub fn luks() -> Vec<Vec<u8>> {
    const LUKS1: usize = 256 << 10;
    let luks1 = |z: &[u8]| {
        let mut d = fixture(z, LUKS1 as isize);
        if let Some(payload) = d.get_mut(104..108) {
            payload.copy_from_slice(&((LUKS1 / 512) as u32).to_be_bytes());
        }
        d
    };
    vec![
        fixture(testdata!("luks/luks2.img.zst"), 64 << 10),
        // Every token kind (two 64 KiB header copies).
        fixture(testdata!("luks/luks2-tokens.img.zst"), 128 << 10),
        luks1(testdata!("luks/luks1-xts.img.zst")),
        luks1(testdata!("luks/luks1-essiv.img.zst")),
        luks1(testdata!("luks/luks1-plain64.img.zst")),
    ]
}

/// TPM2 responses as the TCG spec lays them out (Part 3): GetCapability of the PCR banks, of
/// properties and of handles, PCR_Read of two banks, PCR_Extend's session answer, a lockout;
/// and every answer of an unseal recorded from swtpm (CreatePrimary, Load, StartAuthSession,
/// the policy commands, Unseal, FlushContext) and its sealed blob.
pub fn tpm2() -> Vec<Vec<u8>> {
    let hex = |s: &str| -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len()).step_by(2).filter_map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
    };
    let mut read = hex("8001 00000070 00000000 00000001 00000002 0004 03 810000 000b 03 800000 00000003");
    for (n, b) in [(20u8, 1u8), (20, 2), (32, 3)] {
        read.extend_from_slice(&[0, n]);
        read.extend(std::iter::repeat_n(b, usize::from(n)));
    }
    vec![
        hex("8001 0000001f 00000000 00 00000005 00000002 0004 03 ffffff 000b 03 ffffff"),
        hex("8001 00000023 00000000 00 00000006 00000002 00000105 49424d00 00000112 00000018"),
        hex("8001 00000017 00000000 00 00000001 00000001 81000001"),
        read,
        hex("8002 00000013 00000000 00000000 0000 01 0000"),
        hex("8001 0000000a 00000921"),
    ]
    .into_iter()
    .chain(
        include_str!("../../init/src/storage/tpm2/testdata/unseal-pin.txt")
            .lines()
            .filter_map(|l| l.strip_prefix("< ").or(l.strip_prefix("# blob ")))
            .map(hex),
    )
    .collect()
}
