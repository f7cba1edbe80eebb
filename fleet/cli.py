"""`python -m fleet`: the operators' questions to a fleet central (query, devices, sightings, watch, stats, delete).

Output is JSON lines (``--format json``, the default when stdout is not a terminal): one object per event,
device or sighting, the proto3 JSON mapping of the fleet.v1 message (field names as in the .proto), as the OCR
command lines print theirs; or a readable table (``--format table``, the default on a terminal; times in UTC).
Every failure is one line on stderr, `error: <message> [<REASON>]`, and a non-zero exit: 2 for a command line
that cannot be sent (USAGE_INVALID, TIME_INVALID, CONFIRMATION_REQUIRED), 1 for a call the central refused
(its reason, e.g. FILTER_INVALID) or could not answer (UNAVAILABLE: with a hint of what to check, the TLS flags
or that nothing serves there, as ocr-client gives).

Times (--since, --until) are durations back from now (90s, 5m, 1h, 30d) or ISO 8601 times (UTC unless they
carry an offset). Everything goes through ``clients.ocr_client.fleet.FleetClient``: this module needs no server.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from clients.ocr_client.fleet_types import EVENT_TYPES, TEXT_MATCHES, EventFilter, StoredEvent
from fleet.duration import parse_duration

if TYPE_CHECKING:  # imported when a command runs: `--help` and usage errors need no gRPC
    from clients.ocr_client.fleet import FleetClient

__all__ = ["main", "build_parser", "parse_time", "UsageError"]

COMMANDS = ("query", "devices", "sightings", "watch", "stats", "delete", "agent")
MAX_PAGE_SIZE = 1000  # the central's largest page (AIP-158: larger sizes are coerced to it)


class UsageError(Exception):
    """A command line that cannot become a request (exit status 2)."""

    def __init__(self, message: str, reason: str = "USAGE_INVALID") -> None:
        super().__init__(message)
        self.reason = reason


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line with a stable reason, like every other failure."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} [USAGE_INVALID]\n")


# ---- times --------------------------------------------------------------------------------------------------
def parse_time(text: str, now: float) -> float:
    """Seconds since the epoch of ``text``: a duration back from ``now`` ("1h") or an ISO 8601 time, read as UTC
    when it has no offset. Raises ValueError."""
    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a duration back from now (90s, 5m, 1h, 30d) nor an ISO time (2026-12-05T08:00:00Z)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _utc(seconds: float | None, short: bool = False) -> str:
    if seconds is None or not math.isfinite(seconds) or seconds <= 0:
        return "-"
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.strftime("%H:%M:%S" if short else "%Y-%m-%d %H:%M:%S")


def _span(first: float, last: float) -> str:
    """``first`` in full and ``last`` as a time of day when both fall on the same UTC day."""
    same_day = _utc(first)[:10] == _utc(last)[:10]
    return f"{_utc(first)} → {_utc(last, short=same_day)}" if last > first else _utc(first)


# ---- requests -----------------------------------------------------------------------------------------------
def _filter(args: argparse.Namespace) -> EventFilter:
    now = time.time()
    times = {}
    for flag in ("since", "until"):
        value = getattr(args, flag)
        if value is not None:
            try:
                times[flag] = parse_time(value, now)
            except ValueError as exc:
                raise UsageError(f"--{flag}: {exc}", "TIME_INVALID") from None
    return EventFilter(
        device_id=args.device or "",
        stream_id=args.stream or "",
        start_time=times.get("since"),
        end_time=times.get("until"),
        types=tuple(args.type or ()),
        text=args.text or "",
        text_match=args.match,
        min_confidence=args.min_confidence,
        fields=tuple(args.field or ()),
    )


def _client(args: argparse.Namespace) -> FleetClient:
    from clients.ocr_client.cli import connection_options
    from clients.ocr_client.fleet import FleetClient

    try:
        return FleetClient(args.target, **connection_options(args))
    except OSError as exc:
        raise UsageError(f"{exc.strerror or exc}: {exc.filename}", "CREDENTIALS_UNREADABLE") from None
    except ValueError as exc:
        raise UsageError(str(exc), "CREDENTIALS_UNREADABLE") from None


def _pages(fetch: Callable[[int, str], Any], limit: int, page_size: int) -> Iterator[Any]:
    """Items of consecutive pages until ``limit`` (0: all) or the last page; tells stderr when more were left."""
    size = page_size or min(limit or MAX_PAGE_SIZE, MAX_PAGE_SIZE)
    token, shown = "", 0
    while True:
        page = fetch(size, token)
        for item in page.items:
            if limit and shown >= limit:
                print(f"(stopped at --limit {limit}; --limit 0 shows all)", file=sys.stderr)
                return
            shown += 1
            yield item
        token = page.next_token
        if not token:
            return


# ---- output -------------------------------------------------------------------------------------------------
def _json(message: Any, **extra: Any) -> str:
    from google.protobuf import json_format

    body = json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    return json.dumps({**extra, **body}, ensure_ascii=False)


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], out: TextIO, right: Sequence[int] = ()) -> int:
    """Rows under a header (none when it is blank), columns as wide as their widest cell (numbers
    right-aligned); how many rows."""
    rows = [[str(c) for c in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    if any(header):
        print(line(header), file=out)
    for r in rows:
        print(line(r), file=out)
    return len(rows)


EVENT_HEADER = ("CAPTURED (UTC)", "DEVICE", "STREAM", "SEQ", "TYPE", "TEXT", "CONF", "TRACK")
EVENT_RIGHT = (3, 6, 7)


def _event_row(stored: StoredEvent) -> list[str]:
    e = stored.event
    return [
        _utc(e.capture_time),
        stored.device_id,
        e.stream_id,
        str(e.sequence),
        e.type,
        e.text,
        f"{e.confidence:.2f}",
        str(e.track_id),
    ]


def _drops(drops: dict[str, int]) -> str:
    return " ".join(f"{reason}:{n}" for reason, n in sorted(drops.items()) if n) or "0"


def _precision(precision: dict[str, str]) -> str:
    order = {"det": 0, "cls": 1, "rec": 2}
    return " ".join(f"{stage}:{p}" for stage, p in sorted(precision.items(), key=lambda i: order.get(i[0], 9)))


# ---- commands -----------------------------------------------------------------------------------------------
def cmd_query(args: argparse.Namespace, out: TextIO) -> int:
    from clients.ocr_client.fleet_convert import stored_event_message

    flt = _filter(args)
    with _client(args) as client:
        events = _pages(
            lambda size, token: client.query_events(
                flt, page_size=size, page_token=token, newest_first=args.newest_first
            ),
            args.limit,
            args.page_size,
        )
        if args.format == "json":
            for stored in events:
                print(_json(stored_event_message(stored)), file=out)
        else:
            found = list(events)
            if any(s.event.fields for s in found):  # a column of the key fields only when some event has any
                rows = (_event_row(s) + [_fields_cell(s)] for s in found)
                _table((*EVENT_HEADER, "FIELDS"), rows, out, EVENT_RIGHT)
            else:
                _table(EVENT_HEADER, (_event_row(s) for s in found), out, EVENT_RIGHT)
    return 0


def _fields_cell(stored: StoredEvent) -> str:
    return " ".join(f"{f.name}={f.value}" for f in stored.event.fields)


def cmd_devices(args: argparse.Namespace, out: TextIO) -> int:
    from clients.ocr_client.fleet_convert import device_message

    with _client(args) as client:
        devices = _pages(
            lambda size, token: client.list_devices(page_size=size, page_token=token), args.limit, args.page_size
        )
        if args.format == "json":
            for device in devices:
                print(_json(device_message(device)), file=out)
        else:
            _table(
                (
                    "DEVICE",
                    "LAST SEEN (UTC)",
                    "STREAMS",
                    "EVENTS",
                    "BACKLOG",
                    "DROPPED",
                    "BUNDLE",
                    "BACKEND",
                    "PRECISION",
                    "VERSION",
                ),
                (
                    [
                        d.device_id,
                        _utc(d.last_seen),
                        str(len(d.streams)),
                        str(d.events),
                        str(d.status.backlog_events),
                        _drops(dict(d.status.drops)),
                        d.status.bundle or "-",
                        d.status.backend or "-",
                        _precision(dict(d.status.precision)) or "-",
                        d.status.software_version or "-",
                    ]
                    for d in devices
                ),
                out,
                (2, 3, 4),
            )
    return 0


def cmd_sightings(args: argparse.Namespace, out: TextIO) -> int:
    from clients.ocr_client.fleet_convert import sighting_message

    flt = _filter(args)
    try:
        window_s = parse_duration(args.window)
    except ValueError as exc:
        raise UsageError(f"--window: {exc}", "TIME_INVALID") from None
    with _client(args) as client:
        sightings = _pages(
            lambda size, token: client.list_sightings(
                flt, window_s=window_s, min_streams=args.min_streams, page_size=size, page_token=token
            ),
            args.limit,
            args.page_size,
        )
        if args.format == "json":
            for sighting in sightings:
                print(_json(sighting_message(sighting)), file=out)
        else:

            def rows() -> Iterator[list[str]]:
                for s in sightings:
                    for i, p in enumerate(s.places):
                        yield [
                            s.normalized_text if i == 0 else "",
                            str(len(s.places)) if i == 0 else "",
                            p.device_id,
                            p.stream_id,
                            _span(p.first_seen, p.last_seen),
                            str(p.events),
                            p.text,
                            f"{p.confidence:.2f}",
                        ]

            _table(
                ("TEXT", "STREAMS", "DEVICE", "STREAM", "SEEN (UTC)", "EVENTS", "READ AS", "CONF"),
                rows(),
                out,
                (1, 5, 7),
            )
    return 0


def cmd_watch(args: argparse.Namespace, out: TextIO) -> int:
    from clients.ocr_client.fleet_convert import stored_event_message

    flt = _filter(args)
    stop_after = None
    if args.duration is not None:
        try:
            stop_after = parse_duration(args.duration)
        except ValueError as exc:
            raise UsageError(f"--for: {exc}", "TIME_INVALID") from None
    header = EVENT_HEADER + ("CURSOR",)
    widths = (19, 12, 12, 5, 11, 16, 4, 5, 0)
    last_cursor = args.cursor or ""
    seen = 0
    interrupted = threading.Event()
    with _client(args) as client:
        events = client.watch_events(flt, cursor=args.cursor or "")

        # Ctrl-C cancels the call instead of raising between a printed event and its cursor, so the resume
        # cursor is always the last event printed
        def stop(*_: object) -> None:
            interrupted.set()
            events.cancel()

        previous = _on_sigint(stop)
        timer = None
        if stop_after is not None:  # the tail never ends by itself: cancel it after --for
            timer = threading.Timer(stop_after, events.cancel)
            timer.daemon = True
            timer.start()

        def line(cells: Sequence[str]) -> str:  # fixed widths: rows are printed as they come
            return "  ".join(
                c.rjust(w) if i in EVENT_RIGHT else c.ljust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            ).rstrip()

        if args.format == "table":
            print(line(header), file=out, flush=True)
        try:
            for stored in events:
                if args.format == "json":
                    print(_json(stored_event_message(stored)), file=out, flush=True)
                else:
                    print(line(_event_row(stored) + [str(stored.cursor)]), file=out, flush=True)
                last_cursor = str(stored.cursor)
                seen += 1
                if args.max_events and seen >= args.max_events:
                    break
        except Exception as exc:
            stopped = interrupted.is_set() or (timer is not None and timer.finished.is_set())
            if not (stopped and _cancelled(exc)):
                raise
        finally:
            if timer is not None:
                timer.cancel()
            events.cancel()
            _on_sigint(previous)
    if last_cursor:
        print(f"(resume with --cursor {last_cursor})", file=sys.stderr)
    return 130 if interrupted.is_set() else 0


def _on_sigint(handler: Any) -> Any:
    """Install ``handler`` for SIGINT where signals can be handled (the main thread); the previous one."""
    if threading.current_thread() is not threading.main_thread() or handler is None:
        return None
    return signal.signal(signal.SIGINT, handler)


def _cancelled(exc: BaseException) -> bool:
    code = getattr(exc, "code", None)
    return getattr(code, "name", "") == "CANCELLED"


def cmd_stats(args: argparse.Namespace, out: TextIO) -> int:
    from clients.ocr_client.fleet_convert import stats_message

    with _client(args) as client:
        stats = client.get_fleet_stats()
    if args.format == "json":
        print(_json(stats_message(stats)), file=out)
        return 0
    retention = "forever" if not stats.retention_s else f"{stats.retention_s / 86400:g} d"
    _table(
        ("", ""),
        [
            ["store", stats.store],
            ["devices", str(stats.devices)],
            ["streams", str(stats.streams)],
            ["events", str(stats.events)],
            ["events, last hour", str(stats.events_last_hour)],
            *([f"  {t}", str(n)] for t, n in sorted(stats.events_by_type.items())),
            ["dropped on devices", _drops(dict(stats.drops))],
            ["oldest capture (UTC)", _utc(stats.oldest_capture_time)],
            ["newest capture (UTC)", _utc(stats.newest_capture_time)],
            ["retention", retention],
        ],
        out,
    )
    return 0


def cmd_delete(args: argparse.Namespace, out: TextIO) -> int:
    from clients.ocr_client.fleet_convert import delete_response

    if not args.yes:
        raise UsageError(
            f"deleting erases everything device {args.device_id!r} reported; add --yes to confirm",
            "CONFIRMATION_REQUIRED",
        )
    with _client(args) as client:
        result = client.delete_device_data(args.device_id)
    if args.format == "json":
        print(_json(delete_response(result), device_id=args.device_id), file=out)
    elif result.device_existed:
        print(
            f"deleted device {args.device_id}: {result.deleted_events} events, {result.deleted_streams} streams",
            file=out,
        )
    else:
        print(f"device {args.device_id} is not known to the central: nothing to delete", file=out)
    return 0


def cmd_agent(args: argparse.Namespace, out: TextIO) -> int:
    try:
        from fleet.agent.cli import main as agent_main
    except ImportError as exc:
        raise UsageError(f"the edge agent is not available here ({exc})", "AGENT_UNAVAILABLE") from None
    return agent_main(list(args.agent_args))


# ---- parser -------------------------------------------------------------------------------------------------
def _count(text: str) -> int:
    """A count flag (--limit, --max-events): a whole number >= 0."""
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return int(text)


def _connection(parser: argparse.ArgumentParser) -> None:
    """Target, credentials and format, accepted before or after the command (defaults applied in ``main``)."""
    s = argparse.SUPPRESS
    parser.add_argument("--target", default=s, help="the central's address (OCR_TARGET, default localhost:50051)")
    parser.add_argument("--timeout", type=float, default=s, help="deadline of each call in seconds (default 30)")
    parser.add_argument(
        "--ca", type=Path, default=s, help="PEM CA that signed the central's certificate: turns TLS on (OCR_CA)"
    )
    parser.add_argument("--tls", action="store_true", default=s, help="TLS with the system's CA roots")
    parser.add_argument("--cert", type=Path, default=s, help="PEM client certificate for mutual TLS (OCR_CERT)")
    parser.add_argument("--key", type=Path, default=s, help="PEM key of --cert (OCR_KEY)")
    parser.add_argument("--token", default=s, help="bearer token (prefer OCR_TOKEN: a flag shows in the process list)")
    parser.add_argument("--server-name", default=s, help="name to check the central's certificate against")
    parser.add_argument(
        "--format",
        choices=("table", "json"),
        default=s,
        help="table (default on a terminal) or JSON lines (default otherwise)",
    )


def _env_path(name: str) -> Path | None:
    """The file an environment variable names; None when it is unset or empty."""
    value = os.environ.get(name)
    return Path(value) if value else None


def _defaults(args: argparse.Namespace, out: TextIO) -> None:
    env = os.environ.get
    for name, value in (
        ("target", env("OCR_TARGET", "localhost:50051")),
        ("timeout", 30.0),
        ("ca", _env_path("OCR_CA")),
        ("tls", False),
        ("cert", _env_path("OCR_CERT")),
        ("key", _env_path("OCR_KEY")),
        ("token", env("OCR_TOKEN") or None),
        ("server_name", None),
        ("format", "table" if out.isatty() else "json"),
    ):
        if not hasattr(args, name):
            setattr(args, name, value)


def _filters(p: argparse.ArgumentParser, listing: bool = True) -> None:
    g = p.add_argument_group("filter (unset: everything)")
    g.add_argument("--device", help="only this device")
    g.add_argument("--stream", help="only this stream (camera)")
    g.add_argument("--since", metavar="TIME", help="captured at or after: a duration back (1h, 30m) or an ISO time")
    g.add_argument("--until", metavar="TIME", help="captured before: a duration back or an ISO time")
    g.add_argument(
        "--type",
        action="append",
        type=str.upper,
        choices=EVENT_TYPES,
        metavar="TYPE",
        help=f"only this event type ({', '.join(EVENT_TYPES)}); repeat for several",
    )
    g.add_argument("--text", help="only this text, compared normalized (upper case, letters and digits)")
    g.add_argument(
        "--match",
        type=str.upper,
        choices=TEXT_MATCHES,
        default="CONTAINS",
        metavar="HOW",
        help="how --text compares: contains (default: --text KX71 finds KX71ABC), prefix or exact",
    )
    g.add_argument("--min-confidence", type=float, default=0.0, metavar="C", help="only confidence >= C (0..1)")
    g.add_argument(
        "--field",
        action="append",
        metavar="NAME[=VALUE]",
        help="only events carrying this key field (of this value, compared normalized); repeat: all of them",
    )
    if listing:
        p.add_argument("--limit", type=_count, default=100, metavar="N", help="show at most N (default 100; 0: all)")
        p.add_argument(
            "--page-size",
            type=int,
            default=0,
            metavar="N",
            help=f"items per call (default: --limit, at most {MAX_PAGE_SIZE})",
        )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m fleet", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _connection(parser)
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="{" + ",".join(COMMANDS) + "}", parser_class=_Parser
    )

    def command(name: str, help: str, run: Callable) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        _connection(p)
        p.set_defaults(run=run)
        return p

    p = command("query", "stored events matching a filter, oldest first", cmd_query)
    _filters(p)
    p.add_argument("--newest-first", action="store_true", help="newest capture time first")
    p = command("devices", "devices that have reported: last seen, streams, backlog, drops, models", cmd_devices)
    p.add_argument("--limit", type=_count, default=0, metavar="N", help="show at most N (default 0: all)")
    p.add_argument("--page-size", type=int, default=0, metavar="N", help="devices per call")
    p = command("sightings", "one text seen across streams within a window, collapsed into one sighting", cmd_sightings)
    _filters(p)
    p.add_argument(
        "--window",
        default="5m",
        metavar="DURATION",
        help="events of one text at most this far apart are one sighting (default 5m)",
    )
    p.add_argument("--min-streams", type=int, default=1, metavar="N", help="only sightings seen by N streams or more")
    p = command(
        "watch", "tail events as the central commits them (--since: the stored ones first; resume: --cursor)", cmd_watch
    )
    _filters(p, listing=False)
    p.add_argument("--cursor", help="resume after this event's cursor (replays what was committed since)")
    p.add_argument("--max-events", type=_count, default=0, metavar="N", help="stop after N events (default: never)")
    p.add_argument("--for", dest="duration", metavar="DURATION", help="stop after this long (e.g. 10m)")
    command("stats", "totals over the whole store", cmd_stats)
    p = command("delete", "erase everything one device reported (needs --yes)", cmd_delete)
    p.add_argument("device_id", metavar="DEVICE")
    p.add_argument("--yes", action="store_true", help="confirm the erasure")
    p = sub.add_parser("agent", help="the edge agent (python -m fleet agent --help)", add_help=False)
    p.add_argument("agent_args", nargs=argparse.REMAINDER)
    p.set_defaults(run=cmd_agent)
    return parser


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    args = build_parser().parse_args(argv)
    _defaults(args, out)
    try:
        return args.run(args, out)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `... | head`: the reader has gone; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except UsageError as exc:
        print(f"error: {exc} [{exc.reason}]", file=sys.stderr)
        return 2
    except Exception as exc:  # OcrCallError from the central, anything else: one line, never a traceback
        from clients.ocr_client.cli import connection_hint  # the words ocr-client uses: the same flags to check

        print(_error_line(exc, connection_hint(exc, args)), file=sys.stderr)
        return 1


def _error_line(exc: BaseException, hint: str = "") -> str:
    """``error: <message> [<REASON>]``; a call that never reached the central carries a hint before its reason."""
    code = getattr(exc, "code", None)
    reason = getattr(exc, "reason", None) or getattr(code, "name", None) or "CLIENT_ERROR"
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    where = f" ({code.name})" if code is not None and getattr(exc, "reason", None) else ""
    return f"error: {message}{where}{f'; {hint}' if hint else ''} [{reason}]"


if __name__ == "__main__":
    raise SystemExit(main())
