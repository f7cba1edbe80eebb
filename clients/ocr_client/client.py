"""OcrClient: a small synchronous wrapper over the generated ocr.v1 stub, with errors that carry reasons."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterable, Iterator

import grpc
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc

from server.pb import SERVICE_NAME, ocr_pb2, ocr_pb2_grpc

__all__ = ["OcrClient", "OcrCallError", "image_message", "to_dict", "REASON_KEY"]

REASON_KEY = "ocr-error-reason"  # trailing metadata key the server puts its stable reason in
ImageLike = bytes | str | Path | ocr_pb2.Image | ocr_pb2.RawImage | Any  # Any: numpy array


class OcrCallError(Exception):
    """A failed call: ``code`` (grpc.StatusCode), ``reason`` (stable, UPPER_SNAKE_CASE, or None when the failure
    came from gRPC itself, e.g. a message over the size limit), and the server's ``message``."""

    def __init__(self, code: grpc.StatusCode, reason: str | None, message: str) -> None:
        super().__init__(f"{code.name}{f' [{reason}]' if reason else ''}: {message}")
        self.code = code
        self.reason = reason
        self.message = message

    @classmethod
    def from_rpc_error(cls, error: grpc.RpcError) -> "OcrCallError":
        reason = None
        for key, value in error.trailing_metadata() or ():
            if key == REASON_KEY:
                reason = value if isinstance(value, str) else value.decode()
        return cls(error.code(), reason, error.details() or "")


def image_message(image: ImageLike) -> ocr_pb2.Image:
    """bytes (an encoded file), a path, a numpy array (HxW gray, HxWx3 BGR, HxWx4 BGRA, uint8) or a message."""
    if isinstance(image, ocr_pb2.Image):
        return image
    if isinstance(image, ocr_pb2.RawImage):
        return ocr_pb2.Image(raw=image)
    if isinstance(image, (bytes, bytearray, memoryview)):
        return ocr_pb2.Image(content=bytes(image))
    if isinstance(image, (str, Path)):
        return ocr_pb2.Image(content=Path(image).read_bytes())
    shape = getattr(image, "shape", None)
    if shape is not None and str(getattr(image, "dtype", "")) == "uint8":
        formats = {2: ocr_pb2.PIXEL_FORMAT_GRAY8, 3: ocr_pb2.PIXEL_FORMAT_BGR8, 4: ocr_pb2.PIXEL_FORMAT_BGRA8}
        channels = 2 if len(shape) == 2 else shape[2]
        if channels in formats:
            return ocr_pb2.Image(raw=ocr_pb2.RawImage(width=shape[1], height=shape[0], pixel_format=formats[channels],
                                                      data=image.tobytes()))
    raise TypeError(f"cannot send {type(image).__name__} as an image")


def to_dict(message) -> dict:
    """A response message as a JSON-ready dict (field names as in the .proto; empty lists and zeros included)."""
    return json_format.MessageToDict(message, preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=True)


class OcrClient:
    """Calls one OCR server. Thread-safe: one client may serve many threads.

    ``timeout`` is each call's deadline in seconds (None: no deadline).
    """

    def __init__(self, target: str = "localhost:50051", *, timeout: float | None = 60.0,
                 max_message_bytes: int = 64 * 1024 * 1024, channel: grpc.Channel | None = None) -> None:
        self.target = target
        self.timeout = timeout
        self.channel = channel or grpc.insecure_channel(target, options=[
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.max_receive_message_length", max_message_bytes),
        ])
        self.stub = ocr_pb2_grpc.OcrServiceStub(self.channel)
        self._health = health_pb2_grpc.HealthStub(self.channel)

    def __enter__(self) -> "OcrClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.channel.close()

    def _call(self, method, request, timeout: float | None = ..., **kwargs):
        try:
            return method(request, timeout=self.timeout if timeout is ... else timeout, **kwargs)
        except grpc.RpcError as error:
            raise OcrCallError.from_rpc_error(error) from None

    def recognize(self, image: ImageLike, *, skip_detection: bool = False,
                  timeout: float | None = ...) -> ocr_pb2.RecognizeResponse:
        """Text lines of one image (zero lines when it has none)."""
        request = ocr_pb2.RecognizeRequest(image=image_message(image),
                                           options=ocr_pb2.RecognizeOptions(skip_detection=skip_detection))
        return self._call(self.stub.Recognize, request, timeout)

    def batch_recognize(self, images: Iterable[ImageLike], *, skip_detection: bool = False,
                        timeout: float | None = ...) -> list[ocr_pb2.RecognizeResponse]:
        """One response per image, in order; a bad image has ``error`` set in its response and fails nothing else."""
        options = ocr_pb2.RecognizeOptions(skip_detection=skip_detection)
        request = ocr_pb2.BatchRecognizeRequest(
            requests=[ocr_pb2.RecognizeRequest(image=image_message(i), options=options) for i in images])
        return list(self._call(self.stub.BatchRecognize, request, timeout).responses)

    def stream_recognize(self, frames: Iterable[ImageLike], *, config: ocr_pb2.StreamConfig | None = None,
                         timeout: float | None = None) -> Iterator[ocr_pb2.StreamRecognizeResponse]:
        """Send frames (sequence numbers 0, 1, ...) and yield one response per frame read."""
        def requests():
            yield ocr_pb2.StreamRecognizeRequest(config=config or ocr_pb2.StreamConfig())
            for sequence, frame in enumerate(frames):
                message = ocr_pb2.Frame(sequence=sequence, image=image_message(frame))
                message.capture_time.GetCurrentTime()
                yield ocr_pb2.StreamRecognizeRequest(frame=message)

        try:
            yield from self.stub.StreamRecognize(requests(), timeout=timeout)
        except grpc.RpcError as error:
            raise OcrCallError.from_rpc_error(error) from None

    def server_info(self, timeout: float | None = ...) -> ocr_pb2.GetServerInfoResponse:
        return self._call(self.stub.GetServerInfo, ocr_pb2.GetServerInfoRequest(), timeout)

    def health(self, service: str = SERVICE_NAME, timeout: float | None = 5.0) -> str:
        """The grpc.health.v1 status name: SERVING, NOT_SERVING, SERVICE_UNKNOWN or UNKNOWN."""
        response = self._call(self._health.Check, health_pb2.HealthCheckRequest(service=service), timeout)
        return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)

    def wait_until_serving(self, timeout: float = 60.0) -> None:
        """Block until health says SERVING (models loaded and warm); raises TimeoutError."""
        end = time.monotonic() + timeout
        while True:
            try:
                if self.health(timeout=max(0.1, min(2.0, end - time.monotonic()))) == "SERVING":
                    return
            except OcrCallError:
                pass
            if time.monotonic() >= end:
                raise TimeoutError(f"{self.target} not SERVING after {timeout:.0f} s")
            time.sleep(0.1)
