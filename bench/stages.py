"""What BF16 and INT8 buy per model run on this host: each stage's candidates on fixed inputs, both backends.

End-to-end speed-ups are bounded by these: if the recognizer's INT8 run is only 1.4x faster than FP32 here,
no pipeline change makes INT8 as a whole 2x faster. The CPU's integer dot-product instructions decide most of
it (AVX-512 VNNI / AVX-VNNI / AMX do one 8-bit multiply-add per lane and cycle; plain AVX2 needs two or three
instructions), so the report starts with them.

    python -m bench.stages [--backends openvino onnxruntime] [--repeat 10] [--threads 0]
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from edge_runtime.cpu import cpu_features

__all__ = ["INPUTS", "main"]

# (stage, input shape): a receipt-sized page at the runtime's default detector size, one recognizer batch
# of 8 crops padded to 320 px, and one crop alone.
INPUTS = (("det", (1, 3, 1504, 736)), ("rec", (8, 3, 48, 320)), ("rec", (1, 3, 48, 320)))


def main(argv: Sequence[str] | None = None) -> int:
    from edge_runtime.artifacts import int8_dir, quantization_record
    from edge_runtime.backends import SessionOptions, load
    from models import load_bundle
    from quantize.decide import candidates, time_sessions

    parser = argparse.ArgumentParser(prog="python -m bench.stages", description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default=None)
    parser.add_argument("--backends", nargs="+", default=["openvino", "onnxruntime"])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads (0: all cores)")
    args = parser.parse_args(argv)

    threads = args.threads or os.cpu_count() or 1
    features = cpu_features()
    print(
        f"{threads} threads; CPU: "
        + (", ".join(f"{k} {'yes' if v else 'no'}" for k, v in features.items()) or "flags unknown")
    )
    bundle = load_bundle(args.bundle)
    print(
        "\n| backend | stage | input | FP32 ms | BF16 ms | INT8 ms | BF16 speed-up | INT8 speed-up | gate serves |\n"
        + "|---" * 9
        + "|"
    )
    for backend in args.backends:
        record = quantization_record(bundle, backend) or {}
        runnable = candidates(backend, features, int8_built=bool(record))
        loaded: dict[tuple[str, str], object] = {}
        for stage, shape in INPUTS:
            entry = record.get("stages", {}).get(stage) or {}
            paths = {"fp32": (bundle.path(stage), "f32")}
            if runnable["bf16"] is None:  # the FP32 file under OpenVINO's BF16 hint
                paths["bf16"] = (bundle.path(stage), "bf16")
            if entry.get("file") and (int8_dir(bundle, backend) / entry["file"]).is_file():
                paths["int8"] = (int8_dir(bundle, backend) / entry["file"], "f32")
            sessions = {}
            for precision, (path, hint) in paths.items():
                key = (stage, precision)
                if key not in loaded:
                    loaded[key] = load(backend, path, SessionOptions("cpu", threads, hint))
                sessions[precision] = loaded[key]
            ms = time_sessions(sessions, shape, args.repeat)
            cells = [backend, stage, "x".join(map(str, shape))]
            cells += ["–" if p not in ms else f"{ms[p]:.1f}" for p in ("fp32", "bf16", "int8")]
            cells += ["–" if p not in ms else f"{ms['fp32'] / ms[p]:.2f}×" for p in ("bf16", "int8")]
            cells.append(entry.get("serve", "int8" if entry.get("published") else "–").upper())
            print("| " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
