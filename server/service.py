"""The thin ocr.v1.OcrService servicer: convert, call the data plane, convert back. Requests arrive well-formed
(server.validation) and errors are raised, not answered: the interceptor layer maps them (server.errors)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc

from clients.ocr_client.pb import SERVICE_NAME, ocr_pb2
from edge_runtime import imageio
from edge_runtime.errors import OcrError
from edge_runtime.fields.extract import RECEIPT_SETS, check_sets, extract
from edge_runtime.types import OcrResult, TextLine
from server import __version__, convert
from server.errors import InvalidRequestError
from server.plane import OcrPlane
from server.redact import Redactor

__all__ = ["OcrServicer", "generic_handler", "deadline_of"]

IMAGE_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "BMP")


def deadline_of(context: grpc.aio.ServicerContext) -> float | None:
    """The call's deadline as a time.monotonic() instant, or None."""
    remaining = context.time_remaining()
    return None if remaining is None else time.monotonic() + remaining


class OcrServicer:
    """Implements ocr.v1.OcrService over an OcrPlane. Holds no logic beyond converting and delegating."""

    def __init__(self, plane: OcrPlane, redactor: Redactor | None = None) -> None:
        self.plane = plane
        self.redactor = redactor if redactor else None  # masks a document's pages before its files are written

    async def Recognize(  # noqa: N802 (gRPC method name)
        self, request: ocr_pb2.RecognizeRequest, context: grpc.aio.ServicerContext
    ) -> ocr_pb2.RecognizeResponse:
        source = convert.image_source(request.image, request.HasField("image"))
        sets = self.plane.config.field_sets
        asked = check_sets(request.options.fields, sets)  # FIELD_SET_UNKNOWN before any model runs
        async with self.plane.admitted():
            result = await self.plane.recognize(source, request.options.skip_detection, deadline_of(context))
            read = await self._field_lines(source, result, asked, request.options.skip_detection, context)

        def respond() -> ocr_pb2.RecognizeResponse:
            return convert.recognize_response(result, extract(read, asked, sets) if asked else None)

        # off the event loop: laying out a dense page's blocks takes milliseconds that other calls should not wait
        return await asyncio.to_thread(respond)

    async def _field_lines(
        self,
        source: convert.ImageSource,
        result: OcrResult,
        asked: Sequence[str],
        skip_detection: bool,
        context: grpc.aio.ServicerContext,
    ) -> Sequence[TextLine]:
        """The lines the fields are read from: a receipt's header read again where a receipt set is asked (and
        ``fields_reread`` is on), else the lines as answered."""
        if skip_detection or not self.plane.config.fields_reread or not set(asked) & RECEIPT_SETS:
            return result.lines
        return await self.plane.reread_header(source, result.lines, deadline_of(context))

    async def BatchRecognize(  # noqa: N802
        self, request: ocr_pb2.BatchRecognizeRequest, context: grpc.aio.ServicerContext
    ) -> ocr_pb2.BatchRecognizeResponse:
        limit = self.plane.config.max_batch_images
        if len(request.requests) > limit:
            raise InvalidRequestError(
                f"{len(request.requests)} images in one batch; the limit is {limit}", "BATCH_TOO_LARGE"
            )
        outcomes: list[Any] = [None] * len(request.requests)
        sets = self.plane.config.field_sets
        asked: list[tuple[str, ...]] = [()] * len(request.requests)
        todo = []
        for i, item in enumerate(request.requests):
            try:
                asked[i] = check_sets(item.options.fields, sets)  # an unknown set fails its item only
                todo.append((i, convert.image_source(item.image, item.HasField("image")), item.options.skip_detection))
            except OcrError as exc:  # one bad image fails its item, not the batch
                outcomes[i] = exc
        read: dict[int, Sequence[TextLine]] = {}  # the lines each item's fields are read from
        async with self.plane.admitted():
            results = await self.plane.recognize_many([(s, k) for _, s, k in todo], deadline_of(context))
            for (i, _, _), result in zip(todo, results, strict=True):
                outcomes[i] = result
            again = [
                (i, s, k, r)
                for (i, s, k), r in zip(todo, results, strict=True)
                if asked[i] and isinstance(r, OcrResult)
            ]
            lines = await asyncio.gather(
                *(self._field_lines(s, r, asked[i], k, context) for i, s, k, r in again), return_exceptions=True
            )
            for (i, _, _, _), got in zip(again, lines, strict=True):
                if isinstance(got, OcrError):
                    outcomes[i] = got  # the item's second reading failed (its deadline, its memory): the item alone
                elif isinstance(got, BaseException):
                    raise got
                else:
                    read[i] = got

        def respond() -> ocr_pb2.BatchRecognizeResponse:
            return ocr_pb2.BatchRecognizeResponse(
                responses=[
                    ocr_pb2.RecognizeResponse(error=convert.error_message(o))
                    if isinstance(o, Exception)
                    else convert.recognize_response(o, extract(read[i], asked[i], sets) if asked[i] else None)
                    for i, o in enumerate(outcomes)
                ]
            )

        return await asyncio.to_thread(respond)

    async def StreamRecognize(  # noqa: N802
        self, request_iterator: AsyncIterator[ocr_pb2.StreamRecognizeRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[ocr_pb2.StreamRecognizeResponse]:
        from server.stream import stream_recognize

        async for response in stream_recognize(self.plane, request_iterator, context):
            yield response

    async def RecognizeDocument(  # noqa: N802
        self, request_iterator: AsyncIterator[ocr_pb2.RecognizeDocumentRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[ocr_pb2.RecognizeDocumentResponse]:
        from server.document import recognize_document

        async for response in recognize_document(self.plane, request_iterator, deadline_of(context), self.redactor):
            yield response

    async def GetServerInfo(  # noqa: N802
        self, request: ocr_pb2.GetServerInfoRequest, context: grpc.aio.ServicerContext
    ) -> ocr_pb2.GetServerInfoResponse:
        plane, engine = self.plane, self.plane.engine
        config = plane.config
        response = ocr_pb2.GetServerInfoResponse(
            server_version=__version__,
            ready=plane.ready and not plane.draining,
            limits=ocr_pb2.ServerLimits(
                max_message_bytes=config.max_message_bytes,
                max_concurrent_rpcs=config.max_concurrent_rpcs,
                max_document_bytes=config.max_document_bytes,
                max_document_pages=config.max_document_pages,
            ),
            image_formats=IMAGE_FORMATS,
            pixel_formats=convert.pixel_formats(imageio.RAW_FORMATS),
            batch_max_delay_ms=config.batch_max_delay_ms,
        )
        if engine is not None:
            response.provenance.CopyFrom(convert.provenance_message(engine.provenance))
            response.stage_precisions.extend(
                convert.stage_precisions(engine.precision, getattr(engine, "precision_reasons", {}) or {})
            )
            response.limits.max_image_pixels = engine.config.max_image_pixels
            response.limits.min_image_side = engine.config.min_image_side
            # a call's own recognizer batches, or the cross-call batcher's (which alone makes lines wait)
            response.batch_max_size = plane.batcher.max_size if plane.batcher else engine.config.rec_batch_size
            response.batch_max_delay_ms = config.batch_max_delay_ms if plane.batcher else 0.0
        response.models.CopyFrom(convert.model_status_message(plane.model_status))
        return response


def generic_handler(servicer: OcrServicer) -> grpc.GenericRpcHandler:
    """Method handlers for ocr.v1.OcrService (server.validation makes their deserializers tolerant)."""
    pb = ocr_pb2
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
        "Recognize": grpc.unary_unary_rpc_method_handler(
            servicer.Recognize, pb.RecognizeRequest.FromString, pb.RecognizeResponse.SerializeToString
        ),
        "BatchRecognize": grpc.unary_unary_rpc_method_handler(
            servicer.BatchRecognize, pb.BatchRecognizeRequest.FromString, pb.BatchRecognizeResponse.SerializeToString
        ),
        "StreamRecognize": grpc.stream_stream_rpc_method_handler(
            servicer.StreamRecognize, pb.StreamRecognizeRequest.FromString, pb.StreamRecognizeResponse.SerializeToString
        ),
        "RecognizeDocument": grpc.stream_stream_rpc_method_handler(
            servicer.RecognizeDocument,
            pb.RecognizeDocumentRequest.FromString,
            pb.RecognizeDocumentResponse.SerializeToString,
        ),
        "GetServerInfo": grpc.unary_unary_rpc_method_handler(
            servicer.GetServerInfo, pb.GetServerInfoRequest.FromString, pb.GetServerInfoResponse.SerializeToString
        ),
    }
    return grpc.method_handlers_generic_handler(SERVICE_NAME, handlers)
