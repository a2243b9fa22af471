"""qgradbench's benchmarks: asv suite, PennyLane comparison script, pytest-benchmark tests."""
