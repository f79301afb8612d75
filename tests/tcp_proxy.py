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
        self.pumps: list[threading.Thread] = []
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
            pumps = [
                threading.Thread(target=self._pump, args=(a, b), daemon=True)
                for a, b in ((client, upstream), (upstream, client))
            ]
            with self.lock:
                self.conns += [client, upstream]
                self.pumps += pumps
            for pump in pumps:
                pump.start()

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
            pumps, self.pumps = self.pumps, []
        for s in conns:
            with contextlib.suppress(OSError):
                s.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                )
                s.shutdown(socket.SHUT_RD)  # wakes the pump blocked in recv, sends nothing
        # Close only once every pump has left its recv/send: a descriptor closed under a thread
        # blocked on it can be reused by the process for a Ray socket, which that thread then
        # reads (a sleep of 50 ms here was not always enough on 2 loaded cores: the next test's
        # process segfaulted in a native thread). A pump stuck in sendall is woken by SHUT_WR.
        if not _joined(pumps, 5.0):
            for s in conns:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
            _joined(pumps, 5.0)
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


def _joined(threads: list[threading.Thread], timeout: float) -> bool:
    """Wait up to ``timeout`` seconds in all for ``threads``; True when every one has ended."""
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    return not any(t.is_alive() for t in threads)
