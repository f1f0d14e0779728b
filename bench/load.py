"""A lean HTTP/1.1 load client: raw asyncio connections kept alive, responses framed by
Content-Length. It does as little work per request as a client can, so that on a 2-core machine
the server under test, not the client, is what the numbers measure.

Every loop here is bounded by a request count and by a deadline.
"""

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

HOST = "127.0.0.1"
T = TypeVar("T")


class LoadError(Exception):
    """A connection failed, a response could not be parsed, or a deadline passed."""


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes


class Connection(asyncio.Protocol):
    """One keep-alive connection with at most one request in flight."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._waiter: asyncio.Future[Response] | None = None
        self._transport: asyncio.Transport | None = None
        self._closed: BaseException | None = None

    # asyncio.Protocol callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        self._deliver()

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = exc or ConnectionResetError("the server closed the connection")
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(LoadError(f"connection lost: {self._closed!r}"))

    # the client's side

    def send(self, request: bytes) -> asyncio.Future[Response]:
        """Write one request; the future resolves with its response."""
        if self._transport is None or self._closed is not None:
            raise LoadError(f"connection is closed: {self._closed!r}")
        if self._waiter is not None and not self._waiter.done():
            raise LoadError("a request is already in flight on this connection")
        self._waiter = asyncio.get_running_loop().create_future()
        self._transport.write(request)
        return self._waiter

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def _deliver(self) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        head_end = self._buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return
        head = bytes(self._buffer[:head_end]).decode("latin-1")
        status_line, _, header_lines = head.partition("\r\n")
        try:
            status = int(status_line.split(" ", 2)[1])
        except (IndexError, ValueError):
            waiter.set_exception(LoadError(f"bad status line: {status_line!r}"))
            return
        length = None
        for line in header_lines.split("\r\n"):
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
                break
        if length is None:
            waiter.set_exception(LoadError("response without Content-Length"))
            return
        end = head_end + 4 + length
        if len(self._buffer) < end:
            return
        body = bytes(self._buffer[head_end + 4 : end])
        del self._buffer[:end]
        waiter.set_result(Response(status, body))


def request_bytes(path: str, port: int) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n".encode("ascii")


def post_bytes(path: str, port: int, body: bytes) -> bytes:
    """A POST of a JSON `body`."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


async def _bounded(awaitable: Awaitable[T], deadline: float, what: str) -> T:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise LoadError(f"deadline passed before {what}")
    try:
        return await asyncio.wait_for(awaitable, remaining)
    except TimeoutError as exc:
        raise LoadError(f"{what} timed out") from exc


async def connect(port: int, count: int, deadline: float) -> list[Connection]:
    """Open `count` connections to 127.0.0.1:port (all of them, or none)."""
    loop = asyncio.get_running_loop()

    async def one() -> Connection:
        _, protocol = await loop.create_connection(Connection, HOST, port)
        return protocol

    tasks = [asyncio.ensure_future(one()) for _ in range(count)]
    try:
        return await _bounded(asyncio.gather(*tasks), deadline, f"opening {count} connections")
    except BaseException:
        for task in tasks:
            task.cancel()
            if task.done() and not task.cancelled() and task.exception() is None:
                task.result().close()
        raise


@contextlib.contextmanager
def closing_all(connections: list[Connection]) -> Iterator[list[Connection]]:
    try:
        yield connections
    finally:
        for connection in connections:
            connection.close()


@dataclass
class Tally:
    """What came back: status counts, and bodies that were not the expected one."""

    statuses: dict[int, int] = field(default_factory=dict)
    unexpected: int = 0
    expected_status: int = 200

    def add(self, response: Response, expected_body: bytes | None) -> None:
        self.statuses[response.status] = self.statuses.get(response.status, 0) + 1
        if expected_body is not None and response.body != expected_body:
            self.unexpected += 1

    @property
    def errors(self) -> int:
        failed = sum(
            count for status, count in self.statuses.items() if status != self.expected_status
        )
        return failed + self.unexpected


@dataclass(frozen=True)
class BurstResult:
    wall_s: float
    tally: Tally


