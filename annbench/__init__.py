"""annbench: a harness for benchmarking approximate nearest-neighbour search."""

__version__ = "0.1.0"
