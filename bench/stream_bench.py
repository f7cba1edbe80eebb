"""Camera-stream bench: the stream pipeline (change detection, tracks, reused readings) versus full OCR on
every frame it gets to, on the same generated 1280x720 30 fps clip of mostly static text, in one run.

The clip is a camera's view of a noisy wall with signs, a price that changes and a notice that comes and
goes, shaken by +-2 px (sub-pixel) every frame and JPEG-compressed (``--jitter 0`` for a tripod). Both sides
read the clip as a live camera (paced at 30 fps, newest-frame-wins, LATEST_ONLY flow control)
and report processed frames/s, frames dropped, process CPU time, and capture-to-event latency: from the
moment a text became visible in the clip to the moment the side reported it (stream: APPEARED / UPDATED
event; full OCR: the first result whose lines contain the text). ``--lossless`` instead feeds every frame
(ALL) as fast as each side can take them: frames/s is then capacity, not pacing.

    python -m bench.stream_bench                 # 10 s clip
    python -m bench.stream_bench --seconds 2     # smoke test

It also reports how many such cameras at 5 and 15 fps the machine's cores would serve in real time, from
the stream side's CPU per consumed frame measured with every frame fed (an estimate: one camera measured,
scaled by the cores; not a run of many cameras at once).

``--cameras N [N ...] --fps F [F ...]`` instead runs N cameras at once for every N and F: in-process
sessions sharing one engine through the server's scheduler (``FrameScheduler`` on one inference thread,
round-robin by stream), each fed the clip's JPEG frames (offset per camera) at F fps with lossless flow
control (ALL), so a camera that cannot keep up shows as growing lag (capture to result). A camera keeps real
time when every frame was answered and its lag grew by less than two frame periods from the run's second
quarter to its last; the report gives, per F, the most cameras of those tried that all kept real time.

    python -m bench.stream_bench --cameras 1 2 4 --fps 5 15 --seconds 20
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_runtime.arguments import add_engine_arguments, engine_config
from edge_runtime.pipeline import OcrEngine
from edge_runtime.stream import EventType, FlowMode, Frame, FrameScheduler, StreamSettings, run_stream
from edge_runtime.stream.flow import FlowCancelled, FlowClosed, FlowQueue
from edge_runtime.stream.sources import VideoSource
from edge_runtime.stream.tracking import similarity

FPS = 30.0
SIZE = (1280, 720)


@dataclass(frozen=True)
class Cue:
    """``text`` becomes visible at frame ``frame``."""

    text: str
    frame: int


def make_clip(path: Path, seconds: float, seed: int = 0, jitter: float = 2.0) -> list[Cue]:
    """Two static signs, a price that changes at 1/2, a notice shown from 1/4 to 3/4, a number plate; on a
    noisy wall, a camera shaking by up to ``jitter`` px (sub-pixel) per frame, sensor noise, JPEG."""
    n = max(int(seconds * FPS), 8)
    w, h = SIZE
    rng = np.random.default_rng(seed)
    font = cv2.FONT_HERSHEY_DUPLEX
    pad = 16
    blotch = cv2.resize(
        rng.normal(0, 10, ((h + 2 * pad) // 16, (w + 2 * pad) // 16)).astype(np.float32),
        (w + 2 * pad, h + 2 * pad),
        interpolation=cv2.INTER_CUBIC,
    )
    wall = np.clip(np.full((h + 2 * pad, w + 2 * pad, 3), (70, 50, 45), np.float32) + blotch[..., None], 0, 255)

    def board(price: str, notice: bool) -> np.ndarray:
        img = wall.astype(np.uint8)
        cv2.rectangle(img, (80 + pad, 60 + pad), (1200 + pad, 300 + pad), (25, 25, 25), -1)
        cv2.putText(img, "CENTRAL STATION", (140 + pad, 150 + pad), font, 2.2, (255, 255, 255), 4, cv2.LINE_AA)
        cv2.putText(img, "Platform 3  Northbound", (140 + pad, 250 + pad), font, 1.6, (0, 220, 255), 3, cv2.LINE_AA)
        cv2.putText(img, "COFFEE", (140 + pad, 450 + pad), font, 1.8, (255, 255, 255), 3, cv2.LINE_AA)
        cv2.putText(img, price, (520 + pad, 450 + pad), font, 1.8, (0, 220, 255), 3, cv2.LINE_AA)
        cv2.rectangle(img, (880 + pad, 400 + pad), (1160 + pad, 470 + pad), (235, 235, 235), -1)  # a plate
        cv2.putText(img, "KD 4821", (900 + pad, 452 + pad), font, 1.6, (15, 15, 15), 3, cv2.LINE_AA)
        if notice:
            cv2.putText(img, "MIND THE GAP", (140 + pad, 620 + pad), font, 1.8, (60, 60, 255), 3, cv2.LINE_AA)
        return img

    quarter, half, three_q = n // 4, n // 2, 3 * n // 4
    boards = {(p, m): board(p, m) for p in ("2.40", "2.75") for m in (False, True)}
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), FPS, (w, h))
    for i in range(n):
        dx, dy = rng.uniform(-jitter, jitter, 2) if jitter else (0.0, 0.0)
        world = boards[("2.40" if i < half else "2.75", quarter <= i < three_q)]
        img = cv2.warpAffine(
            world, np.array([[1, 0, -pad - dx], [0, 1, -pad - dy]], np.float32), (w, h), flags=cv2.INTER_LINEAR
        ).astype(np.int16)
        img += rng.normal(0, 3, (h, w, 1)).astype(np.int16)  # sensor noise
        writer.write(np.clip(img, 0, 255).astype(np.uint8))
    writer.release()
    return [
        Cue("CENTRAL STATION", 0),
        Cue("Platform 3 Northbound", 0),
        Cue("COFFEE", 0),
        Cue("2.40", 0),
        Cue("KD 4821", 0),
        Cue("MIND THE GAP", quarter),
        Cue("2.75", half),
    ]


def _first_seen(reports: Iterable[tuple[float, str]], cues: list[Cue], clip_start: float) -> dict[str, float | None]:
    """Capture-to-report latency (ms) of each cue: first report of a similar text at or after it appeared."""
    latency: dict[str, float | None] = {c.text: None for c in cues}
    for at, text in reports:
        for cue in cues:
            visible = clip_start + cue.frame / FPS
            if latency[cue.text] is None and at >= visible and similarity(text, cue.text) >= 0.85:
                latency[cue.text] = round((at - visible) * 1000, 1)
    return latency


# frames processed, frames dropped, (time, text) reports, the clip's start on the capture clock, extra figures
SideResult = tuple[int, int, list[tuple[float, str]], float, dict[str, Any]]


def _measure(run: Callable[[], SideResult], cues: list[Cue]) -> dict[str, Any]:
    """``run`` returns frames processed (taken from flow control and answered), frames dropped, the
    (time, text) reports, the clip's start on the capture clock, and extra figures."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    processed, dropped, reports, clip_start, extra = run()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    latency = _first_seen(reports, cues, clip_start)
    found = [v for v in latency.values() if v is not None]
    return {
        "frames_processed": processed,
        "frames_dropped": dropped,
        "wall_s": round(wall, 3),
        "processed_fps": round(processed / wall, 2),
        "cpu_s": round(cpu, 3),
        "cpu_cores_used": round(cpu / wall, 2),
        "cpu_ms_per_processed_frame": round(cpu * 1000 / max(processed, 1), 1),
        "latency_ms": latency,
        "latency_ms_max": max(found) if found else None,
        "texts_missed": [t for t, v in latency.items() if v is None],
        **extra,
    }


