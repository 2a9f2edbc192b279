"""Pure functions of arrays and frames: metrics, Pareto frontiers, comparisons, the gate."""
