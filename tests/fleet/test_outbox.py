"""The agent's outbox: gap-free sequences, WAL, bounds under each policy, TTL, acknowledgements, SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from clients.ocr_client.fleet_types import Event, EventField, Gap
from fleet.agent.outbox import Outbox, decode_event, encode_event

ROOT = Path(__file__).resolve().parents[2]


def ev(i: int, text: str = "KX71ABC") -> Event:
    return Event(
        "",
        0,
        1000.0 + i,
        "APPEARED",
        i,
        f"{text}{i}",
        0.9,
        ((0, 0), (10, 0), (10, 5), (0, 5)),
        640,
        360,
        "ppocrv6-small",
        "openvino",
        {"det": "fp32", "rec": "int8"},
    )


def size(i: int) -> int:
    return len(encode_event(ev(i)).encode())


def test_key_fields_round_trip_and_an_older_payload_decodes_without_them(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    fields = (EventField("total", "12.50", "12,50", 0.875, "receipt"), EventField("container", "CSQU3054383", "x", 1.0))
    (stored,) = box.append("till", [replace(ev(1), fields=fields)])
    assert box.events("till") == [stored] and stored.fields == fields
    box.close()
    older = json.dumps(json.loads(encode_event(ev(2)))[:-1])  # what an agent before key fields committed
    assert decode_event("s", 7, older) == replace(ev(2), stream_id="s", sequence=7)


def test_sequences_gap_free_per_stream_and_round_trip(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    assert box.journal_mode == "wal"
    a = box.append("gate-1", [ev(1), ev(2)])
    b = box.append("gate-2", [ev(3)])
    c = box.append("gate-1", [ev(4)])
    assert [e.sequence for e in a + c] == [1, 2, 3] and b[0].sequence == 1
    assert box.events("gate-1")[2] == c[0] and box.events("gate-1")[0].precision == {"det": "fp32", "rec": "int8"}
    box.close()
    again = Outbox(tmp_path / "o.db")
    assert again.append("gate-1", [ev(5)])[0].sequence == 4
    assert again.backlog().events == 5


def test_pending_takes_streams_in_turn_in_order(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    box.append("a", [ev(i) for i in range(5)])
    box.append("b", [ev(i) for i in range(2)])
    events, gaps = box.pending(limit=4)
    assert [(e.stream_id, e.sequence) for e in events] == [("a", 1), ("b", 1), ("a", 2), ("b", 2)]
    assert gaps == []
    events, _ = box.pending(limit=10, after={"a": 2, "b": 2})
    assert [(e.stream_id, e.sequence) for e in events] == [("a", 3), ("a", 4), ("a", 5)]
    one, _ = box.pending(limit=10, max_bytes=1)
    assert len(one) == 1  # at least one event, whatever its size


def test_ack_is_idempotent_and_monotonic(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    box.append("a", [ev(i) for i in range(5)])
    assert box.ack("a", 3) == 3
    assert box.ack("a", 3) == 3 and box.ack("a", 1) == 3
    assert [e.sequence for e in box.events("a")] == [4, 5]
    assert box.backlog().bytes == size(3) + size(4)
    box.reconcile({"a": 9})  # the central has more than this file ever assigned: no sequence is reused
    assert box.events("a") == [] and box.append("a", [ev(9)])[0].sequence == 10


def test_drop_oldest_makes_room_with_exact_counters_and_gaps(tmp_path: Path) -> None:
    cap = size(0) * 4 + 10
    box = Outbox(tmp_path / "o.db", max_bytes=cap, policy="DROP_OLDEST")
    box.append("a", [ev(i) for i in range(3)])  # a:1-3
    box.append("b", [ev(i) for i in range(1)])  # b:1
    box.append("a", [ev(i) for i in range(3)])  # a:4-6 -> drops the three oldest: a:1-3
    assert box.backlog().drops["OUTBOX_FULL"] == 3
    assert box.dropped() == [Gap("a", 1, 3, "OUTBOX_FULL")]
    assert [e.sequence for e in box.events("a")] == [4, 5, 6] and box.backlog().bytes <= cap
    events, gaps = box.pending(limit=10)
    assert gaps == [Gap("a", 1, 3, "OUTBOX_FULL")]
    box.ack("a", 6)
    assert box.pending(limit=10)[1] == [] and box.dropped("a") == [Gap("a", 1, 3, "OUTBOX_FULL")]


def test_reject_new_refuses_without_sequences(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", max_bytes=size(0) * 2 + 5, policy="REJECT_NEW")
    assert [e.sequence for e in box.append("a", [ev(0), ev(1), ev(2)])] == [1, 2]
    assert box.append("a", [ev(3)]) == []
    assert box.backlog().drops == {"OUTBOX_FULL": 0, "REJECTED_NEW": 2, "EXPIRED": 0, "REFUSED": 0}
    assert box.pending()[1] == [] and box.dropped() == []
    box.ack("a", 2)
    assert box.append("a", [ev(4)])[0].sequence == 3  # gap-free: rejected events never took a number
    box.close()
    assert Outbox(tmp_path / "o.db").backlog().drops["REJECTED_NEW"] == 2  # totals persist


def test_ttl_expires_undelivered_events_as_gaps(tmp_path: Path) -> None:
    now = [100.0]
    box = Outbox(tmp_path / "o.db", ttl_s=10, clock=lambda: now[0])
    box.append("a", [ev(0), ev(1)])
    now[0] = 105.0
    box.append("a", [ev(2)])
    now[0] = 112.0
    assert box.expire() == 2
    assert box.dropped() == [Gap("a", 1, 2, "EXPIRED")] and [e.sequence for e in box.events("a")] == [3]
    events, gaps = box.pending()
    assert gaps == [Gap("a", 1, 2, "EXPIRED")] and [e.sequence for e in events] == [3]
    assert box.backlog().drops["EXPIRED"] == 2


CHILD = """
import sys
from fleet.agent.outbox import Outbox
from clients.ocr_client.fleet_types import Event
box = Outbox(sys.argv[1])
i = 0
while True:
    got = box.append("cam", [Event("", 0, float(i), "APPEARED", i, f"T{i}", 0.5) for _ in range(3)])
    print(got[-1].sequence, flush=True)
    i += 1
"""


def test_sigkill_while_appending_keeps_every_committed_event(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    last = 0
    try:
        for line in child.stdout:  # a printed sequence was committed before it was printed
            last = int(line)
            if last >= 300:
                break
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert last >= 300
    box = Outbox(path)
    sequences = [e.sequence for e in box.events("cam")]
    assert sequences == list(range(1, len(sequences) + 1)) and len(sequences) >= last
    assert box.append("cam", [ev(0)])[0].sequence == len(sequences) + 1


def test_quarantine_keeps_the_refused_event_and_declares_its_gap(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    box.append("a", [ev(1), ev(2), ev(3)])
    assert box.quarantine("a", 2, "EVENT_INVALID", "confidence out of range")
    assert not box.quarantine("a", 2, "EVENT_INVALID")  # no longer waiting
    assert [e.sequence for e in box.events("a")] == [1, 3]
    ((event, refusal, message),) = box.quarantined()
    assert (event.sequence, event.text, refusal, message) == (2, "KX71ABC2", "EVENT_INVALID", "confidence out of range")
    assert box.pending() == (box.events("a"), [Gap("a", 2, 2, "REFUSED")])
    assert box.backlog().drops["REFUSED"] == 1 and box.dropped() == [Gap("a", 2, 2, "REFUSED")]
    box.ack("a", 3)
    assert box.backlog().gaps == 0 and box.quarantined()[0][0].sequence == 2  # kept for an operator
