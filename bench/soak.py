"""Soak: N concurrent clients for M minutes through gRPC; the server's RSS, p50/p99 latency and errors per minute,
printed as a table and plotted (PNG), with the raw figures as JSON.

    python -m bench.soak [--clients 16] [--minutes 10] [--set synth_receipts synth_signs] [--limit 8]
                         [--max-side 960] [--bucket-s 60] [--target host:port --pid PID]
                         [--server-arg=--max-rss-mb=1500 ...] [--out bench/out/soak]
                         [--documents 4 [--letter]] [--rss-every-s 2] [--server-root DIR]

``--documents N``: the memory issue's load instead of ``--set`` (``bench.memory_pages``: N receipts, forms,
column pages and 300-dpi scans each, as rendered; ``--letter`` adds N full letter pages at 300 dpi);
``--server-root``: run the started server from another tree (a checkout of an older commit, for a before/after
run: ``bench.memory_soak``).

Without ``--target`` it starts ``python -m server`` (port 0, models from OCR_* variables, result cache off, so
every call is computed) and samples that process's RSS from /proc. With ``--target`` it loads a running server;
``--pid`` names its process for the RSS column. When the server exits during the soak (``--max-rss-mb``), the
soak stops, reports the exit status and the last minute it saw, and exits 1.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.grpc_bench import ServerProcess, provenance_of

__all__ = ["main", "summarize", "overall", "plot", "rss_mb"]

REPO = Path(__file__).resolve().parents[1]


def rss_mb(pid: int) -> float | None:
    """Resident memory of ``pid`` in MiB (None when it is gone or unreadable)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _images(sets: Sequence[str], limit: int, max_side: int) -> list[bytes]:
    from bench.grpc_bench import load_images
    from edge_runtime.evaluation import synth
    from edge_runtime.evaluation.datasets import load_set

    root = synth.ensure()
    paths = [sample.image for name in sets for sample in itertools.islice(load_set(name, root), limit)]
    if not paths:
        raise SystemExit(f"no images in {', '.join(sets)} under {root}")
    return load_images(paths, max_side)


def summarize(
    calls: list[tuple[float, float, str]], rss: list[tuple[float, float]], bucket_s: float, duration_s: float
) -> list[dict[str, Any]]:
    """Per bucket: calls, errors (by code), p50/p99 latency of the successful ones, RSS (max) of the server."""
    rows = []
    buckets = max(1, int(np.ceil(duration_s / bucket_s - 1e-9)))
    for k in range(buckets):
        lo, hi = k * bucket_s, (k + 1) * bucket_s
        inside = [(lat, code) for t, lat, code in calls if lo <= t < hi]
        ok = np.array([lat for lat, code in inside if code == "OK"]) * 1000
        errors: dict[str, int] = {}
        for _, code in inside:
            if code != "OK":
                errors[code] = errors.get(code, 0) + 1
        memory = [mb for t, mb in rss if lo <= t < hi]
        rows.append(
            {
                "minute": round(hi / 60, 2),
                "calls": len(inside),
                "calls_per_s": len(inside) / bucket_s,
                "errors": sum(errors.values()),
                "error_codes": errors,
                "p50_ms": float(np.percentile(ok, 50)) if ok.size else None,
                "p99_ms": float(np.percentile(ok, 99)) if ok.size else None,
                "rss_mb": max(memory) if memory else None,
            }
        )
    return rows


def overall(calls: list[tuple[float, float, str]], rss: list[tuple[float, float]], ran_s: float) -> dict[str, Any]:
    """The whole run in one row: successful calls per second, p50/p99 latency, errors, peak and mean RSS."""
    ok = np.array([lat for _, lat, code in calls if code == "OK"]) * 1000
    memory = [mb for _, mb in rss]
    return {
        "calls_per_s": round(ok.size / ran_s, 3) if ran_s else None,
        "p50_ms": round(float(np.percentile(ok, 50)), 1) if ok.size else None,
        "p99_ms": round(float(np.percentile(ok, 99)), 1) if ok.size else None,
        "errors": sum(1 for _, _, code in calls if code != "OK"),
        "rss_peak_mb": round(max(memory), 1) if memory else None,
        "rss_mean_mb": round(float(np.mean(memory)), 1) if memory else None,
        "rss_start_mb": round(memory[0], 1) if memory else None,
    }


