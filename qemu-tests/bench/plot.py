"""Draws the boot timeline of each benchmark variant (medians, guest clock) from results.json."""
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


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
