"""Workloads: what an index is asked to do once it exists, and how that is timed. Besides the
worker, the only code that reads the clock."""
