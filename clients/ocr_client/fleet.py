"""FleetClient: a synchronous client of fleet.v1.FleetService that speaks the fleet's wire types (fleet_types).

Operators ask questions (``query_events``, ``list_devices``, ``list_sightings``, ``watch_events``,
``get_fleet_stats``, ``delete_device_data``); an edge agent reports through a ``ReportSession`` (the bidi
ReportEvents call: send batches, receive their acknowledgements, several batches may be in flight). Failed calls
raise ``OcrCallError`` (gRPC code + the server's stable reason). Messages are converted only in fleet_convert.py.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import grpc

from clients.ocr_client import fleet_convert as convert
from clients.ocr_client.client import auth_metadata, open_channel
from clients.ocr_client.fleet_types import (
    DeleteResult,
    DeviceStatus,
    Event,
    EventFilter,
    FleetStats,
    Gap,
    IngestResult,
    Page,
    StoredEvent,
)
from clients.ocr_client.pb import FLEET_SERVICE_NAME, fleet_pb2, fleet_pb2_grpc
from clients.ocr_client.results import OcrCallError

__all__ = ["FleetClient", "ReportSession", "Watch"]

_END = object()
# EventFilter is frozen, so one shared default (no filter: every event) is safe.
_EVERY_EVENT = EventFilter()


class ReportSession:
    """One ReportEvents call. ``send`` queues a batch (it returns at once); ``receive`` waits for the next
    acknowledgement, in the order the batches were sent. Acknowledgements come after the central committed the
    batch, so the caller may then forget those events. Any failure of the call (a refused batch, the central
    gone, ``receive``'s timeout) raises ``OcrCallError``; the session is then over: open a new one and resend
    from the acknowledged marks (the central stores each event once whatever is resent)."""

    def __init__(
        self, stub: fleet_pb2_grpc.FleetServiceStub, metadata: tuple[tuple[str, str], ...], device_id: str
    ) -> None:
        self.device_id = device_id
        self._requests: queue.Queue = queue.Queue()
        self._responses: queue.Queue = queue.Queue()
        self._call = stub.ReportEvents(iter(self._requests.get, _END), metadata=metadata)
        self._reader = threading.Thread(target=self._read, name="fleet-report-reader", daemon=True)
        self._reader.start()
        self.closed = False

    def _read(self) -> None:
        try:
            for response in self._call:
                self._responses.put(convert.ingest_result_of(response))
            self._responses.put(
                OcrCallError(grpc.StatusCode.UNAVAILABLE, "REPORT_CALL_ENDED", "the central ended the report call")
            )
        except grpc.RpcError as error:
            self._responses.put(OcrCallError.from_rpc_error(error))

    def send(
        self, batch_id: int, events: Sequence[Event] = (), gaps: Sequence[Gap] = (), status: DeviceStatus | None = None
    ) -> None:
        """Queue one batch (a batch without events and gaps is a hello: its answer has every stream's mark)."""
        if self.closed:
            raise OcrCallError(grpc.StatusCode.CANCELLED, "REPORT_CALL_ENDED", "the report session is closed")
        self._requests.put(convert.report_request(self.device_id, batch_id, events, gaps, status))

    def receive(self, timeout: float | None = 30.0) -> tuple[int, IngestResult]:
        """(batch_id, committed result) of the oldest unanswered batch; raises OcrCallError (DEADLINE_EXCEEDED
        after ``timeout`` seconds: a connection that went silent, e.g. a partition, ends the session)."""
        try:
            item = self._responses.get(timeout=timeout)
        except queue.Empty:
            self.close()
            raise OcrCallError(
                grpc.StatusCode.DEADLINE_EXCEEDED, "ACK_TIMEOUT", f"no acknowledgement within {timeout} s"
            ) from None
        if isinstance(item, OcrCallError):
            self.close()
            raise item
        return item

    def report(
        self,
        batch_id: int,
        events: Sequence[Event] = (),
        gaps: Sequence[Gap] = (),
        status: DeviceStatus | None = None,
        timeout: float | None = 30.0,
    ) -> IngestResult:
        """Send one batch and wait for its acknowledgement (nothing else in flight)."""
        self.send(batch_id, events, gaps, status)
        answered, result = self.receive(timeout)
        if answered != batch_id:
            raise OcrCallError(grpc.StatusCode.INTERNAL, "ACK_MISMATCH", f"batch {batch_id} answered as {answered}")
        return result

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._requests.put(_END)
            self._call.cancel()

    def __enter__(self) -> ReportSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _ResponseStream(Protocol):
    """What Watch uses of grpc's response-streaming call."""

    def __iter__(self) -> Iterator[fleet_pb2.WatchEventsResponse]: ...
    def cancel(self) -> bool: ...


class Watch:
    """The events of a WatchEvents call as they are committed (an iterator); ``cancel()`` ends it."""

    def __init__(self, call: _ResponseStream) -> None:
        self._call = call

    def __iter__(self) -> Iterator[StoredEvent]:
        try:
            for response in self._call:
                yield convert.stored_event_of(response.event)
        except grpc.RpcError as error:
            raise OcrCallError.from_rpc_error(error) from None

    def cancel(self) -> None:
        self._call.cancel()


class FleetClient:
    """Calls one fleet central. Thread-safe. Credentials and ``timeout`` (per unary call) as ``OcrClient``."""

    def __init__(
        self,
        target: str = "localhost:50051",
        *,
        timeout: float | None = 60.0,
        channel: grpc.Channel | None = None,
        ca: bytes | str | Path | None = None,
        cert: bytes | str | Path | None = None,
        key: bytes | str | Path | None = None,
        token: str | None = None,
        tls: bool = False,
        server_name: str | None = None,
    ) -> None:
        self.target = target
        self.timeout = timeout
        self.channel = channel or open_channel(
            target, ca=ca, cert=cert, key=key, token=token, tls=tls, server_name=server_name
        )
        self.metadata = auth_metadata(token)
        self.stub = fleet_pb2_grpc.FleetServiceStub(self.channel)

    def __enter__(self) -> FleetClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.channel.close()

    def _call(self, method: Callable[..., Any], request: Any) -> Any:
        try:
            return method(request, timeout=self.timeout, metadata=self.metadata)
        except grpc.RpcError as error:
            raise OcrCallError.from_rpc_error(error) from None

    # ---- reporting ------------------------------------------------------------------------------------------
    def report_session(self, device_id: str = "") -> ReportSession:
        """A new ReportEvents call for ``device_id`` (empty: the server takes the caller's identity)."""
        return ReportSession(self.stub, self.metadata, device_id)

    # ---- questions ------------------------------------------------------------------------------------------
    def query_events(
        self, flt: EventFilter = _EVERY_EVENT, *, page_size: int = 0, page_token: str = "", newest_first: bool = False
    ) -> Page:
        """One page of StoredEvents matching ``flt``; ``next_token`` is empty on the last page."""
        response = self._call(
            self.stub.QueryEvents,
            fleet_pb2.QueryEventsRequest(
                filter=convert.filter_message(flt),
                page_size=page_size,
                page_token=page_token,
                newest_first=newest_first,
            ),
        )
        return Page(tuple(convert.stored_event_of(e) for e in response.events), response.next_page_token)

    def all_events(
        self, flt: EventFilter = _EVERY_EVENT, *, page_size: int = 0, newest_first: bool = False
    ) -> Iterator[StoredEvent]:
        """Every StoredEvent matching ``flt``, page after page."""
        token = ""
        while True:
            page = self.query_events(flt, page_size=page_size, page_token=token, newest_first=newest_first)
            yield from page.items
            token = page.next_token
            if not token:
                return

    def list_devices(self, *, page_size: int = 0, page_token: str = "") -> Page:
        response = self._call(
            self.stub.ListDevices, fleet_pb2.ListDevicesRequest(page_size=page_size, page_token=page_token)
        )
        return Page(tuple(convert.device_of(d) for d in response.devices), response.next_page_token)

    def list_sightings(
        self,
        flt: EventFilter = _EVERY_EVENT,
        *,
        window_s: float = 300.0,
        min_streams: int = 1,
        page_size: int = 0,
        page_token: str = "",
    ) -> Page:
        request = fleet_pb2.ListSightingsRequest(
            filter=convert.filter_message(flt), min_streams=min_streams, page_size=page_size, page_token=page_token
        )
        convert.set_duration(request, "window", window_s)
        response = self._call(self.stub.ListSightings, request)
        return Page(tuple(convert.sighting_of(s) for s in response.sightings), response.next_page_token)

    def watch_events(self, flt: EventFilter = _EVERY_EVENT, *, cursor: str = "") -> Watch:
        """Events matching ``flt`` committed after ``cursor`` (empty: from now on), as they come, until cancelled."""
        request = fleet_pb2.WatchEventsRequest(filter=convert.filter_message(flt), cursor=cursor)
        return Watch(self.stub.WatchEvents(request, metadata=self.metadata))

    def get_fleet_stats(self) -> FleetStats:
        return convert.stats_of(self._call(self.stub.GetFleetStats, fleet_pb2.GetFleetStatsRequest()))

    def delete_device_data(self, device_id: str) -> DeleteResult:
        return convert.delete_result_of(
            self._call(self.stub.DeleteDeviceData, fleet_pb2.DeleteDeviceDataRequest(device_id=device_id))
        )

    def health(self, timeout: float | None = 5.0) -> str:
        """The grpc.health.v1 status name of FleetService: SERVING, NOT_SERVING, SERVICE_UNKNOWN or UNKNOWN."""
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        try:
            response = health_pb2_grpc.HealthStub(self.channel).Check(
                health_pb2.HealthCheckRequest(service=FLEET_SERVICE_NAME), timeout=timeout
            )
        except grpc.RpcError as error:
            raise OcrCallError.from_rpc_error(error) from None
        return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
