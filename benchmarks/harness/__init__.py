"""Benchmark harness for ``benchmarks/run.py``: workloads, approaches, scale, components, report."""
