#!/bin/sh
# Regenerates the LUKS fixtures of init/src/storage/luks tests with the real cryptsetup, without
# installing it on the host (that would change what stock dracut puts into images): the Debian
# packages are downloaded and unpacked into a temporary directory and run from there on plain
# files (luksFormat, luksAddKey and luksDump need no device-mapper, which the host lacks).
#
# Needs apt-get, dpkg-deb and zstd (no root). Usage: ./make-fixtures.sh
# Each container is written as NAME.img.zst (sparse: only the headers and keyslot areas are not
# zeros) and what cryptsetup says about it as NAME.txt: `luksDump` and, opened with the
# passphrase, `luksDump --dump-volume-key`, which the tests read as their oracle. The
# passphrases and the keyfile are test secrets, written here and in the tests.
set -eu

out=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
apt-get download -q cryptsetup-bin libcryptsetup12 libargon2-1 libjson-c5 libdevmapper1.02.1 libpopt0 >/dev/null 2>&1
mkdir root
for d in ./*.deb; do dpkg-deb -x "$d" root; done
export LD_LIBRARY_PATH="$tmp/root/lib/x86_64-linux-gnu:$tmp/root/usr/lib/x86_64-linux-gnu"
cs() { "$tmp/root/sbin/cryptsetup" --batch-mode "$@"; }
cs --version >&2

pass1="rdbreak test passphrase"
pass2="second: Ünïcode ✓"
printf 'keyfile\000with binary\377bytes\n' >keyfile

# oracle NAME PASS: the dump and the volume key into NAME.txt, the image into NAME.img.zst.
# cryptsetup fills every keyslot area with random bytes; what lies past the last active one
# (up to the data) is zeroed so the fixture compresses: no test reads it.
oracle() {
    dump=$(cs luksDump "$1.img")
    end=$(echo "$dump" | awk -v kb="$(echo "$dump" | awk '/^MK bits:/ {print $3 / 8}')" '
        /Area offset:/ { sub(/.*:/, ""); off = $1 } /Area length:/ { sub(/.*:/, ""); if (off + $1 > e) e = off + $1 }
        /Key material offset:/ { off = $4 * 512 } /AF stripes:/ && kb { if (off + $3 * kb > e) e = off + $3 * kb }
        END { print e }')
    data=$(echo "$dump" | awk '/^Payload offset:/ {print $3 * 512} /^\toffset:/ {print $2}')
    dd if=/dev/zero of="$1.img" bs=1 seek="$end" count=$((data - end)) conv=notrunc status=none
    {
        echo "$dump"
        printf %s "$2" | cs luksDump --dump-volume-key --key-file=- "$1.img" | grep -A4 'MK dump' |
            tr -d ' \t\n' | sed 's/.*dump:/volume-key: /'
        echo
    } >"$out/$1.txt"
    zstd -q -19 -f "$1.img" -o "$out/$1.img.zst"
}

# LUKS2 as a distribution installs it, made small: AES-XTS (128-bit halves), a 4096-byte
# crypt sector, a label; keyslot 0 argon2id, 1 pbkdf2-sha256, 2 argon2i from a keyfile.
truncate -s 2M luks2.img
printf %s "$pass1" | cs luksFormat --type luks2 --cipher aes-xts-plain64 --key-size 256 --sector-size 4096 \
    --label rdtest --luks2-metadata-size 16k --luks2-keyslots-size 512k --offset 2048 \
    --pbkdf argon2id --pbkdf-memory 8192 --pbkdf-parallel 2 --pbkdf-force-iterations 4 --key-file=- luks2.img
printf %s "$pass2" >pass2
printf %s "$pass1" | cs luksAddKey --key-file=- --pbkdf pbkdf2 --hash sha256 --pbkdf-force-iterations 1000 \
    luks2.img pass2
printf %s "$pass1" | cs luksAddKey --key-file=- --pbkdf argon2i --pbkdf-memory 4096 --pbkdf-parallel 1 \
    --pbkdf-force-iterations 4 luks2.img keyfile
oracle luks2 "$pass1"

# LUKS1, the old default cipher (AES-256-XTS) with PBKDF2-SHA256.
truncate -s 4M luks1-xts.img
printf %s "$pass1" | cs luksFormat --type luks1 --cipher aes-xts-plain64 --key-size 512 --hash sha256 \
    --pbkdf-force-iterations 1000 --key-file=- luks1-xts.img
oracle luks1-xts "$pass1"

# LUKS1 as cryptsetup 1.x made it: AES-128-CBC with ESSIV, PBKDF2-SHA1.
truncate -s 4M luks1-essiv.img
printf %s "$pass1" | cs luksFormat --type luks1 --cipher aes-cbc-essiv:sha256 --key-size 128 --hash sha1 \
    --pbkdf-force-iterations 1000 --key-file=- luks1-essiv.img
oracle luks1-essiv "$pass1"

# LUKS1 with AES-CBC-plain64 and PBKDF2-SHA512.
truncate -s 4M luks1-plain64.img
printf %s "$pass1" | cs luksFormat --type luks1 --cipher aes-cbc-plain64 --key-size 128 --hash sha512 \
    --pbkdf-force-iterations 1000 --key-file=- luks1-plain64.img
oracle luks1-plain64 "$pass1"
ls -l "$out" >&2
