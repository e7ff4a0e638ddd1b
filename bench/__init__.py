"""sparkube's benchmarks: `bench/run.py` runs them (see its doc)."""
