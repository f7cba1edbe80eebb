"""Benchmarks on the command line: accuracy, latency, gRPC and stream throughput, each beside a peer.

The scoring is ``edge_runtime.evaluation``; this package is the command line on top.
"""
