"""Spikes: clusters of overdoses in one area, seen in the stream (issue: spike alerts)."""
