"""The uploader: outbox -> central over one ReportEvents call at a time, until the agent stops.

Per call: a hello (status only) whose answer carries the central's marks for every stream of the device ->
``outbox.reconcile`` (what the central already has is forgotten, whatever happened before: a restart of either
side, a lost acknowledgement) -> batches from ``outbox.pending`` above what was sent, up to ``window`` in flight,
each acknowledged batch -> ``outbox.ack``. The central stores an event only as its stream's mark + 1, so
per-stream order holds whatever is resent, and a resend is counted a duplicate, never stored twice.

Any failure ends the call: reconnect after a delay drawn with full jitter from an exponentially growing bound
(reset once a call made progress). A batch the central refuses as invalid (EVENT_INVALID) would be refused
forever and block its stream: the uploader then sends that batch's events one per request, and the one the
central refuses alone is quarantined by the outbox (kept there with the refusal, declared to the central as a
REFUSED gap and counted), so nothing is lost silently and the rest goes on. A batch too large for the central
(REPORT_TOO_LARGE) halves the batch size. After an idle spell the first new event waits ``linger_s`` for others to
join its batch: one request, one acknowledgement and one outbox commit for all of them instead of one each.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import grpc

from clients.ocr_client.fleet_types import DeviceStatus, Event, Gap, IngestResult
from clients.ocr_client.results import OcrCallError
from fleet.agent.config import UploadConfig
from fleet.agent.outbox import Outbox

__all__ = ["Uploader", "UploadStats", "full_jitter"]

log = logging.getLogger(__name__)
QUIET_S = 1.0  # idle this long after sending: report the fresh status; also how often the TTL is applied when idle
REFUSALS = ("EVENT_INVALID",)  # a reason that names the batch's content, not the call or the device


class Session(Protocol):
    def send(
        self, batch_id: int, events: Sequence[Event] = (), gaps: Sequence[Gap] = (), status: DeviceStatus | None = None
    ) -> None: ...

    def receive(self, timeout: float | None = 30.0) -> tuple[int, IngestResult]: ...

    def close(self) -> None: ...


def full_jitter(attempt: int, initial: float, maximum: float, rng: random.Random) -> float:
    """AWS's "full jitter": uniform in [0, min(maximum, initial * 2**attempt)], so reconnecting agents spread."""
    return rng.uniform(0.0, min(maximum, initial * (2.0 ** min(attempt, 30))))


@dataclass
class UploadStats:
    connects: int = 0
    failures: int = 0
    batches: int = 0
    events_sent: int = 0
    events_stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    last_error: str = ""
    connected: bool = False
    last_ack_time: float = 0.0
    failure_reasons: dict[str, int] = field(default_factory=dict)


@dataclass
class _Batch:
    batch_id: int
    events: list[Event]
    gaps: list[Gap]


