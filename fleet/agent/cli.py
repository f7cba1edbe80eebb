"""`python -m fleet agent --config FILE`: run the edge agent until SIGTERM or Ctrl-C; then the producers stop, what
the central acknowledges within ``[upload] grace`` leaves the outbox, and it exits 0 (the outbox keeps the rest for
the next start). A start-up failure (a bad configuration or flag, an outbox it cannot use, a taken metrics port) is
one line on stderr with its reason and exit 2 (1 for an unforeseen one), never a traceback."""

from __future__ import annotations

import argparse
import logging
import signal
import sqlite3
import sys
import threading

from edge_runtime.arguments import OneLineParser
from edge_runtime.errors import OcrError

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m fleet agent", description=__doc__)
    parser.add_argument("--config", required=True, help="the agent's TOML file (see fleet/agent/config.py)")
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    parser.add_argument(
        "--exit-when-done",
        action="store_true",
        help="stop once every producer ended (a replay or a file) and the outbox is empty",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from fleet.agent.agent import Agent
    from fleet.agent.config import load_config

    try:
        config = load_config(args.config)
        try:
            agent = Agent(config)
        except (OSError, sqlite3.Error) as exc:  # the outbox is opened first: a path it cannot create or use
            raise OcrError(f"outbox {config.outbox.path}: {exc}", "OUTBOX_UNUSABLE") from None
        try:
            agent.start()
        except OSError as exc:  # the metrics port, the one thing start() binds
            agent.stop()
            raise OcrError(f"metrics port {config.metrics_port}: {exc.strerror or exc}", "PORT_UNAVAILABLE") from None
    except OcrError as exc:
        print(f"error: {exc.message} [{exc.reason}]", file=sys.stderr)
        return 2
    except Exception as exc:  # a start-up failure is one line; --log-level DEBUG shows the traceback
        logging.getLogger(__name__).debug("start-up failed", exc_info=True)
        print(f"error: the agent could not start: {type(exc).__name__}: {exc} [INTERNAL]", file=sys.stderr)
        return 1
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    print(
        f"fleet agent {agent.config.device_id or '(device from credentials)'} reporting to "
        f"{agent.config.central.target}" + (f"; metrics on port {agent.metrics_port}" if agent.metrics_port else ""),
        flush=True,
    )
    try:
        while not stop.wait(0.2):
            if (
                args.exit_when_done
                and agent.producers_done()
                and agent.outbox.backlog().events == 0
                and agent.outbox.backlog().gaps == 0
            ):
                break
    finally:
        agent.stop(grace_s=agent.config.upload.grace_s)
    return 0
