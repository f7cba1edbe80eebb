"""POST /v1/documents:recognize in: the client stream of RecognizeDocumentRequest from one HTTP body.

Two forms: ``multipart/form-data`` with a ``file`` part (the PDF, TIFF or image) and an optional ``options``
part (DocumentOptions as JSON) before it; or the annotation's own (body "*" of a streaming method): JSON
RecognizeDocumentRequest messages one per line (``{"options": {...}}`` then ``{"chunk": "<base64>"}`` ...).
The answer is JSON lines of RecognizeDocumentResponse (server.http.gateway).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from google.protobuf.message import Message

from server.http.transcode import malformed, parse_value

__all__ = ["document_requests"]


async def _multipart(request: web.Request, request_class: Any, chunk_bytes: int) -> list[Message]:
    options_class = type(request_class().options)
    options: Message = options_class()
    chunks: list[Message] = []
    reader = await request.multipart()
    while True:
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            raise malformed("nested multipart is not a document")
        name = part.name
        if name == "options":
            if chunks:
                raise malformed("the options part must come before the file")
            try:
                value = json.loads(await part.read())
            except (ValueError, UnicodeDecodeError) as exc:
                raise malformed(f"the options part is not JSON: {exc}") from None
            parse_value(value, options)
        elif name == "file":
            while True:
                data = await part.read_chunk(chunk_bytes)
                if not data:
                    break
                chunks.append(request_class(chunk=data))
        else:
            raise malformed(f"unknown part {name!r}: send 'options' (JSON) and 'file'")
    if not chunks:
        raise malformed("no 'file' part (or it is empty)")
    return [request_class(options=options), *chunks]


def _lines(body: bytes, request_class: Any) -> list[Message]:
    messages = []
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise malformed("the body is not UTF-8 JSON lines; send a file as multipart/form-data") from None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            raise malformed(f"line {number} is not JSON: {exc}") from None
        message = request_class()
        parse_value(value, message)
        messages.append(message)
    if not messages:
        raise malformed("empty body: send the options line, then the file's chunks")
    return messages


async def document_requests(request: web.Request, request_class: Any, chunk_bytes: int) -> list[Message]:
    """The call's requests, read whole from the body (bounded by the server's client_max_size)."""
    if request.content_type != "multipart/form-data":
        return _lines(await request.read(), request_class)
    try:
        return await _multipart(request, request_class, chunk_bytes)
    except (ValueError, UnicodeDecodeError, HttpProcessingError) as exc:  # no boundary, broken part headers
        raise malformed(f"the multipart body cannot be read: {exc}") from None
