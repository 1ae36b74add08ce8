"""A small HTTP/1.1 load generator for servers on loopback, bounded in count and time.

Each request is one TCP connection (gunicorn's sync workers close the connection after
every response, so keep-alive would buy nothing against them): connect, send the bytes a
`RequestFactory` built for request number i, read the response to the server's close.

- `closed_loop`: `concurrency` threads send back to back until `duration` has passed
  (maximum throughput).
- `open_loop`: requests are due at a fixed rate whatever the server does; latency is
  measured from the moment a request was due, so a server that falls behind is charged
  for the queueing it causes (no coordinated omission).

Only loopback addresses are accepted as targets.
"""

from __future__ import annotations

import itertools
import math
import queue
import resource
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

LOOPBACK = ("127.0.0.1", "localhost", "::1")
RequestFactory = Callable[[int], bytes]
Address = tuple[str, int]


def build_request(host: Address, method: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        f"Host: {host[0]}:{host[1]}",
        "Connection: close",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def exchange(address: Address, data: bytes, timeout: float) -> tuple[int, bytes]:
    """Send one request on a new connection; return (status, body). Reads to the server's
    close, so the server (not the client) holds the TIME_WAIT state."""
    if address[0] not in LOOPBACK:
        raise ValueError(f"refusing a non-loopback target {address[0]!r}")
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(data)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    raw = b"".join(chunks)
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        raise ConnectionError("connection closed before a complete response")
    status_line = head.split(b"\r\n", 1)[0]
    return int(status_line.split(b" ", 2)[1]), body


@dataclass
class Result:
    target: str
    mode: str
    elapsed_s: float
    latencies_ms: list[float] = field(default_factory=list)  # of responses with the expected status
    statuses: Counter[int] = field(default_factory=Counter)
    exceptions: Counter[str] = field(default_factory=Counter)
    client_cpu_s: float = 0.0
    first_error: str | None = None
    offered_rate: float | None = None

    @property
    def ok(self) -> int:
        return len(self.latencies_ms)

    @property
    def errors(self) -> int:
        return sum(self.exceptions.values()) + sum(self.statuses.values()) - self.ok

    @property
    def requests(self) -> int:
        return self.ok + self.errors

    @property
    def rps(self) -> float:
        return self.ok / self.elapsed_s if self.elapsed_s else 0.0

    def percentile(self, p: float) -> float:
        """Nearest-rank percentile of the successful requests' latencies, in ms."""
        if not self.latencies_ms:
            return math.nan
        ordered = sorted(self.latencies_ms)
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


class _Recorder:
    def __init__(self, expect: int) -> None:
        self.expect = expect
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.exceptions: Counter[str] = Counter()
        self.first_error: str | None = None

    def run_one(self, address: Address, data: bytes, started: float, timeout: float) -> None:
        try:
            status, body = exchange(address, data, timeout)
        except (OSError, ValueError) as exc:
            with self.lock:
                self.exceptions[type(exc).__name__] += 1
                self.first_error = self.first_error or repr(exc)
            return
        latency_ms = (time.perf_counter() - started) * 1000
        with self.lock:
            self.statuses[status] += 1
            if status == self.expect:
                self.latencies.append(latency_ms)
            elif self.first_error is None:
                self.first_error = f"HTTP {status}: {body[:300]!r}"

    def result(self, target: str, mode: str, elapsed: float, cpu: float) -> Result:
        return Result(
            target, mode, elapsed, self.latencies, self.statuses, self.exceptions, cpu, self.first_error, None
        )


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def closed_loop(
    target: str,
    address: Address,
    factory: RequestFactory,
    *,
    concurrency: int,
    duration_s: float,
    expect: int = 201,
    first_index: int = 0,
    timeout_s: float = 10.0,
) -> Result:
    """`concurrency` connections in flight at all times for `duration_s` seconds."""
    recorder = _Recorder(expect)
    counter = itertools.count(first_index)
    cpu0, start = _cpu(), time.perf_counter()
    deadline = start + duration_s

    def worker() -> None:
        while time.perf_counter() < deadline:
            data = factory(next(counter))
            recorder.run_one(address, data, time.perf_counter(), timeout_s)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(duration_s + timeout_s + 5)
    elapsed = time.perf_counter() - start
    return recorder.result(target, f"closed c={concurrency}", elapsed, _cpu() - cpu0)


def open_loop(
    target: str,
    address: Address,
    factory: RequestFactory,
    *,
    rate: float,
    duration_s: float,
    expect: int = 201,
    first_index: int = 0,
    max_in_flight: int = 64,
    timeout_s: float = 10.0,
) -> Result:
    """`rate` requests per second for `duration_s` seconds, whatever the latency.

    Up to `max_in_flight` requests run at once; a request due while all are busy waits,
    and its latency counts from when it was due."""
    total = int(rate * duration_s)
    recorder = _Recorder(expect)
    due: queue.Queue[tuple[int, float] | None] = queue.Queue()

    def worker() -> None:
        while (item := due.get()) is not None:
            index, scheduled = item
            recorder.run_one(address, factory(index), scheduled, timeout_s)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(max_in_flight)]
    for thread in threads:
        thread.start()
    cpu0, start = _cpu(), time.perf_counter()
    for k in range(total):
        scheduled = start + k / rate
        pause = scheduled - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        due.put((first_index + k, scheduled))
    for _ in threads:
        due.put(None)
    for thread in threads:
        thread.join(timeout_s + 5)
    elapsed = time.perf_counter() - start
    result = recorder.result(target, f"open {rate:g}/s", elapsed, _cpu() - cpu0)
    result.offered_rate = rate
    return result
