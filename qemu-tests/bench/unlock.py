#!/usr/bin/env python3
"""The unlock benchmark of docs/benchmark.md: cryptsetup against rdbreak's luks_unlock example
on the same LUKS header, one unlock each per round, interleaved.

    python3 qemu-tests/bench/unlock.py FILE PASSFILE ROUNDS CRYPTSETUP_ROOT UNLOCK_BIN...

CRYPTSETUP_ROOT is a directory Debian's cryptsetup-bin and its libraries were unpacked into
(`apt-get download` + `dpkg-deb -x`), so the host needs no cryptsetup installed. Prints, per
tool, the median and minimum wall time and the median user and system CPU time."""
import os
import statistics
import subprocess
import sys
import time

if len(sys.argv) < 6:
    sys.exit(__doc__)
img, passfile, rounds, root, bins = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5:]
libs = [f"{root}/lib/x86_64-linux-gnu", f"{root}/usr/lib/x86_64-linux-gnu"]
env = dict(os.environ, LD_LIBRARY_PATH=":".join(libs))
tools = {"cryptsetup": [f"{root}/sbin/cryptsetup", "open", "--test-passphrase", "--key-file", passfile, img]}
tools.update({b: [b, img, "1"] for b in bins})
runs = {name: [] for name in tools}
for _ in range(rounds):
    for name, cmd in tools.items():
        t, before = time.monotonic(), os.times()
        with open(passfile, "rb") as stdin:
            subprocess.run(cmd, stdin=stdin, stdout=subprocess.DEVNULL, env=env, check=True)
        after = os.times()
        runs[name].append((time.monotonic() - t, after.children_user - before.children_user,
                           after.children_system - before.children_system))
for name, r in runs.items():
    wall, user, system = (sorted(x[i] for x in r) for i in range(3))
    print(f"{name[-40:]:40s} wall median {statistics.median(wall):.2f} min {wall[0]:.2f} s  "
          f"user {statistics.median(user):.2f} s  system {statistics.median(system):.2f} s")
