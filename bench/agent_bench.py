"""What the edge agent's outbox and uploader cost on top of the camera stream they serve (issue #11: <= 5 % CPU).

Two sides, interleaved round by round, in this one process (one engine, loaded once):

    stream   a camera stream in-process (bench.stream_bench's 1280x720 clip, paced like a live camera, LATEST_ONLY),
             its text events converted to fleet events and dropped
    agent    the same stream through the agent: each frame's events committed to the outbox (SQLite WAL,
             synchronous=FULL) and uploaded to a central (``python -m server --role central`` on loopback, SQLite;
             its CPU is not counted: it runs on another machine in a deployment)

Rounds alternate which side goes first. CPU is this process's user+system time (every thread: stream, outbox,
uploader, gRPC) from the stream's start to its end, for the agent side until the central acknowledged the last
event. The overhead is the agent side's median CPU over the stream side's; on 2 shared cores that difference moves
by several percent from round to round, so the agent side also counts its own CPU directly: the CPU of the threads
only it runs (uploader, the report call's reader, gRPC's) plus the time of the outbox commits on the camera's
thread. ``--lossless`` feeds every frame (ALL, unpaced) so both sides do exactly the same stream work and the
difference is the agent's alone; paced (the default) is a live camera, whose processed frames vary with the load,
so its difference is noisier. A camera's events are few, so the bench also measures the agent's CPU per event rate:
a replay at each of ``--rates`` events/s through the same outbox and uploader, its CPU over the camera stream's CPU
per second of video: the figure that holds for a busier scene.

    python -m bench.agent_bench                       # 3 rounds of a 10 s clip
    python -m bench.agent_bench --rounds 1 --seconds 3 --rates 10 --rate-seconds 2    # smoke
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

from bench.stream_bench import make_clip
from edge_runtime.arguments import add_engine_arguments, engine_config
from edge_runtime.stream import FlowMode, StreamSettings
from fleet.agent.agent import Agent
from fleet.agent.config import AgentConfig, CameraConfig, CentralConfig, OutboxConfig, ReplayConfig, UploadConfig
from fleet.agent.producers import CameraProducer, Provenance

ROOT = Path(__file__).resolve().parents[1]


def cpu_s() -> float:
    """This process's CPU seconds, but for the calling (bench's main) thread's own: its polling is not measured."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime - time.thread_time()


