"""Plots of results.json, run with the peers' virtualenv (matplotlib lives there, not in the
project's). Prints the file name of each PNG it writes.

argv: RESULTS_JSON OUT_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

LABELS = {
    "sparkube": "sparkube shared watch",
    "poll": "per-app polling, 2 s",
    "spark-on-k8s": "spark-on-k8s waiter, 10 s",
}


def tracking(results: dict, out: Path) -> str | None:
    rows = [r for r in results["scenarios"].get("tracking", []) if "failed" not in r]
    if not rows:
        return None
    metrics = [
        ("requests_per_s_steady", "API requests/s while waiting", 1.0),
        ("delay_p99_s", "p99 delay, driver end → waiter knows (ms)", 1e3),
        ("cpu_s_waiting", "waiter CPU seconds while waiting", 1.0),
        ("max_rss_mb", "waiter peak RSS (MB)", 1.0),
    ]
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    for ax, (key, title, scale) in zip(axes.flat, metrics, strict=True):
        for waiter, label in LABELS.items():
            pts = sorted(
                (r["n"], r.get(key))
                for r in rows
                if r["waiter"] == waiter and r.get(key) is not None
            )
            if not pts:
                continue
            # A log axis cannot show 0: plot zero requests/s at the bottom of the axis.
            xs = [p[0] for p in pts]
            ys = [max(p[1] * scale, 1e-2) for p in pts]
            ax.plot(xs, ys, marker="o", label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("applications tracked (N)")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(
        f"Tracking N applications on kubesim ({results['mode']} mode); 0 req/s drawn at 0.01"
    )
    fig.tight_layout()
    path = out / "tracking.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def cold(results: dict, out: Path) -> str | None:
    data = results["scenarios"].get("cold_submit")
    if not data:
        return None
    names = [n for n, t in data["tools"].items() if t.get("samples_wall_s")]
    samples = [[s * 1e3 for s in data["tools"][n]["samples_wall_s"]] for n in names]
    fig, ax = plt.subplots(figsize=(10, 4.5))
    ax.boxplot(samples, vert=False, showfliers=False)
    for i, values in enumerate(samples, start=1):
        ax.scatter(values, [i] * len(values), s=14, alpha=0.6, zorder=3)
    ax.set_yticks(range(1, len(names) + 1), names, fontsize=9)
    ax.set_xscale("log")
    ax.set_xlabel("wall time of one fresh process (ms, log scale)")
    ax.set_title(
        f"Cold submit of SparkPi to kubesim, {data['runs']} runs each ({results['mode']} mode)"
    )
    ax.grid(True, axis="x", which="both", alpha=0.3)
    fig.tight_layout()
    path = out / "cold_submit.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def main() -> None:
    results = json.loads(Path(sys.argv[1]).read_text())
    out = Path(sys.argv[2])
    for make in (cold, tracking):
        name = make(results, out)
        if name:
            print(name)


if __name__ == "__main__":
    main()
