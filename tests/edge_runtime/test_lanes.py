"""Which lane a model run takes (edge_runtime.backends.base.Lanes): a run alone gets the wide lane (every
thread), overlapping runs the narrow ones (one-thread streams), never more at once than there are streams."""

from __future__ import annotations

import threading

from edge_runtime.backends.base import Lanes


class Recorder:
    """The lanes' infer function: records which lane ran, and holds a run until told to finish."""

    def __init__(self) -> None:
        self.ran: list[str] = []
        self.running = 0
        self.most = 0
        self.release = threading.Event()
        self.lock = threading.Lock()

    def __call__(self, lane: str, feeds: dict) -> list:
        with self.lock:
            self.ran.append(lane)
            self.running += 1
            self.most = max(self.most, self.running)
        self.release.wait(30)
        with self.lock:
            self.running -= 1
        return [feeds["x"]]


def test_a_run_alone_takes_the_wide_lane() -> None:
    recorder = Recorder()
    recorder.release.set()
    lanes = Lanes(["wide"], ["narrow", "narrow"], recorder)
    assert lanes.run({"x": 1}) == [1]
    assert lanes.submit({"x": 2}).result(30) == [2]
    assert recorder.ran == ["wide", "wide"]


def test_overlapping_runs_go_narrow_and_no_more_than_the_streams_at_once() -> None:
    recorder = Recorder()
    lanes = Lanes(["wide"], ["narrow", "narrow"], recorder)
    first = lanes.submit({"x": 0})  # alone: wide
    rest: list = []
    starter = threading.Thread(target=lambda: rest.extend(lanes.submit({"x": k}) for k in (1, 2)))
    starter.start()  # overlapping the first: narrow; the third waits (submit blocks) for a free stream
    starter.join(0.5)
    assert starter.is_alive() and recorder.ran == ["wide", "narrow"]
    recorder.release.set()
    starter.join(30)
    assert [f.result(30) for f in (first, *rest)] == [[0], [1], [2]]
    # the third started once a run ended: narrow beside the other, or wide when both had ended (timing)
    assert recorder.ran[:2] == ["wide", "narrow"] and len(recorder.ran) == 3 and recorder.most == 2


def test_several_runs_started_together_spread_over_the_streams() -> None:
    recorder = Recorder()
    recorder.release.set()
    lanes = Lanes(["wide"], ["narrow", "narrow"], recorder)
    assert lanes.run_many([{"x": k} for k in range(4)]) == [[0], [1], [2], [3]]
    assert recorder.ran == ["narrow"] * 4 and recorder.most <= 2


def test_without_streams_every_run_takes_the_wide_lanes_in_turn() -> None:
    recorder = Recorder()
    recorder.release.set()
    lanes = Lanes(["wide"], [], recorder)
    assert lanes.run_many([{"x": k} for k in range(3)]) == [[0], [1], [2]]
    assert recorder.ran == ["wide"] * 3 and recorder.most == 1


def test_openvino_leaves_core_placement_to_the_os() -> None:
    """Pinned, one-thread models of different compiled models or processes all start at core 0: the fleet
    agent's engine beside a server, or two one-thread processes, then share one core while the other idles."""
    from edge_runtime.backends import SessionOptions, load
    from models import load_bundle

    session = load("openvino", load_bundle().path("cls"), SessionOptions("cpu", 1, "f32", streams=2))
    assert session._compiled.get_property("ENABLE_CPU_PINNING") is False
