"""Benchmarks: our pipeline timed by stage (runner), and the official package beside it (official)."""
