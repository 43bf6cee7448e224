"""fgc benchmarks: `python benchmarks/run.py` writes benchmarks/RESULTS.md (see README.md here)."""