def _source(path: Path, lossless: bool) -> VideoSource:
    return VideoSource(path, pace=not lossless)


def stream_side(engine: OcrEngine, path: Path, lossless: bool) -> Callable[[], SideResult]:
    def run() -> SideResult:
        settings = StreamSettings(mode=FlowMode.ALL if lossless else FlowMode.LATEST_ONLY)
        processed = dropped = skipped = lines_read = 0
        detected = 0.0
        reports: list[tuple[float, str]] = []
        starts: list[float] = []
        events: dict[str, int] = {}
        with run_stream(engine, _source(path, lossless), settings) as results:
            for result in results:
                if result.final:
                    continue
                processed += 1
                skipped += result.skipped
                lines_read += result.lines_read
                detected += result.detected_area
                for e in result.events:
                    events[e.type.value] = events.get(e.type.value, 0) + 1
                dropped = result.frames_dropped
                starts.append(result.capture_time - result.sequence / FPS)
                now = time.time()
                reports += [(now, e.text) for e in result.events if e.type in (EventType.APPEARED, EventType.UPDATED)]
        extra = {
            "frames_unchanged_no_model": skipped,
            "lines_recognized": lines_read,
            "detector_frames_equivalent": round(detected, 2),
            "events": events,
        }
        return processed, dropped, reports, min(starts) if starts else 0.0, extra

    return run


