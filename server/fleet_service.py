"""The thin fleet.v1.FleetService servicer: convert (clients.ocr_client.fleet_convert), call FleetCentral, convert
back; errors are raised and the interceptor layer maps them (server.errors).

ReportEvents: each request is committed, then answered, in the order sent, with its batch_id and the committed
high-water marks of its streams. Requests are read ahead of their answers (up to PIPELINE) and submitted at once,
so an agent's requests in flight commit together (FleetCentral's group commit keeps each device's order). A
request with neither events nor gaps (the agent's hello, or a status-only report) is answered with the marks of
every stream the central knows for the device. A request that breaks the contract ends the call with
INVALID_ARGUMENT and its reason once the requests before it are answered: nothing of it was stored, nothing after
it is read. An unreachable store ends the call with UNAVAILABLE / STORE_UNAVAILABLE; requests read ahead of that
answer may have committed unanswered. The agent reconnects and resends from its acknowledged marks either way
(what was stored counts as duplicate), so the call's end loses and doubles nothing.

The reporting device is the caller's authenticated principal where the server has credentials configured (a
request's ``device_id``, when set, must be that principal unless the caller holds ``fleet.admin``); without
credentials (a loopback-only server) it is the request's ``device_id``. One call reports for one device.
The scopes each method needs are in server/scopes.py (report, query, admin).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from google.protobuf.message import Message

from clients.ocr_client import fleet_convert as convert
from clients.ocr_client.fleet_types import IngestResult
from clients.ocr_client.pb import FLEET_SERVICE_NAME, fleet_pb2
from fleet.central import FleetCentral
from fleet.errors import FleetRequestError
from server.security.call import current_call, ensure_self

__all__ = ["FleetServicer", "fleet_handler", "reporting_device"]

DEFAULT_SIGHTING_WINDOW_S = 300.0
PIPELINE = 16  # requests of one ReportEvents call read ahead of their answers


def reporting_device(claimed: str) -> str:
    """The device a report is stored under (see the module docstring)."""
    call = current_call()
    principal = call.principal if call is not None else None
    if principal is None or principal.via == "none":
        return claimed
    if not claimed:
        return principal.name
    ensure_self(None, claimed)
    return claimed


class FleetServicer:
    """Implements fleet.v1.FleetService over a FleetCentral; no logic beyond converting and delegating."""

    def __init__(self, central: FleetCentral) -> None:
        self.central = central

    async def ReportEvents(  # noqa: N802 (gRPC method name)
        self, request_iterator: AsyncIterator[fleet_pb2.ReportEventsRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[fleet_pb2.ReportEventsResponse]:
        # A reader submits each request as it arrives (validated at once; committed in the device's order by the
        # central's group commit), while this loop answers them in order, each after its commit: an agent with
        # several requests in flight has them committed together instead of one after the other.
        # (batch_id, its commit), then None at the end of the requests, or the error that ended them
        answers: asyncio.Queue[tuple[int, asyncio.Future[IngestResult]] | Exception | None] = asyncio.Queue(PIPELINE)

        async def read() -> None:
            device: str | None = None
            try:
                async for request in request_iterator:
                    claimed, batch_id, events, gaps, status = convert.report_of(request)
                    who = reporting_device(claimed)
                    if device is None:
                        device = who
                    elif who != device:
                        raise FleetRequestError(
                            f"this call reports for {device!r}, not {who!r}: one device per call", "DEVICE_ID_INVALID"
                        )
                    await answers.put((batch_id, self.central.submit(device, events, gaps, status)))
                await answers.put(None)
            except Exception as exc:  # answered after the requests before it; nothing more is read
                await answers.put(exc)

        reader = asyncio.ensure_future(read())
        try:
            while (item := await answers.get()) is not None:
                if isinstance(item, Exception):
                    raise item
                batch_id, committed = item
                yield convert.report_response(batch_id, await committed)
        finally:
            reader.cancel()

    async def QueryEvents(  # noqa: N802
        self, request: fleet_pb2.QueryEventsRequest, context: grpc.aio.ServicerContext
    ) -> fleet_pb2.QueryEventsResponse:
        page = await self.central.query(
            convert.filter_of(request.filter), request.page_size, request.page_token, request.newest_first
        )
        return fleet_pb2.QueryEventsResponse(
            events=[convert.stored_event_message(e) for e in page.items], next_page_token=page.next_token
        )

    async def WatchEvents(  # noqa: N802
        self, request: fleet_pb2.WatchEventsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[fleet_pb2.WatchEventsResponse]:
        async for stored in self.central.watch(convert.filter_of(request.filter), request.cursor):
            yield fleet_pb2.WatchEventsResponse(event=convert.stored_event_message(stored))

    async def ListDevices(  # noqa: N802
        self, request: fleet_pb2.ListDevicesRequest, context: grpc.aio.ServicerContext
    ) -> fleet_pb2.ListDevicesResponse:
        page = await self.central.devices(request.page_size, request.page_token)
        return fleet_pb2.ListDevicesResponse(
            devices=[convert.device_message(d) for d in page.items], next_page_token=page.next_token
        )

    async def GetFleetStats(  # noqa: N802
        self, request: fleet_pb2.GetFleetStatsRequest, context: grpc.aio.ServicerContext
    ) -> fleet_pb2.GetFleetStatsResponse:
        return convert.stats_message(await self.central.stats())

    async def ListSightings(  # noqa: N802
        self, request: fleet_pb2.ListSightingsRequest, context: grpc.aio.ServicerContext
    ) -> fleet_pb2.ListSightingsResponse:
        window = convert.duration_of(request, "window")
        page = await self.central.sightings(
            convert.filter_of(request.filter),
            DEFAULT_SIGHTING_WINDOW_S if window is None else window,
            request.min_streams,
            request.page_size,
            request.page_token,
        )
        return fleet_pb2.ListSightingsResponse(
            sightings=[convert.sighting_message(s) for s in page.items], next_page_token=page.next_token
        )

    async def DeleteDeviceData(  # noqa: N802
        self, request: fleet_pb2.DeleteDeviceDataRequest, context: grpc.aio.ServicerContext
    ) -> fleet_pb2.DeleteDeviceDataResponse:
        return convert.delete_response(await self.central.delete_device(request.device_id))


def fleet_handler(servicer: FleetServicer) -> grpc.GenericRpcHandler:
    """Method handlers for fleet.v1.FleetService (server.validation makes their deserializers tolerant)."""
    pb = fleet_pb2
    s = servicer

    def unary(fn: Callable[..., Any], request: type[Message]) -> grpc.RpcMethodHandler[Any, Any]:
        return grpc.unary_unary_rpc_method_handler(fn, request.FromString, lambda m: m.SerializeToString())

    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
        "ReportEvents": grpc.stream_stream_rpc_method_handler(
            s.ReportEvents, pb.ReportEventsRequest.FromString, pb.ReportEventsResponse.SerializeToString
        ),
        "WatchEvents": grpc.unary_stream_rpc_method_handler(
            s.WatchEvents, pb.WatchEventsRequest.FromString, pb.WatchEventsResponse.SerializeToString
        ),
        "QueryEvents": unary(s.QueryEvents, pb.QueryEventsRequest),
        "ListDevices": unary(s.ListDevices, pb.ListDevicesRequest),
        "GetFleetStats": unary(s.GetFleetStats, pb.GetFleetStatsRequest),
        "ListSightings": unary(s.ListSightings, pb.ListSightingsRequest),
        "DeleteDeviceData": unary(s.DeleteDeviceData, pb.DeleteDeviceDataRequest),
    }
    return grpc.method_handlers_generic_handler(FLEET_SERVICE_NAME, handlers)
