"""Benchmarks: our proxy against the simulator it fronts (the floor) and against LiteLLM's proxy."""