class Uploader:
    """Runs on its own thread (``run(stop)``); ``connect()`` opens a new ReportSession for the device;
    ``status(fresh)`` is what goes with each report (counted anew when ``fresh``, else maybe a second old)."""

    def __init__(
        self,
        outbox: Outbox,
        connect: Callable[[], Session],
        config: UploadConfig,
        status: Callable[[bool], DeviceStatus],
        rng: random.Random | None = None,
    ) -> None:
        self.outbox, self.connect, self.config, self.status = outbox, connect, config, status
        self.rng = rng or random.Random()
        self.stats = UploadStats()
        self.batch_events = config.batch_events
        self._progress = False  # the current call had an acknowledgement: the next delay starts small again
        self._inflight: deque[_Batch] = deque()
        self._session: Session | None = None
        self._acked: dict[str, int] = {}  # the outbox's acknowledged marks, as this call knows them
        self._probe = 0  # events left to send one per request, to find the one the central refuses
        self._batch_id = 0
        self._wake = threading.Event()
        outbox.on_append(self._wake.set)

    def wake(self) -> None:
        """Stop waiting now (new events, or the agent stopping: the open call then sends its final status)."""
        self._wake.set()

    def interrupt(self) -> None:
        """End the open call at once (the agent stops and the final status took too long); what it had in flight
        is resent by the next start."""
        session = self._session
        if session is not None:
            session.close()
        self._wake.set()

    def run(self, stop: threading.Event) -> None:
        attempt = 0
        while not stop.is_set():
            at_once = False
            self._progress = False
            try:
                self._call(stop)
            except OcrCallError as error:
                if stop.is_set():  # the agent stopping ended the call
                    return
                at_once = self._failed(error)
            except Exception as exc:
                log.exception("upload failed")
                self._count_failure("INTERNAL", str(exc))
            finally:
                self.stats.connected = False
            if stop.is_set():
                return
            if at_once:
                continue
            attempt = 0 if self._progress else attempt + 1
            stop.wait(full_jitter(attempt, self.config.backoff_initial_s, self.config.backoff_max_s, self.rng))

    # ---- one call -------------------------------------------------------------------------------------------
    def _next_id(self) -> int:
        self._batch_id += 1
        return self._batch_id

    def _call(self, stop: threading.Event) -> None:
        """One ReportEvents call, until it fails (OcrCallError) or ``stop`` is set."""
        inflight: deque[_Batch] = deque()
        self._inflight = inflight
        session = self.connect()
        self._session = session
        self.stats.connects += 1
        try:
            hello = self._next_id()
            session.send(hello, status=self.status(True))
            inflight.append(_Batch(hello, [], []))
            self._acked = {}
            self._receive(session, inflight)  # acknowledges what the central already has (outbox.reconcile)
            self._acked = self.outbox.acked()
            self.stats.connected = True
            sent = self.outbox.acked()  # stream -> highest sequence sent (or acknowledged) on this call
            last_report, stale, expired = time.monotonic(), False, 0.0
            while not stop.is_set():
                window = 1 if self._probe else self.config.window
                while len(inflight) < window:
                    limit = 1 if self._probe else self.batch_events
                    events, gaps = self.outbox.pending(limit, self.config.batch_bytes, after=sent)
                    if not events and not gaps:
                        break
                    batch = _Batch(self._next_id(), events, gaps)
                    session.send(batch.batch_id, events, gaps, self.status(False))
                    inflight.append(batch)
                    last_report, stale = time.monotonic(), True
                    for e in events:
                        sent[e.stream_id] = max(sent.get(e.stream_id, 0), e.sequence)
                    for g in gaps:
                        sent[g.stream_id] = max(sent.get(g.stream_id, 0), g.last)
                    self.stats.batches += 1
                    self.stats.events_sent += len(events)
                if inflight:
                    result = self._receive(session, inflight)
                    if result.out_of_order:
                        self._resend_from(result, sent)
                    continue
                quiet = time.monotonic() - last_report
                if quiet >= self.config.status_every_s or (stale and quiet >= QUIET_S):
                    stale = False  # all sent, and quiet: the backlog as it is now, not as the batches counted it
                    batch = _Batch(self._next_id(), [], [])
                    session.send(batch.batch_id, status=self.status(True))
                    inflight.append(batch)
                    last_report = time.monotonic()
                    continue
                if time.monotonic() - expired >= QUIET_S:
                    self.outbox.expire()
                    expired = time.monotonic()
                if self._wake.wait(min(QUIET_S, self.config.status_every_s)) and self.config.linger_s > 0:
                    stop.wait(self.config.linger_s)  # let the events of the next moments join this batch
                self._wake.clear()
            self._final_status(session, inflight)
        finally:
            session.close()

    def _final_status(self, session: Session, inflight: deque[_Batch]) -> None:
        """The agent stops: take the answers of what is in flight, then report the backlog those acknowledgements
        left. Each batch carried the backlog counted before its events were acknowledged, and the quiet-time
        status would come a second later: without this last report the central shows that stale backlog until
        the device reports again, which may be never."""
        while inflight:
            self._receive(session, inflight)
        batch = _Batch(self._next_id(), [], [])
        session.send(batch.batch_id, status=self.status(True))
        inflight.append(batch)
        self._receive(session, inflight)

    def _resend_from(self, result: IngestResult, sent: dict[str, int]) -> None:
        """The central stored nothing beyond a hole: resend from its mark. A mark below what it acknowledged
        before (its store lost committed events) cannot be mended from here: fail the call, so the uploader backs
        off (CENTRAL_BEHIND in its failures) instead of resending in a loop."""
        acked = self.outbox.acked()
        for stream_id, mark in result.acks.items():
            if mark < acked.get(stream_id, 0):
                raise OcrCallError(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    "CENTRAL_BEHIND",
                    f"the central's mark {mark} of {stream_id} is below the {acked[stream_id]} it "
                    "acknowledged before: its store lost events",
                )
            if mark < sent.get(stream_id, 0):
                sent[stream_id] = mark

    def _receive(self, session: Session, inflight: deque[_Batch]) -> IngestResult:
        batch_id, result = session.receive(self.config.ack_timeout_s)
        batch = inflight.popleft()
        if batch_id != batch.batch_id:
            raise OcrCallError(
                grpc.StatusCode.INTERNAL, "ACK_MISMATCH", f"batch {batch.batch_id} answered as {batch_id}"
            )
        for stream_id, mark in result.acks.items():
            if mark > self._acked.get(stream_id, -1):  # a mark that moves: one outbox commit; else none
                self._acked[stream_id] = self.outbox.ack(stream_id, mark)
        self.stats.events_stored += result.stored
        self.stats.duplicates += result.duplicates
        self.stats.last_ack_time = time.time()
        self._progress = True
        if batch.events and self._probe:
            self._probe = max(0, self._probe - len(batch.events))
        return result

    # ---- failures -------------------------------------------------------------------------------------------
    def _failed(self, error: OcrCallError) -> bool:
        """Log and count; deal with a refused batch. True when the next call may start at once."""
        reason = error.reason or error.code.name
        self._count_failure(reason, str(error))
        batch = self._inflight[0] if self._inflight else None
        if error.code == grpc.StatusCode.INVALID_ARGUMENT and reason == "REPORT_TOO_LARGE":
            self.batch_events = max(1, self.batch_events // 2)
            log.warning("the central refused a batch as too large; batches now %d events", self.batch_events)
            return True
        if error.code == grpc.StatusCode.INVALID_ARGUMENT and reason in REFUSALS and batch is not None and batch.events:
            if len(batch.events) == 1:
                e = batch.events[0]
                if self.outbox.quarantine(e.stream_id, e.sequence, reason, str(error)):
                    self.stats.quarantined += 1
                    log.error(
                        "the central refused event %s/%d (%s): quarantined in the outbox, declared as a REFUSED gap",
                        e.stream_id,
                        e.sequence,
                        reason,
                    )
                self._probe = max(0, self._probe - 1)
            else:  # which event? send them one per request until the central refuses one alone
                self._probe = max(self._probe, len(batch.events))
                log.warning(
                    "the central refused a batch of %d events (%s); sending them one by one", len(batch.events), reason
                )
            return True
        log.warning("report call failed: %s %s", error.code.name, reason)
        return False

    def _count_failure(self, reason: str, message: str) -> None:
        self.stats.failures += 1
        self.stats.last_error = f"{reason}: {message}"[:500]
        self.stats.failure_reasons[reason] = self.stats.failure_reasons.get(reason, 0) + 1
