"""What security costs per call: the same calls against a plain server, one with tokens + audit log + redaction,
and one that adds mutual TLS, interleaved round by round on one machine (only the ratios are comparable).

Calls are sequential (one in flight), so the figures are per-call latency, not throughput:
``GetServerInfo`` (no model run: transport and interceptors only) and ``Recognize`` of a one-word crop
(``skip_detection``: the smallest model call). Limits are set out of reach so no call is refused, but the buckets
still run.

    python -m bench.security_bench [--rounds 7] [--calls 40] [--json bench/out/security_bench.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from clients.ocr_client import OcrClient
from edge_runtime.config import EngineConfig
from edge_runtime.pipeline import OcrEngine
from server.config import ServerConfig
from server.embedded import ServerThread
from server.security.devpki import make_dev_pki

TOKEN = "bench-token"


def _word_png() -> bytes:
    canvas = np.full((48, 220, 3), 255, np.uint8)
    cv2.putText(canvas, "INVOICE", (8, 36), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (0, 0, 0), 2, cv2.LINE_AA)
    return cv2.imencode(".png", canvas)[1].tobytes()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.security_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=40, help="calls per method, system and round")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    root = Path(tempfile.mkdtemp(prefix="security-bench-"))
    pki = make_dev_pki(root / "pki")
    tokens = root / "tokens.json"
    tokens.write_text(
        json.dumps(
            {
                "tokens": [
                    {
                        "sha256": hashlib.sha256(TOKEN.encode()).hexdigest(),
                        "principal": "bench",
                        "scopes": ["ocr.recognize"],
                    }
                ]
            }
        )
    )
    plain = ServerConfig(host="127.0.0.1", port=0, calls_per_s=1e9, calls_burst=1e9, pixels_per_s=1e12)
    secured = replace(plain, tokens_file=str(tokens), audit_log=str(root / "audit.log"), redact="email,phone,card")
    configs = {
        "plain": plain,
        "tokens+audit+redact": secured,
        "mtls+tokens+audit+redact": replace(
            secured, tls_cert=str(pki.server_cert), tls_key=str(pki.server_key), tls_client_ca=str(pki.ca)
        ),
    }
    engine = OcrEngine(EngineConfig())
    servers = {name: ServerThread(lambda: engine, config) for name, config in configs.items()}
    clients = {
        "plain": OcrClient(servers["plain"].target),
        "tokens+audit+redact": OcrClient(servers["tokens+audit+redact"].target, token=TOKEN),
        "mtls+tokens+audit+redact": OcrClient(
            servers["mtls+tokens+audit+redact"].target, token=TOKEN, ca=pki.ca, cert=pki.client_cert, key=pki.client_key
        ),
    }
    word = _word_png()
    methods = {
        "GetServerInfo": lambda c: c.server_info(),
        "Recognize": lambda c: c.recognize(word, skip_detection=True),
    }
    samples: dict[tuple[str, str], list[float]] = {(m, s): [] for m in methods for s in configs}
    try:
        for client in clients.values():  # warm: connections, handshakes, first model runs
            for call in methods.values():
                for _ in range(3):
                    call(client)
        for _ in range(args.rounds):
            for method, call in methods.items():
                for system, client in clients.items():
                    for _ in range(args.calls):
                        t0 = time.perf_counter()
                        call(client)
                        samples[(method, system)].append((time.perf_counter() - t0) * 1000)
    finally:
        for client in clients.values():
            client.close()
        for server in servers.values():
            server.stop()
    rows = []
    for method in methods:
        base = statistics.median(samples[(method, "plain")])
        for system in configs:
            values = samples[(method, system)]
            p50 = statistics.median(values)
            p95 = sorted(values)[int(0.95 * (len(values) - 1))]
            rows.append(
                {
                    "method": method,
                    "system": system,
                    "calls": len(values),
                    "p50_ms": round(p50, 3),
                    "p95_ms": round(p95, 3),
                    "p50_vs_plain": round(p50 / base, 3),
                }
            )
    print(f"{'method':<14} {'system':<26} {'calls':>5} {'p50 ms':>8} {'p95 ms':>8} {'p50 x plain':>11}")
    for r in rows:
        print(
            f"{r['method']:<14} {r['system']:<26} {r['calls']:>5} {r['p50_ms']:>8} {r['p95_ms']:>8} "
            f"{r['p50_vs_plain']:>11}"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"rounds": args.rounds, "calls": args.calls, "results": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
