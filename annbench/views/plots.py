"""matplotlib figures drawn from the results frame (or tables derived from it)."""

from __future__ import annotations

from pathlib import Path

from annbench.analysis.compare import order_effect
from annbench.analysis.pareto import pareto_front
from annbench.errors.files import atomic_path, ensure_folder
from annbench.errors.names import file_stem


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _finish(fig, ax, stem, *, xlabel: str, ylabel: str, title: str, logy: bool) -> list[Path]:
    """Label, grid and legend an axes the same way for every view, then save the figure."""
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    return _save(fig, Path(stem))


def _save(fig, stem: Path) -> list[Path]:
    """Write ``fig`` as STEM.png and STEM.svg and close it."""
    ensure_folder(stem.parent)
    written = []
    try:
        for suffix in ("png", "svg"):
            path = stem.with_name(f"{stem.name}.{suffix}")
            with atomic_path(path) as tmp:
                fig.savefig(tmp, dpi=120, format=suffix)
            written.append(path)
    finally:
        _pyplot().close(fig)
    return written


def plot_pareto(frame, out_dir: str | Path, *, x: str = "recall", y: str = "qps") -> list[Path]:
    """One recall-vs-QPS figure per dataset (log QPS, one frontier line per adapter), written as
    PNG and SVG; returns the files written."""
    plt = _pyplot()
    written = []
    ok = frame[(frame["status"] == "ok") & frame["workload"].fillna("static").eq("static")]
    for dataset, rows in ok.groupby("dataset", sort=True):
        fig, ax = plt.subplots(figsize=(7, 5), layout="constrained")
        for adapter, points in rows.groupby("adapter", sort=True):
            front = pareto_front(points, x, y)
            ax.plot(front[x], front[y], marker="o", markersize=4, label=adapter)
        ax.set_yscale("log")
        ax.set_xlabel(f"{x}@{int(rows['k'].iloc[0])}" if x == "recall" else x)
        ax.set_ylabel("queries per second (log)" if y == "qps" else y)
        ax.set_title(f"{dataset}: {x} vs {y}, Pareto frontier per adapter")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="best", fontsize="small")
        written += _save(fig, Path(out_dir) / f"{file_stem(dataset)}-{x}-{y}")
    return written


def plot_order_effect(table, stem: str | Path) -> list[Path]:
    """Mean recall per insertion order with 95% confidence intervals, one panel per adapter
    and query setting."""
    plt = _pyplot()
    panels = list(table.groupby(["adapter", "query_params"], sort=True))
    fig, axes = plt.subplots(
        1, len(panels), figsize=(4 * len(panels), 4.5), layout="constrained", squeeze=False
    )
    for ax, ((adapter, query), rows) in zip(axes[0], panels):
        colors = ["tab:gray" if order == "random" else "tab:blue" for order in rows["order"]]
        ax.bar(rows["order"], rows["recall"], yerr=rows["ci95"], capsize=3, color=colors)
        low = max(0.0, (rows["recall"] - rows["ci95"]).min() - 0.05)
        ax.set_ylim(low, min(1.0, (rows["recall"] + rows["ci95"]).max() + 0.02))
        ax.set_title(f"{adapter}, {query}", fontsize="small")
        ax.set_ylabel("mean recall (95% CI over seeds)")
        ax.tick_params(axis="x", labelrotation=60, labelsize="small")
        ax.grid(True, axis="y", alpha=0.3)
    fig.suptitle(f"{table['dataset'].iloc[0]}: recall by insertion order (grey: random)")
    return _save(fig, Path(stem))


def plot_recall_vs_dimension(table, stem: str | Path, x: str = "mle_mean") -> list[Path]:
    """Recall against the measured intrinsic dimension, one line per adapter and query setting."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 5), layout="constrained")
    for (adapter, query), rows in table.groupby(["adapter", "query_params"], sort=True):
        rows = rows.sort_values(x)
        ax.plot(rows[x], rows["recall"], marker="o", label=f"{adapter}, {query}")
    ax.set_xlabel({"mle_mean": "measured intrinsic dimension (mean pointwise MLE LID)"}.get(x, x))
    ax.set_ylabel("recall@k")
    ax.set_title("recall against intrinsic dimension")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    return _save(fig, Path(stem))


def plot_scatter(
    frame,
    stem: str | Path,
    *,
    x: str,
    y: str,
    ylabel: str,
    title: str,
    scale: float = 1.0,
    logy: bool = True,
) -> list[Path]:
    """One marker series per adapter: ``y`` (divided by ``scale``) against ``x``."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
    for adapter, rows in frame.dropna(subset=[x, y]).groupby("adapter", sort=True):
        ax.scatter(rows[x], rows[y] / scale, s=18, label=adapter)
    return _finish(fig, ax, stem, xlabel=x, ylabel=ylabel, title=title, logy=logy)


