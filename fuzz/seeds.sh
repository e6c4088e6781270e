#!/bin/bash
# Seed corpora for the fuzz targets, from real data: filesystems and partition tables made by
# the real tools, the test kernel's module index, this machine's sysfs uevents, kmsg and
# mountinfo, the command lines and shell lines the VM tests typed, cpio archives made by cpio,
# and LUKS headers made by cryptsetup.
# Usage: fuzz/seeds.sh [DIR]   (default fuzz/corpus; one sub-directory per target)
set -eu # not pipefail: `head` closing a pipe early is normal here
cd "$(dirname "$0")/.."
out=${1:-fuzz/corpus}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for t in cmdline shell editor probe kmod root uevent kmsg mountinfo cpio names lvm md luks tpm2; do mkdir -p "$out/$t"; done
put() { # put TARGET < data; named by content, as libFuzzer names its finds
    cat >"$tmp/put"
    mv "$tmp/put" "$out/$1/$(sha1sum <"$tmp/put" | cut -c1-16)"
}
probe_bytes=$((128 * 1024)) # what the probe reads of a device (probe::PROBE_BYTES)

# Filesystems: only the head of each image is what the probe sees.
mkimg() { # mkimg NAME MIB CMD...
    local img=$tmp/$1
    truncate -s "$2M" "$img"
    if "${@:3}" "$img" >/dev/null 2>&1; then head -c $probe_bytes "$img" | put probe; fi
}
mkimg ext2 8 mkfs.ext2 -q -F -L r2
mkimg ext3 8 mkfs.ext3 -q -F
mkimg ext4 8 mkfs.ext4 -q -F -L root -U 7a6b5c4d-3e2f-4a1b-8c9d-0e1f2a3b4c5d
mkimg xfs 300 mkfs.xfs -q -f -L xroot
mkimg btrfs 128 mkfs.btrfs -q -f -L broot
mkimg vfat12 4 mkfs.vfat -F 12 -n ESP
mkimg vfat32 64 mkfs.vfat -F 32
mkimg swap 8 mkswap -L swap
command -v mkfs.f2fs >/dev/null && mkimg f2fs 64 mkfs.f2fs -q -f -l froot
command -v cryptsetup >/dev/null && mkimg luks 32 sh -c 'echo pw | cryptsetup luksFormat -q --pbkdf pbkdf2 --pbkdf-force-iterations 1000 "$0"'
# Partition tables, small enough that extended partitions' EBRs fall inside the probe's window.
part() { # part NAME SCRIPT
    truncate -s 8M "$tmp/$1"
    if printf '%b' "$2" | sfdisk -q --no-reread "$tmp/$1" >/dev/null 2>&1; then head -c $probe_bytes "$tmp/$1" | put probe; fi
}
part gpt 'label: gpt\nsize=2048, name=root, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\nsize=1024, name="my root"\n'
part dos 'label: dos\nstart=2, size=20, type=83\nstart=32, size=200, type=5\nstart=40, size=20, type=83\nstart=80, size=20, type=82\n'

