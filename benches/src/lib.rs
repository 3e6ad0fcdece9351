//! Benchmarks for kiln.
