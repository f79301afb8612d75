"""A TCP proxy on 127.0.0.1 in front of a local server, which a test can take away for a while:
while it is down, connections are refused and open ones are reset, as when an S3 endpoint
restarts or a load balancer drops connections. The server behind keeps its state."""

from __future__ import annotations

import contextlib
import socket
import threading
import time


class FlakyProxy:
    def __init__(self, target_port: int):
        self.target = ("127.0.0.1", target_port)
        self.port = 0
        self.conns: list[socket.socket] = []
        self.lock = threading.Lock()
        self.listener: socket.socket | None = None
        self.stopped = False
        self.outages = 0
        self._listen()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _listen(self) -> None:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(64)
        s.settimeout(0.1)  # the accept loop wakes to notice it must stop
        self.port = s.getsockname()[1]
        self.listener = s
        self.listening = threading.Event()
        self.listening.set()
        self.acceptor = threading.Thread(target=self._accept, args=(s, self.listening), daemon=True)
        self.acceptor.start()

    def _stop_listening(self) -> None:
        # Stop the accept loop and wait for it BEFORE closing the socket: closing under a thread
        # blocked in accept(2) leaves it waiting on a file descriptor number that the process
        # may reuse for another socket (a Ray one: seen once as a segfault of the test process).
        self.listening.clear()
        self.acceptor.join(timeout=5)
        self.listener.close()

    def _accept(self, listener: socket.socket, listening: threading.Event) -> None:
        while listening.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self.lock:
                self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def _drop_all(self) -> None:
        with self.lock:
            conns, self.conns = self.conns, []
        for s in conns:
            with contextlib.suppress(OSError):
                s.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                )
                s.shutdown(socket.SHUT_RD)  # wakes the pump blocked in recv, sends nothing
        time.sleep(0.05)  # let the pumps leave their recv before the descriptors go
        for s in conns:
            with contextlib.suppress(OSError):
                s.close()  # linger 0: the peer gets a reset

    def outage(self, seconds: float) -> None:
        """Refuse and reset everything for ``seconds``, then serve again on the same port."""
        self.outages += 1
        self._stop_listening()
        self._drop_all()
        time.sleep(seconds)
        if not self.stopped:
            self._listen()

    def close(self) -> None:
        self.stopped = True
        self._stop_listening()
        self._drop_all()