# Module index: the filtered index of an image the tests build, and the test kernel's own
# files cut to their first lines (one input is the four files joined by \x01, as the target splits).
# Without the test kernel in the cache, this machine's own modules (if it has any).
kdir=$(ls -d "${RDBREAK_CACHE:-target/qemu-cache}"/kernel/linux-image-*/root/lib/modules/* 2>/dev/null | head -1 || true)
[[ -n $kdir || ! -d /lib/modules/$(uname -r) ]] || kdir=/lib/modules/$(uname -r)
if [[ -n $kdir ]]; then
    for lines in 40 400; do
        { head -n $lines "$kdir/modules.dep"; printf '\1'; head -n $lines "$kdir/modules.alias"
          printf '\1'; cat "$kdir/modules.softdep"; printf '\1'; head -n $lines "$kdir/modules.builtin"; } | put kmod
    done
    grep -h "^alias \(pci\|virtio\|cpu\|acpi\)" "$kdir/modules.alias" | head -200 |
        { head -n 60 "$kdir/modules.dep"; printf '\1'; cat; } | put kmod
fi

# This machine: uevents (as the text form and as netlink datagrams), kmsg records, mountinfo.
find /sys/devices -name uevent 2>/dev/null | head -60 | while read -r f; do
    d=${f%/uevent}
    [[ -s $f ]] || continue
    cat "$f" | put uevent
    { printf 'add@%s\0' "${d#/sys}"; printf 'ACTION=add\0DEVPATH=%s\0' "${d#/sys}"; tr '\n' '\0' <"$f"; printf 'SEQNUM=%d\0' $RANDOM; } | put uevent
done
python3 - "$out/kmsg" <<'PY'
import os, sys
fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
i = 0
while i < 80:
    try:
        rec = os.read(fd, 8192)
    except (BlockingIOError, OSError):
        break
    open(os.path.join(sys.argv[1], f"kmsg-{i}"), "wb").write(rec)
    i += 1
PY
put mountinfo </proc/self/mountinfo

# What the VM tests gave the kernel and typed at the prompt, when their logs are here (the
# built-in seeds below cover these targets without them).
if compgen -G "target/qemu-logs/*.log" >/dev/null; then
    grep -ah "Kernel command line: " target/qemu-logs/*.log | sed 's/.*Kernel command line: //' | sort -u | head -80 |
        while IFS= read -r l; do printf '%s' "$l" | put cmdline; done
    grep -aho "root=[^ ]*" target/qemu-logs/*.log | sort -u | head -40 | while IFS= read -r l; do printf '%s' "${l#root=}" | put root; done
    grep -ah "^switch_root:/# ." target/qemu-logs/*.log | sed 's/^switch_root:\/# //' | tr -d '\r' | sort -u | head -150 |
        while IFS= read -r l; do printf '%s' "$l" | put shell; printf '%s\r' "$l" | put editor; done
    grep -ah "^\[ *[0-9.]*\] rdbreak" target/qemu-logs/*.log | head -40 | sed 's/^\[ *\([0-9]*\)\.\([0-9]*\)\] /6,1,\1\2,-;/' |
        while IFS= read -r l; do printf '%s' "$l" | put kmsg; done
fi
printf '%s' "$(cat /proc/cmdline)" | put cmdline

# The names room: IDENTIFY words, VPD pages and serial numbers of a recorded VM's disks.
grep -E '^F [^ ]*/(id|vpd_pg[0-9]+|serial|model|vendor) ' init/tests/data/names-pc.txt | cut -d' ' -f3 |
    while IFS= read -r hex; do printf '%s' "$hex" | xxd -r -p | put names; done

# cpio archives: plain, compressed, and an early cpio followed by a compressed one (as dracut's).
mkdir -p "$tmp/tree/etc" "$tmp/tree/bin"
echo root:x:0:0::/root:/bin/sh >"$tmp/tree/etc/passwd"
ln -s ../etc/passwd "$tmp/tree/bin/link"
(cd "$tmp/tree" && find . | cpio -o -H newc --quiet) >"$tmp/plain.cpio"
put cpio <"$tmp/plain.cpio"
for z in gzip zstd xz bzip2 "lz4 -l"; do
    $z -c <"$tmp/plain.cpio" >"$tmp/z" 2>/dev/null && put cpio <"$tmp/z"
done
zstd -q -c <"$tmp/plain.cpio" | cat "$tmp/plain.cpio" - | put cpio

# LUKS headers made by cryptsetup (init/src/storage/testdata/luks): the headers and the first
# keyslot area of each, within the 1 MiB the fuzzer's inputs may have.
for f in init/src/storage/testdata/luks/*.img.zst; do zstd -q -d -c "$f" | head -c $((1024 * 1024)) | put luks; done

# The built-in seeds of each target (fuzzing/src/seeds.rs), with the crafted hostile disks for
# probe (fuzzing/src/crafted.rs: a GPT declaring 4096 entries of 0xFFFFFF80 bytes, one declaring
# 2^32-1 entries, an EBR loop).
cargo run -q --profile fuzz -p rdbreak-fuzzing --bin rdbreak-fuzz -- seeds "$out"
for t in "$out"/*/; do echo "$(basename "$t"): $(ls "$t" | wc -l) seeds"; done
