#!/bin/sh
# Regenerates the LUKS fixtures of init/src/storage/luks tests with the real cryptsetup, without
# installing it on the host (that would change what stock dracut puts into images): the Debian
# packages are downloaded and unpacked into a temporary directory and run from there on plain
# files (luksFormat, luksAddKey and luksDump need no device-mapper, which the host lacks).
#
# Needs apt-get, dpkg-deb and zstd (no root). Usage: ./make-fixtures.sh
# `./make-fixtures.sh luks2-tokens` remakes only that one (luksFormat is random: the others
# would change too).
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

# tokens: LUKS2 with three pbkdf2 keyslots and one token of every kind rdbreak reads, as
# systemd-cryptenroll and clevis write them (field names theirs), imported with `token import`;
# the values are made up but shaped like real ones (a sealed blob is TPM2B_PRIVATE then
# TPM2B_PUBLIC). The tests check what they read against these values and against luksDump.
tokens() {
    b64() { base64 -w0; }
    b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
    bytes() { head -c "$1" /dev/zero | tr '\0' "$2"; }
    truncate -s 3M luks2-tokens.img
    printf %s "$pass1" | cs luksFormat --type luks2 --cipher aes-cbc-essiv:sha256 --key-size 128 \
        --luks2-metadata-size 64k --luks2-keyslots-size 1m --offset 4096 \
        --pbkdf pbkdf2 --hash sha256 --pbkdf-force-iterations 1000 --key-file=- luks2-tokens.img
    for _ in 1 2; do
        printf %s "$pass1" | cs luksAddKey --key-file=- --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
            luks2-tokens.img pass2
    done
    blob=$({ printf '\000\236'; bytes 158 P; printf '\000\116'; bytes 78 U; } | b64)
    blob2=$({ printf '\000\040'; bytes 32 Q; } | b64)
    srk=$(bytes 70 S | b64)
    salt=$(bytes 32 s | b64)
    pubkey=$(printf -- '-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n' | b64)
    hash=$(bytes 32 a | od -v -An -tx1 | tr -d ' \n')
    cat >t0.json <<EOT
{"type":"systemd-tpm2","keyslots":["1"],"tpm2-blob":"$blob","tpm2-pcrs":[7],"tpm2-pcr-bank":"sha256","tpm2-primary-alg":"ecc","tpm2-policy-hash":"$hash","tpm2-pin":false,"tpm2_pcrlock":false,"tpm2_srk":"$srk"}
EOT
    cat >t1.json <<EOT
{"type":"systemd-tpm2","keyslots":["2"],"tpm2-blob":["$blob","$blob2"],"tpm2-pcrs":[0,7,14],"tpm2-pcr-bank":"sha384","tpm2-primary-alg":"rsa","tpm2-policy-hash":["$hash","$hash"],"tpm2-pin":true,"tpm2_salt":"$salt","tpm2_pubkey":"$pubkey","tpm2_pubkey_pcrs":[11],"tpm2_pcrlock":true}
EOT
    cred=$(bytes 64 C | b64)
    cat >t2.json <<EOT
{"type":"systemd-fido2","keyslots":["1"],"fido2-credential":"$cred","fido2-salt":"$salt","fido2-rp":"io.systemd.cryptsetup","fido2-clientPin-required":true,"fido2-up-required":true,"fido2-uv-required":false}
EOT
    cat >t3.json <<EOT
{"type":"systemd-pkcs11","keyslots":["2"],"pkcs11-uri":"pkcs11:model=PKCS%2315%20emulated;token=test","pkcs11-key":"$(bytes 256 K | b64)"}
EOT
    tpm2h=$(printf %s '{"alg":"dir","clevis":{"pin":"tpm2","tpm2":{"hash":"sha256","jwk_priv":"AAAA","jwk_pub":"AAAA","key":"ecc","pcr_bank":"sha256","pcr_ids":"0,7"}},"enc":"A256GCM"}' | b64url)
    tangh=$(printf %s '{"alg":"ECDH-ES","clevis":{"pin":"tang","tang":{"adv":{"keys":[]},"url":"http://tang.example:7500"}},"enc":"A256GCM","kid":"x"}' | b64url)
    ssst=$(printf %s '{"alg":"dir","clevis":{"pin":"sss","sss":{"jwe":["'"$tpm2h"'..iv.ct.tag","'"$tangh"'..iv.ct.tag"],"p":"AA","t":1}},"enc":"A256GCM"}' | b64url)
    for n in 4:"$tpm2h" 5:"$tangh" 6:"$ssst"; do
        cat >"t${n%%:*}.json" <<EOT
{"type":"clevis","keyslots":["$(( ${n%%:*} % 3 ))"],"jwe":{"ciphertext":"Y3Q","encrypted_key":"","iv":"aXY","protected":"${n#*:}","tag":"dGFn"}}
EOT
    done
    echo '{"type":"systemd-recovery","keyslots":["0"]}' >t7.json
    echo '{"type":"acme-hsm","keyslots":["0"],"acme":"opaque"}' >t8.json
    # Where systemd's token plugins are installed, cryptsetup checks their tokens with them;
    # token 1 has systemd 256's forms (lists of blobs), which older plugins refuse.
    for i in 0 2 3 4 5 6 7 8; do cs token import --token-id "$i" --json-file "t$i.json" luks2-tokens.img; done
    cs --disable-external-tokens token import --token-id 1 --json-file t1.json luks2-tokens.img
    # Keyslots 1 and 2 are there for the tokens to name; their random areas are zeroed so the
    # fixture stays small (no test opens them; keyslot 0 still opens with the passphrase).
    second=$(cs luksDump luks2-tokens.img | awk '/Area offset:/ { sub(/.*:/, ""); print $1 }' | sort -n | sed -n 2p)
    dd if=/dev/zero of=luks2-tokens.img bs=1 seek="$second" count=$((2097152 - second)) conv=notrunc status=none
    oracle luks2-tokens "$pass1"
}
printf %s "$pass2" >pass2
if [ "${1:-}" = luks2-tokens ]; then
    tokens
    exit 0
fi

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
tokens
ls -l "$out" >&2
