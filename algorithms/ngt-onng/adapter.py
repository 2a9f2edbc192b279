"""NGT's ONNG through ngtpy: an ANNG graph built first, then rebuilt by ngtpy's Optimizer
into a static graph with bounded out-degree and adjusted in-degree, searched like the ANNG.

Traps handled here:

* The optimised graph is a new index written to disk; both graphs live in a temporary
  directory that ``close`` removes. The ONNG cannot take inserts or deletes, so the spec
  declares none (the ``ngt`` adapter streams on the ANNG).
* ``Optimizer.execute`` by default also tunes search coefficients, prefetching and an accuracy
  table by timing searches: that took 40 to 90 seconds on 2,000 vectors here, lowered recall,
  and made two builds differ. Only the graph reconstruction (shortcut reduction with the
  requested degrees) is kept, as NGT's own ``reconstruct-graph`` does.
* NGT numbers the batch 0..n-1 in order (zero-based numbering), so positions map to ids.
* Metrics as the ``ngt`` adapter: L2 for euclidean and angular (unit vectors), ``Inner
  Product`` for ip (NGT lifts objects to the build's largest norm).
* Queries as the ``ngt`` adapter (annbench/adapters/ngt_support.py).
"""

from __future__ import annotations

import os
import tempfile

import ngtpy
import numpy as np

from annbench.adapters.ngt_support import NGTAdapter


class NGTONNG(NGTAdapter):
    def build(self, base: np.ndarray, ids: np.ndarray) -> None:
        self.directory = tempfile.TemporaryDirectory(prefix="annbench-ngt-onng-")
        anng = os.path.join(self.directory.name, "anng")
        onng = os.path.join(self.directory.name, "onng")
        index = self.create_anng(anng, base, creation=100, search=40)
        index.save()
        index.close()
        optimizer = ngtpy.Optimizer(
            num_of_outgoings=int(self.build_params.get("outdegree", 10)),
            num_of_incomings=int(self.build_params.get("indegree", 120)),
            log_disabled=True,
        )
        optimizer.set_processing_modes(
            shortcut_reduction=True,
            search_parameter_optimization=False,
            prefetch_parameter_optimization=False,
            accuracy_table_generation=False,
        )
        optimizer.execute(anng, onng)
        self.index = ngtpy.Index(onng, zero_based_numbering=True, log_disabled=True)
        self.original = np.asarray(ids, dtype=np.int64).copy()
        self.set_query_params()
