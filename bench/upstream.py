"""The upstream the apps call: `GET /items/{id}` answers `{"id": id, "name": "item <id>"}` after
a fixed delay, on raw asyncio (uvloop) with keep-alive, so that it is never the bottleneck.

Run as `python -m bench.upstream PORT DELAY_S`; it serves until it is terminated.
"""

import asyncio
import json
import signal
import sys
from typing import cast

from bench import load


def item_body(item_id: int) -> bytes:
    return json.dumps({"id": item_id, "name": f"item {item_id}"}, separators=(",", ":")).encode()


def _response(status: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


class _Upstream(asyncio.Protocol):
    def __init__(self, delay_s: float) -> None:
        self._delay_s = delay_s
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        loop = asyncio.get_running_loop()
        while (end := self._buffer.find(b"\r\n\r\n")) >= 0:
            head = bytes(self._buffer[:end]).decode("latin-1")
            del self._buffer[: end + 4]  # GET requests: no body
            parts = head.split(" ", 2)
            path = parts[1] if len(parts) == 3 else ""
            prefix, _, raw_id = path.rpartition("/")
            if prefix == "/items" and raw_id.isdigit():
                answer = _response("200 OK", item_body(int(raw_id)))
            else:
                answer = _response("404 Not Found", b'{"detail":"not found"}')
            # Same delay for every request, so answers leave in the order requests came.
            loop.call_later(self._delay_s, self._write, answer)

    def _write(self, answer: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(answer)


async def serve(port: int, delay_s: float) -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()

    def request_stop() -> None:
        if not stop.done():
            stop.set_result(None)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, request_stop)
    server = await loop.create_server(
        lambda: _Upstream(delay_s), "127.0.0.1", port, backlog=4096, reuse_address=True
    )
    async with server:
        await stop


def main(argv: list[str]) -> None:
    port, delay_s = int(argv[0]), float(argv[1])
    load.run(serve(port, delay_s))


if __name__ == "__main__":
    main(sys.argv[1:])