def full_ocr_side(engine: OcrEngine, path: Path, lossless: bool) -> Callable[[], SideResult]:
    def run() -> SideResult:
        flow: FlowQueue[Frame] = FlowQueue(FlowMode.ALL if lossless else FlowMode.LATEST_ONLY, 8)
        source = _source(path, lossless)

        def produce() -> None:
            try:
                for frame in source:
                    flow.put(frame)
            except (FlowCancelled, FlowClosed):
                pass
            finally:
                flow.close()

        producer = threading.Thread(target=produce, daemon=True)
        producer.start()
        processed = dropped = lines_read = 0
        reports: list[tuple[float, str]] = []
        starts: list[float] = []
        try:
            while True:
                try:
                    delivery = flow.get()
                except FlowClosed:
                    break
                frame = delivery.item
                if not isinstance(frame.image, np.ndarray):  # _source opens the clip with encode="raw"
                    raise TypeError(f"frame {frame.sequence} is not a decoded array")
                result = engine.recognize(frame.image)
                processed += 1
                dropped = delivery.dropped_total
                starts.append(frame.capture_time - frame.sequence / FPS)
                now = time.time()
                reports += [(now, line.text) for line in result.lines]
                lines_read += len(result.lines)
        finally:
            flow.cancel()
            source.close()
            producer.join(10)
        extra = {
            "frames_unchanged_no_model": 0,
            "lines_recognized": lines_read,
            "detector_frames_equivalent": processed,
            "events": {},
        }
        return processed, dropped, reports, min(starts) if starts else 0.0, extra

    return run


def _clip_jpegs(path: Path, limit: int = 150) -> list[bytes]:
    """The clip's first ``limit`` frames, JPEG-encoded as an IP camera sends them."""
    capture = cv2.VideoCapture(str(path))
    frames: list[bytes] = []
    while len(frames) < limit:
        ok, image = capture.read()
        if not ok:
            break
        frames.append(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes())
    capture.release()
    return frames


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else 0.0


