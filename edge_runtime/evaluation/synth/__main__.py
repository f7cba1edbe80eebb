"""``python -m edge_runtime.evaluation.synth``: render the synthetic sets (a no-op when they are current)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edge_runtime.evaluation.synth", description=__doc__)
    parser.add_argument("--out", type=Path, default=None, help="default: $OCR_SYNTH_DIR or models/cache/synth")
    parser.add_argument("--force", action="store_true", help="render even when the stamp is current")
    parser.add_argument("--limit", type=int, default=None, help="only the first N images of each set")
    args = parser.parse_args(argv)
    try:
        from edge_runtime.evaluation import synth

        started = time.perf_counter()
        root = synth.ensure(args.out, force=args.force, limit=args.limit)
    except Exception as exc:  # one line, never a traceback
        print(f"synth: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    print(f"{root} ({time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
