"""Draws the boot timeline of each benchmark variant (medians, guest clock) from results.json,
and, given results-scale.json, how /init → prompt grows with disks and with LVs (scale.png).

    plot.py results.json timeline.png [results-scale.json scale.png]
"""
import json
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def main(src, dst):
    rows = json.load(open(src))
    fig, ax = plt.subplots(figsize=(10, 1.1 + 0.9 * len(rows)))
    for y, row in enumerate(reversed(rows)):
        run_init, prompt, plain = med(row["run_init"]), med(row["prompt"]), med(row["plain_init"])
        if run_init is None:
            continue
        ax.barh(y, run_init, color="#bbbbbb", label="kernel until /init" if y == 0 else None)
        if prompt is not None:
            ax.barh(y + 0.2, prompt - run_init, left=run_init, height=0.35, color="#d62728",
                    label="/init until the rd.break prompt" if y == 0 else None)
            ax.text(prompt + 0.05, y + 0.2, f"prompt {prompt:.2f}s", va="center", fontsize=8)
        if plain is not None:
            ax.barh(y - 0.2, plain - run_init, left=run_init, height=0.35, color="#1f77b4",
                    label="/init until the real init (plain boot)" if y == 0 else None)
            ax.text(plain + 0.05, y - 0.2, f"real init {plain:.2f}s", va="center", fontsize=8)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([r["variant"] for r in reversed(rows)])
    ax.set_xlabel("guest uptime (s), QEMU TCG, medians")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("rdbreak vs stock dracut: boot timeline")
    fig.tight_layout()
    fig.savefig(dst, dpi=120)


def scale(src, dst):
    rows = json.load(open(src))
    axes = [a for a in ("disks", "lvs") if any(r["axis"] == a for r in rows)]
    if not axes:
        return
    fig, plots = plt.subplots(1, len(axes), figsize=(6 * len(axes), 4.2), squeeze=False)
    titles = {"disks": "blank SCSI disks beside the root", "lvs": "LVs in the root's VG (only root asked for)"}
    for ax, axis in zip(plots[0], axes):
        for variant in dict.fromkeys(r["variant"] for r in rows if r["axis"] == axis):
            pts = sorted((r["n"], med(r["to_prompt"])) for r in rows if r["axis"] == axis and r["variant"] == variant)
            pts = [(n, t) for n, t in pts if t is not None]
            if pts:
                ax.plot([n for n, _ in pts], [t for _, t in pts], marker="o", label=variant)
                for n, t in pts:
                    ax.annotate(f"{t:.2f}s", (n, t), textcoords="offset points", xytext=(4, 4), fontsize=8)
        ax.set_yscale("log")
        ax.set_xlabel(titles[axis])
        ax.set_ylabel("/init → rd.break prompt (s, guest, medians)")
        ax.legend(fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle("How the time to the prompt grows (QEMU TCG)")
    fig.tight_layout()
    fig.savefig(dst, dpi=120)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] != "-":
        main(sys.argv[1], sys.argv[2])
    if len(sys.argv) > 4:
        scale(sys.argv[3], sys.argv[4])