def plot_latency(frame, stem: str | Path, title: str) -> list[Path]:
    """Single-query latency percentiles (p50 solid, p99 dashed) against recall, per adapter."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
    rows = frame.dropna(subset=["latency_p50_ms"])
    for index, (adapter, points) in enumerate(rows.groupby("adapter", sort=True)):
        points = points.sort_values("recall")
        color = f"C{index}"
        ax.plot(
            points["recall"], points["latency_p50_ms"], "o-", color=color, label=f"{adapter} p50"
        )
        ax.plot(
            points["recall"], points["latency_p99_ms"], "s--", color=color, label=f"{adapter} p99"
        )
    return _finish(
        fig, ax, stem, xlabel="recall", ylabel="latency per query, ms (log)", title=title, logy=True
    )


def plot_recall_distribution(points, stem: str | Path, title: str) -> list[Path]:
    """Histograms of per-query recall, one per row of ``points`` (with recall_per_query)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
    bins = [i / 20 for i in range(21)]
    for _, row in points.iterrows():
        label = f"{row['adapter']} {row['query_params']} (mean {row['recall']:.3f})"
        ax.hist(row["recall_per_query"], bins=bins, histtype="step", linewidth=1.5, label=label)
    ax.set_xlabel("recall of one query")
    ax.set_ylabel("queries")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize="small")
    return _save(fig, Path(stem))


DATASET_VIEWS = ("build", "memory", "latency", "order")


def index_memory(rows):
    """(bytes, measured) per row: the library's own figure for its index where it gives
    one, else the growth of the process's resident memory over the build (``measured``
    True), which counts the index together with whatever else the build allocated."""
    library = rows["index_memory_bytes"].astype(float)
    rss = rows["build_rss_delta_bytes"].astype(float).where(lambda v: v > 0)
    measured = library.isna() & rss.notna()
    return library.fillna(rss), measured


def plot_memory(rows, stem: str | Path, title: str) -> list[Path]:
    """Index size against recall per adapter: filled where the library reports its index's
    size, hollow (and labelled "RSS delta") where only the build's memory growth is known."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
    size, measured = index_memory(rows)
    rows = rows.assign(_size=size / 1e6, _measured=measured).dropna(subset=["recall", "_size"])
    for index, (adapter, points) in enumerate(rows.groupby("adapter", sort=True)):
        colour = f"C{index % 10}"
        for from_rss, part in points.groupby("_measured"):
            ax.scatter(
                part["recall"],
                part["_size"],
                s=18,
                facecolors="none" if from_rss else colour,
                edgecolors=colour,
                label=f"{adapter} (RSS delta)" if from_rss else adapter,
            )
    return _finish(
        fig, ax, stem, xlabel="recall", ylabel="index size, MB (log)", title=title, logy=True
    )


def plot_view(rows, view: str, stem: str | Path, name: str) -> list[Path]:
    """One per-dataset view of ``rows``; [] when the rows hold nothing for it (no library
    size, no single-mode latencies, no orders beside random)."""
    if view == "build":
        return plot_scatter(
            rows,
            stem,
            x="recall",
            y="build_time_s",
            ylabel="build time, s (log)",
            title=f"{name}: build time",
        )
    if view == "memory" and index_memory(rows)[0].notna().any():
        return plot_memory(rows, stem, f"{name}: index memory")
    if view == "latency" and rows["latency_p50_ms"].notna().any():
        return plot_latency(rows, stem, f"{name}: single-query latency")
    orders = rows["insertion_order"]
    if view == "order" and orders.nunique() > 1 and (orders == "random").any():
        return plot_order_effect(order_effect(rows), stem)
    return []
