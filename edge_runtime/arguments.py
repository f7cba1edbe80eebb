"""Command-line pieces every runtime command shares, in a module of their own so the commands need not import
each other: the one-line usage error and the engine flags."""

from __future__ import annotations

import argparse
from typing import NoReturn

from edge_runtime.config import BACKENDS, DEVICES, PRECISIONS, EngineConfig, from_env

__all__ = ["OneLineParser", "add_engine_arguments", "engine_config"]


class OneLineParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line with a stable reason, like every other failure."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} [USAGE_INVALID]\n")


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags shared by every command that builds an engine (values default to OCR_* env, then built-ins)."""
    parser.add_argument("--bundle", help="model bundle id (python -m models list)")
    parser.add_argument("--backend", choices=BACKENDS)
    parser.add_argument("--device", choices=DEVICES)
    parser.add_argument("--precision", choices=PRECISIONS)
    parser.add_argument("--threads", type=int)


def engine_config(args: argparse.Namespace) -> EngineConfig:
    """The engine configuration of parsed engine flags, over ``OCR_*`` variables and built-in defaults."""
    return from_env(
        EngineConfig,
        bundle=args.bundle,
        backend=args.backend,
        device=args.device,
        precision=args.precision,
        threads=args.threads,
    )