class Central:
    """A central on loopback (a child process) for the agent side to report to."""

    def __init__(self, folder: Path) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "server",
                "--role",
                "central",
                "--fleet-store",
                f"sqlite:///{folder / 'fleet.db'}",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.process.stdout is not None
        for line in self.process.stdout:
            found = re.search(r"listening on port (\d+)", line)
            if found:
                self.target = f"127.0.0.1:{found.group(1)}"
                threading.Thread(target=self.process.stdout.read, daemon=True).start()
                return
        raise RuntimeError("the central did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


class _Discard:
    """The stream side's outbox: takes the events and keeps nothing."""

    def __init__(self) -> None:
        self.events = 0

    def append(self, stream_id: str, events: list) -> list:
        self.events += len(events)
        return events


def _config(
    folder: Path, name: str, target: str, camera: CameraConfig | None = None, replay: ReplayConfig | None = None
) -> AgentConfig:
    return AgentConfig(
        device_id=f"bench-{name}",
        central=CentralConfig(target=target),
        outbox=OutboxConfig(path=str(folder / f"{name}.db")),
        upload=UploadConfig(backoff_initial_s=0.05, backoff_max_s=0.5),
        cameras=(camera,) if camera else (),
        replay=(replay,) if replay else (),
    )


def _drain(agent: Agent, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        backlog = agent.outbox.backlog()
        if agent.producers_done() and backlog.events == 0 and backlog.gaps == 0:
            return
        time.sleep(0.05)
    raise RuntimeError("the agent did not drain its outbox")


def stream_side(engine: Any, camera: CameraConfig) -> dict:
    sink = _Discard()
    producer = CameraProducer(camera, engine, sink, Provenance.of_engine(engine))  # type: ignore[arg-type]
    cpu0, wall0 = cpu_s(), time.perf_counter()
    thread = threading.Thread(target=producer.run, args=(threading.Event(),))  # on a thread, as in the agent
    thread.start()
    thread.join()
    return {
        "cpu_s": cpu_s() - cpu0,
        "wall_s": time.perf_counter() - wall0,
        "frames": producer.frames,
        "events": sink.events,
    }


# threads that only the agent side runs: its uploader, the report call's reader and gRPC's own threads
AGENT_THREADS = ("agent-uploader", "fleet-report-reader", "event_engine", "grpc_global_tim", "lifeguard")


def thread_cpu() -> dict[int, tuple[str, float]]:
    """CPU seconds of each live thread of this process, by thread id, with its name (Linux /proc)."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            stat = Path(f"/proc/self/task/{tid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        out[int(tid)] = (names.get(int(tid), comm), (int(fields[11]) + int(fields[12])) / tick)
    return out


def agent_side(engine: Any, camera: CameraConfig, folder: Path, target: str, name: str) -> dict:
    """Also the agent's own CPU: its threads' (uploader, gRPC) plus the outbox appends on the camera's thread."""
    agent = Agent(_config(folder, name, target, camera=camera), engine_factory=lambda: engine)
    appended = [0.0]
    append = agent.outbox.append

    def timed_append(stream_id: str, events: Sequence[Any]) -> list[Any]:
        t0 = time.thread_time()
        try:
            return append(stream_id, events)
        finally:
            appended[0] += time.thread_time() - t0

    agent.outbox.append = timed_append  # type: ignore[method-assign]
    before = thread_cpu()
    cpu0, wall0 = cpu_s(), time.perf_counter()
    agent.start()
    _drain(agent)
    cpu, wall = cpu_s() - cpu0, time.perf_counter() - wall0
    after = thread_cpu()
    own = appended[0] + sum(
        t - before.get(tid, (n, 0.0))[1] for tid, (n, t) in after.items() if n.startswith(AGENT_THREADS)
    )
    frames, events = agent.producers[0].frames, agent.producers[0].events
    agent.stop()
    return {
        "cpu_s": cpu,
        "wall_s": wall,
        "frames": frames,
        "events": events,
        "stored": agent.uploader.stats.events_stored,
        "own_cpu_s": own,
    }


def at_rate(folder: Path, target: str, rate: float, seconds: float) -> dict:
    """The agent alone (no camera): a replay of ``rate`` events/s for ``seconds``, until the central has them all.
    Its CPU is everything this process spent meanwhile (the engine is idle)."""
    events = max(1, int(rate * seconds))
    path = folder / f"replay-{rate:g}.jsonl"
    with open(path, "w", encoding="utf-8") as out:
        for n in range(events):
            out.write(
                json.dumps(
                    {
                        "stream_id": f"cam-{n % 4}",
                        "type": "STABLE",
                        "track_id": n,
                        "text": f"KD{n:05d}",
                        "confidence": 0.93,
                        "capture_time": time.time(),
                        "polygon": [[900, 400], [1160, 400], [1160, 470], [900, 470]],
                        "frame_width": 1280,
                        "frame_height": 720,
                        "bundle": "ppocrv6-small",
                        "precision": {"det": "fp32", "rec": "fp32"},
                    }
                )
                + "\n"
            )
    agent = Agent(_config(folder, f"rate-{rate:g}", target, replay=ReplayConfig(str(path), rate=rate)))
    cpu0, wall0 = cpu_s(), time.perf_counter()
    agent.start()
    _drain(agent)
    cpu, wall = cpu_s() - cpu0, time.perf_counter() - wall0
    batches = agent.uploader.stats.batches
    agent.stop()
    return {
        "rate": rate,
        "events": events,
        "batches": batches,
        "cpu_s": round(cpu, 3),
        "wall_s": round(wall, 3),
        "cpu_us_per_event": round(cpu / events * 1e6, 1),
        "cpu_cores": round(cpu / wall, 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.agent_bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the camera clip")
    parser.add_argument("--rounds", type=int, default=3, help="stream / agent pairs, interleaved")
    parser.add_argument(
        "--rates",
        type=float,
        nargs="*",
        default=[1.0, 10.0, 50.0],
        help="event rates (events/s) at which the agent alone is measured (none: skip)",
    )
    parser.add_argument("--rate-seconds", type=float, default=10.0, help="length of each of those runs")
    parser.add_argument("--lossless", action="store_true", help="every frame (ALL) as fast as the stream takes them")
    add_engine_arguments(parser)
    args = parser.parse_args(argv)

    from edge_runtime.pipeline import OcrEngine

    engine = OcrEngine(engine_config(args).replace(det_limit_type="max", det_limit_side_len=960))
    engine.warm_up()
    with tempfile.TemporaryDirectory(prefix="agent-bench-") as tmp:
        folder = Path(tmp)
        clip = folder / "clip.avi"
        make_clip(clip, args.seconds)
        mode = FlowMode.ALL if args.lossless else FlowMode.LATEST_ONLY
        camera = CameraConfig("cam-1", str(clip), realtime=not args.lossless, settings=StreamSettings(mode=mode))
        central = Central(folder)
        try:
            stream_side(engine, camera)  # warm-up, not counted: first shapes, page cache, the central's first call
            rounds = []
            for i in range(args.rounds):
                sides = {
                    "stream": partial(stream_side, engine, camera),
                    "agent": partial(agent_side, engine, camera, folder, central.target, f"agent-{i}"),
                }
                order = ("stream", "agent") if i % 2 == 0 else ("agent", "stream")  # neither side always first
                rounds.append({name: sides[name]() for name in order})
                print(
                    json.dumps(
                        {
                            "round": i + 1,
                            **{
                                k: {n: round(v, 3) if isinstance(v, float) else v for n, v in side.items()}
                                for k, side in rounds[-1].items()
                            },
                        }
                    ),
                    flush=True,
                )
            rates = [at_rate(folder, central.target, rate, args.rate_seconds) for rate in args.rates]
        finally:
            central.stop()
    stream_cpu = statistics.median(r["stream"]["cpu_s"] for r in rounds)
    agent_cpu = statistics.median(r["agent"]["cpu_s"] for r in rounds)
    stream_wall = statistics.median(r["stream"]["wall_s"] for r in rounds)
    per_camera_s = stream_cpu / args.seconds  # the camera's own CPU seconds per second of video
    report: dict[str, Any] = {
        "clip_s": args.seconds,
        "mode": mode.value,
        "rounds": args.rounds,
        "cpu_count": os.cpu_count(),
        "stream_cpu_s_median": round(stream_cpu, 3),
        "agent_cpu_s_median": round(agent_cpu, 3),
        "stream_cores_used": round(stream_cpu / stream_wall, 3),
        "stream_cpu_s_per_camera_s": round(per_camera_s, 3),
        "events_per_run": rounds[-1]["agent"]["events"],
        "overhead_pct": round((agent_cpu - stream_cpu) / stream_cpu * 100, 2),
        "overhead_pct_median_of_rounds": round(
            statistics.median(
                (r["agent"]["cpu_s"] - r["stream"]["cpu_s"]) / r["stream"]["cpu_s"] * 100 for r in rounds
            ),
            2,
        ),
        "frames_median": {side: statistics.median(r[side]["frames"] for r in rounds) for side in ("stream", "agent")},
        "cpu_ms_per_frame_median": {
            side: round(statistics.median(r[side]["cpu_s"] / max(r[side]["frames"], 1) for r in rounds) * 1000, 2)
            for side in ("stream", "agent")
        },
        "agent_own_cpu_s_median": round(statistics.median(r["agent"]["own_cpu_s"] for r in rounds), 3),
        "agent_own_pct_of_stream": round(
            statistics.median(r["agent"]["own_cpu_s"] for r in rounds) / stream_cpu * 100, 2
        ),
        "overhead_pct_per_round": [
            round((r["agent"]["cpu_s"] - r["stream"]["cpu_s"]) / r["stream"]["cpu_s"] * 100, 2) for r in rounds
        ],
    }
    if rates:  # the agent's cores at each rate over the camera's own cores (per second of video)
        report["agent_alone"] = rates
        report["overhead_pct_at_rate"] = {
            f"{r['rate']:g}/s": round(r["cpu_cores"] / per_camera_s * 100, 2) for r in rates
        }
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
