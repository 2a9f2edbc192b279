"""Ready-made studies built from ordinary experiments (after Elliott & Clark, ICTIR 2024)."""
