"""DiskANN's in-memory Vamana graph (diskannpy ``build_memory_index`` + ``StaticMemoryIndex``).

diskannpy builds into files, so ``build`` writes the index into a temporary folder, loads it
with ``StaticMemoryIndex`` (which reads everything into memory) and removes the folder at once.
The index answers positions, mapped back to original ids through the ``ids`` array.

Metrics: euclidean is ``l2`` (squared distances), angular is ``l2`` on the unit vectors the
harness hands over (same order as cosine), ip is ``mips``, whose scores come back as inner
products (larger is closer) and are negated here.

Filters: only the one-query ``search(..., filter_label=str)`` filters, and only on an index
built with ``filter_labels`` and opened with ``enable_filters=True``. When the worker sets
``attributes``, each vector gets its label as the one string ``str(label)``; the ``label``
filter kind maps onto that. Tags (an AND of two) and ranges have no native form.

Traps:
- the native search does not say how many neighbours it found: its result arrays are
  allocated but not cleared, so when the graph search reaches fewer than ``k`` nodes (fewer
  points than ``k``, fewer carrying the label, or a part of the graph it cannot reach) the
  tail holds leftover memory, not padding. So ``k`` is clipped to what exists (the number of
  points, or of points with the label), and each answer is cut at its first entry that cannot
  be real (a position out of range, a repeated one, a distance that is not finite or that
  descends) and padded from there (``found_prefix``).
- the native search refuses a candidate list shorter than ``k`` (diskannpy raises it with a
  warning on every call): the list used is ``max(complexity, k)``.
- no seed reaches the build, but a one-thread build is deterministic (the start point is the
  medoid, points are linked in order).
"""

import os
import shutil
import tempfile

import diskannpy
import numpy as np

from annbench.adapters.answers import found_prefix
from annbench.adapters.protocol import Adapter

METRICS = {"euclidean": "l2", "angular": "l2", "ip": "mips"}  # angular arrives unit-normalised
PREFIX = "ann"


class DiskANN(Adapter):
    def build(self, base: np.ndarray, ids: np.ndarray) -> None:
        self.ids = np.asarray(ids, dtype=np.int64)
        self.n = len(base)
        build_complexity = int(self.build_params.get("build_complexity", 125))
        labels = None
        self.label_counts: dict[str, int] = {}
        if self.attributes is not None and self.attributes.label is not None:
            self.labels = self.attributes.label[self.ids]  # by position
            names = self.labels.astype(str)
            labels = [[name] for name in names.tolist()]
            found, counts = np.unique(names, return_counts=True)
            self.label_counts = dict(zip(found.tolist(), counts.tolist()))
        folder = tempfile.mkdtemp(prefix="annbench-diskann-")
        try:
            diskannpy.build_memory_index(
                data=np.ascontiguousarray(base, dtype=np.float32),
                distance_metric=METRICS[self.metric],
                index_directory=folder,
                complexity=build_complexity,
                graph_degree=int(self.build_params.get("graph_degree", 32)),
                num_threads=self.build_threads or 0,
                alpha=float(self.build_params.get("alpha", 1.2)),
                use_pq_build=False,
                filter_labels=labels,
                filter_complexity=build_complexity if labels is not None else 0,
                index_prefix=PREFIX,
            )
            # the graph and the vectors, as saved: what the loaded index holds
            self.saved_bytes = sum(
                os.path.getsize(os.path.join(folder, name)) for name in (PREFIX, PREFIX + ".data")
            )
            self.index = diskannpy.StaticMemoryIndex(
                folder,
                num_threads=0,  # one search scratch per processor, so no search thread waits
                initial_search_complexity=build_complexity,
                index_prefix=PREFIX,
                enable_filters=labels is not None,
            )
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def set_query_params(self, complexity: int = 40) -> None:
        self.complexity = int(complexity)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        distances = np.full((len(queries), k), np.inf, dtype=np.float32)
        found = min(k, self.n)
        positions, scores = self.index.batch_search(
            np.ascontiguousarray(queries, dtype=np.float32),
            found,
            max(self.complexity, found),
            self.search_threads or 0,
        )
        self._fill(ids, distances, positions, scores)
        return ids, distances

    def filtered_search(
        self, queries: np.ndarray, k: int, filters
    ) -> tuple[np.ndarray, np.ndarray]:
        """diskannpy filters one query at a time; a label no vector carries gets an empty
        (padded) answer, and a label with fewer than k vectors a padded one."""
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        distances = np.full((len(queries), k), np.inf, dtype=np.float32)
        for group in filters.groups():
            value = int(filters.values[group[0]])
            label = str(value)
            found = min(k, self.label_counts.get(label, 0))
            if found == 0:
                continue
            for i in group.tolist():
                positions, scores = self.index.search(
                    np.ascontiguousarray(queries[i], dtype=np.float32),
                    found,
                    max(self.complexity, found),
                    filter_label=label,
                )
                self._fill(
                    ids[i : i + 1], distances[i : i + 1], positions[None], scores[None], value
                )
        return ids, distances

    def _fill(self, ids, distances, positions, scores, label: int | None = None) -> None:
        """Write the real prefix of each answer (positions -> original ids) into ``ids`` and
        ``distances``, whose padding is already in place; with ``label``, a real entry also
        carries that label."""
        positions = positions.astype(np.int64)
        scores = -scores if self.metric == "ip" else scores
        known = positions < self.n
        if label is not None:
            known &= self.labels[np.where(known, positions, 0)] == label
        length = found_prefix(positions, scores, known)
        real = np.arange(positions.shape[1]) < length[:, None]
        width = positions.shape[1]
        ids[:, :width] = np.where(real, self.ids[np.where(real, positions, 0)], -1)
        distances[:, :width] = np.where(real, scores, np.inf)

    def memory_bytes(self) -> int:
        """The saved graph and vectors, which the loaded index holds in memory."""
        return int(self.saved_bytes)
