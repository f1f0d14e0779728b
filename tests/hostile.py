"""What tests/test_hostile.py's attackers and outages are made of: raw HTTP clients that send too
much or too slowly, many concurrent requests, and a Redis with persistence to restart."""

import asyncio
import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from tests.template_helpers import postgres

HOST = "127.0.0.1"
WAIT_S = 20.0  # for a server to answer or close what it should; far above every limit used


def port_of(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


def until_closed(sock: socket.socket) -> bytes:
    """What the server sends until it closes the connection; TimeoutError if it never does."""
    received = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65_536):
            received += chunk
    return received


def status_and_body(raw: bytes) -> tuple[int, Any]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split()[1]) if head else 0
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body.decode(errors="replace")


def exchange(port: int, data: bytes) -> tuple[int, Any]:
    """Send `data` on a connection of its own, and read the answer until the server closes."""
    with socket.create_connection((HOST, port), timeout=WAIT_S) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)
        return status_and_body(until_closed(sock))


def request_head(method: str, path: str, *headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: test", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@dataclass
class Flood:
    """How far a client got sending a body the server should refuse early."""

    sent: int
    answer: tuple[int, Any] | None  # None: the server closed without an answer we could read


def flood_chunked(port: int, path: str, up_to: int) -> Flood:
    """POST a chunked body of up to `up_to` bytes, a chunk at a time, and stop as soon as the
    server answers or closes: a server reading the whole body would take all of it."""
    chunk = b" " * 65_536
    frame = b"%x\r\n%s\r\n" % (len(chunk), chunk)
    head = request_head(
        "POST", path, "Content-Type: application/json", "Transfer-Encoding: chunked"
    )
    with socket.create_connection((HOST, port), timeout=WAIT_S) as sock:
        sock.sendall(head + b'3\r\n{"n\r\n')
        sent = 0
        try:
            while sent < up_to:
                readable, _, _ = select.select([sock], [], [], 0)
                if readable:
                    break
                sock.sendall(frame)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            return Flood(sent, None)
        raw = until_closed(sock)
        return Flood(sent, status_and_body(raw) if raw else None)


def stall(port: int, count: int, data: bytes) -> list[socket.socket]:
    """`count` connections that each send `data` (a head or a body cut short) and then stall."""
    sockets = []
    for _ in range(count):
        sock = socket.create_connection((HOST, port), timeout=WAIT_S)
        sock.sendall(data)
        sockets.append(sock)
    return sockets


def answers_until_closed(sockets: list[socket.socket], timeout_s: float) -> list[int]:
    """Wait for the server to close every one of `sockets`; the status each was answered with
    (0: closed without an answer). TimeoutError if some are still open after `timeout_s`."""
    received = {sock: b"" for sock in sockets}
    open_ = set(sockets)
    deadline = time.monotonic() + timeout_s
    while open_:
        left_s = deadline - time.monotonic()
        if left_s <= 0:
            raise TimeoutError(f"{len(open_)} of {len(sockets)} connections still open")
        readable, _, _ = select.select(list(open_), [], [], left_s)
        for sock in readable:
            try:
                chunk = sock.recv(65_536)
            except ConnectionResetError:
                chunk = b""
            received[sock] += chunk
            if not chunk:
                open_.discard(sock)
                sock.close()
    return [status_and_body(received[sock])[0] for sock in sockets]


async def concurrently(
    base: str, method: str, paths: list[str], body: object = None, timeout_s: float = 120
) -> list[tuple[int, Any]]:
    """Every request at once, each on a connection of its own; (status, JSON) of each."""
    connector = aiohttp.TCPConnector(limit=len(paths))
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one(path: str) -> tuple[int, Any]:
            async with session.request(method, base + path, json=body) as response:
                return response.status, await response.json(content_type=None)

        async with asyncio.timeout(timeout_s):
            return await asyncio.gather(*(one(path) for path in paths))


class PersistentRedis:
    """A redis-server on 127.0.0.1 with AOF persistence (as the generated compose file runs
    it), in a directory of its own, that a test can stop cleanly (SIGTERM) and start again."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = postgres.free_port()
        self.url = f"redis://{HOST}:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", HOST, "--save", ""]
        command += ["--appendonly", "yes", "--appendfsync", "everysec"]
        command += ["--dir", str(self.directory)]
        self._process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + WAIT_S
        while not self._answers():
            assert self._process.poll() is None, "redis-server exited at start-up"
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        """SIGTERM: Redis writes what it holds and exits."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            self._process.wait(timeout=WAIT_S)

    def _answers(self) -> bool:
        try:
            with socket.create_connection((HOST, self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False


@contextlib.contextmanager
def persistent_redis() -> Iterator[PersistentRedis]:
    with tempfile.TemporaryDirectory(prefix="redis-aof-") as directory:
        redis = PersistentRedis(Path(directory))
        redis.start()
        try:
            yield redis
        finally:
            redis.stop()


def environment(**settings: str) -> dict[str, str]:
    return {**os.environ, **settings}
