"""Simulated logs: the demo's fleet and the benchmark's workloads."""
