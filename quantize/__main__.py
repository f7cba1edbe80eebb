"""``python -m quantize``: build INT8 artifacts, decide each stage's precision on this host (reused when unchanged)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from edge_runtime.arguments import OneLineParser
from edge_runtime.errors import OcrError
from quantize import calibration
from quantize.build import BACKENDS, Settings, build
from quantize.progress import Progress, estimate_s


def _parser() -> argparse.ArgumentParser:
    d = Settings()
    parser = OneLineParser(prog="python -m quantize", description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default=None, help="bundle id (default: the manifest's default bundle)")
    parser.add_argument("--backend", default="all", choices=(*BACKENDS, "all"))
    parser.add_argument(
        "--calib",
        type=Path,
        default=None,
        help="folder of calibration images (default: a fixed subset of the labelled sets)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="labelled sets for calibration and the gate (default: the project's own rendered sets; "
        "any other folder must hold the sets named in quantize.calibration)",
    )
    parser.add_argument("--det-pages", type=int, default=d.det_pages, help="pages that calibrate the detector")
    parser.add_argument("--rec-crops", type=int, default=d.rec_crops, help="line crops that calibrate the recognizer")
    parser.add_argument(
        "--max-loss",
        type=float,
        default=d.max_loss_pt,
        help="gate: largest significant loss (points) of any set's headline figure a served candidate may cost",
    )
    parser.add_argument(
        "--speed-repeat", type=int, default=d.speed_repeat, help="gate: interleaved timing rounds per stage"
    )
    parser.add_argument("--no-gate", action="store_true", help="build only; decide nothing (FP32 serves)")
    parser.add_argument("--force", action="store_true", help="rebuild even when the inputs are unchanged")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="write <OUT>/<backend>/ instead of the bundle's int8/ folder (nothing is served from it)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="threads of every model run, the gate's timing included (default 0: all cores; a server's background "
        "build uses 1)",
    )
    parser.add_argument(
        "--progress",
        choices=("auto", "bar", "lines", "none"),
        default="auto",
        help="a bar on a terminal, or one line per phase and every 15 s (auto: a bar when stderr is a terminal)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress (same as --progress none)")
    parser.add_argument(
        "--estimate", action="store_true", help="print how long a build would take here (from the reference host's)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the build; a failure is one line with a stable reason on stderr and exit code 2, never a traceback."""
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except OcrError as exc:
        reason, message = exc.reason, exc.message
    except (OSError, ValueError) as exc:  # unreadable --calib / --data-dir, too few images, a bad setting
        reason, message = "QUANTIZE_INPUT_INVALID", str(exc)
    print(f"python -m quantize: {reason}: {message}", file=sys.stderr)
    return 2


def _run(args: argparse.Namespace) -> int:
    if args.estimate:
        backends = BACKENDS if args.backend == "all" else (args.backend,)
        threads = args.threads or os.cpu_count() or 1
        seconds = estimate_s(sum(n for _, n in calibration.CALIBRATION_SETS), backends, not args.no_gate, threads)
        print(
            f"about {max(1, round(seconds / 60))} min for {' and '.join(backends)} on {threads} thread(s) "
            "of a CPU like the reference host's (a slower one takes longer)"
        )
        return 0
    if args.backend in ("openvino", "all"):
        import nncf  # sets its own logger to INFO on import: quiet it after that

        nncf.set_log_level(logging.WARNING)
    logging.getLogger().setLevel(logging.ERROR)  # onnxruntime.quantization warns through the root logger

    data_dir = args.data_dir or calibration.default_data_dir()
    images = calibration.folder_images(args.calib) if args.calib else None
    settings = Settings(
        det_pages=args.det_pages,
        rec_crops=args.rec_crops,
        max_loss_pt=args.max_loss,
        speed_repeat=args.speed_repeat,
        gate=not args.no_gate,
    )
    backends = BACKENDS if args.backend == "all" else (args.backend,)
    mode = "none" if args.quiet else args.progress
    if mode == "auto":
        mode = "bar" if sys.stderr.isatty() else "lines"
    with Progress(mode) as bar:
        results = build(
            args.bundle,
            backends,
            images,
            data_dir,
            settings,
            force=args.force,
            out_root=args.out,
            log=bar.write,
            progress=bar,
            threads=args.threads,
        )
    for result in results:
        rec = result.record
        state = "reused" if result.reused else "built"
        stages = "; ".join(
            f"{s} {v.get('serve', 'fp32').upper()}: {v.get('reason', '')}" for s, v in rec.get("stages", {}).items()
        )
        print(f"{rec['bundle']} {result.backend}: {state}; {stages} ({result.directory})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
