"""A TCP proxy on loopback between the agent and the central, steered by a fault test: pass, drop (close every
connection and refuse new ones) or black-hole (accept and hold connections, forward nothing). Threads in the test
process, so a test changes the mode synchronously and the agent sees a real network fault, not a mock."""

from __future__ import annotations

import contextlib
import socket
import threading

__all__ = ["FaultProxy"]


class FaultProxy:
    """Listens on 127.0.0.1:<port> and forwards to ``target`` (host, port) while in mode "pass"."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.mode = "pass"
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def set_mode(self, mode: str) -> None:
        """ "pass", "drop" or "blackhole"; drop closes every open connection at once."""
        assert mode in ("pass", "drop", "blackhole"), mode
        with self._lock:
            self.mode = mode
            if mode == "drop":
                for sock in self._conns:
                    _close(sock)
                self._conns.clear()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                mode = self.mode
                if mode == "drop":
                    _close(client)  # refused: the connection ends at once
                    continue
                self._conns.append(client)
            try:
                upstream = socket.create_connection(self.target, timeout=2)
            except OSError:
                _close(client)
                continue
            with self._lock:
                self._conns.append(upstream)
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        """Copies src to dst; in black-hole mode the bytes are read and discarded, so the peer waits on nothing."""
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if self.mode == "pass":
                    dst.sendall(data)
        except OSError:
            pass
        finally:
            _close(src)
            _close(dst)

    def close(self) -> None:
        self._stop.set()
        _close(self._listener)
        self.set_mode("drop")
        self._thread.join(timeout=2)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
