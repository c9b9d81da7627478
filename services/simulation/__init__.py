"""Synthetic, invented overdose events for demos, load and benchmarks."""
