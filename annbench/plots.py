"""matplotlib figures drawn from the results frame."""

from __future__ import annotations

from pathlib import Path

from annbench.analysis import pareto_front


def plot_pareto(frame, out_dir: str | Path, *, x: str = "recall", y: str = "qps") -> list[Path]:
    """One recall-vs-QPS figure per dataset (log QPS, one frontier line per adapter), written as
    PNG and SVG; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    ok = frame[frame["status"] == "ok"]
    for dataset, rows in ok.groupby("dataset", sort=True):
        fig, ax = plt.subplots(figsize=(7, 5), layout="constrained")
        for adapter, points in rows.groupby("adapter", sort=True):
            front = pareto_front(points, x, y)
            ax.plot(front[x], front[y], marker="o", markersize=4, label=adapter)
        ax.set_yscale("log")
        ax.set_xlabel(f"{x}@{int(rows['k'].iloc[0])}" if x == "recall" else x)
        ax.set_ylabel("queries per second (log)" if y == "qps" else y)
        ax.set_title(f"{dataset}: {x} vs {y} (Pareto frontier per adapter; up and right is better)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="best", fontsize="small")
        for suffix in ("png", "svg"):
            path = out_dir / f"{dataset}-{x}-{y}.{suffix}"
            fig.savefig(path, dpi=120)
            written.append(path)
        plt.close(fig)
    return written
