#!/bin/sh
# Builds rdbreak_<version>_amd64.deb into OUTDIR (default target/deb) from the release builds:
#   cargo build --release -p rdbreak-init --target x86_64-unknown-linux-musl
#   cargo build --release -p rdbreak
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$here/target/deb}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$here/Cargo.toml" | head -n1)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
chmod 0755 "$stage"
[ -x "$here/target/release/rdbreak" ] || { echo "build-deb.sh: build the CLI first: cargo build --release -p rdbreak" >&2; exit 1; }
DESTDIR=$stage PREFIX=/usr sh "$here/install.sh" >/dev/null
# install.sh put the man pages in (and the bash completion); Debian ships the pages compressed.
find "$stage/usr/share/man" -type f -name '*.[0-9]' -exec gzip -9n {} +
install -D -m 0644 "$here/packaging/debian/90-rdbreak.conf" "$stage/etc/dracut.conf.d/90-rdbreak.conf"
install -D -m 0644 "$here/README.md" "$stage/usr/share/doc/rdbreak/README.md"
install -D -m 0644 "$here/docs/recovery.md" "$stage/usr/share/doc/rdbreak/recovery.md"
install -d "$stage/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@SIZE@/$size/" "$here/packaging/debian/control" > "$stage/DEBIAN/control"
echo /etc/dracut.conf.d/90-rdbreak.conf > "$stage/DEBIAN/conffiles"
(cd "$stage" && find usr -type f -exec md5sum {} + | sort -k2) > "$stage/DEBIAN/md5sums"
# Reproducible: fixed times for every file.
find "$stage" -exec touch -h -d "@${SOURCE_DATE_EPOCH:-0}" {} +
mkdir -p "$out"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$out/rdbreak_${version}_amd64.deb" >/dev/null
echo "$out/rdbreak_${version}_amd64.deb"
