"""What HTTP/JSON costs per call beside gRPC, on the same server, image and connection kind, in one run.

One server (in this process, result cache off) answers both ports; the calls go round-robin, gRPC then HTTP,
``--repeat`` times, so a noisy neighbour slows both alike. Each transport keeps one connection open (a gRPC
channel, an HTTP/1.1 keep-alive connection) and builds its request once, as a client would per image; the
HTTP client parses the JSON answer per call, as the gRPC client deserializes its message. Recognize measures
a real read, GetServerInfo the transports alone (no model runs). The HTTP path is the gRPC path plus the
gateway (JSON <-> proto, an in-process call over a unix socket), so its overhead is the difference.

    python -m bench.http_bench [--image samples/receipt.jpg] [--repeat 20] [--info-repeat 300] [--json out.json]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["main"]


def _stats(seconds: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in seconds)
    return {"median_ms": round(statistics.median(ms), 3), "p90_ms": round(ms[int(0.9 * (len(ms) - 1))], 3)}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _timed(call: Callable[[], Any]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.http_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", type=Path, default=Path("samples/receipt.jpg"))
    parser.add_argument("--repeat", type=int, default=20, help="timed Recognize calls per transport")
    parser.add_argument("--info-repeat", type=int, default=300, help="timed GetServerInfo calls per transport")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)

    import grpc

    from bench.latency import _cpu
    from clients.ocr_client.pb import ocr_pb2, ocr_pb2_grpc
    from edge_runtime.config import EngineConfig, from_env
    from edge_runtime.cpu import cpu_features
    from edge_runtime.pipeline import OcrEngine
    from server.config import ServerConfig
    from server.embedded import ServerThread

    image = args.image.read_bytes()
    engine = OcrEngine(from_env(EngineConfig))
    config = ServerConfig(host="127.0.0.1", port=0, http_port=_free_port(), calls_per_s=0, pixels_per_s=0)  # no limits
    server = ServerThread(lambda: engine, config)
    load_before = os.getloadavg()
    try:
        stub = ocr_pb2_grpc.OcrServiceStub(grpc.insecure_channel(server.target))
        connection = http.client.HTTPConnection("127.0.0.1", server.server.http_port, timeout=120)
        grpc_request = ocr_pb2.RecognizeRequest(image=ocr_pb2.Image(content=image))
        http_body = json.dumps({"image": {"content": base64.b64encode(image).decode()}})

        def over_http(method: str, path: str, body: str | None = None) -> Any:
            headers = {"content-type": "application/json"} if body is not None else {}
            connection.request(method, path, body=body, headers=headers)
            answer = connection.getresponse()
            data = answer.read()
            assert answer.status == 200, data[:300]
            return json.loads(data)

        calls: dict[str, dict[str, Callable[[], Any]]] = {
            "Recognize": {
                "grpc": lambda: stub.Recognize(grpc_request, timeout=120),
                "http": lambda: over_http("POST", "/v1/images:recognize", http_body),
            },
            "GetServerInfo": {
                "grpc": lambda: stub.GetServerInfo(ocr_pb2.GetServerInfoRequest(), timeout=120),
                "http": lambda: over_http("GET", "/v1/serverInfo"),
            },
        }
        lines = over_http("POST", "/v1/images:recognize", http_body)["lines"]
        assert [ln["text"] for ln in lines] == [ln.text for ln in stub.Recognize(grpc_request).lines]
        for method in calls.values():  # warm-up: kernels per shape, connections
            for call in method.values():
                for _ in range(3):
                    call()
        times: dict[str, dict[str, list[float]]] = {m: {"grpc": [], "http": []} for m in calls}
        repeats = {"Recognize": args.repeat, "GetServerInfo": args.info_repeat}
        for i in range(max(repeats.values())):
            for name, method in calls.items():
                if i < repeats[name]:
                    for transport, call in method.items():
                        times[name][transport].append(_timed(call))
        connection.close()
    finally:
        server.stop()
    rows: dict[str, dict[str, Any]] = {}
    for name, by in times.items():
        g, h = _stats(by["grpc"]), _stats(by["http"])
        overhead = round(h["median_ms"] - g["median_ms"], 3)
        rows[name] = {"grpc": g, "http": h, "overhead_median_ms": overhead}
    report: dict[str, Any] = {
        "command": "python -m bench.http_bench " + " ".join(sys.argv[1:] if argv is None else argv),
        "image": str(args.image),
        "image_bytes": len(image),
        "repeat": repeats,
        "cpu": _cpu(),
        "cpu_flags": cpu_features(),
        "python": platform.python_version(),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "results": rows,
    }
    print("| call | gRPC median (p90) ms | HTTP/JSON median (p90) ms | HTTP overhead, median |")
    print("|---|---|---|---|")
    for name, row in rows.items():
        g, h = row["grpc"], row["http"]
        print(
            f"| {name} | {g['median_ms']:.2f} ({g['p90_ms']:.2f}) | {h['median_ms']:.2f} ({h['p90_ms']:.2f}) "
            f"| {row['overhead_median_ms']:+.2f} ms |"
        )
    print(json.dumps({k: v for k, v in report.items() if k != "results"}))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