def markdown(rows: list[dict[str, Any]]) -> str:
    def f(value: float | None, fmt: str = "{:.0f}") -> str:
        return "-" if value is None else fmt.format(value)

    out = ["| minute | calls | calls/s | errors | p50 ms | p99 ms | server RSS MiB |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(
            f"| {r['minute']:g} | {r['calls']} | {r['calls_per_s']:.2f} | {r['errors']} | {f(r['p50_ms'])} "
            f"| {f(r['p99_ms'])} | {f(r['rss_mb'])} |"
        )
    return "\n".join(out)


def plot(report: dict[str, Any], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["minutes"]
    minutes = [r["minute"] for r in rows]
    fig, (lat, mem, err) = plt.subplots(3, 1, figsize=(8, 8), sharex=True)
    lat.plot(minutes, [r["p50_ms"] for r in rows], marker="o", label="p50")
    lat.plot(minutes, [r["p99_ms"] for r in rows], marker="o", label="p99")
    lat.set_ylabel("latency (ms)")
    lat.legend()
    lat.set_title(f"soak: {report['clients']} clients, {report['minutes_run']:.1f} min, {report['images']} images")
    samples = report["rss_samples"]
    mem.plot([t / 60 for t, _ in samples], [mb for _, mb in samples], color="tab:green")
    if report.get("max_rss_mb"):
        mem.axhline(report["max_rss_mb"], color="tab:red", linestyle="--", label="--max-rss-mb")
        mem.legend()
    mem.set_ylabel("server RSS (MiB)")
    err.bar(minutes, [r["errors"] for r in rows], width=0.6 * (minutes[0] if minutes else 1), color="tab:red")
    err.set_ylabel("errors")
    err.set_ylim(0, max([1] + [r["errors"] for r in rows]) * 1.1)
    err.set_xlabel("minute")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument(
        "--set",
        nargs="+",
        default=["synth_receipts", "synth_signs"],
        help="the project's rendered sets to send (round-robin)",
    )
    parser.add_argument("--limit", type=int, default=8, help="images per set")
    parser.add_argument("--max-side", type=int, default=960, help="shrink larger images (0: as rendered)")
    parser.add_argument("--bucket-s", type=float, default=60.0, help="rows of the table (default: per minute)")
    parser.add_argument("--target", help="a running server (default: start one)")
    parser.add_argument("--pid", type=int, help="the running server's process, for its RSS")
    parser.add_argument(
        "--server-arg",
        action="append",
        default=[],
        help="flag for the started server (repeatable; e.g. --server-arg=--max-rss-mb=1500)",
    )
    parser.add_argument("--timeout-s", type=float, default=120.0, help="deadline of each call")
    parser.add_argument("--documents", type=int, default=0, help="N pages of each document kind instead of --set")
    parser.add_argument(
        "--letter", action="store_true", help="with --documents: also N letter pages of text at 300 dpi (2550 x 3300)"
    )
    parser.add_argument("--rss-every-s", type=float, default=2.0, help="how often the server's RSS is sampled")
    parser.add_argument("--server-root", type=Path, default=REPO, help="tree the started server runs from")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "soak")
    args = parser.parse_args(argv)
    if args.letter and not args.documents:
        parser.error("--letter adds pages to --documents N")

    from clients.ocr_client import OcrCallError, OcrClient

    if args.documents:
        from bench.memory_pages import document_pages

        images = document_pages(args.documents, letter=args.letter)
    else:
        images = _images(args.set, args.limit, args.max_side)
    server = None if args.target else ServerProcess(args.server_arg, root=args.server_root)
    target = server.target if server is not None else args.target
    pid = server.process.pid if server is not None else args.pid
    try:
        with OcrClient(target, timeout=300) as probe:
            for _ in range(600):  # up to 10 minutes for the models, unless the started server exits first
                if server is not None and server.process.poll() is not None:
                    raise RuntimeError("the server exited")
                try:
                    probe.wait_until_serving(1.0)
                    break
                except TimeoutError:
                    pass
            else:
                raise TimeoutError(f"{target} not SERVING after 10 minutes")
            info = probe.server_info()
    except Exception:
        if server is None or server.process.poll() is None:
            raise
        status = server.close()
        print(f"the server exited with status {status} before serving:\n" + "".join(server.log[-5:]))
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "soak.json").write_text(
            json.dumps({"server_exit_status": status, "server_exited_early": True, "minutes": [], "total_calls": 0})
        )
        return 1
    duration = args.minutes * 60
    calls: list[tuple[float, float, str]] = []
    rss: list[tuple[float, float]] = []
    stop = threading.Event()
    lock = threading.Lock()
    started = time.monotonic()

    def client(k: int) -> None:
        with OcrClient(target, timeout=args.timeout_s) as c:
            i = k
            while not stop.is_set() and time.monotonic() - started < duration:
                t0 = time.monotonic()
                try:
                    c.recognize(images[i % len(images)])
                    code = "OK"
                except OcrCallError as exc:
                    code = exc.code.name if exc.code is not None else "UNAVAILABLE"
                t1 = time.monotonic()
                with lock:
                    calls.append((t1 - started, t1 - t0, code))
                i += args.clients
                if code != "OK":
                    time.sleep(0.2)  # a refusing or restarting server is not hammered

    def sampler() -> None:
        while not stop.is_set() and time.monotonic() - started < duration:
            mb = rss_mb(pid) if pid else None
            if mb is not None:
                rss.append((time.monotonic() - started, mb))
            if server is not None and server.process.poll() is not None:
                stop.set()  # the server exited (memory ceiling, crash): the soak ends here
                return
            time.sleep(args.rss_every_s)

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(args.clients)]
    threads.append(threading.Thread(target=sampler, daemon=True))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ran_s = time.monotonic() - started
    exited = server.process.poll() if server is not None else None
    status = server.close() if server is not None else None
    rows = summarize(calls, rss, args.bucket_s, max([ran_s] + [t for t, _, _ in calls]))
    ceiling = next((float(a.split("=", 1)[1]) for a in args.server_arg if a.startswith("--max-rss-mb=")), None)
    report = {
        "clients": args.clients,
        "minutes_planned": args.minutes,
        "minutes_run": ran_s / 60,
        "images": len(images),
        "sets": ["documents", "letter"][: 1 + args.letter] if args.documents else args.set,
        "max_side": 0 if args.documents else args.max_side,
        "server_root": str(args.server_root),
        "server_args": args.server_arg,
        "target": target,
        "provenance": provenance_of(info),
        "host": {"machine": platform.machine(), "cpus": os.cpu_count(), "python": platform.python_version()},
        "server_exit_status": exited if exited is not None else status if server is not None else None,
        "server_exited_early": exited is not None,
        "max_rss_mb": ceiling,
        "minutes": rows,
        "rss_samples": rss,
        "total_calls": len(calls),
        "overall": overall(calls, rss, ran_s),
        "total_errors": sum(r["errors"] for r in rows),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "soak.json").write_text(json.dumps(report, indent=1))
    png = plot(report, args.out / "soak.png")
    print(markdown(rows))
    print(
        f"\n{len(calls)} calls, {report['total_errors']} errors in {ran_s / 60:.1f} min with {args.clients} clients; "
        f"{report['provenance']}; plot {png}"
    )
    if exited is not None:
        print(f"the server exited during the soak with status {exited}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
