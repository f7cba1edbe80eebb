"""The one wrap (server.interceptors) on a real grpc.aio server, for every streaming kind: hooks in order, finish
exactly once however the call ends (return, domain error, abort, cancellation), domain errors mapped once with
their reason, and the status sent only after every layer finished."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest

from server.errors import InvalidRequestError, PermissionDeniedError
from server.interceptors import Call, Interceptor, outcome

S = grpc.StatusCode
KINDS = ("unary_unary", "unary_stream", "stream_unary", "stream_stream")


class Recorder(Interceptor[Call]):
    """Writes each hook it sees, with the outcome finish reads, to a shared log."""

    def __init__(self, name: str, log: list, refuse: str = "") -> None:
        self.name, self.log, self.refuse = name, log, refuse

    async def start(self, call: Call) -> Call:
        self.log.append((self.name, "start"))
        if self.refuse and call.name.endswith(self.refuse):
            raise PermissionDeniedError("not you", "SCOPE_MISSING")
        return call

    async def on_request(self, call: Call, request: Any) -> None:
        self.log.append((self.name, "request", request))

    def on_response(self, call: Call, response: Any) -> Any:
        self.log.append((self.name, "response", response))
        return response

    def finish(self, call: Call, error: BaseException | None) -> None:
        self.log.append((self.name, "finish", outcome(call.context, error)))


async def _behave(how: str, context, requests: list) -> list:
    """What every test method does with what it read: answer, raise a domain error, abort, or hang."""
    if how == b"fail":
        raise InvalidRequestError("bad", "REQUEST_MALFORMED")
    if how == b"abort":
        await context.abort(S.FAILED_PRECONDITION, "aborted by hand")
    if how == b"hang":
        await asyncio.Event().wait()
    return [b"r:" + r for r in requests]


def _handlers() -> grpc.GenericRpcHandler:
    async def unary_unary(request, context):
        return (await _behave(request, context, [request]))[0]

    async def unary_stream(request, context):
        for response in await _behave(request, context, [request]):
            yield response

    async def stream_unary(requests, context):
        got = [r async for r in requests]
        return (await _behave(got[-1], context, got))[-1]

    async def stream_stream(requests, context):
        got = [r async for r in requests]
        for response in await _behave(got[-1], context, got):
            yield response

    handlers = {
        kind: getattr(grpc, f"{kind}_rpc_method_handler")(fn)
        for kind, fn in (
            ("unary_unary", unary_unary),
            ("unary_stream", unary_stream),
            ("stream_unary", stream_unary),
            ("stream_stream", stream_stream),
        )
    }
    return grpc.method_handlers_generic_handler("t.T", handlers)


async def _serve(log: list, refuse: str = ""):
    server = grpc.aio.server(interceptors=[Recorder("outer", log), Recorder("inner", log, refuse)])
    server.add_generic_rpc_handlers((_handlers(),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port


async def _call(channel, kind: str, payload: bytes) -> list:
    """Call ``kind`` with ``payload`` (streamed after a first request); its responses."""
    method = getattr(channel, kind)(f"/t.T/{kind}")
    if kind.startswith("unary_"):
        call = method(payload, timeout=30)
    else:
        call = method(timeout=30)
        if payload:  # none to a server that refuses the call unread (writing into its end is a race of the client's)
            for request in (b"first", payload):
                await call.write(request)
            await call.done_writing()
    if kind.endswith("_stream"):
        return [r async for r in call]
    return [await call]


def _run(kind: str, payload: bytes, refuse: str = "", wait_for: int = 0) -> tuple[list, Any, list]:
    """(the log when the caller got its answer, the answer or (code, reason), the log once ``wait_for`` layers
    have finished)."""

    async def main():
        log: list = []
        server, port = await _serve(log, refuse)
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                try:
                    result: Any = await _call(channel, kind, payload)
                except grpc.aio.AioRpcError as error:
                    reason = dict(error.trailing_metadata() or ()).get("ocr-error-reason", "")
                    result = (error.code(), reason)
                heard = list(log)
                for _ in range(500):
                    if len(finishes(log)) >= wait_for:
                        break
                    await asyncio.sleep(0.01)
                return heard, result, list(log)
        finally:
            await server.stop(0)

    return asyncio.run(main())


def finishes(log: list) -> list:
    return [(who, what) for who, hook, *what in log if hook == "finish"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_returned_call_runs_every_hook_in_order_and_finishes_once(kind):
    log, result, _ = _run(kind, b"hello")
    requests = [b"hello"] if kind.startswith("unary_") else [b"first", b"hello"]
    responses = [b"r:" + r for r in requests] if kind == "stream_stream" else [b"r:hello"]
    assert result == responses
    assert log[0] == ("outer", "start") and [e for e in log if e[1] == "start"] == [
        ("outer", "start"),
        ("inner", "start"),
    ]
    assert [(who, r) for who, hook, *r in log if hook == "request"] == [
        (who, [r]) for r in requests for who in ("outer", "inner")
    ]  # each request passes outside in
    assert [(who, r) for who, hook, *r in log if hook == "response"] == [
        (who, [r]) for r in responses for who in ("inner", "outer")
    ]  # each response inside out
    assert finishes(log) == [("inner", [("OK", "")]), ("outer", [("OK", "")])]
    assert all([e for e in log if e[0] == who][-1][1] == "finish" for who in ("inner", "outer"))  # each one's last


@pytest.mark.parametrize("kind", KINDS)
def test_a_domain_error_is_mapped_once_and_every_layer_finishes_before_the_caller_hears(kind):
    log, result, _ = _run(kind, b"fail")
    assert result == (S.INVALID_ARGUMENT, "REQUEST_MALFORMED")
    assert finishes(log) == [
        ("inner", [("INVALID_ARGUMENT", "REQUEST_MALFORMED")]),
        ("outer", [("INVALID_ARGUMENT", "REQUEST_MALFORMED")]),
    ]
    assert not [entry for entry in log if entry[1] == "response"]  # a failed call's None is no answer


@pytest.mark.parametrize("kind", KINDS)
def test_an_abort_by_hand_finishes_every_layer_once(kind):
    _, result, log = _run(kind, b"abort", wait_for=2)  # an abort sends its status at once; finish follows
    assert result == (S.FAILED_PRECONDITION, "")
    assert [who for who, _ in finishes(log)] == ["inner", "outer"]
    assert all(what == [("FAILED_PRECONDITION", "")] for _, what in finishes(log))


@pytest.mark.parametrize("kind", KINDS)
def test_a_refusal_in_start_ends_the_call_and_only_started_layers_finish(kind):
    log, result, _ = _run(kind, b"hello" if kind.startswith("unary_") else b"", refuse=kind)
    assert result == (S.PERMISSION_DENIED, "SCOPE_MISSING")
    assert finishes(log) == [("outer", [("PERMISSION_DENIED", "SCOPE_MISSING")])]
    assert not [entry for entry in log if entry[0] == "inner" and entry[1] in ("request", "response")]
    assert not [entry for entry in log if entry[1] == "response"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_cancelled_call_finishes_every_layer_once_as_cancelled(kind):
    async def main():
        log: list = []
        server, port = await _serve(log)
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                call = asyncio.ensure_future(_call(channel, kind, b"hang"))
                while ("inner", "start") not in log:
                    await asyncio.sleep(0.01)
                call.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await call
                for _ in range(500):  # the server learns of the cancellation from the transport
                    if len(finishes(log)) == 2:
                        break
                    await asyncio.sleep(0.01)
                return log
        finally:
            await server.stop(0)

    log = asyncio.run(main())
    assert finishes(log) == [("inner", [("CANCELLED", "")]), ("outer", [("CANCELLED", "")])]


def test_errors_are_mapped_in_one_place():
    """Servicers and hooks raise; only the wrap turns an error into a status (no handler aborts or maps)."""
    import ast
    from pathlib import Path

    server = Path(__file__).resolve().parents[2] / "server"
    callers = set()
    for path in server.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "attr", getattr(node.func, "id", ""))
                if name in ("abort", "abort_with", "abort_with_status", "fail_with", "set_code"):
                    callers.add(path.relative_to(server).as_posix())
    assert callers == {"interceptors.py", "errors.py"}
