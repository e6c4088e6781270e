#!/bin/sh
# Installs rdbreak: the static init, the dracut module, the man pages and (if built) the rdbreak
# CLI.
#   PREFIX=/usr (default)   DESTDIR= (staging root, for packages)   MANDIR=$PREFIX/share/man
# Build first: cargo build --release -p rdbreak-init --target x86_64-unknown-linux-musl
set -eu
PREFIX=${PREFIX:-/usr}
DESTDIR=${DESTDIR:-}
here=$(cd "$(dirname "$0")" && pwd)
init=${RDBREAK_INIT_BIN:-$here/target/x86_64-unknown-linux-musl/release/rdbreak-init}
[ -x "$init" ] || { echo "install.sh: $init not built; run: cargo build --release -p rdbreak-init --target x86_64-unknown-linux-musl" >&2; exit 1; }
libdir=$PREFIX/lib/rdbreak
moddir=$PREFIX/lib/dracut/modules.d/99rdbreak
install -D -m 0755 "$init" "$DESTDIR$libdir/rdbreak-init"
install -d "$DESTDIR$moddir"
# The module finds the init where this PREFIX put it.
sed "s|/usr/lib/rdbreak/rdbreak-init|$libdir/rdbreak-init|" "$here/dracut-module/99rdbreak/module-setup.sh" > "$DESTDIR$moddir/module-setup.sh"
chmod 0755 "$DESTDIR$moddir/module-setup.sh"
install -m 0644 "$here/dracut-module/99rdbreak/drivers.txt" "$DESTDIR$moddir/drivers.txt"
mandir=${MANDIR:-$PREFIX/share/man}
install -D -m 0644 "$here/packaging/man/rdbreak.1" "$DESTDIR$mandir/man1/rdbreak.1"
install -D -m 0644 "$here/packaging/man/rdbreak.cmdline.7" "$DESTDIR$mandir/man7/rdbreak.cmdline.7"
install -D -m 0644 "$here/packaging/man/rdbreak-init.8" "$DESTDIR$mandir/man8/rdbreak-init.8"
install -D -m 0644 "$here/packaging/completions/rdbreak.bash" "$DESTDIR$PREFIX/share/bash-completion/completions/rdbreak"
install -D -m 0644 "$here/packaging/completions/_rdbreak" "$DESTDIR$PREFIX/share/zsh/vendor-completions/_rdbreak"
cli=$here/target/release/rdbreak
if [ -x "$cli" ]; then install -D -m 0755 "$cli" "$DESTDIR$PREFIX/bin/rdbreak"; fi
echo "installed rdbreak into ${DESTDIR:-/}$PREFIX; enable with: dracut -a rdbreak (or add_dracutmodules+=\" rdbreak \" in /etc/dracut.conf.d/)"
