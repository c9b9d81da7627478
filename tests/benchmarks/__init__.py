"""Benchmarks: scripts run by hand (`python -m tests.benchmarks.bench_pipeline`), not by pytest."""
