"""What INT8 buys per model run on this host: each stage's FP32 and INT8 model on fixed inputs, both backends.

End-to-end speed-ups are bounded by these: if the recognizer's INT8 run is only 1.4x faster than FP32 here,
no pipeline change makes INT8 as a whole 2x faster. The CPU's integer dot-product instructions decide most of
it (AVX-512 VNNI / AVX-VNNI / AMX do one 8-bit multiply-add per lane and cycle; plain AVX2 needs two or three
instructions), so the report starts with them.

    python -m bench.stages [--backends openvino onnxruntime] [--repeat 10] [--threads 0]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Sequence

import numpy as np

from edge_runtime.cpu import cpu_features

__all__ = ["INPUTS", "time_sessions", "main"]

# (stage, input shape): a receipt-sized page at the runtime's default detector size, one recognizer batch
# of 8 crops padded to 320 px, and one crop alone.
INPUTS = (("det", (1, 3, 1504, 736)), ("rec", (8, 3, 48, 320)), ("rec", (1, 3, 48, 320)))
def time_sessions(sessions: dict[str, object], shape: Sequence[int], repeat: int) -> dict[str, float]:
    """Median ms per session on one random input; runs alternate between sessions so that load from
    elsewhere on a shared host hits them alike. Two untimed runs each first (shape preparation)."""
    feeds = {name: {s.inputs[0]: np.random.default_rng(0).random(shape, dtype=np.float32)}  # type: ignore[attr-defined]
             for name, s in sessions.items()}
    for name, session in sessions.items():
        for _ in range(2):
            session.run(feeds[name])  # type: ignore[attr-defined]
    times: dict[str, list[float]] = {name: [] for name in sessions}
    for _ in range(repeat):
        for name, session in sessions.items():
            t0 = time.perf_counter()
            session.run(feeds[name])  # type: ignore[attr-defined]
            times[name].append((time.perf_counter() - t0) * 1000)
    return {name: statistics.median(t) for name, t in times.items()}


def main(argv: Sequence[str] | None = None) -> int:
    from edge_runtime.artifacts import int8_dir, quantization_record
    from edge_runtime.backends import SessionOptions, load
    from models import load_bundle

    parser = argparse.ArgumentParser(prog="python -m bench.stages", description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default=None)
    parser.add_argument("--backends", nargs="+", default=["openvino", "onnxruntime"])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads (0: all cores)")
    args = parser.parse_args(argv)

    threads = args.threads or os.cpu_count() or 1
    features = cpu_features()
    print(f"{threads} threads; CPU: " + (", ".join(f"{k} {'yes' if v else 'no'}" for k, v in features.items())
                                         or "flags unknown"))
    bundle = load_bundle(args.bundle)
    print("\n| backend | stage | input | FP32 ms | INT8 ms | INT8 speed-up | INT8 published |\n" + "|---" * 7 + "|")
    for backend in args.backends:
        record = quantization_record(bundle, backend) or {}
        options = SessionOptions("cpu", threads)
        loaded: dict[tuple[str, str], object] = {}
        for stage, shape in INPUTS:
            entry = record.get("stages", {}).get(stage)
            paths = {"fp32": bundle.path(stage)}
            if entry and (int8_dir(bundle, backend) / entry["file"]).is_file():
                paths["int8"] = int8_dir(bundle, backend) / entry["file"]
            sessions = {}
            for precision, path in paths.items():
                sessions[precision] = loaded.get((stage, precision)) or load(backend, path, options)
                loaded[(stage, precision)] = sessions[precision]
            ms = time_sessions(sessions, shape, args.repeat)
            int8 = ms.get("int8")
            cells = [backend, stage, "x".join(map(str, shape)), f"{ms['fp32']:.1f}",
                     "–" if int8 is None else f"{int8:.1f}", "–" if int8 is None else f"{ms['fp32'] / int8:.2f}×",
                     "yes" if entry and entry.get("published") else "no"]
            print("| " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
