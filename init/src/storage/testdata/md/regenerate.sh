#!/usr/bin/env bash
# Regenerates the MD fixtures in this directory: the builder VM (qemu-tests/src/builder.rs)
# creates arrays with the real mdadm (the recipe is fixtures_recipe in
# qemu-tests/tests/builder.rs), and the first and last MiB of every member, its size and
# `mdadm --examine` land here, zstd-compressed. A cached build is reused: delete
# $RDBREAK_CACHE/builder/md-fixtures-* for a fresh one.
set -euo pipefail
cd "$(dirname "$0")/../../../../.."
exec cargo nextest run -p rdbreak-qemu-tests --test builder --run-ignored only -E 'test(regenerate_md_fixtures)'
