"""The thin ocr.v1.OcrService servicer: validate, convert, call the data plane, map errors in errors.py."""

from __future__ import annotations

import time
from typing import Any, Callable

import grpc

from edge_runtime import imageio
from edge_runtime.errors import OcrError
from server import __version__, convert
from server.errors import InvalidRequestError, abort_with
from clients.ocr_client.pb import SERVICE_NAME, ocr_pb2
from server.plane import OcrPlane

__all__ = ["OcrServicer", "Malformed", "tolerant", "well_formed", "generic_handler", "deadline_of"]

IMAGE_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "BMP")


class Malformed:
    """Stands in for a request whose bytes are not a valid protobuf message, so the call can answer
    INVALID_ARGUMENT / REQUEST_MALFORMED instead of gRPC's generic deserialization failure."""

    def __init__(self, error: Exception) -> None:
        self.error = error


def tolerant(message_type) -> Callable[[bytes], Any]:
    def deserialize(data: bytes):
        try:
            return message_type.FromString(data)
        except Exception as exc:  # DecodeError, RecursionError on hostile nesting, ...
            return Malformed(exc)

    return deserialize


def well_formed(request):
    if isinstance(request, Malformed):
        raise InvalidRequestError(f"request is not a valid protobuf message: {request.error}", "REQUEST_MALFORMED")
    return request


def deadline_of(context: grpc.aio.ServicerContext) -> float | None:
    """The call's deadline as a time.monotonic() instant, or None."""
    remaining = context.time_remaining()
    return None if remaining is None else time.monotonic() + remaining


class OcrServicer:
    """Implements ocr.v1.OcrService over an OcrPlane. Holds no logic beyond converting and delegating."""

    def __init__(self, plane: OcrPlane) -> None:
        self.plane = plane

    async def Recognize(self, request, context):  # noqa: N802 (gRPC method name)
        try:
            request = well_formed(request)
            source = convert.image_source(request.image, request.HasField("image"))
            async with self.plane.admitted():
                result = await self.plane.recognize(source, request.options.skip_detection, deadline_of(context))
            return convert.recognize_response(result)
        except Exception as exc:
            await abort_with(context, exc)

    async def BatchRecognize(self, request, context):  # noqa: N802
        try:
            request = well_formed(request)
            limit = self.plane.config.max_batch_images
            if len(request.requests) > limit:
                raise InvalidRequestError(f"{len(request.requests)} images in one batch; the limit is {limit}",
                                          "BATCH_TOO_LARGE")
            outcomes: list[Any] = [None] * len(request.requests)
            todo = []
            for i, item in enumerate(request.requests):
                try:
                    todo.append((i, convert.image_source(item.image, item.HasField("image")),
                                 item.options.skip_detection))
                except OcrError as exc:
                    outcomes[i] = exc
            async with self.plane.admitted():
                results = await self.plane.recognize_many([(s, k) for _, s, k in todo], deadline_of(context))
            for (i, _, _), result in zip(todo, results):
                outcomes[i] = result
            responses = [ocr_pb2.RecognizeResponse(error=convert.error_message(o)) if isinstance(o, Exception)
                         else convert.recognize_response(o) for o in outcomes]
            return ocr_pb2.BatchRecognizeResponse(responses=responses)
        except Exception as exc:
            await abort_with(context, exc)

    async def StreamRecognize(self, request_iterator, context):  # noqa: N802
        from server.stream import stream_recognize

        async for response in stream_recognize(self.plane, request_iterator, context, well_formed):
            yield response

    async def GetServerInfo(self, request, context):  # noqa: N802
        try:
            well_formed(request)
            plane, engine = self.plane, self.plane.engine
            config = plane.config
            response = ocr_pb2.GetServerInfoResponse(
                server_version=__version__, ready=plane.ready and not plane.draining,
                limits=ocr_pb2.ServerLimits(max_message_bytes=config.max_message_bytes,
                                            max_concurrent_rpcs=config.max_concurrent_rpcs),
                image_formats=IMAGE_FORMATS, pixel_formats=convert.pixel_formats(imageio.RAW_FORMATS),
                batch_max_delay_ms=config.batch_max_delay_ms,
            )
            if engine is not None:
                response.provenance.CopyFrom(convert.provenance_message(engine.provenance))
                response.stage_precisions.extend(
                    convert.stage_precisions(engine.precision, getattr(engine, "precision_reasons", {}) or {}))
                response.limits.max_image_pixels = engine.config.max_image_pixels
                response.limits.min_image_side = engine.config.min_image_side
                # a call's own recognizer batches, or the cross-call batcher's (which alone makes lines wait)
                response.batch_max_size = plane.batcher.max_size if plane.batcher else engine.config.rec_batch_size
                response.batch_max_delay_ms = config.batch_max_delay_ms if plane.batcher else 0.0
            return response
        except Exception as exc:
            await abort_with(context, exc)


def generic_handler(servicer: OcrServicer) -> grpc.GenericRpcHandler:
    """Method handlers for ocr.v1.OcrService with deserializers that turn bad bytes into ``Malformed``."""
    pb = ocr_pb2
    handlers = {
        "Recognize": grpc.unary_unary_rpc_method_handler(
            servicer.Recognize, tolerant(pb.RecognizeRequest), pb.RecognizeResponse.SerializeToString),
        "BatchRecognize": grpc.unary_unary_rpc_method_handler(
            servicer.BatchRecognize, tolerant(pb.BatchRecognizeRequest), pb.BatchRecognizeResponse.SerializeToString),
        "StreamRecognize": grpc.stream_stream_rpc_method_handler(
            servicer.StreamRecognize, tolerant(pb.StreamRecognizeRequest),
            pb.StreamRecognizeResponse.SerializeToString),
        "GetServerInfo": grpc.unary_unary_rpc_method_handler(
            servicer.GetServerInfo, tolerant(pb.GetServerInfoRequest), pb.GetServerInfoResponse.SerializeToString),
    }
    return grpc.method_handlers_generic_handler(SERVICE_NAME, handlers)
