"""The insertion-order study (Elliott & Clark, ICTIR 2024): recall of HNSW per insertion order,
over seeds, at fixed graph parameters."""

from __future__ import annotations

import os
from collections.abc import Sequence

from annbench.run.plan import Experiment
from annbench.studies.common import STUDY_EF_SEARCH, hnsw_adapters


def applicable_orders(has_labels: bool) -> list[str]:
    from annbench.run.orders import NEEDS_LABELS, ORDERS

    return [order for order in ORDERS if has_labels or order not in NEEDS_LABELS]


def order_experiment(
    dataset: str,
    data_dir: str | os.PathLike,
    *,
    seeds: int = 3,
    orders: Sequence[str] | None = None,
    k: int = 10,
    ef_search: Sequence[int] = STUDY_EF_SEARCH,
) -> Experiment:
    """Every applicable order x ``seeds`` seeds, single-threaded builds so the order is exact."""
    from annbench.datasets.catalog import resolve_dataset
    from annbench.datasets.store import dataset_info

    if orders is None:
        info = dataset_info(resolve_dataset(dataset, data_dir))
        orders = applicable_orders(info["has_labels"])
    return Experiment(
        datasets=[dataset],
        adapters=hnsw_adapters(ef_search=ef_search),
        k=k,
        repeats=1,
        warmup=0,
        seeds=list(range(seeds)),
        orders=list(orders),
        build_threads=[1],
    )
