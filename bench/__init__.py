"""Benchmarks on the command line: accuracy, latency, gRPC and stream throughput, each beside a peer (the scoring is ``edge_runtime.evaluation``)."""