def cameras_run(
    engine: OcrEngine, jpegs: list[bytes], cameras: int, fps: float, seconds: float, workers: int = 1
) -> dict:
    """``cameras`` streams at ``fps`` for ``seconds``, sharing ``engine`` through one FrameScheduler that runs
    ``workers`` frames at a time (the server's ``inference_threads``)."""
    executor = ThreadPoolExecutor(workers, thread_name_prefix="ocr-infer")
    scheduler = FrameScheduler(executor, workers)
    n = max(int(seconds * fps), 8)
    start = time.time() + 0.5
    per_camera: list[dict] = [{} for _ in range(cameras)]

    def camera(k: int) -> None:
        def frames() -> Iterator[Frame]:
            for i in range(n):
                at = start + i / fps  # when the camera took it; a camera held up by back-pressure falls behind
                delay = at - time.time()
                if delay > 0:
                    time.sleep(delay)
                yield Frame(jpegs[(k * 17 + i) % len(jpegs)], i, at)

        lags: list[float] = []
        errors = ahead = 0
        with run_stream(engine, frames(), StreamSettings(mode=FlowMode.ALL), scheduler=scheduler) as results:
            for result in results:
                if result.final:
                    continue
                lags.append((time.time() - result.capture_time) * 1000)
                errors += result.error is not None
                ahead = max(ahead, result.frames_ahead)
        q = max(len(lags) // 4, 1)
        growth = _median(lags[-q:]) - _median(lags[q : 2 * q])
        period_ms = 1000 / fps
        per_camera[k] = {
            "frames": len(lags),
            "errors": errors,
            "lag_ms_median": round(_median(lags), 1),
            "lag_ms_last_quarter": round(_median(lags[-q:]), 1),
            "lag_ms_max": round(max(lags, default=0.0), 1),
            "lag_growth_ms": round(growth, 1),
            "max_frames_ahead": ahead,
            "keeps_real_time": len(lags) == n and not errors and growth < 2 * period_ms,
        }

    cpu0, wall0 = time.process_time(), time.perf_counter()
    threads = [threading.Thread(target=camera, args=(k,), name=f"camera-{k}") for k in range(cameras)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    executor.shutdown(wait=True)
    frames = sum(c["frames"] for c in per_camera)
    return {
        "cameras": cameras,
        "fps": fps,
        "workers": workers,
        "frames_per_camera": n,
        "wall_s": round(wall, 2),
        "cpu_cores_used": round(cpu / wall, 2),
        "cpu_ms_per_frame": round(cpu * 1000 / max(frames, 1), 1),
        "all_keep_real_time": all(c["keeps_real_time"] for c in per_camera),
        "per_camera": per_camera,
    }


def cameras_main(args: argparse.Namespace, engine: OcrEngine) -> int:
    with tempfile.TemporaryDirectory() as folder:
        clip = Path(folder) / "stream_bench.avi"
        make_clip(clip, min(args.seconds, 5.0), jitter=args.jitter)
        jpegs = _clip_jpegs(clip)
    runs = []
    for fps in args.fps:
        for cameras in args.cameras:
            run = cameras_run(engine, jpegs, cameras, fps, args.seconds, args.workers)
            runs.append(run)
            growth = max(c["lag_growth_ms"] for c in run["per_camera"])
            verdict = "real time" if run["all_keep_real_time"] else "BEHIND"
            print(
                f"{cameras:3d} cameras at {fps:4.1f} fps: {verdict:9s} "
                f"lag at the end {max(c['lag_ms_last_quarter'] for c in run['per_camera']):8.1f} ms, "
                f"growth {growth:8.1f} ms, "
                f"cores {run['cpu_cores_used']:.2f}, cpu/frame {run['cpu_ms_per_frame']} ms",
                file=sys.stderr,
            )
    served = {
        f"at_{fps:g}_fps": max([r["cameras"] for r in runs if r["fps"] == fps and r["all_keep_real_time"]], default=0)
        for fps in args.fps
    }
    report = {
        "clip": {"width": SIZE[0], "height": SIZE[1], "jitter_px": args.jitter, "encoding": "jpeg q85"},
        "engine": {
            "bundle": engine.provenance.bundle,
            "backend": engine.provenance.backend,
            "threads": engine.config.num_threads,
        },
        "cores": os.cpu_count(),
        "cameras_served": served,
        "runs": runs,
    }
    print(f"720p cameras kept in real time (of those tried): {served}", file=sys.stderr)
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.stream_bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="clip length (30 fps)")
    parser.add_argument("--lossless", action="store_true", help="every frame, as fast as possible (capacity)")
    parser.add_argument("--jitter", type=float, default=2.0, help="camera shake, +- pixels per frame (0: tripod)")
    parser.add_argument("--no-capacity", action="store_true", help="skip the lossless run the camera count uses")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--cameras",
        type=int,
        nargs="+",
        metavar="N",
        help="run N simultaneous cameras instead (each N given, with each --fps)",
    )
    parser.add_argument(
        "--fps",
        type=float,
        nargs="+",
        default=[5.0, 15.0],
        metavar="F",
        help="--cameras: frames per second of each camera (default: 5 15)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="--cameras: frames computed at once (the server's OCR_INFERENCE_THREADS, default 1)",
    )
    add_engine_arguments(parser)
    args = parser.parse_args(argv)

    engine = OcrEngine(engine_config(args))
    engine.warm_up()
    if args.cameras:
        return cameras_main(args, engine)
    with tempfile.TemporaryDirectory() as folder:
        clip = Path(folder) / "stream_bench.avi"
        cues = make_clip(clip, args.seconds, jitter=args.jitter)
        report: dict[str, Any] = {
            "clip": {
                "width": SIZE[0],
                "height": SIZE[1],
                "fps": FPS,
                "frames": int(max(args.seconds * FPS, 8)),
                "mode": "lossless (ALL)" if args.lossless else "camera (paced, LATEST_ONLY)",
            },
            "engine": {
                "bundle": engine.provenance.bundle,
                "backend": engine.provenance.backend,
                "device": engine.provenance.device,
                "threads": engine.config.num_threads,
            },
            "stream": _measure(stream_side(engine, clip, args.lossless), cues),
            "full_ocr_every_frame": _measure(full_ocr_side(engine, clip, args.lossless), cues),
        }
        s, f = report["stream"], report["full_ocr_every_frame"]
        report["cpu_per_frame_ratio_full_over_stream"] = round(
            f["cpu_ms_per_processed_frame"] / max(s["cpu_ms_per_processed_frame"], 1e-6), 2
        )
        if not args.no_capacity:
            capacity = _measure(stream_side(engine, clip, True), cues)
            per_frame_s = capacity["cpu_s"] / max(capacity["frames_processed"], 1)
            cores = os.cpu_count() or 1
            report["cameras_served_estimate"] = {
                "cpu_ms_per_frame_lossless": round(per_frame_s * 1000, 1),
                "cores": cores,
                **{f"at_{fps}_fps": int(cores / (per_frame_s * fps)) for fps in (5, 15)},
            }
    print(f"{'':24s}{'stream':>12s}{'full OCR':>12s}", file=sys.stderr)
    for key in (
        "frames_processed",
        "frames_unchanged_no_model",
        "lines_recognized",
        "frames_dropped",
        "processed_fps",
        "cpu_s",
        "cpu_cores_used",
        "cpu_ms_per_processed_frame",
        "latency_ms_max",
    ):
        print(f"{key:24s}{s[key]!s:>12s}{f[key]!s:>12s}", file=sys.stderr)
    print(f"cpu per frame, full OCR / stream: {report['cpu_per_frame_ratio_full_over_stream']}x", file=sys.stderr)
    if "cameras_served_estimate" in report:
        print(f"720p cameras served (estimate): {report['cameras_served_estimate']}", file=sys.stderr)
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
