"""Concurrent-clients figures: QPS against clients and p99 latency against clients, one line
per adapter at its configuration nearest a target recall, the harness's own no-op ceiling
dashed on the QPS figure and harness-bound points marked; and the clients points as text."""

from __future__ import annotations

from pathlib import Path

from annbench.analysis.concurrency import (
    QPS_DEFINITION,
    ceiling_by_level,
    chosen_levels,
    clients_points,
)
from annbench.analysis.difficulty import TARGET_RECALL
from annbench.store.frame import HARNESS_BOUND_SHARE
from annbench.views.plots import _pyplot, _save

BOUND_LABEL = f"harness-bound (QPS above {HARNESS_BOUND_SHARE:.0%} of the ceiling)"
HARNESS_BOUND = (
    f"harness-bound: QPS above {HARNESS_BOUND_SHARE:.0%} of the harness's own no-op ceiling "
    "at that level, so the harness may limit it as much as the index does"
)
TEXT_COLUMNS = [
    "dataset",
    "label",
    "query_params",
    "client_mode",
    "clients",
    "recall",
    "qps",
    "H",
    "ceiling_qps",
    "coverage",
    "latency_p50_ms",
    "latency_p99_ms",
]


def clients_text(frame) -> str:
    """The ok concurrent-clients points of ``frame`` as a text table, one line per
    (configuration, level), harness-bound ones marked H, with the QPS definition above."""
    shown = clients_points(frame).sort_values(["dataset", "label", "query_params", "clients"])
    shown["H"] = ["H" if bound else "" for bound in shown["harness_bound"]]
    for column in ("latency_p50_ms", "latency_p99_ms"):  # three figures: sub-µs stays visible
        shown[column] = [f"{v:.3g}" if v == v else "-" for v in shown[column]]
    text = shown[TEXT_COLUMNS].to_string(
        index=False, na_rep="-", float_format=lambda v: f"{v:.3f}" if abs(v) < 10 else f"{v:,.0f}"
    )
    text = f"concurrent clients (QPS: {QPS_DEFINITION}):\n{text}"
    if shown["harness_bound"].any():
        text += f"\nH: {HARNESS_BOUND} (ceiling_qps: that ceiling)"
    return text


def configuration_label(level) -> str:
    """'adapter build; query (recall r)' for a legend."""
    params = "; ".join(p for p in (level["build_params"], level["query_params"]) if p)
    name = " ".join(p for p in (level["adapter"], params) if p)
    return f"{name} (recall {level['recall']:.3f})"


def plot_concurrency(
    rows, stem: str | Path, name: str, *, target: float = TARGET_RECALL
) -> list[Path]:
    """For one dataset's ``rows`` (``name``: its name): STEM-qps and STEM-p99 (PNG and SVG),
    QPS and pooled p99 latency against the number of clients, one line per adapter at its
    configuration whose recall is nearest ``target``; the ceiling (the highest no-op QPS any
    job measured at each level, per client mode) dashed on the QPS figure; harness-bound
    points ringed in red. [] where the rows hold no clients point."""
    levels = chosen_levels(rows, target)
    if levels.empty:
        return []
    stem = Path(stem)
    subtitle = f"each adapter at its configuration nearest recall {target:g}"
    written = _figure(
        levels,
        "qps",
        "queries per second (log)",
        f"{name}: QPS against concurrent clients\n{subtitle}; dashed: the harness's ceiling",
        stem.with_name(f"{stem.name}-qps"),
        ceiling=ceiling_by_level(rows),
    )
    written += _figure(
        levels,
        "latency_p99_ms",
        "p99 latency, ms, pooled over clients (log)",
        f"{name}: p99 latency against concurrent clients\n{subtitle}",
        stem.with_name(f"{stem.name}-p99"),
    )
    return written


def _figure(levels, column: str, ylabel: str, title: str, stem: Path, ceiling=None):
    plt = _pyplot()
    from matplotlib.ticker import NullLocator

    fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
    for index, (_, own) in enumerate(
        levels.groupby(["adapter", "build_params", "query_params", "client_mode"], sort=True)
    ):
        own = own.sort_values("clients")
        label = configuration_label(own.iloc[0])
        ax.plot(own["clients"], own[column], "o-", color=f"C{index}", label=label)
    bound = levels[levels["harness_bound"]]
    if not bound.empty:
        ax.scatter(
            bound["clients"],
            bound[column],
            s=140,
            facecolors="none",
            edgecolors="red",
            linewidths=1.5,
            zorder=3,
            label=BOUND_LABEL,
        )
    if ceiling is not None:
        for mode, own in ceiling.groupby("client_mode", sort=True):
            ax.plot(
                own["clients"],
                own["ceiling_qps"],
                "--",
                color="black",
                alpha=0.6,
                label=f"harness ceiling, no-op answerer ({mode} clients)",
            )
            ax.plot(
                own["clients"],
                HARNESS_BOUND_SHARE * own["ceiling_qps"],
                ":",
                color="black",
                alpha=0.4,
                label=f"{HARNESS_BOUND_SHARE:.0%} of it: above, harness-bound",
            )
    shown = sorted({int(c) for c in levels["clients"]})
    if shown[-1] >= 4 * shown[0]:
        ax.set_xscale("log", base=2)
    ax.set_xticks(shown, [str(c) for c in shown])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_yscale("log")
    ax.set_xlabel("concurrent clients")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize="medium")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    return _save(fig, stem)
