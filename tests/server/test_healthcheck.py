"""server.healthcheck (the container HEALTHCHECK) against a real server and against nothing."""

from __future__ import annotations

import socket

from server.healthcheck import main


def test_healthcheck_passes_on_a_serving_server(served, capsys) -> None:
    assert main(["--target", served.target, "--timeout-s", "30"]) == 0
    assert "SERVING" in capsys.readouterr().out


def test_healthcheck_fails_where_nothing_listens(capsys) -> None:
    with socket.socket() as s:  # a free port, closed again: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert main(["--target", f"127.0.0.1:{port}", "--timeout-s", "1"]) == 1
    assert "unreachable" in capsys.readouterr().out
