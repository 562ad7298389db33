"""A stand-in for the Lambda Runtime API, just enough to time a function's initialisation (P1).

A Lambda function is ready for its first event when it asks the Runtime API for one:
``GET /2018-06-01/runtime/invocation/next``. The stub listens on 127.0.0.1, notes when that request
arrives and the process's peak RSS at that moment (``VmHWM`` in ``/proc/<pid>/status``), then holds
the request open (no event ever comes) until the bench kills the process.

It also keeps a *trap*: a second loopback port that the bench gives the process as
``AWS_ENDPOINT_URL``. The trap accepts and closes every connection and counts them, so a function
that calls AWS during its initialisation (it must not need the network to become ready) shows up as
a non-zero count instead of silently waiting on a closed port.
"""

from __future__ import annotations

import http.server
import socket
import threading
import time
from dataclasses import dataclass, field

NEXT_PATH = "/2018-06-01/runtime/invocation/next"


@dataclass
class Probe:
    """One process being timed."""

    pid: int = 0
    pid_known: threading.Event = field(default_factory=threading.Event)
    ready_at: float | None = None
    peak_rss_kib: int | None = None
    ready: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)


def peak_rss_kib(pid: int) -> int | None:
    """VmHWM of a running process, in KiB (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


class RuntimeStub:
    """The Runtime API stub and the endpoint trap, each on a free loopback port."""

    def __init__(self) -> None:
        self._probe = Probe()
        self._lock = threading.Lock()
        self.other_requests: list[str] = []
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                if self.path != NEXT_PATH:
                    stub.other_requests.append(f"GET {self.path}")
                    self.send_error(404)
                    return
                now = time.monotonic()
                with stub._lock:
                    probe = stub._probe
                    first = probe.ready_at is None
                    if first:
                        probe.ready_at = now
                if first:
                    # The process may ask before the bench learnt its pid from fork/exec; it is
                    # blocked on this request meanwhile, so its peak RSS does not move.
                    if probe.pid_known.wait(timeout=10):
                        probe.peak_rss_kib = peak_rss_kib(probe.pid)
                    probe.ready.set()
                # Long-poll like the real API: no event comes; the bench kills the process.
                probe.released.wait(timeout=60)
                self.close_connection = True

            def do_POST(self) -> None:  # noqa: N802
                stub.other_requests.append(f"POST {self.path}")
                self.send_error(404)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.address = f"127.0.0.1:{self._server.server_address[1]}"
        self._trap = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._trap.bind(("127.0.0.1", 0))
        self._trap.listen(64)
        self.trap_url = f"http://127.0.0.1:{self._trap.getsockname()[1]}"
        self.trap_connections = 0
        self._threads = [
            threading.Thread(target=self._server.serve_forever, daemon=True),
            threading.Thread(target=self._serve_trap, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _serve_trap(self) -> None:
        while True:
            try:
                connection, _ = self._trap.accept()
            except OSError:
                return
            with self._lock:
                self.trap_connections += 1
            connection.close()

    def expect(self) -> Probe:
        """Start timing a process about to be started: the next `next` request is its first.
        Call before starting it, then `started(pid)`."""
        with self._lock:
            self._probe.released.set()
            self._probe = Probe()
            return self._probe

    def started(self, pid: int) -> None:
        """The process being timed is `pid`."""
        with self._lock:
            self._probe.pid = pid
            self._probe.pid_known.set()

    def release(self) -> None:
        """Let go of a held `next` request (the process is dead)."""
        with self._lock:
            self._probe.released.set()

    def close(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()
        self._trap.close()
