#!/bin/sh
# Regenerates the LVM fixtures of init/src/storage/lvm tests with the real lvm2 tools, without
# installing lvm2 on the host (that would change what stock dracut puts into images): the Debian
# packages are downloaded and unpacked into a temporary directory and run from there on files
# attached to loop devices, with device-mapper activation off (the host kernel has none).
#
# Needs root (losetup), apt-get, dpkg-deb and zstd. Usage: sudo ./make-fixtures.sh
# Each PV image is written as NAME.pvN.img.zst (sparse, so a few KB compressed) and what the
# real tools report about the VG (pvs/vgs/lvs, sizes in 512-byte sectors) as NAME.txt, which
# the tests read as their oracle.
set -eu

out=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
loops=""
cleanup() {
    for l in $loops; do losetup -d "$l" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT

cd "$tmp"
apt-get download -q lvm2 dmsetup libdevmapper1.02.1 libdevmapper-event1.02.1 libaio1 >/dev/null 2>&1
mkdir root
for d in ./*.deb; do dpkg-deb -x "$d" root; done
export LD_LIBRARY_PATH="$tmp/root/lib/x86_64-linux-gnu:$tmp/root/usr/lib/x86_64-linux-gnu"
export LVM_SYSTEM_DIR="$tmp/etc" LVM_SUPPRESS_FD_WARNINGS=1
mkdir -p etc lock
lvm="$tmp/root/sbin/lvm"
"$lvm" version 2>/dev/null | head -1 >&2

# attach FILE SIZE: a new sparse image on a free loop device; prints the device.
attach() {
    truncate -s "$2" "$1"
    l=$(losetup -f --show "$1")
    loops="$loops $l"
    echo "$l"
}

# Only our own loop devices are ever looked at, so other users of loop devices are left alone.
config() {
    filter=""
    for l in "$@"; do filter="$filter\"a|^$l\$|\", "; done
    cat >etc/lvm.conf <<EOF
devices { use_devicesfile = 0 obtain_device_list_from_udev = 0 filter = [ $filter"r|.*|" ] }
activation { udev_sync = 0 udev_rules = 0 monitoring = 0 }
global { activation = 0 locking_dir = "$tmp/lock" use_lvmpolld = 0 }
backup { backup = 0 archive = 0 }
EOF
}

run() { "$lvm" "$@" 2>&1 | grep -v 'WARNING: \(Activation disabled\|This metadata update\|Logical volume .* not zeroed\)' >&2 || true; }

# report STEM VG DEV...: the oracle file, with loop device names replaced by pvN.
report() {
    stem=$1
    vg=$2
    shift 2
    rep="--noheadings --separator | --nosuffix --units s"
    {
        "$lvm" vgs $rep -o vg_name,vg_uuid,vg_seqno,vg_extent_size "$vg" | sed 's/^ */vg|/'
        "$lvm" pvs $rep -o pv_name,pv_uuid,pe_start,pv_pe_count,dev_size | sed 's/^ */pv|/'
        "$lvm" lvs $rep -a -o lv_name,lv_uuid,lv_attr,seg_start_pe,seg_size_pe,segtype,stripes,stripe_size,seg_pe_ranges "$vg" |
            sed 's/^ */seg|/'
    } 2>/dev/null >"$tmp/$stem.txt"
    i=0
    for l in "$@"; do
        sed -i "s|$l\([:|]\)|pv$i\1|g" "$tmp/$stem.txt"
        zstd -q -19 -f "$tmp/$stem.pv$i.img" -o "$out/$stem.pv$i.img.zst"
        i=$((i + 1))
    done
    cp "$tmp/$stem.txt" "$out/$stem.txt"
    for l in "$@"; do
        losetup -d "$l"
        loops=$(echo "$loops" | sed "s|$l||")
    done
}

# The seed's layout: VG centos on one PV (one metadata area, 4 MiB extents), LVs swap and root.
a=$(attach centos.pv0.img 48M)
config "$a"
run pvcreate -q "$a"
run vgcreate -q centos "$a"
run lvcreate -q -an -Zn -n swap -L 8M centos
run lvcreate -q -an -Zn -n root -l 100%FREE centos
report centos centos "$a"

# Dashes in both names, and two metadata areas (the second at the end of the PV).
a=$(attach dash.pv0.img 24M)
config "$a"
run pvcreate -q --pvmetadatacopies 2 "$a"
run vgcreate -q -s 1M my-vg "$a"
run lvcreate -q -an -Zn -n root -L 8M my-vg
run lvcreate -q -an -Zn -n my-lv -L 4M my-vg
report dash my-vg "$a"

# Two PVs: a striped LV over both, and a linear LV whose second segment is on the other PV.
a=$(attach stripes.pv0.img 16M)
b=$(attach stripes.pv1.img 16M)
config "$a" "$b"
run pvcreate -q "$a" "$b"
run vgcreate -q -s 1M stripes "$a" "$b"
run lvcreate -q -an -Zn -i 2 -I 64k -n data -L 8M stripes
run lvcreate -q -an -Zn -n span -l 100%FREE stripes
report stripes stripes "$a" "$b"

# A small metadata area (two copies) written until the newest text wraps around its end.
a=$(attach wrap.pv0.img 4M)
config "$a"
run pvcreate -q --pvmetadatacopies 2 --metadatasize 32k --dataalignment 64k "$a"
run vgcreate -q -s 64k wrap "$a"
run lvcreate -q -an -Zn -n lv -L 64k wrap
n=0
while :; do
    # raw_locn[0] of the first area: offset + size beyond the area's size means it wrapped.
    wrapped=$("$lvm" pvck --dump headers "$a" 2>/dev/null | awk '
        /mda_header_1.size/ {s=$2} /mda_header_1.raw_locn\[0\].offset/ {o=$2}
        /mda_header_1.raw_locn\[0\].size/ {z=$2} END {print (o+z>s) ? 1 : 0}')
    [ "$wrapped" = 1 ] && break
    n=$((n + 1))
    [ $n -lt 500 ] || { echo "metadata never wrapped" >&2; exit 1; }
    if [ $((n % 2)) = 1 ]; then "$lvm" lvrename -q wrap lv lv-renamed >/dev/null 2>&1; else "$lvm" lvrename -q wrap lv-renamed lv >/dev/null 2>&1; fi
done
echo "wrap: wrapped after $n renames" >&2
report wrap wrap "$a"

ls -l "$out" >&2
