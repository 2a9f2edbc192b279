"""Running: experiment specs become Jobs (plan), a sweep runs them (runner) through an
executor, each under its guard, in a worker that builds the index and hands it to a workload."""
