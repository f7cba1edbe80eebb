"""OcrClient: a small synchronous client of ocr.v1.OcrService with typed results and errors that carry reasons."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from types import EllipsisType
from typing import Any

import grpc
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc

from clients.ocr_client import service_config
from clients.ocr_client.documents import (
    DEFAULT_CHUNK_BYTES,
    DocumentLike,
    DocumentResults,
    document_requests,
    output_format,
)
from clients.ocr_client.pb import SERVICE_NAME, ocr_pb2, ocr_pb2_grpc
from clients.ocr_client.results import (
    REASON_KEY,
    OcrCallError,
    RecognizeResult,
    ServerInfo,
    StreamFrame,
    StreamResult,
    recognize_result,
    server_info,
    stream_result,
    to_dict,
)

__all__ = [
    "OcrClient",
    "OcrCallError",
    "image_message",
    "channel_credentials",
    "open_channel",
    "auth_metadata",
    "to_dict",
    "REASON_KEY",
]

ImageLike = bytes | str | Path | ocr_pb2.Image | ocr_pb2.RawImage | Any  # Any: numpy array


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
            return ocr_pb2.Image(
                raw=ocr_pb2.RawImage(
                    width=shape[1], height=shape[0], pixel_format=formats[channels], data=image.tobytes()
                )
            )
    raise TypeError(f"cannot send {type(image).__name__} as an image")


def stream_config(config: ocr_pb2.StreamConfig | Mapping[str, Any] | None) -> ocr_pb2.StreamConfig:
    """A StreamConfig from a message or a dict in its JSON form, e.g.
    ``{"options": {"skip_detection": True}, "flow_control": "FLOW_CONTROL_ALL", "queue_size": 4}``."""
    if config is None:
        return ocr_pb2.StreamConfig()
    if isinstance(config, ocr_pb2.StreamConfig):
        return config
    return json_format.ParseDict(dict(config), ocr_pb2.StreamConfig())


def _target_hosts(target: str) -> list[str]:
    """The hosts a gRPC target names: ``host:port``, ``dns:[//authority]/host:port``, ``ipv4:a:p,b:p``,
    ``ipv6:[a]:p,...``; a ``unix:`` socket is ``localhost``."""
    scheme, _, rest = target.partition(":")
    if scheme in ("unix", "unix-abstract"):
        return ["localhost"]
    if scheme in ("ipv4", "ipv6"):
        addresses = rest.split(",")
    elif scheme == "dns":
        addresses = [rest.rsplit("/", 1)[-1]]
    else:
        addresses = [target]
    hosts = []
    for address in addresses:
        address = address.strip()
        if address.startswith("["):
            hosts.append(address[1:].split("]", 1)[0])
        else:
            hosts.append(address.rsplit(":", 1)[0] if address.count(":") == 1 else address)
    return hosts


def _loopback(target: str) -> bool:
    """True when every address of ``target`` is this machine's."""
    return all(h == "localhost" or h.startswith("127.") or h == "::1" for h in _target_hosts(target))


def _pem(value: bytes | str | Path | None) -> bytes | None:
    """PEM bytes from bytes or a file path."""
    if value is None or isinstance(value, bytes):
        return value
    return Path(value).read_bytes()


def channel_credentials(
    ca: bytes | str | Path | None = None, cert: bytes | str | Path | None = None, key: bytes | str | Path | None = None
) -> grpc.ChannelCredentials:
    """TLS credentials: ``ca`` (PEM bytes or a path; None: the system's roots) to check the server, ``cert`` and
    ``key`` (both or neither) to prove the client's identity for mutual TLS."""
    if (cert is None) != (key is None):
        raise ValueError("a client certificate needs its key (cert and key, or neither)")
    return grpc.ssl_channel_credentials(root_certificates=_pem(ca), private_key=_pem(key), certificate_chain=_pem(cert))


def open_channel(
    target: str,
    *,
    max_message_bytes: int = 64 * 1024 * 1024,
    ca: bytes | str | Path | None = None,
    cert: bytes | str | Path | None = None,
    key: bytes | str | Path | None = None,
    token: str | None = None,
    tls: bool = False,
    server_name: str | None = None,
    options: Iterable[tuple[str, Any]] = (),
) -> grpc.Channel:
    """A channel to ``target`` (any gRPC URI: ``host:port``, ``dns:///host:port``, ``ipv4:a:p,b:p``; calls spread
    over its addresses and safe ones are retried, see ``service_config``): TLS when ``tls``, ``ca`` or ``cert`` is
    given (see OcrClient), else plain text (with a warning when a token would travel in plain text to another
    machine). ``options`` override the defaults of the same name."""
    merged = dict(service_config.channel_options(max_message_bytes))
    merged.update(
        {
            "grpc.max_send_message_length": max_message_bytes,
            "grpc.max_receive_message_length": max_message_bytes,
        }
    )
    if server_name:
        merged["grpc.ssl_target_name_override"] = server_name
    merged.update(dict(options))
    opts = list(merged.items())
    if tls or ca is not None or cert is not None:
        return grpc.secure_channel(target, channel_credentials(ca, cert, key), options=opts)
    if token and not _loopback(target):
        warnings.warn(f"sending a bearer token to {target} in plain text (no ca/tls)", stacklevel=3)
    return grpc.insecure_channel(target, options=opts)


def auth_metadata(token: str | None) -> tuple[tuple[str, str], ...]:
    """The metadata that carries ``token`` (none without one)."""
    return (("authorization", f"Bearer {token}"),) if token else ()


class OcrClient:
    """Calls one OCR server. Thread-safe: one client may serve many threads.

    ``timeout`` is each call's deadline in seconds (None: no deadline). Failed calls raise ``OcrCallError``;
    results are frozen dataclasses (``clients.ocr_client.results``) whose ``error`` is None on success.

    Security: ``ca`` (the CA that signed the server's certificate; PEM bytes or a path), or ``tls=True`` for the
    system's roots, turns TLS on; ``cert`` and ``key`` add the client's certificate (mutual TLS); ``token`` is
    sent as ``authorization: Bearer <token>`` with every call. ``server_name`` overrides the name the server's
    certificate is checked against (default: the host in ``target``).
    """

    def __init__(
        self,
        target: str = "localhost:50051",
        *,
        timeout: float | None = 60.0,
        max_message_bytes: int = 64 * 1024 * 1024,
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
            target,
            max_message_bytes=max_message_bytes,
            ca=ca,
            cert=cert,
            key=key,
            token=token,
            tls=tls,
            server_name=server_name,
        )
        self.metadata = auth_metadata(token)
        self.stub = ocr_pb2_grpc.OcrServiceStub(self.channel)
        self._health = health_pb2_grpc.HealthStub(self.channel)

    def __enter__(self) -> OcrClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.channel.close()

    def _call(
        self, method: Callable[..., Any], request: Any, timeout: float | None | EllipsisType = ..., **kwargs: Any
    ) -> Any:
        """``method(request)`` with the client's metadata; ``timeout`` ``...`` (the methods' default) is the
        client's own, None is none."""
        try:
            return method(
                request, timeout=self.timeout if timeout is ... else timeout, metadata=self.metadata, **kwargs
            )
        except grpc.RpcError as error:
            raise OcrCallError.from_rpc_error(error) from None

    def recognize(
        self,
        image: ImageLike,
        *,
        skip_detection: bool = False,
        fields: Iterable[str] = (),
        timeout: float | None | EllipsisType = ...,
    ) -> RecognizeResult:
        """Text lines of one image (zero lines when it has none). ``fields``: key field sets to read from it
        (receipt, invoice, form, or a set of the server's fields file), in the result's ``fields`` and
        ``key_values``; an unknown set fails the call (FIELD_SET_UNKNOWN) before any model runs."""
        options = ocr_pb2.RecognizeOptions(skip_detection=skip_detection, fields=list(fields))
        request = ocr_pb2.RecognizeRequest(image=image_message(image), options=options)
        return recognize_result(self._call(self.stub.Recognize, request, timeout))

    def batch_recognize(
        self,
        images: Iterable[ImageLike],
        *,
        skip_detection: bool = False,
        fields: Iterable[str] = (),
        timeout: float | None | EllipsisType = ...,
    ) -> list[RecognizeResult]:
        """One result per image, in order; a bad image has ``error`` (code, reason, message) set in its result
        and fails nothing else; ``error`` is None for the others. ``fields`` as in ``recognize``, for every image."""
        options = ocr_pb2.RecognizeOptions(skip_detection=skip_detection, fields=list(fields))
        request = ocr_pb2.BatchRecognizeRequest(
            requests=[ocr_pb2.RecognizeRequest(image=image_message(i), options=options) for i in images]
        )
        return [recognize_result(r) for r in self._call(self.stub.BatchRecognize, request, timeout).responses]

    def stream_recognize(
        self,
        frames: Iterable[ImageLike | StreamFrame],
        *,
        config: ocr_pb2.StreamConfig | Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Iterator[StreamResult]:
        """Send frames after ``config`` and yield one result per frame read (and at most one end-of-stream
        flush with ``timings`` None). Plain images get sequence numbers 0, 1, ... and the time they are sent;
        a ``StreamFrame`` carries its own."""

        def requests() -> Iterator[ocr_pb2.StreamRecognizeRequest]:
            yield ocr_pb2.StreamRecognizeRequest(config=stream_config(config))
            for sequence, frame in enumerate(frames):
                if not isinstance(frame, StreamFrame):
                    frame = StreamFrame(frame)
                message = ocr_pb2.Frame(
                    sequence=sequence if frame.sequence is None else frame.sequence, image=image_message(frame.image)
                )
                if frame.capture_time is None:
                    message.capture_time.GetCurrentTime()
                else:
                    message.capture_time.FromNanoseconds(int(frame.capture_time * 1e9))
                yield ocr_pb2.StreamRecognizeRequest(frame=message)

        call = self.stub.StreamRecognize(requests(), timeout=timeout, metadata=self.metadata)
        try:
            for response in call:
                yield stream_result(response)
        except grpc.RpcError as error:
            raise OcrCallError.from_rpc_error(error) from None
        finally:
            call.cancel()

    def recognize_document(
        self,
        document: DocumentLike,
        *,
        pages: str = "",
        text_layer: str | int = "auto",
        password: str | None = None,
        formats: Iterable[str | int] = (),
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        fields: Iterable[str] = (),
        timeout: float | None = None,
    ) -> DocumentResults:
        """Read a PDF, a multi-page TIFF or an image (bytes, a path or a binary file) page by page.

        ``pages`` ("1-3,7", "10-"; empty: all), ``text_layer`` (auto, ignore, only), ``password`` (of an
        encrypted PDF), ``formats`` (output files: text, md, hocr, alto, pdf) and ``fields`` (key field sets
        read from every page, as in ``recognize``) go first; the file follows in
        chunks of ``chunk_bytes``, read from disk only as they are sent. Returns at once: the pages and output
        chunks arrive as the iteration goes (see ``clients.ocr_client.documents``); closing the results cancels
        the call. ``timeout`` is the whole call's deadline (default none: a long document takes its time)."""
        formats = tuple(formats)
        requests = document_requests(
            document,
            pages=pages,
            text_layer=text_layer,
            password=password,
            formats=formats,
            chunk_bytes=chunk_bytes,
            fields=fields,
        )
        call = self.stub.RecognizeDocument(requests, timeout=timeout, metadata=self.metadata)
        return DocumentResults(call, [output_format(f) for f in formats])

    def server_info(self, timeout: float | None | EllipsisType = ...) -> ServerInfo:
        """Models, backend, precision per stage and why, limits and readiness of the server."""
        return server_info(self._call(self.stub.GetServerInfo, ocr_pb2.GetServerInfoRequest(), timeout))

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
