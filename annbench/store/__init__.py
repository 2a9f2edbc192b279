"""What annbench stores and reads back: Jobs (the identity of a measurement), result files,
the results frame, baselines and the environment manifest."""
