"""The framework's own cost of one `GET /health`, without sockets or a server: each ASGI app is
called directly, so only its routing, handler and serialization are timed.

Run as `python -m bench.asgi_cost REQUESTS ROUNDS MODULE:ATTRIBUTE...` with every app importable
(the repository on PYTHONPATH, a generated project as the working directory). The apps take
turns, round after round, so that a slower spell of the machine hits them alike; it prints, as
JSON, each app's CPU microseconds per request in its best round (noise only ever slows).
"""

import importlib
import json
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from bench import load

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]


def _scope() -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/health",
        "raw_path": b"/health",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def _round_us(app: App, requests: int) -> float:
    statuses: set[int] = set()

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            statuses.add(message["status"])

    started = time.process_time()
    for _ in range(requests):
        await app(_scope(), receive, send)
    cost = (time.process_time() - started) * 1e6 / requests
    if statuses != {200}:
        raise RuntimeError(f"/health answered {sorted(statuses)}")
    return cost


async def costs_us(apps: dict[str, App], requests: int, rounds: int) -> dict[str, float]:
    for app in apps.values():  # warm-up
        await _round_us(app, max(1, requests // 10))
    best = {name: float("inf") for name in apps}
    for _ in range(rounds):
        for name, app in apps.items():
            best[name] = min(best[name], await _round_us(app, requests))
    return best


def main(argv: list[str]) -> None:
    requests, rounds = int(argv[0]), int(argv[1])
    apps: dict[str, App] = {}
    for target in argv[2:]:
        module_name, _, attribute = target.partition(":")
        apps[target] = getattr(importlib.import_module(module_name), attribute)
    result = load.run(costs_us(apps, requests, rounds))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1:])