async def burst(
    port: int, path: str, concurrency: int, timeout_s: float, expected_body: bytes | None = None
) -> BurstResult:
    """Open `concurrency` connections, then send one request on each at once; the wall time runs
    from the first request written to the last response read."""
    deadline = time.monotonic() + timeout_s
    request = request_bytes(path, port)
    with closing_all(await connect(port, concurrency, deadline)) as connections:
        started = time.perf_counter()
        futures = [connection.send(request) for connection in connections]
        responses = await _bounded(asyncio.gather(*futures), deadline, f"{concurrency} x {path}")
        wall = time.perf_counter() - started
    tally = Tally()
    for response in responses:
        tally.add(response, expected_body)
    return BurstResult(wall, tally)


@dataclass(frozen=True)
class ThroughputResult:
    requests: int
    wall_s: float
    tally: Tally

    @property
    def per_second(self) -> float:
        return self.requests / self.wall_s


async def throughput(
    port: int,
    path: str,
    total: int,
    connections: int,
    timeout_s: float,
    request: bytes | None = None,
    expected_status: int = 200,
) -> ThroughputResult:
    """Send `total` requests (GET `path`, or `request` as written) over `connections`
    keep-alive connections, each sending its next request as soon as its previous response is
    in."""
    deadline = time.monotonic() + timeout_s
    request = request or request_bytes(path, port)
    tally = Tally(expected_status=expected_status)
    remaining = total

    async def worker(connection: Connection) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            tally.add(await connection.send(request), None)

    with closing_all(await connect(port, connections, deadline)) as opened:
        started = time.perf_counter()
        workers = asyncio.gather(*(worker(connection) for connection in opened))
        try:
            await _bounded(workers, deadline, f"{total} x {path}")
        finally:
            workers.cancel()
        wall = time.perf_counter() - started
    return ThroughputResult(total, wall, tally)


@dataclass(frozen=True)
class ProbeResult:
    latencies_s: list[float]
    jobs_wall_s: float
    jobs: Tally
    probes: Tally


async def probe_during_jobs(
    port: int,
    probe_path: str,
    job_path: str,
    jobs: int,
    interval_s: float,
    timeout_s: float,
) -> ProbeResult:
    """Start `jobs` requests to `job_path` at once (one connection each), and meanwhile send
    `probe_path` requests one after another over one connection, `interval_s` apart, until every
    job has answered. Returns each probe's latency."""
    deadline = time.monotonic() + timeout_s
    probe_request = request_bytes(probe_path, port)
    job_request = request_bytes(job_path, port)
    latencies: list[float] = []
    probes = Tally()
    jobs_tally = Tally()
    with closing_all(await connect(port, jobs + 1, deadline)) as opened:
        probe_connection, job_connections = opened[0], opened[1:]
        started = time.perf_counter()
        job_futures = [connection.send(job_request) for connection in job_connections]
        all_jobs = asyncio.gather(*job_futures)
        # A loop bounded by the deadline and by a count: jobs of at most timeout_s.
        for _ in range(int(timeout_s / interval_s) + 1):
            if all_jobs.done():
                break
            sent = time.perf_counter()
            response = await _bounded(probe_connection.send(probe_request), deadline, "a probe")
            latencies.append(time.perf_counter() - sent)
            probes.add(response, None)
            await asyncio.sleep(interval_s)
        for response in await _bounded(all_jobs, deadline, f"{jobs} x {job_path}"):
            jobs_tally.add(response, None)
        jobs_wall = time.perf_counter() - started
    return ProbeResult(latencies, jobs_wall, jobs_tally, probes)


async def sequential_latencies(
    port: int, path: str, count: int, interval_s: float, timeout_s: float
) -> tuple[list[float], Tally]:
    """`count` requests one after another over one connection, `interval_s` apart."""
    deadline = time.monotonic() + timeout_s
    request = request_bytes(path, port)
    latencies: list[float] = []
    tally = Tally()
    with closing_all(await connect(port, 1, deadline)) as (connection,):
        for _ in range(count):
            sent = time.perf_counter()
            tally.add(await _bounded(connection.send(request), deadline, path), None)
            latencies.append(time.perf_counter() - sent)
            await asyncio.sleep(interval_s)
    return latencies, tally


async def fetch(port: int, path: str, timeout_s: float) -> Response:
    """One request, over a connection of its own."""
    deadline = time.monotonic() + timeout_s
    with closing_all(await connect(port, 1, deadline)) as (connection,):
        return await _bounded(connection.send(request_bytes(path, port)), deadline, path)


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run a load coroutine on a fresh uvloop event loop (asyncio's own if uvloop is missing)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings uvloop
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)
